"""Echo's latent separation metrics on hand-made cases."""

import numpy as np
import pytest
import torch

from espnet_echo.metrics.latent_separation import (
    LatentSeparationAccumulator,
    latent_si_sdr,
    pairwise_latent_si_sdr,
    pit_accuracy_counts,
    score_latent_dir,
    write_record,
)


def _basis(t=4, d=3):
    """Two orthogonal (T, D) latent sequences of equal energy."""
    a = torch.zeros(t, d)
    b = torch.zeros(t, d)
    a[:, 0] = 1.0
    b[:, 1] = 1.0
    return a, b


def test_si_sdr_of_hand_made_estimates():
    ref, orth = _basis()
    # scale-invariant: a scaled reference is perfect (bounded by eps and float32)
    assert float(latent_si_sdr(3.0 * ref[None], ref[None])) > 80.0
    cases = [
        (ref + orth, 0.0),  # equal-energy orthogonal error: 0 dB
        (ref + orth / np.sqrt(10.0), 10.0),  # error 1/10 of the target energy
        (ref + orth * np.sqrt(10.0), -10.0),
    ]
    for est, expected in cases:
        got = latent_si_sdr(est[None], ref[None])
        assert float(got) == pytest.approx(expected, abs=1e-3)


def test_pairwise_matches_elementwise_and_ignores_padding():
    torch.manual_seed(0)
    est = torch.randn(2, 3, 5, 4)
    ref = torch.randn(2, 2, 5, 4)
    lens = torch.tensor([5, 3])
    pair = pairwise_latent_si_sdr(est, ref, lens)
    assert pair.shape == (2, 3, 2)
    for b in range(2):
        for s in range(3):
            for k in range(2):
                one = latent_si_sdr(est[b, s, None], ref[b, k, None], lens[b, None])
                assert float(pair[b, s, k]) == pytest.approx(float(one), abs=1e-4)
    garbage = est.clone()
    garbage[1, :, 3:] = 1e3  # past the valid frames of utterance 1
    assert torch.allclose(pairwise_latent_si_sdr(garbage, ref, lens), pair, atol=1e-4)
    # and the padding matters when it is declared valid
    assert not torch.allclose(pairwise_latent_si_sdr(garbage, ref), pair, atol=1e-2)


def test_zero_mean_removes_a_per_feature_offset():
    ref, orth = _basis()
    est = ref + orth / np.sqrt(10.0)
    shifted = est + torch.tensor([0.0, 0.0, 5.0])  # constant over time in feature 2
    zm = float(latent_si_sdr((est + orth)[None], (ref + orth)[None], zero_mean=True))
    assert float(latent_si_sdr(shifted[None], ref[None])) < 0.0
    # ref + orth has zero per-feature variance over time: after mean removal it is all
    # zero, so use a time-varying reference for the zero-mean case
    r = torch.arange(8.0)[:, None].repeat(1, 3)
    r = r - r.mean(0)
    e = r + torch.tensor([1.0, -2.0, 3.0])
    assert float(latent_si_sdr(e[None], r[None], zero_mean=True)) > 80.0
    assert float(latent_si_sdr(e[None], r[None])) < 20.0
    assert np.isfinite(zm)


def test_shape_errors():
    with pytest.raises(ValueError, match=r"\(B, S, T, D\)"):
        pairwise_latent_si_sdr(torch.zeros(2, 3, 4), torch.zeros(2, 1, 3, 4))
    with pytest.raises(ValueError, match="differ"):
        pairwise_latent_si_sdr(torch.zeros(1, 2, 3, 4), torch.zeros(1, 1, 5, 4))
    with pytest.raises(ValueError, match="lengths"):
        pairwise_latent_si_sdr(torch.zeros(1, 2, 3, 4), torch.zeros(1, 1, 3, 4),
                               torch.tensor([1, 2]))


def test_pit_accuracy_counts_sources_whose_pit_slot_is_not_the_nearest():
    # slot 0 is the nearest slot of both sources; the assignment (max total SI-SDR:
    # 9 + 0 > 10 - 5) gives source 0 slot 1 and source 1 slot 0.
    pair = torch.tensor([[[10.0, 9.0], [0.0, -5.0]]])
    perm = torch.tensor([[1, 0]])
    assert pit_accuracy_counts(pair, perm, torch.tensor([2])) == {
        "pit_correct": 1, "pit_sources": 2}
    # one source counted only (K_b = 1): its PIT slot 1 is not its nearest slot 0
    assert pit_accuracy_counts(pair, perm, torch.tensor([1])) == {
        "pit_correct": 0, "pit_sources": 1}
    assert pit_accuracy_counts(pair, torch.tensor([[0, 1]]), torch.tensor([2])) == {
        "pit_correct": 1, "pit_sources": 2}
    distinct = torch.tensor([[[10.0, -5.0], [0.0, 9.0]]])  # each source has its slot
    assert pit_accuracy_counts(distinct, torch.tensor([[0, 1]]), torch.tensor([2])) == {
        "pit_correct": 2, "pit_sources": 2}
    assert pit_accuracy_counts(distinct, torch.tensor([[1, 0]]), torch.tensor([2])) == {
        "pit_correct": 0, "pit_sources": 2}


def test_accumulator_on_a_hand_made_batch():
    ref, orth = _basis()
    third = torch.zeros_like(ref)
    third[:, 2] = 1.0
    # utterance 0: 2 sources, slots (orth-ish, ref-ish, null); utterance 1: noise only
    slots = torch.stack([
        torch.stack([orth + ref / np.sqrt(10.0), ref + orth / np.sqrt(10.0), third]),
        torch.stack([third, third, third]),
    ])
    sources = torch.stack([torch.stack([ref, orth]), torch.zeros(2, 4, 3)])
    mixture = torch.stack([ref + orth, third])
    exist = torch.tensor([[0.9, 0.8, 0.1], [0.2, 0.7, 0.1]])  # K̂ = 2, 1
    acc = LatentSeparationAccumulator()
    out = acc.add(slots, exist, sources, mixture, torch.tensor([2, 0]))
    assert out["perm"][0, :2].tolist() == [1, 0]
    res = acc.result()
    assert res["latent_si_sdr"] == pytest.approx(10.0, abs=1e-3)
    assert res["latent_si_sdri"] == pytest.approx(10.0, abs=1e-3)  # mixture: 0 dB
    assert res["pit_acc"] == 1.0
    assert res["k_acc"] == 0.5 and res["k_mae"] == 0.5
    assert res["sources"] == 2 and res["utterances"] == 2
    empty = LatentSeparationAccumulator().result()
    assert empty["latent_si_sdr"] is None and empty["k_acc"] is None


def test_accumulator_rejects_more_sources_than_slots():
    acc = LatentSeparationAccumulator()
    with pytest.raises(ValueError, match="exceeds"):
        acc.add(torch.zeros(1, 2, 3, 4), torch.zeros(1, 2), torch.zeros(1, 3, 3, 4),
                torch.zeros(1, 3, 4), torch.tensor([3]))


def test_score_latent_dir_round_trip(tmp_path):
    ref, orth = _basis()
    write_record(tmp_path / "u1.npz", slots=torch.stack([ref, orth]).numpy(),
                 exist_prob=np.array([0.9, 0.1]), sources=ref[None].numpy(),
                 mixture=(ref + orth).numpy())
    write_record(tmp_path / "u2.npz", slots=torch.stack([ref, orth]).numpy(),
                 exist_prob=np.array([0.2, 0.1]), sources=np.zeros((0, 4, 3)),
                 mixture=orth.numpy())
    res = score_latent_dir(tmp_path)
    assert res["latent_si_sdr"] > 80.0 and res["pit_acc"] == 1.0
    assert res["k_acc"] == 1.0 and res["utterances"] == 2
    np.savez(tmp_path / "bad.npz", slots=np.zeros((2, 4, 3)))
    with pytest.raises(ValueError, match="bad.npz"):
        score_latent_dir(tmp_path)
    with pytest.raises(FileNotFoundError):
        score_latent_dir(tmp_path / "nothing")
    with pytest.raises(ValueError, match="exist_prob"):
        write_record(tmp_path / "x.npz", np.zeros((2, 4, 3)), np.zeros(3),
                     np.zeros((1, 4, 3)), np.zeros((4, 3)))
