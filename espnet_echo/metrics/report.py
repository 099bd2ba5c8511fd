# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Markdown reports of scores: the results tables of ``RESULTS.md`` and ``scores.md``.

:func:`format_table` makes one row per system from ``scores.json`` contents
(:func:`espnet_echo.metrics.scoring.score`), ESPnet ``RESULTS.md`` style. Columns follow a
fixed preferred order (#Utt, DER per collar, Miss/FA/Conf, SI-SDR, SI-SDRi, WER, cpWER,
K acc, mean |K̂-K|) and then every other numeric field the files carry (top-level or in
``info``, e.g. ``encoder_params``, ``rtf``); a column no system has is left out, a value
one system lacks is ``-``. :func:`format_pretrain_table` summarises the pretraining runs
(linear probes and the last epoch's validation statistics), :func:`format_results` puts
the whole ``RESULTS.md`` together.
"""

import json
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from espnet_echo.utils.fileio import DataFileError
from espnet_echo.utils.train_log import last_epoch_stats

PathLike = Union[str, Path]
Getter = Callable[[Mapping[str, object]], Optional[str]]

# Top-level scores.json keys that are not extra numeric columns.
_KNOWN_KEYS = frozenset(
    {"name", "ref_dir", "hyp_dir", "num_utts", "fs", "version",
     "der", "sisdr", "wer", "cpwer", "speaker_count", "info", "by_num_spk"}
)
# Extra numeric fields shown first, in this order; the others follow as first seen.
PREFERRED_EXTRAS = ("encoder_params", "rtf")
# Fields of info.json that describe the run rather than the system.
_HIDDEN_EXTRAS = frozenset({"audio_sec", "num_utts"})


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fmt(v: Optional[float], digits: int = 2) -> Optional[str]:
    return None if v is None else f"{v:.{digits}f}"


def _fmt_extra(v: object) -> Optional[str]:
    if not _is_number(v):
        return None
    if isinstance(v, int):
        return str(v)
    return f"{v:.4g}"


def _get(scores: Mapping[str, object], *keys: object) -> Optional[object]:
    cur: object = scores
    for k in keys:
        if not isinstance(cur, Mapping) or cur.get(k) is None:
            return None
        cur = cur[k]
    return cur


def _der_entry(scores: Mapping[str, object], collar: float) -> Optional[Mapping[str, object]]:
    for entry in scores.get("der") or []:
        if abs(float(entry["collar"]) - collar) < 1e-9:
            return entry
    return None


def _collars(scores_list: Sequence[Mapping[str, object]]) -> List[float]:
    found = {float(e["collar"]) for s in scores_list for e in (s.get("der") or [])}
    return sorted(found)


def _extras(scores: Mapping[str, object]) -> Dict[str, object]:
    out = {k: v for k, v in scores.items() if k not in _KNOWN_KEYS and _is_number(v)}
    info = scores.get("info")
    if isinstance(info, Mapping):
        for k, v in info.items():
            if _is_number(v) and k not in _HIDDEN_EXTRAS:
                out.setdefault(k, v)
    return out


def results_columns(scores_list: Sequence[Mapping[str, object]]) -> List[Tuple[str, Getter]]:
    """The ``(header, getter)`` columns for these systems, in display order.

    Args:
        scores_list: ``scores.json`` contents, one per system.

    Returns:
        ``[(header, getter), ...]``; ``getter(scores)`` is the cell text or None. A column
        no system has a value for is left out.
    """
    cols: List[Tuple[str, Getter]] = [
        ("#Utt", lambda s: None if s.get("num_utts") is None else str(s["num_utts"])),
    ]
    collars = _collars(scores_list)
    for c in collars:
        cols.append(
            (f"DER c={c:g} (%)", lambda s, c=c: _fmt(_get(_der_entry(s, c) or {}, "der")))
        )
    if collars:
        c0 = collars[0]

        def miss_fa_conf(s: Mapping[str, object], c: float = c0) -> Optional[str]:
            e = _der_entry(s, c)
            if e is None or e.get("der") is None:
                return None
            return "/".join(_fmt(e[k]) for k in ("missed", "false_alarm", "confusion"))

        cols.append((f"Miss/FA/Conf c={c0:g} (%)", miss_fa_conf))
    cols += [
        ("SI-SDR (dB)", lambda s: _fmt(_get(s, "sisdr", "si_sdr"))),
        ("SI-SDRi (dB)", lambda s: _fmt(_get(s, "sisdr", "si_sdri"))),
        ("WER (%)", lambda s: _fmt(_get(s, "wer", "wer"))),
        ("cpWER (%)", lambda s: _fmt(_get(s, "cpwer", "wer"))),
        ("K acc (%)", lambda s: _fmt(_get(s, "speaker_count", "accuracy"))),
        ("mean \\|K̂-K\\|", lambda s: _fmt(_get(s, "speaker_count", "mean_abs_error"), 3)),
    ]
    extras: List[str] = []
    for s in scores_list:
        for k in _extras(s):
            if k not in extras:
                extras.append(k)
    extras = [k for k in PREFERRED_EXTRAS if k in extras] + [
        k for k in extras if k not in PREFERRED_EXTRAS
    ]
    cols += [(k, lambda s, k=k: _fmt_extra(_extras(s).get(k))) for k in extras]
    # data-driven: drop the columns no system has
    return [(h, g) for h, g in cols if any(g(s) is not None for s in scores_list)]


def format_table(scores_list: Sequence[Mapping[str, object]]) -> str:
    """Markdown table, one row per system (``name``), ``-`` for a missing value.

    Args:
        scores_list: ``scores.json`` contents, one per system.

    Returns:
        The table (header, separator and one line per system), without a final newline.
    """
    cols = results_columns(scores_list)
    lines = [
        "|" + "|".join(["system"] + [h for h, _ in cols]) + "|",
        "|" + "|".join(["---"] * (len(cols) + 1)) + "|",
    ]
    for s in scores_list:
        cells = [str(s.get("name", "?"))] + [g(s) or "-" for _, g in cols]
        lines.append("|" + "|".join(c.replace("|", "\\|") if i == 0 else c
                                    for i, c in enumerate(cells)) + "|")
    return "\n".join(lines)


def by_num_spk_rows(scores_list: Sequence[Mapping[str, object]]) -> List[Dict[str, object]]:
    """One pseudo ``scores.json`` per (test set, speaker count K, system).

    Rows are grouped by test set (the part of ``name`` after its last ``/``, in order of
    first appearance), then K ascending, then the systems in the given order.

    Args:
        scores_list: ``scores.json`` contents with ``by_num_spk``
            (:func:`espnet_echo.metrics.scoring.score`); systems without it are skipped.

    Returns:
        Dicts with ``name`` ``"<system> K=<K>"`` and the K subset's ``num_utts``,
        ``der``, ``sisdr``, ``wer``, ``cpwer``, for :func:`format_table`.
    """
    sets: Dict[str, None] = {}
    for s in scores_list:
        sets.setdefault(str(s.get("name", "?")).rsplit("/", 1)[-1], None)
    rows = []
    for test_set in sets:
        mine = [s for s in scores_list
                if str(s.get("name", "?")).rsplit("/", 1)[-1] == test_set]
        ks = sorted({k for s in mine for k in (s.get("by_num_spk") or {})},
                    key=lambda k: (len(k), k))
        for k in ks:
            for s in mine:
                sub = (s.get("by_num_spk") or {}).get(k)
                if isinstance(sub, Mapping):
                    rows.append({**sub, "name": f"{s.get('name', '?')} K={k}"})
    return rows


def format_details(scores: Mapping[str, object]) -> str:
    """Markdown bullet list of one system's secondary counts (missed/false sources...).

    Args:
        scores: One ``scores.json`` content.

    Returns:
        The list, one ``- ...`` line per scored task (DER collars, separation, WER,
        cpWER, speaker count), without a final newline.
    """
    out = [f"- ref_dir: `{scores.get('ref_dir')}`", f"- hyp_dir: `{scores.get('hyp_dir')}`"]
    for e in scores.get("der") or []:
        out.append(
            f"- DER collar {e['collar']:g} s (each side): scored speech "
            f"{e['scored_speech_s']:.2f} s, missed {e['missed_s']:.2f} s, "
            f"false alarm {e['false_alarm_s']:.2f} s, confusion {e['confusion_s']:.2f} s; "
            f"utts without hypothesis: {e['num_utts_missing']}"
        )
    sep = scores.get("sisdr")
    if sep:
        out.append(
            f"- separation: {sep['num_sources']} reference sources, {sep['missed_sources']} "
            f"missed (scored with the mixture, 0 dB SI-SDRi), {sep['false_sources']} false "
            f"estimates; SI-SDR / SI-SDRi over matched sources: "
            f"{_fmt(sep['si_sdr_matched']) or '-'} / {_fmt(sep['si_sdri_matched']) or '-'} dB"
        )
    for key, label in (("wer", "WER (PIT)"), ("cpwer", "cpWER")):
        w = scores.get(key)
        if w:
            out.append(
                f"- {label}: {w['errors']} errors / {w['ref_words']} words "
                f"(ins {w['insertions']}, del {w['deletions']}, sub {w['substitutions']}); "
                f"missed speakers {w['missed_speakers']}, "
                f"false speakers {w['false_speakers']}"
            )
    k = scores.get("speaker_count")
    if k:
        conf = ", ".join(
            f"K={ref}: " + " ".join(f"K̂={h}:{n}" for h, n in row.items())
            for ref, row in k["confusion"].items()
        )
        out.append(f"- speaker count: over {k['num_over']}, under {k['num_under']}; {conf}")
    return "\n".join(out)


def read_json_object(path: PathLike) -> Dict[str, object]:
    """Read a JSON file whose top level is an object.

    Args:
        path: The file.

    Returns:
        Its content.

    Raises:
        DataFileError: missing file, invalid JSON or not an object; the message names
            the file.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            content = json.load(f)
    except FileNotFoundError:
        raise DataFileError(f"{path}: file not found") from None
    except (OSError, ValueError) as e:
        raise DataFileError(f"{path}: cannot read JSON ({e})") from e
    if not isinstance(content, dict):
        raise DataFileError(f"{path}: expected a JSON object, got {type(content).__name__}")
    return content


def load_scores(path: PathLike) -> Dict[str, object]:
    """Read one ``scores.json`` (or another JSON object, e.g. ``probe.json``).

    Args:
        path: The file.

    Returns:
        Its content; ``name`` defaults to the file's directory.

    Raises:
        DataFileError: missing file, invalid JSON or not an object; the message names
            the file.
    """
    scores = read_json_object(path)
    scores.setdefault("name", str(Path(path).parent))
    return scores


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def _environment() -> str:
    lines = [
        f"- date: `{time.strftime('%a %b %d %H:%M:%S %Z %Y')}`",
        f"- python version: `{platform.python_version()}`",
        f"- espnet version: `espnet {_version('espnet')}`",
        f"- pytorch version: `pytorch {_version('torch')}`",
    ]
    try:
        git = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        lines.append(f"- Git hash: `{git}`")
    except (OSError, subprocess.SubprocessError):
        pass
    return "\n".join(lines)


# Pretraining table: (header, source, key, digits); source "probe" is probe.json,
# "valid" the last epoch's validation stats in log/train.log.
PRETRAIN_COLUMNS = (
    ("speaker ID acc (%)", "probe", "speaker_acc", 1),
    ("chance (%)", "probe", "speaker_chance", 1),
    ("CTC probe CER (%)", "probe", "ctc_cer", 1),
    ("epochs", "epoch", "epoch", 0),
    ("loss_jepa", "valid", "loss_jepa", 4),
    ("loss_cluster", "valid", "loss_cluster", 3),
    ("target std", "valid", "target_std", 3),
    ("pred std", "valid", "pred_std", 3),
    ("target eff. rank", "valid", "target_eff_rank", 1),
    ("target cos sim", "valid", "target_cos_sim", 3),
    ("cluster entropy", "valid", "cluster_entropy", 3),
)


def load_pretrain_summary(exp_dir: PathLike) -> Dict[str, object]:
    """``probe.json`` and last-epoch stats of one stage-5 dir (either may be absent).

    Args:
        exp_dir: Pretraining (or random-init probe) dir with ``probe.json`` and/or
            ``log/train.log``.

    Returns:
        ``{"name": dir name, "probe": probe.json, "epoch": {...}, "train": {...},
        "valid": {...}}`` with the keys of what exists.

    Raises:
        DataFileError: an unreadable ``probe.json``, or a log without a finished epoch.
    """
    exp_dir = Path(exp_dir)
    out: Dict[str, object] = {"name": exp_dir.name}
    probe = exp_dir / "probe.json"
    if probe.is_file():
        out["probe"] = load_scores(probe)
    log = exp_dir / "log" / "train.log"
    if log.is_file():
        out.update(last_epoch_stats(log))
    return out


def format_pretrain_table(summaries: Sequence[Mapping[str, object]]) -> str:
    """Markdown table of the pretrained (and random-init) encoders; ``-`` when missing.

    Args:
        summaries: :func:`load_pretrain_summary` results, one row each.

    Returns:
        The table; probe fractions are shown in percent, a column no row has is left out.
    """

    def cell(s: Mapping[str, object], src: str, key: str, digits: int) -> Optional[str]:
        v = _get(s, src, key)
        if not _is_number(v):
            return None
        if src == "probe":  # fractions in probe.json, percent in the table
            v = 100.0 * float(v)
        return _fmt(float(v), digits)

    cols = [c for c in PRETRAIN_COLUMNS if any(cell(s, *c[1:]) for s in summaries)]
    lines = [
        "|" + "|".join(["encoder"] + [c[0] for c in cols]) + "|",
        "|" + "|".join(["---"] * (len(cols) + 1)) + "|",
    ]
    for s in summaries:
        lines.append(
            "|" + "|".join([str(s["name"])] + [cell(s, *c[1:]) or "-" for c in cols]) + "|"
        )
    return "\n".join(lines)


FACTORISATION_COLUMNS = (
    ("speaker ID, speaker emb. (%)", "speaker_id_spk", 1),
    ("speaker ID, content feats (%)", "speaker_id_content", 1),
    ("content ID, content feats (%)", "content_id_content", 1),
    ("content ID, speaker emb. (%)", "content_id_spk", 1),
    ("gap (points)", "gap", 1),
    ("chance speaker/content (%)", None, 1),
    ("sources/speakers/sentences", None, 0),
)


def load_factorisation_probe(path: PathLike) -> Dict[str, object]:
    """One ``factorisation_probe`` JSON, named after the dir above its own dir.

    Args:
        path: ``<exp>/<model>/factorisation_probe/probe.json`` (the row is ``<model>``).

    Returns:
        The JSON object with ``name`` added.

    Raises:
        DataFileError: unreadable file or not a JSON object.
    """
    out = read_json_object(path)
    out["name"] = Path(path).parent.parent.name
    return out


def format_factorisation_table(probes: Sequence[Mapping[str, object]]) -> str:
    """Markdown table of :func:`load_factorisation_probe` results, one row each.

    Args:
        probes: Probe results (``espnet_echo.ssl.factorisation.FactorisationResult``
            fields and ``name``).

    Returns:
        The table; ``-`` where a value is missing.
    """
    lines = [
        "|" + "|".join(["model"] + [c[0] for c in FACTORISATION_COLUMNS]) + "|",
        "|" + "|".join(["---"] * (len(FACTORISATION_COLUMNS) + 1)) + "|",
    ]
    for p in probes:
        cells = [str(p["name"])]
        for _, key, digits in FACTORISATION_COLUMNS[:5]:
            v = p.get(key)
            cells.append((_fmt(float(v), digits) if _is_number(v) else None) or "-")
        chance = [p.get("chance_speaker"), p.get("chance_content")]
        cells.append(
            "/".join(_fmt(float(v), 1) for v in chance)
            if all(_is_number(v) for v in chance) else "-"
        )
        counts = [p.get("num_items"), p.get("num_speakers"), p.get("num_contents")]
        cells.append(
            "/".join(str(int(v)) for v in counts)
            if all(_is_number(v) for v in counts) else "-"
        )
        lines.append("|" + "|".join(cells) + "|")
    return "\n".join(lines)


def format_results(
    scores_list: Sequence[Mapping[str, object]],
    pretrain: Sequence[Mapping[str, object]] = (),
    factorisation: Sequence[Mapping[str, object]] = (),
    protocol: Sequence[Mapping[str, object]] = (),
) -> str:
    """The whole ``RESULTS.md``: environment, conventions, tables.

    Args:
        scores_list: ``scores.json`` contents, one row each.
        pretrain: :func:`load_pretrain_summary` results; without any, no pretraining
            section.
        factorisation: :func:`load_factorisation_probe` results; without any, no
            factorisation section.
        protocol: :func:`espnet_echo.metrics.protocol.protocol_row` results; without
            any, no protocol section.

    Returns:
        The markdown text.
    """
    by_k: List[str] = []
    rows = by_num_spk_rows(scores_list)
    if rows:
        by_k = [
            "## Scores per reference speaker count K",
            "- The same scores over the utterances with K speakers (K=1: one talker, "
            "nothing to separate from; its SI-SDRi is 0 dB for a system that returns the "
            "mixture).",
            "",
            format_table(rows),
            "",
        ]
    extra: List[str] = []
    if pretrain:
        extra = [
            "## Pretraining (stage 5)",
            "- Probes on the frozen encoder (linear_probe): speaker ID accuracy on the clean "
            "sources of the training split (held-out utterances of seen speakers); CTC "
            "probe CER of a linear CTC layer on frame features (held-out utterances).",
            "- Collapse monitors and cluster entropy: validation statistics of the last "
            "pretraining epoch.",
            "",
            format_pretrain_table(pretrain),
            "",
        ]
    if factorisation:
        extra += [
            "## Speaker/content factorisation (held-out k-NN)",
            "- Leave-one-out 1-NN (cosine) on the clean sources of held-out speakers "
            "(each sentence read by every speaker): speaker ID and content (sentence) "
            "ID from the speaker head's embeddings and from the ASR path's mean-pooled "
            "RWSE features; gap = ((S_spk - S_con) + (C_con - C_spk)) / 2 "
            "(espnet_echo.ssl.factorisation).",
            "",
            format_factorisation_table(factorisation),
            "",
        ]
    if protocol:
        from espnet_echo.metrics.protocol import format_protocol_table

        extra += [
            "## Echo's evaluation protocol",
            "- Blind DER: ArcFace + PLDA + VBx (unknown K), collar 0. PIT acc, latent "
            "SI-SDR(i), K-routing: the K-set head against the clean sources' latents under "
            "the model's frozen target encoder (espnet_echo.bin.kset_score; definitions in "
            "espnet_echo.metrics.latent_separation); read the SI-SDRi beside the SI-SDR: "
            "the mixture's own latent is far from each source's, so the improvement is "
            "large even where the slots are poor. Gap and speaker ID top-1: the "
            "factorisation probe. WER: the ASR head (content path) on the K=1 mixtures "
            "and on all. Steps and minutes include every earlier stage of a staged model.",
            "",
            format_protocol_table(protocol),
            "",
        ]
    return "\n".join([
        "<!-- Generated by espnet_echo.bin.show_results -->",
        "# RESULTS",
        "## Environments",
        _environment(),
        "",
        "## Scores",
        "- DER c=X: md-eval collar of X s on each side of reference boundaries, overlapped "
        "speech scored; Miss/FA/Conf: % of reference speech.",
        "- SI-SDR(i): mean over all reference sources, a missed source is scored with the "
        "mixture (0 dB SI-SDRi); WER: per-speaker PIT WER; cpWER: meeteval.",
        "",
        format_table(scores_list),
        "",
    ] + by_k + extra)
