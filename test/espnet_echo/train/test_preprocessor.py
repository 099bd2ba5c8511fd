# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.train.preprocessor: sources, counts and sample labels must agree."""

import numpy as np
import pytest

from espnet_echo.train.preprocessor import EchoPreprocessor

N = 800


@pytest.fixture
def prep():
    return EchoPreprocessor(train=True, token_type=None, token_list=None,
                            text_name=["text_spk1", "text_spk2"])


def _data(k=2, n_labels=N, k_labels=None):
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((k, N)).astype(np.float32) * 0.1
    labels = np.zeros((n_labels, k if k_labels is None else k_labels))
    labels[100:300, 0] = 1
    return {
        "speech": ref.sum(0),
        "speech_ref": ref,
        "spk_labels": labels,
        "num_spk": np.array([k]),
    }


def test_passes_labels_through_untouched(prep):
    data = _data()
    out = prep("u", dict(data))
    assert out["speech_ref"].shape == (N, 2) and out["spk_labels"].shape == (N, 2)
    assert out["spk_labels"].dtype == np.float32
    np.testing.assert_array_equal(out["spk_labels"], data["spk_labels"])  # no crop, no shift
    np.testing.assert_array_equal(out["speech"], data["speech"])


def test_labels_of_another_length_are_refused(prep):
    with pytest.raises(ValueError, match=r"utterance u: spk_labels cover 1600 samples .* "
                                         r"but the mixture has 800"):
        prep("u", _data(n_labels=2 * N))


def test_labels_with_another_speaker_count_are_refused(prep):
    with pytest.raises(ValueError, match=r"spk_labels have 3 speakers but speech_ref has 2"):
        prep("u", _data(k_labels=3))
