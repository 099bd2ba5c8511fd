import pytest
import torch

from espnet_echo.unified.references import (
    REFERENCE_KINDS,
    BatchContext,
    data_names_of,
    frame_labels,
    pad_slots,
    reference_kind,
)


def test_frame_labels_hand_case():
    # 2 utterances, 10 samples, frame_shift 4 -> 3 frames
    sample = torch.zeros(2, 10, 2)
    sample[0, 0:3, 0] = 1  # 3/4 of frame 0 -> active
    sample[0, 4:6, 1] = 1  # 2/4 of frame 1 -> tie, not a majority
    sample[0, 8:10, 1] = 1  # frame 2 has 2 valid samples, both active -> active
    sample[1, :, 0] = 1  # active everywhere, but only 5 valid samples
    out = frame_labels(sample, torch.tensor([10, 5]), num_frames=4, frame_shift=4)
    expected = torch.zeros(2, 4, 2)
    expected[0, 0, 0] = 1
    expected[0, 2, 1] = 1
    expected[1, 0, 0] = 1  # frame 1 of utt 1 has 1 valid sample (active) -> active
    expected[1, 1, 0] = 1
    assert out.shape == (2, 4, 2)
    assert torch.equal(out, expected)
    # fewer frames than samples cover: truncation
    assert frame_labels(sample, torch.tensor([10, 5]), 1, 4).shape == (2, 1, 2)


def test_frame_labels_bad_inputs():
    with pytest.raises(ValueError, match=r"\(B, N, S\)"):
        frame_labels(torch.zeros(2, 10), torch.tensor([10, 10]), 3, 4)
    with pytest.raises(ValueError, match="frame_shift"):
        frame_labels(torch.zeros(2, 10, 1), torch.tensor([10, 10]), 3, 0)
    with pytest.raises(ValueError, match="speech_lengths"):
        frame_labels(torch.zeros(2, 10, 1), torch.tensor([10]), 3, 4)


def test_pad_slots():
    x = torch.ones(2, 5, 2)
    out = pad_slots(x, 3, "x")
    assert out.shape == (2, 5, 3) and (out[..., 2] == 0).all()
    with pytest.raises(ValueError, match="x: 4 speakers.*num_spk=3 slots"):
        pad_slots(torch.ones(2, 5, 4), 3, "x")


def test_data_names_and_unknown_kind():
    assert data_names_of(("spk_labels",), 3) == ("spk_labels",)
    assert data_names_of(("speech_ref", "num_spk", "num_spk"), 3) == ("speech_ref", "num_spk")
    assert data_names_of(("text",), 2) == ("text_spk1", "text_spk2")
    assert "text_spk1..text_spk2" in reference_kind("text").hint(2)
    for kind in REFERENCE_KINDS.values():
        assert kind.hint(3)  # every kind says what data option to add
    with pytest.raises(ValueError, match="unknown reference kind 'nope'"):
        data_names_of(("nope",), 3)


def test_builders():
    speech = torch.zeros(2, 8)
    ctx = BatchContext(speech=speech, speech_lengths=torch.tensor([8, 6]), num_slots=3,
                       num_frames=2, frame_shift=4)
    labels = torch.zeros(2, 8, 2)
    labels[0, :4, 1] = 1
    out = reference_kind("spk_labels").build({"spk_labels": labels}, ctx)["spk_labels"]
    assert out.shape == (2, 2, 3) and out[0, 0].tolist() == [0, 1, 0]
    ref = torch.arange(2 * 10 * 1.0).view(2, 10, 1)  # longer than the mixture: cut
    out = reference_kind("speech_ref").build({"speech_ref": ref}, ctx)["speech_ref"]
    assert out.shape == (2, 3, 8) and torch.equal(out[:, 0], ref[:, :8, 0])
    out = reference_kind("num_spk").build({"num_spk": torch.tensor([[2], [1]])}, ctx)
    assert out["num_spk"].tolist() == [2, 1] and out["num_spk"].dtype == torch.long
    batch = {
        "text_spk1": torch.tensor([[4, 5], [6, -1]]),
        "text_spk1_lengths": torch.tensor([2, 1]),
        "text_spk2": torch.tensor([[7], [-1]]),
        "text_spk2_lengths": torch.tensor([1, 0]),
        "text_spk3": torch.zeros(2, 0, dtype=torch.long),
        "text_spk3_lengths": torch.tensor([0, 0]),
    }
    out = reference_kind("text").build(batch, ctx)
    assert out["text"].tolist() == [[[4, 5], [7, -1], [-1, -1]], [[6, -1], [-1, -1], [-1, -1]]]
    assert out["text_lengths"].tolist() == [[2, 1, 0], [1, 0, 0]]


def test_spk_ids_are_padded_with_minus_one_to_the_slots():
    ctx = BatchContext(speech=torch.zeros(2, 8), speech_lengths=torch.tensor([8, 6]),
                       num_slots=3, num_frames=2, frame_shift=4)
    kind = reference_kind("spk_ids")
    assert kind.data_names(3) == ("spk_ids",) and "make_spk_ids" in kind.hint(3)
    assert "'spk_ids,spk_ids,text_int'" in kind.hint(3)
    out = kind.build({"spk_ids": torch.tensor([[4, -1], [0, 7]], dtype=torch.int32)}, ctx)
    assert out["spk_ids"].tolist() == [[4, -1, -1], [0, 7, -1]]
    assert out["spk_ids"].dtype == torch.long
    with pytest.raises(ValueError, match=r"spk_ids .*: 4 speakers in a mixture but the "
                                         r"model has num_spk=3"):
        kind.build({"spk_ids": torch.zeros(2, 4, dtype=torch.long)}, ctx)
