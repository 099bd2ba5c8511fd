# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""AMI meeting corpus -> data dirs of whole meetings for scoring long-recording diarization.

Inputs (nothing is downloaded; ``egs2/ami/echo1/README.md`` says how to get them):

* ``ami_root``: the AMI audio tree as the AMI download script lays it out,
  ``<ami_root>/<meeting>/audio/<meeting>.<stream>.wav`` (16 kHz, mono), where the stream
  is ``Mix-Headset`` (``--mic ihm-mix``: the headset channels summed) or ``Array1-01``
  (``--mic sdm``: the first channel of the first array). A root holding an ``amicorpus``
  dir is accepted for that dir.
* ``setup_root``: a checkout of BUTSpeechFIT's AMI-diarization-setup (the community
  references, also used by pyannote's AMI protocol), "Full-corpus-ASR" partition::

      lists/{train,dev,test}.meetings.txt      one meeting id per line
      <reference>/rttms/{split}/<meeting>.rttm  reference turns (recording time, seconds)
      uems/{split}/<meeting>.uem                scored region (the whole recording)

  ``<reference>`` is ``only_words`` (default: the words of the manual annotations 1.6.2)
  or ``word_and_vocalsounds``.

Output, one data dir per split (``<out_dir>/<split>``, docs/CONTRACT.md), each recording
one utterance keyed by its meeting id: ``wav.scp`` (absolute paths), ``rttm`` (the
reference turns, written by :mod:`espnet_echo.data.rttm`), ``uem``, ``utt2spks``
(speakers in order of first turn), ``utt2num_spk``, ``utt2num_samples``,
``utt2spk``/``spk2utt`` (recording level) and the stamp ``.prepare_ami.json``. No sources
(``spk{n}.scp``) and no transcripts: scoring reports separation and ASR as ``-``.

Every input is checked before anything is written: the lists; the audio header of every
meeting (present, readable, not truncated, mono, at ``fs``); every RTTM and UEM (present,
well formed, of that meeting, inside its audio, at most
:data:`~espnet_echo.data.contract.MAX_SPK` speakers). The first problem raises one
:class:`DataFileError` naming the path (for a half-extracted corpus: the first missing
file and how many meetings lack theirs). Each split dir is then built in a temporary dir
and swapped in whole (:func:`espnet_echo.utils.fileio.staged_dir`).
"""

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

import soundfile

from espnet_echo.data.contract import DEFAULT_FS, MAX_SPK, TIME_TOLERANCE_S
from espnet_echo.data.rttm import (
    format_rttm_line,
    format_uem_line,
    read_rttm_segments,
    read_uem,
    write_lines,
)
from espnet_echo.utils.audio import wav_truncation
from espnet_echo.utils.fileio import DataFileError, atomic_open, staged_dir, write_kaldi_map

PathLike = Union[str, Path]

#: ``--mic`` -> the stream name in ``<meeting>.<stream>.wav``.
MICS = {"ihm-mix": "Mix-Headset", "sdm": "Array1-01"}
#: Reference sets of AMI-diarization-setup.
REFERENCES = ("only_words", "word_and_vocalsounds")
#: Splits of the Full-corpus-ASR partition in AMI-diarization-setup.
SPLITS = ("train", "dev", "test")
STAMP_NAME = ".prepare_ami.json"
_MEETING = re.compile(r"^[A-Z]{2}\d{4}[a-z]?$")


@dataclass
class Meeting:
    """One checked meeting, ready to be written.

    Attributes:
        meeting: Meeting id (the recording and utterance id).
        wav: Absolute path of its audio.
        num_samples: Length of the audio in samples.
        turns: ``(start_s, dur_s, speaker)`` in time order.
        speakers: Speakers in order of first turn.
        uem: ``(start_s, end_s)`` scored ranges.
    """

    meeting: str
    wav: Path
    num_samples: int
    turns: List[Tuple[float, float, str]]
    speakers: List[str]
    uem: List[Tuple[float, float]]


def resolve_ami_root(ami_root: PathLike) -> Path:
    """The dir holding ``<meeting>/audio/``: ``ami_root`` or its ``amicorpus`` subdir.

    Raises:
        DataFileError: ``ami_root`` is not a directory.
    """
    root = Path(ami_root)
    if not root.is_dir():
        raise DataFileError(
            f"{root}: AMI root not found (expected the 'amicorpus' dir of the AMI download, "
            "holding <meeting>/audio/<meeting>.Mix-Headset.wav)"
        )
    if (root / "amicorpus").is_dir():
        return (root / "amicorpus").resolve()
    return root.resolve()


def check_setup_root(setup_root: PathLike) -> Path:
    """``setup_root`` if it looks like an AMI-diarization-setup checkout.

    Raises:
        DataFileError: not a directory, or without ``lists/``.
    """
    root = Path(setup_root)
    if not root.is_dir():
        raise DataFileError(
            f"{root}: AMI-diarization-setup dir not found (git clone "
            "https://github.com/BUTSpeechFIT/AMI-diarization-setup)"
        )
    if not (root / "lists").is_dir():
        raise DataFileError(
            f"{root / 'lists'}: not found: {root} is not an AMI-diarization-setup checkout "
            "(expected lists/, uems/ and only_words/rttms/)"
        )
    return root.resolve()


def read_meeting_list(path: PathLike) -> List[str]:
    """Meeting ids of a ``lists/<split>.meetings.txt`` file, in file order.

    Raises:
        DataFileError: missing or empty file, a line that is not one meeting id, or a
            repeated id; names ``path:line``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: meeting list not found")
    meetings: Dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 1 or not _MEETING.match(fields[0]):
                raise DataFileError(
                    f"{path}:{lineno}: expected one AMI meeting id (e.g. ES2004a), got "
                    f"{line.strip()!r}"
                )
            if fields[0] in meetings:
                raise DataFileError(
                    f"{path}:{lineno}: meeting {fields[0]!r} is already on line "
                    f"{meetings[fields[0]]}"
                )
            meetings[fields[0]] = lineno
    if not meetings:
        raise DataFileError(f"{path}: no meetings")
    return list(meetings)


def _check_audio(wav: Path, fs: int) -> int:
    """Number of samples of ``wav`` after checking its header (mono, ``fs`` Hz)."""
    try:
        info = soundfile.info(str(wav))
    except Exception as e:  # soundfile.LibsndfileError, RuntimeError
        raise DataFileError(f"{wav}: cannot read the audio header: {e}") from None
    if info.samplerate != fs:
        raise DataFileError(
            f"{wav}: sample rate {info.samplerate} Hz, expected {fs} Hz (--fs; AMI is "
            "distributed at 16 kHz: is this the right file?)"
        )
    if info.channels != 1:
        raise DataFileError(
            f"{wav}: {info.channels} channels; one channel per recording is expected"
        )
    if info.frames <= 0:
        raise DataFileError(f"{wav}: no samples")
    truncated = wav_truncation(wav)  # a partial download: libsndfile reads it silently
    if truncated:
        raise DataFileError(f"{wav}: {truncated} (an interrupted download?)")
    return int(info.frames)


def _load_meeting(
    ami_root: Path, setup_root: Path, split: str, meeting: str, mic: str, fs: int,
    reference: str,
) -> Meeting:
    """Check and read one meeting (its audio must exist: checked by the caller)."""
    wav = ami_root / meeting / "audio" / f"{meeting}.{MICS[mic]}.wav"
    num_samples = _check_audio(wav, fs)
    length = num_samples / fs
    rttm_path = setup_root / reference / "rttms" / split / f"{meeting}.rttm"
    uem_path = setup_root / "uems" / split / f"{meeting}.uem"
    for path, what in ((rttm_path, "reference RTTM"), (uem_path, "UEM")):
        if not path.is_file():
            raise DataFileError(
                f"{path}: {what} of meeting {meeting} (lists/{split}.meetings.txt) not found"
            )
    segs = read_rttm_segments(rttm_path, known_utts={meeting}, known_what=f"meeting {meeting}")
    turns = sorted(
        ((s.start, s.dur, s.spk, s.lineno) for s in segs.get(meeting, [])),
        key=lambda t: (t[0], t[1], t[2]),
    )
    if not turns:
        raise DataFileError(f"{rttm_path}: no speaker turn of positive length for {meeting}")
    for start, dur, _, lineno in turns:
        if start + dur > length + TIME_TOLERANCE_S:
            raise DataFileError(
                f"{rttm_path}:{lineno}: turn ends at {start + dur:.3f} s, past the end of "
                f"{wav} ({length:.3f} s)"
            )
    speakers = list(dict.fromkeys(t[2] for t in turns))
    if len(speakers) > MAX_SPK:
        raise DataFileError(
            f"{rttm_path}: {len(speakers)} speakers, more than the project's MAX_SPK="
            f"{MAX_SPK}"
        )
    ranges = read_uem(uem_path)
    others = [r for r in ranges if r != meeting]
    if others or meeting not in ranges:
        bad = ranges[others[0]][0] if others else None
        where = f"{uem_path}:{bad.lineno}" if bad else str(uem_path)
        raise DataFileError(
            f"{where}: expected the ranges of meeting {meeting} only, got "
            f"{sorted(ranges) or 'no range'}"
        )
    uem = []
    for r in ranges[meeting]:
        if r.end > length + TIME_TOLERANCE_S:
            raise DataFileError(
                f"{uem_path}:{r.lineno}: range ends at {r.end:.3f} s, past the end of "
                f"{wav} ({length:.3f} s)"
            )
        uem.append((r.start, min(r.end, length)))
    return Meeting(
        meeting=meeting,
        wav=wav,
        num_samples=num_samples,
        turns=[(s, d, spk) for s, d, spk, _ in turns],
        speakers=speakers,
        uem=uem,
    )


def load_split(
    ami_root: PathLike,
    setup_root: PathLike,
    split: str,
    mic: str = "ihm-mix",
    fs: int = DEFAULT_FS,
    reference: str = "only_words",
) -> List[Meeting]:
    """Check every input of one split and return its meetings (nothing is written).

    Args:
        ami_root: The ``amicorpus`` dir (or a dir holding it).
        setup_root: AMI-diarization-setup checkout.
        split: ``train``, ``dev`` or ``test``.
        mic: A key of :data:`MICS`.
        fs: Sample rate (Hz) every recording must have.
        reference: One of :data:`REFERENCES`.

    Returns:
        The meetings of ``lists/<split>.meetings.txt`` in list order.

    Raises:
        DataFileError: the first problem, naming the path (module docstring).
        ValueError: an unknown ``split``, ``mic`` or ``reference``.
    """
    for value, known, name in ((split, SPLITS, "split"), (mic, tuple(MICS), "mic"),
                               (reference, REFERENCES, "reference")):
        if value not in known:
            raise ValueError(f"--{name} must be one of {list(known)}, got {value!r}")
    ami = resolve_ami_root(ami_root)
    setup = check_setup_root(setup_root)
    list_path = setup / "lists" / f"{split}.meetings.txt"
    meetings = read_meeting_list(list_path)
    missing = [
        m for m in meetings if not (ami / m / "audio" / f"{m}.{MICS[mic]}.wav").is_file()
    ]
    if missing:
        first = ami / missing[0] / "audio" / f"{missing[0]}.{MICS[mic]}.wav"
        what = "every meeting lacks its audio" if len(missing) == len(meetings) else (
            "the corpus looks half-extracted or partly downloaded"
        )
        raise DataFileError(
            f"{first}: not found ({len(missing)} of the {len(meetings)} meetings of "
            f"{list_path} have no {MICS[mic]} audio under {ami}: {what}; missing: "
            f"{' '.join(missing[:8])}{' ...' if len(missing) > 8 else ''})"
        )
    return [_load_meeting(ami, setup, split, m, mic, fs, reference) for m in meetings]


def write_split(meetings: Sequence[Meeting], out_dir: PathLike, stamp: Dict) -> Path:
    """Write one split's data dir atomically (built aside, swapped in whole).

    Args:
        meetings: From :func:`load_split`.
        out_dir: The data dir (replaced if it is an earlier output of this tool).
        stamp: Written as ``.prepare_ami.json`` (the options and the meeting list).

    Returns:
        ``out_dir``.
    """
    out_dir = Path(out_dir)
    with staged_dir(out_dir, STAMP_NAME) as tmp:
        ids = [m.meeting for m in meetings]
        write_kaldi_map(tmp / "wav.scp", {m.meeting: str(m.wav) for m in meetings})
        write_kaldi_map(tmp / "utt2num_samples", {m.meeting: m.num_samples for m in meetings})
        write_kaldi_map(tmp / "utt2spks", {m.meeting: " ".join(m.speakers) for m in meetings})
        write_kaldi_map(tmp / "utt2num_spk", {m.meeting: len(m.speakers) for m in meetings})
        write_kaldi_map(tmp / "utt2spk", {u: u for u in ids})
        write_kaldi_map(tmp / "spk2utt", {u: u for u in ids})
        write_lines(tmp / "rttm", [
            format_rttm_line(m.meeting, s, d, spk)
            for m in sorted(meetings, key=lambda m: m.meeting) for s, d, spk in m.turns
        ])
        write_lines(tmp / "uem", [
            format_uem_line(m.meeting, s, e)
            for m in sorted(meetings, key=lambda m: m.meeting) for s, e in m.uem
        ])
        with atomic_open(tmp / STAMP_NAME) as f:
            json.dump(stamp, f, indent=2)
            f.write("\n")
    return out_dir


def prepare_ami(
    ami_root: PathLike,
    setup_root: PathLike,
    out_dir: PathLike,
    splits: Sequence[str] = ("dev", "test"),
    mic: str = "ihm-mix",
    fs: int = DEFAULT_FS,
    reference: str = "only_words",
) -> List[Path]:
    """Prepare ``<out_dir>/<split>`` for every split; every split is checked first.

    Args:
        ami_root: The ``amicorpus`` dir (or a dir holding it).
        setup_root: AMI-diarization-setup checkout.
        out_dir: Parent of the split dirs.
        splits: Splits to prepare.
        mic: A key of :data:`MICS`.
        fs: Sample rate (Hz) every recording must have.
        reference: One of :data:`REFERENCES`.

    Returns:
        The written data dirs.

    Raises:
        DataFileError: the first problem of any split; nothing is written then.
        ValueError: bad options.
    """
    if not splits:
        raise ValueError("--splits: give at least one split")
    loaded = {s: load_split(ami_root, setup_root, s, mic, fs, reference) for s in splits}
    out = []
    for split, meetings in loaded.items():
        stamp = {
            "ami_root": str(resolve_ami_root(ami_root)),
            "setup_root": str(Path(setup_root).resolve()),
            "split": split, "mic": mic, "fs": fs, "reference": reference,
            "meetings": [m.meeting for m in meetings],
        }
        out.append(write_split(meetings, Path(out_dir) / split, stamp))
        logging.info(f"{out[-1]}: {summary(meetings, fs)} ({mic}, {reference})")
    return out


def summary(meetings: Sequence[Meeting], fs: int = DEFAULT_FS) -> str:
    """One line: meetings, hours, speakers per meeting."""
    hours = sum(m.num_samples for m in meetings) / fs / 3600
    counts = sorted({len(m.speakers) for m in meetings})
    return f"{len(meetings)} meetings, {hours:.2f} h, {'/'.join(map(str, counts))} speakers"

