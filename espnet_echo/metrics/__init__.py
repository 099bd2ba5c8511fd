# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Scoring of diarization (DER), separation (SI-SDR/SI-SDRi), multi-speaker ASR (WER/cpWER)
and speaker counting; corpus-level numbers are accumulated from components, never averaged
per file."""
