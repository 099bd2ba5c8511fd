# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Score a K-set separation model (``sep_head: kset``) on a data dir in the latent space.

For each utterance, one at a time (so every latent covers exactly its own frames): the
model's encoder -> RWSE -> K-set head gives the slot latents and existence
probabilities; the model's frozen target encoder gives each clean source's latent and the
mixture's (the ``source_latents`` reference kind, built exactly as in training: a silent
source, or one shorter than one encoder frame, is not a source). The arrays go to
``<out_dir>/records/<utt>.npz`` (:func:`espnet_echo.metrics.latent_separation.write_record`)
and the corpus figures of :func:`~espnet_echo.metrics.latent_separation.score_latent_dir`
(latent SI-SDR and SI-SDRi, PIT accuracy, K-routing accuracy, mean |K̂-K|) to
``<out_dir>/scores.json``. The data dir is read by the project's one data-dir reader
(:func:`espnet_echo.data.datadir.load_data_dir`); the output dir is built aside and
swapped in whole.
"""

import json
from pathlib import Path
from typing import Dict, Optional, Union

import torch

from espnet_echo.data.datadir import load_data_dir
from espnet_echo.metrics.latent_separation import score_latent_dir, write_record
from espnet_echo.utils.fileio import DataFileError, staged_dir

PathLike = Union[str, Path]
STAMP = "scores.json"


def kset_task(model: torch.nn.Module, where: PathLike) -> str:
    """The task name of the model's K-set head (the head with ``source_latents``).

    Raises:
        ValueError: the model has none; the message names ``where``.
    """
    for task, head in model.heads.items():
        if "source_latents" in head.ref_kinds:
            return task
    raise ValueError(f"{where}: the model has no K-set separation head (sep_head: kset)")


@torch.no_grad()
def kset_records(
    model: torch.nn.Module, speech: torch.Tensor, sources: torch.Tensor, num_spk: int
) -> Dict[str, object]:
    """One utterance's slot, source and mixture latents.

    Args:
        model: ``ESPnetEchoModel`` with a K-set head, in eval mode.
        speech: Mixture (1, N).
        sources: Clean sources (1, N, K') (K' >= 1; zero columns past K).
        num_spk: K, the number of reference sources.

    Returns:
        The :func:`~espnet_echo.metrics.latent_separation.write_record` arguments.
    """
    task = kset_task(model, "model")
    lengths = torch.tensor([speech.shape[1]])
    last, hs, lens = model.encode(speech, lengths)
    batch = {"speech_ref": sources, "num_spk": torch.tensor([[num_spk]])}
    refs = model.references(batch, speech, lengths, last.shape[1], tasks=[task])[task]
    head = model.heads[task]
    out = head.infer(model.fuse(task, last, hs), lens, speech, lengths)
    return head.records(out, refs["source_latents"], refs["num_sources"],
                        refs["mixture_latents"])[0]


def score_kset_data_dir(
    train_config: PathLike,
    model_file: PathLike,
    data_dir: PathLike,
    out_dir: PathLike,
    max_utts: Optional[int] = None,
) -> Dict[str, Optional[float]]:
    """Write the records of every utterance and return the corpus scores.

    Args:
        train_config: The model's ``config.yaml``.
        model_file: Its checkpoint.
        data_dir: Data dir (or ``format_data`` dump) with the mixtures, the clean sources
            (``spk{n}.scp`` or ``speech_ref.scp``) and K per utterance.
        out_dir: Output dir (``records/``, ``scores.json``).
        max_utts: Score only the first N utterances (Kaldi order).

    Returns:
        :meth:`~espnet_echo.metrics.latent_separation.LatentSeparationAccumulator.result`.

    Raises:
        ValueError: the model has no K-set head (names the config), or a file the
            config names is found nowhere.
        RuntimeError: the checkpoint does not match the config.
        DataFileError, AudioError: a missing or malformed data file (named); an
            utterance without clean sources.
    """
    from espnet_echo.inference.speech2echo import load_model

    # config paths resolved next to the model (any cwd); strict, weights_only load
    model, _ = load_model(train_config, model_file)
    kset_task(model, train_config)
    ddir = load_data_dir(data_dir)
    utts = ddir.utts if max_utts is None else ddir.utts[:max_utts]
    with staged_dir(out_dir, STAMP) as tmp:
        (tmp / "records").mkdir()
        for utt in utts:
            mix, _ = ddir.read_audio(utt, "mix")
            k = ddir.num_spk.get(utt)
            n_src = len(ddir.sources(utt))
            if k is None or n_src < k:
                raise DataFileError(
                    f"{ddir.num_spk_source(utt)}: utterance {utt!r} has K={k} but "
                    f"{n_src} clean sources (needed for the latent targets)"
                )
            ref = torch.zeros(1, mix.size, max(1, k))
            for n in range(1, k + 1):
                src, _ = ddir.read_audio(utt, n)
                m = min(mix.size, src.size)
                ref[0, :m, n - 1] = torch.from_numpy(src[:m])
            rec = kset_records(model, torch.from_numpy(mix)[None], ref, k)
            write_record(tmp / "records" / f"{utt}.npz", **rec)
        scores = score_latent_dir(tmp / "records")
        (tmp / STAMP).write_text(json.dumps(scores, indent=2) + "\n")
    return scores
