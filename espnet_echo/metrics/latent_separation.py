# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Echo's separation metrics in the shared latent space.

Echo (Mouchon, arXiv 2606.01909) reports separation as "PIT accuracy" (97.80 %), "latent
SI-SDR" (+9.52 dB) and "dynamic-K routing accuracy" (94.4 %) without public definitions
(``/work/shared/reference/papers.md`` marks them UNVERIFIED). The definitions used here:

Latent SI-SDR (dB)
    Scale-invariant SDR of a slot's latent sequence ``e`` against a source's target
    latent sequence ``r`` (the frozen target encoder's output on the clean source), both
    flattened over the valid frames and the feature axis, ``(T_b, D) -> T_b * D``::

        a = <e, r> / |r|^2,   SI-SDR = 10 log10(|a r|^2 / |a r - e|^2)

    Without mean removal by default (``zero_mean=False``); with ``zero_mean=True`` each
    feature's mean over the valid frames is removed first (the latent analogue of a
    waveform's DC). Clamped to ``[-CLAMP_DB, CLAMP_DB]``.
Latent SI-SDRi (dB)
    Latent SI-SDR of the matched slot minus the latent SI-SDR of the mixture's own
    latent (the target encoder's output on the mixture) used as the estimate of that
    source; averaged over the matched sources.
PIT accuracy
    The share of reference sources whose PIT slot (the exact minimum-cost assignment of
    :func:`espnet_echo.layers.pit.pit_assign`, as the head is trained) is also their
    nearest slot by latent SI-SDR, i.e. ``argmax_s SI-SDR(slot_s, source_k)`` over all S
    slots. It is 1 exactly when every source has a slot that is closer to it than any
    other slot and the assignment uses those slots; a slot that sits between two sources
    (a "mixture" slot) or two sources sharing one nearest slot lower it. Ties go to the
    lowest slot index (``torch.argmax``).
Dynamic-K routing accuracy
    The share of utterances with ``K̂ = K``, K̂ the number of slots whose existence
    probability is > 0.5, K the number of (non-silent) reference sources; with the mean
    absolute count error ``mean |K̂ - K|`` beside it.

Corpus figures are accumulated from components (sums and counts, see
:class:`LatentSeparationAccumulator`), never averaged per file.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Union

import numpy as np
import torch

from espnet_echo.layers.pit import pit_assign

CLAMP_DB = 100.0
EPS = 1e-8


def _valid_mask(lengths: torch.Tensor, num_frames: int) -> torch.Tensor:
    return torch.arange(num_frames, device=lengths.device)[None, :] < lengths[:, None]


def pairwise_latent_si_sdr(
    est: torch.Tensor,
    ref: torch.Tensor,
    lengths: Optional[torch.Tensor] = None,
    zero_mean: bool = False,
    clamp_db: float = CLAMP_DB,
    eps: float = EPS,
) -> torch.Tensor:
    """Latent SI-SDR of every (slot, source) pair over the flattened valid (T, D).

    Differentiable (the head's loss uses it); computed from inner products, without
    materialising the (B, S, K, T, D) pairs.

    Args:
        est: Slot latents (B, S, T, D).
        ref: Source latents (B, K, T, D).
        lengths: Valid frames (B,); None: all T frames.
        zero_mean: Subtract each feature's mean over the valid frames first (the
            latent analogue of a waveform's DC: the part of a latent that is constant
            over time).
        clamp_db: Clamp of the result (dB).
        eps: Stabiliser of the energies.

    Returns:
        (B, S, K): entry ``[b, s, k]`` = SI-SDR(est[b, s], ref[b, k]) in dB.

    Raises:
        ValueError: not 4-D, batch/frame/feature sizes differ, or lengths not (B,).
    """
    if est.dim() != 4 or ref.dim() != 4:
        raise ValueError(
            f"est must be (B, S, T, D) and ref (B, K, T, D), got {tuple(est.shape)} and "
            f"{tuple(ref.shape)}"
        )
    bs, _, n_frames, dim = est.shape
    if ref.shape[0] != bs or ref.shape[2:] != est.shape[2:]:
        raise ValueError(
            f"est (B, S, T, D) = {tuple(est.shape)} and ref (B, K, T, D) = "
            f"{tuple(ref.shape)} differ in B, T or D"
        )
    if lengths is None:
        lengths = torch.full((bs,), n_frames, dtype=torch.long, device=est.device)
    if lengths.shape != (bs,):
        raise ValueError(f"lengths must be ({bs},), got {tuple(lengths.shape)}")
    mask = _valid_mask(lengths.to(est.device).long(), n_frames).to(est.dtype)  # (B, T)
    est = est * mask[:, None, :, None]
    ref = ref.to(est.dtype) * mask[:, None, :, None]
    if zero_mean:
        n = lengths.to(est.device).to(est.dtype).clamp(min=1)[:, None, None, None]
        est = (est - est.sum(2, keepdim=True) / n) * mask[:, None, :, None]
        ref = (ref - ref.sum(2, keepdim=True) / n) * mask[:, None, :, None]
    dot = torch.einsum("bstd,bktd->bsk", est, ref)
    ref_energy = ref.pow(2).sum((2, 3))[:, None, :]  # (B, 1, K)
    est_energy = est.pow(2).sum((2, 3))[:, :, None]  # (B, S, 1)
    target = dot.pow(2) / (ref_energy + eps)  # |a r|^2
    noise = (est_energy - target).clamp(min=0.0)  # |a r - e|^2
    sdr = 10.0 * torch.log10((target + eps) / (noise + eps))
    return sdr.clamp(-clamp_db, clamp_db)


def latent_si_sdr(
    est: torch.Tensor,
    ref: torch.Tensor,
    lengths: Optional[torch.Tensor] = None,
    zero_mean: bool = False,
    clamp_db: float = CLAMP_DB,
    eps: float = EPS,
) -> torch.Tensor:
    """Latent SI-SDR of one estimate per reference (elementwise over the batch).

    Args:
        est: Estimated latents (B, T, D).
        ref: Reference latents (B, T, D).
        lengths: Valid frames (B,); None: all T.
        zero_mean: See :func:`pairwise_latent_si_sdr`.
        clamp_db: Clamp (dB).
        eps: Stabiliser.

    Returns:
        (B,) SI-SDR in dB.

    Raises:
        ValueError: shapes differ or are not (B, T, D).
    """
    if est.dim() != 3 or est.shape != ref.shape:
        raise ValueError(
            f"est and ref must both be (B, T, D), got {tuple(est.shape)} and "
            f"{tuple(ref.shape)}"
        )
    return pairwise_latent_si_sdr(
        est[:, None], ref[:, None], lengths, zero_mean, clamp_db, eps
    )[:, 0, 0]


def pit_accuracy_counts(
    pair_sdr: torch.Tensor, perm: torch.Tensor, num_refs: torch.Tensor
) -> Dict[str, int]:
    """PIT accuracy components: sources whose PIT slot is their nearest slot.

    Args:
        pair_sdr: Latent SI-SDR (B, S, K) of every (slot, source) pair.
        perm: PIT assignment (B, S) (``espnet_echo.layers.pit`` convention).
        num_refs: Sources per utterance K_b (B,).

    Returns:
        ``{"pit_correct": n, "pit_sources": m}``; PIT accuracy = n / m.

    Raises:
        ValueError: shapes disagree.
    """
    if pair_sdr.dim() != 3 or perm.shape != pair_sdr.shape[:2]:
        raise ValueError(
            f"pair_sdr must be (B, S, K) and perm (B, S), got {tuple(pair_sdr.shape)} "
            f"and {tuple(perm.shape)}"
        )
    if num_refs.shape != (pair_sdr.shape[0],):
        raise ValueError(
            f"num_refs must be ({pair_sdr.shape[0]},), got {tuple(num_refs.shape)}"
        )
    n_refs = pair_sdr.shape[2]
    if n_refs == 0:
        return {"pit_correct": 0, "pit_sources": 0}
    nearest = pair_sdr.argmax(dim=1).cpu()  # (B, K)
    assigned = perm[:, :n_refs].cpu().long()  # (B, K)
    used = torch.arange(n_refs)[None, :] < num_refs.cpu().long()[:, None]
    return {
        "pit_correct": int(((nearest == assigned) & used).sum()),
        "pit_sources": int(used.sum()),
    }


@dataclass
class LatentSeparationAccumulator:
    """Corpus-level Echo separation metrics from summed components.

    Call :meth:`add` once per batch (or utterance), :meth:`result` at the end.
    """

    si_sdr_sum: float = 0.0
    si_sdri_sum: float = 0.0
    sources: int = 0
    pit_correct: int = 0
    utterances: int = 0
    k_correct: int = 0
    k_abs_err_sum: int = 0

    def add(
        self,
        slots: torch.Tensor,
        exist_prob: torch.Tensor,
        sources: torch.Tensor,
        mixture: torch.Tensor,
        num_sources: torch.Tensor,
        lengths: Optional[torch.Tensor] = None,
        perm: Optional[torch.Tensor] = None,
        zero_mean: bool = False,
    ) -> Dict[str, torch.Tensor]:
        """Score one batch and add it to the totals.

        Args:
            slots: Slot latents (B, S, T, D).
            exist_prob: Existence probabilities (B, S) in [0, 1].
            sources: Target source latents (B, K, T, D); the first ``num_sources[b]``
                are real.
            mixture: The mixture's target latent (B, T, D).
            num_sources: K_b (B,), ``0 <= K_b <= min(K, S)``.
            lengths: Valid frames (B,); None: all.
            perm: The PIT assignment (B, S); None: computed here by
                :func:`espnet_echo.layers.pit.pit_assign` on the negative latent
                SI-SDR (the metric's own assignment).
            zero_mean: See :func:`pairwise_latent_si_sdr`.

        Returns:
            The batch's pairwise SI-SDR (B, S, K), mixture SI-SDR (B, K) and the
            assignment used (B, S), detached.

        Raises:
            ValueError: shape errors, or a K_b above the slots.
        """
        slots, sources, mixture = slots.detach(), sources.detach(), mixture.detach()
        if slots.dim() != 4 or mixture.dim() != 3:
            raise ValueError(
                f"slots must be (B, S, T, D) and mixture (B, T, D), got "
                f"{tuple(slots.shape)} and {tuple(mixture.shape)}"
            )
        bs, n_slots = slots.shape[:2]
        if exist_prob.shape != (bs, n_slots):
            raise ValueError(
                f"exist_prob must be ({bs}, {n_slots}), got {tuple(exist_prob.shape)}"
            )
        if num_sources.shape != (bs,):
            raise ValueError(f"num_sources must be ({bs},), got {tuple(num_sources.shape)}")
        k = num_sources.detach().cpu().long()
        if bs and int(k.max()) > min(n_slots, sources.shape[1]):
            raise ValueError(
                f"num_sources {k.tolist()} exceeds the {n_slots} slots or the "
                f"{sources.shape[1]} source latents"
            )
        pair = pairwise_latent_si_sdr(slots, sources, lengths, zero_mean)  # (B, S, K)
        mix = pairwise_latent_si_sdr(mixture[:, None], sources, lengths, zero_mean)[:, 0]
        if perm is None:
            perm = pit_assign(-pair, k)
        n_refs = sources.shape[1]
        if n_refs:
            matched = torch.gather(pair, 1, perm[:, None, :n_refs].to(pair.device))[:, 0]
            used = (torch.arange(n_refs)[None, :] < k[:, None]).to(pair.device)
            self.si_sdr_sum += float((matched * used).sum())
            self.si_sdri_sum += float(((matched - mix) * used).sum())
            self.sources += int(used.sum())
            counts = pit_accuracy_counts(pair, perm, k)
            self.pit_correct += counts["pit_correct"]
        k_hat = (exist_prob.detach().cpu() > 0.5).sum(-1)
        self.utterances += bs
        self.k_correct += int((k_hat == k).sum())
        self.k_abs_err_sum += int((k_hat - k).abs().sum())
        return {"pair_si_sdr": pair, "mixture_si_sdr": mix, "perm": perm}

    def result(self) -> Dict[str, Optional[float]]:
        """Corpus figures: ``latent_si_sdr``, ``latent_si_sdri`` (dB), ``pit_acc``,
        ``k_acc`` (fractions), ``k_mae`` (sources), ``sources``, ``utterances``;
        None where nothing was counted."""

        def ratio(a: float, n: int) -> Optional[float]:
            return a / n if n else None

        return {
            "latent_si_sdr": ratio(self.si_sdr_sum, self.sources),
            "latent_si_sdri": ratio(self.si_sdri_sum, self.sources),
            "pit_acc": ratio(self.pit_correct, self.sources),
            "k_acc": ratio(self.k_correct, self.utterances),
            "k_mae": ratio(self.k_abs_err_sum, self.utterances),
            "sources": self.sources,
            "utterances": self.utterances,
        }


#: Arrays of one utterance in a latent-separation record file (``<utt>.npz``).
RECORD_KEYS = ("slots", "exist_prob", "sources", "mixture")


def write_record(
    path: Union[str, Path],
    slots: np.ndarray,
    exist_prob: np.ndarray,
    sources: np.ndarray,
    mixture: np.ndarray,
) -> None:
    """Write one utterance's latents for :func:`score_latent_dir`.

    Args:
        path: ``<dir>/<utt>.npz``.
        slots: Slot latents (S, T, D) over the valid frames.
        exist_prob: Existence probabilities (S,).
        sources: Target latents of the K real sources (K, T, D), K >= 0.
        mixture: The mixture's target latent (T, D).

    Raises:
        ValueError: shapes disagree.
    """
    slots, sources, mixture = map(np.asarray, (slots, sources, mixture))
    exist_prob = np.asarray(exist_prob)
    if slots.ndim != 3 or mixture.shape != slots.shape[1:]:
        raise ValueError(
            f"slots must be (S, T, D) and mixture (T, D), got {slots.shape} and "
            f"{mixture.shape}"
        )
    if sources.ndim != 3 or (sources.shape[0] and sources.shape[1:] != slots.shape[1:]):
        raise ValueError(f"sources must be (K, T, D) = (K, {slots.shape[1:]}), got "
                         f"{sources.shape}")
    if exist_prob.shape != slots.shape[:1]:
        raise ValueError(f"exist_prob must be ({slots.shape[0]},), got {exist_prob.shape}")
    sources = sources.reshape(sources.shape[0], *slots.shape[1:])
    np.savez(path, slots=slots, exist_prob=exist_prob, sources=sources, mixture=mixture)


def score_latent_dir(
    record_dir: Union[str, Path], zero_mean: bool = False
) -> Dict[str, Optional[float]]:
    """Echo's separation metrics over a directory of per-utterance records.

    Each ``<record_dir>/<utt>.npz`` holds :data:`RECORD_KEYS` (see
    :func:`write_record`; :meth:`espnet_echo.heads.sep_kset.KSetSepHead.records` gives
    them from a model output). Slots are matched to sources by exact PIT on the negative
    latent SI-SDR.

    Args:
        record_dir: The directory.
        zero_mean: See :func:`pairwise_latent_si_sdr`.

    Returns:
        :meth:`LatentSeparationAccumulator.result`.

    Raises:
        FileNotFoundError: no ``*.npz`` in the directory.
        ValueError: a record lacks a key or has inconsistent shapes (names the file).
    """
    files = sorted(Path(record_dir).glob("*.npz"))
    if not files:
        raise FileNotFoundError(f"no latent-separation records (*.npz) in {record_dir}")
    acc = LatentSeparationAccumulator()
    for f in files:
        with np.load(f) as z:
            missing = [k for k in RECORD_KEYS if k not in z]
            if missing:
                raise ValueError(f"{f}: missing {missing}")
            arrays = {k: torch.from_numpy(np.asarray(z[k], dtype=np.float32))
                      for k in RECORD_KEYS}
        n_src = arrays["sources"].shape[0]
        try:
            acc.add(
                arrays["slots"][None], arrays["exist_prob"][None],
                arrays["sources"][None], arrays["mixture"][None],
                torch.tensor([n_src]), zero_mean=zero_mean,
            )
        except ValueError as e:
            raise ValueError(f"{f}: {e}") from e
    return acc.result()


def main(argv=None) -> None:
    """``python -m espnet_echo.metrics.latent_separation <record_dir>``: print JSON."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("record_dir")
    parser.add_argument("--zero_mean", action="store_true")
    args = parser.parse_args(argv)
    print(json.dumps(score_latent_dir(args.record_dir, args.zero_mean), indent=2))


if __name__ == "__main__":
    main()
