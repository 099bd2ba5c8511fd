#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Frozen-encoder linear probes: how much speaker and content a representation carries.

``python -m espnet_echo.bin.linear_probe --config exp/jepa/config.yaml --checkpoint
exp/jepa/valid.loss.best.pth --prefix target_encoder --data_dir dump/raw/train
--token_list data/token_list/char/tokens.txt --out exp/jepa/probe/probe.json``

The frontend, normalize and encoder are those of the config, built through its ESPnet
task (JEPATask, or EchoTask for a config with heads); the encoder weights are the
checkpoint's ``<prefix>.*`` entries (no checkpoint: the random-init baseline). A
speaker-ID probe (logistic regression on mean-pooled features) and a CTC content probe
(one linear layer on frame features) are trained on the clean sources of the data dir
and scored on held-out ones (see :mod:`espnet_echo.ssl.probe`).

Writes a JSON file atomically and prints a one-line summary. Fields: ``speaker_acc``,
``speaker_chance``, ``num_speakers``, ``num_train``/``num_test`` (sources of the speaker
probe), ``ctc_cer``, ``ctc_train_loss``, ``ctc_num_train``/``ctc_num_test``, ``encoder``
(class name), ``checkpoint``, ``prefix``, ``num_sources``, ``feature_dim``, timings.
"""

import argparse
from pathlib import Path
from typing import Optional, Sequence

from espnet_echo.ssl.probe import ProbeError, linear_probe
from espnet_echo.utils.audio import AudioError
from espnet_echo.utils.cli import add_log_level_argument, exit_on_error, setup_logging
from espnet_echo.utils.fileio import DataFileError


def get_parser() -> argparse.ArgumentParser:
    """Command line."""
    parser = argparse.ArgumentParser(
        description="Frozen-encoder speaker-ID and CTC linear probes",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--config", type=Path, required=True,
                        help="YAML with frontend/normalize/encoder and their confs")
    parser.add_argument("--normalize_stats", type=Path, default=None,
                        help="feats_stats.npz: global_mvn with these statistics "
                        "(replaces the config's normalize)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="Model state dict; omitted: random-init encoder")
    parser.add_argument("--prefix", default="encoder",
                        help="Encoder key prefix in the checkpoint (e.g. target_encoder)")
    parser.add_argument("--data_dir", type=Path, required=True,
                        help="Data or dump dir with clean sources, utt2spks, text_spk*")
    parser.add_argument("--token_list", type=Path, required=True, help="Char token list")
    parser.add_argument("--out", type=Path, required=True, help="Output JSON")
    parser.add_argument("--max_utts", type=int, default=None,
                        help="Use a seeded subset of this many mixtures")
    parser.add_argument("--seed", type=int, default=0, help="Seed of subsets and probes")
    add_log_level_argument(parser)
    return parser


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Run the probes; a data problem exits with status 1 and one message on stderr.

    Example:
        % python -m espnet_echo.bin.linear_probe --config conf/train_echo.yaml \\
            --data_dir dump/raw/train --token_list data/token_list/char/tokens.txt \\
            --out exp/probe_random/probe.json --max_utts 500
    """
    args = get_parser().parse_args(cmd)
    setup_logging(args.log_level)
    with exit_on_error("linear_probe", (ProbeError, DataFileError, AudioError)):
        r = linear_probe(args.config, args.data_dir, args.token_list, args.out,
                         args.checkpoint, args.prefix, args.max_utts, args.seed,
                         args.normalize_stats)
    speaker = (
        f"speaker probe skipped ({r['speaker_probe_skipped']})"
        if r["speaker_acc"] is None else
        f"speaker acc {r['speaker_acc']:.3f} (chance {r['speaker_chance']:.3f}, "
        f"{r['num_speakers']} speakers, {r['num_train']}/{r['num_test']} train/test)"
    )
    print(
        f"{args.out}: {speaker}, CTC CER {r['ctc_cer']:.3f}, {r['encoder']}"
        f"{' from ' + str(args.checkpoint) if args.checkpoint else ' (random init)'}, "
        f"{r['time_s']:.0f} s"
    )


if __name__ == "__main__":
    main()
