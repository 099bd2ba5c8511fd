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
"""

from typing import List, Sequence

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
    _check(arrays, offsets)
    total = offsets[-1] + len(arrays[-1])
    centres = np.array([o + (len(a) - 1) / 2.0 for o, a in zip(offsets, arrays)])
    out = np.empty((total,) + arrays[0].shape[1:], dtype=arrays[0].dtype)
    begin = 0
    for i, (arr, off) in enumerate(zip(arrays, offsets)):
        # frames up to the midpoint of two centres go to the earlier chunk
        if i + 1 == len(arrays):
            end = total
        else:
            end = int(np.floor((centres[i] + centres[i + 1]) / 2)) + 1
        end = max(begin, min(end, off + len(arr)))
        out[begin:end] = arr[begin - off:end - off]
        begin = end
    if begin != total:
        raise ValueError(f"chunks do not cover frames {begin}..{total}")
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
        prev, cur = out[-1], arrays[i]
        lo, hi = offsets[i], min(offsets[i - 1] + len(prev), offsets[i] + len(cur))
        if hi <= lo:  # no shared frame: keep the slot order
            out.append(cur)
            continue
        a = prev[lo - offsets[i - 1]:hi - offsets[i - 1]]  # (F, S) reference slots
        b = cur[lo - offsets[i]:hi - offsets[i]]  # (F, S) slots to assign
        cost = np.abs(b[:, :, None] - a[:, None, :]).mean(0)  # (slot of b, slot of a)
        perm = pit_assign(torch.from_numpy(cost)[None])[0].numpy()
        out.append(cur[:, perm])
    return out
