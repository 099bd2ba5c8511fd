"""Echo's content path: ContentCTCHead (content projection -> FSQ/VQ/none -> CTC)."""

import math

import pytest
import torch

from espnet_echo.heads.content_ctc import ContentCTCHead, codebook_stats

D, T = 8, 12
TOKENS = ["<blank>", "<unk>", "a", "b", "<space>", "c", "d", "<sos/eos>"]
V = len(TOKENS)
#: Transcripts (token ids) per utterance and valid frames: utterance 0 has 2 speakers
#: (slot 2 absent), utterance 1 one speaker and is shorter.
TRANSCRIPTS = [[[2, 4, 3], [5, 6]], [[2, 3, 4, 5]]]
LENGTHS = [T, 10]
S = 3


def make_batch(seed=0):
    """Random features (B, T, D) and the TRANSCRIPTS as (B, 2, L) text, -1 padded."""
    g = torch.Generator().manual_seed(seed)
    text = torch.full((len(TRANSCRIPTS), 2, 4), -1)
    lens = torch.zeros(len(TRANSCRIPTS), 2, dtype=torch.long)
    for b, refs in enumerate(TRANSCRIPTS):
        for k, ids in enumerate(refs):
            text[b, k, : len(ids)] = torch.tensor(ids)
            lens[b, k] = len(ids)
    return dict(feats=torch.randn(len(LENGTHS), T, D, generator=g),
                feats_lens=torch.tensor(LENGTHS), text=text, text_lengths=lens)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny tensors: intra-op threads only add contention on shared CPUs
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_head(bottleneck="fsq", **kw):
    conf = dict(
        token_list=TOKENS,
        num_spk=S,
        output_size=16,
        attention_heads=2,
        linear_units=16,
        dropout_rate=0.0,
        bottleneck=bottleneck,
        d_content=4,
        fsq_levels=[5, 5, 3, 3],
        vq_codebook_size=16,
        vq_kmeans_iters=2,
    )
    conf.update(kw)
    return ContentCTCHead(D, V, **conf)


@pytest.mark.parametrize("bottleneck", ["fsq", "vq", "none"])
def test_shapes_stats_and_backward_per_bottleneck(bottleneck):
    torch.manual_seed(0)
    head = make_head(bottleneck)
    batch = make_batch()
    out = head.infer(batch["feats"], batch["feats_lens"])
    assert out["hs"].shape == (2, S, T, 4) and out["hlens"].tolist() == [T, 10]
    assert (out["hs"][1, :, 10:] == 0).all()  # padding is zero
    loss, stats, perm = head.loss(out, text=batch["text"], text_lengths=batch["text_lengths"])
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    # every parameter but the EMA-updated VQ codebook (a buffer) gets a gradient
    assert all(p.grad is not None for p in head.parameters() if p.requires_grad)
    assert sorted(perm[0].tolist()) == list(range(S)) and perm.shape == (2, S)
    assert not hasattr(head, "last_perm") and head.decoder is None
    base = {"loss", "loss_ctc", "cer", "wer"}
    if bottleneck == "none":
        assert set(stats) == base and "content_codes" not in out
        assert torch.equal(out["hs"], out["content_pre"] * (out["hs"] != 0))
        return
    codes = out["content_codes"]
    assert codes.shape == (2, S, T) and (codes[1, :, 10:] == -1).all()
    assert (codes[0] >= 0).all() and int(codes.max()) < head.codebook_size
    expected = base | {"code_usage", "code_perplexity", "quant_mse"}
    if bottleneck == "vq":
        expected |= {"loss_commit"}
        assert torch.isclose(loss, stats["loss_ctc"] + stats["loss_commit"])
        assert stats["loss_commit"] > 0
    assert set(stats) == expected
    assert head.codebook_size == (225 if bottleneck == "fsq" else 16)
    assert 0 < float(stats["code_usage"]) <= 1
    assert 1 <= float(stats["code_perplexity"]) <= head.codebook_size
    usage, ppl = codebook_stats(codes, codes >= 0, head.codebook_size)
    assert float(stats["code_usage"]) == pytest.approx(float(usage))
    assert float(stats["code_perplexity"]) == pytest.approx(float(ppl))


def test_fsq_output_is_on_the_level_grid():
    head = make_head("fsq")
    batch = make_batch()
    out = head.infer(batch["feats"], batch["feats_lens"])
    levels = torch.tensor([5, 5, 3, 3], dtype=torch.float)
    hs = out["hs"][0]  # no padding in utterance 0
    scaled = hs * (levels // 2)  # FSQ codes are k / (L // 2), k integer
    assert torch.allclose(scaled, scaled.round(), atol=1e-5)
    assert (hs.abs() <= 1 + 1e-6).all()


def test_codebook_stats_on_a_hand_made_case():
    codes = torch.tensor([[0, 0, 1, 1, 7], [3, 3, 3, 3, -1]])
    valid = torch.tensor([[True] * 4 + [False], [True] * 4 + [False]])
    usage, ppl = codebook_stats(codes, valid, 8)
    # valid codes: 0 x2, 1 x2, 3 x4 -> 3 of 8 codes, p = (1/4, 1/4, 1/2)
    assert float(usage) == pytest.approx(3 / 8)
    entropy = -(0.25 * math.log(0.25) * 2 + 0.5 * math.log(0.5))
    assert float(ppl) == pytest.approx(math.exp(entropy), rel=1e-6)
    # uniform over all codes: perplexity C, usage 1; a single code: perplexity 1
    all_codes = torch.arange(8)
    u, p = codebook_stats(all_codes, torch.ones(8, dtype=torch.bool), 8)
    assert float(u) == 1.0 and float(p) == pytest.approx(8.0)
    u, p = codebook_stats(torch.full((5,), 2), torch.ones(5, dtype=torch.bool), 8)
    assert float(u) == pytest.approx(1 / 8) and float(p) == pytest.approx(1.0)
    u, p = codebook_stats(codes, torch.zeros_like(valid), 8)
    assert float(u) == 0.0 and float(p) == 0.0
    with pytest.raises(ValueError, match="codes must be in"):
        codebook_stats(codes, torch.ones_like(valid), 4)
    with pytest.raises(ValueError, match="differ in shape"):
        codebook_stats(codes, valid[:, :2], 8)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(bottleneck="rvq"), r"bottleneck must be one of \('fsq', 'vq', 'none'\)"),
        (dict(d_content=17), r"d_content=17 does not fit the features.*\[1, 8\]"),
        (dict(d_content=0), r"d_content=0 does not fit"),
        (dict(fsq_levels=[5, 5, 5]), r"fsq_levels has 3 levels but d_content=4"),
        (dict(fsq_levels=[5] * 5, fsq_project=True),
         r"fsq_levels has 5 levels, more than d_content=4"),
        (dict(fsq_levels=[5, 2, 5, 5]), r"fsq_levels must be .* levels >= 3"),
        (dict(fsq_levels=[]), r"fsq_levels must be a non-empty"),
        (dict(bottleneck="vq", vq_codebook_size=1), r"vq_codebook_size must be >= 2"),
        (dict(bottleneck="vq", vq_decay=1.0), r"vq_decay must be in \(0, 1\)"),
        (dict(bottleneck="vq", vq_threshold_ema_dead_code=-1.0),
         r"vq_threshold_ema_dead_code must be >= 0"),
        (dict(bottleneck="vq", vq_commitment_weight=-0.1),
         r"vq_commitment_weight must be >= 0"),
    ],
)
def test_options_that_do_not_fit_raise_naming_the_option(kw, match):
    with pytest.raises(ValueError, match=match):
        make_head(**kw)


def test_fsq_projection_inside_the_library():
    head = make_head("fsq", fsq_levels=[5, 3], fsq_project=True)
    assert head.codebook_size == 15
    batch = make_batch()
    out = head.infer(batch["feats"], batch["feats_lens"])
    assert out["hs"].shape == (2, S, T, 4) and int(out["content_codes"].max()) < 15


def test_vq_replaces_dead_codes():
    """A code no frame uses falls below the EMA threshold and is reset to a frame."""
    torch.manual_seed(0)
    head = make_head("vq", vq_kmeans_init=False, vq_decay=0.5,
                     vq_threshold_ema_dead_code=1.0)
    codebook = head.quantizer._codebook
    batch = make_batch()
    head.train()
    head.infer(batch["feats"], batch["feats_lens"])
    before = codebook.embed.detach().clone()
    codebook.embed.data[0, 5] = 1e3  # far from every frame: never chosen, dead
    codebook.cluster_size.data[0, 5] = 0.0
    head.infer(batch["feats"], batch["feats_lens"])
    assert codebook.embed[0, 5].abs().max() < 1e2  # replaced by a (projected) frame
    assert not torch.equal(codebook.embed, before)


def test_pit_follows_the_references_not_the_slot_order():
    """The loss and each transcript's slot are invariant to reordering the references;
    with slot order instead of PIT, the loss would change."""
    torch.manual_seed(0)
    head = make_head("fsq")
    head.eval()
    batch = make_batch(seed=3)
    loss, _, perm0 = head(**batch)
    assert perm0[0, :2].tolist() != [0, 1] or perm0[1, :1].tolist() != [0]
    swapped = dict(batch, text=batch["text"].flip(1),
                   text_lengths=batch["text_lengths"].flip(1))
    loss_p, _, perm = head(**swapped)
    assert torch.allclose(loss, loss_p, atol=1e-5)
    assert perm[0, 0] == perm0[0, 1] and perm[0, 1] == perm0[0, 0]
    # the slot-order loss differs: the assignment matters on this batch
    out = head.infer(batch["feats"], batch["feats_lens"])
    text, lens = head._check_text(batch["text"], batch["text_lengths"], 2, None)
    cost = head.pairwise_ctc_cost(out["hs"], out["hlens"], text, lens)
    in_order = cost.diagonal(dim1=1, dim2=2).sum()
    chosen = sum(cost[b, perm0[b, k], k] for b in range(2) for k in range(S))
    assert chosen < in_order - 1e-4


def test_decode_gives_the_ctc_best_path_tokens_frames_and_activity():
    head = make_head("fsq")
    head.eval()
    batch = make_batch()
    out = head.infer(batch["feats"], batch["feats_lens"])
    res = head.decode(out, {})
    tokens, lengths, frames = res["tokens"], res["token_lengths"], res["token_frames"]
    assert tokens.shape[:2] == (2, S) and lengths.shape == (2, S)
    assert frames.shape == tokens.shape and res["token_activity"].shape == (2, T, S)
    assert (res["token_activity"][1, 10:] == 0).all()
    for b in range(2):
        n = int(batch["feats_lens"][b])
        for s in range(S):
            best = head.ctc.log_softmax(out["hs"][b, s, None, :n])[0].argmax(-1).tolist()
            runs = [(t, i) for i, t in enumerate(best) if i == 0 or t != best[i - 1]]
            expected = [(t, i) for t, i in runs if t not in (0, V - 1)]
            k = int(lengths[b, s])
            assert tokens[b, s, :k].tolist() == [t for t, _ in expected]
            assert frames[b, s, :k].tolist() == [i for _, i in expected]
            assert (tokens[b, s, k:] == -1).all() and (frames[b, s, k:] == -1).all()
    assert ContentCTCHead.output_kinds == ("tokens",)


@pytest.mark.parametrize("bottleneck", ["fsq", "vq"])
def test_loss_falls_on_fixed_batch_through_the_bottleneck(bottleneck):
    torch.manual_seed(0)
    head = make_head(bottleneck)
    batch = make_batch()
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    first = last = None
    for _ in range(30):
        loss, stats, _ = head(**batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = stats["loss_ctc"].item() if first is None else first
        last = stats["loss_ctc"].item()
    assert last < 0.7 * first, (first, last)


def test_bad_inputs_raise_value_error():
    head = make_head()
    batch = make_batch()
    with pytest.raises(ValueError, match="feats must be"):
        head(**{**batch, "feats": torch.randn(2, T, D + 2)})
    with pytest.raises(ValueError, match="slots"):
        head(**batch, num_spk=torch.tensor([4, 1]))
    with pytest.raises(ValueError, match="needs text"):
        head(batch["feats"], batch["feats_lens"])


def test_content_ctc_trains_through_echo_task_and_espnets_trainer(tmp_path, caplog):
    """``--asr_head content_ctc`` alone, EchoTask.main -> ESPnet's Trainer on 6 one-speaker
    utterances: the PIT-CTC loss through the FSQ bottleneck falls, and the code
    statistics reach the per-epoch training and validation results."""
    import logging
    import re

    import numpy as np
    import soundfile as sf

    from espnet_echo.tasks.echo import EchoTask

    fs, n = 16000, 12000
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    (data / "wav").mkdir(parents=True)
    sentences = ["AB BA", "BAB", "A A B"]
    wav, text, shape = [], [], []
    t = np.arange(n) / fs
    for i in range(6):
        f0 = (150.0, 300.0, 450.0)[i % 3]
        x = (0.1 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.standard_normal(n))
        utt = f"utt{i:02d}"
        sf.write(data / "wav" / f"{utt}.wav", x.astype(np.float32), fs)
        wav.append(f"{utt} {data / 'wav' / f'{utt}.wav'}")
        text.append(f"{utt} {sentences[i % 3]}")
        shape.append(f"{utt} {n}")
    for name, lines in (("wav.scp", wav), ("text_spk1", text), ("speech_shape", shape)):
        (data / name).write_text("\n".join(lines) + "\n")
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("\n".join(["<blank>", "<unk>", "A", "B", "<space>", "<sos/eos>"]) + "\n")
    triples = []
    for kind in ("train", "valid"):
        triples += [
            f"--{kind}_data_path_and_name_and_type", f"{data}/wav.scp,speech,sound",
            f"--{kind}_data_path_and_name_and_type", f"{data}/text_spk1,text_spk1,text",
            f"--{kind}_shape_file", f"{data}/speech_shape",
        ]
    out = tmp_path / "exp"
    caplog.set_level(logging.INFO)  # the trainer reports each epoch through logging
    EchoTask.main(cmd=[
        "--frontend_conf", "n_fft=128", "--frontend_conf", "hop_length=64",
        "--frontend_conf", "n_mels=16",
        "--encoder", "echo_vit", "--encoder_conf", "output_size=32",
        "--encoder_conf", "num_blocks=2", "--encoder_conf", "attention_heads=2",
        "--encoder_conf", "linear_units=32",
        "--diar_head", "none", "--sep_head", "none", "--asr_head", "content_ctc",
        "--asr_head_conf", "linear_units=32", "--asr_head_conf", "attention_heads=2",
        "--asr_head_conf", "dropout_rate=0.0",
        "--token_list", str(tokens), "--token_type", "char", "--num_spk", "1", *triples,
        "--output_dir", str(out), "--batch_type", "unsorted", "--batch_size", "3",
        "--max_epoch", "4", "--num_workers", "0", "--num_att_plot", "0", "--seed", "0",
        "--optim", "adam", "--optim_conf", "lr=0.01", "--ngpu", "0",
        "--model_conf", "asr_weight=1.0", "--use_matplotlib", "false",
        "--use_tensorboard", "false",
    ])
    log = "\n".join(r.getMessage() for r in caplog.records)
    train = re.findall(r"\[train\].*?loss_asr=([-\d.e+]+)", log)
    losses = [float(x) for x in train]
    assert (out / "4epoch.pth").is_file()
    assert len(losses) == 4 and losses[-1] < 0.7 * losses[0], losses
    valid = re.findall(r"epoch results: .*?(\[valid\].*)", log)
    assert len(valid) == 4
    for key in ("asr_code_usage", "asr_code_perplexity", "asr_cer"):
        assert all(f"{key}=" in v for v in valid), key
