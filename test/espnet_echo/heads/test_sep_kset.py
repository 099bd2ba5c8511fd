"""KSetSepHead: null-target K-set separation in the latent space."""

import itertools

import pytest
import torch

from espnet_echo.heads.sep_kset import KSetSepHead
from espnet_echo.metrics.latent_separation import pairwise_latent_si_sdr

S, D, T = 3, 8, 6


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one intra-op thread is faster than several on a shared CPU."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def head(**kw):
    torch.manual_seed(0)
    return KSetSepHead(D, S, hidden_size=16, num_layers=1, attention_heads=2,
                       linear_units=16, **kw)


def refs(k=(2, 0), n=S, seed=1):
    g = torch.Generator().manual_seed(seed)
    lat = torch.zeros(len(k), n, T, D)
    for b, kb in enumerate(k):
        lat[b, :kb] = torch.randn(kb, T, D, generator=g)
    mix = lat.sum(1) + 0.1 * torch.randn(len(k), T, D, generator=g)
    return {"source_latents": lat, "num_sources": torch.tensor(k),
            "mixture_latents": mix}


def fake_output(slots, logits, lens=None):
    bs = slots.shape[0]
    lens = torch.full((bs,), slots.shape[2]) if lens is None else lens
    return {"slot_latents": slots, "exist_logits": logits, "latent_lengths": lens,
            "exist_prob": torch.sigmoid(logits),
            "num_sources": (torch.sigmoid(logits) > 0.5).sum(-1)}


def test_contract_and_infer_shapes():
    h = head()
    assert h.ref_kinds == ("source_latents",) and h.output_kinds == ()
    feats = torch.randn(2, T, D)
    out = h.infer(feats, torch.tensor([T, 4]))
    assert out["slot_latents"].shape == (2, S, T, D)
    assert torch.all(out["slot_latents"][1, :, 4:] == 0)
    assert out["exist_logits"].shape == (2, S) and out["num_sources"].shape == (2,)
    assert ((out["exist_prob"] > 0.5).sum(-1) == out["num_sources"]).all()


def test_pit_really_permutes_slots():
    """Slots that hold the sources in the order (2, 0, 1): PIT must find it."""
    torch.manual_seed(0)
    r = refs(k=(3,))
    order = [2, 0, 1]  # slot s holds source order[s]
    slots = r["source_latents"][:, order] + 0.01 * torch.randn(1, S, T, D)
    out = fake_output(slots, torch.full((1, S), 5.0))
    loss, stats, perm = head().loss(out, **r)
    # perm[k] = slot of source k: source 0 in slot 1, source 1 in slot 2, 2 in slot 0
    assert perm.tolist() == [[1, 2, 0]]
    assert float(stats["pit_acc"]) == 1.0 and float(stats["latent_si_sdr"]) > 30
    # the identity assignment would cost much more: the loss used the permutation
    ident = fake_output(r["source_latents"] + 0.01 * torch.randn(1, S, T, D),
                        torch.full((1, S), 5.0))
    loss_ident, _, perm_ident = head().loss(ident, **r)
    assert perm_ident.tolist() == [[0, 1, 2]]
    assert abs(float(loss) - float(loss_ident)) < 3.0  # identity: -40 -> +22


@pytest.mark.parametrize("latent_loss", ["sisdr", "mse"])
def test_assignment_minimises_the_whole_loss(latent_loss):
    """Brute force over every assignment: PIT's choice has the minimal total loss."""
    h = head(latent_loss=latent_loss, null_weight=2.0, exist_weight=3.0)
    torch.manual_seed(3)
    for k in (1, 2, 3):
        r = refs(k=(k,), seed=k)
        slots = torch.randn(1, S, T, D)
        logits = torch.randn(1, S) * 3
        loss, _, perm = h.loss(fake_output(slots, logits), **r)
        best = None
        for chosen in itertools.permutations(range(S), k):
            rest = [s for s in range(S) if s not in chosen]
            forced = torch.tensor([list(chosen) + rest])
            val = float(_loss_of(h, slots, logits, r, forced))
            best = val if best is None else min(best, val)
        assert float(loss) == pytest.approx(best, abs=1e-4)
        assert float(_loss_of(h, slots, logits, r, perm)) == pytest.approx(float(loss))


def _loss_of(h, slots, logits, r, perm):
    """The head's loss for a given assignment, written out from its docstring."""
    k = int(r["num_sources"][0])
    lens = torch.tensor([T])
    sdr = pairwise_latent_si_sdr(slots, r["source_latents"], lens)[0]
    if h.latent_loss == "sisdr":
        pair = -sdr
    else:
        pair = ((slots[0][:, None] - r["source_latents"][0][None]) ** 2).mean((2, 3))
    matched = sum(pair[perm[0, i], i] for i in range(k)) / k
    null_slots = perm[0, k:]
    null = ((slots[0, null_slots] - h.null_embedding) ** 2).mean((1, 2))
    null_term = h.null_weight * null.mean() if len(null_slots) else 0.0
    target = torch.zeros(S)
    target[perm[0, :k]] = 1.0
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits[0], target)
    return matched + null_term + h.exist_weight * bce


def test_noise_only_mixture_makes_every_slot_null():
    h = head()
    r = refs(k=(0, 0))
    out = h.infer(torch.randn(2, T, D), torch.tensor([T, T]))
    loss, stats, perm = h.loss(out, **r)
    assert perm.tolist() == [[0, 1, 2], [0, 1, 2]]
    assert stats["pit_acc"] is None and stats["latent_si_sdr"] is None
    assert float(stats["k_mae"]) == pytest.approx(float(out["num_sources"].float().mean()))
    loss.backward()
    # trained toward the null target and "no source" existence
    assert h.null_embedding.grad.abs().sum() > 0
    assert h.exist_bias.grad.sum() > 0  # BCE toward 0 pushes the logits down


def test_training_the_head_alone_learns_routing_and_null():
    """A few hundred steps on synthetic latents: K-routing and latent SI-SDR rise."""
    torch.manual_seed(0)
    h = KSetSepHead(D, S, hidden_size=32, num_layers=1, attention_heads=2,
                    linear_units=32)
    protos = torch.randn(4, D)  # 4 "speakers", each a latent direction + noise
    opt = torch.optim.Adam(h.parameters(), lr=3e-3)

    def make(bs=16):
        k = torch.randint(0, S + 1, (bs,))
        lat = torch.zeros(bs, S, T, D)
        for b in range(bs):
            ids = torch.randperm(4)[: int(k[b])]
            for j, i in enumerate(ids):
                lat[b, j] = protos[i] + 0.1 * torch.randn(T, D)
        return lat.sum(1), {"source_latents": lat, "num_sources": k,
                            "mixture_latents": lat.sum(1)}

    def evaluate():
        feats, r = make(64)
        with torch.no_grad():
            _, stats, _ = h.loss(h.infer(feats, torch.full((64,), T)), **r)
        return stats

    before = evaluate()
    for _ in range(150):
        feats, r = make()
        loss, _, _ = h.loss(h.infer(feats, torch.full((16,), T)), **r)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = evaluate()
    assert float(after["k_acc"]) > 0.8 > float(before["k_acc"])
    assert float(after["latent_si_sdr"]) > float(before["latent_si_sdr"]) + 5


def test_bad_references():
    h = head()
    out = h.infer(torch.randn(1, T, D), torch.tensor([T]))
    too_many = refs(k=(3,), n=4)  # 4 source latents for 3 slots
    with pytest.raises(ValueError, match="4 sources for the head's num_spk=3"):
        h.loss(out, **too_many)
    r = refs(k=(2,))
    with pytest.raises(ValueError, match=r"num_sources \[4\]"):
        h.loss(out, **{**r, "num_sources": torch.tensor([4])})
    with pytest.raises(ValueError, match="T=6, D=8"):
        h.loss(out, **{**r, "source_latents": torch.zeros(1, 2, T + 1, D)})
    with pytest.raises(ValueError, match="needs mixture_latents"):
        h.loss(out, source_latents=r["source_latents"], num_sources=r["num_sources"])


def test_mixture_shorter_than_one_encoder_frame_is_an_error():
    h = head()
    with pytest.raises(ValueError, match="shorter than one encoder frame"):
        h.infer(torch.randn(2, T, D), torch.tensor([T, 0]))
    with pytest.raises(ValueError, match="shorter than one encoder frame"):
        h.infer(torch.randn(1, 0, D), torch.tensor([0]))


def test_constructor_errors():
    with pytest.raises(ValueError, match="latent_loss"):
        head(latent_loss="l1")
    with pytest.raises(ValueError, match="divisible"):
        KSetSepHead(D, S, hidden_size=15, attention_heads=2)
    with pytest.raises(ValueError, match="num_spk"):
        KSetSepHead(D, 0)


def test_records_for_the_scorer(tmp_path):
    from espnet_echo.metrics.latent_separation import score_latent_dir, write_record

    h = head()
    r = refs(k=(2, 1))
    out = h.infer(torch.randn(2, T, D), torch.tensor([T, 4]))
    recs = KSetSepHead.records(out, **r)
    assert recs[0]["sources"].shape == (2, T, D) and recs[1]["slots"].shape == (S, 4, D)
    for i, rec in enumerate(recs):
        write_record(tmp_path / f"u{i}.npz", **rec)
    assert score_latent_dir(tmp_path)["sources"] == 3
