#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Speaker/content factorisation probe of a trained Echo model (held-out k-NN).

``python -m espnet_echo.bin.factorisation_probe --train_config exp/echo/config.yaml
--model_file exp/echo/valid.loss.best.pth --data_dir dump/raw/probe
--out exp/echo/factorisation_probe/probe.json``

Speaker embeddings (the speaker head) and content features (the ASR path's RWSE,
mean-pooled) of the clean sources of the data dir are classified by leave-one-out 1-NN
with speaker labels and with transcript labels; the gap is defined in
:mod:`espnet_echo.ssl.factorisation`. ``--random_init`` scores the same architecture
with its initial weights (seed 0) instead of a checkpoint: the untrained baseline.

Writes a JSON file atomically (the fields of
:class:`~espnet_echo.ssl.factorisation.FactorisationResult`, plus ``model_file``) and
prints one line.
"""

import argparse
import json
from pathlib import Path
from typing import Optional, Sequence

from espnet_echo.utils.audio import AudioError
from espnet_echo.utils.cli import add_log_level_argument, exit_on_error, setup_logging
from espnet_echo.utils.fileio import DataFileError, atomic_open


def get_parser() -> argparse.ArgumentParser:
    """Command line."""
    parser = argparse.ArgumentParser(
        description="Held-out k-NN speaker/content factorisation probe",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--train_config", type=Path, required=True,
                        help="config.yaml of an Echo model with a speaker head")
    parser.add_argument("--model_file", type=Path, default=None,
                        help="Checkpoint (*.pth); required unless --random_init")
    parser.add_argument("--random_init", action="store_true",
                        help="Score the config's architecture with initial weights")
    parser.add_argument("--data_dir", type=Path, required=True,
                        help="Data or dump dir: clean sources, utt2spks, text_spk*")
    parser.add_argument("--out", type=Path, required=True, help="Output JSON")
    parser.add_argument("--max_utts", type=int, default=None,
                        help="Use a seeded subset of this many mixtures")
    parser.add_argument("--k", type=int, default=1, help="Neighbours of the vote")
    add_log_level_argument(parser)
    return parser


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Run the probe; a data problem exits with status 1 and one message on stderr.

    Example:
        % python -m espnet_echo.bin.factorisation_probe \\
            --train_config exp/echo_train_echo/config.yaml \\
            --model_file exp/echo_train_echo/valid.loss.best.pth \\
            --data_dir dump/raw/probe --out exp/echo_train_echo/probe/probe.json
    """
    parser = get_parser()
    args = parser.parse_args(cmd)
    if (args.model_file is None) == (not args.random_init):
        parser.error("give exactly one of --model_file and --random_init")
    setup_logging(args.log_level)
    import torch

    from espnet_echo.inference.speech2echo import Speech2Echo, build_model
    from espnet_echo.ssl.factorisation import factorisation_probe

    with exit_on_error("factorisation_probe", (ValueError, DataFileError, AudioError)):
        if args.random_init:
            torch.manual_seed(0)
            model, _ = build_model(args.train_config)
        else:
            model = Speech2Echo(args.train_config, args.model_file).model
        r = factorisation_probe(model, args.data_dir, max_utts=args.max_utts, k=args.k)
        out = dict(r.to_dict(), model_file=None if args.random_init else str(args.model_file))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(args.out) as f:
            json.dump(out, f, indent=2)
    print(
        f"{args.out}: speaker ID {r.speaker_id_spk:.1f} % from speaker embeddings vs "
        f"{r.speaker_id_content:.1f} % from content features (chance "
        f"{r.chance_speaker:.1f} %); content ID {r.content_id_content:.1f} % vs "
        f"{r.content_id_spk:.1f} % (chance {r.chance_content:.1f} %); gap {r.gap:+.1f} "
        f"points; {r.num_items} sources, {r.num_speakers} speakers, {r.seconds:.0f} s"
    )


if __name__ == "__main__":
    main()
