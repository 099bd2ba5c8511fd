# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Speaker/content factorisation probe of a trained Echo model (held-out k-NN).

Echo (seed paper "Echo: a JEPA for speaker diarization and speech recognition in a
shared latent space") claims that its speaker path and its content path hold different
things: speaker embeddings identify the speaker and not what was said, content features
the other way round. This probe measures both directions on held-out speakers with
nearest-neighbour classification, so no classifier is trained on them:

* items: the clean sources of a data dir whose speakers are unseen in training, ideally
  the mini recipe's ``probe`` split, where every sentence is read by every speaker (so
  speaker and content labels are crossed and neither predicts the other);
* speaker representation: the speaker head's embedding
  (``ArcFaceSpkHead.embed`` over all frames of the item, L2-normalised);
* content representation: the ASR path's RWSE features (``ESPnetEchoModel.task_features``
  for task ``asr``), mean-pooled over the item's frames;
* classification: leave-one-out 1-nearest-neighbour under cosine similarity
  (:func:`knn_accuracy`), once with the speaker label and once with the content label
  (the transcript) as the class.

With accuracies ``S_spk`` / ``S_con`` (speaker ID from speaker / content features) and
``C_con`` / ``C_spk`` (content ID from content / speaker features), the **factorisation
gap** is the mean of the two diagonal advantages, in points::

    gap = ((S_spk - S_con) + (C_con - C_spk)) / 2

100 means each representation identifies its own factor perfectly and the other not at
all; 0 means they carry the two factors equally. Speaker-ID top-1 on held-out speakers
is ``S_spk`` (Echo reports 71.25 % on VoxCeleb2 40x30 and a +53.5-point gap).
"""

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from espnet_echo.data.datadir import DataDir, load_data_dir
from espnet_echo.data.refs import read_labelled_sources
from espnet_echo.data.scp import load_entry


def knn_accuracy(features: np.ndarray, labels: Sequence[str], k: int = 1) -> float:
    """Leave-one-out k-nearest-neighbour accuracy under cosine similarity.

    Each item is classified by the majority label of its ``k`` most similar other
    items (ties broken by the most similar neighbour among the tied labels).

    Args:
        features: (N, D) float features, one row per item.
        labels: N class labels.
        k: Neighbours per vote.

    Returns:
        Accuracy in percent.

    Raises:
        ValueError: fewer than 2 items, a shape mismatch, ``k`` outside 1..N-1, or
            non-finite or all-zero rows.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != len(labels):
        raise ValueError(
            f"features must be (N, D) with N = {len(labels)} labels, got {x.shape}"
        )
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"k-NN needs at least 2 items, got {n}")
    if not 1 <= k <= n - 1:
        raise ValueError(f"k must be in 1..{n - 1}, got {k}")
    if not np.all(np.isfinite(x)):
        raise ValueError("features contain NaN or Inf")
    norms = np.linalg.norm(x, axis=1)
    if np.any(norms == 0):
        raise ValueError(f"{int(np.sum(norms == 0))} feature rows are all zero")
    x = x / norms[:, None]
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    order = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    labels = list(labels)
    correct = 0
    for i in range(n):
        votes: Dict[str, int] = {}
        for j in order[i]:
            votes[labels[j]] = votes.get(labels[j], 0) + 1
        best = max(votes.values())
        pred = next(labels[j] for j in order[i] if votes[labels[j]] == best)
        correct += pred == labels[i]
    return 100.0 * correct / n


def chance_accuracy(labels: Sequence[str]) -> float:
    """Leave-one-out accuracy of a random guess drawn with the other items' labels (%).

    Each item is guessed as the label of another item drawn uniformly, so the expected
    hit rate is ``(n_c - 1) / (N - 1)`` for an item of class ``c``; for C balanced
    classes this is about ``1 / C``.
    """
    labels = list(labels)
    n = len(labels)
    if n < 2:
        return 0.0
    counts: Dict[str, int] = {}
    for lab in labels:
        counts[lab] = counts.get(lab, 0) + 1
    hits = sum((counts[lab] - 1) / (n - 1) for lab in labels)
    return 100.0 * hits / n


@dataclass
class FactorisationResult:
    """Figures of :func:`factorisation_probe` (accuracies in percent).

    Attributes:
        speaker_id_spk: ``S_spk``, speaker ID from speaker embeddings (speaker-ID top-1).
        speaker_id_content: ``S_con``, speaker ID from content features.
        content_id_content: ``C_con``, content ID from content features.
        content_id_spk: ``C_spk``, content ID from speaker embeddings.
        gap: ``((S_spk - S_con) + (C_con - C_spk)) / 2`` (points).
        chance_speaker: Chance of speaker ID (:func:`chance_accuracy`).
        chance_content: Chance of content ID.
        num_items: Items (clean sources).
        num_speakers: Distinct speakers.
        num_contents: Distinct transcripts.
        seconds: Wall-clock time of the feature extraction.
    """

    speaker_id_spk: float
    speaker_id_content: float
    content_id_content: float
    content_id_spk: float
    gap: float
    chance_speaker: float
    chance_content: float
    num_items: int
    num_speakers: int
    num_contents: int
    seconds: float

    def to_dict(self) -> Dict[str, Union[float, int]]:
        """The figures as a JSON-ready dict."""
        return asdict(self)


@torch.no_grad()
def probe_features(
    model: torch.nn.Module, wavs: Sequence[np.ndarray], batch_size: int = 8
) -> Dict[str, np.ndarray]:
    """Speaker embeddings and mean-pooled content features of each signal.

    Args:
        model: ``ESPnetEchoModel`` with a ``spk`` head (and an ``asr`` head for the
            content features; without one the encoder's last layer is used).
        wavs: Float waveforms (N_i,) at the model's rate.
        batch_size: Signals per forward pass (sorted by length).

    Returns:
        ``{"speaker": (N, E), "content": (N, D)}``.

    Raises:
        ValueError: the model has no ``spk`` head.
    """
    if "spk" not in model.heads:
        raise ValueError(
            "the factorisation probe needs a model with a speaker head (--spk_head)"
        )
    head = model.heads["spk"]
    content_task = "asr" if "asr" in model.heads else None
    order = sorted(range(len(wavs)), key=lambda i: len(wavs[i]))
    spk_out: List[Optional[np.ndarray]] = [None] * len(wavs)
    con_out: List[Optional[np.ndarray]] = [None] * len(wavs)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            lens = torch.tensor([len(wavs[i]) for i in idx])
            speech = torch.nn.utils.rnn.pad_sequence(
                [torch.as_tensor(wavs[i], dtype=torch.float32) for i in idx],
                batch_first=True,
            )
            tasks = ["spk"] + ([content_task] if content_task else [])
            feats = model.task_features(speech, lens, tasks=tasks)
            sfeats, slens = feats["spk"]
            out = head.infer(sfeats, slens)
            frames = out["speaker_frames"]
            flens = out["speaker_frames_lengths"]
            valid = (
                torch.arange(frames.shape[1])[None, :] < flens[:, None]
            ).float()
            emb = head.embed(frames, valid[:, None, :])[:, 0]
            if content_task:
                cfeats, clens = feats[content_task]
            else:
                cfeats, clens = model.encode(speech, lens)[0], slens
            cmask = (torch.arange(cfeats.shape[1])[None, :] < clens[:, None]).float()
            pooled = (cfeats * cmask[:, :, None]).sum(1) / cmask.sum(1).clamp(min=1)[:, None]
            for j, i in enumerate(idx):
                spk_out[i] = emb[j].float().numpy()
                con_out[i] = pooled[j].float().numpy()
    finally:
        model.train(was_training)
    return {"speaker": np.stack(spk_out), "content": np.stack(con_out)}


def probe_items(
    data_dir: Union[str, Path], max_utts: Optional[int] = None
) -> Tuple[DataDir, List[Dict[str, str]]]:
    """Read and check the items of the probe: the labelled clean sources of a data dir.

    The checks :func:`factorisation_probe` makes before it loads any audio, so a caller
    can check a probe dir up front (no audio is opened).

    Args:
        data_dir: Data or dump dir with clean sources, ``utt2spks`` and transcripts.
        max_utts: Use a seeded subset of this many mixtures (None: all).

    Returns:
        ``(ddir, items)``: the data dir and its sources
        (:func:`~espnet_echo.data.refs.read_labelled_sources`).

    Raises:
        DataFileError: problems of the data dir (the message names the file).
        ValueError: no transcript for a source, or no speaker or no transcript that
            occurs twice (the message names the dir).
    """
    ddir = load_data_dir(data_dir)
    items = read_labelled_sources(ddir, max_utts=max_utts)
    if any(not it["text"] for it in items):
        raise ValueError(
            f"{ddir.path}: the factorisation probe needs a transcript for every source "
            "(text_spk{n})"
        )
    for what, labels in (("speaker", [it["spk"] for it in items]),
                         ("transcript", [it["text"] for it in items])):
        if len(labels) == len(set(labels)):
            raise ValueError(
                f"{ddir.path}: no {what} occurs twice among its {len(labels)} sources, so "
                "leave-one-out k-NN has nothing to find; use a split where each sentence "
                "is read by several speakers (the mini recipe's probe split)"
            )
    return ddir, items


def factorisation_probe(
    model: torch.nn.Module,
    data_dir: Union[str, Path],
    fs: int = 16000,
    max_utts: Optional[int] = None,
    k: int = 1,
) -> FactorisationResult:
    """Run the probe (module docstring) on the clean sources of a data dir.

    Args:
        model: ``ESPnetEchoModel`` with a speaker head.
        data_dir: Data or dump dir with clean sources, ``utt2spks`` and transcripts.
        fs: The model's sample rate (Hz).
        max_utts: Use a seeded subset of this many mixtures (None: all).
        k: Neighbours of the k-NN vote.

    Returns:
        FactorisationResult.

    Raises:
        DataFileError, AudioError: problems of the data dir (the message names the file).
        ValueError: no transcripts, no speaker or no transcript that occurs twice, or a
            model without speaker head.
    """
    ddir, items = probe_items(data_dir, max_utts=max_utts)
    wavs = []
    for it in items:
        x = load_entry(it["wav"], f"{ddir.path}: source of {it['utt']}", fs)
        nonzero = np.flatnonzero(x)
        if nonzero.size:
            x = x[nonzero[0] : nonzero[-1] + 1]
        wavs.append(x)
    start = time.perf_counter()
    feats = probe_features(model, wavs)
    seconds = time.perf_counter() - start
    spk = [it["spk"] for it in items]
    con = [it["text"] for it in items]
    s_spk = knn_accuracy(feats["speaker"], spk, k)
    s_con = knn_accuracy(feats["content"], spk, k)
    c_con = knn_accuracy(feats["content"], con, k)
    c_spk = knn_accuracy(feats["speaker"], con, k)
    result = FactorisationResult(
        speaker_id_spk=s_spk,
        speaker_id_content=s_con,
        content_id_content=c_con,
        content_id_spk=c_spk,
        gap=((s_spk - s_con) + (c_con - c_spk)) / 2,
        chance_speaker=chance_accuracy(spk),
        chance_content=chance_accuracy(con),
        num_items=len(items),
        num_speakers=len(set(spk)),
        num_contents=len(set(con)),
        seconds=seconds,
    )
    logging.info("factorisation probe on %s: %s", ddir.path, result)
    return result
