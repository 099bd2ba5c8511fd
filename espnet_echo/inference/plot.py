# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""A picture of one recording's result: waveform, speaker turns and words (``--plot``).

:func:`plot_timeline` reads an :class:`~espnet_echo.inference.result.EchoResult` (no
model code here) and writes one PNG:

* **Title**: :attr:`EchoResult.name`.
* **Top row**: the waveform, drawn from a min/max *envelope* (one ``(min, max)`` pair
  per bin, bins spanning the recording), so a long recording never has to be held in
  memory: a caller reading the audio block by block builds the envelope with
  :class:`EnvelopeAccumulator`; a caller holding the samples passes ``speech`` (or
  :func:`waveform_envelope` of it). Without either, the row says ``no waveform``.
* **One lane per speaker** (``spk0`` at the top): the speaker's turns
  (:attr:`EchoResult.segments`) as solid bars in the upper half of the lane, in the
  speaker's colour (:func:`speaker_color`: matplotlib's ``tab10`` palette, speaker
  ``k`` gets entry ``k % 10``); the lane label ``spk<k>`` on the left is written in
  the same colour. The speaker's words (:attr:`EchoResult.words`) are written in dark
  grey in the lower half of the lane, each centred on its own time (midpoint of
  ``start`` and ``end``).
* **Word thinning**: a word is drawn only if its text (estimated width, see
  :data:`CHAR_WIDTH_EM`) does not collide with the previous drawn word of that lane;
  then, if more than ``max_words`` remain in a lane, an evenly spread subset of
  ``max_words`` is kept. A lane with hidden words says ``<shown> of <all> words``
  under its label. :attr:`TimelineGeometry.words_shown` lists the words drawn.
* **x axis**: seconds from 0 to the duration; ``m:ss`` (``h:mm:ss`` past an hour)
  for recordings of :data:`MMSS_FROM_S` seconds or more.

Degenerate results still plot: no speakers (one empty lane that says
``no speakers``), no words (no ASR head: bars only), no envelope (``no waveform``).

**Geometry** (for tests and for callers placing things on the picture): the PNG is
``width_in x height_in`` inches at :data:`DPI` with fixed margins in inches (no
tight layout), so its size in pixels is known in advance; the width grows with the
duration (:func:`figure_width`, 12 to 24 inches) and the height with the number of
lanes. ``plot_timeline(..., return_geometry=True)`` also returns a
:class:`TimelineGeometry` with the pixel column of any time and the pixel rows of
every lane, bar band and word band, taken from the axes transforms.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from espnet_echo.inference.result import EchoResult, Word, speaker_label
from espnet_echo.utils.fileio import atomic_path

PathLike = Union[str, Path]

#: Resolution of the PNG (pixels per inch).
DPI = 100
#: Figure width bounds in inches (see :func:`figure_width`).
MIN_WIDTH_IN, MAX_WIDTH_IN = 12.0, 24.0
#: Fixed margins and row heights in inches.
LEFT_IN, RIGHT_IN, TOP_IN, BOTTOM_IN = 1.3, 0.3, 0.5, 0.6
WAVE_IN, GAP_IN, LANE_IN = 1.1, 0.15, 0.8
#: Bands of a lane in lane units (lane ``k`` spans ``[k, k + 1]``, top to bottom).
BAR_BAND = (0.08, 0.52)
WORD_BAND = (0.56, 0.96)
#: Font size of the words (points) and estimated width of one character (in em)
#: used to thin colliding words; the gap between drawn words is :data:`WORD_GAP_PX`.
WORD_FONTSIZE = 7.0
CHAR_WIDTH_EM = 0.62
WORD_GAP_PX = 4.0
#: Recordings at least this long get ``m:ss`` time labels.
MMSS_FROM_S = 120.0
#: Colour of the words and of the waveform.
WORD_COLOR = "#1a1a1a"
WAVE_COLOR = "#555555"


# ----------------------------------------------------------------- envelope
class EnvelopeAccumulator:
    """Build the min/max envelope of a long signal from blocks read one at a time.

    Sample ``j`` of the recording (``0 <= j < total_samples``) belongs to bin
    ``j * n_bins // total_samples``, so the bins split the recording evenly and every
    sample lands in exactly one bin. Blocks may come in any order and may overlap.

    Args:
        total_samples: Length of the whole recording in samples.
        n_bins: Number of bins (e.g. the plot's width in pixels).

    Raises:
        ValueError: a non-positive ``total_samples`` or ``n_bins``.
    """

    def __init__(self, total_samples: int, n_bins: int):
        if int(total_samples) <= 0 or int(n_bins) <= 0:
            raise ValueError(f"EnvelopeAccumulator: total_samples ({total_samples}) and "
                             f"n_bins ({n_bins}) must be positive")
        self.total_samples = int(total_samples)
        self.n_bins = int(n_bins)
        self._min = np.full(self.n_bins, np.inf)
        self._max = np.full(self.n_bins, -np.inf)

    def add(self, block: np.ndarray, start_sample: int) -> None:
        """Fold samples ``start_sample .. start_sample + len(block) - 1`` in.

        Args:
            block: 1-D samples (a mono block).
            start_sample: Index of ``block[0]`` in the recording.

        Raises:
            ValueError: a block that is not 1-D or reaches outside the recording.
        """
        block = np.asarray(block)
        if block.ndim != 1:
            raise ValueError(f"EnvelopeAccumulator.add: expected a 1-D mono block, got "
                             f"shape {block.shape}")
        start = int(start_sample)
        if start < 0 or start + len(block) > self.total_samples:
            raise ValueError(f"EnvelopeAccumulator.add: samples {start}..{start + len(block)}"
                             f" outside the recording (0..{self.total_samples})")
        if len(block) == 0:
            return
        bins = (np.arange(start, start + len(block), dtype=np.int64) * self.n_bins
                // self.total_samples)
        firsts = np.concatenate([[0], np.flatnonzero(np.diff(bins)) + 1])
        idx = bins[firsts]
        block = block.astype(np.float64, copy=False)
        self._min[idx] = np.fmin(self._min[idx], np.minimum.reduceat(block, firsts))
        self._max[idx] = np.fmax(self._max[idx], np.maximum.reduceat(block, firsts))

    @property
    def envelope(self) -> np.ndarray:
        """``(n_bins, 2)`` array of ``(min, max)`` per bin; NaN for bins no sample
        reached yet (always the case for some bins when ``n_bins > total_samples``)."""
        env = np.stack([self._min, self._max], axis=1)
        env[~np.isfinite(env)] = np.nan
        return env


def waveform_envelope(speech: np.ndarray, n_bins: int) -> np.ndarray:
    """The min/max envelope of a whole signal (same bins as :class:`EnvelopeAccumulator`).

    Args:
        speech: 1-D samples.
        n_bins: Number of bins.

    Returns:
        ``(n_bins, 2)`` array of ``(min, max)`` per bin (NaN for empty bins).

    Raises:
        ValueError: an empty or non-1-D ``speech``, or a non-positive ``n_bins``.
    """
    speech = np.asarray(speech)
    if speech.ndim != 1 or len(speech) == 0:
        raise ValueError(f"waveform_envelope: expected non-empty 1-D mono samples, got "
                         f"shape {speech.shape}")
    acc = EnvelopeAccumulator(len(speech), n_bins)
    acc.add(speech, 0)
    return acc.envelope


# ------------------------------------------------------------------- style
def speaker_color(k: int) -> Tuple[float, float, float]:
    """RGB (0..1) of speaker ``k``: entry ``k % 10`` of matplotlib's ``tab10``."""
    from matplotlib import colormaps

    return tuple(float(c) for c in colormaps["tab10"].colors[k % 10][:3])


def figure_width(duration: float) -> float:
    """Figure width in inches: 12 plus one inch per minute of audio, at most 24,
    rounded to whole pixels at :data:`DPI`."""
    width = np.clip(MIN_WIDTH_IN + max(duration, 0.0) / 60.0, MIN_WIDTH_IN, MAX_WIDTH_IN)
    return round(float(width) * DPI) / DPI


def format_time(t: float, mmss: bool) -> str:
    """Axis label of time ``t`` (seconds): ``12.5`` style, or ``m:ss``/``h:mm:ss``."""
    if not mmss:
        return f"{t:g}"
    s = int(round(t))
    h, m, s = s // 3600, s // 60 % 60, s % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


_STEPS_S = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600,
            7200, 18000, 36000)


def _tick_step(duration: float, max_ticks: int) -> float:
    for step in _STEPS_S:
        if duration / step <= max_ticks:
            return float(step)
    return float(duration / max_ticks)


# ---------------------------------------------------------------- geometry
@dataclass(frozen=True)
class TimelineGeometry:
    """Where things are in the PNG, in pixels (column 0 left, row 0 top).

    Attributes:
        width_px: Image width.
        height_px: Image height.
        duration: The time at the right edge of the plot area (seconds).
        x0_px: Column of time 0 (the left edge of the plot area).
        x1_px: Column of time ``duration`` (its right edge).
        wave_rows: ``(top, bottom)`` rows of the waveform area.
        lane_rows: ``(top, bottom)`` rows of each speaker lane.
        bar_rows: ``(top, bottom)`` rows of each lane's turn bars.
        word_rows: ``(top, bottom)`` rows of each lane's words.
        words_shown: The words drawn in each lane (after thinning).
    """

    width_px: int
    height_px: int
    duration: float
    x0_px: float
    x1_px: float
    wave_rows: Tuple[float, float]
    lane_rows: List[Tuple[float, float]]
    bar_rows: List[Tuple[float, float]]
    word_rows: List[Tuple[float, float]]
    words_shown: List[List[Word]]

    def x_px(self, t: float) -> float:
        """Column of time ``t`` (seconds)."""
        return self.x0_px + (self.x1_px - self.x0_px) * t / self.duration


def _thin_words(words: Sequence[Word], px_per_s: float,
                max_words: Optional[int]) -> List[Word]:
    """Drop words whose text would collide with the previous drawn one, then keep an
    evenly spread ``max_words`` of the rest (module docstring)."""
    if max_words is not None and max_words <= 0:
        return []
    char_px = CHAR_WIDTH_EM * WORD_FONTSIZE * DPI / 72.0
    kept, right = [], -np.inf
    for w in sorted(words, key=lambda w: (w.start, w.end)):
        centre = (w.start + w.end) / 2 * px_per_s
        half = len(w.text) * char_px / 2
        if centre - half >= right + WORD_GAP_PX:
            kept.append(w)
            right = centre + half
    if max_words is not None and len(kept) > max_words:
        idx = np.unique(np.round(np.linspace(0, len(kept) - 1, max_words)).astype(int))
        kept = [kept[i] for i in idx]
    return kept


def _duration(result: EchoResult, speech, fs: int) -> float:
    if result.duration > 0:
        return float(result.duration)
    if speech is not None and len(speech):
        return len(speech) / fs
    ends = [e for _, e, _ in result.segments]
    ends += [w.end for ws in (result.words or []) for w in ws]
    return float(max(ends)) if ends and max(ends) > 0 else 1.0


# -------------------------------------------------------------------- plot
def plot_timeline(
    result: EchoResult,
    out_png: PathLike,
    envelope: Optional[np.ndarray] = None,
    speech: Optional[np.ndarray] = None,
    fs: Optional[int] = None,
    max_words: Optional[int] = 100,
    return_geometry: bool = False,
) -> Union[Path, Tuple[Path, TimelineGeometry]]:
    """Write the timeline picture of ``result`` (layout: module docstring) atomically.

    Args:
        result: The recording's result (only read).
        out_png: Output ``.png`` (parent directories are created).
        envelope: ``(n_bins, 2)`` ``(min, max)`` per bin, bins spanning the
            recording's ``duration`` evenly (:class:`EnvelopeAccumulator`); NaN bins
            are left blank.
        speech: The 1-D samples instead of ``envelope`` (binned to the plot width).
        fs: Sample rate of ``speech`` (default ``result.fs``); only used for the
            duration when ``result.duration`` is 0.
        max_words: Most words drawn per lane after collision thinning; None for no
            cap, 0 for no words.
        return_geometry: Also return the :class:`TimelineGeometry`.

    Returns:
        ``out_png`` as a Path, or ``(path, geometry)`` with ``return_geometry``.

    Raises:
        ValueError: both ``envelope`` and ``speech``, an ``envelope`` not of shape
            ``(n_bins, 2)``, or a ``speech`` that is not 1-D.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    out_png = Path(out_png)
    if envelope is not None and speech is not None:
        raise ValueError(f"{out_png}: give envelope or speech, not both")
    if envelope is not None:
        envelope = np.asarray(envelope, dtype=np.float64)
        if envelope.ndim != 2 or envelope.shape[1] != 2 or len(envelope) == 0:
            raise ValueError(f"{out_png}: envelope must have shape (n_bins, 2) of "
                             f"(min, max), got {envelope.shape}")
    if speech is not None:
        speech = np.asarray(speech)
        if speech.ndim != 1:
            raise ValueError(f"{out_png}: speech must be 1-D mono samples, got shape "
                             f"{speech.shape}")
    fs = int(fs or result.fs)
    duration = _duration(result, speech, fs)

    words = result.words or []
    n_spk = max([result.num_spk, len(words)] + [k + 1 for _, _, k in result.segments])
    n_lanes = max(n_spk, 1)
    width_in = figure_width(duration)
    height_in = round((TOP_IN + WAVE_IN + GAP_IN + n_lanes * LANE_IN + BOTTOM_IN) * DPI) / DPI
    fig = Figure(figsize=(width_in, height_in), dpi=DPI, facecolor="white")

    def rect(bottom_in, h_in):
        return [LEFT_IN / width_in, bottom_in / height_in,
                (width_in - LEFT_IN - RIGHT_IN) / width_in, h_in / height_in]

    lanes_h = n_lanes * LANE_IN
    ax_lane = fig.add_axes(rect(BOTTOM_IN, lanes_h))
    ax_wave = fig.add_axes(rect(BOTTOM_IN + lanes_h + GAP_IN, WAVE_IN), sharex=ax_lane)
    ax_lane.set_xlim(0, duration)
    ax_lane.set_ylim(n_lanes, 0)
    axes_w_px = (width_in - LEFT_IN - RIGHT_IN) * DPI
    px_per_s = axes_w_px / duration

    # waveform
    ax_wave.set_title(result.name, fontsize=11, loc="left")
    ax_wave.tick_params(labelbottom=False, labelsize=7)
    if speech is not None and len(speech):
        env, span = waveform_envelope(speech, max(round(axes_w_px), 1)), len(speech) / fs
    else:
        env, span = envelope, duration
    if env is not None:
        x = (np.arange(len(env)) + 0.5) * span / len(env)
        lo, hi = np.ma.masked_invalid(env[:, 0]), np.ma.masked_invalid(env[:, 1])
        ax_wave.fill_between(x, lo, hi, color=WAVE_COLOR, linewidth=0.6,
                             edgecolor=WAVE_COLOR)
        peak = np.nanmax(np.abs(env)) if np.isfinite(env).any() else 0.0
        peak = peak if peak > 0 else 1.0
        ax_wave.set_ylim(-1.05 * peak, 1.05 * peak)
    else:
        ax_wave.set_ylim(-1, 1)
        ax_wave.set_yticks([])
        ax_wave.text(0.5, 0.5, "no waveform", transform=ax_wave.transAxes, ha="center",
                     va="center", fontsize=9, color="0.5")
    ax_wave.set_ylabel("waveform", fontsize=8)

    # lanes
    for k in range(1, n_lanes):
        ax_lane.axhline(k, color="0.85", linewidth=0.8)
    shown: List[List[Word]] = [[] for _ in range(n_lanes)]
    labels = []
    for k in range(n_spk):
        color = speaker_color(k)
        turns = [(s, e - s) for s, e, spk in result.segments if spk == k and e > s]
        if turns:
            ax_lane.broken_barh(turns, (k + BAR_BAND[0], BAR_BAND[1] - BAR_BAND[0]),
                                facecolors=[color], edgecolor="none", linewidth=0,
                                antialiased=False)
        lane_words = words[k] if k < len(words) else []
        shown[k] = _thin_words(lane_words, px_per_s, max_words)
        y = k + (WORD_BAND[0] + WORD_BAND[1]) / 2
        for w in shown[k]:
            ax_lane.text((w.start + w.end) / 2, y, w.text, ha="center", va="center",
                         fontsize=WORD_FONTSIZE, color=WORD_COLOR, clip_on=True)
        label = speaker_label(k)
        if len(shown[k]) < len(lane_words):
            label += f"\n{len(shown[k])} of {len(lane_words)} words"
        labels.append(label)
    ax_lane.set_yticks([k + 0.5 for k in range(n_spk)], labels, fontsize=8)
    for k, tick in enumerate(ax_lane.get_yticklabels()):
        tick.set_color(speaker_color(k))
        tick.set_fontweight("bold")
    if n_spk == 0:
        ax_lane.text(0.5, 0.5, "no speakers", transform=ax_lane.transAxes, ha="center",
                     va="center", fontsize=9, color="0.5")

    # time axis
    mmss = duration >= MMSS_FROM_S
    ax_lane.xaxis.set_major_locator(MultipleLocator(_tick_step(duration,
                                                               int(width_in * 1.2))))
    ax_lane.xaxis.set_major_formatter(FuncFormatter(lambda t, _: format_time(t, mmss)))
    ax_lane.tick_params(axis="x", labelsize=8)
    ax_lane.set_xlabel("time (m:ss)" if mmss else "time (s)", fontsize=8)
    for ax in (ax_wave, ax_lane):
        ax.grid(axis="x", color="0.9", linewidth=0.6)
        ax.set_axisbelow(True)

    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, facecolor="white")
    if not return_geometry:
        return out_png

    width_px, height_px = int(round(width_in * DPI)), int(round(height_in * DPI))

    def rows(ax, y0, y1):  # data y (lanes are drawn top-down) -> image rows
        _, a = ax.transData.transform((0, y0))
        _, b = ax.transData.transform((0, y1))
        return (height_px - max(a, b), height_px - min(a, b))

    x0, _ = ax_lane.transData.transform((0, 0))
    x1, _ = ax_lane.transData.transform((duration, 0))
    geometry = TimelineGeometry(
        width_px=width_px,
        height_px=height_px,
        duration=duration,
        x0_px=float(x0),
        x1_px=float(x1),
        wave_rows=rows(ax_wave, *ax_wave.get_ylim()),
        lane_rows=[rows(ax_lane, k, k + 1) for k in range(n_lanes)],
        bar_rows=[rows(ax_lane, k + BAR_BAND[0], k + BAR_BAND[1]) for k in range(n_lanes)],
        word_rows=[rows(ax_lane, k + WORD_BAND[0], k + WORD_BAND[1])
                   for k in range(n_lanes)],
        words_shown=shown,
    )
    return out_png, geometry
