# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Run a model over audio files: one output dir per recording (``echo_infer``).

For each recording (:func:`espnet_echo.inference.audio_input.discover_inputs`): open it
(:class:`~espnet_echo.inference.audio_input.AudioFile`: any rate, any channel count,
read in blocks), run :class:`~espnet_echo.inference.speech2echo.Speech2Echo` (long
recordings in chunks, a progress bar over them), and write
``<output_dir>/<name>/``: ``<name>.rttm``, ``<name>.exclusive.rttm``,
``<name>_spk<k>.wav``, ``<name>.seglst.json``, ``<name>.stm``, ``<name>.txt``
(:meth:`~espnet_echo.inference.result.EchoResult.write`), with ``--plot``
``<name>.png`` (:func:`~espnet_echo.inference.plot.plot_timeline`), and
``<name>.json`` (speaker count, duration, processing time, real-time factor).

Each recording's dir is built in a temporary dir and swapped in whole
(:func:`~espnet_echo.utils.fileio.staged_dir`), so a failure leaves no half-written
dir and loses nothing written before; its ``.stamp.json`` (input, model, options)
marks it as this tool's output, which a later run replaces (any other existing dir of
that name is refused, not overwritten). A recording that fails (bad audio, a count the
recording cannot satisfy) is reported in one line and the batch goes on; the failures
are listed at the end.
"""

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

from espnet_echo.inference.audio_input import InputRecording
from espnet_echo.inference.speech2echo import Speech2Echo
from espnet_echo.utils.fileio import SAFE_NAME, atomic_open, staged_dir, write_stamp

#: Stamp file of a recording's output dir (what produced it).
STAMP = ".stamp.json"
#: Bins of the waveform envelope drawn by ``--plot``.
PLOT_BINS = 4000


def check_output_dir(dst: Path, name: str) -> None:
    """Refuse to replace an output dir that holds files this tool did not write.

    Raises:
        ValueError: an unsafe recording name (a ``wav.scp`` key with ``/``, ``..`` or a
            leading dot would write outside ``--output_dir``), or ``dst`` holds files
            its stamp does not list (the user's own; a rerun would delete them).
    """
    if not SAFE_NAME.fullmatch(name):
        raise ValueError(
            f"recording name {name!r} is not a plain file name (no '/', '\\', control "
            "characters or leading '.'): it names the output dir; rename the wav.scp key"
        )
    stamp = dst / STAMP
    if not stamp.is_file():
        return  # no earlier output (staged_dir refuses a foreign non-empty dir)
    try:
        listed = set(json.loads(stamp.read_text()).get("outputs", []))
    except (OSError, ValueError):
        listed = set()
    extra = sorted(p.name for p in dst.iterdir() if p.name != STAMP and p.name not in listed)
    if extra:
        raise ValueError(
            f"{dst}: holds files an earlier run did not write ({', '.join(extra[:5])}"
            f"{', ...' if len(extra) > 5 else ''}); a rerun would replace the dir and "
            "lose them: move them or choose another --output_dir"
        )


@dataclass
class BatchReport:
    """What :func:`infer_files` did.

    Attributes:
        done: ``(name, output dir)`` of each recording written.
        failed: ``(name, one-line message)`` of each recording that failed.
        audio_sec: Seconds of audio processed (successful recordings).
        proc_sec: Seconds spent in the model and post-processing (idem).
    """

    done: List[Tuple[str, Path]] = field(default_factory=list)
    failed: List[Tuple[str, str]] = field(default_factory=list)
    audio_sec: float = 0.0
    proc_sec: float = 0.0

    @property
    def rtf(self) -> float:
        """Real-time factor over the successful recordings."""
        return self.proc_sec / max(self.audio_sec, 1e-9)


class _EnvelopeReader:
    """An audio file whose reads also feed a waveform envelope (for ``--plot``)."""

    def __init__(self, audio, n_bins: int):
        from espnet_echo.inference.plot import EnvelopeAccumulator

        self.audio = audio
        self.num_samples = audio.num_samples
        self.acc = EnvelopeAccumulator(audio.num_samples, min(n_bins, audio.num_samples))

    def read(self, start: int, stop: int):
        block = self.audio.read(start, stop)
        self.acc.add(block, start)
        return block


def infer_one(
    echo: Speech2Echo,
    rec: InputRecording,
    out_dir: Union[Path, str],
    channel: Optional[int] = None,
    formats: Sequence[str] = ("rttm", "wav", "seglst", "stm", "txt"),
    plot: bool = False,
    progress: bool = False,
    stamp: Optional[dict] = None,
) -> Tuple[Path, float, float]:
    """Process one recording into ``<out_dir>/<name>/``.

    Args:
        echo: The model.
        rec: The recording.
        out_dir: Parent of the recording's output dir.
        channel: Channel to take (None: downmix).
        formats: Output formats (:data:`espnet_echo.inference.result.FORMATS`).
        plot: Also draw ``<name>.png``.
        progress: Show a progress bar over the chunks of a long recording.
        stamp: What produced the output (model, options), written with the input's
            path, size and mtime to ``.stamp.json``.

    Returns:
        ``(output dir, audio seconds, processing seconds)``.

    Raises:
        AudioError: the audio cannot be used (one line naming the file).
        ValueError: the model cannot process it (e.g. a speaker count the recording
            cannot satisfy), naming the recording.
    """
    dst = Path(out_dir) / rec.name
    check_output_dir(dst, rec.name)
    with rec.open(fs=echo.fs, channel=channel, min_samples=echo.min_samples) as audio:
        source = _EnvelopeReader(audio, PLOT_BINS) if plot else audio
        chunks = echo.num_chunks(audio.num_samples)
        bar = None
        if progress and chunks > 1:
            from tqdm import tqdm

            bar = tqdm(total=chunks, desc=rec.name, unit="chunk", leave=False)
        with staged_dir(dst, STAMP) as tmp:
            start = time.perf_counter()
            try:
                result = echo(source, name=rec.name, track_dir=tmp, progress=bar,
                              tracks="wav" in formats)
            finally:
                if bar is not None:
                    bar.close()
            proc = time.perf_counter() - start
            result.write(tmp, formats)
            if plot:
                from espnet_echo.inference.plot import plot_timeline

                plot_timeline(result, tmp / f"{rec.name}.png", envelope=source.acc.envelope)
            with atomic_open(tmp / f"{rec.name}.json") as f:
                json.dump(dict(
                    name=rec.name, input=str(rec.path), num_spk=result.num_spk,
                    duration_s=result.duration, proc_s=round(proc, 3),
                    rtf=round(proc / max(result.duration, 1e-9), 5),
                    speakers=[f"spk{k}" for k in range(result.num_spk)],
                ), f, indent=1)
                f.write("\n")
            path = Path(rec.path)
            st = path.stat() if path.is_file() else None
            write_stamp(tmp, dict(stamp or {}, input=str(rec.path), channel=channel,
                                  size=st and st.st_size, mtime_ns=st and st.st_mtime_ns),
                        STAMP)
    return dst, audio.num_samples / echo.fs, proc


def infer_files(
    echo: Speech2Echo,
    recordings: Sequence[InputRecording],
    out_dir: Union[Path, str],
    channel: Optional[int] = None,
    formats: Sequence[str] = ("rttm", "wav", "seglst", "stm", "txt"),
    plot: bool = False,
    progress: bool = True,
    stamp: Optional[dict] = None,
    on_done=None,
) -> BatchReport:
    """Process every recording; one that fails does not stop the others.

    Args:
        echo: The model.
        recordings: From :func:`~espnet_echo.inference.audio_input.discover_inputs`.
        out_dir: Output root.
        channel: Channel to take (None: downmix).
        formats: Output formats.
        plot: Draw a timeline PNG per recording.
        progress: Progress bars (tqdm) over the files and over the chunks of long ones.
        stamp: What produced the outputs (see :func:`infer_one`).
        on_done: Called with ``(name, output dir)`` as each recording is written.

    Returns:
        :class:`BatchReport`.
    """
    from espnet_echo.utils.audio import AudioError

    report = BatchReport()
    items = recordings
    if progress and len(recordings) > 1:
        from tqdm import tqdm

        items = tqdm(recordings, desc="recordings", unit="file")
    for rec in items:
        try:
            dst, audio_sec, proc = infer_one(echo, rec, out_dir, channel, formats, plot,
                                             progress, stamp)
        except (AudioError, ValueError, RuntimeError, OSError) as e:
            msg = " ".join(str(e).split())
            logging.error(f"{rec.name}: {msg}")
            report.failed.append((rec.name, msg))
            continue
        report.done.append((rec.name, dst))
        if on_done is not None:
            on_done(rec.name, dst)
        report.audio_sec += audio_sec
        report.proc_sec += proc
    return report
