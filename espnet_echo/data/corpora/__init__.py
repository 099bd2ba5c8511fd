# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Data preparation of public corpora into the data-dir contract (docs/CONTRACT.md)."""
