# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Reference kinds: how the joint model builds a head's references from an ESPnet batch.

A head names the kinds it needs in ``AbsEchoHead.ref_kinds``; the model builds each kind
once per batch from the data names listed here, and :class:`~espnet_echo.tasks.echo.
EchoTask` checks the training data against the same lists. A new kind of reference is
one more :class:`ReferenceKind` in :data:`REFERENCE_KINDS`; no branch on head names.

Speaker order: every per-source kind is in source order (``utt2spks``, ``speech_ref.scp``,
``text_spk<n>``). For ``spk_labels`` this holds because ESPnet's ``RttmReader`` numbers the
label columns by first appearance in ``espnet_rttm`` and ``format_data`` writes each
utterance's turns grouped by source in ``utt2spks`` order (every source has a turn, the
data-dir reader checks it); ``make_spk_ids`` checks it again for the dirs it labels.
``spk_ids`` (from ``make_spk_ids``) is the training-speaker index of each source, -1 for
a speaker outside the training list, padded with -1 to the model's slots.
"""

from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F


def frame_labels(
    sample_labels: torch.Tensor,
    speech_lengths: torch.Tensor,
    num_frames: int,
    frame_shift: int,
) -> torch.Tensor:
    """Aggregate sample-level speaker activity to frames by majority vote.

    Frame ``t`` covers samples ``[t * frame_shift, (t + 1) * frame_shift)``. A speaker
    is active in a frame when more than half of the frame's valid samples (those
    before ``speech_lengths``) are active. Frames without valid samples are 0, and
    the output is cut or zero-padded to ``num_frames``.

    (ESPnet's ``LabelAggregate`` frames like an STFT with centre padding and a
    window, which does not match an encoder whose frame ``t`` starts at sample
    ``t * frame_shift``; hence these few lines.)

    Args:
        sample_labels: Sample-level 0/1 activity (B, N, S).
        speech_lengths: Valid samples per utterance (B,).
        num_frames: Number of output frames T.
        frame_shift: Samples per frame.

    Returns:
        Frame-level 0/1 activity (B, T, S), float.

    Raises:
        ValueError: sample_labels not (B, N, S), speech_lengths not (B,),
            ``frame_shift <= 0`` or ``num_frames < 0``.
    """
    if sample_labels.dim() != 3:
        raise ValueError(
            f"sample_labels must be (B, N, S), got shape {tuple(sample_labels.shape)}"
        )
    if frame_shift <= 0 or num_frames < 0:
        raise ValueError(
            f"need frame_shift > 0 and num_frames >= 0, got {frame_shift}, "
            f"{num_frames}"
        )
    bs, n_samples, n_spk = sample_labels.shape
    if speech_lengths.shape != (bs,):
        raise ValueError(
            f"speech_lengths must be ({bs},), got {tuple(speech_lengths.shape)}"
        )
    labels = (sample_labels > 0.5).float()
    valid = (
        torch.arange(n_samples, device=labels.device)[None, :]
        < speech_lengths.to(labels.device)[:, None]
    ).float()
    labels = labels * valid[:, :, None]
    total = num_frames * frame_shift
    if n_samples < total:
        labels = F.pad(labels, (0, 0, 0, total - n_samples))
        valid = F.pad(valid, (0, total - n_samples))
    labels = labels[:, :total].reshape(bs, num_frames, frame_shift, n_spk).sum(2)
    counts = valid[:, :total].reshape(bs, num_frames, frame_shift).sum(2)
    counts = counts[:, :, None]
    return ((2 * labels > counts) & (counts > 0)).float()


def pad_slots(x: torch.Tensor, num_slots: int, what: str) -> torch.Tensor:
    """Pad the last (speaker) axis of (B, N, K) to ``num_slots`` with zeros.

    Raises:
        ValueError: K > num_slots.
    """
    if x.shape[-1] > num_slots:
        raise ValueError(
            f"{what}: {x.shape[-1]} speakers in a mixture but the model has "
            f"num_spk={num_slots} slots"
        )
    return F.pad(x, (0, num_slots - x.shape[-1]))


@dataclass(frozen=True)
class BatchContext:
    """What a reference builder may read besides the batch.

    Attributes:
        speech: Mixtures (B, N).
        speech_lengths: Valid samples (B,).
        num_slots: Speaker slots S of the model.
        num_frames: Encoder frames T of the batch.
        frame_shift: Waveform samples per encoder frame.
        target_encode: ``(wavs (M, N), lengths (M,)) -> latents (M, T, D)``: the
            model's frozen target encoder (no gradient, eval mode), given only when
            some head declares a kind with ``needs_target_encoder`` (see
            ``ESPnetEchoModel``); None otherwise.
        mixture_latents: The target encoder's output on the mixtures (B, T, D) when
            ``target_encode`` is given (computed once per batch, shared with the
            model's anchor term); None otherwise.
    """

    speech: torch.Tensor
    speech_lengths: torch.Tensor
    num_slots: int
    num_frames: int
    frame_shift: int
    target_encode: Optional[
        Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    ] = None
    mixture_latents: Optional[torch.Tensor] = None


@dataclass(frozen=True)
class ReferenceKind:
    """One kind of reference a head can declare.

    Attributes:
        name: The kind's name (what heads list in ``ref_kinds``).
        data_names: Data names the batch must carry, given the number of slots S.
        hint: What to add to the data options, given S (for error messages).
        build: ``(batch, context) -> {keyword: tensor}`` passed to ``head.loss``.
        needs_target_encoder: The builder reads ``context.target_encode``: a model
            with a head declaring this kind builds a frozen target encoder.
    """

    name: str
    data_names: Callable[[int], Tuple[str, ...]]
    hint: Callable[[int], str]
    build: Callable[[Mapping[str, torch.Tensor], BatchContext], Dict[str, torch.Tensor]]
    needs_target_encoder: bool = False


def _spk_labels(batch, ctx: BatchContext) -> Dict[str, torch.Tensor]:
    labels = pad_slots(
        batch["spk_labels"].float(), ctx.num_slots, "spk_labels (RTTM speakers)"
    )
    return {
        "spk_labels": frame_labels(
            labels, ctx.speech_lengths, ctx.num_frames, ctx.frame_shift
        )
    }


def _speech_ref(batch, ctx: BatchContext) -> Dict[str, torch.Tensor]:
    ref = pad_slots(batch["speech_ref"], ctx.num_slots, "speech_ref (sources)")
    return {"speech_ref": ref[:, : ctx.speech.shape[1]].transpose(1, 2)}  # (B, S, N)


def _spk_ids(batch, ctx: BatchContext) -> Dict[str, torch.Tensor]:
    ids = batch["spk_ids"].long()
    if ids.dim() == 1:
        ids = ids[:, None]
    if ids.dim() != 2:
        raise ValueError(f"spk_ids must be (B, K), got shape {tuple(ids.shape)}")
    if ids.shape[-1] > ctx.num_slots:
        raise ValueError(
            f"spk_ids (training speaker ids): {ids.shape[-1]} speakers in a mixture but "
            f"the model has num_spk={ctx.num_slots} slots"
        )
    return {"spk_ids": F.pad(ids, (0, ctx.num_slots - ids.shape[-1]), value=-1)}


def _num_spk(batch, ctx: BatchContext) -> Dict[str, torch.Tensor]:
    return {"num_spk": batch["num_spk"].view(-1).long()}


def _text_names(num_slots: int) -> Tuple[str, ...]:
    return tuple(f"text_spk{n}" for n in range(1, num_slots + 1))


def _text(batch, ctx: BatchContext) -> Dict[str, torch.Tensor]:
    names = _text_names(ctx.num_slots)
    texts = [batch[n] for n in names]
    lens = [batch[f"{n}_lengths"] for n in names]
    max_len = max(1, max(int(t.shape[1]) for t in texts))
    text = torch.full(
        (ctx.speech.shape[0], ctx.num_slots, max_len), -1, dtype=torch.long,
        device=ctx.speech.device,
    )
    for n, t in enumerate(texts):
        text[:, n, : t.shape[1]] = t
    return {"text": text, "text_lengths": torch.stack(lens, dim=1)}


def _source_latents(batch, ctx: BatchContext) -> Dict[str, torch.Tensor]:
    """Latents of each clean source under the frozen target encoder.

    A source counts (is one of the K targets) when it is among the first ``num_spk``
    columns of ``speech_ref``, is not silent over the mixture's valid samples, and its
    non-zero span (first to last non-zero valid sample) covers at least one encoder
    frame (``frame_shift`` samples); other columns (padding, silent crops, sources
    shorter than one encoder frame) are dropped, so their slots are null slots. The
    counted sources keep their order and are moved to the front.

    Returns:
        ``source_latents`` (B, S, T, D) (zero past ``num_sources``), ``num_sources``
        (B,) long, ``mixture_latents`` (B, T, D) and ``short_sources`` (B,) long (the
        non-silent sources dropped for being shorter than one encoder frame).

    Raises:
        ValueError: no target encoder in the context, ``num_spk`` outside
            ``[0, S]`` or above the ``speech_ref`` columns, more sources than slots,
            or target latents whose frame count differs from the batch's.
    """
    if ctx.target_encode is None or ctx.mixture_latents is None:
        raise ValueError(
            "the source_latents reference needs the model's frozen target encoder "
            "(BatchContext.target_encode); the model builds one for heads that declare it"
        )
    ref = pad_slots(batch["speech_ref"], ctx.num_slots, "speech_ref (sources)")
    n = ctx.speech.shape[1]
    ref = ref[:, :n].transpose(1, 2).to(ctx.speech.dtype)  # (B, S, N)
    num_spk = batch["num_spk"].view(-1).long().to(ref.device)
    bs, n_slots = ref.shape[:2]
    if num_spk.shape != (bs,):
        raise ValueError(f"num_spk must be ({bs},), got {tuple(num_spk.shape)}")
    in_ref = batch["speech_ref"].shape[-1]
    if bs and (int(num_spk.min()) < 0 or int(num_spk.max()) > min(n_slots, in_ref)):
        raise ValueError(
            f"num_spk {num_spk.tolist()} must be in [0, {min(n_slots, in_ref)}] "
            f"(num_spk={n_slots} slots, {in_ref} speech_ref columns)"
        )
    lengths = ctx.speech_lengths.to(ref.device).long()
    valid = torch.arange(n, device=ref.device)[None, :] < lengths[:, None]  # (B, N)
    nonzero = (ref != 0) & valid[:, None, :]  # (B, S, N)
    idx = torch.arange(n, device=ref.device)
    first = torch.where(nonzero, idx, n).min(-1).values
    last = torch.where(nonzero, idx, -1).max(-1).values
    span = (last - first + 1).clamp(min=0)  # (B, S)
    listed = torch.arange(n_slots, device=ref.device)[None, :] < num_spk[:, None]
    audible = listed & nonzero.any(-1)
    keep = audible & (span >= ctx.frame_shift)
    mix = ctx.mixture_latents
    num_frames, dim = mix.shape[1], mix.shape[2]
    latents = mix.new_zeros(bs, n_slots, num_frames, dim)
    counts = keep.sum(-1)
    if bool(keep.any()):
        b_idx, s_idx = keep.nonzero(as_tuple=True)
        enc = ctx.target_encode(ref[b_idx, s_idx], lengths[b_idx])  # (M, T', D)
        if enc.shape[1:] != (num_frames, dim):
            raise ValueError(
                f"target latents of the sources are {tuple(enc.shape[1:])} per source, "
                f"the mixture's {(num_frames, dim)}"
            )
        rank = keep.long().cumsum(-1) - 1  # position among the kept sources
        latents[b_idx, rank[b_idx, s_idx]] = enc.to(latents.dtype)
    return {
        "source_latents": latents,
        "num_sources": counts,
        "mixture_latents": mix,
        "short_sources": (audible & ~keep).sum(-1),
    }


#: Every reference kind a head can declare, by name.
REFERENCE_KINDS: Dict[str, ReferenceKind] = {
    kind.name: kind
    for kind in (
        ReferenceKind(
            name="spk_labels",
            data_names=lambda s: ("spk_labels",),
            hint=lambda s: "add 'espnet_rttm,spk_labels,rttm' to the data options",
            build=_spk_labels,
        ),
        ReferenceKind(
            name="speech_ref",
            data_names=lambda s: ("speech_ref",),
            hint=lambda s: (
                "add 'speech_ref.scp,speech_ref,variable_columns_sound' to the data "
                "options"
            ),
            build=_speech_ref,
        ),
        ReferenceKind(
            name="num_spk",
            data_names=lambda s: ("num_spk",),
            hint=lambda s: "add 'utt2num_spk,num_spk,text_int' to the data options",
            build=_num_spk,
        ),
        ReferenceKind(
            name="text",
            data_names=_text_names,
            hint=lambda s: (
                f"the data options need text_spk1..text_spk{s}, empty lines for absent "
                "speakers"
            ),
            build=_text,
        ),
        ReferenceKind(
            name="spk_ids",
            data_names=lambda s: ("spk_ids",),
            hint=lambda s: (
                "add 'spk_ids,spk_ids,text_int' to the data options; write the spk_ids "
                "files and the speaker list with 'python -m espnet_echo.bin.make_spk_ids "
                "--train_dir <train dump> --spk_list <file> --data_dir <dump> ...'"
            ),
            build=_spk_ids,
        ),
        ReferenceKind(
            name="source_latents",
            data_names=lambda s: ("speech_ref", "num_spk"),
            hint=lambda s: (
                "add 'speech_ref.scp,speech_ref,variable_columns_sound' and "
                "'utt2num_spk,num_spk,text_int' to the data options"
            ),
            build=_source_latents,
            needs_target_encoder=True,
        ),
    )
}


def reference_kind(name: str) -> ReferenceKind:
    """The :class:`ReferenceKind` called ``name``.

    Raises:
        ValueError: no such kind.
    """
    if name not in REFERENCE_KINDS:
        raise ValueError(
            f"unknown reference kind {name!r}; known: {sorted(REFERENCE_KINDS)}"
        )
    return REFERENCE_KINDS[name]


def data_names_of(ref_kinds: Tuple[str, ...], num_slots: int) -> Tuple[str, ...]:
    """Data names the reference kinds ``ref_kinds`` read, in order, without repeats.

    Raises:
        ValueError: an unknown kind.
    """
    names: Dict[str, None] = {}
    for kind in ref_kinds:
        names.update(dict.fromkeys(reference_kind(kind).data_names(num_slots)))
    return tuple(names)
