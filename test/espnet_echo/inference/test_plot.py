# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""The timeline PNG is read back and looked at: lane colours, words, waveform."""

import numpy as np
import pytest
from matplotlib.image import imread

from espnet_echo.inference.plot import (
    DPI,
    MAX_WIDTH_IN,
    MIN_WIDTH_IN,
    EnvelopeAccumulator,
    figure_width,
    format_time,
    plot_timeline,
    speaker_color,
    waveform_envelope,
)
from espnet_echo.inference.result import EchoResult, Word

FS = 16000
#: Three speakers; spk0/spk1 overlap at 5-6 s, spk0/spk2 at 14-17.5 s.
TURNS = [(0.5, 6.0, 0), (5.0, 11.0, 1), (12.0, 20.0, 0), (14.0, 17.5, 2), (21.0, 29.0, 1)]
WORDS = [
    [Word("hello", 1.0, 1.5), Word("there", 3.0, 3.4), Word("again", 15.0, 15.6)],
    [Word("yes", 7.0, 7.3), Word("sure", 24.0, 24.5)],
    [],
]


def make_result(**kw):
    kw = dict(dict(segments=sorted(TURNS), words=WORDS, texts=["", "", ""],
                   name="rec1", duration=30.0, fs=FS), **kw)
    return EchoResult(3, **kw)


def read_rgb(path):
    img = imread(str(path))
    assert img.dtype == np.float32 and img.ndim == 3
    return img[..., :3]


def is_color(pixels, rgb, tol=0.02):
    return np.all(np.abs(pixels - np.asarray(rgb)) < tol, axis=-1)


def is_dark(pixels):
    return np.all(pixels < 0.4, axis=-1)


def column(geo, t):
    return int(round(geo.x_px(t)))


def band(rows, inset=3):
    top, bottom = rows
    return slice(int(np.ceil(top)) + inset, int(np.floor(bottom)) - inset)


def plot_cols(geo):
    """Columns of the plot area (not the lane labels on the left)."""
    return slice(int(geo.x0_px) + 2, int(geo.x1_px) - 2)


def silent_times(k, step=0.25, margin=0.1):
    """Times in the plot where speaker ``k`` has no turn (``margin`` s away from one)."""
    ts = np.arange(0.2, 29.9, step)
    return [t for t in ts if all(not (s - margin <= t <= e + margin)
                                 for s, e, spk in TURNS if spk == k)]


def speaking_times(k, step=0.25, margin=0.1):
    ts = np.arange(0.2, 29.9, step)
    return [t for t in ts if any(s + margin <= t <= e - margin
                                 for s, e, spk in TURNS if spk == k)]


def test_speaker_lanes_show_each_speakers_turns_in_its_colour(tmp_path):
    path, geo = plot_timeline(make_result(), tmp_path / "sub" / "rec1.png",
                              return_geometry=True)
    assert path == tmp_path / "sub" / "rec1.png"
    assert [p.name for p in path.parent.iterdir()] == ["rec1.png"]  # no temp left
    img = read_rgb(path)
    assert img.shape[:2] == (geo.height_px, geo.width_px)
    assert geo.width_px == round(figure_width(30.0) * DPI)
    assert len(geo.bar_rows) == 3
    colors = [speaker_color(k) for k in range(3)]
    assert len(set(colors)) == 3
    for k in range(3):
        lane = img[band(geo.bar_rows[k])]
        for t in speaking_times(k):
            assert is_color(lane[:, column(geo, t)], colors[k]).all(), (k, t)
        for t in silent_times(k):
            assert not is_color(lane[:, column(geo, t)], colors[k]).any(), (k, t)
        # no other speaker's colour in lane k, and none in the word band
        others = [c for j, c in enumerate(colors) if j != k]
        for c in others:
            assert not is_color(lane, c).any()
        assert not is_color(img[band(geo.word_rows[k], 0), plot_cols(geo)], colors[k]).any()
    # the overlap 14-17.5 s shows in two lanes at the same column
    col = column(geo, 16.0)
    assert is_color(img[band(geo.bar_rows[0]), col], colors[0]).all()
    assert is_color(img[band(geo.bar_rows[2]), col], colors[2]).all()


def test_words_are_written_in_their_speakers_lane_at_their_times(tmp_path):
    _, geo = plot_timeline(make_result(), tmp_path / "a.png", return_geometry=True)
    img = read_rgb(tmp_path / "a.png")
    assert geo.words_shown[:2] == WORDS[:2] and geo.words_shown[2] == []

    def dark_near(k, t, half_s=0.15):
        rows = img[band(geo.word_rows[k], 0)]
        return is_dark(rows[:, column(geo, t - half_s):column(geo, t + half_s) + 1]).any()

    for k, words in enumerate(WORDS):
        for w in words:
            assert dark_near(k, (w.start + w.end) / 2), (k, w)
        # nothing written where this speaker has no word (1 s away from any)
        for t in np.arange(0.5, 29.5, 0.5):
            if all(abs(t - (w.start + w.end) / 2) > 1.0 for w in words):
                assert not dark_near(k, t), (k, t)
    # the same result without words: the word bands are blank
    _, geo2 = plot_timeline(make_result(words=None, texts=None), tmp_path / "b.png",
                            return_geometry=True)
    img2 = read_rgb(tmp_path / "b.png")
    assert geo2.bar_rows == geo.bar_rows
    for k in range(3):
        assert not is_dark(img2[band(geo2.word_rows[k], 0), plot_cols(geo2)]).any()
        assert np.array_equal(img2[band(geo.bar_rows[k])], img[band(geo.bar_rows[k])])


def test_waveform_row_is_drawn_from_the_envelope(tmp_path):
    speech = np.zeros(30 * FS, np.float32)
    speech[5 * FS:12 * FS] = np.sin(np.arange(7 * FS) * 0.3)  # loud only 5-12 s
    _, geo = plot_timeline(make_result(), tmp_path / "s.png", speech=speech,
                           return_geometry=True)
    img = read_rgb(tmp_path / "s.png")
    top, bottom = geo.wave_rows
    upper = img[int(top) + 5:int((top + bottom) / 2) - 5]  # above the zero line

    def ink(t):
        return is_dark(upper[:, column(geo, t)]).mean()

    assert all(ink(t) > 0.8 for t in (5.5, 8, 11.5))
    assert all(ink(t) == 0 for t in (2, 13, 18, 22, 28))
    # the same picture from a block-built envelope of the same bins
    n_bins = int(round(geo.x1_px - geo.x0_px))
    acc = EnvelopeAccumulator(len(speech), n_bins)
    for start in range(0, len(speech), 7001):
        acc.add(speech[start:start + 7001], start)
    plot_timeline(make_result(), tmp_path / "e.png", envelope=acc.envelope)
    assert np.array_equal(read_rgb(tmp_path / "e.png"), img)


def test_envelope_accumulator_in_blocks_equals_whole_signal():
    rng = np.random.default_rng(0)
    x = rng.normal(size=100_003).astype(np.float32)
    for n_bins in (1, 7, 1000, 100_003, 150_000):
        whole = waveform_envelope(x, n_bins)
        assert whole.shape == (n_bins, 2)
        acc = EnvelopeAccumulator(len(x), n_bins)
        starts = list(range(0, len(x), 4096))[::-1]  # any order
        for s in starts:
            acc.add(x[s:s + 4096], s)
        acc.add(x[:0], 5)  # an empty block changes nothing
        np.testing.assert_array_equal(acc.envelope, whole)
        assert np.isnan(whole).any() == (n_bins > len(x))
    env = waveform_envelope(np.array([1.0, -2.0, 3.0, 0.5, -1.0, 2.0]), 3)
    np.testing.assert_array_equal(env, [[-2, 1], [0.5, 3], [-1, 2]])
    partial = EnvelopeAccumulator(6, 3)
    partial.add(np.array([3.0, 0.5]), 2)
    assert np.isnan(partial.envelope[[0, 2]]).all()
    np.testing.assert_array_equal(partial.envelope[1], [0.5, 3])
    with pytest.raises(ValueError, match="outside the recording"):
        partial.add(np.ones(3), 4)
    with pytest.raises(ValueError, match="1-D"):
        partial.add(np.ones((2, 2)), 0)
    with pytest.raises(ValueError, match="positive"):
        EnvelopeAccumulator(0, 3)


def test_dense_words_are_thinned_to_max_words_without_collisions(tmp_path):
    words = [Word(f"w{i}", i * 0.05, i * 0.05 + 0.04) for i in range(600)]
    result = make_result(words=[words, [], []])
    _, geo = plot_timeline(result, tmp_path / "d.png", max_words=20, return_geometry=True)
    shown = geo.words_shown[0]
    assert 0 < len(shown) <= 20 and set(shown) <= set(words)
    centres = [geo.x_px((w.start + w.end) / 2) for w in shown]
    assert min(np.diff(centres)) > 20  # spread out, not overlapping
    assert shown[0] == words[0] and shown[-1].start > 25  # across the whole lane
    _, geo = plot_timeline(result, tmp_path / "d.png", max_words=None,
                           return_geometry=True)
    assert 20 < len(geo.words_shown[0]) < 600  # collisions alone thin them
    _, geo = plot_timeline(result, tmp_path / "d.png", max_words=0, return_geometry=True)
    img = read_rgb(tmp_path / "d.png")
    assert geo.words_shown[0] == []
    assert not is_dark(img[band(geo.word_rows[0], 0), plot_cols(geo)]).any()


def test_degenerate_results_still_plot(tmp_path):
    # no speakers, no words, no audio, no duration
    _, geo = plot_timeline(EchoResult(0, name="empty"), tmp_path / "e.png",
                           return_geometry=True)
    img = read_rgb(tmp_path / "e.png")
    assert img.shape[:2] == (geo.height_px, geo.width_px)
    assert len(geo.lane_rows) == 1 and geo.words_shown == [[]]
    assert geo.duration == 1.0
    # speakers without an ASR head nor audio: the duration comes from the turns
    result = EchoResult(2, segments=[(0.0, 3.0, 0), (2.0, 9.0, 1)], name="x")
    _, geo = plot_timeline(result, tmp_path / "f.png", return_geometry=True)
    assert geo.duration == 9.0 and len(geo.bar_rows) == 2
    img = read_rgb(tmp_path / "f.png")
    assert is_color(img[band(geo.bar_rows[1]), column(geo, 5.0)], speaker_color(1)).all()
    # an all-silent envelope
    plot_timeline(make_result(), tmp_path / "z.png", envelope=np.zeros((50, 2)))


def test_width_time_labels_and_bad_inputs(tmp_path):
    assert figure_width(0) == MIN_WIDTH_IN and figure_width(3600) == MAX_WIDTH_IN
    assert MIN_WIDTH_IN < figure_width(300) < figure_width(600) < MAX_WIDTH_IN
    assert format_time(12.5, False) == "12.5"
    assert format_time(125, True) == "2:05" and format_time(3725, True) == "1:02:05"
    long = make_result(duration=2 * 3600.0)
    _, geo = plot_timeline(long, tmp_path / "l.png", return_geometry=True)
    assert geo.width_px == MAX_WIDTH_IN * DPI
    assert speaker_color(10) == speaker_color(0) != speaker_color(1)
    with pytest.raises(ValueError, match=r"bad\.png: envelope must have shape"):
        plot_timeline(make_result(), tmp_path / "bad.png", envelope=np.zeros(5))
    with pytest.raises(ValueError, match="not both"):
        plot_timeline(make_result(), tmp_path / "bad.png", envelope=np.zeros((5, 2)),
                      speech=np.zeros(5))
    with pytest.raises(ValueError, match="1-D"):
        plot_timeline(make_result(), tmp_path / "bad.png", speech=np.zeros((2, 5)))
    assert not (tmp_path / "bad.png").exists()
