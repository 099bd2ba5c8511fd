# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Read and validate a data dir of the espnet-echo contract (``docs/CONTRACT.md``).

Only the text files are read here; the audio they point to is checked by the format stage
(:mod:`espnet_echo.bin.format_data`). Every problem raises one
:class:`~espnet_echo.utils.fileio.DataFileError` whose message names ``file:line``.
"""

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from espnet2.fileio.rttm import load_rttm_text

from espnet_echo.utils.fileio import DataFileError, read_kaldi_map

PathLike = Union[str, Path]

_SPK_SCP = re.compile(r"^spk(\d+)\.scp$")
_TEXT_SPK = re.compile(r"^text_spk(\d+)$")


@dataclass
class RttmSegment:
    """One ``SPEAKER`` line of a standard (seconds) RTTM file.

    Attributes:
        spk: Speaker label.
        start: Onset in seconds.
        dur: Duration in seconds.
        line: The line as written (whitespace normalised).
        lineno: 1-based line number in the file.
    """

    spk: str
    start: float
    dur: float
    line: str
    lineno: int


@dataclass
class EspnetRttm:
    """The sample-level (ESPnet ``rttm`` data type) labels of one utterance.

    Attributes:
        speakers: Speaker labels in order of first appearance (= label columns).
        events: ``(speaker, start_sample, end_sample)``; ESPnet marks ``start..end``
            inclusive.
        num_samples: Length from the ``END`` line.
        end_lineno: Line number of the ``END`` line.
    """

    speakers: List[str]
    events: List[Tuple[str, int, int]]
    num_samples: int
    end_lineno: int


@dataclass
class DataDir:
    """A validated contract data dir; every mapping is keyed by utterance id.

    Attributes:
        path: The directory.
        wav: Mixture paths (``wav.scp``); defines the utterance set, in file order.
        spk: ``{n: {utt: path}}`` from ``spk{n}.scp``.
        text: ``{n: {utt: transcript}}`` from ``text_spk{n}``.
        noise: ``noise.scp`` or None.
        utt2spk: ``utt2spk`` or None.
        spk2utt: ``spk2utt`` (``{spk: [utt, ...]}``) or None.
        utt2spks: ``utt2spks`` (``{utt: [spkid, ...]}``) or None.
        utt2num_spk: ``utt2num_spk`` or None.
        utt2num_samples: ``utt2num_samples`` or None.
        rttm: Standard RTTM segments per utterance or None.
        espnet_rttm: Sample-level RTTM per utterance or None.
        num_spk: Number of speakers K per utterance as far as it is known (from
            ``utt2num_spk``, else ``spk{n}.scp``, ``text_spk{n}``, ``utt2spks``).
        lines: ``{file name: {utt: line number}}`` for error messages.
    """

    path: Path
    wav: Dict[str, str]
    spk: Dict[int, Dict[str, str]] = field(default_factory=dict)
    text: Dict[int, Dict[str, str]] = field(default_factory=dict)
    noise: Optional[Dict[str, str]] = None
    utt2spk: Optional[Dict[str, str]] = None
    spk2utt: Optional[Dict[str, List[str]]] = None
    utt2spks: Optional[Dict[str, List[str]]] = None
    utt2num_spk: Optional[Dict[str, int]] = None
    utt2num_samples: Optional[Dict[str, int]] = None
    rttm: Optional[Dict[str, List[RttmSegment]]] = None
    espnet_rttm: Optional[Dict[str, EspnetRttm]] = None
    num_spk: Dict[str, int] = field(default_factory=dict)
    lines: Dict[str, Dict[str, int]] = field(default_factory=dict)

    @property
    def utts(self) -> List[str]:
        """Utterance ids in sorted (Kaldi) order."""
        return sorted(self.wav)

    def where(self, name: str, utt: str) -> str:
        """``path/name:line`` of ``utt`` in file ``name`` (or ``path/name`` if unknown)."""
        lineno = self.lines.get(name, {}).get(utt)
        return f"{self.path / name}:{lineno}" if lineno else str(self.path / name)

    def num_spk_source(self, utt: str) -> str:
        """``file:line`` that defines K of ``utt`` (for error messages)."""
        if self.utt2num_spk is not None and utt in self.utt2num_spk:
            return self.where("utt2num_spk", utt)
        for group, files in (("spk{}.scp", self.spk), ("text_spk{}", self.text)):
            for n in sorted(files, reverse=True):
                if utt in files[n]:
                    return self.where(group.format(n), utt)
        return self.where("utt2spks", utt)

    def sources(self, utt: str) -> List[str]:
        """Source paths ``spk1..spkK`` of ``utt`` (empty if there are no ``spk*.scp``)."""
        return [self.spk[n][utt] for n in sorted(self.spk) if utt in self.spk[n]]

    def check_complete(self) -> None:
        """Check that every file present covers every utterance of ``wav.scp``.

        ``spk{n}.scp``/``text_spk{n}`` need not list an utterance with K < n; the
        number of speakers must be known for every utterance.

        Raises:
            DataFileError: naming the file that lacks an utterance.
        """
        files = {
            "noise.scp": self.noise,
            "utt2spk": self.utt2spk,
            "utt2spks": self.utt2spks,
            "utt2num_spk": self.utt2num_spk,
            "utt2num_samples": self.utt2num_samples,
            "espnet_rttm": self.espnet_rttm,
            "rttm": self.rttm,
            "spk1.scp": self.spk.get(1) if self.spk else None,
            "text_spk1": self.text.get(1) if self.text else None,
        }
        for utt in self.utts:
            for name, mapping in files.items():
                if mapping is not None and utt not in mapping:
                    raise DataFileError(
                        f"{self.path / name}: utterance {utt!r} of "
                        f"{self.where('wav.scp', utt)} is missing"
                    )
            if utt not in self.num_spk:
                raise DataFileError(
                    f"{self.where('wav.scp', utt)}: cannot tell the number of speakers of "
                    f"{utt!r}: no utt2num_spk, spk{{n}}.scp, text_spk{{n}} or utt2spks "
                    "lists it"
                )


def _read(
    ddir: DataDir, name: str, num_fields: Optional[int] = 1, allow_empty: bool = False
) -> Optional[Dict[str, str]]:
    """Read ``name`` if present, check its keys against wav.scp and record line numbers.

    ``read_kaldi_map`` rejects empty lines and duplicate keys, so the n-th key sits on
    line n.
    """
    path = ddir.path / name
    if not path.exists():
        return None
    mapping = read_kaldi_map(path, num_fields=num_fields, allow_empty_value=allow_empty)
    ddir.lines[name] = {k: i for i, k in enumerate(mapping, 1)}
    if name != "spk2utt":
        for key in mapping:
            if key not in ddir.wav:
                raise DataFileError(
                    f"{ddir.where(name, key)}: utterance id {key!r} is not in "
                    f"{ddir.path / 'wav.scp'}"
                )
    return mapping


def _to_int(
    ddir: DataDir, name: str, mapping: Dict[str, str], lo: int, hi: int
) -> Dict[str, int]:
    out = {}
    for utt, value in mapping.items():
        try:
            number = int(value)
        except ValueError:
            raise DataFileError(
                f"{ddir.where(name, utt)}: expected an integer, got {value!r}"
            ) from None
        if not lo <= number <= hi:
            raise DataFileError(
                f"{ddir.where(name, utt)}: value {number} out of range [{lo}, {hi}]"
            )
        out[utt] = number
    return out


def _indexed_files(ddir: DataDir, pattern: re.Pattern, num_spk_max: int) -> List[int]:
    indices = []
    for p in sorted(ddir.path.iterdir()):
        m = pattern.match(p.name)
        if m is None:
            continue
        n = int(m.group(1))
        if not 1 <= n <= num_spk_max or m.group(1) != str(n):
            raise DataFileError(
                f"{p}: speaker index must be 1..{num_spk_max} (num_spk_max), "
                f"got {m.group(1)!r}"
            )
        indices.append(n)
    return sorted(indices)


def _check_group(ddir: DataDir, fmt: str, files: Dict[int, Dict[str, str]]) -> Dict[str, int]:
    """Check that ``fmt.format(n)`` lists each utt exactly for n = 1..K; return K per utt."""
    if not files:
        return {}
    top = max(files)
    counts = {}
    for utt in ddir.wav:
        listed = [n for n in range(1, top + 1) if utt in files.get(n, {})]
        if not listed:
            k_group = 0
        else:
            k_group = max(listed)
            for n in range(1, k_group):
                if utt not in files.get(n, {}):
                    raise DataFileError(
                        f"{ddir.where(fmt.format(k_group), utt)}: utterance {utt!r} is "
                        f"listed as speaker {k_group} but missing from "
                        f"{ddir.path / fmt.format(n)} (speaker n is listed for every "
                        f"mixture with K >= n)"
                    )
        k = ddir.utt2num_spk.get(utt) if ddir.utt2num_spk is not None else None
        if k is None:
            if k_group:
                counts[utt] = k_group
            continue
        if k_group > k:
            raise DataFileError(
                f"{ddir.where(fmt.format(k_group), utt)}: utterance {utt!r} has K={k} "
                f"speakers ({ddir.where('utt2num_spk', utt)}) but is listed as speaker "
                f"{k_group}"
            )
        if k_group < k:
            raise DataFileError(
                f"{ddir.path / fmt.format(k_group + 1)}: utterance {utt!r} is missing; "
                f"{ddir.where('utt2num_spk', utt)} says K={k}, so "
                f"{fmt.format(1)}..{fmt.format(k)} must list it"
            )
        counts[utt] = k_group
    return counts


def _read_rttm(ddir: DataDir) -> Optional[Dict[str, List[RttmSegment]]]:
    """Standard RTTM: ``SPEAKER <utt> <chan> <start_s> <dur_s> <NA> <NA> <spk> <NA> <NA>``.

    Kaldi's 9-column variant (without the last ``<NA>``) is accepted too.
    """
    path = ddir.path / "rttm"
    if not path.exists():
        return None
    out: Dict[str, List[RttmSegment]] = {}
    first_line: Dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            where = f"{path}:{lineno}"
            if not fields:
                raise DataFileError(f"{where}: empty line")
            if len(fields) not in (9, 10):
                raise DataFileError(
                    f"{where}: expected 10 columns (SPEAKER <utt> <chan> <start_s> <dur_s> "
                    f"<NA> <NA> <spk> <NA> <NA>), got {len(fields)}: {line.rstrip()!r}"
                )
            if fields[0] != "SPEAKER":
                raise DataFileError(
                    f"{where}: only SPEAKER lines are supported, got {fields[0]!r}"
                )
            utt, spk = fields[1], fields[7]
            if utt not in ddir.wav:
                raise DataFileError(
                    f"{where}: utterance id {utt!r} is not in {ddir.path / 'wav.scp'}"
                )
            try:
                start, dur = float(fields[3]), float(fields[4])
            except ValueError:
                raise DataFileError(
                    f"{where}: onset and duration must be numbers (seconds), got "
                    f"{fields[3]!r} and {fields[4]!r}"
                ) from None
            if not (math.isfinite(start) and math.isfinite(dur)) or start < 0 or dur <= 0:
                raise DataFileError(
                    f"{where}: need onset >= 0 and duration > 0, got {start} and {dur}"
                )
            first_line.setdefault(utt, lineno)
            out.setdefault(utt, []).append(
                RttmSegment(spk, start, dur, " ".join(fields), lineno)
            )
    ddir.lines["rttm"] = first_line
    return out


def _read_espnet_rttm(ddir: DataDir) -> Optional[Dict[str, EspnetRttm]]:
    """Sample-level RTTM read by ESPnet's ``load_rttm_text``, checked line by line first.

    ``load_rttm_text`` only asserts (without a line number), so the same split rule
    (``re.split(" +")``) is applied here to name the offending line.
    """
    path = ddir.path / "espnet_rttm"
    if not path.exists():
        return None
    ends: Dict[str, Tuple[int, int]] = {}
    last_end: Dict[str, int] = {}
    first_line: Dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            where = f"{path}:{lineno}"
            fields = re.split(" +", line.rstrip())
            if len(fields) != 9:
                raise DataFileError(
                    f"{where}: expected 9 space-separated columns (SPEAKER <utt> <chan> "
                    f"<start> <end> <NA> <NA> <spk> <NA> or END <utt> <NA> <NA> <samples> "
                    f"<NA> <NA> <NA> <NA>), got {len(fields)}: {line.rstrip()!r}"
                )
            kind, utt = fields[0], fields[1]
            if kind not in ("SPEAKER", "END"):
                raise DataFileError(f"{where}: type must be SPEAKER or END, got {kind!r}")
            if utt not in ddir.wav:
                raise DataFileError(
                    f"{where}: utterance id {utt!r} is not in {ddir.path / 'wav.scp'}"
                )
            first_line.setdefault(utt, lineno)
            if kind == "END":
                try:
                    num_samples = int(fields[4])
                except ValueError:
                    num_samples = -1
                if num_samples <= 0:
                    raise DataFileError(
                        f"{where}: END needs the number of samples (> 0) in column 5, "
                        f"got {fields[4]!r}"
                    )
                if utt in ends:
                    raise DataFileError(
                        f"{where}: second END line for {utt!r} (first on line {ends[utt][1]})"
                    )
                ends[utt] = (num_samples, lineno)
                continue
            try:
                start, end = int(float(fields[3])), int(float(fields[4]))
            except ValueError:
                raise DataFileError(
                    f"{where}: start and end must be sample indices, got {fields[3]!r} and "
                    f"{fields[4]!r}"
                ) from None
            if start < 0 or end < start:
                raise DataFileError(f"{where}: need 0 <= start <= end, got {start} and {end}")
            last_end[utt] = max(last_end.get(utt, 0), end)
            if utt in ends and end > ends[utt][0]:
                raise DataFileError(
                    f"{where}: end sample {end} is past the END of {utt!r} "
                    f"({ends[utt][0]} samples, line {ends[utt][1]})"
                )
    for utt in first_line:
        if utt not in ends:
            raise DataFileError(f"{path}: utterance {utt!r} has no END line")
        if last_end.get(utt, 0) > ends[utt][0]:
            raise DataFileError(
                f"{path}:{ends[utt][1]}: END of {utt!r} says {ends[utt][0]} samples but a "
                f"segment ends at sample {last_end[utt]}"
            )
    try:
        parsed = load_rttm_text(path)
    except Exception as e:  # AssertionError / ValueError
        raise DataFileError(f"{path}: ESPnet cannot read it: {e or type(e).__name__}") from e
    ddir.lines["espnet_rttm"] = first_line
    return {
        utt: EspnetRttm(list(spks), list(events), int(n), ends[utt][1])
        for utt, (spks, events, n) in parsed.items()
    }


def load_data_dir(path: PathLike, num_spk_max: int = 4) -> DataDir:
    """Read and validate a contract data dir.

    ``wav.scp`` is required; ``spk{n}.scp``, ``text_spk{n}``, ``noise.scp``, ``utt2spk``,
    ``spk2utt``, ``utt2spks``, ``utt2num_spk``, ``utt2num_samples``, ``rttm`` and
    ``espnet_rttm`` are optional. Checked: column counts, utterance ids (a subset of
    ``wav.scp``), integer fields, that ``spk{n}.scp``/``text_spk{n}`` list an utterance
    exactly for n = 1..K, that ``utt2spks`` has K ids and the RTTMs K speakers (those of
    ``utt2spks``), and that the RTTMs are well formed and agree with ``utt2num_samples``.
    The audio is not opened.

    Args:
        path: The data dir.
        num_spk_max: Largest allowed number of speakers per mixture.

    Returns:
        The parsed :class:`DataDir`.

    Raises:
        DataFileError: the first problem, naming ``file:line``.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataFileError(f"{path}: data dir not found")
    wav = read_kaldi_map(path / "wav.scp", num_fields=1)
    if not wav:
        raise DataFileError(f"{path / 'wav.scp'}: no utterances")
    ddir = DataDir(path=path, wav=wav)
    ddir.lines["wav.scp"] = {k: i for i, k in enumerate(wav, 1)}
    for utt, value in wav.items():
        if value.endswith("|"):
            raise DataFileError(
                f"{ddir.where('wav.scp', utt)}: pipe commands are not supported; give a path"
            )

    for n in _indexed_files(ddir, _SPK_SCP, num_spk_max):
        ddir.spk[n] = _read(ddir, f"spk{n}.scp")
    for n in _indexed_files(ddir, _TEXT_SPK, num_spk_max):
        ddir.text[n] = _read(ddir, f"text_spk{n}", num_fields=None, allow_empty=True)
    ddir.noise = _read(ddir, "noise.scp")
    ddir.utt2spk = _read(ddir, "utt2spk")
    spk2utt = _read(ddir, "spk2utt", num_fields=None)
    if spk2utt is not None:
        ddir.spk2utt = {s: v.split() for s, v in spk2utt.items()}
        for spk, utts in ddir.spk2utt.items():
            for utt in utts:
                if utt not in wav:
                    raise DataFileError(
                        f"{ddir.where('spk2utt', spk)}: utterance id {utt!r} is not in "
                        f"{path / 'wav.scp'}"
                    )
    utt2spks = _read(ddir, "utt2spks", num_fields=None)
    if utt2spks is not None:
        ddir.utt2spks = {u: v.split() for u, v in utt2spks.items()}
        for utt, spks in ddir.utt2spks.items():
            if len(set(spks)) != len(spks):
                raise DataFileError(
                    f"{ddir.where('utt2spks', utt)}: a speaker id is repeated: {spks}"
                )
    utt2num_spk = _read(ddir, "utt2num_spk")
    if utt2num_spk is not None:
        ddir.utt2num_spk = _to_int(ddir, "utt2num_spk", utt2num_spk, 1, num_spk_max)
    utt2num_samples = _read(ddir, "utt2num_samples")
    if utt2num_samples is not None:
        ddir.utt2num_samples = _to_int(
            ddir, "utt2num_samples", utt2num_samples, 1, 2**63 - 1
        )

    # Number of speakers: utt2num_spk wins; the per-speaker files must agree with it
    # and with each other.
    k_spk = _check_group(ddir, "spk{}.scp", ddir.spk)
    k_text = _check_group(ddir, "text_spk{}", ddir.text)
    ddir.num_spk = dict(ddir.utt2num_spk or {})
    for utt in ddir.wav:
        if utt in ddir.num_spk:
            continue
        if utt in k_spk and utt in k_text and k_spk[utt] != k_text[utt]:
            raise DataFileError(
                f"{ddir.where(f'text_spk{k_text[utt]}', utt)}: utterance {utt!r} has "
                f"{k_text[utt]} transcripts but {k_spk[utt]} sources "
                f"({ddir.where(f'spk{k_spk[utt]}.scp', utt)})"
            )
        k = k_spk.get(utt) or k_text.get(utt)
        if k:
            ddir.num_spk[utt] = k
    if ddir.utt2spks is not None:
        for utt, spks in ddir.utt2spks.items():
            if utt not in ddir.num_spk:
                if len(spks) > num_spk_max:
                    raise DataFileError(
                        f"{ddir.where('utt2spks', utt)}: {len(spks)} speakers, more than "
                        f"num_spk_max={num_spk_max}"
                    )
                ddir.num_spk[utt] = len(spks)
            elif len(spks) != ddir.num_spk[utt]:
                raise DataFileError(
                    f"{ddir.where('utt2spks', utt)}: {len(spks)} speaker ids but "
                    f"{ddir.num_spk_source(utt)} gives K={ddir.num_spk[utt]}"
                )

    ddir.rttm = _read_rttm(ddir)
    ddir.espnet_rttm = _read_espnet_rttm(ddir)
    _check_rttm_speakers(ddir)
    return ddir


def _check_rttm_speakers(ddir: DataDir) -> None:
    """Both RTTMs: K distinct speakers per utterance, those of utt2spks, lengths agree."""
    for name, table in (("rttm", ddir.rttm), ("espnet_rttm", ddir.espnet_rttm)):
        if table is None:
            continue
        for utt, entry in table.items():
            if name == "rttm":
                speakers = list(dict.fromkeys(seg.spk for seg in entry))
            else:
                speakers = entry.speakers
            where = ddir.where(name, utt)
            if ddir.utt2spks is not None and utt in ddir.utt2spks:
                unknown = [s for s in speakers if s not in ddir.utt2spks[utt]]
                if unknown:
                    raise DataFileError(
                        f"{where}: speaker {unknown[0]!r} of {utt!r} is not in "
                        f"{ddir.where('utt2spks', utt)} ({' '.join(ddir.utt2spks[utt])})"
                    )
            k = ddir.num_spk.get(utt)
            if k is not None and len(speakers) != k:
                raise DataFileError(
                    f"{where}: utterance {utt!r} has {len(speakers)} speakers in {name} but "
                    f"{ddir.num_spk_source(utt)} gives K={k} (every source needs a segment)"
                )
            if (
                name == "espnet_rttm"
                and ddir.utt2num_samples is not None
                and utt in ddir.utt2num_samples
                and entry.num_samples != ddir.utt2num_samples[utt]
            ):
                raise DataFileError(
                    f"{ddir.path / name}:{entry.end_lineno}: END of {utt!r} says "
                    f"{entry.num_samples} samples but "
                    f"{ddir.where('utt2num_samples', utt)} says {ddir.utt2num_samples[utt]}"
                )
