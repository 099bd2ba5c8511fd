# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Frozen diagonal-covariance GMM anchor of GMM-anchored JEPA, its schedule and metric.

The GMM is fitted once on log-mel frames (k-means++ init, then EM), saved as a pickle-free
``.npz`` and frozen; its soft posteriors are the cluster targets of the JEPA anchor loss
``L = L_jepa + anchor_weight(step) * KL(posterior || softmax(cluster logits))``.
"""

import hashlib
import json
import math
import zipfile
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from typeguard import typechecked

from espnet_echo.utils.fileio import atomic_open

PathLike = Union[str, Path]
GMM_FORMAT_VERSION = 1
_LOG_2PI = math.log(2.0 * math.pi)
_ARRAYS = ("means", "variances", "weights", "feat_dim", "num_components", "description")


class GMMFileError(ValueError):
    """A GMM file cannot be used; the message names the file and the problem."""


def _check_params(means: np.ndarray, variances: np.ndarray, weights: np.ndarray, where: str):
    """Raise ``ValueError`` (prefixed by ``where``) unless the parameters form a valid GMM."""
    if means.ndim != 2 or means.shape[0] < 1 or means.shape[1] < 1:
        raise ValueError(f"{where}: means must have shape (K, D), got {tuple(means.shape)}")
    if variances.shape != means.shape:
        raise ValueError(
            f"{where}: variances have shape {tuple(variances.shape)}, means "
            f"{tuple(means.shape)}; they must match"
        )
    if weights.shape != (means.shape[0],):
        raise ValueError(
            f"{where}: weights have shape {tuple(weights.shape)}, expected "
            f"({means.shape[0]},) for {means.shape[0]} components"
        )
    for name, arr in (("means", means), ("variances", variances), ("weights", weights)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{where}: {name} contain NaN or Inf")
    if np.any(variances <= 0):
        raise ValueError(f"{where}: variances must be positive (min {variances.min():g})")
    if np.any(weights < 0):
        raise ValueError(f"{where}: weights must be non-negative (min {weights.min():g})")
    total = float(weights.astype(np.float64).sum())
    if abs(total - 1.0) > 1e-3:
        raise ValueError(f"{where}: weights sum to {total:.6f}, expected 1")


class DiagonalGMM(torch.nn.Module):
    """A Gaussian mixture with diagonal covariances, kept frozen (buffers only).

    Buffers (float32): ``means`` (K, D), ``variances`` (K, D), ``log_weights`` (K,).

    Args:
        means: Component means (K, D).
        variances: Positive diagonal variances (K, D).
        weights: Mixture weights (K,), non-negative, summing to 1.
        description: Free-form description of the features the GMM was fitted on (e.g.
            the frontend conf as JSON); stored in the file by :meth:`save`.
    """

    @typechecked
    def __init__(
        self,
        means: torch.Tensor,
        variances: torch.Tensor,
        weights: torch.Tensor,
        description: str = "",
    ):
        super().__init__()
        _check_params(
            means.detach().cpu().numpy(),
            variances.detach().cpu().numpy(),
            weights.detach().cpu().numpy(),
            "DiagonalGMM",
        )
        weights = weights.detach().to(torch.float64)
        self.description = description
        self.fit_log_likelihood = []
        self.register_buffer("means", means.detach().to(torch.float32).clone())
        self.register_buffer("variances", variances.detach().to(torch.float32).clone())
        self.register_buffer("log_weights", (weights / weights.sum()).log().to(torch.float32))

    @property
    def num_components(self) -> int:
        """Number of components K."""
        return self.means.size(0)

    @property
    def feat_dim(self) -> int:
        """Feature dimension D."""
        return self.means.size(1)

    def _joint_log_prob(self, feats: torch.Tensor) -> torch.Tensor:
        """``log w_k + log N(x; mu_k, diag(var_k))`` for features (..., D) -> (..., K)."""
        if feats.size(-1) != self.feat_dim:
            raise ValueError(
                f"features have dimension {feats.size(-1)}, the GMM has {self.feat_dim}"
            )
        dtype = torch.float64 if feats.dtype == torch.float64 else torch.float32
        # The quadratic form needs full precision: no fp16/bf16 matmuls under autocast.
        with torch.autocast(device_type=feats.device.type, enabled=False):
            return _joint_log_prob(
                feats.to(dtype),
                self.means.to(dtype),
                self.variances.to(dtype),
                self.log_weights.to(dtype),
            )

    def log_posteriors(self, feats: torch.Tensor) -> torch.Tensor:
        """Log component posteriors ``log p(k | x)``.

        Args:
            feats: Features (..., D), e.g. log-mel frames (B, T, D).

        Returns:
            torch.Tensor: (..., K), float32 (float64 for float64 input); ``logsumexp``
                over the last axis is 0.
        """
        joint = self._joint_log_prob(feats)
        return joint - torch.logsumexp(joint, dim=-1, keepdim=True)

    def posteriors(self, feats: torch.Tensor) -> torch.Tensor:
        """Component posteriors ``p(k | x)`` (..., D) -> (..., K), summing to 1 over K."""
        return self.log_posteriors(feats).exp()

    def log_likelihood(self, feats: torch.Tensor) -> torch.Tensor:
        """Per-frame log-likelihood ``log p(x)`` (..., D) -> (...)."""
        return torch.logsumexp(self._joint_log_prob(feats), dim=-1)

    @classmethod
    @typechecked
    def fit(
        cls,
        frames: Union[np.ndarray, torch.Tensor],
        num_components: int,
        num_iters: int = 20,
        seed: int = 0,
        var_floor: float = 1e-3,
        init_frames: int = 20000,
        chunk_size: int = 32768,
        description: str = "",
    ) -> "DiagonalGMM":
        """Fit a GMM with k-means++ initialisation and vectorised EM.

        Initialisation: k-means++ seeding on a random subset of ``init_frames`` frames,
        then one hard assignment of all frames gives the initial means, variances and
        weights. EM then runs ``num_iters`` iterations over all frames, ``chunk_size``
        frames at a time (memory O(chunk_size * K) plus a float32 copy of the frames and
        their squares); the E-step runs in float32 on globally standardised frames, the
        statistics and parameters are float64. Variances are floored at ``var_floor``; a
        component whose soft count falls below one frame is re-seeded on
        the frame the model explains worst (global variance, weight 1/N), so no
        component stays degenerate and nothing becomes NaN. The result depends only on
        the data, the options and ``seed``.

        Args:
            frames: Training frames (N, D), numpy or torch; sub-sample them beforehand
                for large N (EM costs O(N * K * D) per iteration).
            num_components: K (1 <= K <= N).
            num_iters: EM iterations (0: the k-means++ initialisation only).
            seed: Seed of the subset draw and the k-means++ seeding.
            var_floor: Lower bound of every variance.
            init_frames: Frames used for the k-means++ seeding.
            chunk_size: Frames per E-step chunk.
            description: Stored as :attr:`description`.

        Returns:
            DiagonalGMM: The fitted model; ``fit_log_likelihood`` holds the mean
                per-frame log-likelihood (original units) of each EM iteration's E-step.

        Raises:
            ValueError: frames not (N, D), non-finite, fewer frames than components, or
                invalid options.
        """
        x = torch.as_tensor(np.asarray(frames) if not torch.is_tensor(frames) else frames)
        x = x.detach().to(torch.float64).cpu()
        if x.dim() != 2 or x.size(1) < 1:
            raise ValueError(f"frames must have shape (N, D), got {tuple(x.shape)}")
        num = x.size(0)
        if not 1 <= num_components <= num:
            raise ValueError(
                f"num_components must be in [1, {num}] (the number of frames), got "
                f"{num_components}"
            )
        if num_iters < 0 or var_floor <= 0 or init_frames < 1 or chunk_size < 1:
            raise ValueError(
                "num_iters must be >= 0, var_floor > 0, init_frames and chunk_size >= 1"
            )
        if not torch.isfinite(x).all():
            raise ValueError("frames contain NaN or Inf")
        gen = torch.Generator().manual_seed(seed)

        # Work on standardised float32 frames (posteriors are invariant to a global
        # affine map; float32 matmuls are ~2.5x faster), keep the statistics in float64.
        offset = x.mean(0)
        scale = x.std(0, unbiased=False).clamp_min(math.sqrt(var_floor))
        z = ((x - offset) / scale).to(torch.float32)
        floor = var_floor / scale**2  # (D,) the variance floor in standardised units
        global_var = torch.maximum(z.double().var(0, unbiased=False), floor)

        # k-means++ seeding on a subset, then one hard assignment of all frames
        subset = z
        if num > max(init_frames, num_components):
            subset = z[torch.randperm(num, generator=gen)[: max(init_frames, num_components)]]
        means = _kmeans_pp(subset, num_components, gen).double()
        dim = z.size(1)
        z2 = torch.cat([z * z, z], dim=1)  # (N, 2D): each E-step pass is one matmul
        counts = torch.zeros(num_components, dtype=torch.float64)
        moments = torch.zeros(num_components, 2 * dim, dtype=torch.float64)
        for start in range(0, num, chunk_size):
            nearest = _sq_dist(z[start : start + chunk_size], means.float()).argmin(1)
            onehot = torch.nn.functional.one_hot(nearest, num_components).float()
            counts += onehot.sum(0).double()
            moments += (onehot.T @ z2[start : start + chunk_size]).double()
        sq_sums, sums = moments[:, :dim], moments[:, dim:]
        variances = global_var.expand_as(means).clone()
        used = counts > 0
        means[used] = sums[used] / counts[used, None]
        variances[used] = torch.maximum(
            sq_sums[used] / counts[used, None] - means[used] ** 2, floor
        )
        weights = (counts + 1.0) / (counts + 1.0).sum()

        # EM
        history = []
        log_det = scale.log().sum()  # log-likelihoods are reported in the original units
        for _ in range(num_iters):
            # log w_k + log N(z; mu_k, var_k) = const_k + [z^2, z] @ proj_k
            precision = variances.reciprocal()
            proj = torch.cat([-0.5 * precision, means * precision], dim=1).float()
            const = weights.log() - 0.5 * (
                dim * _LOG_2PI + variances.log().sum(1) + (means**2 * precision).sum(1)
            )
            const = const.float()
            counts = torch.zeros(num_components, dtype=torch.float64)
            moments = torch.zeros(num_components, 2 * dim, dtype=torch.float64)
            frame_ll = torch.empty(num, dtype=torch.float32)
            for start in range(0, num, chunk_size):
                zc = z2[start : start + chunk_size]
                joint = torch.addmm(const, zc, proj.T)  # (n, K)
                peak = joint.max(dim=1, keepdim=True).values
                resp = joint.sub_(peak).exp_()
                total = resp.sum(dim=1, keepdim=True)
                resp.div_(total)
                frame_ll[start : start + zc.size(0)] = (peak + total.log())[:, 0]
                counts += resp.sum(0).double()
                moments += (resp.T @ zc).double()
            sq_sums, sums = moments[:, :dim], moments[:, dim:]
            history.append(float(frame_ll.double().mean() - log_det))
            dead = counts < 1.0
            live = ~dead
            means[live] = sums[live] / counts[live, None]
            variances[live] = torch.maximum(
                sq_sums[live] / counts[live, None] - means[live] ** 2, floor
            )
            weights = counts / num
            if dead.any():  # re-seed on the worst-explained frames
                worst = frame_ll.argsort()[: int(dead.sum())]
                means[dead] = z[worst].double()
                variances[dead] = global_var
                weights[dead] = 1.0 / num
                weights = weights / weights.sum()
        gmm = cls(
            offset + scale * means,
            (scale**2 * variances).clamp_min(var_floor),
            weights,
            description=description,
        )
        gmm.fit_log_likelihood = history
        return gmm

    def save(self, path: PathLike) -> None:
        """Write the GMM atomically as an ``.npz`` without pickled objects.

        Arrays: ``means`` (K, D) and ``variances`` (K, D) float32, ``weights`` (K,)
        float64, ``feat_dim``, ``num_components``, ``format_version`` (int64 scalars) and
        ``description`` (unicode scalar).
        """
        with atomic_open(path, "wb") as f:
            np.savez(
                f,
                means=self.means.cpu().numpy(),
                variances=self.variances.cpu().numpy(),
                weights=self.log_weights.cpu().double().exp().numpy(),
                feat_dim=np.int64(self.feat_dim),
                num_components=np.int64(self.num_components),
                format_version=np.int64(GMM_FORMAT_VERSION),
                description=np.str_(self.description),
            )

    @classmethod
    def load(cls, path: PathLike, feat_dim: Optional[int] = None) -> "DiagonalGMM":
        """Read a GMM written by :meth:`save` and check it.

        Args:
            path: The ``.npz`` file.
            feat_dim: If given, the feature dimension the caller's frontend produces.

        Returns:
            DiagonalGMM: The model (buffers on CPU).

        Raises:
            GMMFileError: missing or unreadable/truncated file, missing arrays,
                inconsistent shapes, non-positive variances, NaN/Inf, weights not summing
                to 1, or a feature dimension other than ``feat_dim``; the message names
                the file.
        """
        path = Path(path)
        if not path.is_file():
            raise GMMFileError(f"{path}: GMM file not found")
        try:
            npz = np.load(path, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise GMMFileError(f"{path}: not an .npz archive (a single .npy array?)")
            with npz:
                missing = [name for name in _ARRAYS if name not in npz.files]
                if missing:
                    raise GMMFileError(
                        f"{path}: missing arrays {', '.join(missing)} (has "
                        f"{', '.join(npz.files) or 'none'})"
                    )
                arrays = {name: npz[name] for name in _ARRAYS}
        except GMMFileError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
            raise GMMFileError(
                f"{path}: not a valid GMM .npz file (truncated or corrupt?): {e}"
            ) from e
        means, variances = arrays["means"], arrays["variances"]
        weights = arrays["weights"]
        for name in ("means", "variances", "weights"):
            if not np.issubdtype(arrays[name].dtype, np.floating):
                raise GMMFileError(f"{path}: {name} must be floating point, got "
                                   f"{arrays[name].dtype}")
        try:
            _check_params(means, variances, weights, str(path))
        except ValueError as e:
            raise GMMFileError(str(e)) from None
        num_components, dim = means.shape
        for name, expected in (("num_components", num_components), ("feat_dim", dim)):
            value = arrays[name]
            if value.shape != () or int(value) != expected:
                raise GMMFileError(
                    f"{path}: {name} says {value}, but the means have shape {means.shape}"
                )
        if feat_dim is not None and dim != feat_dim:
            raise GMMFileError(
                f"GMM {path} has feature dim {dim}, the frontend gives {feat_dim}"
            )
        return cls(
            torch.from_numpy(means),
            torch.from_numpy(variances),
            torch.from_numpy(weights),
            description=str(arrays["description"]),
        )

    def digest(self) -> str:
        """SHA-256 hex digest of the parameters (shape, means, variances, log-weights)."""
        h = hashlib.sha256()
        h.update(json.dumps([self.num_components, self.feat_dim]).encode())
        for buf in (self.means, self.variances, self.log_weights):
            h.update(buf.detach().cpu().to(torch.float32).contiguous().numpy().tobytes())
        return h.hexdigest()


def _sq_dist(x: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (N, D) x (K, D) -> (N, K), clamped at 0."""
    return (
        (x * x).sum(1, keepdim=True) - 2.0 * x @ centers.T + (centers * centers).sum(1)
    ).clamp_min(0.0)


def _joint_log_prob(
    x: torch.Tensor, means: torch.Tensor, variances: torch.Tensor, log_weights: torch.Tensor
) -> torch.Tensor:
    """``log w_k + log N(x; mu_k, diag(var_k))`` for (..., D) -> (..., K).

    Uses the expanded quadratic form so that only (..., K) is materialised.
    """
    precision = variances.reciprocal()
    const = log_weights - 0.5 * (
        means.size(1) * _LOG_2PI + variances.log().sum(1) + (means * means * precision).sum(1)
    )
    return const - 0.5 * ((x * x) @ precision.T) + x @ (means * precision).T


def _kmeans_pp(x: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """k-means++ seeding: K centres (K, D) drawn from the rows of ``x`` (N, D)."""
    num = x.size(0)
    centers = torch.empty(k, x.size(1), dtype=x.dtype)
    centers[0] = x[int(torch.randint(num, (1,), generator=gen))]
    closest = ((x - centers[0]) ** 2).sum(1)
    draws = torch.rand(k, generator=gen, dtype=torch.float64)
    for i in range(1, k):
        cumulative = closest.double().cumsum(0)
        if cumulative[-1] <= 0:  # fewer distinct frames than components: repeat rows
            idx = int(draws[i] * num)
        else:
            idx = int(torch.searchsorted(cumulative, draws[i] * cumulative[-1]))
        centers[i] = x[min(idx, num - 1)]
        closest = torch.minimum(closest, ((x - centers[i]) ** 2).sum(1))
    return centers


def anchor_weight(step: int, decay_steps: int, start: float = 1.0, end: float = 0.01) -> float:
    """Weight of the GMM anchor loss at ``step``: linear ``start -> end``, then ``end``.

    ``lambda(t) = start + (end - start) * min(t, T) / T``; the non-zero floor ``end``
    keeps a residual anchor after the decay (GMM-anchored JEPA).

    Args:
        step: Training step t >= 0.
        decay_steps: T > 0.
        start: Weight at step 0.
        end: Weight from step T on.

    Raises:
        ValueError: ``decay_steps <= 0`` or ``step < 0``.
    """
    if decay_steps <= 0:
        raise ValueError(f"decay_steps must be > 0, got {decay_steps}")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    return start + (end - start) * min(step, decay_steps) / decay_steps


def normalized_cluster_entropy(assignments: torch.Tensor, num_clusters: int) -> float:
    """Entropy of the histogram of hard cluster assignments divided by ``log K``.

    Args:
        assignments: Integer cluster ids in [0, K), any shape (e.g. argmax over the
            cluster logits of the valid frames).
        num_clusters: K.

    Returns:
        float: In [0, 1]; 0 when one cluster takes everything (and for K = 1), 1 for a
            uniform histogram.

    Raises:
        ValueError: no assignments, K < 1 or ids outside [0, K).
    """
    if num_clusters < 1:
        raise ValueError(f"num_clusters must be >= 1, got {num_clusters}")
    ids = assignments.detach().reshape(-1).long().cpu()
    if ids.numel() == 0:
        raise ValueError("no assignments")
    if ids.min() < 0 or ids.max() >= num_clusters:
        raise ValueError(
            f"assignments must be in [0, {num_clusters}), got [{int(ids.min())}, "
            f"{int(ids.max())}]"
        )
    if num_clusters == 1:
        return 0.0
    p = torch.bincount(ids, minlength=num_clusters).double() / ids.numel()
    p = p[p > 0]
    return float(-(p * p.log()).sum() / math.log(num_clusters))
