# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Long recordings in overlapping chunks: where the chunks go, and how frames are stitched.

The models are trained on mixtures of a few seconds, and one encoder pass over a long
recording needs memory that grows with its length (quadratically in attention). So
``Speech2Echo`` cuts a recording longer than ``chunk_s`` into chunks of ``chunk_s``
every ``chunk_hop_s`` (:func:`chunk_starts`), runs them ``chunk_batch`` at a time, and
stitches the frame-level outputs (:func:`stitch_frames`): each frame is taken from the
chunk whose **centre is nearest** to it (for chunks of one length: the chunk in which
the frame is most central, i.e. farthest from a chunk edge; ties go to the earlier
chunk). Chunk starts are whole encoder frames, so chunk frame ``j`` is recording frame
``start / frame_shift + j`` and the stitched output has as many frames as one pass.

Permutation-free outputs (the speech / overlap-count signals, the speaker head's
frames) are stitched as they are. EEND activity slots are **linked** first
(:func:`link_slots`): the slots of chunk ``i`` are permuted to match the (already
linked) slots of chunk ``i - 1`` by the exact assignment of
:func:`espnet_echo.layers.pit.pit_assign`, with the cost of a pair of slots being their
mean absolute posterior difference over the frames the two chunks share. So EEND
still gives at most ``num_spk`` speakers over the whole recording, and a speaker silent
in an overlap region is linked only by elimination.

``Speech2Echo`` applies both rules as the chunks come (:class:`FrameStitcher`,
:func:`link_to_previous`), holding one pending chunk instead of all of them;
:func:`stitch_frames` and :func:`link_slots` are the same rules over a list of chunks
(the reference the streaming forms are tested against). Separated tracks are stitched
by :class:`OverlapAdd`, and per-chunk results that are not frames (words) are kept from
the chunk :func:`owned_ranges` gives their frame to.
"""

from typing import Callable, List, Sequence

import numpy as np
import torch

from espnet_echo.layers.pit import pit_assign


def chunk_starts(num_samples: int, chunk: int, hop: int, frame_shift: int) -> List[int]:
    """Sample offsets of the chunks of a recording.

    Chunks of ``chunk`` samples every ``hop`` samples from 0 while they end before the
    recording does, then one last chunk from the first whole frame at or after
    ``num_samples - chunk`` to the end (at most ``chunk`` samples, more than
    ``chunk - frame_shift``).

    Args:
        num_samples: Recording length N (samples).
        chunk: Chunk length (samples), a multiple of ``frame_shift``.
        hop: Hop (samples), a multiple of ``frame_shift``, ``0 < hop < chunk``.
        frame_shift: Samples per encoder frame.

    Returns:
        Increasing offsets, multiples of ``frame_shift``; ``[0]`` when N <= chunk.

    Raises:
        ValueError: ``hop`` or ``chunk`` not whole frames, or not ``0 < hop < chunk``.
    """
    if chunk % frame_shift or hop % frame_shift or not 0 < hop < chunk:
        raise ValueError(
            f"need chunk and hop in whole frames of {frame_shift} samples and "
            f"0 < hop < chunk, got chunk={chunk}, hop={hop}"
        )
    if num_samples <= chunk:
        return [0]
    starts = list(range(0, num_samples - chunk, hop))
    starts.append(-(-(num_samples - chunk) // frame_shift) * frame_shift)
    return starts


def _check(arrays: Sequence[np.ndarray], offsets: Sequence[int]) -> None:
    if len(arrays) != len(offsets) or not arrays:
        raise ValueError(f"need one offset per chunk, got {len(arrays)}, {len(offsets)}")
    if any(b <= a for a, b in zip(offsets, offsets[1:])):
        raise ValueError(f"chunk offsets must increase, got {list(offsets)}")
    ends = [o + len(a) for o, a in zip(offsets, arrays)]
    if any(b > e for e, b in zip(ends, offsets[1:])):
        raise ValueError(f"consecutive chunks must overlap or touch: {list(offsets)}")


def stitch_frames(arrays: Sequence[np.ndarray], offsets: Sequence[int]) -> np.ndarray:
    """Stitch per-chunk frame outputs: each frame from the chunk of nearest centre.

    Args:
        arrays: Chunk outputs (T_i, ...) (valid frames only), of one trailing shape.
        offsets: Recording frame of each chunk's first frame, increasing.

    Returns:
        (T, ...) with ``T = offsets[-1] + T_last``.

    Raises:
        ValueError: offsets not increasing, or a gap between consecutive chunks.
    """
    ranges = owned_ranges(offsets, [len(a) for a in arrays])
    out = np.empty((ranges[-1][1],) + arrays[0].shape[1:], dtype=arrays[0].dtype)
    for arr, off, (begin, end) in zip(arrays, offsets, ranges):
        out[begin:end] = arr[begin - off:end - off]
    return out


def link_slots(arrays: List[np.ndarray], offsets: Sequence[int]) -> List[np.ndarray]:
    """Permute the activity slots of each chunk to match the previous chunk's.

    Args:
        arrays: Activity posteriors per chunk (T_i, S).
        offsets: Recording frame of each chunk's first frame, increasing.

    Returns:
        The chunks with their slots reordered (the first chunk unchanged).

    Raises:
        ValueError: see :func:`stitch_frames`.
    """
    _check(arrays, offsets)
    out = [arrays[0]]
    for i in range(1, len(arrays)):
        out.append(link_to_previous(out[-1], offsets[i - 1], arrays[i], offsets[i]))
    return out


def owned_ranges(offsets: Sequence[int], lengths: Sequence[int]) -> List[tuple]:
    """The frames each chunk contributes under the nearest-centre rule.

    The same split as :func:`stitch_frames`, computed from the chunk offsets and
    lengths alone, so that a long recording can be stitched chunk by chunk (each chunk
    writes its own range and is dropped) and per-chunk outputs that are not frames
    (the words of a transcript) can be kept from one chunk only.

    Args:
        offsets: Recording frame of each chunk's first frame, increasing.
        lengths: Valid frames of each chunk.

    Returns:
        ``[(begin, end), ...]`` recording frames per chunk, consecutive, covering
        ``[0, offsets[-1] + lengths[-1])`` (a range may be empty).

    Raises:
        ValueError: see :func:`stitch_frames`.
    """
    _check([np.empty(n) for n in lengths], offsets)
    total = offsets[-1] + lengths[-1]
    centres = [o + (n - 1) / 2.0 for o, n in zip(offsets, lengths)]
    out, begin = [], 0
    for i, (off, n) in enumerate(zip(offsets, lengths)):
        end = total if i + 1 == len(offsets) else int(
            np.floor((centres[i] + centres[i + 1]) / 2)) + 1
        end = max(begin, min(end, off + n))
        out.append((begin, end))
        begin = end
    if begin != total:
        raise ValueError(f"chunks do not cover frames {begin}..{total}")
    return out


def link_to_previous(prev: np.ndarray, prev_offset: int, cur: np.ndarray,
                     offset: int) -> np.ndarray:
    """One step of :func:`link_slots`: ``cur``'s slots permuted to match ``prev``'s.

    Args:
        prev: The previous chunk's (already linked) activity (T_p, S).
        prev_offset: Its first recording frame.
        cur: This chunk's activity (T_c, S).
        offset: Its first recording frame.

    Returns:
        ``cur`` with its slots reordered (unchanged when the chunks share no frame).
    """
    lo, hi = offset, min(prev_offset + len(prev), offset + len(cur))
    if hi <= lo:
        return cur
    a = prev[lo - prev_offset:hi - prev_offset]
    b = cur[lo - offset:hi - offset]
    cost = np.abs(b[:, :, None] - a[:, None, :]).mean(0)
    perm = pit_assign(torch.from_numpy(cost)[None])[0].numpy()
    return cur[:, perm]


class OverlapAdd:
    """Stitch per-chunk tracks into whole-recording tracks, streaming.

    Chunk ``i``'s track ``k`` is weighted by a triangular window (peak at the chunk's
    centre, never zero: ``1e-3`` at its ends) and added; each output sample is the
    weighted sum over the chunks covering it divided by the sum of their weights (so a
    sample covered by one chunk is that chunk's sample). Chunks must come in increasing
    order of start; samples before a chunk's start are final and are handed to
    ``sink(block (K, n))`` as soon as they are, so memory holds about one chunk.

    Args:
        num_tracks: K.
        total: Recording length N in samples.
        sink: Receives consecutive blocks (K, n) float32 covering ``[0, N)`` in order.
    """

    def __init__(self, num_tracks: int, total: int, sink: Callable):
        self.k = num_tracks
        self.total = total
        self.sink = sink
        self.pos = 0  # first sample not yet handed to the sink
        self.acc = np.zeros((num_tracks, 0), dtype=np.float64)
        self.wsum = np.zeros(0, dtype=np.float64)

    @staticmethod
    def window(n: int) -> np.ndarray:
        """Triangular crossfade weights of a chunk of ``n`` samples."""
        i = np.arange(n, dtype=np.float64)
        return np.maximum(np.minimum(i + 1, n - i) / max(n / 2.0, 1.0), 1e-3)

    def add(self, start: int, tracks: np.ndarray) -> None:
        """Add chunk tracks (K, n) starting at sample ``start`` (>= the last start)."""
        if start < self.pos:
            raise ValueError(f"chunk at sample {start} after samples up to {self.pos} "
                             "were written")
        self.flush(start)
        n = min(tracks.shape[1], self.total - start)
        need = start + n - self.pos
        if need > self.wsum.size:
            grow = need - self.wsum.size
            self.acc = np.concatenate([self.acc, np.zeros((self.k, grow))], axis=1)
            self.wsum = np.concatenate([self.wsum, np.zeros(grow)])
        w = self.window(tracks.shape[1])[:n]
        lo = start - self.pos
        self.acc[:, lo:lo + n] += tracks[:, :n] * w
        self.wsum[lo:lo + n] += w

    def flush(self, until: int) -> None:
        """Hand samples ``[pos, until)`` to the sink (zeros where no chunk covered)."""
        n = until - self.pos
        if n <= 0:
            return
        have = min(n, self.wsum.size)
        block = np.zeros((self.k, n), dtype=np.float32)
        if have:
            w = self.wsum[:have]
            block[:, :have] = np.where(w > 0, self.acc[:, :have] / np.maximum(w, 1e-12), 0)
            self.acc = self.acc[:, have:]
            self.wsum = self.wsum[have:]
        self.sink(block)
        self.pos = until

    def close(self) -> None:
        """Hand over the rest, up to the recording's end."""
        self.flush(self.total)


class FrameStitcher:
    """:func:`stitch_frames`, chunk by chunk: each chunk's frames are cut to the part
    the nearest-centre rule gives it as soon as the next chunk's extent is known, so
    only the stitched output and one pending chunk are held.

    Args:
        max_frames: Upper bound of the stitched length (the output is trimmed).
        dtype: Storage dtype of the output (e.g. float16 for speaker frames).
    """

    def __init__(self, max_frames: int, dtype=np.float32):
        self.max_frames = max_frames
        self.dtype = dtype
        self.out = None
        self.pending = None  # (offset, array)
        self.begin = 0
        self.last_offset = -1

    def add(self, offset: int, arr: np.ndarray) -> None:
        """Add the next chunk's frames (T_i, ...) starting at recording frame ``offset``."""
        if offset <= self.last_offset:
            raise ValueError(f"chunk offsets must increase, got {offset} after "
                             f"{self.last_offset}")
        if self.out is None:
            self.out = np.zeros((self.max_frames,) + arr.shape[1:], dtype=self.dtype)
        if self.pending is not None:
            off, prev = self.pending
            if offset > off + len(prev):
                raise ValueError(f"consecutive chunks must overlap or touch: {off}, {offset}")
            c_prev, c_cur = off + (len(prev) - 1) / 2.0, offset + (len(arr) - 1) / 2.0
            end = int(np.floor((c_prev + c_cur) / 2)) + 1
            self._write(off, prev, max(self.begin, min(end, off + len(prev))))
        self.pending = (offset, arr)
        self.last_offset = offset

    def _write(self, off: int, arr: np.ndarray, end: int) -> None:
        if end > self.max_frames:
            raise ValueError(f"stitched frames exceed the bound {self.max_frames}")
        self.out[self.begin:end] = arr[self.begin - off:end - off]
        self.begin = end

    def finish(self) -> np.ndarray:
        """The stitched frames (T, ...), T = last offset + last length."""
        if self.pending is None:
            raise ValueError("no chunk was added")
        off, arr = self.pending
        self._write(off, arr, off + len(arr))
        self.pending = None
        return self.out[: self.begin]
