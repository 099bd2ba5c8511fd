#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Who spoke when, their separated voices and their words, for audio files.

``python -m espnet_echo.bin.echo_infer --model exp/echo_train_echo meeting.wav``
(also ``echo-infer``). Inputs are WAV/FLAC/OGG/... files, folders of them, or Kaldi
``wav.scp`` files, at any sample rate (resampled, with a warning) and any channel count
(``--channel`` picks one, else they are averaged), of any length (read in blocks and
processed in overlapping chunks). ``--model`` is an exp dir, a packed model zip
(``espnet_echo.bin.pack``, recipe stage 9) or an unpacked pack.

Writes ``<output_dir>/<name>/`` per recording: RTTM (and the exclusive, one-speaker-
at-a-time RTTM), one WAV per speaker, SegLST JSON and STM with each speaker's words and
times, a ``spk<k>: text`` summary, ``<name>.json`` (count, duration, real-time factor)
and with ``--plot`` a timeline PNG. Speaker ``spk<k>`` is one person in all of them.

Without ``--diar_mode``, a model with a speaker head and a PLDA (``plda.npz`` next to
its checkpoint, or in the pack) diarizes blindly (``vbx``: any number of speakers,
``--num_speakers`` / ``--min_speakers`` / ``--max_speakers`` bound it); other models
use their EEND slots. A recording that fails is reported in one line and the others go
on; the exit status is 1 when any failed.
"""

import argparse
import logging
import sys
from typing import Optional, Sequence

from espnet_echo.inference.options import add_speech2echo_arguments
from espnet_echo.inference.result import FORMATS
from espnet_echo.utils.cli import add_log_level_argument, exit_on_error, setup_logging


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", help="audio files, folders or wav.scp files")
    p.add_argument("--model", required=True,
                   help="exp dir, packed model zip or unpacked pack")
    p.add_argument("--output_dir", default="echo_out", help="one sub-dir per recording")
    p.add_argument("--channel", type=int, default=None,
                   help="channel of multi-channel files (0-based); default: average them")
    p.add_argument("--plot", action="store_true", help="write a timeline PNG per recording")
    p.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS),
                   help="outputs to write")
    p.add_argument("--cache_dir", default=None,
                   help="where packed models are unpacked (default ~/.cache/espnet_echo)")
    p.add_argument("--no_progress", action="store_true", help="no progress bars")
    add_speech2echo_arguments(p, chunk_s=10.0)
    p.set_defaults(diar_mode=None)  # None: vbx when the model has a PLDA, else eend
    add_log_level_argument(p)
    return p


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Process every input; exit 1 if any recording failed."""
    args = get_parser().parse_args(cmd)
    setup_logging(args.log_level)
    from espnet_echo.inference.audio_input import discover_inputs
    from espnet_echo.inference.infer_files import infer_files
    from espnet_echo.inference.model_files import locate_model
    from espnet_echo.inference.speech2echo import speech2echo_from_files
    from espnet_echo.utils.fileio import file_digest

    with exit_on_error("echo_infer", (ValueError, RuntimeError, FileExistsError)):
        recordings = discover_inputs(args.inputs)
        files = locate_model(args.model, cache_dir=args.cache_dir)
        if args.num_threads > 0:
            import torch

            torch.set_num_threads(args.num_threads)
        echo = speech2echo_from_files(files, vars(args))
    stamp = dict(model=str(files.model_file), model_digest=file_digest(files.model_file),
                 options={k: v for k, v in vars(args).items()
                          if k not in ("inputs", "output_dir", "no_progress", "log_level")})
    done = []

    def on_done(name, dst):
        done.append(name)
        print(f"{name}: {dst}", flush=True)

    try:
        report = infer_files(echo, recordings, args.output_dir, channel=args.channel,
                             formats=args.formats, plot=args.plot,
                             progress=not args.no_progress, stamp=stamp, on_done=on_done)
    except KeyboardInterrupt:
        sys.exit(f"echo_infer: interrupted; {len(done)} of {len(recordings)} recording(s) "
                 "written (listed above), the one in progress left no output")
    logging.info(f"{len(report.done)} recording(s), {report.audio_sec:.1f} s of audio, "
                 f"RTF {report.rtf:.4f} (diar_mode {echo.diar_mode})")
    if report.failed:
        print(f"echo_infer: {len(report.failed)} of {len(recordings)} recording(s) failed:",
              file=sys.stderr)
        for name, msg in report.failed:
            print(f"  {name}: {msg}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
