"""VoxCeleb2-Mix data prep on a tiny fake VoxCeleb2 tree (synthesised 1 s wavs)."""

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet_echo.bin import prepare_voxceleb2mix as cli
from espnet_echo.data.corpora import voxceleb2mix as vm
from espnet_echo.data.datadir import load_data_dir
from espnet_echo.data.rttm import read_rttm_segments


def make_tree(root: Path, num_dev=8, num_test=3, videos=2, utts=2, fs=16000, ext=".wav",
              meta=True):
    """``<root>/{dev,test}/wav/id#####/<video>/<nnnnn>.wav`` with tone bursts + noise."""
    rng = np.random.default_rng(0)
    rows = ["VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set "]
    n = 0
    for subset, count in (("dev", num_dev), ("test", num_test)):
        for _ in range(count):
            n += 1
            spk = f"id{n:05d}"
            rows.append(f"{spk} ,n{n:06d} ,{'mf'[n % 2]} ,{subset} ")
            f0 = 100 + 15 * n
            for v in range(videos):
                d = root / subset / "wav" / spk / f"vid{n:03d}_{v}Xy"
                d.mkdir(parents=True)
                for u in range(utts):
                    t = np.arange(fs) / fs
                    env = (np.sin(2 * np.pi * 3 * t + u) > -0.3).astype(float)
                    x = 0.3 * env * np.sin(2 * np.pi * f0 * t)
                    x += 0.001 * rng.standard_normal(fs)
                    path = d / f"{u + 1:05d}{ext}"
                    if ext == ".wav":
                        soundfile.write(path, x.astype(np.float32), fs, subtype="PCM_16")
                    else:
                        path.write_bytes(b"\x00\x00\x00\x20ftypM4A fake")
    if meta:
        (root / "vox2_meta.csv").write_text("\n".join(rows) + "\n")
    return root


def config(tmp_path, root, **kw):
    base = dict(root=str(root), out_dir=str(tmp_path / "out/data"),
                wav_dir=str(tmp_path / "out/wav"), num_train_spk=-1, num_dev_spk=3,
                num_test_spk=-1, num_train=6, num_dev=3, num_test=3, min_spk=1, max_spk=3,
                nj=1)
    base.update(kw)
    return vm.Vox2MixConfig(**base)


def test_builds_contract_dirs_with_disjoint_speakers(tmp_path):
    root = make_tree(tmp_path / "vox2")
    summary = vm.build_voxceleb2mix(config(tmp_path, root))
    assert "train" in summary.format()
    seen = {}
    for split in vm.SPLITS:
        d = tmp_path / "out/data" / split
        assert not list(d.glob("text_spk*"))  # no transcripts
        ddir = load_data_dir(d)
        spks = {s for v in ddir.utt2spks.values() for s in v}
        assert all(vm.SPEAKER_DIR.match(s) for s in spks)
        seen[split] = spks
        turns = read_rttm_segments(d / "rttm")
        for utt in ddir.utts:  # every source has a turn, under its VoxCeleb2 id
            assert {t.spk for t in turns[utt]} == set(ddir.utt2spks[utt])
        # mix == sum(sources) + noise exactly
        utt = ddir.utts[0]
        mix = soundfile.read(ddir.wav[utt], dtype="int16")[0].astype(np.int32)
        total = soundfile.read(ddir.noise[utt], dtype="int16")[0].astype(np.int32)
        for n in range(1, ddir.num_spk[utt] + 1):
            total += soundfile.read(ddir.spk[n][utt], dtype="int16")[0]
        assert np.array_equal(mix, total)
    assert not seen["train"] & seen["dev"] and not seen["train"] & seen["test"]
    assert not seen["dev"] & seen["test"]
    # test speakers come from VoxCeleb2's test subset (ids 9..11)
    assert seen["test"] <= {"id00009", "id00010", "id00011"}
    # same seed, same files
    before = (tmp_path / "out/data/train/rttm").read_text()
    vm.build_voxceleb2mix(config(tmp_path, root))
    assert (tmp_path / "out/data/train/rttm").read_text() == before


def test_pool_split_and_cli(tmp_path, capsys):
    root = make_tree(tmp_path / "vox2", num_test=0, meta=False)
    out = tmp_path / "o"
    cli.main(["--root", str(root), "--out_dir", str(out / "data"), "--wav_dir",
              str(out / "wav"), "--test_from", "pool", "--num_dev_spk", "2",
              "--num_test_spk", "2", "--num_train", "4", "--num_dev", "2", "--num_test", "2",
              "--max_spk", "2", "--nj", "1"])
    assert "train" in capsys.readouterr().out
    spk = {s: {x for line in (out / "data" / s / "utt2spks").read_text().splitlines()
               for x in line.split()[1:]} for s in vm.SPLITS}
    assert spk["test"] and not spk["test"] & (spk["train"] | spk["dev"])
    assert not spk["train"] & spk["dev"]
    assert '"test_from": "pool"' in (out / "data/test" / vm.STAMP).read_text()


def _nothing_written(tmp_path):
    return not (tmp_path / "out").exists()


def test_missing_root(tmp_path):
    with pytest.raises(vm.VoxCeleb2MixError, match=r"nowhere: VoxCeleb2 root does not exist"):
        vm.build_voxceleb2mix(config(tmp_path, tmp_path / "nowhere"))
    assert _nothing_written(tmp_path)


def test_empty_tree_names_where_it_looked(tmp_path):
    (tmp_path / "vox2/dev/aac").mkdir(parents=True)
    with pytest.raises(vm.VoxCeleb2MixError,
                       match=r"no VoxCeleb2 speaker dir.*dev/aac.*test/wav"):
        vm.build_voxceleb2mix(config(tmp_path, tmp_path / "vox2"))
    assert _nothing_written(tmp_path)


def test_half_extracted_speaker_and_empty_file(tmp_path):
    root = make_tree(tmp_path / "vox2")
    (root / "dev/wav/id00099/vidX").mkdir(parents=True)
    with pytest.raises(vm.VoxCeleb2MixError, match=r"id00099: speaker dir holds no"):
        vm.build_voxceleb2mix(config(tmp_path, root, meta_csv=None))
    (root / "dev/wav/id00099/vidX/00001.wav").write_bytes(b"")
    with pytest.raises(vm.VoxCeleb2MixError, match=r"00001.wav: empty audio file"):
        vm.build_voxceleb2mix(config(tmp_path, root))
    assert _nothing_written(tmp_path)


def test_metadata_checks(tmp_path):
    root = make_tree(tmp_path / "vox2")
    with pytest.raises(vm.VoxCeleb2MixError,
                       match=r"missing.csv: VoxCeleb2 metadata file not found"):
        vm.build_voxceleb2mix(config(tmp_path, root, meta_csv=str(tmp_path / "missing.csv")))
    (root / "vox2_meta.csv").write_text("VoxCeleb2 ID,Gender\nid00001,m\n")
    with pytest.raises(vm.VoxCeleb2MixError, match=r"vox2_meta.csv:1: missing column"):
        vm.build_voxceleb2mix(config(tmp_path, root))
    (root / "vox2_meta.csv").write_text(
        "VoxCeleb2 ID,VGGFace2 ID,Gender,Set\nid00001,n1,m,dev\n")
    with pytest.raises(vm.VoxCeleb2MixError, match=r"speaker id00002 is not in"):
        vm.build_voxceleb2mix(config(tmp_path, root))
    assert _nothing_written(tmp_path)


def test_too_few_speakers(tmp_path):
    root = make_tree(tmp_path / "vox2", num_dev=4, num_test=3)
    with pytest.raises(vm.VoxCeleb2MixError,
                       match=r"the dev split needs 5 speakers but only 4"):
        vm.build_voxceleb2mix(config(tmp_path, root, num_dev_spk=5))
    with pytest.raises(vm.VoxCeleb2MixError,
                       match=r"train split gets 1 speakers, fewer than max_spk=3"):
        vm.build_voxceleb2mix(config(tmp_path, root))
    with pytest.raises(vm.VoxCeleb2MixError, match=r"needs the VoxCeleb2 test subset"):
        vm.build_voxceleb2mix(config(tmp_path, make_tree(tmp_path / "v2", num_test=0)))
    assert _nothing_written(tmp_path)


def test_wrong_rate_without_resample(tmp_path):
    root = make_tree(tmp_path / "vox2", fs=8000)
    with pytest.raises(vm.VoxCeleb2MixError,
                       match=r"\.wav: sample rate 8000 Hz, expected 16000"):
        vm.build_voxceleb2mix(config(tmp_path, root))
    assert _nothing_written(tmp_path)
    with pytest.warns(UserWarning, match="resampling 8000 Hz"):
        vm.build_voxceleb2mix(config(tmp_path, root, resample=True, num_train=2,
                                     num_dev=1, num_test=1))
    assert load_data_dir(tmp_path / "out/data/train").num_spk


def test_m4a_without_decoder(tmp_path, monkeypatch):
    root = make_tree(tmp_path / "vox2", ext=".m4a")
    monkeypatch.setattr(vm, "m4a_decoder", lambda sample: None)
    with pytest.raises(vm.VoxCeleb2MixError) as err:
        vm.build_voxceleb2mix(config(tmp_path, root))
    msg = str(err.value)
    assert ".m4a: cannot decode m4a" in msg and "ffmpeg -y -i in.m4a" in msg
    assert str(root) in msg
    assert _nothing_written(tmp_path)


def test_refuses_foreign_output_dir(tmp_path):
    root = make_tree(tmp_path / "vox2")
    (tmp_path / "out/data/train").mkdir(parents=True)
    (tmp_path / "out/data/train/wav.scp").write_text("mine /x.wav\n")
    with pytest.raises(vm.VoxCeleb2MixError, match=r"train: exists and was not written"):
        vm.build_voxceleb2mix(config(tmp_path, root))
    assert (tmp_path / "out/data/train/wav.scp").read_text() == "mine /x.wav\n"
    assert not (tmp_path / "out/wav").exists()


def test_cli_error_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--root", str(tmp_path / "none"), "--out_dir", str(tmp_path / "d")])
    assert "prepare_voxceleb2mix: error:" in str(e.value) and "does not exist" in str(e.value)


def test_same_files_whatever_nj(tmp_path):
    root = make_tree(tmp_path / "vox2")
    vm.build_voxceleb2mix(config(tmp_path, root, nj=1))
    one = {p.name: p.read_text() for p in (tmp_path / "out/data/train").iterdir()}
    wav = tmp_path / "out/wav/train/mix/train_mix000003.wav"
    mix = soundfile.read(wav, dtype="int16")[0]
    vm.build_voxceleb2mix(config(tmp_path, root, nj=2))
    two = {p.name: p.read_text() for p in (tmp_path / "out/data/train").iterdir()}
    assert one == two
    assert np.array_equal(mix, soundfile.read(wav, dtype="int16")[0])


def test_m4a_through_ffmpeg_on_path(tmp_path, monkeypatch):
    """The ffmpeg path: a stand-in ``ffmpeg`` that writes the (WAV) input to stdout."""
    root = make_tree(tmp_path / "vox2", num_dev=5, num_test=2)
    for wav in list(root.rglob("*.wav")):
        wav.rename(wav.with_suffix(".m4a"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ffmpeg"
    fake.write_text(
        "#!/bin/sh\n"
        "while [ $# -gt 0 ]; do [ \"$1\" = -i ] && { cat \"$2\"; exit 0; }; shift; done\n"
        "exit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    summary = vm.build_voxceleb2mix(config(tmp_path, root, num_dev_spk=2, max_spk=2))
    assert summary.decoder == "ffmpeg"
    ddir = load_data_dir(tmp_path / "out/data/train")
    assert len(ddir.utts) == 6 and all(n > 0 for n in ddir.utt2num_samples.values())


def test_m4a_at_a_wrong_rate_stops_before_writing(tmp_path, monkeypatch):
    root = make_tree(tmp_path / "vox2", num_dev=5, num_test=2, fs=8000)
    for wav in list(root.rglob("*.wav")):
        wav.rename(wav.with_suffix(".m4a"))
    monkeypatch.setattr(vm, "m4a_decoder", lambda sample: "soundfile")
    with pytest.raises(vm.VoxCeleb2MixError, match=r"\.m4a: sample rate 8000 Hz, expected"):
        vm.build_voxceleb2mix(config(tmp_path, root, num_dev_spk=2, max_spk=2))
    assert _nothing_written(tmp_path)
