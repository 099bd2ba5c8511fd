#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""VoxCeleb2-Mix: 1..K_max-speaker mixtures of VoxCeleb2 speakers, speaker-disjoint splits.

Scans a VoxCeleb2 tree (``<root>/{dev,test}/aac/<id>/<video>/<n>.m4a`` or the converted
``.../wav/...`` layout) and writes ``<out_dir>/{train,dev,test}`` per docs/CONTRACT.md,
without transcripts (:mod:`espnet_echo.data.corpora.voxceleb2mix`).

Example:
    python -m espnet_echo.bin.prepare_voxceleb2mix --root /data/voxceleb2 \\
        --out_dir data --wav_dir data/wav --num_train 20000 --num_dev 500 \\
        --num_test 1000 --min_spk 1 --max_spk 4 --seed 0 --nj 4
"""

import argparse
from typing import List, Optional

from espnet_echo.data.contract import MAX_SPK
from espnet_echo.data.corpora.voxceleb2mix import TEST_FROM, Vox2MixConfig, build_voxceleb2mix
from espnet_echo.simulate.errors import SimulateError
from espnet_echo.simulate.mixture import LENGTH_MODES, MixConfig
from espnet_echo.utils.cli import (
    add_log_level_argument,
    exit_on_error,
    parse_args_with_config,
    setup_logging,
)

MIX_KEYS = ("overlap_range", "gap_range", "length_mode", "gain_range", "snr_range",
            "noise_tilt_range", "activity_threshold_db")


def _bool(value: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser; every flag can also be a key of the ``--config`` YAML."""
    c, mix = Vox2MixConfig(), MixConfig()
    p = argparse.ArgumentParser(
        prog="python -m espnet_echo.bin.prepare_voxceleb2mix",
        description="Mix VoxCeleb2 speakers into 1..K_max-speaker mixtures (unknown K, "
        "speaker-disjoint splits, no transcripts) per docs/CONTRACT.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--config", default=None, help="YAML whose keys are flag names")
    p.add_argument("--root", required=True,
                   help="VoxCeleb2 root holding dev/ and/or test/ (each with aac/ or wav/)")
    p.add_argument("--meta_csv", default=None,
                   help="vox2_meta.csv to check the tree against (default: <root>/"
                   "vox2_meta.csv if present)")
    p.add_argument("--out_dir", default=c.out_dir, help="Data dir (writes <out_dir>/<split>)")
    p.add_argument("--wav_dir", default=c.wav_dir, help="Audio dir of the mixtures")
    p.add_argument("--test_from", choices=TEST_FROM, default=c.test_from,
                   help="Test speakers from VoxCeleb2's test subset, or drawn from the "
                   "pool")
    for split in ("train", "dev", "test"):
        p.add_argument(f"--num_{split}_spk", type=int, default=getattr(c, f"num_{split}_spk"),
                       help=f"Speakers of {split} (-1: all available)")
        p.add_argument(f"--num_{split}", type=int, default=getattr(c, f"num_{split}"),
                       help=f"Mixtures in {split}")
    p.add_argument("--min_spk", type=int, default=c.min_spk,
                   help="Fewest speakers per mixture")
    p.add_argument("--max_spk", type=int, default=c.max_spk,
                   help=f"Most speakers per mixture, K_max (<= {MAX_SPK})")
    p.add_argument("--utts_per_spk", type=int, default=c.utts_per_spk,
                   help="Most utterances per speaker used (seeded pool)")
    p.add_argument("--max_source_sec", type=float, default=c.max_source_sec,
                   help="Crop longer sources to a seeded window of this length (0: no crop)")
    p.add_argument("--resample", type=_bool, default=c.resample,
                   help="Resample sources at another rate to 16 kHz instead of failing")
    for name in ("overlap_range", "gap_range", "gain_range", "snr_range", "noise_tilt_range"):
        p.add_argument(f"--{name}", type=float, nargs=2, default=list(getattr(mix, name)),
                       metavar=("LO", "HI"), help=f"MixConfig.{name} (simulator)")
    p.add_argument("--length_mode", choices=LENGTH_MODES, default=mix.length_mode,
                   help="Fully overlapped mixtures: pad to the longest source or cut to "
                   "the shortest")
    p.add_argument("--activity_threshold_db", type=float, default=mix.activity_threshold_db,
                   help="RTTM: a 10 ms frame is active within this many dB of the source's "
                   "loudest frame")
    p.add_argument("--seed", type=int, default=c.seed, help="Random seed")
    p.add_argument("--nj", type=int, default=c.nj, help="Worker processes")
    add_log_level_argument(p)
    return p


def config_from_args(args: argparse.Namespace) -> Vox2MixConfig:
    """Turn parsed flags into a :class:`Vox2MixConfig` (not validated)."""
    values = vars(args)
    mix = MixConfig(**{k: tuple(values[k]) if isinstance(values[k], list) else values[k]
                       for k in MIX_KEYS})
    fields = set(Vox2MixConfig.__dataclass_fields__) - {"mix"}
    return Vox2MixConfig(mix=mix, **{k: values[k] for k in fields})


def main(cmd: Optional[List[str]] = None) -> None:
    """CLI entry point."""
    args = parse_args_with_config(get_parser(), cmd)
    setup_logging(args.log_level)
    with exit_on_error("prepare_voxceleb2mix", (ValueError, SimulateError)):
        summary = build_voxceleb2mix(config_from_args(args))
    print(summary.format())


if __name__ == "__main__":
    main()
