# Copyright 2026 espnet-echo developers
#  Apache 2.0
import numpy as np
import pytest
import torch

from espnet_echo.cluster.plda import PLDA
from espnet_echo.cluster.synthetic import SyntheticSpeakers
from espnet_echo.cluster.vbx import VBx
from espnet_echo.inference.blind_diar import (
    blind_diarize,
    make_windows,
    second_speaker,
    speech_and_count,
)

WINDOW, HOP = 8, 4


def mean_embed(frames: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The speaker head's contract: weighted mean, L2-normalised, zero for no weight."""
    pooled = torch.einsum("bwt,bte->bwe", weights, frames)
    pooled = pooled / weights.sum(-1, keepdim=True).clamp_min(1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


@pytest.fixture(scope="module")
def world():
    return SyntheticSpeakers(dim=16, seed=0, between_range=(1.0, 4.0))


def frames_of(world, turns, rng, noise=1.0):
    """Speaker frames (T, 16) for ``turns`` = [(speaker or None, num_frames)]."""
    means = world.speaker_means(1 + max(s for s, _ in turns if s is not None), rng)
    labels = np.concatenate([np.full(n, -1 if s is None else s) for s, n in turns])
    x = world.embeddings(means, np.maximum(labels, 0), rng, noise)
    x[labels < 0] = 0.0
    return torch.tensor(x, dtype=torch.float32), labels


@pytest.fixture(scope="module")
def plda(world):
    """PLDA fitted on window embeddings (pooled by ``mean_embed``) of 200 speakers."""
    rng = np.random.default_rng(1)
    embs, spk = [], []
    for s in range(200):
        x, _ = frames_of(world, [(0, WINDOW * 6)], rng)
        w = torch.zeros(6, len(x))
        for i in range(6):
            w[i, i * WINDOW:(i + 1) * WINDOW] = 1
        embs.append(mean_embed(x[None], w[None])[0].numpy())
        spk += [s] * 6
    return PLDA.fit(np.concatenate(embs), spk, lda_dim=12)


def run(x, speech, plda, count=None, **kw):
    return blind_diarize(x, speech, mean_embed, plda, VBx(), WINDOW, HOP, count=count, **kw)


def test_windows_cover_the_recording():
    np.testing.assert_array_equal(make_windows(20, 8, 4), [[0, 8], [4, 12], [8, 16], [12, 20]])
    np.testing.assert_array_equal(make_windows(22, 8, 4)[-1], [14, 22])  # tail window
    np.testing.assert_array_equal(make_windows(5, 8, 4), [[0, 5]])
    assert make_windows(0, 8, 4).shape == (0, 2)


def test_speech_and_count_from_activity():
    act = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1]])
    speech, count = speech_and_count(act)
    assert speech.tolist() == [False, True, True, True] and count.tolist() == [0, 1, 2, 3]


def test_three_speakers_taking_turns(world, plda):
    rng = np.random.default_rng(3)  # (seeds 2 and 5 draw two near speakers)
    turns = [(0, 40), (1, 40), (2, 40), (0, 40), (None, 10), (1, 40)]
    x, labels = frames_of(world, turns, rng)
    res = run(x, labels >= 0, plda)
    assert res.num_spk == 3 and res.activity.shape == (len(labels), 3)
    hyp = res.activity.argmax(1)
    assert (res.activity[labels < 0] == 0).all()
    assert (res.activity.sum(1)[labels >= 0] == 1).all()
    # speakers numbered by first window: the map is the identity; frames away from the
    # turn changes (half a window) are all right
    far = np.ones(len(labels), bool)
    for edge in np.flatnonzero(np.diff(labels)) + 1:
        far[max(0, edge - HOP):edge + HOP] = False
    assert (hyp[far & (labels >= 0)] == labels[far & (labels >= 0)]).all()
    assert (hyp[labels >= 0] == labels[labels >= 0]).mean() > 0.9
    assert res.windows.shape[0] == len(res.window_labels) > 0


def test_num_speakers_forces_the_count(world, plda):
    rng = np.random.default_rng(3)
    x, labels = frames_of(world, [(0, 40), (1, 40), (2, 40)], rng)
    assert run(x, labels >= 0, plda, num_speakers=2).num_spk == 2
    assert run(x, labels >= 0, plda, max_speakers=2).num_spk == 2


def test_overlap_rule_adds_the_nearest_other_speaker(world, plda):
    rng = np.random.default_rng(4)
    x, labels = frames_of(world, [(0, 40), (1, 40), (2, 40)], rng)
    count = (labels >= 0).astype(int)
    count[36:44] = 2  # overlap at the 0 -> 1 change
    count[100:102] = 2  # inside speaker 2's turn: nearest other is speaker 1 (before)
    res = run(x, labels >= 0, plda, count=count)
    assert res.num_spk == 3
    assert (res.activity[36:44, :2] == 1).all() and (res.activity[36:44, 2] == 0).all()
    assert res.activity[100:102, [1, 2]].all() and not res.activity[100:102, 0].any()
    single = res.activity.sum(1) == 2
    assert single.sum() == 10  # nowhere else


def test_second_speaker_rule():
    primary = np.array([0, 0, -1, 1, 1, -1, 2, 2])
    assert second_speaker(primary, 3).tolist() == [1, 1, -1, 0, 2, -1, 1, 1]
    # a tie between the frame before and after goes to the earlier one
    assert second_speaker(np.array([0, 1, 2]), 3).tolist() == [1, 0, 1]
    assert second_speaker(np.array([0, 0]), 1).tolist() == [-1, -1]


def test_no_speech_gives_no_speaker(world, plda):
    x = torch.zeros(50, 16)
    res = run(x, np.zeros(50, bool), plda, num_speakers=2)
    assert res.num_spk == 0 and res.activity.shape == (50, 0)


def test_one_short_turn_is_one_speaker(world, plda):
    rng = np.random.default_rng(5)
    x, labels = frames_of(world, [(None, 20), (0, 3), (None, 20)], rng)
    res = run(x, labels >= 0, plda)  # no window reaches half speech: the best one is kept
    assert res.num_spk == 1 and len(res.windows) == 1
    assert res.activity[:, 0].tolist() == (labels >= 0).astype(int).tolist()


def test_more_speakers_than_windows_is_an_error(world, plda):
    rng = np.random.default_rng(6)
    x, labels = frames_of(world, [(0, 12)], rng)
    with pytest.raises(ValueError, match=r"rec1: 2 speech windows: num_speakers=5"):
        run(x, labels >= 0, plda, num_speakers=5, name="rec1")


def test_nan_frames_are_named(world, plda):
    x = torch.randn(30, 16)
    x[7] = float("nan")
    with pytest.raises(ValueError, match="rec.wav: speaker frames hold NaN/Inf.*frame 7"):
        run(x, np.ones(30, bool), plda, name="rec.wav")


def test_wrong_embedding_dim_names_the_plda(world, plda, tmp_path):
    plda.save(tmp_path / "plda.npz")
    loaded = PLDA.load(tmp_path / "plda.npz")
    with pytest.raises(ValueError, match="plda.npz expects 16-dim"):
        run(torch.randn(30, 8), np.ones(30, bool), loaded)
