# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Clustering of speaker-embedding sequences for blind diarization (unknown K).

* :mod:`espnet_echo.cluster.plda`: a two-covariance PLDA fitted on labelled training
  embeddings (centering, optional LDA, length normalisation, whitening to the diagonal
  form that VBx consumes), stored as ``.npz``.
* :mod:`espnet_echo.cluster.vbx`: VBx, the Bayesian HMM clustering of x-vector sequences
  (AHC initialisation, VB inference with a speaker-turn HMM, pruning of empty speakers),
  with ``num_speakers`` / ``min_speakers`` / ``max_speakers`` constraints.
"""

from espnet_echo.cluster.plda import PLDA
from espnet_echo.cluster.vbx import VBx, vbx_cluster

__all__ = ["PLDA", "VBx", "vbx_cluster"]
