# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Learning curves: score the saved checkpoints of training runs on a fixed dev subset.

For each experiment dir (ESPnet training output: ``config.yaml``, ``log/train.log`` and
the per-epoch checkpoints ``<N>epoch.pth``; ESPnet keeps only ``--keep_nbest_models`` of
them, so train a curve run with a large one) every ``<N>epoch.pth`` (or those that
:func:`select_epochs` picks: explicit epochs, or every N-th) is decoded on the
same data (a seeded subset of ``--max_utts`` utterances of the data dir) with the
decoder of ``espnet_echo.bin.echo_inference`` (:func:`espnet_echo.inference.decode_dir.
decode`, stamped like it, so a re-run skips decoded checkpoints) and scored with
:func:`espnet_echo.metrics.scoring.score`:

* ``der``: DER (%) at collar 0; ``sisdri``: SI-SDRi (dB); ``wer``/``cpwer`` (%);
  ``k_acc``: speaker-count accuracy (%). Empty where the model has no such head.
* per reference speaker count K (the scorer's ``by_num_spk``, :data:`PER_K`):
  ``wer_k1`` (PIT WER on the K=1 mixtures, %), ``cpwer_k2`` (cpWER on the K=2 ones, %),
  ``sisdri_k1``, ``sisdri_k2``, ``sisdri_k3`` (SI-SDRi, dB). Empty where the subset has
  no mixture of that K, or the model no such head.

The x axes come from the training log (:func:`espnet_echo.utils.train_log.epoch_history`):

* ``steps``: ESPnet's ``total_count`` of the epoch's ``[train]`` summary, the cumulative
  number of training iterations (batches; with ``accum_grad`` > 1 the optimizer steps
  are this divided by ``accum_grad``);
* ``minutes``: cumulative wall-clock training minutes of the finished epochs up to N
  (:func:`espnet_echo.utils.train_log.cumulative_minutes`): the sum, over the epochs
  e <= N with a ``<e>epoch results:`` line, of the time from the last ``<e>/<M>epoch
  started`` line before it to that line (so validation time is included).

A resumed run appends to ``train.log``: the time between runs (an interruption of
hours, say) does not count, nor does a run of an epoch that was killed before its
results and started again; an epoch whose results are logged twice (re-run after a
resume) counts with its last run, for its statistics as for its minutes. A log that
holds only the epochs since a resume (older recipes truncated ``train.log`` on each
start) gives minutes counting from its first start, and checkpoints of epochs the log
does not list get empty ``steps``/``minutes`` (and are left out of the plots).

The same log gives ESPnet's per-epoch validation statistics of the same quantities, as
the ``valid_*`` columns (``valid_der``, ``valid_k_acc``, ``valid_wer``, ``valid_cer`` in
%, ``valid_si_snr`` in dB; these are teacher-forced/oracle-count training-time numbers,
labelled "valid stats" in the plot, and the SI-SNR is not an improvement). They are
plotted for every logged epoch, whichever checkpoints are decoded.

With ``diar_mode: vbx`` every checkpoint gets its own PLDA, fitted on the training data
(:func:`espnet_echo.inference.speaker_embeddings.fit_plda`) into
``<out_dir>/<model>/<N>epoch/plda.npz``.

With a probe dir (``--probe_data_dir``, e.g. the mini recipe's ``dump/raw/probe``) every
checkpoint of a model with a speaker head also gets the speaker/content factorisation
probe (:func:`espnet_echo.ssl.factorisation.factorisation_probe`, on the CPU, as
``espnet_echo.bin.factorisation_probe`` runs it), written to
``<out_dir>/<model>/<N>epoch/probe.json`` with its stamp (checkpoint, config, probe data;
a re-run keeps a current one), as the columns (:data:`PROBE`):

* ``factorisation_gap``: the probe's gap (points);
* ``speaker_id``: its ``speaker_id_spk``, speaker-ID top-1 on the held-out speakers (%).

Empty for a model without speaker head (its ``config.yaml`` has no ``spk_head``) and
without a probe dir. The probe dir is checked before anything is decoded.
"""

import argparse
import copy
import csv
import hashlib
import json
import logging
import math
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from espnet_echo.data.datadir import DataDir, load_data_dir
from espnet_echo.data.scp import entry_stamp
from espnet_echo.inference.decode_dir import decode_data_dir
from espnet_echo.metrics.report import _get
from espnet_echo.utils.fileio import DataFileError, atomic_open, file_digest, staged_dir
from espnet_echo.utils.train_log import cumulative_minutes, epoch_history

PathLike = Union[str, Path]

#: Scored metrics: column, subplot title.
METRICS = (
    ("der", "DER (%, collar 0)"),
    ("sisdri", "SI-SDRi (dB)"),
    ("wer", "WER (%)"),
    ("cpwer", "cpWER (%)"),
    ("k_acc", "K accuracy (%)"),
)
#: Validation statistics of ESPnet's log: column -> (``[valid]`` key, scale, metric plot).
VALID_STATS = {
    "valid_der": ("diar_der", 100.0, "der"),
    "valid_si_snr": ("sep_si_snr", 1.0, "sisdri"),
    "valid_wer": ("asr_wer", 100.0, "wer"),
    "valid_cer": ("asr_cer", 100.0, "wer"),
    "valid_k_acc": ("diar_spk_count_acc", 100.0, "k_acc"),
}
#: Per-K scores: column -> (``by_num_spk`` K, task key, value key, metric plot).
PER_K = {
    "wer_k1": ("1", "wer", "wer", "wer"),
    "cpwer_k2": ("2", "cpwer", "wer", "cpwer"),
    "sisdri_k1": ("1", "sisdr", "si_sdri", "sisdri"),
    "sisdri_k2": ("2", "sisdr", "si_sdri", "sisdri"),
    "sisdri_k3": ("3", "sisdr", "si_sdri", "sisdri"),
}
#: Factorisation-probe figures: column -> (field of the probe's result, subplot title)
#: (:class:`espnet_echo.ssl.factorisation.FactorisationResult`).
PROBE = {
    "factorisation_gap": ("gap", "Factorisation gap (points)"),
    "speaker_id": ("speaker_id_spk", "Speaker ID top-1 (%, probe)"),
}
COLUMNS = (
    "model", "epoch", "steps", "minutes", *(m for m, _ in METRICS), *PER_K, *PROBE,
    "num_utts", *VALID_STATS,
)
#: The probe result of a checkpoint, in ``<out_dir>/<model>/<N>epoch``.
PROBE_FILE = "probe.json"
#: Neighbours of the probe's k-NN vote (``factorisation_probe``'s default ``--k``).
PROBE_K = 1
#: Marker of each K of :data:`PER_K` in the plot.
_K_MARKERS = {"1": "s", "2": "^", "3": "v"}
_CHECKPOINT = re.compile(r"(\d+)epoch\.pth")
SUBSET_STAMP = ".subset.stamp.json"
#: Files of a data dir that are not Kaldi lists (audio, arrays), left out of a subset.
_NOT_LISTS = {".wav", ".flac", ".mp3", ".ogg", ".sph", ".ark", ".npy", ".npz", ".pth"}


@dataclass
class ExpDir:
    """An ESPnet training output dir.

    Attributes:
        name: Its name in the curves (the dir's base name).
        path: The dir.
        config: Its ``config.yaml``.
        log: Its ``log/train.log``.
        checkpoints: ``{epoch: <N>epoch.pth}``, sorted by epoch.
    """

    name: str
    path: Path
    config: Path
    log: Path
    checkpoints: Dict[int, Path]


def find_exp_dir(path: PathLike) -> ExpDir:
    """Check an experiment dir and list its per-epoch checkpoints.

    Raises:
        DataFileError: the dir does not exist, or has no ``config.yaml``, no
            ``log/train.log`` or no ``<N>epoch.pth``; the message names the dir.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataFileError(f"{path}: experiment dir not found")
    config, log = path / "config.yaml", path / "log" / "train.log"
    if not config.is_file():
        raise DataFileError(f"{path}: no config.yaml (not an ESPnet training dir)")
    if not log.is_file():
        raise DataFileError(f"{path}: no log/train.log (not an ESPnet training dir)")
    ckpts = {}
    for p in path.iterdir():
        m = _CHECKPOINT.fullmatch(p.name)
        if m and p.is_file():
            ckpts[int(m.group(1))] = p
    if not ckpts:
        raise DataFileError(
            f"{path}: no <N>epoch.pth checkpoints (ESPnet keeps --keep_nbest_models of "
            f"them; train a curve run with a large --keep_nbest_models)"
        )
    name = path.resolve().name
    return ExpDir(name, path, config, log, dict(sorted(ckpts.items())))


def select_epochs(
    exp: ExpDir, epochs: Optional[Sequence[int]] = None, every: Optional[int] = None
) -> Dict[int, Path]:
    """The checkpoints of ``exp`` to decode.

    Args:
        exp: The experiment dir.
        epochs: Explicit epochs; each must have its ``<N>epoch.pth``.
        every: Decode the kept epochs N, 2N, 3N, ... of this N, plus the first and the
            last kept epoch (epoch 1 when it is kept); multiples of N that were not kept
            are skipped.

    Returns:
        ``{epoch: <N>epoch.pth}``, sorted by epoch; every kept one when both are None.

    Raises:
        ValueError: both ``epochs`` and ``every``, ``every`` < 1, or no epoch given.
        DataFileError: an epoch of ``epochs`` without its checkpoint; the message names
            the dir, the missing file and the checkpoints it has.
    """
    ckpts = exp.checkpoints
    if epochs is not None and every is not None:
        raise ValueError("give either --epochs or --every, not both")
    if every is not None:
        if every < 1:
            raise ValueError(f"--every must be >= 1, got {every}")
        kept = list(ckpts)
        return {e: ckpts[e] for e in kept if e % every == 0 or e in (kept[0], kept[-1])}
    if epochs is None:
        return dict(ckpts)
    if not epochs:
        raise ValueError("--epochs needs at least one epoch")
    missing = sorted({e for e in epochs if e not in ckpts})
    if missing:
        raise DataFileError(
            f"{exp.path}: no {', '.join(f'{e}epoch.pth' for e in missing)} (--epochs); "
            f"the dir has {', '.join(p.name for p in ckpts.values())}"
        )
    return {e: ckpts[e] for e in sorted(set(epochs))}


def epoch_axes(log: PathLike) -> Dict[int, Dict[str, Optional[float]]]:
    """Steps, minutes and validation statistics of every finished epoch of a log.

    ``minutes`` is the cumulative training time of the finished epochs up to the epoch,
    without the time between runs of a resumed (appended) log and without killed runs
    of an epoch (module docstring; :func:`espnet_echo.utils.train_log.
    cumulative_minutes`); an epoch logged twice counts with its last run.

    Returns:
        ``{epoch: {"steps", "minutes", <VALID_STATS columns>}}``; a value the log does
        not give is None.

    Raises:
        DataFileError: the log is missing (named).
    """
    history = epoch_history(log)
    minutes = cumulative_minutes(history)
    out = {}
    for ep in history:
        train, valid = ep.sections.get("train", {}), ep.sections.get("valid", {})
        steps = train.get("total_count")
        row = {"steps": int(steps) if steps is not None else None,
               "minutes": minutes[ep.epoch]}
        for col, (key, scale, _) in VALID_STATS.items():
            v = valid.get(key)
            row[col] = v * scale if v is not None and math.isfinite(v) else None
        out[ep.epoch] = row
    return out


def pick_subset(utts: Sequence[str], max_utts: Optional[int], seed: int) -> List[str]:
    """A seeded random subset of ``max_utts`` utterances (all when None or more), sorted.

    Raises:
        ValueError: ``max_utts`` < 1.
    """
    if max_utts is not None and max_utts < 1:
        raise ValueError(f"--max_utts must be >= 1, got {max_utts}")
    utts = sorted(utts)
    if max_utts is None or max_utts >= len(utts):
        return utts
    return sorted(random.Random(seed).sample(utts, max_utts))


def _line_key(name: str, tokens: List[str]) -> Optional[str]:
    if not tokens:
        return None
    if "rttm" in name and tokens[0] in ("SPEAKER", "END") and len(tokens) > 1:
        return tokens[1]
    return tokens[0]


def write_subset_dir(ddir: DataDir, utts: Sequence[str], out: PathLike) -> Path:
    """Write the data dir ``ddir`` restricted to ``utts`` into ``out`` (swapped in whole).

    Every file of the dir is filtered by its key (the first field; the second of
    ``SPEAKER``/``END`` lines of RTTMs): lines of kept utterances and of their
    recordings are kept; ``spk2utt`` keeps the kept utterances of each speaker; a file
    with no line keyed by an utterance, recording or speaker (e.g. ``feats_type``) is
    copied; audio, array and other non-text files are left out. Audio entries are copied
    as written (relative paths stay relative to the
    working dir, as in the source dir). The result is read back by the data-dir reader.

    Args:
        ddir: The full data dir.
        utts: Utterances to keep.
        out: Output dir (an earlier subset is replaced).

    Returns:
        ``out``.

    Raises:
        DataFileError: the subset is not a valid data dir (named).
    """
    out = Path(out)
    keep = set(utts) | {ddir.rec_of(u) for u in utts}
    known = set(ddir.utts) | set(ddir.recordings)
    speakers = set(ddir.spk2utt or ())
    with staged_dir(out, SUBSET_STAMP) as tmp:
        for src in sorted(ddir.path.iterdir()):
            if (not src.is_file() or src.name.startswith(".")
                    or src.suffix.lower() in _NOT_LISTS):
                continue
            try:
                lines = src.read_text(encoding="utf-8").splitlines()
            except UnicodeDecodeError:
                logging.info(f"{src}: not a text file; left out of the subset dir")
                continue
            if src.name == "spk2utt":
                kept = []
                for line in lines:
                    spk, *members = line.split()
                    members = [u for u in members if u in keep]
                    if members:
                        kept.append(" ".join([spk, *members]))
            else:
                keys = [_line_key(src.name, line.split()) for line in lines]
                if not any(k in known or k in speakers for k in keys if k is not None):
                    kept = lines  # not keyed by utterance/recording (e.g. feats_type)
                else:
                    kept = [ln for ln, k in zip(lines, keys) if k in keep]
            with atomic_open(tmp / src.name) as f:
                f.writelines(line + "\n" for line in kept)
        with atomic_open(tmp / SUBSET_STAMP) as f:
            json.dump({"source": str(ddir.path.resolve()), "utts": list(utts)}, f)
            f.write("\n")
    load_data_dir(out)
    return out


def decode_checkpoint(
    train_config: PathLike,
    model_file: PathLike,
    ddir: DataDir,
    out: PathLike,
    options: argparse.Namespace,
) -> bool:
    """Decode ``ddir`` with one checkpoint into the hypothesis dir ``out``.

    Runs what ``espnet_echo.bin.echo_inference`` runs, with its stamp: a hypothesis dir
    of the same checkpoint, config, data and options is kept.

    Args:
        train_config: The model's ``config.yaml``.
        model_file: The checkpoint.
        ddir: The (subset) data dir.
        out: Hypothesis dir.
        options: ``echo_inference``'s decoding options (its parser's namespace;
            ``plda_file`` already resolved).

    Returns:
        True if decoded, False if skipped as up to date.

    Raises:
        ValueError: the checkpoint does not match the config, or a bad option; the
            message names the checkpoint.
        DataFileError, AudioError: bad data (named).
    """
    args = copy.copy(options)
    args.train_config, args.model_file = str(train_config), str(model_file)
    args.data_dir, args.output_dir = str(ddir.path), str(out)
    return decode_data_dir(args, ddir, out) is not None


def scores_row(scores: Dict) -> Dict[str, Optional[float]]:
    """The curve columns of a :func:`espnet_echo.metrics.scoring.score` result.

    Args:
        scores: The ``scores.json`` content (its ``by_num_spk`` for :data:`PER_K`).

    Returns:
        ``{metric: value}`` of :data:`METRICS`, :data:`PER_K` and ``num_utts``; None for
        a task without hypothesis or a speaker count without mixtures.
    """
    der = next((d["der"] for d in scores.get("der") or [] if d["collar"] == 0.0), None)
    sisdr, count = scores.get("sisdr") or {}, scores.get("speaker_count") or {}
    row = {
        "der": der,
        "sisdri": sisdr.get("si_sdri"),
        "wer": (scores.get("wer") or {}).get("wer"),
        "cpwer": (scores.get("cpwer") or {}).get("wer"),
        "k_acc": count.get("accuracy"),
    }
    for col, (k, task, key, _) in PER_K.items():
        row[col] = _get(scores, "by_num_spk", k, task, key)
    row["num_utts"] = scores.get("num_utts")
    return row


def check_probe_dir(path: PathLike) -> Dict:
    """Check a factorisation-probe dir up front and stamp its data.

    Runs the probe's own checks (:func:`espnet_echo.ssl.factorisation.probe_items`) and
    checks that every source's audio exists; no audio is read.

    Args:
        path: The probe data or dump dir (clean sources, ``utt2spks``, ``text_spk{n}``).

    Returns:
        The data's stamp (JSON-ready): the dir, a digest of its list files and of its
        sources' audio entries (path, size, mtime; a pipe entry changes it on every run).

    Raises:
        DataFileError, ValueError: the dir is missing, is not a valid data dir, lacks
            clean sources, speaker labels or transcripts, has no speaker or transcript
            that occurs twice, or lists a source file that does not exist; the message
            starts with ``--probe_data_dir`` and names the dir or its file.
    """
    from espnet_echo.ssl.factorisation import probe_items

    try:
        ddir, items = probe_items(path)
    except DataFileError as e:
        raise DataFileError(f"--probe_data_dir: {e}") from None
    except ValueError as e:
        raise ValueError(f"--probe_data_dir: {e}") from None
    lists = {}
    for p in sorted(ddir.path.iterdir()):
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in _NOT_LISTS:
            lists[p.name] = file_digest(p)
    audio = hashlib.sha256()
    for it in items:
        stamp = entry_stamp(it["wav"])
        if stamp is None:  # a pipe: its input cannot be known
            stamp = f"pipe {time.time_ns()}"
        elif stamp.endswith(" missing"):
            raise DataFileError(
                f"--probe_data_dir: {ddir.path}: the source audio of {it['utt']!r} "
                f"({it['wav'].strip()}) does not exist"
            )
        audio.update(f"{it['utt']} {it['spk']} {stamp}\n".encode())
    return {"data_dir": str(ddir.path.resolve()), "lists": lists, "audio": audio.hexdigest()}


def has_speaker_head(train_config: PathLike) -> bool:
    """True if the training config builds a speaker head (``spk_head`` set).

    Raises:
        DataFileError: the config cannot be read or parsed (named).
    """
    import yaml

    try:
        with open(train_config, encoding="utf-8") as f:
            conf = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as e:
        raise DataFileError(f"{train_config}: cannot read the training config ({e})") from None
    return isinstance(conf, dict) and conf.get("spk_head") not in (None, "none")


def probe_checkpoint(
    train_config: PathLike,
    model_file: PathLike,
    probe_dir: PathLike,
    data_stamp: Dict,
    out: PathLike,
    fs: int = 16000,
) -> Tuple[Dict, bool]:
    """Run the factorisation probe of one checkpoint into ``out`` unless it is current.

    The model is loaded on the CPU as ``espnet_echo.bin.factorisation_probe`` loads it;
    ``out`` (JSON: the :class:`~espnet_echo.ssl.factorisation.FactorisationResult`
    fields, ``model_file`` and ``stamp``) is kept when its ``stamp`` equals this run's
    (checkpoint and config digests, ``data_stamp``, ``fs``, ``k``).

    Args:
        train_config: The model's ``config.yaml``.
        model_file: The checkpoint.
        probe_dir: The probe data dir.
        data_stamp: :func:`check_probe_dir`'s stamp of ``probe_dir``.
        out: The probe's JSON file.
        fs: The model's sample rate (Hz).

    Returns:
        ``(result, probed)``: ``out``'s content, and False if it was up to date (skipped).

    Raises:
        ValueError: the checkpoint does not match the config (names both), the model has
            no speaker head, or a bad probe dir (named).
        DataFileError, AudioError: bad probe data (named).
    """
    from espnet_echo.inference.speech2echo import Speech2Echo
    from espnet_echo.ssl.factorisation import factorisation_probe

    out = Path(out)
    stamp = {
        "model_file": file_digest(model_file),
        "train_config": file_digest(train_config),
        "data": data_stamp,
        "fs": fs,
        "k": PROBE_K,
    }
    try:
        with open(out, encoding="utf-8") as f:
            old = json.load(f)
    except (OSError, ValueError):
        old = None
    if isinstance(old, dict) and old.get("stamp") == stamp:
        logging.info(f"{out} is up to date; skipped (remove it to probe again)")
        return old, False
    try:
        model = Speech2Echo(train_config, model_file, fs=fs).model
    except RuntimeError as e:
        raise ValueError(f"{model_file}: cannot be loaded with {train_config}: {e}") from None
    r = factorisation_probe(model, probe_dir, fs=fs, k=PROBE_K)
    result = dict(r.to_dict(), model_file=str(model_file), stamp=stamp)
    with atomic_open(out) as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    return result, True


def probe_row(result: Optional[Dict]) -> Dict[str, Optional[float]]:
    """The :data:`PROBE` columns of a :func:`probe_checkpoint` result (None: empty)."""
    return {col: (result or {}).get(key) for col, (key, _) in PROBE.items()}


def learning_curves(
    exp_dirs: Sequence[PathLike],
    data_dir: PathLike,
    out_dir: PathLike,
    options: argparse.Namespace,
    max_utts: Optional[int] = None,
    seed: int = 0,
    plda_data_dir: Optional[PathLike] = None,
    plda_max_utts: Optional[int] = None,
    epochs: Optional[Sequence[int]] = None,
    every: Optional[int] = None,
    probe_data_dir: Optional[PathLike] = None,
) -> Tuple[List[Dict], Dict[str, Dict[int, Dict]]]:
    """Decode and score the ``<N>epoch.pth`` of every experiment dir.

    Args:
        exp_dirs: ESPnet training output dirs (module docstring).
        data_dir: The dev data dir (or its dump).
        out_dir: Output dir: ``data`` (the subset), ``<model>/<N>epoch/decode`` (with
            ``scores.json``) and, in vbx mode, ``<model>/<N>epoch/plda.npz``.
        options: ``echo_inference``'s decoding options (``diar_mode``, ``tasks``, ...).
        max_utts: Utterances of the seeded subset (None: all).
        seed: Seed of the subset.
        plda_data_dir: Training data dir of the per-checkpoint PLDAs (vbx mode).
        plda_max_utts: Utterances of ``plda_data_dir`` per PLDA (None: all).
        epochs: Decode only these epochs (:func:`select_epochs`; None: all kept).
        every: Decode only every N-th kept epoch, the first and the last
            (:func:`select_epochs`).
        probe_data_dir: Probe data dir of the factorisation probe
            (:func:`probe_checkpoint`, into ``<model>/<N>epoch/probe.json``) of every
            checkpoint of a model with a speaker head (None: no probe).

    Returns:
        ``(rows, valid)``: one row per model and decoded checkpoint (:data:`COLUMNS`),
        and ``{model: {epoch: axes and valid stats}}`` of every logged epoch.

    Raises:
        DataFileError: a bad experiment dir or data dir, an epoch of ``epochs``
            without its checkpoint, or a bad ``probe_data_dir`` (named; checked before
            anything is decoded; :func:`check_probe_dir`).
        ValueError: a checkpoint that does not fit its config (named), two experiment
            dirs of the same name, vbx mode without ``plda_data_dir``, a bad
            ``epochs``/``every``, a ``probe_data_dir`` without transcripts or where no
            speaker or no transcript occurs twice (named; checked up front).
    """
    from espnet_echo.inference.speaker_embeddings import fit_plda
    from espnet_echo.metrics.scoring import score, write_scores

    exps = [find_exp_dir(p) for p in exp_dirs]
    picked = [select_epochs(e, epochs, every) for e in exps]
    names = [e.name for e in exps]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"experiment dirs with the same name: {', '.join(dup)}")
    vbx = getattr(options, "diar_mode", "eend") == "vbx"
    if vbx and plda_data_dir is None:
        raise ValueError("--diar_mode vbx needs --plda_data_dir (the training dump) to "
                         "fit the PLDA of each checkpoint")
    probe_stamp = None if probe_data_dir is None else check_probe_dir(probe_data_dir)
    spk_head = {e.name: probe_stamp is not None and has_speaker_head(e.config)
                for e in exps}
    out_dir = Path(out_dir)
    full = load_data_dir(data_dir)
    utts = pick_subset(full.utts, max_utts, seed)
    if len(utts) < len(full.utts):
        ref = load_data_dir(write_subset_dir(full, utts, out_dir / "data"))
    else:
        ref = full
    rows, valid = [], {}
    for exp, ckpts in zip(exps, picked):
        axes = epoch_axes(exp.log)
        valid[exp.name] = axes
        for epoch, ckpt in ckpts.items():
            where = out_dir / exp.name / f"{epoch}epoch"
            opts = copy.copy(options)
            opts.plda_file = None
            if vbx:
                plda = where / "plda.npz"
                fit_plda(exp.config, ckpt, plda_data_dir, plda, max_utts=plda_max_utts,
                         fs=opts.fs, resample=opts.resample, device=opts.device)
                opts.plda_file = str(plda)
            hyp = where / "decode"
            decode_checkpoint(exp.config, ckpt, ref, hyp, opts)
            scores = score(ref.path, hyp, collars=(0.0,), fs=opts.fs,
                           name=f"{exp.name}/{epoch}epoch")
            write_scores(scores, hyp)
            row = {"model": exp.name, "epoch": epoch}
            ax = axes.get(epoch, {})
            row["steps"], row["minutes"] = ax.get("steps"), ax.get("minutes")
            row.update(scores_row(scores))
            probe = None
            if spk_head[exp.name]:
                probe, _ = probe_checkpoint(exp.config, ckpt, probe_data_dir, probe_stamp,
                                            where / PROBE_FILE, fs=opts.fs)
            row.update(probe_row(probe))
            row.update({c: ax.get(c) for c in VALID_STATS})
            rows.append(row)
    return rows, valid


def _fmt(v, digits: int = 4) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def write_csv(rows: Sequence[Dict], path: PathLike) -> Path:
    """Atomically write the rows as CSV with :data:`COLUMNS` (None: empty cell)."""
    path = Path(path)
    with atomic_open(path, newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for r in rows:
            w.writerow([_fmt(r.get(c), 7) for c in COLUMNS])
    return path


def format_table(rows: Sequence[Dict]) -> str:
    """A compact fixed-width table of the rows (model, epoch, axes, metrics, per-K, probe).

    A :data:`PER_K` or :data:`PROBE` column that no row has is left out; other missing
    values are ``-``.
    """
    extra = [c for c in (*PER_K, *PROBE) if any(r.get(c) is not None for r in rows)]
    cols = ("model", "epoch", "steps", "minutes", *(m for m, _ in METRICS), *extra)
    cells = [list(cols)] + [[_fmt(r.get(c)) or "-" for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    return "\n".join(
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                  enumerate(zip(row, widths)))
        for row in cells
    )


def plot_curves(
    rows: Sequence[Dict], valid: Dict[str, Dict[int, Dict]], path: PathLike
) -> Path:
    """Plot every metric against steps (top row) and minutes (bottom row), models overlaid.

    Solid lines with markers are the decoded checkpoints; dash-dotted lines with square
    (K=1), up (K=2) and down (K=3) triangles are their :data:`PER_K` scores, in the
    panel of the same metric; dashed lines are ESPnet's per-epoch validation statistics
    of the same quantity ("valid stats", every logged epoch). The :data:`PROBE` figures
    get a panel each (solid lines). A metric no model has is left out. Written atomically
    (PNG).

    Args:
        rows: :func:`learning_curves` rows.
        valid: Its per-epoch axes and validation statistics.
        path: Output ``.png``.

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def has(col, data):
        return any(r.get(col) is not None for r in data)

    valid_rows = [dict(v, model=m) for m, eps in valid.items() for v in eps.values()]
    panels = (*METRICS, *((c, t) for c, (_, t) in PROBE.items()))
    shown = [(m, t) for m, t in panels if has(m, rows) or any(
        has(c, valid_rows) for c, (_, _, plot) in VALID_STATS.items() if plot == m)
        or any(has(c, rows) for c, (*_, plot) in PER_K.items() if plot == m)]
    if not shown:
        shown = [METRICS[0]]
    models = list(dict.fromkeys(r["model"] for r in rows))
    colors = {m: f"C{i % 10}" for i, m in enumerate(models)}
    fig, axes = plt.subplots(2, len(shown), figsize=(4 * len(shown), 6.5), squeeze=False)
    for j, (metric, title) in enumerate(shown):
        for i, xname in enumerate(("steps", "minutes")):
            ax = axes[i][j]
            for model in models:
                pts = sorted((r[xname], r[metric]) for r in rows if r["model"] == model
                             and r.get(xname) is not None and r.get(metric) is not None)
                if pts:
                    ax.plot(*zip(*pts), marker="o", color=colors[model], label=model)
                for col, (k, *_, plot) in PER_K.items():
                    kp = sorted((r[xname], r[col]) for r in rows if r["model"] == model
                                and plot == metric and r.get(xname) is not None
                                and r.get(col) is not None)
                    if kp:
                        ax.plot(*zip(*kp), marker=_K_MARKERS[k], linestyle="-.",
                                color=colors[model], alpha=0.7, label=f"{model} K={k}")
                eps = valid.get(model, {})
                for col, (key, _, plot) in VALID_STATS.items():
                    if plot != metric:
                        continue
                    vp = sorted((e[xname], e[col]) for e in eps.values()
                                if e.get(xname) is not None and e.get(col) is not None)
                    if vp:
                        style = ":" if col == "valid_cer" else "--"
                        ax.plot(*zip(*vp), linestyle=style, color=colors[model],
                                alpha=0.7, label=f"{model} (valid stats: {key})")
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("training steps" if xname == "steps" else "wall-clock minutes")
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=6)
    fig.tight_layout()
    path = Path(path)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=80)
    plt.close(fig)
    return path
