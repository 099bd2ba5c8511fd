#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Build the offline multi-speaker corpus (data dirs per docs/CONTRACT.md).

Example:
    python -m espnet_echo.bin.simulate --out_dir data --wav_dir data/wav \\
        --num_train 600 --num_dev 100 --num_test 100 --min_spk 1 --max_spk 3 --seed 0 --nj 2
"""

import argparse
import sys
from typing import Any, Dict, List, Optional, Sequence

import yaml

from espnet_echo.simulate.corpus import MAX_SPK_LIMIT, CorpusConfig, build_corpus
from espnet_echo.simulate.errors import SimulateError
from espnet_echo.simulate.mixture import LENGTH_MODES, MixConfig
from espnet_echo.simulate.text import DEFAULT_BIBLE_RANGE
from espnet_echo.simulate.voices import ENGINES
from espnet_echo.utils.cli import add_log_level_argument, setup_logging

_MIX_KEYS = (
    "overlap_range",
    "gap_range",
    "length_mode",
    "gain_range",
    "snr_range",
    "noise_tilt_range",
)


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser; every flag can also be a key of the ``--config`` YAML."""
    mix = MixConfig()
    corpus = CorpusConfig()
    parser = argparse.ArgumentParser(
        prog="python -m espnet_echo.bin.simulate",
        description="Simulate a multi-speaker corpus from KJV text and flite/espeak-ng "
        "voices: mixtures, sources, noise, transcripts and RTTM per docs/CONTRACT.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--config",
        type=str,
        default=None,
        help="YAML file whose keys are flag names (without --); flags given on the command "
        "line override it.",
    )
    g = parser.add_argument_group("output")
    g.add_argument(
        "--out_dir",
        type=str,
        default=corpus.out_dir,
        help="Data dir; writes <out_dir>/{train,dev,test}/.",
    )
    g.add_argument(
        "--wav_dir",
        type=str,
        default=corpus.wav_dir,
        help="Audio dir; writes <wav_dir>/<split>/{mix,s1..sK,noise}/<utt>.wav.",
    )
    g.add_argument(
        "--cache_dir",
        type=str,
        default=None,
        help="TTS cache (single-speaker utterances reused by re-runs); "
        "default <wav_dir>/.tts_cache.",
    )
    g = parser.add_argument_group("size")
    g.add_argument(
        "--num_train", type=int, default=corpus.num_train, help="Mixtures in train."
    )
    g.add_argument("--num_dev", type=int, default=corpus.num_dev, help="Mixtures in dev.")
    g.add_argument("--num_test", type=int, default=corpus.num_test, help="Mixtures in test.")
    g.add_argument(
        "--min_spk", type=int, default=corpus.min_spk, help="Fewest speakers per mixture."
    )
    g.add_argument(
        "--max_spk",
        type=int,
        default=corpus.max_spk,
        help=f"Most speakers per mixture (<= {MAX_SPK_LIMIT}); equal to --min_spk for a "
        "fixed K.",
    )
    g.add_argument(
        "--spk_weights",
        type=float,
        nargs="+",
        default=None,
        help="Relative probabilities of K = min_spk..max_spk (one per K); default uniform.",
    )
    g = parser.add_argument_group("speakers and text")
    g.add_argument(
        "--split_fractions",
        type=float,
        nargs=3,
        default=list(corpus.split_fractions),
        metavar=("TRAIN", "DEV", "TEST"),
        help="Shares of base voices in train/dev/test (speaker-disjoint; each split keeps at "
        "least max_spk voices).",
    )
    g.add_argument(
        "--engines",
        type=str,
        nargs="+",
        choices=ENGINES,
        default=list(corpus.engines),
        help="TTS engines that provide speakers.",
    )
    g.add_argument(
        "--utts_per_spk",
        type=int,
        default=corpus.utts_per_spk,
        help="Sentences in each speaker's pool (each used sentence is synthesised once).",
    )
    g.add_argument(
        "--min_words", type=int, default=corpus.min_words, help="Shortest sentence (words)."
    )
    g.add_argument(
        "--max_words", type=int, default=corpus.max_words, help="Longest sentence (words)."
    )
    g.add_argument(
        "--bible_range",
        type=str,
        default=DEFAULT_BIBLE_RANGE,
        help="KJV verse range read with 'bible' (e.g. Mat1:1-Joh21:25).",
    )
    g = parser.add_argument_group("mixing")
    g.add_argument(
        "--overlap_range",
        type=float,
        nargs=2,
        default=list(mix.overlap_range),
        metavar=("LO", "HI"),
        help="Overlap ratio range: consecutive sources overlap by r x the shorter one; "
        "0 gives turns separated by --gap_range, 1 gives start-aligned full overlap.",
    )
    g.add_argument(
        "--gap_range",
        type=float,
        nargs=2,
        default=list(mix.gap_range),
        metavar=("LO", "HI"),
        help="Silence (s) between non-overlapping turns.",
    )
    g.add_argument(
        "--length_mode",
        type=str,
        choices=LENGTH_MODES,
        default=mix.length_mode,
        help="Fully-overlapped mixtures: pad to the longest source (max) or cut all to the "
        "shortest (min; transcripts are not cut).",
    )
    g.add_argument(
        "--gain_range",
        type=float,
        nargs=2,
        default=list(mix.gain_range),
        metavar=("LO", "HI"),
        help="Per-source level (dB) relative to a -25 dBFS reference.",
    )
    g.add_argument(
        "--snr_range",
        type=float,
        nargs=2,
        default=list(mix.snr_range),
        metavar=("LO", "HI"),
        help="Speech-to-noise ratio (dB) of the additive coloured noise.",
    )
    g.add_argument(
        "--noise_tilt_range",
        type=float,
        nargs=2,
        default=list(mix.noise_tilt_range),
        metavar=("LO", "HI"),
        help="Noise power spectrum exponent range (0 white, -1 pink, -2 brown).",
    )
    g = parser.add_argument_group("run")
    g.add_argument(
        "--seed", type=int, default=corpus.seed, help="Random seed (same seed, same files)."
    )
    g.add_argument("--nj", type=int, default=corpus.nj, help="Worker processes.")
    add_log_level_argument(g)
    return parser


def _coerce(action: argparse.Action, key: str, value: Any, path: str) -> Any:
    """Check and convert one YAML value like argparse would convert the flag."""

    def one(v: Any) -> Any:
        if isinstance(v, (list, dict)) or v is None or isinstance(v, bool):
            raise ValueError(f"bad value {v!r}")
        out = action.type(v) if action.type is not None else v
        if action.choices is not None and out not in action.choices:
            raise ValueError(f"{out!r} is not one of {list(action.choices)}")
        return out

    try:
        if action.nargs is None:
            return one(value)
        if value is None and action.default is None:
            return None
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {value!r}")
        if isinstance(action.nargs, int) and len(value) != action.nargs:
            raise ValueError(f"expected {action.nargs} values, got {len(value)}")
        if action.nargs == "+" and not value:
            raise ValueError("expected at least one value")
        return [one(v) for v in value]
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: key '{key}': {e}") from None


def load_config(path: str, parser: argparse.ArgumentParser) -> Dict[str, Any]:
    """Read a YAML config whose keys are flag names.

    Raises:
        ValueError: unreadable file, not a mapping, unknown key (named), or bad value.
    """
    try:
        with open(path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: cannot read config: {e}") from None
    if cfg is None:
        return {}
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: config must be a mapping of flag names to values")
    actions = {a.dest: a for a in parser._actions if a.dest not in ("help", "config")}
    out = {}
    for key, value in cfg.items():
        if key not in actions:
            raise ValueError(
                f"{path}: unknown key '{key}' (known: {', '.join(sorted(actions))})"
            )
        out[key] = _coerce(actions[key], key, value, path)
    return out


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse flags, with ``--config`` values as defaults under explicit flags."""
    parser = get_parser()
    args = parser.parse_args(argv)
    if args.config:
        try:
            cfg = load_config(args.config, parser)
        except ValueError as e:
            parser.error(str(e))
        parser.set_defaults(**cfg)
        args = parser.parse_args(argv)
    return args


def config_from_args(args: argparse.Namespace) -> CorpusConfig:
    """Turn parsed flags into a :class:`CorpusConfig`."""
    values = vars(args)
    mix = MixConfig(
        **{k: tuple(values[k]) if isinstance(values[k], list) else values[k] for k in _MIX_KEYS}
    )
    return CorpusConfig(
        out_dir=args.out_dir,
        wav_dir=args.wav_dir,
        cache_dir=args.cache_dir,
        num_train=args.num_train,
        num_dev=args.num_dev,
        num_test=args.num_test,
        min_spk=args.min_spk,
        max_spk=args.max_spk,
        spk_weights=args.spk_weights,
        split_fractions=tuple(args.split_fractions),
        utts_per_spk=args.utts_per_spk,
        min_words=args.min_words,
        max_words=args.max_words,
        bible_range=args.bible_range,
        engines=tuple(args.engines),
        seed=args.seed,
        nj=args.nj,
        mix=mix,
    )


def main(argv: Optional[List[str]] = None) -> int:
    """CLI entry point; returns the exit status."""
    args = parse_args(argv)
    setup_logging(args.log_level)
    config = config_from_args(args)
    try:
        config.validate()
        summary = build_corpus(config)
    except (SimulateError, ValueError) as e:
        print(f"simulate: error: {e}", file=sys.stderr)
        return 1
    print(summary.format())
    return 0


if __name__ == "__main__":
    sys.exit(main())
