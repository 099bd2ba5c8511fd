from itertools import permutations

import pytest
import torch

from espnet_echo.heads.asr_multispkr import MultiSpkrASRHead

D, S, T = 8, 3, 12
TOKENS = ["<blank>", "<unk>", "a", "b", "<space>", "c", "d", "<sos/eos>"]
V = len(TOKENS)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny tensors: intra-op threads only add contention on shared CPUs
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_head(token_list=TOKENS, dropout=0.1, **kw):
    conf = dict(
        token_list=token_list,
        num_spk=S,
        output_size=16,
        attention_heads=2,
        linear_units=16,
        dropout_rate=dropout,
        decoder_conf=dict(
            num_blocks=1,
            linear_units=16,
            attention_heads=2,
            dropout_rate=dropout,
            positional_dropout_rate=dropout,
        ),
    )
    conf.update(kw)
    return MultiSpkrASRHead(D, V, **conf)


def make_batch(seed=0):
    """Utterance 0: 2 speakers (slot 2 absent); utterance 1: 1 speaker, shorter."""
    g = torch.Generator().manual_seed(seed)
    text = torch.full((2, 2, 4), -1)
    text[0, 0, :3] = torch.tensor([2, 4, 3])
    text[0, 1, :2] = torch.tensor([5, 6])
    text[1, 0, :4] = torch.tensor([2, 3, 4, 5])
    return dict(
        feats=torch.randn(2, T, D, generator=g),
        feats_lens=torch.tensor([T, 10]),
        text=text,
        text_lengths=torch.tensor([[3, 2], [4, 0]]),
    )


@pytest.mark.parametrize("training", [True, False])
def test_shapes_loss_backward_with_absent_speakers(training):
    head = make_head()
    head.train(training)
    batch = make_batch()
    loss, stats, perm = head(**batch)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert {"loss", "loss_ctc", "loss_att", "acc", "cer", "wer"} == set(stats)
    assert torch.isclose(loss, 0.3 * stats["loss_ctc"] + 0.7 * stats["loss_att"])
    if training:
        assert stats["cer"] is None and stats["wer"] is None
    else:
        assert stats["cer"] >= 0 and stats["wer"] >= 0
    loss.backward()
    assert all(p.grad is not None for p in head.parameters())
    assert sorted(perm[0].tolist()) == list(range(S))
    assert not hasattr(head, "last_perm")
    out = head.infer(batch["feats"], batch["feats_lens"])
    assert out["hs"].shape == (2, S, T, 16) and out["hlens"].tolist() == [T, 10]


def test_no_token_list_gives_no_error_rates():
    head = make_head(token_list=None)
    head.eval()
    _, stats, _ = head(**make_batch())
    assert "cer" not in stats and "wer" not in stats


def test_pit_invariance():
    head = make_head(dropout=0.0)
    head.eval()
    batch = make_batch()
    loss, _, perm0 = head(**batch)
    for order in ([1, 0, 2], [2, 1, 0], [1, 2, 0]):
        text = torch.nn.functional.pad(batch["text"], (0, 0, 0, 1), value=-1)[:, order]
        lens = torch.nn.functional.pad(batch["text_lengths"], (0, 1))[:, order]
        loss_p, _, perm = head(**{**batch, "text": text, "text_lengths": lens})
        assert torch.allclose(loss, loss_p, atol=1e-5)
        # every transcript of utterance 0 (no ties) is given to the same slot:
        # reference k of the reordered text is reference order[k] of the original
        for k in range(S):
            assert perm[0, k] == perm0[0, order[k]]


def test_perm_minimises_the_summed_pairwise_ctc_cost():
    """The exact assignment equals ESPnet pit_espnet's enumeration of S! perms."""
    head = make_head(dropout=0.0)
    head.eval()
    batch = make_batch(seed=4)
    _, _, perm = head(**batch)
    out = head.infer(batch["feats"], batch["feats_lens"])
    text, lens = head._check_text(batch["text"], batch["text_lengths"], 2, None)
    cost = head.pairwise_ctc_cost(out["hs"], out["hlens"], text, lens)
    for b in range(2):
        best = min(
            sum(float(cost[b, s, k]) for k, s in enumerate(p))
            for p in permutations(range(S))
        )
        got = sum(float(cost[b, int(perm[b, k]), k]) for k in range(S))
        assert got == pytest.approx(best, rel=1e-6)


def test_loss_falls_on_fixed_batch():
    torch.manual_seed(0)
    head = make_head(dropout=0.0)
    batch = make_batch()
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss, _, _ = head(**batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


def _ctc_best_path(head, hs, n):
    """Independent CTC best path of one stream (T, D'): collapse, drop blank/eos."""
    best = head.ctc.log_softmax(hs[None, :n])[0].argmax(-1).tolist()
    out = [t for i, t in enumerate(best) if i == 0 or t != best[i - 1]]
    return [t for t in out if t not in (0, V - 1)]


@pytest.mark.parametrize("beam_size", [1, 2])
def test_decode_gives_s_valid_hypotheses_and_restores_the_mode(beam_size):
    head = make_head()
    batch = make_batch()
    out = head.infer(batch["feats"], batch["feats_lens"])
    head.train()
    res = head.decode(out, {"beam_size": beam_size, "maxlenratio": 0.5})
    assert head.training  # mode restored
    assert res["hs"] is out["hs"]  # the output is extended, not replaced
    tokens, lengths = res["tokens"], res["token_lengths"]
    assert tokens.shape[:2] == (2, S) and lengths.shape == (2, S)
    for b in range(2):
        for s in range(S):
            n = int(lengths[b, s])
            assert all(0 < i < V - 1 for i in tokens[b, s, :n].tolist())
            assert (tokens[b, s, n:] == -1).all()


def test_greedy_decode_is_the_ctc_best_path_of_each_slot():
    head = make_head()
    batch = make_batch()
    head.eval()  # as ESPnetEchoModel.infer runs it (the streams have dropout)
    out = head.infer(batch["feats"], batch["feats_lens"])
    res = head.decode(out, {"beam_size": 1})
    for b in range(2):
        n = int(batch["feats_lens"][b])
        for s in range(S):
            length = int(res["token_lengths"][b, s])
            expected = _ctc_best_path(head, out["hs"][b, s], n)
            assert res["tokens"][b, s, :length].tolist() == expected


def test_the_beam_search_is_built_once_per_setting():
    head = make_head()
    batch = make_batch()
    out = head.infer(batch["feats"], batch["feats_lens"])
    assert head._beam_searches == {}
    head.decode(out, {"beam_size": 1})
    assert head._beam_searches == {}  # greedy needs none
    opts = {"beam_size": 2, "ctc_weight": 0.3, "maxlenratio": 0.5}
    head.decode(out, opts)
    assert list(head._beam_searches) == [(2, 0.3)]
    search = head._beam_searches[(2, 0.3)]
    head.decode(out, opts)
    assert head._beam_searches[(2, 0.3)] is search  # reused, not rebuilt
    head.decode(out, {**opts, "ctc_weight": 0.5})
    assert sorted(head._beam_searches) == [(2, 0.3), (2, 0.5)]
    assert not any("beam" in k for k in head.state_dict())
    with pytest.raises(ValueError, match="beam_size"):
        head.decode(out, {"beam_size": 0})


def test_ctc_only_head():
    head = make_head(ctc_weight=1.0)
    assert head.decoder is None
    loss, stats, _ = head(**make_batch())
    assert torch.isfinite(loss) and stats["loss_att"] is None
    batch = make_batch()
    out = head.infer(batch["feats"], batch["feats_lens"])
    res = head.decode(out, {"beam_size": 4})  # no decoder: CTC best path
    assert res["tokens"].shape[:2] == (2, S) and head._beam_searches == {}


def test_bad_inputs_raise_value_error():
    head = make_head()
    batch = make_batch()
    with pytest.raises(ValueError, match="feats must be"):
        head(**{**batch, "feats": torch.randn(2, T, D + 2)})
    with pytest.raises(ValueError, match="slots"):
        head(**batch, num_spk=torch.tensor([4, 1]))
    text4 = torch.full((2, 4, 4), 2)
    with pytest.raises(ValueError, match="slots"):
        head(**{**batch, "text": text4, "text_lengths": torch.full((2, 4), 4)})
    with pytest.raises(ValueError, match="text_lengths"):
        head(**{**batch, "text_lengths": torch.tensor([3, 4])})
    with pytest.raises(ValueError, match="vocab"):
        head(**{**batch, "text": batch["text"].clamp(min=0) + V})
    with pytest.raises(ValueError, match="token_list"):
        MultiSpkrASRHead(D, V + 1, token_list=TOKENS)
    with pytest.raises(ValueError, match="needs text"):
        head(batch["feats"], batch["feats_lens"])


def test_all_speakers_absent():
    head = make_head()
    batch = make_batch()
    batch["text"] = torch.full((2, S, 0), -1)
    batch["text_lengths"] = torch.zeros(2, S, dtype=torch.long)
    loss, stats, perm = head(**batch)
    assert torch.isfinite(loss)
    loss.backward()
    head.eval()
    _, stats, _ = head(**batch)
    assert stats["cer"] is None and stats["wer"] is None  # nothing to score
