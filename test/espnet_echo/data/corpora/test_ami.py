# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""AMI preparation on a tiny fake corpus in AMI's and AMI-diarization-setup's layout."""

from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet_echo.bin import prepare_ami as prepare_cli
from espnet_echo.data.corpora.ami import STAMP_NAME, prepare_ami
from espnet_echo.data.datadir import load_data_dir
from espnet_echo.data.format import format_data
from espnet_echo.metrics.scoring import reference_labels
from espnet_echo.utils.fileio import DataFileError

FS = 16000
DUR = 6.0
# (start, dur, speaker) as AMI-diarization-setup writes them (2 decimals, overlap allowed)
TURNS = [(0.37, 1.6, "MEO015"), (2.1, 1.4, "FEE013"), (3.3, 1.0, "MEO015"),
         (4.5, 1.2, "FEE016")]


def fake_ami(root: Path, meetings=("ES2004a", "IS1009b"), split="test", fs=FS) -> tuple:
    """``(amicorpus, setup)``: audio, lists, only_words RTTMs and UEMs of ``meetings``."""
    ami, setup = root / "amicorpus", root / "AMI-diarization-setup"
    rng = np.random.default_rng(0)
    (setup / "lists").mkdir(parents=True)
    (setup / "lists" / f"{split}.meetings.txt").write_text("".join(m + "\n" for m in meetings))
    for m in meetings:
        audio = ami / m / "audio"
        audio.mkdir(parents=True)
        n = int(DUR * fs)
        soundfile.write(audio / f"{m}.Mix-Headset.wav", 0.05 * rng.standard_normal(n), fs,
                        subtype="PCM_16")
        for sub, text in (
            (f"only_words/rttms/{split}/{m}.rttm",
             "".join(f"SPEAKER {m} 1 {s} {d} <NA> <NA> {spk} <NA> <NA>\n"
                     for s, d, spk in TURNS)),
            (f"uems/{split}/{m}.uem", f"{m} 1 0.000 {n / fs:.6f}\n"),
        ):
            (setup / sub).parent.mkdir(parents=True, exist_ok=True)
            (setup / sub).write_text(text)
    return ami, setup


def test_prepares_a_scoring_dir_the_reader_and_format_accept(tmp_path):
    ami, setup = fake_ami(tmp_path)
    (out,) = prepare_ami(tmp_path, setup, tmp_path / "data", ["test"])  # root above amicorpus
    assert out == tmp_path / "data" / "test"
    wav = (out / "wav.scp").read_text().splitlines()
    assert wav == [f"ES2004a {ami.resolve()}/ES2004a/audio/ES2004a.Mix-Headset.wav",
                   f"IS1009b {ami.resolve()}/IS1009b/audio/IS1009b.Mix-Headset.wav"]
    assert (out / "utt2num_spk").read_text() == "ES2004a 3\nIS1009b 3\n"
    assert (out / "utt2spks").read_text().split("\n")[0] == "ES2004a MEO015 FEE013 FEE016"
    assert (out / "utt2num_samples").read_text().split("\n")[0] == f"ES2004a {int(DUR * FS)}"
    assert (out / "uem").read_text().split("\n")[0] == "ES2004a 1 0.000000 6.000000"
    assert (out / "rttm").read_text().split("\n")[0] == (
        "SPEAKER ES2004a 1 0.370000 1.600000 <NA> <NA> MEO015 <NA> <NA>")
    assert (out / STAMP_NAME).is_file()
    assert not list(out.glob("spk*.scp")) and not list(out.glob("text*"))

    ddir = load_data_dir(out)  # the one reader: a scoring dir without sources is complete
    ddir.check_complete()
    ann, uem = reference_labels(ddir, "ES2004a")
    assert uem == [(0.0, DUR)] and sorted(ann.labels()) == ["FEE013", "FEE016", "MEO015"]
    # stage 2 dumps long recordings without sources (no speech_ref.scp)
    dump = tmp_path / "dump" / "test"
    format_data(out, dump, num_spk=3, fs=FS)
    assert not (dump / "speech_ref.scp").exists()
    assert (dump / "uem").read_text() == (out / "uem").read_text()
    # a re-run replaces its own output
    prepare_ami(ami, setup, tmp_path / "data", ["test"])


def _raises(match, *args, **kwargs):
    with pytest.raises(DataFileError, match=match):
        prepare_ami(*args, **kwargs)


def test_missing_roots_and_metadata_name_the_path(tmp_path):
    ami, setup = fake_ami(tmp_path)
    out = tmp_path / "data"
    _raises(rf"{tmp_path}/nope: AMI root not found", tmp_path / "nope", setup, out, ["test"])
    _raises(rf"{tmp_path}/nope: AMI-diarization-setup dir not found", ami, tmp_path / "nope",
            out, ["test"])
    _raises(rf"{ami}/lists: not found", ami, ami, out, ["test"])
    _raises(rf"{setup}/lists/dev.meetings.txt: meeting list not found", ami, setup, out,
            ["test", "dev"])
    rttm = setup / "only_words/rttms/test/IS1009b.rttm"
    rttm.rename(rttm.with_suffix(".bak"))
    _raises(rf"{rttm}: reference RTTM of meeting IS1009b .* not found", ami, setup, out,
            ["test"])
    rttm.with_suffix(".bak").rename(rttm)
    uem = setup / "uems/test/ES2004a.uem"
    uem.unlink()
    _raises(rf"{uem}: UEM of meeting ES2004a .* not found", ami, setup, out, ["test"])
    uem.write_text("ES2004a 1 0.0 9.0\n")
    _raises(rf"{uem}:1: range ends at 9.000 s, past the end of .*ES2004a.Mix-Headset.wav",
            ami, setup, out, ["test"])
    uem.write_text("ES2004b 1 0.0 6.0\n")
    _raises(rf"{uem}:1: expected the ranges of meeting ES2004a only", ami, setup, out,
            ["test"])
    uem.write_text("ES2004a 1 0.0 6.0\n")
    rttm.write_text(rttm.read_text() + "SPEAKER IS1009b 1 5.9 1.0 <NA> <NA> X <NA> <NA>\n")
    _raises(rf"{rttm}:5: turn ends at 6.900 s, past the end", ami, setup, out, ["test"])
    rttm.write_text("SPEAKER ES2004a 1 0.1 1.0 <NA> <NA> X <NA> <NA>\n")
    _raises(rf"{rttm}:1: utterance 'ES2004a' is not in meeting IS1009b", ami, setup, out,
            ["test"])
    assert not out.exists()  # nothing written by any failed run


def test_half_extracted_corpus_and_wrong_rate(tmp_path):
    ami, setup = fake_ami(tmp_path)
    out = tmp_path / "data"
    prepare_ami(ami, setup, out, ["test"])
    before = (out / "test" / "wav.scp").read_text()
    wav = ami / "IS1009b/audio/IS1009b.Mix-Headset.wav"
    wav.rename(tmp_path / "x.wav")
    _raises(rf"{wav}: not found \(1 of the 2 meetings of .*test.meetings.txt have no "
            r"Mix-Headset audio .*half-extracted.*missing: IS1009b", ami, setup, out, ["test"])
    _raises(r"Array1-01.wav: not found \(2 of the 2 meetings .*every meeting lacks its "
            "audio", ami, setup, out, ["test"], mic="sdm")
    soundfile.write(wav, np.zeros(int(DUR * 8000)), 8000)
    _raises(rf"{wav}: sample rate 8000 Hz, expected 16000 Hz", ami, setup, out, ["test"])
    soundfile.write(wav, np.zeros((int(DUR * FS), 2)), FS)
    _raises(rf"{wav}: 2 channels", ami, setup, out, ["test"])
    soundfile.write(wav, np.zeros(int(DUR * FS)), FS, subtype="PCM_16")
    wav.write_bytes(wav.read_bytes()[:50000])  # an interrupted download
    _raises(rf"{wav}: truncated WAV file: the header declares 192000 bytes", ami, setup, out,
            ["test"])
    wav.write_bytes(b"RIFF....not a wav")
    _raises(rf"{wav}: cannot read the audio header", ami, setup, out, ["test"])
    assert (out / "test" / "wav.scp").read_text() == before  # earlier output untouched
    assert sorted(p.name for p in out.iterdir()) == ["test"]  # no temp dir left


def test_cli_exits_with_one_line(tmp_path, capsys):
    ami, setup = fake_ami(tmp_path)
    (setup / "lists/test.meetings.txt").write_text("ES2004a\nnot a meeting\n")
    with pytest.raises(SystemExit, match=r"^prepare_ami: error: .*test.meetings.txt:2: "
                       "expected one AMI meeting id"):
        prepare_cli.main(["--ami_root", str(ami), "--setup_root", str(setup),
                          "--out_dir", str(tmp_path / "data"), "--splits", "test"])
    (setup / "lists/test.meetings.txt").write_text("ES2004a\n")
    prepare_cli.main(["--ami_root", str(ami), "--setup_root", str(setup),
                      "--out_dir", str(tmp_path / "data"), "--splits", "test"])
    assert (tmp_path / "data/test/wav.scp").read_text().count("\n") == 1
