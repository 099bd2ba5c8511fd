import numpy as np
import pytest

from espnet_echo.inference.attribution import (
    activity_similarity,
    exclusive_activity,
    frame_envelope,
    match_slots,
    tokens_to_words,
    word_starts,
)


def test_frame_envelope_is_the_rms_per_frame():
    src = np.zeros((2, 10))
    src[0, :4] = 2.0
    src[1, 4:8] = -1.0
    env = frame_envelope(src, 4, 3)
    np.testing.assert_allclose(env, [[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    assert frame_envelope(src, 4, 4).shape == (4, 2)  # frames past N are zero


def test_match_slots_follows_activity_overlap():
    t = 40
    spk = np.zeros((t, 3))
    spk[:20, 0], spk[15:, 1] = 1, 1  # speaker 2 silent in this window
    slots = np.zeros((t, 3))
    slots[20:, 0] = 0.9  # slot 0 talks when speaker 1 does
    slots[:18, 2] = 0.5  # slot 2 when speaker 0 does
    slots[:, 1] = 0.01  # slot 1: a null slot
    assert match_slots(slots, spk).tolist() == [2, 0, -1]
    # more active speakers than slots: the least active speaker gets none
    spk3 = np.zeros((t, 3))
    spk3[:30, 0], spk3[10:, 1], spk3[:5, 2] = 1, 1, 1
    assert match_slots(slots[:, [0, 2]], spk3).tolist() == [1, 0, -1]
    assert match_slots(slots, np.zeros((t, 0))).tolist() == []
    sim = activity_similarity(slots, spk)
    assert sim.shape == (3, 3) and np.all(sim[:, 2] == 0) and sim[0, 1] > 0.85
    with pytest.raises(ValueError, match="same frames"):
        activity_similarity(slots[:5], spk)


def test_exclusive_activity_keeps_the_higher_score():
    act = np.array([[1, 1], [1, 0], [0, 0], [1, 1]])
    score = np.array([[0.9, 0.6], [0.8, 0.1], [0.0, 0.0], [0.55, 0.7]])
    assert exclusive_activity(act, score).tolist() == [[1, 0], [1, 0], [0, 0], [0, 1]]


def test_words_from_bpe_and_char_tokens_with_ctc_times():
    assert word_starts("bpe", ["▁AND", "▁ES", "AU"]) == [True, True, False]
    words = tokens_to_words(["▁AND", "▁ES", "AU"], [3, 10, 12], "bpe",
                            lambda t: "".join(t).replace("▁", " "), 0.04, offset_s=1.0)
    assert [w.text for w in words] == ["AND", "ESAU"]
    assert words[1].start == pytest.approx(1.4) and words[1].end == pytest.approx(1.52)
    chars = ["A", "N", "D", "<space>", "Y", "E"]
    words = tokens_to_words(chars, list(range(6)), "char",
                            lambda t: "".join(t).replace("<space>", " "), 0.1)
    assert [(w.text, w.start) for w in words] == [("AND", 0.0), ("YE", 0.4)]
    with pytest.raises(ValueError, match="2 tokens but 1 token frames"):
        tokens_to_words(["A", "B"], [0], "word", " ".join, 0.1)
