# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Fit the frozen diagonal GMM anchor of GMM-anchored JEPA on log-mel frames.

The features are those of the training config's frontend (``frontend: default``, i.e.
ESPnet's ``DefaultFrontend(**frontend_conf)`` log-mel, before ``normalize``), built through
the config's ESPnet task (:func:`espnet_echo.ssl.features.build_feature_model`), so the
GMM posteriors can be computed from the model's own frontend output. Every audio entry is
read and validated by the data-dir reader's scp reader
(:func:`espnet_echo.data.scp.load_entry`: paths, paths with spaces, ``cmd |`` pipes,
``file.ark:offset``); a bad one stops the run with a message naming the scp line and the
entry. All frames are computed, then ``max_frames`` of them are drawn uniformly without
replacement (seeded), and the GMM is fitted (:meth:`DiagonalGMM.fit`) and written
atomically. A scp line may hold several entries (e.g. ``speech_ref.scp``): each is one
signal (:func:`espnet_echo.data.scp.split_entries` says when a line is one entry).

A stamp ``.<out name>.stamp.json`` next to the output records the options, the frontend
conf and the checksums of the scp files (not of the audio); a re-run with the same ones
and a loadable output does nothing. A failed run leaves an existing output untouched.
"""

import json
import logging
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from espnet_echo.data.scp import load_entry, split_entries
from espnet_echo.ssl.features import build_feature_model, read_feature_config
from espnet_echo.ssl.gmm import DiagonalGMM, GMMFileError, normalized_cluster_entropy
from espnet_echo.utils.fileio import (
    DataFileError,
    file_digest,
    read_kaldi_map,
    stamp_is_current,
    write_stamp,
)


def build_frontend(config: Path) -> Tuple[torch.nn.Module, Dict]:
    """ESPnet ``DefaultFrontend`` of a training config (``frontend: default``).

    The model of the config is built through its task (without normalize and without
    the GMM anchor itself) and its frontend is taken.

    Args:
        config: Training config.

    Returns:
        The frontend (eval mode) and its ``frontend_conf``.

    Raises:
        DataFileError: unreadable config, another frontend, or a model the task cannot
            build; the message names the file.
    """
    cfg = read_feature_config(config)
    model, args = build_feature_model(config, cfg, normalize=None)
    return model.frontend.eval(), dict(args.frontend_conf or {})


def read_wav_list(wav_scps: Sequence[Path]) -> List[Tuple[str, str]]:
    """``[(scp:line, entry), ...]`` of every audio entry in the scp files, in file order.

    Args:
        wav_scps: Kaldi scp files (``<key> <entry>`` or ``<key> <path> [<path> ...]``;
            :func:`~espnet_echo.data.scp.split_entries`).

    Returns:
        One entry per path; ``scp:line`` locates it for error messages.

    Raises:
        DataFileError: a missing or malformed scp file, or a refused entry form.
    """
    out = []
    for scp in wav_scps:
        entries = read_kaldi_map(scp)
        for lineno, value in enumerate(entries.values(), 1):
            where = f"{scp}:{lineno}"
            out.extend((where, wav) for wav in split_entries(value, where))
    return out


@torch.no_grad()
def compute_frames(
    frontend: torch.nn.Module, wavs: Sequence[Tuple[str, str]], fs: int
) -> torch.Tensor:
    """Log-mel frames (N, F) of every file, concatenated in list order.

    Args:
        frontend: Waveform (1, S) -> features (1, T, F).
        wavs: :func:`read_wav_list` entries.
        fs: Required sample rate (Hz).

    Returns:
        The frames (N, F) of all files.

    Raises:
        DataFileError: a refused entry form; names the scp line.
        AudioError: bad audio; the message names the scp line and the entry.
    """
    frames = []
    for where, wav in wavs:
        audio = load_entry(wav, where, fs)
        speech = torch.from_numpy(audio)[None]
        feats, lens = frontend(speech, torch.tensor([speech.size(1)]))
        frames.append(feats[0, : int(lens[0])])
    return torch.cat(frames)


def subsample(frames: torch.Tensor, max_frames: int, seed: int) -> torch.Tensor:
    """At most ``max_frames`` rows drawn uniformly without replacement, in order.

    Args:
        frames: (N, F).
        max_frames: Most rows kept.
        seed: Seed of the draw.

    Returns:
        (min(N, max_frames), F), rows in their original order.
    """
    if frames.size(0) <= max_frames:
        return frames
    gen = torch.Generator().manual_seed(seed)
    keep = torch.randperm(frames.size(0), generator=gen)[:max_frames].sort().values
    return frames[keep]


def fit_gmm(
    config: Path,
    wav_scps: Sequence[Path],
    out: Path,
    num_components: int = 64,
    max_frames: int = 200000,
    num_iters: int = 20,
    seed: int = 0,
    var_floor: float = 1e-3,
) -> Optional[Dict]:
    """Fit and save the GMM; return its summary, or None when the output is current.

    Args:
        config: Training config (its frontend gives the features).
        wav_scps: Audio lists.
        out: Output ``.npz`` (:meth:`DiagonalGMM.save`).
        num_components: K.
        max_frames: Frames drawn for the fit.
        num_iters: EM iterations.
        seed: Seed of the draw and the k-means++ initialisation.
        var_floor: Variance floor.

    Returns:
        ``num_signals``, ``num_frames_total``, ``num_frames``, ``fit_time_s``,
        ``mean_log_likelihood``, ``normalized_entropy`` (of the hard assignments),
        ``digest``; None when the stamp says ``out`` is up to date.

    Raises:
        DataFileError, AudioError: bad config, scp or audio; the message names it.
        ValueError: options :meth:`DiagonalGMM.fit` rejects.
    """
    frontend, frontend_conf = build_frontend(config)
    out = Path(out)
    stamp_name = f".{out.name}.stamp.json"
    stamp = {
        "frontend_conf": frontend_conf,
        "wav_scp": [[str(Path(p).resolve()), file_digest(p)] for p in wav_scps],
        "num_components": num_components,
        "max_frames": max_frames,
        "num_iters": num_iters,
        "seed": seed,
        "var_floor": var_floor,
        "out": out.name,
    }
    if stamp_is_current(out.parent, stamp, stamp_name):
        try:
            DiagonalGMM.load(out)
            logging.info(f"{out}: up to date, skipping")
            return None
        except GMMFileError as e:
            logging.warning(f"{e}; fitting again")
    wavs = read_wav_list(wav_scps)
    if not wavs:
        raise DataFileError(f"{', '.join(map(str, wav_scps))}: no audio listed")
    frames = compute_frames(frontend, wavs, int(frontend_conf.get("fs", 16000)))
    total = frames.size(0)
    frames = subsample(frames, max_frames, seed)
    logging.info(
        f"{len(wavs)} signals, {total} frames, fitting on {frames.size(0)} "
        f"({frames.size(1)}-d), K={num_components}"
    )
    description = json.dumps(
        {"frontend": "default", "frontend_conf": frontend_conf,
         "features": "DefaultFrontend log-mel before normalize"},
        sort_keys=True,
    )
    start = time.perf_counter()
    gmm = DiagonalGMM.fit(
        frames, num_components, num_iters=num_iters, seed=seed, var_floor=var_floor,
        description=description,
    )
    fit_time = time.perf_counter() - start
    with torch.no_grad():
        loglik = float(gmm.log_likelihood(frames).double().mean())
        entropy = normalized_cluster_entropy(
            gmm.log_posteriors(frames).argmax(-1), num_components
        )
    gmm.save(out)
    write_stamp(out.parent, stamp, stamp_name)
    summary = {
        "num_signals": len(wavs),
        "num_frames_total": total,
        "num_frames": frames.size(0),
        "fit_time_s": round(fit_time, 2),
        "mean_log_likelihood": loglik,
        "normalized_entropy": entropy,
        "digest": gmm.digest(),
    }
    logging.info(
        f"{out}: fitted {num_components} components on {frames.size(0)} frames in "
        f"{fit_time:.1f} s; mean log-likelihood {loglik:.3f}, normalised entropy of "
        f"the hard assignments {entropy:.3f}"
    )
    return summary
