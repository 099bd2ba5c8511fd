# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.data.datadir (text files only: the audio is never opened here)."""

from pathlib import Path

import pytest

from espnet_echo.data import load_data_dir
from espnet_echo.utils.fileio import DataFileError

N = 1600
KS = {"dev_mix000000": 1, "dev_mix000001": 3, "dev_mix000002": 2}
SPKS = ["flite-kal", "espeak-en-p40", "espeak-en-r150"]
TEXTS = ["HELLO WORLD", "THE CAT SAT", "A DOG RAN"]


def _write(path: Path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def make_dir(root: Path) -> Path:
    """A complete contract dir; audio paths are never opened by load_data_dir."""
    d = root / "data"
    d.mkdir(parents=True)
    utts = sorted(KS)
    _write(d / "wav.scp", [f"{u} /audio/{u}.wav" for u in utts])
    _write(d / "noise.scp", [f"{u} /audio/{u}-noise.wav" for u in utts])
    for n in range(1, 4):
        listed = [u for u in utts if KS[u] >= n]
        _write(d / f"spk{n}.scp", [f"{u} /audio/{u}-spk{n}.wav" for u in listed])
        _write(d / f"text_spk{n}", [f"{u} {TEXTS[n - 1]}" for u in listed])
    _write(d / "utt2spk", [f"{u} {u}" for u in utts])
    _write(d / "spk2utt", [f"{u} {u}" for u in utts])
    _write(d / "utt2spks", [f"{u} {' '.join(SPKS[:KS[u]])}" for u in utts])
    _write(d / "utt2num_spk", [f"{u} {KS[u]}" for u in utts])
    _write(d / "utt2num_samples", [f"{u} {N}" for u in utts])
    rttm, ertm = [], []
    for u in utts:
        for n in range(KS[u]):
            s = 200 * n
            rttm.append(f"SPEAKER {u} 1 {s / 16000:.4f} 0.0500 <NA> <NA> {SPKS[n]} <NA> <NA>")
            ertm.append(f"SPEAKER {u} 1 {s} {s + 800} <NA> <NA> {SPKS[n]} <NA>")
        ertm.append(f"END {u} <NA> <NA> {N} <NA> <NA> <NA> <NA>")
    _write(d / "rttm", rttm)
    _write(d / "espnet_rttm", ertm)
    return d


def _edit(path: Path, lineno: int, new_line):
    lines = path.read_text(encoding="utf-8").splitlines()
    if new_line is None:
        del lines[lineno - 1]
    else:
        lines[lineno - 1] = new_line
    _write(path, lines)


def test_happy_path(tmp_path):
    d = make_dir(tmp_path)
    dd = load_data_dir(d)
    assert dd.utts == sorted(KS)
    assert dd.num_spk == KS
    assert sorted(dd.spk) == [1, 2, 3] and sorted(dd.text) == [1, 2, 3]
    assert dd.sources("dev_mix000001") == [
        f"/audio/dev_mix000001-spk{n}.wav" for n in (1, 2, 3)
    ]
    assert dd.espnet_rttm["dev_mix000002"].speakers == SPKS[:2]
    assert dd.espnet_rttm["dev_mix000002"].num_samples == N
    assert [s.spk for s in dd.rttm["dev_mix000001"]] == SPKS
    assert dd.where("text_spk2", "dev_mix000002").endswith("text_spk2:2")
    dd.check_complete()


def test_wav_scp_only(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    _write(d / "wav.scp", ["a /x/a.wav", "b /x/b.wav"])
    dd = load_data_dir(d)
    assert dd.spk == {} and dd.rttm is None and dd.num_spk == {}
    with pytest.raises(DataFileError, match=r"wav.scp:1: cannot tell the number of speakers"):
        dd.check_complete()


def test_k_derived_without_utt2num_spk(tmp_path):
    d = make_dir(tmp_path)
    (d / "utt2num_spk").unlink()
    assert load_data_dir(d).num_spk == KS


# (file, line, replacement or None to delete, regex the message must match)
BAD = {
    "rspecifier": (
        "wav.scp",
        2,
        "dev_mix000001 ark:/x/a.ark",
        r"wav.scp:2: 'ark:/x/a.ark' is a Kaldi rspecifier",
    ),
    "output_pipe": ("wav.scp", 1, "dev_mix000000 | sox a.wav", r"wav.scp:1: .* output pipe"),
    "stdin": ("spk1.scp", 1, "dev_mix000000 -", r"spk1.scp:1: '-' \(standard input\)"),
    "spk_columns": ("spk2.scp", 1, "dev_mix000001", r"spk2.scp:1: expected '<key> <value>'"),
    "num_columns": (
        "utt2num_spk",
        3,
        "dev_mix000002 2 2",
        r"utt2num_spk:3: expected 2 columns",
    ),
    "wav_missing": ("wav.scp", None, None, r"wav.scp: file not found"),
    "unknown_text": (
        "text_spk2",
        1,
        "dev_mix000009 HI",
        r"text_spk2:1: utterance id 'dev_mix000009' is not in .*wav.scp",
    ),
    "unknown_noise": ("noise.scp", 3, "nope /n.wav", r"noise.scp:3: utterance id 'nope'"),
    "unknown_spk2utt": (
        "spk2utt",
        1,
        "dev_mix000000 dev_mix000000 zzz",
        r"spk2utt:1: utterance id 'zzz'",
    ),
    "duplicate": ("utt2spks", 2, "dev_mix000000 flite-kal", r"utt2spks:2: duplicate key"),
    "k_not_int": (
        "utt2num_spk",
        1,
        "dev_mix000000 one",
        r"utt2num_spk:1: expected an integer",
    ),
    "k_too_big": (
        "utt2num_spk",
        1,
        "dev_mix000000 7",
        r"utt2num_spk:1: value 7 out of range \[1, 6\]",
    ),
    "k_small_listed": (
        "utt2num_spk",
        2,
        "dev_mix000001 2",
        r"spk3.scp:1: utterance 'dev_mix000001' has K=2 speakers \(.*utt2num_spk:2\) but is "
        r"listed as speaker 3",
    ),
    "k_big_missing": (
        "utt2num_spk",
        3,
        "dev_mix000002 3",
        r"spk3.scp: utterance 'dev_mix000002' is missing; .*utt2num_spk:3 says K=3",
    ),
    "text_missing": (
        "text_spk2",
        2,
        None,
        r"text_spk2: utterance 'dev_mix000002' is missing; .*utt2num_spk:3 says K=2",
    ),
    "utt2spks_count": (
        "utt2spks",
        3,
        "dev_mix000002 flite-kal",
        r"utt2spks:3: 1 speaker ids but .*utt2num_spk:3 gives K=2",
    ),
    "utt2spks_repeat": (
        "utt2spks",
        3,
        "dev_mix000002 flite-kal flite-kal",
        r"utt2spks:3: a speaker id is repeated",
    ),
    "rttm_columns": (
        "rttm",
        1,
        "SPEAKER dev_mix000000 1 0.0 0.05 <NA> <NA>",
        r"rttm:1: expected 10 fields",
    ),
    "rttm_type": (
        "rttm",
        1,
        "SPEEKER dev_mix000000 1 0.0 0.05 <NA> <NA> flite-kal <NA> <NA>",
        r"rttm:1: unknown RTTM type 'SPEEKER'",
    ),
    "rttm_number": (
        "rttm",
        2,
        "SPEAKER dev_mix000001 1 x 0.05 <NA> <NA> flite-kal <NA> <NA>",
        r"rttm:2: <tbeg> and <tdur> must be numbers",
    ),
    "rttm_dur": (
        "rttm",
        2,
        "SPEAKER dev_mix000001 1 0.0 -0.05 <NA> <NA> flite-kal <NA> <NA>",
        r"rttm:2: <tbeg> and <tdur> must be finite and >= 0",
    ),
    "rttm_utt": (
        "rttm",
        2,
        "SPEAKER other 1 0.0 0.05 <NA> <NA> flite-kal <NA> <NA>",
        r"rttm:2: utterance id 'other' is not in",
    ),
    "rttm_spk": (
        "rttm",
        1,
        "SPEAKER dev_mix000000 1 0.0 0.05 <NA> <NA> who <NA> <NA>",
        r"rttm:1: speaker 'who' of 'dev_mix000000' is not in .*utt2spks:1",
    ),
    "rttm_count": (
        "rttm",
        4,
        None,
        r"rttm:2: utterance 'dev_mix000001' has 2 speakers in rttm but .*utt2num_spk:2 gives "
        r"K=3",
    ),
    "ertm_columns": (
        "espnet_rttm",
        1,
        "SPEAKER dev_mix000000 1 0 800 <NA> <NA> flite-kal <NA> <NA>",
        r"espnet_rttm:1: expected 9 space-separated fields",
    ),
    "ertm_tab": (
        "espnet_rttm",
        1,
        "SPEAKER\tdev_mix000000 1 0 800 <NA> <NA> flite-kal <NA>",
        r"espnet_rttm:1: expected 9 space-separated fields",
    ),
    "ertm_type": (
        "espnet_rttm",
        1,
        "SPEAK dev_mix000000 1 0 800 <NA> <NA> flite-kal <NA>",
        r"espnet_rttm:1: type must be SPEAKER or END",
    ),
    "ertm_start": (
        "espnet_rttm",
        1,
        "SPEAKER dev_mix000000 1 900 800 <NA> <NA> flite-kal <NA>",
        r"espnet_rttm:1: need 0 <= start <= end",
    ),
    "ertm_no_end": (
        "espnet_rttm",
        2,
        None,
        r"espnet_rttm: utterance 'dev_mix000000' has no END line",
    ),
    "ertm_end_value": (
        "espnet_rttm",
        2,
        "END dev_mix000000 <NA> <NA> <NA> <NA> <NA> <NA> <NA>",
        r"espnet_rttm:2: END needs the number of samples",
    ),
    "ertm_past_end": (
        "espnet_rttm",
        3,
        "SPEAKER dev_mix000001 1 0 1700 <NA> <NA> flite-kal <NA>",
        r"espnet_rttm:3: turn ends at sample 1700, past the END of 'dev_mix000001' "
        r"\(1600 samples, line 6\)",
    ),
    "ertm_vs_num_samples": (
        "utt2num_samples",
        2,
        "dev_mix000001 1601",
        r"espnet_rttm:6: END of 'dev_mix000001' says 1600 samples but .*utt2num_samples:2 "
        r"says 1601",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_file_and_line(tmp_path, case):
    name, lineno, new_line, pattern = BAD[case]
    d = make_dir(tmp_path)
    if lineno is None:
        (d / name).unlink()
    else:
        _edit(d / name, lineno, new_line)
    with pytest.raises(DataFileError, match=pattern) as err:
        load_data_dir(d)
    assert str(d) in str(err.value)
    assert "\n" not in str(err.value)


def test_speaker_gap_and_index_range(tmp_path):
    d = make_dir(tmp_path)
    (d / "utt2num_spk").unlink()
    _edit(d / "spk1.scp", 2, None)  # dev_mix000001 in spk2/spk3 but not spk1
    pattern = r"spk3.scp:1: utterance 'dev_mix000001' is listed as speaker 3 but missing from"
    with pytest.raises(DataFileError, match=pattern + r" .*spk1.scp"):
        load_data_dir(d)
    d = make_dir(tmp_path / "b")  # make_dir needs a fresh root
    _write(d / "spk7.scp", ["dev_mix000000 /x.wav"])
    with pytest.raises(DataFileError, match=r"spk7.scp: speaker index must be 1..6"):
        load_data_dir(d)


def test_sources_and_texts_disagree_without_utt2num_spk(tmp_path):
    d = make_dir(tmp_path)
    (d / "utt2num_spk").unlink()
    _edit(d / "text_spk3", 1, None)
    pattern = r"text_spk2:1: utterance 'dev_mix000001' has 2 transcripts but 3 sources"
    with pytest.raises(DataFileError, match=pattern):
        load_data_dir(d)


def test_check_complete_names_missing_file(tmp_path):
    d = make_dir(tmp_path)
    _edit(d / "noise.scp", 2, None)
    dd = load_data_dir(d)
    pattern = r"noise.scp: utterance 'dev_mix000001' of .*wav.scp:2 is missing"
    with pytest.raises(DataFileError, match=pattern):
        dd.check_complete()


def test_scp_entry_is_the_rest_of_the_line(tmp_path):
    """As ESPnet's read_2columns_text: a path with spaces, a pipe, an ark offset."""
    d = make_dir(tmp_path)
    _edit(d / "wav.scp", 1, "dev_mix000000 /my audio/a b.wav")
    _edit(d / "wav.scp", 2, "dev_mix000001 sox /x.flac -t wav - |")
    _edit(d / "spk1.scp", 1, "dev_mix000000 /dump/data_wav.ark:1234")
    dd = load_data_dir(d)
    assert dd.wav["dev_mix000000"] == "/my audio/a b.wav"
    assert dd.wav["dev_mix000001"] == "sox /x.flac -t wav - |"
    assert dd.sources("dev_mix000000") == ["/dump/data_wav.ark:1234"]


def _segments_dir(root: Path) -> Path:
    import numpy as np
    import soundfile

    d = root / "seg"
    d.mkdir(parents=True)
    x = (np.arange(32000) % 1000 - 500).astype(np.int16)
    soundfile.write(root / "rec.wav", x, 16000, subtype="PCM_16")
    _write(d / "wav.scp", [f"recA {root / 'rec.wav'}"])
    _write(d / "segments", ["recA-0 recA 0.25 1.0", "recA-1 recA 1.0 -1"])
    _write(d / "utt2spk", ["recA-0 spkX", "recA-1 spkX"])
    _write(d / "spk2utt", ["spkX recA-0 recA-1"])
    _write(d / "rttm", ["SPEAKER recA 1 0.5 1.0 <NA> <NA> X <NA> <NA>"])
    return d


def test_segments_give_an_utterance_view(tmp_path):
    import numpy as np

    d = _segments_dir(tmp_path)
    dd = load_data_dir(d)
    assert dd.utts == ["recA-0", "recA-1"] and dd.rec_of("recA-1") == "recA"
    assert dd.rttm_level == "rec" and list(dd.rttm) == ["recA"]
    assert dd.utt2spk == {"recA-0": "spkX", "recA-1": "spkX"}  # Kaldi speakers are fine
    dd.check_complete()  # K comes from the recording-level labels after the cut
    wav, cut = dd.read_audio("recA-0", fs=16000)
    assert (cut.begin, cut.length, cut.rec_length) == (4000, 12000, 32000)
    x = (np.arange(32000) % 1000 - 500) / 32768
    np.testing.assert_allclose(wav, x[4000:16000])
    labels = dd.labels("recA-0", cut, 16000, len(wav))
    assert [(t.spk, t.start, t.end) for t in labels.seconds] == [("X", 0.25, 0.75)]
    assert [(t.start, t.end) for t in labels.samples] == [(4000, 12000)]
    assert dd.num_spk["recA-0"] == 1
    with pytest.warns(UserWarning, match="resampling 16000 Hz to 8000 Hz"):
        wav, cut = dd.read_audio("recA-1", fs=8000, resample=True)  # -1: to the end
    assert len(wav) == 8000 and cut.length == 16000
    labels = dd.labels("recA-1", cut, 8000, len(wav))
    assert [(t.start, t.end) for t in labels.samples] == [(0, 4000)]
    assert [(t.start, t.end) for t in labels.seconds] == [(0.0, 0.5)]


def test_label_files_use_one_kind_of_key(tmp_path):
    d = _segments_dir(tmp_path)
    _write(d / "rttm", [
        "SPEAKER recA 1 0.5 1.0 <NA> <NA> X <NA> <NA>",
        "SPEAKER recA-1 1 0.0 0.5 <NA> <NA> X <NA> <NA>",
    ])
    with pytest.raises(DataFileError, match=r"rttm:2: 'recA-1' is an utterance id of .*"
                                            r"segments, but other lines use recording ids"):
        load_data_dir(d)
    _write(d / "rttm", ["SPEAKER recA-0 1 0.0 0.5 <NA> <NA> X <NA> <NA>"])
    assert load_data_dir(d).rttm_level == "utt"


def test_utt2spk_and_spk2utt_must_agree(tmp_path):
    d = _segments_dir(tmp_path)
    _write(d / "spk2utt", ["spkX recA-0"])
    pattern = r"utt2spk:2: 'recA-1' \(speaker 'spkX'\) is not in .*spk2utt \(spk2utt must"
    with pytest.raises(DataFileError, match=pattern):
        load_data_dir(d)
