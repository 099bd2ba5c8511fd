"""Tests of espnet_echo.data.subsets and its CLI espnet_echo.bin.make_subset."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet_echo.bin import make_baseline_hyp, make_subset, score
from espnet_echo.data.contract import MAX_SPK
from espnet_echo.data.datadir import load_data_dir
from espnet_echo.data.format import format_data
from espnet_echo.data.subsets import STAMP, select_num_spk, sources_as_utterances
from espnet_echo.utils.fileio import DataFileError, read_kaldi_map

FS = 16000
#: {utt: [(speaker, transcript) per source]}
UTTS = {
    "m1": [("alice", "IN THE BEGINNING")],
    "m2": [("bob", "AND GOD SAID"), ("carol", "LET THERE BE LIGHT")],
    "m3": [("dave", "AND IT WAS SO")],
}


def make_dir(root: Path, utts=UTTS, labels: bool = False) -> Path:
    """A contract dir of 0.5 s mixtures: sources, transcripts, speakers, K.

    ``labels``: also ``rttm`` (each source speaks throughout), ``noise.scp`` and
    mixture-level ``utt2spk``/``spk2utt``, everything a reference dir for scoring has.
    """
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    files = {"wav.scp": [], "utt2spks": [], "utt2num_spk": []}
    if labels:
        files.update({"rttm": [], "noise.scp": [], "utt2spk": [], "spk2utt": []})
    for utt, sources in sorted(utts.items()):
        xs = []
        for n, (spk, text) in enumerate(sources, 1):
            x = rng.integers(-3000, 3000, FS // 2).astype(np.int16)
            xs.append(x)
            soundfile.write(root / f"{utt}-s{n}.wav", x, FS, subtype="PCM_16")
            files.setdefault(f"spk{n}.scp", []).append(f"{utt} {root / f'{utt}-s{n}.wav'}")
            files.setdefault(f"text_spk{n}", []).append(f"{utt} {text}")
            if labels:
                files["rttm"].append(
                    f"SPEAKER {utt} 1 0.000000 0.500000 <NA> <NA> {spk} <NA> <NA>")
        if labels:
            noise = rng.integers(-30, 30, FS // 2).astype(np.int16)
            xs.append(noise)
            soundfile.write(root / f"{utt}-noise.wav", noise, FS, subtype="PCM_16")
            files["noise.scp"].append(f"{utt} {root / f'{utt}-noise.wav'}")
            files["utt2spk"].append(f"{utt} {utt}")
            files["spk2utt"].append(f"{utt} {utt}")
        mix = np.clip(np.sum([x.astype(np.int32) for x in xs], axis=0), -32768, 32767)
        soundfile.write(root / f"{utt}.wav", mix.astype(np.int16), FS, subtype="PCM_16")
        files["wav.scp"].append(f"{utt} {root / f'{utt}.wav'}")
        files["utt2spks"].append(f"{utt} " + " ".join(s for s, _ in sources))
        files["utt2num_spk"].append(f"{utt} {len(sources)}")
    for name, lines in files.items():
        (root / name).write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    return root


def test_sources_as_utterances_one_speaker_each(tmp_path):
    src = make_dir(tmp_path / "train")
    assert sources_as_utterances(src, tmp_path / "out") == 4
    out = load_data_dir(tmp_path / "out")
    assert out.utts == ["m1_s1", "m2_s1", "m2_s2", "m3_s1"]
    assert set(out.num_spk.values()) == {1}
    assert out.texts("m2_s2") == ["LET THERE BE LIGHT"]
    assert out.wav["m2_s2"] == str(tmp_path / "train" / "m2-s2.wav")
    assert out.utt2spks["m2_s1"] == ["bob"]
    assert json.loads((tmp_path / "out" / STAMP).read_text())["num_utts"] == 4


def test_sources_of_a_dump_carry_its_lengths(tmp_path):
    """A format_data dump (speech_ref.scp, padded text_spk{n}) works and gives lengths."""
    dump = tmp_path / "dump"
    format_data(make_dir(tmp_path / "train"), dump, fs=FS, num_spk=2)
    assert sources_as_utterances(dump, tmp_path / "out") == 4
    lengths = read_kaldi_map(tmp_path / "out" / "utt2num_samples")
    assert lengths == {u: str(FS // 2) for u in ["m1_s1", "m2_s1", "m2_s2", "m3_s1"]}
    assert load_data_dir(tmp_path / "out").texts("m1_s1") == ["IN THE BEGINNING"]


def test_select_num_spk(tmp_path):
    src = make_dir(tmp_path / "train")
    assert select_num_spk(src, tmp_path / "k1", [1]) == 2
    out = load_data_dir(tmp_path / "k1")
    assert out.utts == ["m1", "m3"] and out.texts("m3") == ["AND IT WAS SO"]
    assert select_num_spk(src, tmp_path / "k2", {2}) == 1
    assert load_data_dir(tmp_path / "k2").texts("m2") == ["AND GOD SAID", "LET THERE BE LIGHT"]


def test_nothing_selected_writes_nothing(tmp_path):
    src = make_dir(tmp_path / "train")
    with pytest.raises(DataFileError, match="no utterance selected"):
        select_num_spk(src, tmp_path / "k3", [3])
    assert not (tmp_path / "k3").exists()


def test_missing_transcript_is_named_and_nothing_written(tmp_path):
    src = make_dir(tmp_path / "train")
    (src / "text_spk2").unlink()
    with pytest.raises(DataFileError, match=r"text_spk2: utterance 'm2' is missing"):
        sources_as_utterances(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_refuses_to_replace_a_dir_it_did_not_write(tmp_path):
    src = make_dir(tmp_path / "train")
    with pytest.raises(FileExistsError, match="not an earlier output"):
        sources_as_utterances(src, src)
    assert (src / "wav.scp").is_file()
    sources_as_utterances(src, tmp_path / "out")
    assert sources_as_utterances(src, tmp_path / "out") == 4  # its own output: replaced


def test_cli(tmp_path):
    src = make_dir(tmp_path / "train")
    make_subset.main(["--data_dir", str(src), "--out_dir", str(tmp_path / "k1"), "--num_spk", "1"])
    assert read_kaldi_map(tmp_path / "k1" / "utt2num_spk") == {"m1": "1", "m3": "1"}
    with pytest.raises(SystemExit) as e:
        make_subset.main(["--data_dir", str(tmp_path / "nope"), "--out_dir", str(tmp_path / "x"),
                          "--sources"])
    assert str(e.value.code) == f"make_subset: error: {tmp_path / 'nope'}: data dir not found"


def lines(path: Path):
    return path.read_text(encoding="utf-8").splitlines()


def test_k_subset_of_a_dump_keeps_every_file_and_is_scored_alone(tmp_path):
    """A K subset of a format_data dump: every file, restricted; loads; score runs on it."""
    dump = tmp_path / "dump"
    format_data(make_dir(tmp_path / "train", labels=True), dump, fs=FS, num_spk=2)
    assert select_num_spk(dump, tmp_path / "k1", [1]) == 2
    k1 = tmp_path / "k1"
    data_files = {p.name for p in dump.iterdir() if not p.name.startswith(".")}
    assert {"rttm", "espnet_rttm", "speech_ref.scp", "noise.scp", "utt2spk"} <= data_files
    assert {p.name for p in k1.iterdir()} == data_files | {STAMP}
    for name in data_files - {"espnet_rttm", "rttm"}:  # Kaldi maps: the kept lines, verbatim
        assert lines(k1 / name) == [x for x in lines(dump / name)
                                    if x.split()[0] in ("m1", "m3")], name
    for name in ("rttm", "espnet_rttm"):  # the utterance is field 2
        assert lines(k1 / name) == [x for x in lines(dump / name) if x.split()[1] != "m2"]
        assert lines(k1 / name)
    out = load_data_dir(k1)  # round trip
    out.check_complete()
    assert out.utts == ["m1", "m3"] and out.texts("m3") == ["AND IT WAS SO"]
    assert out.utt2num_samples == {"m1": FS // 2, "m3": FS // 2}
    assert json.loads((k1 / STAMP).read_text())["not_carried"] == [".format_data.json"]

    hyp = tmp_path / "oracle" / "decode_k1"
    make_baseline_hyp.main(["--ref_dir", str(k1), "--out_dir", str(hyp), "--kind", "oracle"])
    score.main(["--ref_dir", str(k1), "--hyp_dir", str(hyp), "--out_dir", str(hyp / "score")])
    s = json.loads((hyp / "score" / "scores.json").read_text())
    assert s["num_utts"] == 2
    assert s["der"][0]["collar"] == 0.0 and s["der"][0]["der"] == pytest.approx(0.0, abs=1e-9)
    assert s["wer"]["wer"] == 0.0 and s["speaker_count"]["accuracy"] == 100.0
    assert s["sisdr"]["si_sdr"] > 99 and s["sisdr"]["num_sources"] == 2

    assert select_num_spk(dump, tmp_path / "k2", [2]) == 1
    k2 = load_data_dir(tmp_path / "k2")
    assert k2.sources("m2") == load_data_dir(dump).sources("m2")
    assert [s.spk for s in k2.rttm["m2"]] == ["bob", "carol"]


def test_k_subset_carries_kaldi_files_restricted(tmp_path):
    """Labels through reco2file_and_channel, uem, per-speaker and global files, spk2utt."""
    src = make_dir(tmp_path / "train")
    files = {
        "utt2spk": ["m1 alice", "m2 bob", "m3 dave"],
        "spk2utt": ["alice m1", "bob m2", "dave m3"],
        "spk2gender": ["alice f", "bob m", "dave m"],
        "reco2file_and_channel": ["m1 F1 A", "m2 F2 A", "m3 F3 A"],
        "rttm": [";; a comment", "SPEAKER F1 A 0.00 0.40 <NA> <NA> alice <NA> <NA>", "",
                 "SPEAKER F2 A 0.00 0.40 <NA> <NA> bob <NA> <NA>",
                 "SPEAKER F2 A 0.10 0.40 <NA> <NA> carol <NA> <NA>",
                 "SPEAKER F3 A 0.00 0.30 <NA> <NA> dave <NA> <NA>"],
        "uem": ["F1 A 0.0 0.5", "F2 A 0.0 0.5", "F3 A 0.1 0.4"],
        "utt2dur": ["m1 0.5", "m2 0.5", "m3 0.5"],
        "spk_ids": ["m1 0", "m2 1 2", "m3 3"],
        "text": ["m1 IN THE BEGINNING", "m2 AND GOD SAID", "m3 AND IT WAS SO"],
        "frame_shift": ["0.01"],
        "mixed": ["m1 x", "other y"],
    }
    for name, content in files.items():
        (src / name).write_text("".join(x + "\n" for x in content), encoding="utf-8")
    (src / "blob.bin").write_bytes(b"\xff\xfe\x00")
    assert select_num_spk(src, tmp_path / "k1", [1]) == 2
    k1 = tmp_path / "k1"
    assert lines(k1 / "rttm") == [files["rttm"][0], files["rttm"][1], files["rttm"][5]]
    assert lines(k1 / "uem") == ["F1 A 0.0 0.5", "F3 A 0.1 0.4"]
    assert lines(k1 / "reco2file_and_channel") == ["m1 F1 A", "m3 F3 A"]
    assert lines(k1 / "spk2utt") == ["alice m1", "dave m3"]
    assert lines(k1 / "spk2gender") == ["alice f", "dave m"]
    assert lines(k1 / "spk_ids") == ["m1 0", "m3 3"]
    assert lines(k1 / "utt2num_samples") == ["m1 8000", "m3 8000"]  # from the headers
    assert lines(k1 / "frame_shift") == ["0.01"]
    assert not (k1 / "spk2.scp").exists() and not (k1 / "text_spk2").exists()  # no line left
    stamp = json.loads((k1 / STAMP).read_text())
    assert stamp["not_carried"] == ["mixed"]
    assert stamp["binary_files_not_carried"] == 1 + 4 + 3  # blob.bin, sources, mixtures
    assert stamp["num_samples_from_audio_headers"] == 2
    out = load_data_dir(k1)
    out.check_complete()
    assert sorted(out.rttm) == ["m1", "m3"] and [r.start for r in out.uem["m3"]] == [0.1]


def test_missing_lengths_come_from_the_audio_headers(tmp_path):
    src = make_dir(tmp_path / "train")  # no utt2num_samples
    soundfile.write(src / "m3.wav", np.ones(FS // 4, np.int16), FS, subtype="PCM_16")  # shorter
    (src / "utt2num_samples").write_text(f"m2 {FS // 2}\n")  # a line for m1 and m3 missing
    assert select_num_spk(src, tmp_path / "k1", [1]) == 2
    assert read_kaldi_map(tmp_path / "k1" / "utt2num_samples") == {"m1": "8000", "m3": "4000"}
    (src / "utt2num_samples").unlink()
    assert sources_as_utterances(src, tmp_path / "src") == 4
    assert read_kaldi_map(tmp_path / "src" / "utt2num_samples") == {
        "m1_s1": "8000", "m2_s1": "8000", "m2_s2": "8000", "m3_s1": "8000"}
    assert json.loads((tmp_path / "src" / STAMP).read_text())[
        "num_samples_from_audio_headers"] == 4


def test_a_length_that_cannot_be_read_cheaply_is_an_error(tmp_path):
    src = make_dir(tmp_path / "train")
    (src / "wav.scp").write_text("".join(
        f"{u} cat {src / (u + '.wav')} |\n" if u == "m3" else f"{u} {src / (u + '.wav')}\n"
        for u in ["m1", "m2", "m3"]))
    with pytest.raises(DataFileError, match=r"wav\.scp:3: .*pipe entry .*utt2num_samples"):
        select_num_spk(src, tmp_path / "k1", [1])
    assert not (tmp_path / "k1").exists()
    (src / "spk1.scp").write_text(f"m1 {src / 'm1-s1.wav'}\nm2 {src / 'm2-s1.wav'}\n"
                                  f"m3 cat {src / 'm3-s1.wav'} |\n")
    with pytest.raises(DataFileError, match=r"spk1\.scp:3: .*pipe entry"):
        sources_as_utterances(src, tmp_path / "src")
    (src / "utt2num_samples").write_text("".join(f"{u} {FS // 2}\n" for u in UTTS))
    assert select_num_spk(src, tmp_path / "k1", [1]) == 2  # given lengths: nothing to inspect
    assert sources_as_utterances(src, tmp_path / "src") == 4


@pytest.mark.parametrize("bad", [[0], [-1], [MAX_SPK + 1], [1, 0], []])
def test_invalid_speaker_count(tmp_path, bad):
    src = make_dir(tmp_path / "train")
    with pytest.raises(ValueError, match="invalid speaker count"):
        select_num_spk(src, tmp_path / "k", bad)
    assert not (tmp_path / "k").exists()


def test_cli_invalid_speaker_count(tmp_path):
    src = make_dir(tmp_path / "train")
    with pytest.raises(SystemExit) as e:
        make_subset.main(["--data_dir", str(src), "--out_dir", str(tmp_path / "k0"),
                          "--num_spk", "0"])
    assert str(e.value.code).startswith("make_subset: error: invalid speaker count 0")


def test_segments_are_refused(tmp_path):
    src = make_dir(tmp_path / "train")
    (src / "segments").write_text("".join(f"{u} {u} 0 -1\n" for u in ["m1", "m2", "m3"]))
    for make in (lambda: select_num_spk(src, tmp_path / "out", [1]),
                 lambda: sources_as_utterances(src, tmp_path / "out")):
        with pytest.raises(DataFileError, match="segments: dirs with segments are not"):
            make()
    assert not (tmp_path / "out").exists()
