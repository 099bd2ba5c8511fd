#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Run a trained Echo model over a data dir and write a hypothesis dir.

Writes (docs/CONTRACT.md): ``rttm``, ``utt2num_spk``, ``spk{n}.scp`` (+ ``wav/``),
``text_spk{n}`` and ``info.json`` (real-time factor, encoder parameters, audio seconds).
The data dir is read by the one data-dir reader (``segments``: one utterance per
segment; pipes, arks, paths with spaces: :mod:`espnet_echo.inference.decode_dir`).

The hypothesis dir is built in a temporary dir and swapped in whole, so a failed run leaves
the previous one untouched and no file of an earlier run (say ``spk3.scp`` when the new
run finds at most two speakers) survives. A stamp ``.stamp.json`` records the digests of
the checkpoint, the config, ``wav.scp`` and ``segments``, the size and mtime of every
listed audio file and the decoding options; a rerun with the same stamp is skipped
(remove the dir to re-decode; a dir with pipe entries is always decoded again), and with
``--plda_file`` the PLDA's digest.

``--diar_mode vbx`` diarizes blindly (any number of speakers; speaker-head embeddings,
PLDA, VBx: :class:`espnet_echo.inference.speech2echo.Speech2Echo`) with the PLDA of
``--plda_file``, by default ``<model dir>/plda.npz`` as ``espnet_echo.bin.fit_plda``
writes it. Recordings longer than ``--chunk_s`` go through the model in overlapping
chunks (speakers linked across chunks, tracks and transcripts stitched per speaker).
Speaker ``n`` of ``rttm``, ``spk{n}.scp`` and ``text_spk{n}`` is one person.

For audio files, folders and packed models (not data dirs) use
``espnet_echo.bin.echo_infer``.

``--dtype bfloat16|auto`` and ``--quantize int8`` trade precision for speed
(:mod:`espnet_echo.inference.precision`); both are in the stamp when not at their
defaults (``dtype`` as resolved), so fp32 decodes stamped before these options existed
stay current.
"""

import argparse
from pathlib import Path

from espnet_echo.data.datadir import load_data_dir, log_notes
from espnet_echo.inference.decode_dir import (
    STAMP,  # noqa: F401  (re-exported: the stamp file of a hypothesis dir)
    decode_data_dir,
    resolve_plda_file,
)
from espnet_echo.inference.options import add_speech2echo_arguments
from espnet_echo.utils.cli import add_log_level_argument, exit_on_error, setup_logging


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--train_config", required=True, help="config.yaml of the model")
    p.add_argument("--model_file", required=True, help="checkpoint (.pth)")
    p.add_argument("--data_dir", required=True, help="data dir with wav.scp")
    p.add_argument("--output_dir", required=True, help="hypothesis dir to write")
    p.add_argument("--resample", action="store_true", help="resample wrong-rate audio")
    add_speech2echo_arguments(p)
    add_log_level_argument(p)
    return p


def main(cmd=None) -> None:
    args = get_parser().parse_args(cmd)
    setup_logging(args.log_level)
    ddir = load_data_dir(args.data_dir)
    log_notes(ddir)
    out = Path(args.output_dir)
    with exit_on_error("echo_inference"):
        args.plda_file = resolve_plda_file(args.diar_mode, args.plda_file, args.model_file)
    with exit_on_error("echo_inference"):
        decode_data_dir(args, ddir, out)


if __name__ == "__main__":
    main()
