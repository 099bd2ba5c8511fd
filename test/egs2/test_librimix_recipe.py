"""The LibriMix recipe's stages 1-4 on a tiny fake tree in LibriMix's generated layout.

The tree (``write_fake_librimix``) has LibriMix's directory names and metadata CSV
columns and LibriSpeech's transcript files, with synthesised audio (two tone bursts per
source), so the first stage a user runs is exercised without the corpus.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from espnet_echo.data.corpora.librimix import write_fake_librimix
from espnet_echo.data.datadir import load_data_dir

REPO = Path(__file__).resolve().parents[2]

CASES = {
    # Libri2Mix 8k min with WHAM!-style noise (the EEND-SS condition), train-100
    "2mix_8k_min_both": dict(num_spk=2, fs="8k", mode="min", mix="both", train="train-100"),
    # Libri3Mix 16k max, clean mixtures, train-360
    "3mix_16k_max_clean": dict(num_spk=3, fs="16k", mode="max", mix="clean", train="train-360"),
}


def _run(recipe: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, VIRTUAL_ENV=sys.prefix, OMP_NUM_THREADS="1",
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run(["./run.sh", *args], cwd=recipe, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module", params=sorted(CASES))
def prepared(request, tmp_path_factory):
    case = CASES[request.param]
    root = tmp_path_factory.mktemp(request.param)
    shutil.copytree(REPO / "egs2" / "librimix", root / "egs2" / "librimix", symlinks=True,
                    ignore=shutil.ignore_patterns("data", "dump", "exp", "RESULTS*.md"))
    shutil.copytree(REPO / "egs2" / "TEMPLATE", root / "egs2" / "TEMPLATE", symlinks=True)
    recipe = root / "egs2" / "librimix" / "echo1"
    corpus = root / "corpus"
    truth = write_fake_librimix(corpus, case["num_spk"], case["fs"], case["mode"],
                                case["train"], mixtures_per_split=2)
    args = ["--librimix_root", str(corpus), "--num_spk", str(case["num_spk"]),
            "--sample_rate", case["fs"], "--min_or_max", case["mode"], "--mix", case["mix"],
            "--librimix_train", case["train"], "--nj", "1", "--token_type", "char",
            "--ngpu", "0"]
    proc = _run(recipe, *args, "--stage", "1", "--stop_stage", "4")
    return dict(case=case, recipe=recipe, truth=truth, proc=proc, args=args)


def test_stages_1_to_4(prepared):
    proc, recipe, case = prepared["proc"], prepared["recipe"], prepared["case"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for split in ("train", "dev", "test"):
        dump = load_data_dir(recipe / "dump/raw" / split)
        assert (recipe / "dump/raw" / split / "speech_ref.scp").is_file()
        assert set(dump.utt2num_spk.values()) == {case["num_spk"]}
        for utt in dump.wav:
            _, cut = dump.read_audio(utt)
            assert cut.rate == 16000  # 8k is upsampled to the models' 16 kHz in stage 2
            dump.check_audio_lengths(utt, cut)
    assert (recipe / "data/token_list/char/tokens.txt").is_file()
    assert (recipe / "data/spk_list/spk_list.txt").is_file()
    assert (recipe / "exp/stats_fbank/train/feats_stats.npz").is_file()


def test_transcripts_speakers_and_noise(prepared):
    recipe, truth, case = prepared["recipe"], prepared["truth"], prepared["case"]
    split_of = {"train": case["train"], "dev": "dev", "test": "test"}
    for split, lm_split in split_of.items():
        data = load_data_dir(recipe / "data" / split)
        want = {m: t for m, t in truth.items() if t["split"] == lm_split}
        assert sorted(data.wav) == sorted(want)
        for utt, t in want.items():
            assert [data.text[n][utt] for n in range(1, case["num_spk"] + 1)] == t["texts"]
            assert data.utt2spks[utt] == t["speakers"]
            assert data.utt2num_samples[utt] == t["num_samples"]
        assert (data.noise is not None) == (case["mix"] == "both")
        # the dump keeps every transcript
        dump = load_data_dir(recipe / "dump/raw" / split)
        assert dump.text == data.text


def test_rttm_turns_lie_in_the_active_regions(prepared):
    """Each turn is a burst of its source widened to whole 10 ms frames (frames are laid
    from sample 0: start at most one frame before the burst, end less than one frame
    after it); every burst has its turn; espnet_rttm says the same in samples."""
    recipe, truth, case = prepared["recipe"], prepared["truth"], prepared["case"]
    rate = 8000 if case["fs"] == "8k" else 16000
    hop = rate // 100
    for split in ("train", "dev", "test"):
        data = load_data_dir(recipe / "data" / split)
        for utt, segs in data.rttm.items():
            t = truth[utt]
            for seg in segs:
                n = t["speakers"].index(seg.spk)
                start, end = round(seg.start * rate), round(seg.end * rate)
                assert any(a - hop < start <= a and b <= end < b + hop for a, b in t["bursts"][n]), (
                    utt, seg.line, t["bursts"][n])
            for n, bursts in enumerate(t["bursts"]):
                turns = [(round(s.start * rate), round(s.end * rate)) for s in segs
                         if s.spk == t["speakers"][n]]
                assert len(turns) == len(bursts)
            events = sorted(data.espnet_rttm[utt].events)
            assert events == sorted((s.spk, round(s.start * rate), round(s.end * rate))
                                    for s in segs)


def test_stage_1_is_idempotent_and_refuses_a_missing_corpus(prepared):
    recipe, args = prepared["recipe"], prepared["args"]
    stamp = (recipe / "data/train/wav.scp").stat().st_mtime_ns
    proc = _run(recipe, *args, "--stage", "1", "--stop_stage", "1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "up to date" in proc.stdout + proc.stderr
    assert (recipe / "data/train/wav.scp").stat().st_mtime_ns == stamp

    bad = list(args)
    bad[bad.index("--librimix_root") + 1] = str(recipe / "nowhere")
    before = sorted(p.name for p in (recipe / "data").iterdir())
    proc = _run(recipe, *bad, "--stage", "1", "--stop_stage", "1")
    assert proc.returncode != 0
    assert f"--librimix_root {recipe / 'nowhere'}: directory not found" in proc.stdout + proc.stderr
    assert sorted(p.name for p in (recipe / "data").iterdir()) == before
    assert (recipe / "data/train/wav.scp").stat().st_mtime_ns == stamp


def test_ume_config_without_owsm_weights_stops_before_training(prepared):
    recipe, args = prepared["recipe"], prepared["args"]
    if prepared["case"]["num_spk"] != 2:
        pytest.skip("one case is enough")
    proc = _run(recipe, *args, "--stage", "6", "--stop_stage", "6")
    assert proc.returncode == 1
    assert "exp/owsm_init/encoder.pth, which does not exist" in proc.stderr
    assert "extract_owsm_encoder" in proc.stderr
    assert not (recipe / "exp/echo_train_echo25m").exists()
