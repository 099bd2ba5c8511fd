# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Recipe code that conf/ names by dotted path (``src.*``; run.py's dir is on sys.path)."""
