# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Echo's evaluation protocol: one table row per model from the files the recipe wrote.

Echo (Mouchon, arXiv 2606.01909; ``/work/shared/seeds``) reports one model on five axes:
blind diarization, PIT accuracy, latent SI-SDR, dynamic-K routing accuracy and the
speaker/content factorisation gap, plus speaker identification and ASR through its content
path. The recipe (``egs2/mini_mix/echo1``, ``run.sh --staged true``) computes each of them
with the project's own tools; this module only collects them, it measures nothing itself:

==========================  ===================================================================
column                      file (under ``<exp>/<model>/``) and field
==========================  ===================================================================
steps, minutes              ``log/train.log`` of the model and of every earlier stage it was
                            initialised from (``chain``): optimiser steps and minutes from the
                            first epoch's start to the last epoch's results line, summed
blind DER (%)               ``decode_<set>_vbx/score/scores.json``: DER at collar 0 of
                            ArcFace + PLDA + VBx diarization (unknown K)
PIT acc, latent SI-SDR(i), ``kset_<set>/scores.json`` (``espnet_echo.bin.kset_score``, see
K-routing acc, |K̂-K|        :mod:`espnet_echo.metrics.latent_separation` for the definitions)
gap, speaker ID top-1       ``factorisation_probe/probe.json`` (held-out 1-NN, see
                            :mod:`espnet_echo.ssl.factorisation`): the factorisation gap and the
                            speaker-ID accuracy of the speaker embeddings
WER K=1, WER (%)            ``decode_<set>/score/scores.json``: PIT WER of the ASR head (the
                            content path when it is ``content_ctc``) on the single-speaker
                            mixtures (``by_num_spk``) and on all of them
==========================  ===================================================================

A file that does not exist leaves its cells empty (``-``): a model without a K-set head has
no routing figures, one without a speaker head no blind DER.
"""

from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Union

from espnet_echo.metrics.report import _fmt, _get, read_json_object
from espnet_echo.utils.fileio import DataFileError
from espnet_echo.utils.train_log import cumulative_minutes, epoch_history

PathLike = Union[str, Path]

#: (header, row key, digits)
PROTOCOL_COLUMNS = (
    ("steps", "steps", 0),
    ("train min", "minutes", 1),
    ("blind DER c=0 (%)", "blind_der", 2),
    ("PIT acc (%)", "pit_acc", 2),
    ("latent SI-SDR (dB)", "latent_si_sdr", 2),
    ("latent SI-SDRi (dB)", "latent_si_sdri", 2),
    ("K-routing acc (%)", "k_acc", 1),
    ("mean \\|K̂-K\\|", "k_mae", 3),
    ("factorisation gap (points)", "gap", 1),
    ("speaker ID top-1 (%)", "speaker_id", 1),
    ("WER K=1 (%)", "wer_k1", 2),
    ("WER (%)", "wer", 2),
)

#: Echo's own figures, for the row beside ours: blind DER, PIT accuracy, latent SI-SDR and
#: the gap from its abstract (synthetic VoxCeleb2 mixtures with unknown K), the routing
#: accuracy as issue 11 quotes it from its tables (``/work/shared/reference/papers.md``:
#: no full text was reachable). Other data than ours: a reference, not a comparison.
PAPER_ROW = {
    "name": "Echo paper (reported, VoxCeleb2 mixtures)",
    "blind_der": 15.00,
    "pit_acc": 97.80,
    "latent_si_sdr": 9.52,
    "k_acc": 94.4,
    "gap": 53.5,
}


def _optional_json(path: Path) -> Optional[Dict[str, object]]:
    return read_json_object(path) if path.is_file() else None


def training_budget(model_dirs: Sequence[PathLike]) -> Dict[str, Optional[float]]:
    """Optimiser steps and minutes of training, summed over ``model_dirs``.

    Args:
        model_dirs: Exp dirs with ``log/train.log`` (a staged model and its earlier stages).

    Returns:
        ``{"steps": int | None, "minutes": float | None}``; None when a log lacks them.

    Raises:
        DataFileError: a dir has no ``log/train.log`` (named).
    """
    steps, minutes = 0, 0.0
    for d in model_dirs:
        log = Path(d) / "log" / "train.log"
        if not log.is_file():
            raise DataFileError(f"{log}: training log not found")
        history = epoch_history(log)
        last = history[-1] if history else None
        count = None if last is None else last.sections.get("train", {}).get("total_count")
        # the finished epochs' own durations: an appended log's restart gaps do not count
        spent = None if last is None else cumulative_minutes(history).get(last.epoch)
        if count is None or spent is None or steps is None:
            steps, minutes = None, None
            continue
        # ESPnet's total_count is cumulative within a run: the last epoch has them all
        steps += int(count)
        minutes += spent
    return {"steps": steps, "minutes": minutes}


def protocol_row(
    model_dir: PathLike,
    test_set: str,
    chain: Sequence[PathLike] = (),
    name: Optional[str] = None,
) -> Dict[str, object]:
    """One model's protocol figures from the recipe's files (see the module docstring).

    Args:
        model_dir: ``exp/<model>``.
        test_set: The test set name (``decode_<test_set>``, ``kset_<test_set>``).
        chain: Earlier stages this model was initialised from (their training counts).
        name: Row name (default: the dir's name).

    Returns:
        ``{"name", "steps", "minutes", "blind_der", "pit_acc", "latent_si_sdr",
        "latent_si_sdri", "k_acc", "k_mae", "gap", "speaker_id", "wer_k1", "wer"}``
        with percentages in %, None where the file or value is absent.

    Raises:
        DataFileError: unreadable JSON or a missing training log (named).
    """
    d = Path(model_dir)
    row: Dict[str, object] = {"name": name or d.name}
    row.update(training_budget([*chain, d]))
    vbx = _optional_json(d / f"decode_{test_set}_vbx" / "score" / "scores.json")
    der = (vbx or {}).get("der") or []
    row["blind_der"] = der[0].get("der") if der else None
    kset = _optional_json(d / f"kset_{test_set}" / "scores.json") or {}
    for key in ("pit_acc", "k_acc"):
        v = kset.get(key)
        row[key] = None if v is None else 100.0 * float(v)
    for key in ("latent_si_sdr", "latent_si_sdri", "k_mae"):
        row[key] = kset.get(key)
    probe = _optional_json(d / "factorisation_probe" / "probe.json") or {}
    row["gap"] = probe.get("gap")
    row["speaker_id"] = probe.get("speaker_id_spk")
    scores = _optional_json(d / f"decode_{test_set}" / "score" / "scores.json") or {}
    row["wer_k1"] = _get(scores, "by_num_spk", "1", "wer", "wer")
    row["wer"] = _get(scores, "wer", "wer")
    return row


def format_protocol_table(rows: Sequence[Mapping[str, object]], paper: bool = True) -> str:
    """Markdown table of :func:`protocol_row` results (and the paper's figures).

    Args:
        rows: Protocol rows.
        paper: Add :data:`PAPER_ROW` last.

    Returns:
        The table, ``-`` for a missing value.
    """
    lines = [
        "|" + "|".join(["model"] + [h for h, _, _ in PROTOCOL_COLUMNS]) + "|",
        "|" + "|".join(["---"] * (len(PROTOCOL_COLUMNS) + 1)) + "|",
    ]
    all_rows: List[Mapping[str, object]] = list(rows)
    if paper:
        all_rows.append(PAPER_ROW)
    for r in all_rows:
        cells = [str(r.get("name", "?"))]
        for _, key, digits in PROTOCOL_COLUMNS:
            v = r.get(key)
            cells.append("-" if v is None else (str(int(v)) if digits == 0 else _fmt(float(v), digits)))
        lines.append("|" + "|".join(cells) + "|")
    return "\n".join(lines)
