# Copyright 2026 espnet-echo developers
#  Apache 2.0
import pytest
from pyannote.core import Annotation, Segment

from espnet_echo.metrics.der import compute_der, compute_der_collars, read_rttm, write_rttm
from espnet_echo.utils.fileio import DataFileError


def _ann(uri, turns):
    ann = Annotation(uri=uri)
    for i, (start, end, label) in enumerate(turns):
        ann[Segment(start, end), str(i)] = label
    return ann


# ref: a [0,4], b [3,6] (1 s overlap); hyp: x [0,4.5], y [4.5,6] + [7,8].
# Mapping x->a, y->b.  [3,4]: 2 ref speakers, 1 hyp -> 1 s missed; [4,4.5]: b labelled a ->
# 0.5 s confusion; [7,8]: 1 s false alarm.  Reference speaker time 4 + 3 = 7 s.
REF = _ann("u", [(0, 4, "a"), (3, 6, "b")])
HYP = _ann("u", [(0, 4.5, "x"), (4.5, 6, "y"), (7, 8, "y")])


def test_der_known_components_with_overlap():
    r = compute_der({"u": REF}, {"u": HYP}, {"u": 10.0}, collar=0.0)
    assert r.scored_speech_s == pytest.approx(7.0)
    assert r.missed_s == pytest.approx(1.0)
    assert r.false_alarm_s == pytest.approx(1.0)
    assert r.confusion_s == pytest.approx(0.5)
    assert r.der == pytest.approx(100 * 2.5 / 7)
    assert r.missed == pytest.approx(100 / 7)
    assert r.confusion == pytest.approx(50 / 7)
    assert r.num_utts == 1 and r.num_utts_missing == 0


def test_der_collar_is_per_side():
    # collar 0.25 s on each side of boundaries 0, 3, 4, 6 leaves scored:
    # [0.25,2.75] [3.25,3.75] [4.25,5.75] [6.25,10]
    # ref time a: 2.5 + 0.5, b: 0.5 + 1.5 -> 5 s; missed [3.25,3.75] = 0.5,
    # confusion [4.25,4.5] = 0.25, false alarm [7,8] = 1.
    r = compute_der({"u": REF}, {"u": HYP}, {"u": 10.0}, collar=0.25)
    assert r.collar == 0.25
    assert r.scored_speech_s == pytest.approx(5.0)
    assert r.missed_s == pytest.approx(0.5)
    assert r.confusion_s == pytest.approx(0.25)
    assert r.false_alarm_s == pytest.approx(1.0)
    assert r.der == pytest.approx(35.0)
    r0, r25 = compute_der_collars({"u": REF}, {"u": HYP}, {"u": 10.0}, (0.0, 0.25))
    assert (r0.collar, r25.der) == (0.0, pytest.approx(35.0))


def test_der_global_weighting_and_missing_utt():
    refs = {"long": _ann("long", [(0, 10, "a")]), "short": _ann("short", [(0, 1, "a")])}
    hyps = {"long": _ann("long", [(0, 10, "z")])}
    r = compute_der(refs, hyps, {"long": 10.0, "short": 1.0})
    # 1 s missed over 11 s, not the mean of per-file DERs (0 % and 100 %)
    assert r.der == pytest.approx(100 / 11)
    assert r.missed_s == pytest.approx(1.0)
    assert r.num_utts == 2 and r.num_utts_missing == 1
    # an empty hypothesis is legal and scores the same as a missing one
    hyps2 = {**hyps, "short": Annotation(uri="short")}
    r2 = compute_der(refs, hyps2, {"long": 10.0, "short": 1.0})
    assert r2.der == pytest.approx(r.der) and r2.num_utts_missing == 0


def test_der_uem_counts_false_alarm_in_silence_and_crops_outside():
    refs = {"u": _ann("u", [(0, 1, "a")])}
    hyps = {"u": _ann("u", [(0, 1, "a"), (2, 3, "a"), (5, 9, "a")])}
    r = compute_der(refs, hyps, {"u": 6.0})  # hyp beyond 6 s is outside the recording
    assert r.false_alarm_s == pytest.approx(2.0)


def test_der_duplicate_hyp_turns_not_double_counted():
    refs = {"u": _ann("u", [(0, 2, "a")])}
    hyps = {"u": _ann("u", [(0, 2, "x"), (1, 2, "x")])}
    assert compute_der(refs, hyps, {"u": 2.0}).der == pytest.approx(0.0)


def test_der_unknown_hyp_utt():
    with pytest.raises(ValueError, match="not in the reference"):
        compute_der({"u": REF}, {"v": HYP})


def test_rttm_roundtrip(tmp_path):
    path = tmp_path / "rttm"
    write_rttm(path, {"u": REF, "e": Annotation(uri="e")})
    lines = path.read_text().splitlines()
    assert lines[0] == "SPEAKER u 1 0.000 4.000 <NA> <NA> a <NA> <NA>"
    back = read_rttm(path)
    assert list(back) == ["u"]  # an empty annotation has no lines
    assert compute_der({"u": REF}, back, {"u": 6.0}).der == pytest.approx(0.0)


@pytest.mark.parametrize(
    "line, match",
    [
        ("SPEAKER u 1 0.0 1.0 <NA> <NA> a", "expected 10 fields"),
        ("SPEAKER u 1 zero 1.0 <NA> <NA> a <NA> <NA>", "must be numbers"),
        ("SPEAKER u 1 0.0 -1.0 <NA> <NA> a <NA> <NA>", ">= 0"),
        ("SPEAKER u 1 0.0 nan <NA> <NA> a <NA> <NA>", "finite"),
        ("SPEEKER u 1 0.0 1.0 <NA> <NA> a <NA> <NA>", "unknown RTTM type"),
        ("SPEAKER zz 1 0.0 1.0 <NA> <NA> a <NA> <NA>", "'zz' is not in the reference"),
    ],
)
def test_rttm_malformed_line_names_file_and_line(tmp_path, line, match):
    path = tmp_path / "rttm"
    path.write_text(
        ";; comment\nSPEAKER u 1 0.0 1.0 <NA> <NA> a <NA> <NA>\n"
        f"SPKR-INFO u 1 <NA> <NA> <NA> unknown a <NA> <NA>\n{line}\n"
    )
    with pytest.raises(DataFileError, match=match) as e:
        read_rttm(path, known_utts={"u"})
    assert f"{path}:4:" in str(e.value)


def test_rttm_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="file not found"):
        read_rttm(tmp_path / "nope")
