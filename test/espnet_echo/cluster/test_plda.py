# Copyright 2026 espnet-echo developers
#  Apache 2.0
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from espnet_echo.cluster.plda import (
    PLDA,
    _scatter,
    check_finite_2d,
    fit_two_covariance,
    length_normalize,
    two_covariance_loglik,
)
from espnet_echo.cluster.synthetic import SyntheticSpeakers
from espnet_echo.utils.fileio import DataFileError


@pytest.fixture(scope="module")
def world():
    return SyntheticSpeakers(dim=16, seed=3)


@pytest.fixture(scope="module")
def train(world):
    return world.training_set(120, 15, np.random.default_rng(0))


@pytest.fixture(scope="module")
def plda(train):
    x, y = train
    return PLDA.fit(x, y, lda_dim=12)


def test_fit_whitens_within_and_diagonalises_between(train, plda):
    x, y = train
    f = plda.transform(x)
    assert f.shape == (len(x), 12) and plda.dim == 12 and plda.input_dim == 16
    num_spk = int(y.max()) + 1
    within, between = _scatter(f, y, num_spk)
    # pooled within-class scatter has N - S degrees of freedom
    within *= len(x) / (len(x) - num_spk)
    np.testing.assert_allclose(within, np.eye(12), atol=0.03)
    # scatter of the class means = S_b + S_w / n (n = 15 per speaker)
    expected_between = np.diag(plda.phi) + np.eye(12) / 15
    np.testing.assert_allclose(between, expected_between, atol=0.03 * plda.phi[0])
    assert (np.diff(plda.phi) <= 0).all() and (plda.phi > 0).all()


def test_two_covariance_em_recovers_true_covariances():
    rng = np.random.default_rng(1)
    d, num_spk, per_spk = 3, 3000, 8
    a = rng.normal(size=(d, d))
    true_b = a @ a.T + 0.5 * np.eye(d)
    c = rng.normal(size=(d, d))
    true_w = 0.3 * c @ c.T + 0.2 * np.eye(d)
    mu = np.array([1.0, -2.0, 0.5])
    means = rng.multivariate_normal(mu, true_b, size=num_spk)
    inverse = np.repeat(np.arange(num_spk), per_spk)
    x = means[inverse] + rng.multivariate_normal(np.zeros(d), true_w, size=len(inverse))
    model = fit_two_covariance(x, inverse, num_iters=10)
    np.testing.assert_allclose(model.between, true_b, atol=0.1 * np.abs(true_b).max())
    np.testing.assert_allclose(model.within, true_w, atol=0.05 * np.abs(true_w).max())
    np.testing.assert_allclose(model.mu, mu, atol=0.1)
    # EM never decreases the likelihood
    assert np.all(np.diff(model.loglik) >= -1e-9), model.loglik


def test_two_covariance_em_improves_over_moments_with_unbalanced_speakers():
    rng = np.random.default_rng(2)
    counts = rng.integers(2, 30, size=200)
    inverse = np.repeat(np.arange(200), counts)
    means = rng.normal(size=(200, 4)) * 2.0
    x = means[inverse] + rng.normal(size=(len(inverse), 4))
    model = fit_two_covariance(x, inverse, num_iters=15)
    assert np.all(np.diff(model.loglik) >= -1e-9)
    assert model.loglik[-1] > model.loglik[0]


def test_two_covariance_loglik_matches_joint_gaussian():
    rng = np.random.default_rng(3)
    d = 2
    between = np.array([[2.0, 0.3], [0.3, 1.0]])
    within = np.array([[0.5, -0.1], [-0.1, 0.8]])
    mu = np.array([0.5, -1.0])
    counts = [1, 3, 2]
    inverse = np.repeat(np.arange(3), counts)
    x = rng.normal(size=(len(inverse), d))
    expected = 0.0
    for i, n in enumerate(counts):
        cov = np.kron(np.ones((n, n)), between) + np.kron(np.eye(n), within)
        expected += multivariate_normal(np.tile(mu, n), cov).logpdf(x[inverse == i].ravel())
    got = two_covariance_loglik(x, inverse, mu, within, between) * len(x)
    assert got == pytest.approx(expected, rel=1e-6)


def test_save_load_round_trip(tmp_path, train, plda):
    x, _ = train
    path = tmp_path / "plda.npz"
    plda.save(path)
    loaded = PLDA.load(path)
    assert loaded.source == str(path) and loaded.length_norm is True
    np.testing.assert_array_equal(loaded.phi, plda.phi)
    np.testing.assert_array_equal(loaded.transform(x[:50]), plda.transform(x[:50]))
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) == {
            "mean1", "lda", "mean2", "mu", "transform", "phi", "length_norm", "version"
        }


def test_no_lda_and_no_length_norm(train):
    x, y = train
    plain = PLDA.fit(x, y)
    assert plain.dim == 16
    np.testing.assert_allclose(plain.lda, np.eye(16))
    raw = PLDA.fit(x, y, length_norm=False, lda_dim=8)
    f = raw.transform(x)
    within, _ = _scatter(f, y, int(y.max()) + 1)
    np.testing.assert_allclose(within * len(x) / (len(x) - 120), np.eye(8), atol=0.03)
    # without length normalisation the chain is affine: scaling an input offset scales
    # the output offset
    d1 = raw.transform(x[:1] + 1.0) - raw.transform(x[:1])
    d2 = raw.transform(x[:1] + 2.0) - raw.transform(x[:1])
    np.testing.assert_allclose(d2, 2 * d1, rtol=1e-9)


def test_wrong_dimension_names_file_and_both_dims(tmp_path, plda):
    path = tmp_path / "spk_plda.npz"
    plda.save(path)
    loaded = PLDA.load(path)
    with pytest.raises(ValueError, match=r"xvec: 20-dim .*spk_plda\.npz expects 16-dim"):
        loaded.transform(np.zeros((4, 20)), name="xvec")
    with pytest.raises(ValueError, match=r"20-dim embeddings, but the PLDA expects 16"):
        plda.transform(np.zeros((4, 20)))


def test_nan_and_inf_embeddings_are_named(train, plda):
    x, y = train
    bad = x.copy()
    bad[7, 3] = np.nan
    with pytest.raises(ValueError, match=r"train_xvec: 1 of \d+ rows .* row 7, NaN"):
        PLDA.fit(bad, y, name="train_xvec")
    bad[7, 3] = np.inf
    with pytest.raises(ValueError, match=r"rec1: 1 of 10 rows .* row 7, Inf"):
        plda.transform(bad[:10], name="rec1")


def test_too_few_speakers_or_samples(train):
    x, y = train
    with pytest.raises(ValueError, match="at least 2 training speakers, got 1"):
        PLDA.fit(x[:15], y[:15])
    with pytest.raises(ValueError, match=r"too few speakers: 5 speakers .* dimension 12"):
        PLDA.fit(x[:75], y[:75], lda_dim=12)
    with pytest.raises(ValueError, match=r"too few samples: .* N=20 embeddings of S=20"):
        PLDA.fit(x[::15][:20], y[::15][:20], lda_dim=4)
    with pytest.raises(ValueError, match=r"lda_dim must be in \[1, 16\] .*got 17"):
        PLDA.fit(x, y, lda_dim=17)
    with pytest.raises(ValueError, match="one label per row"):
        PLDA.fit(x, y[:-1])
    with pytest.raises(ValueError, match="2-D"):
        PLDA.fit(x[0], y[:1])


def test_load_errors_name_the_file(tmp_path, plda):
    with pytest.raises(DataFileError, match=r"nothere\.npz: no such PLDA file"):
        PLDA.load(tmp_path / "nothere.npz")
    junk = tmp_path / "junk.npz"
    junk.write_text("not a zip")
    with pytest.raises(DataFileError, match=r"junk\.npz: cannot read"):
        PLDA.load(junk)
    partial = tmp_path / "partial.npz"
    np.savez(partial, phi=plda.phi)
    with pytest.raises(DataFileError, match=r"partial\.npz: not a PLDA file, missing"):
        PLDA.load(partial)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, mean1=plda.mean1, lda=plda.lda, mean2=plda.mean2, mu=plda.mu,
             transform=plda.transform_matrix, phi=plda.phi[:-1],
             length_norm=np.asarray(True), version=np.asarray(1))
    with pytest.raises(DataFileError, match=r"wrong\.npz: 'phi' must have shape"):
        PLDA.load(wrong)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, mean1=np.array([object()], dtype=object))
    with pytest.raises(DataFileError, match=r"pickled\.npz"):
        PLDA.load(pickled)


def test_length_normalize_and_check_finite():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    out = length_normalize(x)
    np.testing.assert_allclose(np.linalg.norm(out[0]), np.sqrt(2))
    np.testing.assert_array_equal(out[1], [0.0, 0.0])
    assert check_finite_2d(np.zeros((0, 3), dtype=np.float32), "e").dtype == np.float64
    with pytest.raises(ValueError, match="e: expected real numbers"):
        check_finite_2d(np.array([["a"]]), "e")
