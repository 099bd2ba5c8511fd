# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Two-covariance PLDA fitted on labelled training embeddings, in the form VBx consumes.

Model (the two-covariance model of Brümmer & de Villiers, "The speaker partitioning
problem", Odyssey 2010; a special case of PLDA, Ioffe 2006 "Probabilistic linear
discriminant analysis", ECCV, and Prince & Elder 2007 "Probabilistic linear discriminant
analysis for inferences about identity", ICCV): the ``j``-th embedding of speaker ``i``
is

    x_ij = y_i + e_ij,    y_i ~ N(mu, S_b),    e_ij ~ N(0, S_w),

with a between-class (speaker) covariance ``S_b`` and a within-class (session/noise)
covariance ``S_w``, fitted by EM (:func:`fit_two_covariance`).

Processing chain, as in the x-vector processing of the BUT VBx recipe (Landini et al.
2022, "Bayesian HMM clustering of x-vector sequences (VBx) in speaker diarization:
theory, implementation and analysis on standard tasks", Computer Speech & Language
71), applied to an embedding ``x`` of dimension ``D``:

1. centre: ``x - mean1`` (training mean);
2. length-normalise to radius ``sqrt(D)`` (Garcia-Romero & Espy-Wilson, Interspeech
   2011), if ``length_norm``;
3. LDA projection to ``d = lda_dim`` dimensions (Fisher's generalised eigenproblem of
   the between- and within-class scatter), or identity (``d = D``) without LDA;
4. centre again (``mean2``) and length-normalise to radius ``sqrt(d)``, if
   ``length_norm``;
5. PLDA whitening ``f = (x - mu) @ transform``, where ``transform`` (d, d)
   simultaneously diagonalises the two covariances:
   ``transform.T @ S_w @ transform = I`` and ``transform.T @ S_b @ transform =
   diag(phi)``, with the between-class variances ``phi`` (d,) sorted in decreasing
   order.

In the whitened space the model is ``f = m + e`` with ``m ~ N(0, diag(phi))`` and
``e ~ N(0, I)``, which is exactly the speaker model of VBx (Landini et al. 2022,
with ``V = diag(sqrt(phi))``).

Stored as ``.npz`` (``np.load(allow_pickle=False)``) with the arrays ``mean1`` (D,),
``lda`` (D, d), ``mean2`` (d,), ``mu`` (d,), ``transform`` (d, d), ``phi`` (d,),
``length_norm`` () bool and ``version`` () int.
"""

from pathlib import Path
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import scipy.linalg
from typeguard import typechecked

from espnet_echo.utils.fileio import DataFileError, atomic_open

PathLike = Union[str, Path]

FILE_VERSION = 1
_KEYS = ("mean1", "lda", "mean2", "mu", "transform", "phi", "length_norm", "version")
# Relative ridge added to covariances before inversion / eigendecomposition.
_RIDGE = 1e-9


def check_finite_2d(x: np.ndarray, name: str) -> np.ndarray:
    """Return ``x`` as a float64 (N, D) array; raise if it is not 2-D or not finite.

    Args:
        x: Array to check, (N, D).
        name: What ``x`` is, for the error message (e.g. ``"embeddings"``).

    Returns:
        (N, D) float64 array (a copy only when the dtype changes).

    Raises:
        ValueError: ``x`` is not 2-D, or holds NaN or +-Inf (the message names ``name``,
            the first bad row and how many rows are bad).
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (N, D) array, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise ValueError(f"{name}: expected real numbers, got dtype {x.dtype}")
    x = x.astype(np.float64, copy=False)
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        kind = "NaN" if np.isnan(x[rows[0]]).any() else "Inf"
        raise ValueError(
            f"{name}: {len(rows)} of {len(x)} rows hold NaN/Inf values "
            f"(first: row {rows[0]}, {kind})"
        )
    return x


def length_normalize(x: np.ndarray) -> np.ndarray:
    """Scale each row to Euclidean norm ``sqrt(D)`` (a zero row stays zero).

    Args:
        x: (N, D) array.

    Returns:
        (N, D) array whose nonzero rows have norm ``sqrt(D)``.
    """
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    tiny = np.finfo(np.float64).tiny
    return x * (np.sqrt(x.shape[1]) / np.maximum(norm, tiny))


def _class_stats(
    x: np.ndarray, inverse: np.ndarray, num_classes: int
) -> Tuple[np.ndarray, np.ndarray]:
    """Per-class counts (S,) and sums (S, D)."""
    counts = np.bincount(inverse, minlength=num_classes).astype(np.float64)
    sums = np.zeros((num_classes, x.shape[1]))
    np.add.at(sums, inverse, x)
    return counts, sums


def _scatter(
    x: np.ndarray, inverse: np.ndarray, num_classes: int
) -> Tuple[np.ndarray, np.ndarray]:
    """Within- and between-class scatter matrices (D, D), both divided by N."""
    n = len(x)
    counts, sums = _class_stats(x, inverse, num_classes)
    means = sums / counts[:, None]
    centred = x - means[inverse]
    within = centred.T @ centred / n
    dev = means - x.mean(axis=0)
    between = (dev * counts[:, None]).T @ dev / n
    return _sym(within), _sym(between)


def _sym(a: np.ndarray) -> np.ndarray:
    return 0.5 * (a + a.T)


def _ridge(a: np.ndarray) -> np.ndarray:
    """``a`` plus a tiny multiple of its mean eigenvalue on the diagonal."""
    scale = max(float(np.trace(a)) / len(a), np.finfo(np.float64).tiny)
    return a + _RIDGE * scale * np.eye(len(a))


class TwoCovariance(NamedTuple):
    """A fitted two-covariance model (see :func:`fit_two_covariance`).

    Attributes:
        mu: Speaker mean (d,).
        within: Within-class covariance ``S_w`` (d, d).
        between: Between-class covariance ``S_b`` (d, d).
        loglik: Training log-likelihood per sample (nats), before the first EM
            iteration and after each one.
    """

    mu: np.ndarray
    within: np.ndarray
    between: np.ndarray
    loglik: List[float]


def two_covariance_loglik(
    x: np.ndarray, inverse: np.ndarray, mu: np.ndarray, within: np.ndarray,
    between: np.ndarray,
) -> float:
    """Marginal log-likelihood per sample of labelled data under a two-covariance model.

    In the coordinates that diagonalise the two covariances (``E.T S_w E = I``,
    ``E.T S_b E = diag(phi)``), the ``n`` samples of one speaker, with mean ``xbar``,
    have per dimension
    ``log p = -n/2 log(2 pi) - 1/2 sum_j (x_j - xbar)^2 + 1/2 log(2 pi / n)
    + log N(xbar; m, phi + 1/n)``, plus ``log|det E|`` per sample for the change of
    variables.

    Args:
        x: Samples (N, d).
        inverse: Speaker index of each sample (N,), in ``[0, S)``, every index present.
        mu: Speaker mean (d,).
        within: ``S_w`` (d, d), positive definite.
        between: ``S_b`` (d, d), positive definite.

    Returns:
        ``log p(x) / N`` in nats.
    """
    phi, e = scipy.linalg.eigh(_ridge(between), _ridge(within))
    f = (x - mu) @ e
    counts, sums = _class_stats(f, inverse, int(inverse.max()) + 1)
    means = sums / counts[:, None]
    resid = float(np.sum((f - means[inverse]) ** 2))
    var = phi[None, :] + 1.0 / counts[:, None]
    log_mean = -0.5 * np.sum(np.log(2 * np.pi * var) + means**2 / var)
    d = x.shape[1]
    log2pi = np.log(2 * np.pi)
    total = (
        -0.5 * len(x) * d * log2pi
        - 0.5 * resid
        + 0.5 * d * np.sum(log2pi - np.log(counts))
        + log_mean
        + len(x) * np.linalg.slogdet(e)[1]
    )
    return float(total) / len(x)


def fit_two_covariance(
    x: np.ndarray, inverse: np.ndarray, num_iters: int = 10
) -> TwoCovariance:
    """Fit the two-covariance model by EM (Brümmer & de Villiers 2010).

    Initialised with the moment estimates (pooled within-class covariance; covariance of
    the class means). E-step: the posterior of speaker ``i``'s latent mean is
    ``N(yhat_i, L_i^-1)`` with precision ``L_i = B + n_i W`` (``B = S_b^-1``,
    ``W = S_w^-1``) and ``yhat_i = L_i^-1 (B mu + W f_i)``, ``f_i`` the sum of its
    ``n_i`` samples; all ``L_i`` are diagonalised at once by the generalised
    eigenvectors of ``(B, W)``. M-step: ``mu = mean_i yhat_i``,
    ``S_b = mean_i (yhat_i yhat_i' + L_i^-1) - mu mu'``,
    ``S_w = 1/N sum_i [sum_j x_ij x_ij' - f_i yhat_i' - yhat_i f_i'
    + n_i (yhat_i yhat_i' + L_i^-1)]``. Each iteration does not decrease the likelihood.

    Args:
        x: Samples (N, d).
        inverse: Speaker index of each sample (N,) in ``[0, S)``, every index present.
        num_iters: EM iterations (0: moment estimates only).

    Returns:
        The fitted :class:`TwoCovariance`.
    """
    num_speakers = int(inverse.max()) + 1
    n = len(x)
    counts, sums = _class_stats(x, inverse, num_speakers)
    means = sums / counts[:, None]
    mu = means.mean(axis=0)
    within, _ = _scatter(x, inverse, num_speakers)
    dev = means - mu
    between = _sym(dev.T @ dev / num_speakers)
    xx = x.T @ x
    history = [two_covariance_loglik(x, inverse, mu, within, between)]
    for _ in range(num_iters):
        b_prec = np.linalg.inv(_ridge(between))
        w_prec = np.linalg.inv(_ridge(within))
        # V' W V = I, V' B V = diag(lam)  =>  (B + n W)^-1 = V diag(1 / (lam + n)) V'
        lam, v = scipy.linalg.eigh(_sym(b_prec), _sym(w_prec))
        g = (b_prec @ mu + sums @ w_prec) @ v  # (S, d)
        inv_diag = 1.0 / (lam[None, :] + counts[:, None])  # (S, d)
        yhat = (g * inv_diag) @ v.T
        sum_cov = (v * inv_diag.sum(axis=0)) @ v.T
        sum_ncov = (v * (counts[:, None] * inv_diag).sum(axis=0)) @ v.T
        mu = yhat.mean(axis=0)
        between = _sym((yhat.T @ yhat + sum_cov) / num_speakers - np.outer(mu, mu))
        cross = sums.T @ yhat
        within = _sym(
            (xx - cross - cross.T + (yhat * counts[:, None]).T @ yhat + sum_ncov) / n
        )
        history.append(two_covariance_loglik(x, inverse, mu, within, between))
    return TwoCovariance(mu, within, between, history)


class PLDA:
    """Two-covariance PLDA with LDA and length normalisation, diagonalised for VBx.

    Build it with :meth:`fit` (training embeddings and speaker labels) or :meth:`load`
    (an ``.npz`` written by :meth:`save`); :meth:`transform` maps embeddings (N, D) to
    whitened features (N, d) whose within-class covariance is ``I`` and between-class
    covariance is ``diag(phi)``.
    """

    @typechecked
    def __init__(
        self,
        mean1: np.ndarray,
        lda: np.ndarray,
        mean2: np.ndarray,
        mu: np.ndarray,
        transform: np.ndarray,
        phi: np.ndarray,
        length_norm: bool = True,
        source: Optional[str] = None,
    ):
        """Hold the parameters of a fitted PLDA (see the module docstring for the chain).

        Args:
            mean1: Training mean of the raw embeddings (D,).
            lda: LDA projection (D, d); the identity when no LDA was used.
            mean2: Mean after the LDA projection (d,).
            mu: PLDA speaker mean (d,).
            transform: Whitening / diagonalising transform (d, d), applied as
                ``(x - mu) @ transform``.
            phi: Between-class variances in the whitened space (d,), decreasing.
            length_norm: Whether steps 2 and 4 length-normalise.
            source: File the parameters came from, for error messages.

        Raises:
            ValueError: inconsistent shapes, non-finite values or non-positive ``phi``.
        """
        self.source = source
        #: What produced the training embeddings (:meth:`save`'s ``embedder``), or None.
        self.embedder: Optional[str] = None
        where = f"PLDA {source}" if source else "PLDA"
        arrays = dict(mean1=mean1, lda=lda, mean2=mean2, mu=mu, transform=transform,
                      phi=phi)
        for key, value in arrays.items():
            if not np.issubdtype(value.dtype, np.floating) or not np.isfinite(value).all():
                raise ValueError(f"{where}: '{key}' must hold finite floats")
        if lda.ndim != 2 or mean1.shape != (lda.shape[0],):
            raise ValueError(
                f"{where}: 'lda' must be (D, d) and 'mean1' (D,), got {lda.shape} and "
                f"{mean1.shape}"
            )
        d = lda.shape[1]
        if d < 1 or d > lda.shape[0]:
            raise ValueError(f"{where}: 'lda' (D, d) needs 1 <= d <= D, got {lda.shape}")
        for key, shape in (("mean2", (d,)), ("mu", (d,)), ("transform", (d, d)),
                           ("phi", (d,))):
            if arrays[key].shape != shape:
                raise ValueError(
                    f"{where}: '{key}' must have shape {shape} for d={d}, got "
                    f"{arrays[key].shape}"
                )
        if not (phi > 0).all():
            raise ValueError(f"{where}: 'phi' must be positive, got min {phi.min()}")
        self.mean1 = mean1.astype(np.float64)
        self.lda = lda.astype(np.float64)
        self.mean2 = mean2.astype(np.float64)
        self.mu = mu.astype(np.float64)
        self.transform_matrix = transform.astype(np.float64)
        self.phi = phi.astype(np.float64)
        self.length_norm = length_norm

    @property
    def input_dim(self) -> int:
        """Dimension ``D`` of the raw embeddings."""
        return self.lda.shape[0]

    @property
    def dim(self) -> int:
        """Dimension ``d`` of the whitened features (the LDA dimension, or ``D``)."""
        return self.lda.shape[1]

    def _where(self) -> str:
        return f"the PLDA loaded from {self.source}" if self.source else "the PLDA"

    def check_embeddings(self, embeddings: np.ndarray, name: str = "embeddings") -> np.ndarray:
        """Validate embeddings for this PLDA.

        Args:
            embeddings: (N, D) raw embeddings.
            name: What they are, for error messages.

        Returns:
            (N, D) float64 array.

        Raises:
            ValueError: not 2-D, NaN/Inf values (names ``name`` and the row), or a
                dimension other than :attr:`input_dim` (names ``name``, the PLDA file and
                both dimensions).
        """
        x = check_finite_2d(embeddings, name)
        if x.shape[1] != self.input_dim:
            raise ValueError(
                f"{name}: {x.shape[1]}-dim embeddings, but {self._where()} expects "
                f"{self.input_dim}-dim embeddings"
            )
        return x

    def preprocess(self, embeddings: np.ndarray, name: str = "embeddings") -> np.ndarray:
        """Steps 1-4 of the chain: centre, length-normalise, LDA, centre, length-normalise.

        Args:
            embeddings: (N, D) raw embeddings.
            name: What they are, for error messages.

        Returns:
            (N, d) features the PLDA covariances are defined on.

        Raises:
            ValueError: see :meth:`check_embeddings`.
        """
        x = self.check_embeddings(embeddings, name) - self.mean1
        if self.length_norm:
            x = length_normalize(x)
        x = x @ self.lda - self.mean2
        if self.length_norm:
            x = length_normalize(x)
        return x

    def transform(self, embeddings: np.ndarray, name: str = "embeddings") -> np.ndarray:
        """Map raw embeddings to the whitened PLDA space VBx works in.

        Args:
            embeddings: (N, D) raw embeddings.
            name: What they are, for error messages.

        Returns:
            (N, d) features ``f`` with within-class covariance ``I`` and between-class
            covariance ``diag(phi)`` (on data like the training data).

        Raises:
            ValueError: see :meth:`check_embeddings`.
        """
        return (self.preprocess(embeddings, name) - self.mu) @ self.transform_matrix

    @classmethod
    def fit(
        cls,
        embeddings: np.ndarray,
        labels: Sequence,
        lda_dim: Optional[int] = None,
        length_norm: bool = True,
        num_iters: int = 10,
        name: str = "embeddings",
    ) -> "PLDA":
        """Fit centering, LDA, length normalisation and the two-covariance PLDA.

        Args:
            embeddings: Training embeddings (N, D).
            labels: Speaker label of each embedding (N,) (any hashable, sortable type).
            lda_dim: LDA dimension ``d`` (``1 <= d <= D``); ``None``: no LDA (``d = D``).
            length_norm: Length-normalise before and after the LDA.
            num_iters: EM iterations of the two-covariance model.
            name: What ``embeddings`` are, for error messages.

        Returns:
            The fitted :class:`PLDA`.

        Raises:
            ValueError: non-2-D or non-finite embeddings (names ``name``), a label count
                other than N, fewer than 2 speakers, ``lda_dim`` out of range, fewer
                than ``d + 1`` speakers (the between-class covariance of S speakers has
                rank at most ``S - 1``), or fewer than ``N - S >= D`` degrees of freedom
                for the within-class covariance.
        """
        x = check_finite_2d(embeddings, name)
        n, dim = x.shape
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise ValueError(
                f"labels: expected one label per row of {name} ({n}), got shape "
                f"{labels.shape}"
            )
        if num_iters < 0:
            raise ValueError(f"num_iters must be >= 0, got {num_iters}")
        _, inverse = np.unique(labels, return_inverse=True)
        inverse = inverse.reshape(-1)
        num_speakers = int(inverse.max()) + 1 if n else 0
        if num_speakers < 2:
            raise ValueError(
                f"{name}: a PLDA needs at least 2 training speakers, got {num_speakers} "
                f"({n} embeddings)"
            )
        d = dim if lda_dim is None else lda_dim
        if not 1 <= d <= dim:
            raise ValueError(f"lda_dim must be in [1, {dim}] (the embedding dim), got {d}")
        if num_speakers - 1 < d:
            raise ValueError(
                f"{name}: too few speakers: {num_speakers} speakers span at most "
                f"{num_speakers - 1} between-class dimensions, fewer than the PLDA "
                f"dimension {d}; use lda_dim <= {num_speakers - 1} or more speakers"
            )
        if n - num_speakers < dim:
            raise ValueError(
                f"{name}: too few samples: a {dim}-dim within-class covariance needs "
                f"N - S >= {dim}, got N={n} embeddings of S={num_speakers} speakers"
            )

        mean1 = x.mean(axis=0)
        x = x - mean1
        if length_norm:
            x = length_normalize(x)
        if lda_dim is None:
            lda = np.eye(dim)
        else:
            within, between = _scatter(x, inverse, num_speakers)
            try:
                _, vecs = scipy.linalg.eigh(between, _ridge(within))
            except np.linalg.LinAlgError as e:
                raise ValueError(
                    f"{name}: the within-class scatter is singular; LDA impossible ({e})"
                ) from e
            lda = vecs[:, ::-1][:, :lda_dim].copy()
        x = x @ lda
        mean2 = x.mean(axis=0)
        x = x - mean2
        if length_norm:
            x = length_normalize(x)
        model = fit_two_covariance(x, inverse, num_iters)
        phi, vecs = scipy.linalg.eigh(_ridge(model.between), _ridge(model.within))
        order = np.argsort(phi)[::-1]
        phi = np.maximum(phi[order], np.finfo(np.float64).eps)
        return cls(mean1, lda, mean2, model.mu, vecs[:, order].copy(), phi, length_norm)

    def save(self, path: PathLike, embedder: Optional[str] = None) -> None:
        """Write the parameters to an ``.npz`` file (atomically).

        Args:
            path: Output file (conventionally ``*.npz``).
            embedder: What produced the training embeddings (e.g. the digest of the
                model checkpoint), stored so that a user of the file can check that
                it scores embeddings of the same model; read back as
                :attr:`embedder`.
        """
        arrays = dict(
            mean1=self.mean1, lda=self.lda, mean2=self.mean2, mu=self.mu,
            transform=self.transform_matrix, phi=self.phi,
            length_norm=np.asarray(self.length_norm), version=np.asarray(FILE_VERSION),
        )
        if embedder is not None:
            arrays["embedder"] = np.asarray(str(embedder))
        with atomic_open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: PathLike) -> "PLDA":
        """Read a PLDA written by :meth:`save`.

        Args:
            path: The ``.npz`` file.

        Returns:
            The :class:`PLDA`, with :attr:`source` set to ``path``.

        Raises:
            DataFileError: missing or unreadable file, missing arrays, an unknown
                version, or inconsistent / non-finite parameters (the message names the
                file).
        """
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = [k for k in _KEYS if k not in data.files]
                if missing:
                    raise DataFileError(f"{path}: not a PLDA file, missing {missing}")
                arrays = {k: data[k] for k in _KEYS}
                embedder = str(data["embedder"]) if "embedder" in data.files else None
        except FileNotFoundError as e:
            raise DataFileError(f"{path}: no such PLDA file") from e
        except DataFileError:
            raise
        except (OSError, ValueError) as e:
            raise DataFileError(f"{path}: cannot read PLDA file ({e})") from e
        version = int(arrays["version"])
        if version != FILE_VERSION:
            raise DataFileError(
                f"{path}: PLDA file version {version}, this code reads {FILE_VERSION}"
            )
        try:
            plda = cls(
                arrays["mean1"], arrays["lda"], arrays["mean2"], arrays["mu"],
                arrays["transform"], arrays["phi"], bool(arrays["length_norm"]),
                source=str(path),
            )
        except (ValueError, TypeError) as e:
            raise DataFileError(str(e)) from e
        plda.embedder = embedder
        return plda
