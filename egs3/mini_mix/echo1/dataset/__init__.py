# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Dataset module of the espnet3 mini recipe (loaded by espnet3 from ``dataset/``)."""

from .builder import MiniMixBuilder as DatasetBuilder
from .dataset import MiniMixDataset as Dataset

__all__ = ["Dataset", "DatasetBuilder"]
