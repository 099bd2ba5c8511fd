#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Build the offline multi-speaker corpus (data dirs per docs/CONTRACT.md).

Example:
    python -m espnet_echo.bin.simulate --out_dir data --wav_dir data/wav \\
        --num_train 600 --num_dev 100 --num_test 100 --min_spk 1 --max_spk 3 --seed 0 --nj 2 \\
        --num_test_conv 16 --conv_min_sec 60 --conv_max_sec 150 --num_probe_sentences 12
"""

import argparse
import sys
from typing import List, Optional, Tuple

from espnet_echo.data.contract import MAX_SPK
from espnet_echo.simulate.conversation import ConvConfig
from espnet_echo.simulate.corpus import CorpusConfig, build_corpus
from espnet_echo.simulate.errors import SimulateError
from espnet_echo.simulate.mixture import LENGTH_MODES, MixConfig
from espnet_echo.simulate.options import config_from_args
from espnet_echo.simulate.text import DEFAULT_BIBLE_RANGE
from espnet_echo.simulate.voices import ENGINES
from espnet_echo.utils.cli import add_log_level_argument, parse_args_with_config, setup_logging


def _add_range(
    group: argparse._ArgumentGroup, name: str, default: Tuple[float, float], help: str
) -> None:
    """Add ``--<name> LO HI`` (two floats)."""
    group.add_argument(
        f"--{name}", type=float, nargs=2, default=list(default), metavar=("LO", "HI"),
        help=help,
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
        "--config", type=str, default=None,
        help="YAML file whose keys are flag names (without --); flags given on the command "
        "line override it.",
    )
    g = parser.add_argument_group("output")
    g.add_argument("--out_dir", type=str, default=corpus.out_dir,
                   help="Data dir; writes <out_dir>/{train,dev,test}/ (and test_conv/, "
                   "probe/ when asked for).")
    g.add_argument("--wav_dir", type=str, default=corpus.wav_dir,
                   help="Audio dir; writes <wav_dir>/<split>/{mix,s1..sK,noise}/<utt>.wav.")
    g.add_argument("--cache_dir", type=str, default=None,
                   help="TTS cache (single-speaker utterances reused by re-runs); "
                   "default <wav_dir>/.tts_cache.")
    g = parser.add_argument_group("size")
    for split in ("train", "dev", "test"):
        g.add_argument(f"--num_{split}", type=int, default=getattr(corpus, f"num_{split}"),
                       help=f"Mixtures in {split}.")
    g.add_argument("--min_spk", type=int, default=corpus.min_spk,
                   help="Fewest speakers per mixture.")
    g.add_argument("--max_spk", type=int, default=corpus.max_spk,
                   help=f"Most speakers per mixture (<= {MAX_SPK}); equal to --min_spk "
                   "for a fixed K.")
    g.add_argument("--spk_weights", type=float, nargs="+", default=None,
                   help="Relative probabilities of K = min_spk..max_spk (one per K); default "
                   "uniform.")
    g = parser.add_argument_group("speakers and text")
    g.add_argument("--split_fractions", type=float, nargs=3,
                   default=list(corpus.split_fractions), metavar=("TRAIN", "DEV", "TEST"),
                   help="Shares of base voices in train/dev/test (speaker-disjoint; each "
                   "split keeps at least max_spk voices).")
    g.add_argument("--engines", type=str, nargs="+", choices=ENGINES,
                   default=list(corpus.engines), help="TTS engines that provide speakers.")
    g.add_argument("--utts_per_spk", type=int, default=corpus.utts_per_spk,
                   help="Sentences in each speaker's pool (each used sentence is synthesised "
                   "once).")
    g.add_argument("--min_words", type=int, default=corpus.min_words,
                   help="Shortest sentence (words).")
    g.add_argument("--max_words", type=int, default=corpus.max_words,
                   help="Longest sentence (words).")
    g.add_argument("--bible_range", type=str, default=DEFAULT_BIBLE_RANGE,
                   help="KJV verse range read with 'bible' (e.g. Mat1:1-Joh21:25).")
    g = parser.add_argument_group("mixing")
    _add_range(g, "overlap_range", mix.overlap_range,
               "Overlap ratio range: consecutive sources overlap by r x the shorter one; 0 "
               "gives turns separated by --gap_range, 1 gives start-aligned full overlap.")
    _add_range(g, "gap_range", mix.gap_range, "Silence (s) between non-overlapping turns.")
    g.add_argument("--length_mode", type=str, choices=LENGTH_MODES, default=mix.length_mode,
                   help="Fully-overlapped mixtures: pad to the longest source (max) or cut "
                   "all to the shortest (min; transcripts are not cut).")
    _add_range(g, "gain_range", mix.gain_range,
               "Per-source level (dB) relative to a -25 dBFS reference.")
    _add_range(g, "snr_range", mix.snr_range,
               "Speech-to-noise ratio (dB) of the additive coloured noise.")
    _add_range(g, "noise_tilt_range", mix.noise_tilt_range,
               "Noise power spectrum exponent range (0 white, -1 pink, -2 brown).")
    conv = ConvConfig()
    g = parser.add_argument_group(
        "conversation and probe splits (speakers of the test split, sentences in no "
        "mixture; see espnet_echo/simulate/conversation.py for the turn-taking model)"
    )
    g.add_argument("--num_test_conv", type=int, default=conv.num_test_conv,
                   help="Conversation recordings written to <out_dir>/test_conv (0: none).")
    g.add_argument("--conv_min_sec", type=float, default=conv.conv_min_sec,
                   help="Shortest conversation (seconds, >= 10).")
    g.add_argument("--conv_max_sec", type=float, default=conv.conv_max_sec,
                   help="Longest conversation (seconds).")
    g.add_argument("--conv_min_spk", type=int, default=conv.conv_min_spk,
                   help="Fewest speakers in a conversation.")
    g.add_argument("--conv_max_spk", type=int, default=conv.conv_max_spk,
                   help=f"Most speakers in a conversation (<= {MAX_SPK} and <= the base "
                   "voices of the test split).")
    _add_range(g, "conv_overlap_range", conv.conv_overlap_range,
               "Range (0..0.5) of the target share of speech time with 2+ speakers, drawn "
               "per recording; the measured share is written to test_conv/utt2overlap.")
    _add_range(g, "conv_pause_range", conv.conv_pause_range,
               "Pause (s) at a change of speaker without overlap.")
    _add_range(g, "conv_snr_range", conv.conv_snr_range,
               "Speech-to-noise ratio (dB) of the conversations' additive noise.")
    g.add_argument("--conv_max_turn_sentences", type=int,
                   default=conv.conv_max_turn_sentences,
                   help="Most sentences in one turn (1..N drawn per turn).")
    g.add_argument("--num_probe_sentences", type=int, default=corpus.num_probe_sentences,
                   help="Sentences of <out_dir>/probe, each spoken by every test speaker "
                   "(single-speaker, noise-free; 0: none).")
    g = parser.add_argument_group("run")
    g.add_argument("--seed", type=int, default=corpus.seed,
                   help="Random seed (same seed, same files).")
    g.add_argument("--nj", type=int, default=corpus.nj, help="Worker processes.")
    add_log_level_argument(g)
    return parser


def main(cmd: Optional[List[str]] = None) -> int:
    """CLI entry point; returns the exit status."""
    args = parse_args_with_config(get_parser(), cmd)
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
