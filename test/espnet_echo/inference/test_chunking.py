# Copyright 2026 espnet-echo developers
#  Apache 2.0
import numpy as np
import pytest

from espnet_echo.inference.chunking import chunk_starts, link_slots, stitch_frames


def test_chunk_starts():
    assert chunk_starts(100, 40, 20, 10) == [0, 20, 40, 60]
    assert chunk_starts(105, 40, 20, 10) == [0, 20, 40, 60, 70]  # last one ends at 105
    assert chunk_starts(40, 40, 20, 10) == [0]
    for bad in ((40, 40), (40, 0), (45, 20), (40, 25)):
        with pytest.raises(ValueError, match="whole frames"):
            chunk_starts(100, *bad, 10)


def slices(full, starts, length):
    return [full[s:s + length] for s in starts]


def test_stitch_takes_each_frame_from_the_chunk_where_it_is_most_central():
    full = np.arange(23)
    starts = [0, 5, 10, 13]
    chunks = [c * 0 + i for i, c in enumerate(slices(full, starts, 10))]
    out = stitch_frames(chunks, starts)
    # centres 4.5, 9.5, 14.5, 17.5; midpoints 7, 12, 16 go to the earlier chunk
    assert out.tolist() == [0] * 8 + [1] * 5 + [2] * 4 + [3] * 6
    np.testing.assert_array_equal(stitch_frames(slices(full, starts, 10), starts), full)
    with pytest.raises(ValueError, match="overlap or touch"):
        stitch_frames([full[:5], full[:5]], [0, 7])


def test_link_slots_undoes_a_permutation_of_every_chunk():
    rng = np.random.default_rng(0)
    t, s = 60, 3
    full = np.zeros((t, s))
    for k, (a, b) in enumerate([(0, 25), (20, 45), (40, 60)]):
        full[a:b, k] = 0.9
    full += rng.uniform(0, 0.1, full.shape)
    starts = [0, 10, 20, 30, 40]
    perms = [np.array(p) for p in ([0, 1, 2], [2, 0, 1], [1, 2, 0], [0, 2, 1], [2, 1, 0])]
    chunks = [c[:, p] for c, p in zip(slices(full, starts, 20), perms)]
    linked = link_slots(chunks, starts)
    np.testing.assert_allclose(stitch_frames(linked, starts), full)
    # without linking the stitched slots are mixed up
    assert not np.allclose(stitch_frames(chunks, starts), full)


def test_frame_stitcher_equals_stitch_frames_and_owned_ranges_partition():
    from espnet_echo.inference.chunking import FrameStitcher, owned_ranges

    rng = np.random.RandomState(0)
    offsets, lengths = [0, 50, 100, 150, 187], [100, 100, 100, 100, 63]
    arrays = [rng.randn(n, 3).astype(np.float32) for n in lengths]
    st = FrameStitcher(400)
    for off, arr in zip(offsets, arrays):
        st.add(off, arr)
    np.testing.assert_array_equal(st.finish(), stitch_frames(arrays, offsets))
    ranges = owned_ranges(offsets, lengths)
    assert ranges[0][0] == 0 and ranges[-1][1] == 250
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))


def test_overlap_add_streams_tracks_with_crossfades():
    from espnet_echo.inference.chunking import OverlapAdd

    total, chunk, hop = 1000, 400, 200
    truth = np.random.RandomState(1).randn(2, total)
    blocks = []
    ola = OverlapAdd(2, total, blocks.append)
    for start in range(0, total - chunk + hop, hop):
        ola.add(start, truth[:, start:start + chunk])
        assert sum(b.shape[1] for b in blocks) <= start  # only finished samples out
    ola.close()
    out = np.concatenate(blocks, axis=1)
    np.testing.assert_allclose(out, truth, atol=1e-6)  # consistent chunks: exact
    # inconsistent chunks cross-fade: halfway through an overlap, the mean of the two
    blocks.clear()
    ola = OverlapAdd(1, 600, blocks.append)
    ola.add(0, np.zeros((1, 400)))
    ola.add(200, np.ones((1, 400)))
    ola.close()
    out = np.concatenate(blocks, axis=1)[0]
    assert out[100] == 0 and out[500] == 1 and 0.4 < out[300] < 0.6
    with pytest.raises(ValueError, match="after samples up to"):
        ola.add(0, np.zeros((1, 10)))
