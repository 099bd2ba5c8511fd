"""LibriMix preparation: the generated tree read into the contract, and its refusals.

Every bad input gives one error naming the path at fault, and nothing is written.
"""

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet_echo.bin.prepare_librimix import main as cli_main
from espnet_echo.data.corpora.librimix import (
    STAMP_NAME,
    LibriMixOptions,
    prepare_librimix,
    read_mixture_csv,
    write_fake_librimix,
)
from espnet_echo.data.datadir import load_data_dir
from espnet_echo.utils.audio import AudioError
from espnet_echo.utils.fileio import DataFileError

OPTS = LibriMixOptions(num_spk=2, fs="8k", mode="min", mix="both", train_set="train-100")


@pytest.fixture()
def tree(tmp_path):
    truth = write_fake_librimix(tmp_path / "corpus", 2, "8k", "min", "train-100")
    return tmp_path / "corpus", truth


def _mode_dir(root: Path) -> Path:
    return root / "Libri2Mix" / "wav8k" / "min"


def _prepare(root: Path, out: Path, opts: LibriMixOptions = OPTS, **kw):
    return prepare_librimix(root, kw.pop("librispeech", root), out, opts, **kw)


def _snapshot(out: Path) -> dict:
    if not out.exists():
        return {}
    return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_prepares_contract_dirs(tree, tmp_path):
    root, truth = tree
    out = tmp_path / "data"
    dirs = _prepare(root, out, nj=2)
    assert [d.name for d in dirs] == ["train", "dev", "test"]
    for d in dirs:
        data = load_data_dir(d)
        assert (d / STAMP_NAME).is_file() and data.noise is not None
        for utt in data.wav:
            t = truth[utt]
            _, cut = data.read_audio(utt)
            assert cut.rate == 8000
            data.check_audio_lengths(utt, cut)
            assert data.utt2spks[utt] == t["speakers"]
            assert [data.text[1][utt], data.text[2][utt]] == t["texts"]
            assert data.spk2utt[utt] == [utt]
    first = (out / "dev" / "wav.scp").stat().st_mtime_ns
    _prepare(root, out)  # unchanged: skipped
    assert (out / "dev" / "wav.scp").stat().st_mtime_ns == first


def test_clean_mixtures_have_no_noise_and_options_replace_the_output(tree, tmp_path):
    root, _ = tree
    out = tmp_path / "data"
    _prepare(root, out)
    _prepare(root, out, LibriMixOptions(2, "8k", "min", "clean", "train-100"))
    data = load_data_dir(out / "test")
    assert data.noise is None and not (out / "test" / "noise.scp").exists()
    assert all("/mix_clean/" in entry for entry in data.wav.values())


def test_options_are_checked():
    with pytest.raises(ValueError, match=r"--fs must be one of \['8k', '16k'\], got '44k'"):
        LibriMixOptions(fs="44k")
    with pytest.raises(ValueError, match="--num_spk"):
        LibriMixOptions(num_spk=4)


def test_missing_root(tmp_path):
    out = tmp_path / "data"
    with pytest.raises(DataFileError, match=f"--librimix_root {tmp_path / 'nope'}: directory not found"):
        _prepare(tmp_path / "nope", out)
    assert not out.exists()


def test_variant_not_generated_names_the_path_and_what_is_there(tree, tmp_path):
    root, _ = tree
    out = tmp_path / "data"
    with pytest.raises(DataFileError) as err:
        _prepare(root, out, LibriMixOptions(2, "16k", "min", "both", "train-100"))
    assert str(root / "Libri2Mix" / "wav16k") in str(err.value)
    assert "found: wav8k" in str(err.value)
    with pytest.raises(DataFileError, match=str(root / "Libri3Mix")):
        _prepare(root, out, LibriMixOptions(3, "8k", "min", "both", "train-100"))
    assert not out.exists()


def test_missing_split_and_metadata(tree, tmp_path):
    root, _ = tree
    out = tmp_path / "data"
    # train-360 was not generated
    with pytest.raises(DataFileError, match=str(_mode_dir(root) / "train-360") + ".*not found"):
        _prepare(root, out, LibriMixOptions(2, "8k", "min", "both", "train-360"))
    csv_path = _mode_dir(root) / "metadata" / "mixture_test_mix_both.csv"
    csv_path.unlink()
    with pytest.raises(DataFileError, match=str(csv_path) + ": LibriMix metadata file not found"):
        _prepare(root, out)
    assert not out.exists()


def test_csv_without_a_column(tree, tmp_path):
    root, _ = tree
    csv_path = _mode_dir(root) / "metadata" / "mixture_dev_mix_both.csv"
    rows = list(csv.reader(open(csv_path)))
    with open(csv_path, "w", newline="") as f:
        csv.writer(f).writerows([r[:-2] + r[-1:] for r in rows])  # no noise_path
    with pytest.raises(DataFileError, match=str(csv_path) + r":1: missing column\(s\) noise_path"):
        _prepare(root, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_bad_mixture_id(tree, tmp_path):
    root, _ = tree
    csv_path = _mode_dir(root) / "metadata" / "mixture_dev_mix_both.csv"
    text = csv_path.read_text().splitlines()
    text[2] = "notanid" + text[2][text[2].index(","):]
    csv_path.write_text("\n".join(text) + "\n")
    with pytest.raises(DataFileError, match=str(csv_path) + ":3: mixture_ID 'notanid'"):
        read_mixture_csv(csv_path, _mode_dir(root) / "dev", OPTS)


def test_half_extracted_split(tree, tmp_path):
    """A CSV row whose wav is absent: one error with the count and the first path."""
    root, truth = tree
    out = tmp_path / "data"
    _prepare(root, out)
    before = _snapshot(out)
    gone = _mode_dir(root) / "test" / "s2" / f"{sorted(m for m in truth if truth[m]['split'] == 'test')[0]}.wav"
    gone.unlink()
    clean = LibriMixOptions(2, "8k", "min", "clean", "train-100")  # would rewrite
    with pytest.raises(DataFileError) as err:
        _prepare(root, out, clean)
    msg = str(err.value)
    assert "1 of the 6 audio files listed by" in msg and str(gone) in msg
    assert "only partly generated or extracted" in msg
    assert _snapshot(out) == before  # the earlier output is untouched


def test_wrong_rate(tree, tmp_path):
    root, truth = tree
    out = tmp_path / "data"
    utt = sorted(m for m in truth if truth[m]["split"] == "dev")[1]
    path = _mode_dir(root) / "dev" / "s1" / f"{utt}.wav"
    wav, _ = soundfile.read(str(path))
    soundfile.write(str(path), np.repeat(wav, 2), 16000, subtype="PCM_16")  # a 16k file
    with pytest.raises(AudioError, match=str(path) + ": sample rate 16000 Hz, expected 8000 Hz"):
        _prepare(root, out, nj=2)
    assert not out.exists()


def test_source_shorter_than_its_mixture(tree, tmp_path):
    root, truth = tree
    utt = sorted(m for m in truth if truth[m]["split"] == "test")[0]
    path = _mode_dir(root) / "test" / "noise" / f"{utt}.wav"
    wav, rate = soundfile.read(str(path))
    soundfile.write(str(path), wav[:-10], rate, subtype="PCM_16")
    with pytest.raises(AudioError, match=str(path) + r": \d+ samples, its mixture .* has \d+"):
        _prepare(root, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_silent_source(tree, tmp_path):
    root, truth = tree
    utt = sorted(m for m in truth if truth[m]["split"] == "dev")[0]
    path = _mode_dir(root) / "dev" / "s2" / f"{utt}.wav"
    n = soundfile.info(str(path)).frames
    soundfile.write(str(path), np.zeros(n), 8000, subtype="PCM_16")
    with pytest.raises(AudioError, match=str(path) + ": silent source"):
        _prepare(root, tmp_path / "data")


def test_missing_librispeech(tree, tmp_path):
    root, truth = tree
    out = tmp_path / "data"
    ls = tmp_path / "ls"
    ls.mkdir()
    with pytest.raises(DataFileError) as err:
        _prepare(root, out, librispeech=ls)
    assert str(ls / "train-clean-100") in str(err.value)
    assert str(ls / "LibriSpeech" / "train-clean-100") in str(err.value)
    # the LibriSpeech dir itself works as well as its parent
    _prepare(root, out, librispeech=root / "LibriSpeech")
    utt = sorted(m for m in truth if truth[m]["split"] == "test")[0]
    spk, chapter = utt.split("_")[0].split("-")[:2]
    trans = root / "LibriSpeech" / "test-clean" / spk / chapter / f"{spk}-{chapter}.trans.txt"
    trans.write_text("")
    with pytest.raises(DataFileError, match=str(trans) + f": no transcript for {utt.split('_')[0]}"):
        _prepare(root, tmp_path / "data2")
    trans.unlink()
    with pytest.raises(DataFileError, match=str(trans) + ": LibriSpeech transcript file not found"):
        _prepare(root, tmp_path / "data2")
    assert not (tmp_path / "data2").exists()


def test_refuses_to_replace_a_foreign_dir(tree, tmp_path):
    root, _ = tree
    out = tmp_path / "data"
    (out / "dev").mkdir(parents=True)
    (out / "dev" / "wav.scp").write_text("x /a.wav\n")
    with pytest.raises(FileExistsError, match=str(out / "dev") + ".*not an earlier output"):
        _prepare(root, out)
    assert not (out / "train").exists()


def test_cli_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        cli_main(["--librimix_root", str(tmp_path / "nope"), "--librispeech_root",
                  str(tmp_path), "--out_dir", str(tmp_path / "data")])
    assert str(err.value.code).startswith("prepare_librimix: error: --librimix_root ")
    assert not (tmp_path / "data").exists()
