# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Corpus settings from the options of ``espnet_echo.bin.simulate``.

The command line (and its ``--config`` YAML, whose keys are the flag names) gives one
flat namespace; :func:`config_from_args` turns it into the nested
:class:`~espnet_echo.simulate.corpus.CorpusConfig` (mixing settings in its
:class:`~espnet_echo.simulate.mixture.MixConfig`, conversation settings in its
:class:`~espnet_echo.simulate.conversation.ConvConfig`).
"""

import argparse

from espnet_echo.simulate.conversation import ConvConfig
from espnet_echo.simulate.corpus import CorpusConfig
from espnet_echo.simulate.mixture import MixConfig

# Options that are ConvConfig fields (same names).
CONV_KEYS = (
    "num_test_conv",
    "conv_min_sec",
    "conv_max_sec",
    "conv_min_spk",
    "conv_max_spk",
    "conv_overlap_range",
    "conv_pause_range",
    "conv_snr_range",
    "conv_max_turn_sentences",
)

# Options that are MixConfig fields; every other one is a CorpusConfig field.
MIX_KEYS = (
    "overlap_range",
    "gap_range",
    "length_mode",
    "gain_range",
    "snr_range",
    "noise_tilt_range",
)


def config_from_args(args: argparse.Namespace) -> CorpusConfig:
    """Turn parsed flags into a :class:`CorpusConfig`.

    Args:
        args: Options of ``espnet_echo.bin.simulate`` (lists for the multi-value flags).

    Returns:
        The corpus config (not validated: see :meth:`CorpusConfig.validate`).
    """
    values = vars(args)

    def pick(keys):
        return {k: tuple(v) if isinstance(v, list) else v for k in keys for v in [values[k]]}

    mix = MixConfig(**pick(MIX_KEYS))
    conv = ConvConfig(**pick(CONV_KEYS))
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
        conv=conv,
        num_probe_sentences=args.num_probe_sentences,
    )
