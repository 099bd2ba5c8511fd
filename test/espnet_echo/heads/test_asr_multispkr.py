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
    loss, stats = head(**batch)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert {"loss", "loss_ctc", "loss_att", "acc", "cer", "wer"} == set(stats)
    assert torch.isclose(loss, 0.3 * stats["loss_ctc"] + 0.7 * stats["loss_att"])
    if training:
        assert stats["cer"] is None and stats["wer"] is None
    else:
        assert stats["cer"] >= 0 and stats["wer"] >= 0
    loss.backward()
    assert all(p.grad is not None for p in head.parameters())
    assert sorted(head.last_perm[0].tolist()) == list(range(S))
    hs, hlens = head.encode_slots(batch["feats"], batch["feats_lens"])
    assert hs.shape == (2, S, T, 16) and hlens.tolist() == [T, 10]


def test_no_token_list_gives_no_error_rates():
    head = make_head(token_list=None)
    head.eval()
    _, stats = head(**make_batch())
    assert "cer" not in stats and "wer" not in stats


def test_pit_invariance():
    head = make_head(dropout=0.0)
    head.eval()
    batch = make_batch()
    loss, _ = head(**batch)
    perm0 = head.last_perm.clone()
    for order in ([1, 0, 2], [2, 1, 0], [1, 2, 0]):
        text = torch.nn.functional.pad(batch["text"], (0, 0, 0, 1), value=-1)[:, order]
        lens = torch.nn.functional.pad(batch["text_lengths"], (0, 1))[:, order]
        loss_p, _ = head(**{**batch, "text": text, "text_lengths": lens})
        assert torch.allclose(loss, loss_p, atol=1e-5)
        # every slot of utterance 0 (no ties) is trained on the same transcript
        assert torch.equal(torch.tensor(order)[head.last_perm[0]], perm0[0])


def test_loss_falls_on_fixed_batch():
    torch.manual_seed(0)
    head = make_head(dropout=0.0)
    batch = make_batch()
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss, _ = head(**batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


@pytest.mark.parametrize("greedy", [False, True])
def test_recognize_returns_at_most_s_valid_hypotheses(greedy):
    head = make_head()
    head.train()
    batch = make_batch()
    hyps = head.recognize(
        batch["feats"][:1],
        batch["feats_lens"][:1],
        beam_size=2,
        maxlenratio=0.5,
        greedy=greedy,
    )
    assert head.training  # mode restored
    assert len(hyps) <= S
    for h in hyps:
        assert len(h) > 0
        assert all(0 < i < V - 1 for i in h)
    all_slots = head.recognize(
        batch["feats"][:1], greedy=greedy, maxlenratio=0.5, drop_empty=False
    )
    assert len(all_slots) == S


def test_ctc_only_head():
    head = make_head(ctc_weight=1.0)
    assert head.decoder is None
    loss, stats = head(**make_batch())
    assert torch.isfinite(loss) and stats["loss_att"] is None
    assert len(head.recognize(make_batch()["feats"][:1], drop_empty=False)) == S


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
    with pytest.raises(ValueError, match=r"\(1, T, D\)"):
        head.recognize(batch["feats"])


def test_all_speakers_absent():
    head = make_head()
    batch = make_batch()
    batch["text"] = torch.full((2, S, 0), -1)
    batch["text_lengths"] = torch.zeros(2, S, dtype=torch.long)
    loss, stats = head(**batch)
    assert torch.isfinite(loss)
    loss.backward()
    head.eval()
    _, stats = head(**batch)
    assert stats["cer"] is None and stats["wer"] is None  # nothing to score
