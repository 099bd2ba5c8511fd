"""Tests of espnet_echo.data.subsets and its CLI espnet_echo.bin.make_subset."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet_echo.bin import make_subset
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


def make_dir(root: Path, utts=UTTS) -> Path:
    """A contract dir of 0.5 s mixtures: sources, transcripts, speakers, K."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    files = {"wav.scp": [], "utt2spks": [], "utt2num_spk": []}
    for utt, sources in sorted(utts.items()):
        xs = []
        for n, (spk, text) in enumerate(sources, 1):
            x = rng.integers(-3000, 3000, FS // 2).astype(np.int16)
            xs.append(x)
            soundfile.write(root / f"{utt}-s{n}.wav", x, FS, subtype="PCM_16")
            files.setdefault(f"spk{n}.scp", []).append(f"{utt} {root / f'{utt}-s{n}.wav'}")
            files.setdefault(f"text_spk{n}", []).append(f"{utt} {text}")
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
