# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Offline multi-speaker corpus: KJV text, flite/espeak-ng speakers, numpy mixing.

Mixtures (:mod:`.corpus`, :mod:`.mixture`), long conversations and a speaker x content probe
(:mod:`.conversation`)."""
