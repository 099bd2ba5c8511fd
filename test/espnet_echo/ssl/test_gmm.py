# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Diagonal GMM anchor: fit, posteriors, file format and errors, schedule, entropy."""

import math
import zipfile

import numpy as np
import pytest
import torch

from espnet_echo.ssl.gmm import (
    DiagonalGMM,
    GMMFileError,
    anchor_weight,
    normalized_cluster_entropy,
)


def _clusters(n_per=400, seed=0):
    """Three well-separated 4-d clusters with different spreads."""
    rng = np.random.default_rng(seed)
    means = np.array([[0, 0, 0, 0], [10, 10, 0, 0], [-10, 5, 8, -6]], dtype=np.float64)
    stds = np.array([0.5, 1.0, 2.0])
    x = np.concatenate([m + s * rng.standard_normal((n_per, 4)) for m, s in zip(means, stds)])
    return x, means, stds


@pytest.fixture(scope="module")
def fitted():
    x, means, stds = _clusters()
    return DiagonalGMM.fit(x, 3, num_iters=15, seed=0, description='{"n_mels": 4}'), x


def test_fit_recovers_clusters(fitted):
    gmm, x = fitted
    _, means, stds = _clusters()
    order = [int(np.argmin(((gmm.means.numpy() - m) ** 2).sum(1))) for m in means]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(gmm.means.numpy()[order], means, atol=0.3)
    np.testing.assert_allclose(
        gmm.variances.numpy()[order].mean(1), stds**2, rtol=0.2
    )
    np.testing.assert_allclose(gmm.log_weights.exp().numpy(), [1 / 3] * 3, atol=0.02)
    assert gmm.num_components == 3 and gmm.feat_dim == 4
    assert np.all(np.diff(gmm.fit_log_likelihood) > -1e-4)  # EM never decreases


def test_posteriors_shape_and_normalisation(fitted):
    gmm, x = fitted
    feats = torch.as_tensor(x[:60], dtype=torch.float32).view(2, 30, 4)
    post = gmm.posteriors(feats)
    assert post.shape == (2, 30, 3) and post.dtype == torch.float32
    torch.testing.assert_close(post.sum(-1), torch.ones(2, 30))
    torch.testing.assert_close(gmm.log_posteriors(feats).exp(), post)
    assert (post.argmax(-1) == post.argmax(-1)[0, 0]).all()  # one cluster, confident
    assert post.max(-1).values.min() > 0.99
    with torch.autocast("cpu", dtype=torch.bfloat16):  # full precision under autocast
        torch.testing.assert_close(gmm.posteriors(feats), post)
    with pytest.raises(ValueError, match="dimension 5"):
        gmm.posteriors(torch.zeros(3, 5))


def test_fit_is_deterministic_and_seed_dependent():
    x, _, _ = _clusters(100)
    x = np.concatenate([x, x[:, ::-1] + 3])
    a = DiagonalGMM.fit(x, 8, num_iters=3, seed=1)
    b = DiagonalGMM.fit(torch.from_numpy(x), 8, num_iters=3, seed=1)
    c = DiagonalGMM.fit(x, 8, num_iters=3, seed=2)
    assert a.digest() == b.digest()
    assert a.digest() != c.digest()


def test_degenerate_data_has_no_nan():
    x = np.zeros((50, 3))
    x[:2] = 1.0  # 2 distinct points, 5 components
    gmm = DiagonalGMM.fit(x, 5, num_iters=5, var_floor=1e-3)
    assert torch.isfinite(gmm.means).all() and (gmm.variances >= 1e-3 * 0.999).all()
    assert torch.isfinite(gmm.posteriors(torch.from_numpy(x).float())).all()
    with pytest.raises(ValueError, match="num_components"):
        DiagonalGMM.fit(x, 51)
    with pytest.raises(ValueError, match="NaN"):
        DiagonalGMM.fit(np.full((10, 2), np.nan), 2)


def test_save_load_roundtrip(fitted, tmp_path):
    gmm, x = fitted
    path = tmp_path / "gmm" / "gmm.npz"
    gmm.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["gmm.npz"]  # no temp files left
    with np.load(path, allow_pickle=False) as npz:  # readable without pickle
        assert int(npz["num_components"]) == 3 and int(npz["feat_dim"]) == 4
    loaded = DiagonalGMM.load(path, feat_dim=4)
    assert loaded.digest() == gmm.digest()
    assert loaded.description == '{"n_mels": 4}'
    feats = torch.as_tensor(x[:10], dtype=torch.float32)
    torch.testing.assert_close(loaded.posteriors(feats), gmm.posteriors(feats))
    assert len(gmm.digest()) == 64


def _write(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _good(k=2, d=3):
    return dict(
        means=np.zeros((k, d), np.float32),
        variances=np.ones((k, d), np.float32),
        weights=np.full(k, 1 / k),
        feat_dim=np.int64(d),
        num_components=np.int64(k),
        description=np.str_(""),
    )


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(means=None), "missing arrays means"),
        (dict(variances=np.ones((2, 4), np.float32)), "variances have shape"),
        (dict(weights=np.full(3, 1 / 3)), "weights have shape"),
        (dict(means=np.zeros(3, np.float32)), r"means must have shape \(K, D\)"),
        (dict(variances=np.zeros((2, 3), np.float32)), "variances must be positive"),
        (dict(means=np.full((2, 3), np.nan, np.float32)), "means contain NaN"),
        (dict(weights=np.array([0.5, 0.6])), "weights sum to 1.1"),
        (dict(feat_dim=np.int64(40)), "feat_dim says 40"),
        (dict(num_components=np.int64(7)), "num_components says 7"),
    ],
)
def test_load_rejects_bad_content(tmp_path, change, message):
    arrays = _good()
    for key, value in change.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    path = tmp_path / "bad.npz"
    _write(path, **arrays)
    with pytest.raises(GMMFileError, match=message) as err:
        DiagonalGMM.load(path)
    assert str(path) in str(err.value)


def test_load_file_errors(tmp_path, fitted):
    missing = tmp_path / "none.npz"
    with pytest.raises(GMMFileError, match=f"{missing}: GMM file not found"):
        DiagonalGMM.load(missing)
    text = tmp_path / "text.npz"
    text.write_text("not a zip\n")
    with pytest.raises(GMMFileError, match=f"{text}: not a valid GMM .npz"):
        DiagonalGMM.load(text)
    good = tmp_path / "good.npz"
    fitted[0].save(good)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:300])
    with pytest.raises(GMMFileError, match=f"{cut}: not a valid GMM .npz"):
        DiagonalGMM.load(cut)
    npy = tmp_path / "arr.npz"
    with open(npy, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(GMMFileError, match="not an .npz archive"):
        DiagonalGMM.load(npy)
    expected = f"GMM {good} has feature dim 4, the frontend gives 80"
    with pytest.raises(GMMFileError, match=expected):
        DiagonalGMM.load(good, feat_dim=80)
    assert zipfile.is_zipfile(good)


def test_anchor_weight():
    assert anchor_weight(0, 100) == 1.0
    assert anchor_weight(100, 100) == pytest.approx(0.01)
    assert anchor_weight(10**6, 100) == pytest.approx(0.01)  # floor, not 0
    assert anchor_weight(50, 100) == pytest.approx(0.505)
    values = [anchor_weight(s, 100, start=2.0, end=0.1) for s in range(0, 300, 7)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert min(values) == pytest.approx(0.1)
    for bad in (0, -5):
        with pytest.raises(ValueError, match="decay_steps"):
            anchor_weight(1, bad)
    with pytest.raises(ValueError, match="step"):
        anchor_weight(-1, 10)


def test_normalized_cluster_entropy():
    assert normalized_cluster_entropy(torch.full((100,), 3), 8) == 0.0
    uniform = torch.arange(8).repeat(5).view(5, 8)
    assert normalized_cluster_entropy(uniform, 8) == pytest.approx(1.0)
    half = normalized_cluster_entropy(torch.tensor([0, 1] * 10), 4)
    assert half == pytest.approx(math.log(2) / math.log(4))
    assert normalized_cluster_entropy(torch.zeros(4, dtype=torch.long), 1) == 0.0
    with pytest.raises(ValueError, match="must be in"):
        normalized_cluster_entropy(torch.tensor([0, 4]), 4)
    with pytest.raises(ValueError, match="no assignments"):
        normalized_cluster_entropy(torch.tensor([], dtype=torch.long), 4)
