# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Speaker embeddings of a trained model over a labelled data dir, and the PLDA fitted on them.

The PLDA of blind diarization (``Speech2Echo(diar_mode="vbx")``) is fitted on the
embeddings the same model gives at inference, cut the way inference cuts them
(:mod:`espnet_echo.inference.blind_diar`): windows of the speaker head's ``window_s``
every ``hop_s``. For training, the frame weights of a window are the **solo frames** of
one reference speaker (frames where the reference labels say that speaker, and only
that speaker, is active; labels aligned to encoder frames by majority vote,
:func:`espnet_echo.unified.references.frame_labels`); a window is kept when its solo
frames are at least ``min_solo_share`` (0.5) of it, the rule inference applies to
speech frames. Its label is the speaker's global id (the RTTM speaker name, which
``utt2spks`` lists), so a speaker's windows across mixtures form one PLDA class.

The data dir is read by the one data-dir reader
(:func:`espnet_echo.data.datadir.load_data_dir`, :meth:`DataDir.read_audio`,
:meth:`DataDir.labels`): segments, pipes, arks and paths with spaces work as
everywhere else. Utterances go through the model ``batch_size`` at a time, sorted by
length (little padding), with only the speaker head (``tasks``).
"""

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch

from espnet_echo.cluster.plda import PLDA
from espnet_echo.data.datadir import DataDir, load_data_dir
from espnet_echo.data.scp import entry_stamp
from espnet_echo.inference.blind_diar import embed_windows, make_windows
from espnet_echo.inference.speech2echo import load_model
from espnet_echo.unified.references import frame_labels
from espnet_echo.utils.fileio import (
    DataFileError,
    atomic_open,
    file_digest,
    stamp_is_current,
)

PathLike = Union[str, Path]

#: Data-dir files the embeddings depend on (besides the audio files themselves).
DATA_FILES = ("wav.scp", "segments", "rttm", "espnet_rttm", "utt2spks",
              "reco2file_and_channel")


def speaker_head(model) -> Tuple[str, torch.nn.Module]:
    """The task name and head of the model's speaker head (``speaker_frames`` + embed).

    Raises:
        ValueError: the model has none (the message lists its tasks).
    """
    for task, head in model.heads.items():
        if "speaker_frames" in head.output_kinds and hasattr(head, "embed"):
            return task, head
    raise ValueError(
        f"the model has no speaker head (a 'speaker_frames' output and embed(), e.g. "
        f"--spk_head arcface); its tasks are {list(model.heads)}"
    )


def solo_windows(
    labels: np.ndarray, window: int, hop: int, min_solo_share: float = 0.5
) -> List[Tuple[int, np.ndarray, np.ndarray]]:
    """Training windows of each reference speaker, weighted by its solo frames.

    Args:
        labels: Frame-level reference activity (T, K), 0/1.
        window: Window length in frames.
        hop: Hop in frames.
        min_solo_share: Least share of solo frames of a kept window, in (0, 1].

    Returns:
        ``[(k, solo (T,) bool, windows (N_k, 2))]`` for every speaker ``k`` with at
        least one kept window (windows as :func:`~espnet_echo.inference.blind_diar.
        make_windows` gives them).
    """
    labels = np.asarray(labels) > 0
    grid = make_windows(labels.shape[0], window, hop)
    alone = labels.sum(axis=1) == 1
    out = []
    for k in range(labels.shape[1]):
        solo = labels[:, k] & alone
        cum = np.concatenate([[0], np.cumsum(solo)])
        share = (cum[grid[:, 1]] - cum[grid[:, 0]]) / (grid[:, 1] - grid[:, 0])
        keep = share >= min_solo_share
        if keep.any():
            out.append((k, solo, grid[keep]))
    return out


def pick_utts(utts: List[str], max_utts: Optional[int]) -> List[str]:
    """``max_utts`` utterances spread evenly over the sorted list (all when None)."""
    if max_utts is None or max_utts >= len(utts):
        return list(utts)
    if max_utts < 1:
        raise ValueError(f"max_utts must be >= 1, got {max_utts}")
    idx = np.unique(np.linspace(0, len(utts) - 1, max_utts).round().astype(int))
    return [utts[i] for i in idx]


def collect_embeddings(
    model,
    ddir: DataDir,
    fs: int = 16000,
    resample: bool = False,
    max_utts: Optional[int] = None,
    batch_size: int = 16,
    min_solo_share: float = 0.5,
    device: str = "cpu",
) -> Tuple[np.ndarray, List[str], Dict]:
    """Window embeddings of the reference speakers of a labelled data dir.

    Args:
        model: ESPnetEchoModel with a speaker head (:func:`speaker_head`).
        ddir: Data dir with speaker labels (``rttm`` or ``espnet_rttm``).
        fs: Model sample rate.
        resample: Resample audio at another rate (else an error).
        max_utts: Use at most this many utterances, spread evenly (None: all).
        batch_size: Utterances per forward pass.
        min_solo_share: Least share of solo frames of a window (module docstring).
        device: Torch device of the model.

    Returns:
        ``embeddings`` (N, embed_dim) float64, ``labels`` (N,) global speaker ids, and
        stats (``num_utts``, ``num_windows``, ``num_speakers``, ``audio_sec``).

    Raises:
        ValueError: no speaker head, no speaker labels in ``ddir``, batch_size < 1.
        DataFileError, AudioError: bad entries or labels (naming ``file:line``).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    task, head = speaker_head(model)
    if ddir.rttm is None and ddir.espnet_rttm is None:
        raise DataFileError(
            f"{ddir.path}: no rttm or espnet_rttm: PLDA training needs reference speaker "
            "turns with global speaker ids"
        )
    shift = model.frame_shift
    frame_sec = shift / fs
    window = max(1, int(round(head.window_s / frame_sec)))
    hop = max(1, int(round(head.hop_s / frame_sec)))
    utts = pick_utts(ddir.utts, max_utts)
    if ddir.segments is None and ddir.utt2num_samples is not None:
        # similar lengths in a batch pad little (segments keep recording order instead)
        utts.sort(key=lambda u: int(ddir.utt2num_samples.get(u, 0)))
    embs: List[np.ndarray] = []
    names: List[str] = []
    audio_sec = 0.0
    for i in range(0, len(utts), batch_size):
        batch = []
        for utt in utts[i:i + batch_size]:
            wav, cut = ddir.read_audio(utt, "mix", fs=fs, resample=resample)
            batch.append((utt, wav, ddir.labels(utt, cut, fs, len(wav))))
            audio_sec += len(wav) / fs
        lens = torch.tensor([len(w) for _, w, _ in batch])
        x = torch.zeros(len(batch), int(lens.max()))
        for b, (_, wav, _) in enumerate(batch):
            x[b, : len(wav)] = torch.from_numpy(wav)
        out = model.infer(x.to(device), lens.to(device), {"tasks": [task]})[task]
        frames, frame_lens = out["speaker_frames"], out["speaker_frames_lengths"]
        for b, (utt, wav, lab) in enumerate(batch):
            t = int(frame_lens[b])
            speakers = sorted({turn.spk for turn in lab.samples or []})
            act = torch.zeros(1, len(wav), max(1, len(speakers)))
            for turn in lab.samples or []:
                act[0, int(turn.start):int(turn.end), speakers.index(turn.spk)] = 1
            ref = frame_labels(act, torch.tensor([len(wav)]), t, shift)[0].numpy()
            for k, solo, windows in solo_windows(ref, window, hop, min_solo_share):
                e = embed_windows(head.embed, frames[b, :t], solo, windows)
                embs.append(e.double().cpu().numpy())
                names += [speakers[k]] * len(windows)
    emb = np.concatenate(embs) if embs else np.zeros((0, getattr(head, "embed_dim", 0)))
    stats = {
        "num_utts": len(utts), "num_windows": len(names),
        "num_speakers": len(set(names)),
        "audio_sec": round(audio_sec, 3),
    }
    return emb, names, stats


def plda_stamp(
    train_config: PathLike, model_file: PathLike, ddir: DataDir, options: Dict
) -> Dict:
    """What a fitted PLDA depends on: model, config, data-dir files, audio, options.

    A pipe entry has no knowable input, so its stamp differs on every run (refit).
    """
    audio = hashlib.sha256()
    for rec, entry in ddir.recordings.items():
        stamp = entry_stamp(entry)
        audio.update(f"{rec} {entry} {stamp or f'pipe {time.time_ns()}'}\n".encode())
    files = {
        name: file_digest(ddir.path / name)
        for name in DATA_FILES if (ddir.path / name).is_file()
    }
    return {
        "model_file": file_digest(model_file), "train_config": file_digest(train_config),
        "data_files": files, "audio": audio.hexdigest(), "options": options,
    }


def fit_plda(
    train_config: PathLike,
    model_file: PathLike,
    data_dir: PathLike,
    out: PathLike,
    max_utts: Optional[int] = None,
    lda_dim: Optional[int] = None,
    batch_size: int = 16,
    min_solo_share: float = 0.5,
    fs: int = 16000,
    resample: bool = False,
    device: str = "cpu",
) -> Optional[Dict]:
    """Fit the PLDA of a trained model's speaker head on a labelled data dir and save it.

    Skipped when the stamp ``.<out name>.stamp.json`` next to ``out`` is current (same
    checkpoint, config, data-dir files, audio files and options) and ``out`` exists.
    ``out`` is written atomically (:meth:`PLDA.save`), so a failed run leaves an earlier
    one untouched.

    Args:
        train_config: The model's ``config.yaml``.
        model_file: Its checkpoint.
        data_dir: Training data dir (e.g. ``dump/raw/train``) with speaker labels.
        out: Output ``.npz`` (conventionally ``<model dir>/plda.npz``, where
            ``echo_inference --diar_mode vbx`` looks by default).
        max_utts: At most this many utterances (spread evenly), None: all.
        lda_dim: LDA dimension; None: ``min(embed_dim, speakers - 1)``.
        batch_size: Utterances per forward pass.
        min_solo_share: Least share of solo frames of a training window.
        fs: Model sample rate.
        resample: Resample audio at another rate.
        device: Torch device.

    Returns:
        Summary (``num_utts``, ``num_windows``, ``num_speakers``, ``audio_sec``,
        ``lda_dim``, ``seconds``), or None when skipped.

    Raises:
        ValueError: no speaker head, too few speakers or windows for the PLDA (named).
        DataFileError, AudioError: bad data (naming ``file:line``).
        RuntimeError: checkpoint and config do not match.
    """
    begin = time.perf_counter()
    out = Path(out)
    ddir = load_data_dir(data_dir)
    options = dict(max_utts=max_utts, lda_dim=lda_dim, min_solo_share=min_solo_share,
                   fs=fs, resample=resample)
    stamp_name = f".{out.name}.stamp.json"
    stamp = plda_stamp(train_config, model_file, ddir, options)
    if stamp_is_current(out.parent, stamp, stamp_name):
        try:
            PLDA.load(out)
            logging.info(f"{out}: up to date, skipping")
            return None
        except DataFileError as e:
            logging.warning(f"{e}; fitting again")
    model, _ = load_model(train_config, model_file, device)
    with torch.inference_mode():
        emb, labels, stats = collect_embeddings(
            model, ddir, fs=fs, resample=resample, max_utts=max_utts,
            batch_size=batch_size, min_solo_share=min_solo_share, device=device,
        )
    num_spk = stats["num_speakers"]
    if num_spk < 2:
        raise ValueError(
            f"{data_dir}: {len(labels)} single-speaker windows of {num_spk} speaker(s); a "
            f"PLDA needs windows of at least 2 speakers (more utterances, or lower "
            f"min_solo_share)"
        )
    dim = lda_dim if lda_dim is not None else min(emb.shape[1], num_spk - 1)
    try:
        plda = PLDA.fit(emb, labels, lda_dim=dim, name=f"embeddings of {data_dir}")
    except np.linalg.LinAlgError as e:  # scipy's eigh raises it too
        raise ValueError(
            f"{data_dir}: the PLDA fit failed on {len(labels)} windows of {num_spk} "
            f"speakers ({e}); the embeddings are degenerate: use more utterances"
        ) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    # the checkpoint's digest: Speech2Echo refuses the PLDA with another model
    plda.save(out, embedder=f"model {file_digest(model_file)}")
    with atomic_open(out.parent / stamp_name) as f:
        json.dump(dict(stamp, outputs=[out.name]), f, indent=1, sort_keys=True)
        f.write("\n")
    stats.update(lda_dim=dim, seconds=round(time.perf_counter() - begin, 2))
    logging.info(
        f"{out}: PLDA (lda_dim {dim}) on {stats['num_windows']} windows of {num_spk} "
        f"speakers from {stats['num_utts']} utterances in {stats['seconds']} s"
    )
    return stats
