# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Tests of recipe stage 2 (espnet_echo.bin.format_data), checked with ESPnet's own loaders."""

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet_echo.bin.format_data import STAMP_NAME, format_data, main

FS = 16000
N = 1600
KS = {"train_mix000000": 1, "train_mix000001": 3, "train_mix000002": 2}
SPKS = ["flite-kal", "espeak-en-p40", "espeak-en-r150"]
TEXTS = ["HELLO WORLD", "THE CAT SAT", "A DOG RAN"]
DUMP_FILES = [
    STAMP_NAME, "espnet_rttm", "noise.scp", "rttm", "speech_ref.scp", "spk2utt",
    "text_spk1", "text_spk2", "text_spk3", "utt2num_samples", "utt2num_spk", "utt2spk",
    "utt2spks", "wav.scp",
]


def _lines(path: Path):
    return path.read_text(encoding="utf-8").splitlines()


def _write(path: Path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def make_src(root: Path, fs: int = FS, n: int = N) -> Path:
    """A contract data dir with int16 sources, noise and their exact sum as mixture."""
    d, wavs = root / "data" / "train", root / "wavs"
    d.mkdir(parents=True)
    wavs.mkdir()
    rng = np.random.default_rng(0)
    scp = {k: [] for k in ("wav", "noise", "spk1", "spk2", "spk3")}
    rttm, ertm = [], []
    for utt, k in KS.items():
        noise = rng.integers(-50, 50, n).astype(np.int16)
        mix = noise.astype(np.int32)
        for i in range(k):
            src = np.zeros(n, np.int16)
            start, length = i * n // 8, n // 2
            src[start:start + length] = rng.integers(-3000, 3000, length)
            mix = mix + src
            path = wavs / f"{utt}-spk{i + 1}.wav"
            soundfile.write(path, src, fs, subtype="PCM_16")
            scp[f"spk{i + 1}"].append(f"{utt} {path}")
            rttm.append(
                f"SPEAKER {utt} 1 {start / fs:.4f} {length / fs:.4f} <NA> <NA> {SPKS[i]} "
                "<NA> <NA>"
            )
            ertm.append(f"SPEAKER {utt} 1 {start} {start + length} <NA> <NA> {SPKS[i]} <NA>")
        ertm.append(f"END {utt} <NA> <NA> {n} <NA> <NA> <NA> <NA>")
        for name, wav in (("mix", mix.astype(np.int16)), ("noise", noise)):
            path = wavs / f"{utt}-{name}.wav"
            soundfile.write(path, wav, fs, subtype="PCM_16")
            scp["wav" if name == "mix" else "noise"].append(f"{utt} {path}")
    for name, lines in scp.items():
        _write(d / ("wav.scp" if name == "wav" else f"{name}.scp"), lines)
    for i in range(3):
        _write(d / f"text_spk{i + 1}", [f"{u} {TEXTS[i]}" for u in KS if KS[u] > i])
    _write(d / "utt2spk", [f"{u} {u}" for u in KS])
    _write(d / "spk2utt", [f"{u} {u}" for u in KS])
    _write(d / "utt2spks", [f"{u} {' '.join(SPKS[:k])}" for u, k in KS.items()])
    _write(d / "utt2num_spk", [f"{u} {k}" for u, k in KS.items()])
    _write(d / "utt2num_samples", [f"{u} {n}" for u in KS])
    _write(d / "rttm", rttm)
    _write(d / "espnet_rttm", ertm)
    return d


def snapshot(dst: Path):
    return {p.name: p.read_bytes() for p in sorted(dst.iterdir()) if p.is_file()}


@pytest.fixture
def src(tmp_path):
    return make_src(tmp_path)


def test_dump_layout(src, tmp_path):
    dst = tmp_path / "dump" / "raw" / "train"
    assert format_data(src, dst, num_spk=3) is True
    assert sorted(p.name for p in dst.iterdir()) == sorted(DUMP_FILES)
    utts = sorted(KS)
    for name in DUMP_FILES[1:]:
        if name not in ("rttm", "espnet_rttm"):
            assert [line.split()[0] for line in _lines(dst / name)] == utts, name
    assert _lines(dst / "text_spk3") == [
        "train_mix000000", "train_mix000001 A DOG RAN", "train_mix000002"
    ]
    assert _lines(dst / "text_spk1")[0] == "train_mix000000 HELLO WORLD"
    ref = {line.split()[0]: line.split()[1:] for line in _lines(dst / "speech_ref.scp")}
    assert [len(ref[u]) for u in utts] == [1, 3, 2]
    assert ref["train_mix000001"][2].endswith("train_mix000001-spk3.wav")
    assert all(os.path.isabs(p) for paths in ref.values() for p in paths)
    assert _lines(dst / "utt2num_spk") == [f"{u} {KS[u]}" for u in utts]
    assert _lines(dst / "utt2num_samples") == [f"{u} {N}" for u in utts]
    assert _lines(dst / "utt2spk") == [f"{u} {u}" for u in utts]
    ertm = _lines(dst / "espnet_rttm")
    assert ertm[:2] == [
        "SPEAKER train_mix000000 1 0 800 <NA> <NA> flite-kal <NA>",
        "END train_mix000000 <NA> <NA> 1600 <NA> <NA> <NA> <NA>",
    ]
    assert len(ertm) == 3 + 6 and len(_lines(dst / "rttm")) == 6
    assert not list(dst.parent.glob(".train.*"))  # no temp dirs left


def test_espnet_dataset_preprocessor_and_collate(src, tmp_path):
    from espnet2.train.dataset import ESPnetDataset

    from espnet_echo.train.collate_fn import EchoCollateFn
    from espnet_echo.train.preprocessor import EchoPreprocessor

    dst = tmp_path / "dump"
    format_data(src, dst, num_spk=3)
    triples = [
        (str(dst / "wav.scp"), "speech", "sound"),
        (str(dst / "speech_ref.scp"), "speech_ref", "variable_columns_sound"),
        (str(dst / "espnet_rttm"), "spk_labels", "rttm"),
        (str(dst / "utt2num_spk"), "num_spk", "text_int"),
    ] + [(str(dst / f"text_spk{n}"), f"text_spk{n}", "text") for n in (1, 2, 3)]
    chars = sorted(set("".join(TEXTS).replace(" ", "")))
    tokens = ["<blank>", "<unk>", "<space>", *chars, "<sos/eos>"]
    prep = EchoPreprocessor(
        train=False, token_type="char", token_list=tokens,
        text_name=["text_spk1", "text_spk2", "text_spk3"],
    )
    raw = ESPnetDataset(triples[:4])  # text values are str until preprocessed
    dataset = ESPnetDataset(triples, preprocess=prep)
    for utt in sorted(KS):
        _, data = raw[utt]
        k = KS[utt]
        assert data["speech"].shape == (N,)
        assert data["speech_ref"].shape == ((k, N) if k > 1 else (1, N))
        assert data["spk_labels"].shape == (N, k)
        assert data["spk_labels"][:, 0].sum() == N // 2 + 1  # ESPnet: end inclusive
        assert int(data["num_spk"][0]) == k
        # the mixture is the exact int16 sum of the sources (+ noise)
        assert np.all(np.abs(data["speech"] - data["speech_ref"].sum(0)) < 51 / 32768)
        _, prepped = dataset[utt]
        assert prepped["speech_ref"].shape == (N, k)
        present = [len(prepped[f"text_spk{n}"]) > 0 for n in (1, 2, 3)]
        assert present == [n <= k for n in (1, 2, 3)]

    collate = EchoCollateFn(float_pad_value=0.0, int_pad_value=-1, not_sequence=["num_spk"])
    uttids, batch = collate([dataset["train_mix000000"], dataset["train_mix000001"]])
    assert uttids == ["train_mix000000", "train_mix000001"]
    assert batch["speech"].shape == (2, N)
    assert batch["speech_ref"].shape == (2, N, 3)
    assert batch["spk_labels"].shape == (2, N, 3)
    assert batch["speech_ref"][0, :, 1:].abs().sum() == 0  # padded absent speakers
    assert batch["num_spk"].tolist() == [[1], [3]]
    assert batch["text_spk3_lengths"].tolist() == [0, len("A DOG RAN")]
    assert batch["text_spk1"][0, : len("HELLO WORLD")].min() >= 0


def _edit(path: Path, lineno: int, new_line: str):
    lines = _lines(path)
    lines[lineno - 1] = new_line
    _write(path, lines)


def _wav(src: Path, utt: str, name: str) -> Path:
    return src.parent.parent / "wavs" / f"{utt}-{name}.wav"


def _rewrite(path: Path, data, fs=FS, subtype="PCM_16"):
    soundfile.write(path, data, fs, subtype=subtype)


def _nan(path):
    x = np.zeros(N, np.float32)
    x[10] = np.nan
    _rewrite(path, x, subtype="FLOAT")


def _cut(path, nbytes):
    data = path.read_bytes()
    path.write_bytes(data[:-nbytes] if nbytes else b"RIFF\x00\x00junkjunkjunk")


def _append(path: Path, line: str):
    _write(path, _lines(path) + [line])


def _num_samples(s: Path):
    _edit(s / "utt2num_samples", 1, "train_mix000000 1700")
    _edit(s / "espnet_rttm", 2, "END train_mix000000 <NA> <NA> 1700 <NA> <NA> <NA> <NA>")


M0, M1, M2 = "train_mix000000", "train_mix000001", "train_mix000002"
SPK = "<NA> <NA> flite-kal <NA> <NA>"

# case -> (mutation of the source dir, num_spk, regex naming the file)
BAD = {
    "wav_columns": (
        lambda s: _edit(s / "wav.scp", 2, f"{M1} /a.wav /b.wav"),
        3,
        r"wav.scp:2: .*/a.wav /b.wav: audio file not found \(the whole rest of the line is "
        r"one path",
    ),
    "unknown_utt": (
        lambda s: _append(s / "text_spk1", "train_mix000099 HI"),
        3,
        r"text_spk1:4: utterance id 'train_mix000099' is not in .*wav.scp",
    ),
    "k_inconsistent": (
        lambda s: _edit(s / "utt2num_spk", 3, f"{M2} 3"),
        3,
        rf"spk3.scp: utterance '{M2}' is missing; .*utt2num_spk:3 says K=3",
    ),
    "k_over_num_spk": (
        lambda s: None,
        2,
        rf"utt2num_spk:2: utterance '{M1}' has K=3 speakers, more than --num_spk 2",
    ),
    "missing_noise_line": (
        lambda s: _write(s / "noise.scp", _lines(s / "noise.scp")[:2]),
        3,
        rf"noise.scp: utterance '{M2}' of .*wav.scp:3 is missing",
    ),
    "sample_rate": (
        lambda s: _rewrite(_wav(s, M1, "spk2"), np.zeros(N, np.int16), fs=8000),
        3,
        rf"{M1}-spk2.wav: sample rate 8000 Hz, expected 16000 Hz",
    ),
    "stereo": (
        lambda s: _rewrite(_wav(s, M0, "mix"), np.zeros((N, 2), np.int16)),
        3,
        rf"{M0}-mix.wav: expected mono audio, got 2 channels",
    ),
    "nan": (
        lambda s: _nan(_wav(s, M2, "noise")),
        3,
        rf"{M2}-noise.wav: audio contains NaN",
    ),
    "truncated": (
        lambda s: _cut(_wav(s, M1, "spk3"), 1000),
        3,
        rf"{M1}-spk3.wav: truncated WAV file: the header declares 3200 bytes",
    ),
    "corrupt": (
        lambda s: _cut(_wav(s, M1, "spk1"), 0),
        3,
        rf"{M1}-spk1.wav: cannot read audio",
    ),
    "empty": (
        lambda s: _rewrite(_wav(s, M0, "noise"), np.zeros(0, np.int16)),
        3,
        rf"{M0}-noise.wav: empty audio",
    ),
    "missing_file": (
        lambda s: _wav(s, M2, "mix").unlink(),
        3,
        rf"{M2}-mix.wav: audio file not found",
    ),
    "source_length": (
        lambda s: _rewrite(_wav(s, M1, "spk2"), np.zeros(N - 10, np.int16)),
        3,
        rf"spk2.scp:1: .*{M1}-spk2.wav: source 2 of '{M1}' has 1590 samples at 16000 Hz but "
        r"its mixture",
    ),
    "num_samples": (
        _num_samples,
        3,
        rf"utt2num_samples:1: says 1700 samples but the audio of '{M0}' has 1600: "
        rf".*wav.scp:1 \(.*{M0}-mix.wav: 1600 samples at 16000 Hz\)",
    ),
    "rttm_past_end": (
        lambda s: _edit(s / "rttm", 1, f"SPEAKER {M0} 1 0.05 0.1 {SPK}"),
        3,
        rf"rttm:1: turn 0.05..0.15 ends past the end of the audio of '{M0}' \(0.1 s\)",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_keeps_previous_dump(src, tmp_path, case):
    mutate, num_spk, pattern = BAD[case]
    dst = tmp_path / "dump" / "train"
    format_data(src, dst, num_spk=3)
    before = snapshot(dst)
    mutate(src)
    with pytest.raises(ValueError, match=pattern) as err:
        format_data(src, dst, num_spk=num_spk)
    assert "\n" not in str(err.value)
    assert snapshot(dst) == before
    assert sorted(p.name for p in dst.parent.iterdir()) == ["train"]  # no temp dirs left


def test_failed_first_run_creates_nothing(src, tmp_path):
    _rewrite(_wav(src, "train_mix000000", "mix"), np.zeros((N, 2), np.int16))
    with pytest.raises(ValueError, match="expected mono"):
        format_data(src, tmp_path / "out" / "train", num_spk=3)
    assert list((tmp_path / "out").iterdir()) == []


def test_idempotent(src, tmp_path, caplog):
    dst = tmp_path / "dump"
    assert format_data(src, dst, num_spk=3) is True
    mtime = (dst / "wav.scp").stat().st_mtime_ns
    with caplog.at_level(logging.INFO):
        assert format_data(src, dst, num_spk=3) is False
    assert "nothing to do" in caplog.text
    assert (dst / "wav.scp").stat().st_mtime_ns == mtime
    # another option, an edited input or a lost output file all trigger a new run
    assert format_data(src, dst, num_spk=4) is True
    assert (dst / "text_spk4").exists()
    assert format_data(src, dst, num_spk=3) is True and not (dst / "text_spk4").exists()
    _edit(src / "text_spk1", 1, "train_mix000000 GOODBYE WORLD")
    assert format_data(src, dst, num_spk=3) is True
    assert _lines(dst / "text_spk1")[0] == "train_mix000000 GOODBYE WORLD"
    (dst / "utt2spks").unlink()
    assert format_data(src, dst, num_spk=3) is True and (dst / "utt2spks").exists()
    _rewrite(_wav(src, "train_mix000000", "noise"), np.ones(N, np.int16))  # audio change
    assert format_data(src, dst, num_spk=3) is True


def test_resample(tmp_path, caplog):
    src = make_src(tmp_path, fs=8000, n=N // 2)
    dst = tmp_path / "dump"
    with pytest.raises(ValueError, match=r"train_mix000000-mix.wav: sample rate 8000 Hz"):
        format_data(src, dst, num_spk=3)
    with caplog.at_level(logging.WARNING):
        assert format_data(src, dst, num_spk=3, resample=True) is True
    assert "resampling 8000 Hz to 16000 Hz" in caplog.text
    wav_scp = dict(line.split() for line in _lines(dst / "wav.scp"))
    assert wav_scp[M1] == os.path.abspath(dst / "wav" / f"{M1}-mix.wav")
    scps = ("speech_ref.scp", "noise.scp", "wav.scp")
    for line in [line for name in scps for line in _lines(dst / name)]:
        for path in line.split()[1:]:
            info = soundfile.info(path)
            assert (info.samplerate, info.frames) == (FS, N), path
    assert _lines(dst / "utt2num_samples")[0] == f"train_mix000000 {N}"
    assert _lines(dst / "espnet_rttm")[:2] == [
        "SPEAKER train_mix000000 1 0 800 <NA> <NA> flite-kal <NA>",
        f"END train_mix000000 <NA> <NA> {N} <NA> <NA> <NA> <NA>",
    ]
    assert format_data(src, dst, num_spk=3, resample=True) is False


def test_rttm_derived_from_either_file(src, tmp_path):
    format_data(src, tmp_path / "full", num_spk=3)
    os.rename(src / "espnet_rttm", tmp_path / "espnet_rttm")
    format_data(src, tmp_path / "from_rttm", num_spk=3)
    full = _lines(tmp_path / "full" / "espnet_rttm")
    assert _lines(tmp_path / "from_rttm" / "espnet_rttm") == full
    os.rename(tmp_path / "espnet_rttm", src / "espnet_rttm")
    (src / "rttm").unlink()
    format_data(src, tmp_path / "from_ertm", num_spk=3)
    assert _lines(tmp_path / "from_ertm" / "rttm") == _lines(tmp_path / "full" / "rttm")


def test_minimal_source_and_parallel_jobs(src, tmp_path):
    for name in ("espnet_rttm", "rttm", "noise.scp", "utt2spks", "utt2spk", "spk2utt",
                 "utt2num_samples", "text_spk1", "text_spk2", "text_spk3"):
        (src / name).unlink()
    format_data(src, tmp_path / "a", num_spk=3, nj=1)
    format_data(src, tmp_path / "b", num_spk=3, nj=2)
    assert sorted(snapshot(tmp_path / "a")) == sorted(
        [STAMP_NAME, "speech_ref.scp", "spk2utt", "utt2num_samples", "utt2num_spk", "utt2spk",
         "wav.scp"]
    )
    a, b = snapshot(tmp_path / "a"), snapshot(tmp_path / "b")
    assert {k: v for k, v in a.items() if k != STAMP_NAME} == {
        k: v for k, v in b.items() if k != STAMP_NAME
    }


def test_cli(src, tmp_path):
    dst = tmp_path / "dump"
    main(["--src", str(src), "--dst", str(dst), "--num_spk", "3", "--fs", "16000",
          "--resample", "false", "--nj", "1"])
    assert (dst / "wav.scp").exists()
    pattern = r"format_data: error: .*utt2num_spk:2: .*--num_spk 2"
    with pytest.raises(SystemExit, match=pattern):
        main(["--src", str(src), "--dst", str(dst), "--num_spk", "2"])


def test_a_mistyped_dst_destroys_nothing(src, tmp_path):
    """A --dst that is a parent of other dumps, a dir that holds the source, or any
    non-empty dir that is not an earlier dump is refused; everything in it stays."""
    format_data(src, tmp_path / "dump" / "train", num_spk=3)
    before = sorted(p.name for p in (tmp_path / "dump" / "train").iterdir())
    with pytest.raises(SystemExit) as e:  # the parent of a dump
        main(["--src", str(src), "--dst", str(tmp_path / "dump"), "--num_spk", "3"])
    assert "not an earlier output of this tool" in str(e.value.code)
    assert sorted(p.name for p in (tmp_path / "dump" / "train").iterdir()) == before
    with pytest.raises(ValueError, match="contains the source data dir"):
        format_data(src, src.parent, num_spk=3)
    assert src.is_dir() and (src / "wav.scp").is_file()
    format_data(src, tmp_path / "dump" / "train", num_spk=3)  # its own dump: rebuilt fine
