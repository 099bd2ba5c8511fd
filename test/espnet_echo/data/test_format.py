# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of espnet_echo.data.format with Kaldi/ESPnet data dirs: segments, recording-level
labels, resampling, pipes, arks, paths with spaces, stated lengths and impossible labels.

Round-trip properties: the labels of the dump, mapped back (shift by the segment onset,
rate back), equal the originals; an exact hypothesis scores DER 0 against the dump.
"""

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet_echo.data import load_data_dir
from espnet_echo.data.format import format_data
from espnet_echo.data.labels import Turn, cut_turns, merge_turns, to_annotation, uncut_turns
from espnet_echo.data.rttm import read_espnet_rttm, read_rttm, read_rttm_segments, read_uem
from espnet_echo.metrics.der import compute_der
from espnet_echo.utils.audio import AudioError
from espnet_echo.utils.fileio import DataFileError

DUR = 6.0
# recording-level turns (seconds); "A" crosses the segment boundary at 3.0 s
TURNS = [("A", 0.5, 1.5), ("B", 1.0, 2.5), ("A", 2.8, 3.3), ("A", 3.5, 4.0), ("B", 4.5, 5.5)]
SEGMENTS = [("rec1_a", 0.0, 3.0), ("rec1_b", 3.0, DUR)]
UEM = (0.25, 5.75)


def _write(path: Path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _lines(path: Path):
    return path.read_text(encoding="utf-8").splitlines()


def make_kaldi_dir(root: Path, fs: int = 16000, labels: str = "rec") -> Path:
    """A Kaldi-style dir: one 6 s recording, two sources, segments, rec-level labels.

    ``labels``: ``"rec"`` (rttm/espnet_rttm/uem keyed by recording, recording time),
    ``"utt"`` (keyed by segment, utterance time) or ``"none"``.
    """
    d, wavs = root / "data", root / "wav"
    d.mkdir(parents=True)
    wavs.mkdir()
    n = int(DUR * fs)
    rng = np.random.default_rng(fs)
    srcs = {}
    for spk in ("A", "B"):
        x = np.zeros(n, np.int16)
        for s, a, b in TURNS:
            if s == spk:
                a, b = int(a * fs), int(b * fs)
                x[a:b] = rng.integers(-3000, 3000, b - a)
        srcs[spk] = x
    noise = rng.integers(-30, 30, n).astype(np.int16)
    mix = (srcs["A"].astype(np.int32) + srcs["B"] + noise).astype(np.int16)
    for name, x in (("mix", mix), ("A", srcs["A"]), ("B", srcs["B"]), ("noise", noise)):
        soundfile.write(wavs / f"rec1-{name}.wav", x, fs, subtype="PCM_16")
    _write(d / "wav.scp", [f"rec1 {wavs / 'rec1-mix.wav'}"])
    _write(d / "spk1.scp", [f"rec1 {wavs / 'rec1-A.wav'}"])
    _write(d / "spk2.scp", [f"rec1 {wavs / 'rec1-B.wav'}"])
    _write(d / "noise.scp", [f"rec1 {wavs / 'rec1-noise.wav'}"])
    _write(d / "segments", [f"{u} rec1 {a:.2f} {b:.2f}" for u, a, b in SEGMENTS])
    utts = [u for u, _, _ in SEGMENTS]
    _write(d / "utt2spk", [f"{u} {u}" for u in utts])
    _write(d / "spk2utt", [f"{u} {u}" for u in utts])
    _write(d / "utt2spks", [f"{u} A B" for u in utts])
    _write(d / "utt2num_spk", [f"{u} 2" for u in utts])
    _write(d / "text_spk1", [f"{u} WORDS OF A" for u in utts])
    _write(d / "text_spk2", [f"{u} WORDS OF B" for u in utts])
    _write(d / "utt2dur", [f"{u} {b - a:.2f}" for u, a, b in SEGMENTS])
    _write(d / "reco2dur", [f"rec1 {DUR}"])
    if labels == "rec":
        _write(d / "rttm", [
            f"SPEAKER rec1 1 {a:.3f} {b - a:.3f} <NA> <NA> {s} <NA> <NA>" for s, a, b in TURNS
        ])
        _write(d / "espnet_rttm", [
            f"SPEAKER rec1 1 {int(a * fs)} {int(b * fs)} <NA> <NA> {s} <NA>"
            for s, a, b in TURNS
        ] + [f"END rec1 <NA> <NA> {n} <NA> <NA> <NA> <NA>"])
        _write(d / "uem", [f"rec1 1 {UEM[0]} {UEM[1]}"])
    elif labels == "utt":
        rttm, ertm, uem = [], [], []
        for u, a0, b0 in SEGMENTS:
            for t in cut_turns([Turn(s, a, b) for s, a, b in TURNS], a0, b0):
                rttm.append(
                    f"SPEAKER {u} 1 {t.start:.3f} {t.dur:.3f} <NA> <NA> {t.spk} <NA> <NA>"
                )
                ertm.append(
                    f"SPEAKER {u} 1 {round(t.start * fs)} {round(t.end * fs)} <NA> <NA> "
                    f"{t.spk} <NA>"
                )
            ertm.append(f"END {u} <NA> <NA> {int((b0 - a0) * fs)} <NA> <NA> <NA> <NA>")
            uem.append(f"{u} 1 {max(UEM[0], a0) - a0:.2f} {min(UEM[1], b0) - a0:.2f}")
        _write(d / "rttm", rttm)
        _write(d / "espnet_rttm", ertm)
        _write(d / "uem", uem)
    return d


def _turns_of_dump(dst: Path, utt: str, fs: int):
    segs = read_rttm_segments(dst / "rttm")[utt]
    sec = [Turn(s.spk, s.start, s.end) for s in segs]
    ertm = read_espnet_rttm(dst / "espnet_rttm")[utt]
    smp = [Turn(s, a, b) for s, a, b in ertm.events]
    return sec, smp, ertm


@pytest.mark.parametrize("labels", ["rec", "utt"])
@pytest.mark.parametrize("fs", [16000, 8000])
def test_segments_cut_audio_and_every_label(tmp_path, labels, fs):
    src = make_kaldi_dir(tmp_path, fs=fs, labels=labels)
    dst = tmp_path / "dump"
    assert format_data(src, dst, num_spk=2, fs=16000, resample=fs != 16000) is True
    wav_scp = dict(line.split(maxsplit=1) for line in _lines(dst / "wav.scp"))
    assert sorted(wav_scp) == ["rec1_a", "rec1_b"]
    assert _lines(dst / "utt2num_samples") == ["rec1_a 48000", "rec1_b 48000"]
    rec = soundfile.read(tmp_path / "wav" / "rec1-mix.wav", dtype="int16")[0]
    refs = {line.split()[0]: line.split()[1:] for line in _lines(dst / "speech_ref.scp")}
    noise = dict(line.split(maxsplit=1) for line in _lines(dst / "noise.scp"))
    for u, a, b in SEGMENTS:
        mix = soundfile.read(wav_scp[u], dtype="int16")[0]
        if fs == 16000:  # a cut of the recording, sample for sample (ESPnet's int(t * fs))
            np.testing.assert_array_equal(mix, rec[int(a * fs): int(b * fs)])
            total = soundfile.read(noise[u], dtype="int16")[0].astype(np.int32)
            for path in refs[u]:
                total += soundfile.read(path, dtype="int16")[0]
            np.testing.assert_array_equal(total, mix)  # mix == sum(sources) + noise
        assert len(refs[u]) == 2

    originals = [Turn(s, a, b) for s, a, b in TURNS]
    back_sec, back_smp = [], []
    for u, a, b in SEGMENTS:
        sec, smp, ertm = _turns_of_dump(dst, u, 16000)
        assert ertm.num_samples == 48000 and ertm.speakers == ["A", "B"]
        # the two label files of the dump agree, to the sample
        assert [(t.spk, round(t.start * 16000), round(t.end * 16000)) for t in sec] == [
            (t.spk, t.start, t.end) for t in smp
        ]
        back_sec += uncut_turns(sec, a)
        back_smp += uncut_turns(smp, int(a * 16000))

    # round trip: mapped back to the recording, the labels are the originals
    def rounded(turns):
        return {k: [(round(x, 6), round(y, 6)) for x, y in v]
                for k, v in merge_turns(turns).items()}

    assert rounded(back_sec) == rounded(originals)
    assert merge_turns(back_smp) == {
        k: [(round(x * 16000), round(y * 16000)) for x, y in v]
        for k, v in merge_turns(originals).items()
    }
    # UEM cut with the audio
    uem = read_uem(dst / "uem")
    assert [(r.start, r.end) for r in uem["rec1_a"]] == [(0.25, 3.0)]
    assert [(r.start, r.end) for r in uem["rec1_b"]] == [(0.0, 2.75)]
    # the exact hypothesis (the original turns, cut by the segments) scores DER 0
    hyp = {
        u: to_annotation(cut_turns(originals, a, b), u) for u, a, b in SEGMENTS
    }
    result = compute_der(read_rttm(dst / "rttm"), hyp, {u: 3.0 for u, _, _ in SEGMENTS})
    assert result.der == pytest.approx(0.0, abs=1e-9)
    assert result.scored_speech_s == pytest.approx(sum(b - a for _, a, b in TURNS))


def test_segments_dump_is_read_by_espnet(tmp_path):
    from espnet2.train.dataset import ESPnetDataset

    dst = tmp_path / "dump"
    format_data(make_kaldi_dir(tmp_path), dst, num_spk=2)
    data = ESPnetDataset([
        (str(dst / "wav.scp"), "speech", "sound"),
        (str(dst / "speech_ref.scp"), "speech_ref", "variable_columns_sound"),
        (str(dst / "espnet_rttm"), "spk_labels", "rttm"),
    ])
    _, ex = data["rec1_b"]
    assert ex["speech"].shape == (48000,) and ex["speech_ref"].shape == (2, 48000)
    assert ex["spk_labels"].shape == (48000, 2)
    # rec1_b starts at 3.0 s: A's turn 2.8-3.3 s becomes 0-0.3 s
    assert ex["spk_labels"][:4800, 0].all() and not ex["spk_labels"][4801:8000, 0].any()


def test_reco2file_and_channel_maps_rttm_files(tmp_path):
    src = make_kaldi_dir(tmp_path)
    _write(src / "reco2file_and_channel", ["rec1 MEETING-7 A"])
    _write(src / "rttm", [
        f"SPEAKER MEETING-7 A {a:.3f} {b - a:.3f} <NA> <NA> {s} <NA> <NA>" for s, a, b in TURNS
    ])
    _write(src / "uem", [f"MEETING-7 A {UEM[0]} {UEM[1]}"])
    ddir = load_data_dir(src)
    assert ddir.rttm_level == "rec" and list(ddir.rttm) == ["rec1"]
    format_data(src, tmp_path / "dump", num_spk=2)
    full = make_kaldi_dir(tmp_path / "b")
    format_data(full, tmp_path / "dump_b", num_spk=2)
    assert _lines(tmp_path / "dump" / "rttm") == _lines(tmp_path / "dump_b" / "rttm")
    _write(src / "rttm", ["SPEAKER MEETING-7 B 0.5 1.0 <NA> <NA> A <NA> <NA>"])
    with pytest.raises(DataFileError, match=r"rttm:1: 'MEETING-7' is neither an utterance id "
                                            r"nor a recording id .* nor a '<file> <chnl>' "
                                            r"\(MEETING-7 B\) of .*reco2file_and_channel"):
        load_data_dir(src)


def test_data2_keys_of_recordings_with_segments_are_refused(tmp_path):
    """Per-utterance files keyed by recording while segments cut it: one clear error."""
    src = make_kaldi_dir(tmp_path, labels="none")
    _write(src / "text_spk1", ["rec1 WORDS OF A"])
    with pytest.raises(DataFileError) as e:
        format_data(src, tmp_path / "dump", num_spk=2)
    msg = str(e.value)
    assert msg.startswith(f"{src / 'text_spk1'}:1: 'rec1' is a recording id")
    assert f"{src / 'segments'} cuts the recordings into utterances" in msg
    assert not (tmp_path / "dump").exists()


@pytest.mark.parametrize(
    "mutate, match",
    [
        (
            lambda d: _write(d / "spk1.scp", [f"rec1_a {d.parent / 'wav' / 'rec1-A.wav'}"]),
            r"spk1.scp:1: 'rec1_a' is an utterance id of .*segments, but with a segments file "
            r"spk1.scp lists recordings",
        ),
        (
            lambda d: _write(d / "segments", ["rec1_a rec1 0 3", "rec1_b rec9 3 6"]),
            r"segments:2: recording 'rec9' of segment 'rec1_b' is not in .*wav.scp",
        ),
        (
            lambda d: _write(d / "segments", ["rec1_a rec1 0 3", "rec1_b rec1 3 3"]),
            r"segments:2: end 3.0 must be after start 3.0",
        ),
        (
            lambda d: _write(d / "segments", ["rec1_a rec1 0 3", "rec1_a rec1 3 6"]),
            r"segments:2: duplicate utterance id 'rec1_a'",
        ),
        (
            lambda d: _write(d / "segments", ["rec1_a rec1 0 3", "rec1_b rec1 3 7"]),
            r"segments:2: segment 'rec1_b' ends at 7.0 s, 1.000 s past the end of its "
            r"recording .*rec1-mix.wav \(6.0",
        ),
        (
            lambda d: _write(d / "rttm", ["SPEAKER rec1 1 5.0 1.5 <NA> <NA> A <NA> <NA>"]),
            r"rttm:1: turn 5.0..6.5 ends past the end of recording 'rec1' \(6.0 s\)",
        ),
        (
            lambda d: _write(d / "rttm", [
                "SPEAKER rec1 1 0.5 1 <NA> <NA> A <NA> <NA>",
                "SPEAKER rec1 1 1.0 1 <NA> <NA> C <NA> <NA>",
            ]),
            r"rttm:2: speaker 'C' of 'rec1_a' is not in .*utt2spks:1 \(A B\)",
        ),
        (
            lambda d: _write(d / "rttm", ["SPEAKER rec1 1 0.5 1 <NA> <NA> A <NA> <NA>"]),
            r"rttm: utterance 'rec1_a' has 1 speakers \['A'\] within .*segments:1 but "
            r".*utt2num_spk:1 gives K=2",
        ),
        (
            lambda d: _write(d / "espnet_rttm", [
                "SPEAKER rec1 1 0 10 <NA> <NA> A <NA>",
                "END rec1 <NA> <NA> 95000 <NA> <NA> <NA> <NA>",
            ]),
            r"espnet_rttm:2: END of 'rec1' says 95000 samples but the recording has 96000 at "
            r"16000 Hz",
        ),
        (
            lambda d: _write(d / "utt2dur", ["rec1_a 3.0", "rec1_b 2.5"]),
            r"utt2dur:2: says 2.5 s but the audio has 3.000000 s \(48000 samples at "
            r"16000 Hz\)",
        ),
        (
            lambda d: _write(d / "reco2dur", ["rec1 7.5"]),
            r"reco2dur:1: says 7.5 s but the audio has 6.000000 s",
        ),
        (
            lambda d: _write(d / "utt2num_samples", ["rec1_a 48000", "rec1_b 48001"]),
            r"utt2num_samples:2: says 48001 samples but the audio of 'rec1_b' has 48000",
        ),
        (
            lambda d: _write(d / "spk2utt", ["rec1_a rec1_a rec1_b"]),
            r"spk2utt:1: lists 'rec1_b' under speaker 'rec1_a' but .*utt2spk:2 gives 'rec1_b'",
        ),
        (
            lambda d: _write(d / "utt2num_spk", ["rec1_a 2", "rec1_b 3"]),
            r"spk3.scp: utterance 'rec1_b' is missing; .*utt2num_spk:2 says K=3, so "
            r"spk1.scp..spk3.scp must list it \(its recording 'rec1'",
        ),
    ],
)
def test_impossible_labels_and_lengths_name_file_and_line(tmp_path, mutate, match):
    src = make_kaldi_dir(tmp_path)
    mutate(src)
    with pytest.raises(DataFileError, match=match) as e:
        format_data(src, tmp_path / "dump", num_spk=3)
    assert "\n" not in str(e.value) and str(src) in str(e.value)
    assert not (tmp_path / "dump").exists()


def test_stated_lengths_are_checked_at_the_source_rate_when_resampling(tmp_path):
    src = make_kaldi_dir(tmp_path, fs=8000)
    _write(src / "utt2num_samples", ["rec1_a 24000", "rec1_b 24000"])
    format_data(src, tmp_path / "ok", num_spk=2, resample=True)  # 8 kHz counts: right
    _write(src / "utt2num_samples", ["rec1_a 48000", "rec1_b 48000"])  # 16 kHz counts
    with pytest.raises(DataFileError, match=r"utt2num_samples:1: says 48000 samples but "
                                            r"the audio of 'rec1_a' has 24000"):
        format_data(src, tmp_path / "bad", num_spk=2, resample=True)


def test_small_overruns_are_clipped_with_a_warning(tmp_path, caplog):
    src = make_kaldi_dir(tmp_path)
    _write(src / "segments", ["rec1_a rec1 0 3", "rec1_b rec1 3 6.2"])  # Kaldi: cut at end
    _write(src / "utt2dur", ["rec1_a 3.0", "rec1_b 3.0"])
    lines = _lines(src / "rttm")
    lines[-1] = "SPEAKER rec1 1 4.5 1.505 <NA> <NA> B <NA> <NA>"  # 5 ms past the end
    _write(src / "rttm", lines)
    with caplog.at_level(logging.WARNING):
        format_data(src, tmp_path / "dump", num_spk=2)
    assert "segments:2: segment 'rec1_b' ends 0.200 s past the end" in caplog.text
    assert "1 labels end past their audio by less than the tolerance" in caplog.text
    assert "rttm:5" in caplog.text
    assert _lines(tmp_path / "dump" / "utt2num_samples")[1] == "rec1_b 48000"
    last = _lines(tmp_path / "dump" / "rttm")[-1].split()
    assert float(last[3]) + float(last[4]) == pytest.approx(3.0)


def test_pipes_arks_and_paths_with_spaces(tmp_path, monkeypatch):
    """wav.scp as Kaldi/ESPnet write it: rewritten into <dst>/wav, read by ESPnet."""
    from omniio import kaldi as kaldi_io

    from espnet2.train.dataset import ESPnetDataset

    n = 16000
    rng = np.random.default_rng(3)
    root = tmp_path / "corpus with spaces"
    (root / "data").mkdir(parents=True)
    s1 = rng.integers(-3000, 3000, n).astype(np.int16)
    s2 = np.zeros(n, np.int16)
    s2[4000:12000] = rng.integers(-3000, 3000, 8000)
    noise = rng.integers(-20, 20, n).astype(np.int16)
    mix = (s1.astype(np.int32) + s2 + noise).astype(np.int16)
    soundfile.write(root / "mix u.wav", mix, 16000, subtype="PCM_16")
    soundfile.write(root / "noise u.wav", noise, 16000, subtype="PCM_16")
    kaldi_io.save_ark(str(root / "src.ark"), {"s1": (16000, s1), "s2": (16000, s2)},
                      scp=str(root / "src.scp"))
    ark = dict(line.split(maxsplit=1) for line in _lines(root / "src.scp"))
    monkeypatch.chdir(root)  # relative paths and pipes: relative to the working dir
    d = root / "data"
    _write(d / "wav.scp", ["u cat 'mix u.wav' |"])
    _write(d / "spk1.scp", [f"u {ark['s1']}"])
    _write(d / "spk2.scp", [f"u {ark['s2']}"])
    _write(d / "noise.scp", ["u noise u.wav"])
    _write(d / "rttm", ["SPEAKER u 1 0 1 <NA> <NA> a <NA> <NA>",
                        "SPEAKER u 1 0.25 0.5 <NA> <NA> b <NA> <NA>"])
    dst = tmp_path / "dump"
    assert format_data(d, dst, num_spk=2) is True
    assert format_data(d, dst, num_spk=2) is True  # a pipe's input is unknown: no caching
    for name in ("wav.scp", "speech_ref.scp", "noise.scp"):
        for line in _lines(dst / name):
            assert all(Path(p).parent == dst / "wav" for p in line.split()[1:]), line
    data = ESPnetDataset([
        (str(dst / "wav.scp"), "speech", "sound"),
        (str(dst / "speech_ref.scp"), "speech_ref", "variable_columns_sound"),
        (str(dst / "noise.scp"), "noise", "sound"),
    ])
    _, ex = data["u"]
    np.testing.assert_array_equal(np.round(ex["speech"] * 32768), mix)
    np.testing.assert_array_equal(np.round(ex["speech_ref"] * 32768), np.stack([s1, s2]))
    np.testing.assert_array_equal(np.round(ex["noise"] * 32768), noise)
    assert _lines(dst / "espnet_rttm") == [
        "SPEAKER u 1 0 16000 <NA> <NA> a <NA>",
        "SPEAKER u 1 4000 12000 <NA> <NA> b <NA>",
        "END u <NA> <NA> 16000 <NA> <NA> <NA> <NA>",
    ]
    _write(d / "wav.scp", ["u false |"])
    with pytest.raises(AudioError, match=r"wav.scp:1: the command 'false' failed"):
        format_data(d, dst, num_spk=2)


def test_kaldi_text_and_unused_files(tmp_path, caplog):
    src = make_kaldi_dir(tmp_path, labels="none")
    for name in ("spk1.scp", "spk2.scp", "text_spk1", "text_spk2", "utt2spks"):
        (src / name).unlink()
    _write(src / "utt2num_spk", ["rec1_a 1", "rec1_b 1"])
    _write(src / "text", ["rec1_a HELLO", "rec1_b WORLD"])
    _write(src / "feats.scp", ["rec1_a /x/feats.ark:10"])
    _write(src / "rir_spk1.scp", ["rec1 /x/rir.wav"])
    with caplog.at_level(logging.INFO):
        format_data(src, tmp_path / "dump", num_spk=2)
    assert "rir_spk1.scp: not a file of the contract or of Kaldi/ESPnet" in caplog.text
    assert _lines(tmp_path / "dump" / "text_spk1") == ["rec1_a HELLO", "rec1_b WORLD"]
    assert _lines(tmp_path / "dump" / "text_spk2") == ["rec1_a", "rec1_b"]
    assert "feats.scp: not used and not carried" in caplog.text
    _write(src / "utt2num_spk", ["rec1_a 1", "rec1_b 2"])
    with pytest.raises(DataFileError, match=r"text:2: utterance 'rec1_b' has K=2 speakers .*"
                                            r"a single 'text' file holds one transcript"):
        load_data_dir(src)
    (src / "wav.scp").unlink()
    with pytest.raises(DataFileError, match=r"feats.scp alone is not supported"):
        load_data_dir(src)


def test_reco2num_spk(tmp_path):
    src = make_kaldi_dir(tmp_path, labels="rec")
    (src / "utt2num_spk").unlink()
    _write(src / "reco2num_spk", ["rec1 1"])
    with pytest.raises(DataFileError, match=r"spk2.scp:1: utterance 'rec1_a' has K=2 "
                                            r"speakers, more than its recording 'rec1' "
                                            r"\(.*reco2num_spk:1: 1\)"):
        load_data_dir(src)


def test_a_dump_is_read_by_the_same_reader(tmp_path):
    """The format_data dump (speech_ref.scp, text_spk{n} padded to --num_spk) is a data dir
    of the one reader too: formatting it again changes nothing."""
    src = make_kaldi_dir(tmp_path)
    _write(src / "utt2num_spk", ["rec1_a 2", "rec1_b 2"])
    dump = tmp_path / "dump"
    format_data(src, dump, num_spk=3)
    assert _lines(dump / "text_spk3") == ["rec1_a", "rec1_b"]
    ddir = load_data_dir(dump)
    assert ddir.source_file == "speech_ref.scp" and sorted(ddir.spk) == [1, 2]
    assert ddir.num_spk == {"rec1_a": 2, "rec1_b": 2}
    wav, cut = ddir.read_audio("rec1_b", 2, fs=16000)
    assert len(wav) == 48000 and cut.begin == 0
    again = tmp_path / "again"
    format_data(dump, again, num_spk=3)
    for name in ("wav.scp", "speech_ref.scp", "rttm", "espnet_rttm", "uem", "text_spk1",
                 "text_spk3", "utt2num_samples", "noise.scp"):
        assert _lines(again / name) == _lines(dump / name), name
    _write(dump / "text_spk3", ["rec1_a", "rec1_b SOMEONE ELSE"])
    with pytest.raises(DataFileError, match=r"text_spk3:2: utterance 'rec1_b' has K=2 "
                                            r"speakers .* but is listed as speaker 3"):
        load_data_dir(dump)
    _write(dump / "utt2num_spk", ["rec1_a 2", "rec1_b 3"])
    with pytest.raises(DataFileError, match=r"speech_ref.scp:2: utterance 'rec1_b' has 2 "
                                            r"sources but .*utt2num_spk:2 says K=3"):
        load_data_dir(dump)
