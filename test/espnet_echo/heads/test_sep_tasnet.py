import math

import pytest
import torch

from espnet_echo.heads.sep_tasnet import TasNetSepHead

D, S, N, T = 8, 3, 320, 10


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny tensors: intra-op threads only add contention on shared CPUs
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_head(**kw):
    conf = dict(
        num_spk=S,
        enc_channels=16,
        kernel_size=8,
        stride=4,
        tcn_bottleneck=16,
        tcn_hidden=32,
        tcn_layers=3,
        tcn_stacks=1,
    )
    conf.update(kw)
    return TasNetSepHead(D, **conf)


def make_batch(seed=0):
    """Utterance 0: 2 sources (slot 2 zero padding); utterance 1: 1 source, shorter."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(N) / 8000.0
    ref = torch.zeros(2, S, N)
    ref[0, 0] = torch.sin(2 * math.pi * 440 * t)
    ref[0, 1] = 0.5 * torch.randn(N, generator=g)
    ramp = torch.linspace(0, 1, 240)
    ref[1, 0, :240] = torch.sin(2 * math.pi * 1000 * t[:240]) * ramp
    mix = ref.sum(1)
    return dict(
        feats=torch.randn(2, T, D, generator=g),
        feats_lens=torch.tensor([T, 8]),
        speech=mix,
        speech_lengths=torch.tensor([N, 240]),
        speech_ref=ref,
        num_spk=torch.tensor([2, 1]),
    )


@pytest.mark.parametrize("upsample_mode", ["nearest", "linear"])
def test_shapes_loss_backward_with_absent_slots(upsample_mode):
    head = make_head(upsample_mode=upsample_mode)
    batch = make_batch()
    loss, stats, perm = head(**batch)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert set(stats) == {"loss", "si_snr", "null_energy_db"}
    assert torch.isfinite(stats["si_snr"]) and torch.isfinite(stats["null_energy_db"])
    loss.backward()
    for p in head.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()
    assert perm.shape == (2, S)
    assert sorted(perm[0].tolist()) == list(range(S))
    assert not hasattr(head, "last_perm")

    head.eval()
    args = [batch[k] for k in ("feats", "feats_lens", "speech", "speech_lengths")]
    out = head.infer(*args)
    est = out["sources"]
    assert est.shape == (2, S, N)
    assert (est[1, :, 240:] == 0).all()
    energy = out["source_energy_db"]
    assert energy.shape == (2, S) and torch.isfinite(energy).all()
    assert torch.allclose(
        energy, head.slot_energy_db(est, batch["speech"], batch["speech_lengths"])
    )
    assert out["mixture"] is batch["speech"]


def test_pit_invariance():
    head = make_head()
    head.eval()
    batch = make_batch()
    loss, _, perm0 = head(**batch)
    swapped = dict(batch)
    ref = batch["speech_ref"].clone()
    ref[0, [0, 1]] = ref[0, [1, 0]]
    swapped["speech_ref"] = ref
    loss_swapped, _, perm = head(**swapped)
    assert torch.allclose(loss, loss_swapped, atol=1e-5)
    # the slot of reference 0 is now the slot of reference 1, and vice versa
    assert perm[0, 0] == perm0[0, 1] and perm[0, 1] == perm0[0, 0]


def test_null_slots_use_energy_not_sisnr():
    """With controlled estimates: matched slots by SI-SNR, null slot by energy."""
    head = make_head(null_weight=1.0, null_floor_db=-30.0)
    batch = make_batch()
    ref = batch["speech_ref"]
    g = torch.Generator().manual_seed(1)
    noise = 0.05 * torch.randn(2, S, N, generator=g)
    mix1 = batch["speech"][1, :240]
    refs = dict(speech_ref=batch["speech_ref"], num_spk=batch["num_spk"])

    def fake(loud_null):
        est = torch.zeros(2, S, N)
        est[0, 2] = ref[0, 0] + noise[0, 0]  # reference 0 -> slot 2
        est[0, 0] = ref[0, 1] + noise[0, 1]  # reference 1 -> slot 0
        est[0, 1] = batch["speech"][0] * (1.0 if loud_null else 1e-3)
        est[1, 1, :240] = ref[1, 0, :240] + noise[1, 0, :240]
        est[1, 0, :240] = 0.0  # exactly silent: floored at -30 dB
        # noise at -20 dB re. the mixture (a scaled copy of the single source
        # would be a perfect estimate)
        n = noise[1, 2, :240]
        est[1, 2, :240] = n * (0.01 * mix1.pow(2).sum() / n.pow(2).sum()).sqrt()
        return dict(
            sources=est, mixture=batch["speech"], mixture_lengths=batch["speech_lengths"]
        )

    loss_quiet, stats, perm = head.loss(fake(loud_null=False), **refs)
    assert perm.tolist() == [[2, 0, 1], [1, 0, 2]]
    assert torch.isfinite(loss_quiet)

    # expected value from an independent SI-SNR implementation
    def si_snr(est, ref):
        est, ref = est - est.mean(), ref - ref.mean()
        proj = (est @ ref) / (ref @ ref) * ref
        return 10 * torch.log10(proj.pow(2).sum() / (est - proj).pow(2).sum())

    est = fake(loud_null=False)["sources"]
    s00 = si_snr(est[0, 2], ref[0, 0])
    s01 = si_snr(est[0, 0], ref[0, 1])
    s10 = si_snr(est[1, 1, :240], ref[1, 0, :240])
    null0 = 10 * math.log10(1e-6 + 1e-8)  # -60 dB -> floored
    loss0 = -(s00 + s01) / 2 + max(null0, -30.0)
    loss1 = -s10 + (-30.0 - 20.0) / 2  # null slots: silent (floored) and -20 dB
    expected = (loss0 + loss1) / 2
    assert torch.allclose(loss_quiet, expected, atol=1e-3)
    assert torch.allclose(stats["si_snr"], (s00 + s01 + s10) / 3, atol=1e-3)

    loss_loud, stats_loud, _ = head.loss(fake(loud_null=True), **refs)
    assert loss_loud > loss_quiet + 10.0  # 0 dB instead of the -30 dB floor
    assert stats_loud["null_energy_db"] > stats["null_energy_db"]


def test_zero_reference_slot_never_scored():
    head = make_head()
    batch = make_batch()
    batch["num_spk"] = torch.tensor([1, 1])  # reference slot 1 of utt 0 ignored too
    batch["speech_ref"][0, 1:] = 0.0
    loss, stats, _ = head(**batch)
    assert torch.isfinite(loss) and torch.isfinite(stats["si_snr"])
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters())


def test_silent_reference_is_a_null_slot():
    """A listed reference that is all zero (e.g. a crop outside its speech) is not
    scored with SI-SNR (NaN) but gets the null target like an absent speaker."""
    head = make_head()
    batch = make_batch()
    batch["speech_ref"][0, 0] = 0.0  # utt 0 lists 2 references, the first is silent
    out = head.infer(
        batch["feats"], batch["feats_lens"], batch["speech"], batch["speech_lengths"]
    )
    loss, stats, perm = head.loss(
        out, speech_ref=batch["speech_ref"], num_spk=batch["num_spk"]
    )
    assert torch.isfinite(loss) and torch.isfinite(stats["si_snr"])
    batch1 = make_batch()
    batch1["speech_ref"][0, 0] = batch["speech_ref"][0, 1]
    batch1["speech_ref"][0, 1] = 0.0
    batch1["num_spk"] = torch.tensor([1, 1])
    # the same utterance with K = 1 declared
    loss1, _, perm1 = head.loss(
        out, speech_ref=batch1["speech_ref"], num_spk=batch1["num_spk"]
    )
    assert torch.allclose(loss, loss1) and torch.equal(perm, perm1)
    loss.backward()


def test_loss_falls_on_fixed_batch():
    torch.manual_seed(0)
    head = make_head()
    batch = make_batch()
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    losses, si_snrs = [], []
    for _ in range(30):
        loss, stats, _ = head(**batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        si_snrs.append(stats["si_snr"].item())
    # the loss is in dB and crosses zero, so compare differences, not ratios
    assert losses[-1] < losses[0] - 3.0, losses
    assert si_snrs[-1] > si_snrs[0] + 3.0, si_snrs


def test_bad_inputs_raise_value_error():
    head = make_head()
    batch = make_batch()
    with pytest.raises(ValueError, match="slots"):
        head(**{**batch, "num_spk": torch.tensor([4, 1])})
    with pytest.raises(ValueError, match="feats must be"):
        head(**{**batch, "feats": torch.randn(2, T, D + 1)})
    with pytest.raises(ValueError, match="samples"):
        head(**{**batch, "speech_ref": batch["speech_ref"][:, :, :100]})
    with pytest.raises(ValueError, match="speech_ref"):
        head(**{**batch, "speech_ref": batch["speech_ref"][:, :1]})
    with pytest.raises(ValueError, match="needs speech_ref"):
        head(batch["feats"], batch["feats_lens"], batch["speech"], batch["speech_lengths"])
    with pytest.raises(ValueError, match="mixture waveform"):
        head.infer(batch["feats"], batch["feats_lens"])
    with pytest.raises(ValueError, match="speech_lengths"):
        head(**{**batch, "speech_lengths": torch.tensor([N + 1, 240])})


def test_mixture_without_speakers_is_all_null():
    head = make_head()
    batch = make_batch()
    batch["num_spk"] = torch.tensor([0, 0])
    loss, stats, perm = head(**batch)
    assert torch.isfinite(loss) and stats["si_snr"] is None
    assert torch.isfinite(stats["null_energy_db"])
    loss.backward()
    assert perm.tolist() == [list(range(S))] * 2
