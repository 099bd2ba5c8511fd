import copy
import json

import numpy as np
import pytest
import soundfile
import torch

from espnet_echo.bin import echo_inference, pack
from espnet_echo.cluster.plda import PLDA
from espnet_echo.heads.abs_head import AbsEchoHead
from espnet_echo.inference.speech2echo import Speech2Echo, _ArraySource, mixture_gain
from espnet_echo.tasks.echo import EchoTask

TINY = [
    "--frontend_conf", "n_fft=512", "--frontend_conf", "win_length=400",
    "--frontend_conf", "hop_length=160", "--frontend_conf", "n_mels=16",
    "--encoder_conf", "output_size=32", "--encoder_conf", "num_blocks=2",
    "--encoder_conf", "attention_heads=2", "--encoder_conf", "linear_units=32",
    "--sep_head_conf", "enc_channels=16", "--sep_head_conf", "tcn_hidden=32",
    "--sep_head_conf", "tcn_bottleneck=16", "--sep_head_conf", "tcn_layers=2",
    "--sep_head_conf", "tcn_stacks=1",
    "--asr_head_conf", "linear_units=32", "--asr_head_conf", "attention_heads=2",
    "--asr_head_conf", "decoder_conf.num_blocks=1",
    "--asr_head_conf", "decoder_conf.linear_units=32",
    "--asr_head_conf", "decoder_conf.attention_heads=2",
    "--token_type", "char",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp")
    tokens = out / "tokens.txt"
    tokens.write_text("\n".join(["<blank>", "<unk>", "<space>", "A", "B", "<sos/eos>"]) + "\n")
    EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(out),
                       "--token_list", str(tokens), *TINY])
    model, _ = EchoTask.build_model_from_file(out / "config.yaml", None, "cpu")
    torch.save(model.state_dict(), out / "model.pth")
    return out


@pytest.fixture(scope="module")
def echo(model_dir):
    return Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth")


def test_result_fields(echo):
    res = echo(np.random.RandomState(0).randn(16000).astype(np.float32) * 0.1)
    assert 0 <= res.num_spk <= 3
    assert res.sources is not None and res.sources.shape[1] == 16000
    assert isinstance(res.texts, list)
    for start, end, spk in res.segments:
        assert 0 <= start < end <= 1.0 + 1e-6 and spk < res.num_spk


def test_one_encoder_pass_and_the_beam_search_is_built_once(model_dir):
    echo = Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth", beam_size=2)
    calls = []
    echo.model.encoder.register_forward_hook(lambda *a: calls.append(1))
    audio = np.random.RandomState(4).randn(3200).astype(np.float32) * 0.1
    first = echo(audio)
    asr = echo.model.heads["asr"]
    searches = dict(asr._beam_searches)
    second = echo(audio)
    assert len(calls) == 2  # one encoder pass per recording
    assert list(searches) == [(2, 0.3)] and asr._beam_searches == searches
    assert first.texts == second.texts and first.num_spk == second.num_spk


def _out(activity=None, energy=None, tokens=None, n=16000, t=25, envelopes=None,
         token_activity=None):
    """Standard head outputs for one recording (the policy's input).

    ``envelopes`` (S, T) scale slot s's constant waveform ``s + 1`` frame by frame;
    ``token_activity`` (T, S) is the ASR slots' activity.
    """
    out = {}
    if activity is not None:  # (T, S) 0/1
        act = torch.tensor(activity, dtype=torch.float32)[None]
        out.update(activity=act, activity_lengths=torch.tensor([act.shape[1]]))
    if energy is not None:
        src = torch.arange(1, len(energy) + 1, dtype=torch.float32)[:, None].expand(-1, n)
        src = src.clone()
        if envelopes is not None:
            env = torch.tensor(envelopes, dtype=torch.float32)
            src = src * env.repeat_interleave(n // env.shape[1], dim=1)
        out.update(sources=src[None], source_energy_db=torch.tensor([energy]))
    if tokens is not None:
        width = max(1, max(len(x) for x in tokens))
        tok = torch.full((1, len(tokens), width), -1)
        frames = torch.full((1, len(tokens), width), -1)
        for s, x in enumerate(tokens):
            tok[0, s, : len(x)] = torch.tensor(x, dtype=torch.long)
            frames[0, s, : len(x)] = torch.arange(len(x)) * 2
        if token_activity is None:
            token_activity = np.ones((t, len(tokens)))
        out.update(tokens=tok, token_lengths=torch.tensor([[len(x) for x in tokens]]),
                   token_frames=frames,
                   token_activity=torch.tensor(token_activity, dtype=torch.float32)[None])
    return out


def test_policy_counts_speakers_and_ties_every_head_to_them(echo):
    frames = int(round(1.0 / echo.frame_sec))  # 1 s of encoder frames
    half = frames // 2
    act = np.zeros((frames, 3))
    act[:half, 2] = 1  # slot 2: 0.5 s -> speaker 1 (slot order), first half
    act[half:, 0] = 1  # slot 0: 0.5 s -> speaker 0, second half; slot 1 silent
    energy = [-40.0, -5.0, -1.0]
    # separation slot 1 is loud in the first half (speaker 1), slot 2 in the second
    # (speaker 0), slot 0 is quiet throughout
    env = np.zeros((3, frames))
    env[1, :half], env[2, half:], env[0] = 1.0, 1.0, 0.01
    # ASR slot 0 speaks in the second half (speaker 0), slot 2 in the first (speaker 1)
    tok_act = np.zeros((frames, 3))
    tok_act[half:, 0], tok_act[:half, 2] = 1.0, 1.0
    tokens = [[3], [4], [4, 3]]  # "A", "B", "BA"
    res = echo.postprocess(
        _out(act, energy, tokens, envelopes=env, token_activity=tok_act), duration=1.0
    )
    assert res.num_spk == 2
    assert sorted({s for _, _, s in res.segments}) == [0, 1]
    # speaker 0 is slot 0 (slot order), its turn is the second half
    assert [seg for seg in res.segments if seg[2] == 0][0][0] == pytest.approx(0.5, abs=0.05)
    assert res.sources.shape == (2, 16000)
    # speaker 0's track is separation slot 2 (waveform 3), speaker 1's slot 1 (2)
    assert res.sources[0, -1] == 3.0 and res.sources[1, 0] == 2.0
    assert res.texts == ["A", "BA"]  # ASR slot 0 -> speaker 0, slot 2 -> speaker 1
    assert [w.text for w in res.words[1]] == ["BA"]
    assert res.exclusive_segments == res.segments  # no overlap

    # without activity: K = slots above sep_null_db, each its own speaker
    res = echo.postprocess(_out(None, [-40.0, -5.0, -1.0], None), duration=1.0)
    assert res.num_spk == 2 and res.segments == [] and res.exclusive_segments is None
    assert sorted(res.sources[:, 0].tolist()) == [2.0, 3.0]
    res = echo.postprocess(_out(None, [-40.0, -30.0, -1.0], None), duration=1.0)
    assert res.num_spk == 1 and res.sources[:, 0].tolist() == [3.0] and res.texts is None
    # activity says 1 speaker: one track, the slot loud while it talks
    one = np.zeros((frames, 3))
    one[:half, 1] = 1
    env1 = np.zeros((3, frames))
    env1[0, :half] = 1.0
    env1[2, half:] = 1.0
    res = echo.postprocess(_out(one, [-10.0, -50.0, -5.0], None, envelopes=env1),
                           duration=1.0)
    assert res.num_spk == 1 and res.sources.shape == (1, 16000)
    assert res.sources[0, 0] == 1.0 and res.sources[0, -1] == 0.0  # slot 0's waveform
    # transcripts only: the non-empty ASR slots are the speakers
    res = echo.postprocess(_out(None, None, [[], [4], [3]]), duration=1.0)
    assert res.num_spk == 2 and sorted(res.texts) == ["A", "B"] and res.sources is None
    # too-short activity (< min_speaker_sec) does not count
    short = np.zeros((frames, 3))
    short[:2, 0] = 1
    res = echo.postprocess(_out(short, None, None), duration=1.0)
    assert res.num_spk == 0 and res.segments == []


def test_exclusive_turns_keep_the_more_likely_speaker_in_overlap(echo):
    frames = int(round(1.0 / echo.frame_sec))
    post = np.zeros((frames, 3))
    post[:15, 0] = 0.9
    post[10:, 1] = 0.7  # frames 10..14 overlap; speaker 0 more likely there
    res = echo.postprocess(_out(post), duration=1.0)
    ex = res.exclusive_segments
    assert res.num_spk == 2 and len(res.segments) == 2
    assert [k for _, _, k in ex] == [0, 1]
    assert ex[0][1] == pytest.approx(15 * echo.frame_sec) == ex[1][0]


def test_has_diarization_follows_the_heads(echo, tmp_path):
    assert echo.has_diarization
    out = tmp_path / "nodiar"
    EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(out), "--diar_head", "none",
                       "--asr_head", "none", *TINY])
    model, _ = EchoTask.build_model_from_file(out / "config.yaml", None, "cpu")
    torch.save(model.state_dict(), out / "model.pth")
    sep_only = Speech2Echo(out / "config.yaml", out / "model.pth", sep_null_db=-200.0)
    assert not sep_only.has_diarization and sep_only.tokenizer is None
    res = sep_only(np.random.RandomState(5).randn(16000).astype(np.float32) * 0.1)
    assert res.num_spk == 3 and res.sources.shape == (3, 16000) and res.texts is None


def test_silence_gives_empty_result(echo):
    res = echo(np.zeros(16000, dtype=np.float32))
    assert res.num_spk == 0 and res.segments == [] and res.sources is None


@pytest.mark.parametrize(
    "audio,match",
    [
        (np.zeros((16000, 2), np.float32), "mono"),
        (np.full(16000, np.nan, np.float32), "NaN"),
        (np.zeros(0, np.float32), "empty"),
        (np.ones(100, np.float32), "shorter than two encoder frames"),
    ],
)
def test_bad_audio_is_rejected(echo, audio, match):
    with pytest.raises(ValueError, match=match):
        echo(audio, name="x.wav")


def test_checkpoint_that_does_not_match_config_is_rejected(model_dir, tmp_path):
    state = torch.load(model_dir / "model.pth", weights_only=True)
    state.pop(next(iter(state)))
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(RuntimeError, match="missing keys"):
        Speech2Echo(model_dir / "config.yaml", tmp_path / "bad.pth")


def test_inference_cli_writes_hypothesis_dir(model_dir, tmp_path):
    wav = tmp_path / "a.wav"
    soundfile.write(wav, np.random.RandomState(1).randn(24000) * 0.1, 16000)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "wav.scp").write_text(f"utt1 {wav}\n")
    out = tmp_path / "decode"
    echo_inference.main(["--train_config", str(model_dir / "config.yaml"),
                         "--model_file", str(model_dir / "model.pth"),
                         "--data_dir", str(tmp_path / "data"), "--output_dir", str(out)])
    assert (out / "utt2num_spk").read_text().startswith("utt1 ")
    assert (out / "rttm").is_file()
    info = json.loads((out / "info.json").read_text())
    assert info["rtf"] > 0 and info["encoder_params"] > 0
    for line in (out / "spk1.scp").read_text().splitlines():
        assert soundfile.info(line.split()[1]).samplerate == 16000


def test_pack_and_from_pretrained(model_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(model_dir)
    zip_path = tmp_path / "packed.zip"
    pack.main(["--train_config", "config.yaml", "--model_file", "model.pth",
               "--outpath", str(zip_path)])
    echo = Speech2Echo.from_pretrained(str(zip_path), cachedir=str(tmp_path / "cache"))
    res = echo(np.random.RandomState(2).randn(16000).astype(np.float32) * 0.1)
    assert res.sources is not None


def decode_args(model_dir, data, out, *extra):
    return ["--train_config", str(model_dir / "config.yaml"),
            "--model_file", str(model_dir / "model.pth"),
            "--data_dir", str(data), "--output_dir", str(out), *extra]


@pytest.fixture
def one_wav_data(tmp_path):
    wav = tmp_path / "a.wav"
    soundfile.write(wav, np.random.RandomState(3).randn(24000) * 0.1, 16000)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "wav.scp").write_text(f"utt1 {wav}\n")
    return tmp_path / "data"


def test_inference_cli_skips_a_current_dir_and_redecodes_on_change(model_dir, one_wav_data,
                                                                   tmp_path, caplog):
    out = tmp_path / "decode"
    echo_inference.main(decode_args(model_dir, one_wav_data, out))
    first = (out / "info.json").stat().st_mtime_ns
    (out / "score").mkdir()  # what stage 8 adds later survives a skipped rerun
    with caplog.at_level("INFO"):
        echo_inference.main(decode_args(model_dir, one_wav_data, out))
    assert "up to date; skipped" in caplog.text
    assert (out / "info.json").stat().st_mtime_ns == first and (out / "score").is_dir()
    # another decoding option: decoded again, from scratch (no file of the old run left)
    (out / "spk9.scp").write_text("utt1 stale.wav\n")
    echo_inference.main(decode_args(model_dir, one_wav_data, out, "--diar_threshold", "0.6"))
    assert (out / "info.json").stat().st_mtime_ns != first
    assert not (out / "spk9.scp").exists() and not (out / "score").exists()
    for line in (out / "spk1.scp").read_text().splitlines():
        assert soundfile.info(line.split()[1]).frames == 24000


def test_inference_cli_failure_keeps_the_previous_dir(model_dir, one_wav_data, tmp_path):
    out = tmp_path / "decode"
    echo_inference.main(decode_args(model_dir, one_wav_data, out))
    before = sorted(p.name for p in out.iterdir())
    (one_wav_data / "wav.scp").write_text(
        (one_wav_data / "wav.scp").read_text() + f"utt2 {tmp_path / 'missing.wav'}\n")
    # one line naming the file, no traceback; the earlier hypothesis dir is kept whole
    with pytest.raises(SystemExit, match="echo_inference: error: .*missing.wav"):
        echo_inference.main(decode_args(model_dir, one_wav_data, out))
    assert sorted(p.name for p in out.iterdir()) == before
    assert (out / "utt2num_spk").read_text().startswith("utt1 ")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".decode.")]


def test_inference_cli_decodes_each_segment_of_a_segments_dir(model_dir, tmp_path):
    """wav.scp of recordings (a path with a space, a pipe) cut by Kaldi segments."""
    rng = np.random.RandomState(5)
    (tmp_path / "audio dir").mkdir()
    rec1, rec2 = tmp_path / "audio dir" / "rec 1.wav", tmp_path / "rec2.wav"
    soundfile.write(rec1, rng.randn(32000) * 0.1, 16000)
    soundfile.write(rec2, rng.randn(24000) * 0.1, 16000)
    data = tmp_path / "data"
    data.mkdir()
    (data / "wav.scp").write_text(f"rec1 {rec1}\nrec2 cat {rec2} |\n")
    (data / "segments").write_text(
        "rec1_a rec1 0.0 0.5\nrec1_b rec1 0.5 2.0\nrec2_a rec2 0.25 -1\n"
    )
    out = tmp_path / "decode"
    echo_inference.main(decode_args(model_dir, data, out))
    counts = dict(line.split() for line in (out / "utt2num_spk").read_text().splitlines())
    assert sorted(counts) == ["rec1_a", "rec1_b", "rec2_a"]
    lengths = {"rec1_a": 8000, "rec1_b": 24000, "rec2_a": 20000}
    for line in (out / "spk1.scp").read_text().splitlines():
        utt, path = line.split()
        assert soundfile.info(path).frames == lengths[utt]
    for line in (out / "rttm").read_text().splitlines():
        fields = line.split()
        assert fields[1] in lengths
        assert float(fields[3]) + float(fields[4]) <= lengths[fields[1]] / 16000 + 1e-3
    info = json.loads((out / "info.json").read_text())
    assert info["num_utts"] == 3 and info["audio_sec"] == pytest.approx(52000 / 16000)
    # the separated first segment is the model's output for the cut audio alone
    echo = Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth")
    cut, _ = soundfile.read(rec1, dtype="float32")
    src, _ = soundfile.read(out / "wav" / "rec1_a_spk1.wav", dtype="float32")
    np.testing.assert_allclose(src, echo(cut[:8000]).sources[0], atol=1e-5)


# ------------------------------------------------------------- long recordings


def test_long_input_in_chunks_gives_the_frames_of_one_pass(model_dir, tmp_path):
    audio = np.random.RandomState(7).randn(16000 * 5 + 123).astype(np.float32) * 0.1
    one = Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth", chunk_s=60.0)
    x = torch.from_numpy(audio)[None]
    ref = one.model.infer(x, torch.tensor([x.shape[1]]))["diar"]["activity_lengths"]
    outs = []
    for batch in (1, 3):
        echo = Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth",
                           chunk_s=2.0, chunk_hop_s=1.0, chunk_batch=batch)
        run = echo._run_chunks(_ArraySource(audio), "x", tmp_path)
        assert run.activity.shape[0] == int(ref[0]) and len(run.starts) == 5
        assert len(run.tokens) == len(run.source_env) == 5  # every head on every chunk
        outs.append(run.activity)
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-5, rtol=1e-4)
    echo = Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth",
                       chunk_s=2.0, chunk_hop_s=1.0, diar_threshold=0.0)
    res = echo(audio)
    assert res.num_spk >= 1 and res.sources.shape == (res.num_spk, len(audio))
    assert len(res.texts) == len(res.words) == res.num_spk
    for start, end, spk in res.segments:
        assert 0 <= start < end <= len(audio) / 16000 + 1e-6 and spk < res.num_spk
    # with a track dir, the stitched tracks are written there, not held
    files = echo(audio, name="rec", track_dir=tmp_path / "tracks").source_files
    assert [f.name for f in files] == [f"rec_spk{k}.wav" for k in range(res.num_spk)]
    for k, f in enumerate(files):
        track, fs = soundfile.read(f, dtype="float32")
        assert fs == 16000 and len(track) == len(audio)
        np.testing.assert_allclose(track, res.sources[k], atol=2e-3)


def test_eend_slots_are_linked_across_chunks(model_dir, monkeypatch, tmp_path):
    """Chunks whose slots come out permuted are stitched back into one slot order."""
    echo = Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth",
                       chunk_s=2.0, chunk_hop_s=1.0, chunk_batch=2, median_frames=1)
    shift = echo.model.frame_shift
    t_total = 200
    # every speaker talks in every overlap (a slot silent in an overlap region is
    # linked only by elimination)
    truth = (np.random.RandomState(0).rand(t_total, 3) < 0.5).astype(np.float32)
    audio = np.repeat(np.arange(t_total, dtype=np.float32) + 1, shift)  # sample -> frame

    def fake_infer(speech, lens, options=None):
        acts = torch.zeros(speech.shape[0], echo.chunk_frames, 3)
        n = (lens // shift).long()
        for b in range(speech.shape[0]):
            off = int(speech[b, 0]) - 1
            perm = np.roll(np.arange(3), off // echo.chunk_hop_frames)
            acts[b, : n[b]] = torch.from_numpy(truth[off:off + int(n[b])][:, perm])
        return {"diar": {"activity": acts, "activity_lengths": n}}

    monkeypatch.setattr(echo.model, "infer", fake_infer)
    run = echo._run_chunks(_ArraySource(audio), "x", tmp_path)
    np.testing.assert_array_equal(run.activity, truth)
    res = echo(audio)
    assert res.num_spk == 3
    rebuilt = np.zeros_like(truth)
    for a, b, k in res.segments:
        rebuilt[round(a / echo.frame_sec):round(b / echo.frame_sec), k] = 1
    np.testing.assert_array_equal(rebuilt, truth)


# ---------------------------------------------------------------------- vbx mode


class FakeSpkHead(AbsEchoHead):
    """The speaker head's contract: speaker_frames = the RWSE features, mean pooling."""

    output_kinds = ("speaker_frames",)
    window_s, hop_s = 0.4, 0.2

    def __init__(self, dim):
        super().__init__(dim, 3)
        self.embed_dim = dim

    def infer(self, feats, feats_lens, speech=None, speech_lengths=None):
        return {"speaker_frames": feats, "speaker_frames_lengths": feats_lens}

    def embed(self, speaker_frames, weights):
        pooled = torch.bmm(weights, speaker_frames)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def loss(self, output, **refs):
        raise NotImplementedError


@pytest.fixture(scope="module")
def vbx_dir(model_dir, tmp_path_factory):
    """The tiny model plus a fake speaker head, its checkpoint and a 32-dim PLDA."""
    out = tmp_path_factory.mktemp("vbx")
    model, _ = EchoTask.build_model_from_file(model_dir / "config.yaml", None, "cpu")
    add_spk_head(model)
    torch.save(model.state_dict(), out / "model.pth")
    rng = np.random.default_rng(0)
    means = rng.normal(size=(60, 32))
    labels = np.repeat(np.arange(60), 10)
    PLDA.fit(means[labels] + 0.3 * rng.normal(size=(600, 32)), labels).save(out / "plda.npz")
    PLDA.fit(rng.normal(size=(600, 8)), labels, lda_dim=8).save(out / "plda8.npz")
    return out


def add_spk_head(model):
    if "spk" not in model.heads:
        model.heads["spk"] = FakeSpkHead(32)
        model.rwse["spk"] = copy.deepcopy(model.rwse["diar"])
    return model


@pytest.fixture
def with_spk_head(monkeypatch):
    build = EchoTask.build_model_from_file

    def build_with_spk(*args, **kwargs):
        model, args_ = build(*args, **kwargs)
        return add_spk_head(model), args_

    monkeypatch.setattr(EchoTask, "build_model_from_file", build_with_spk)


def vbx_echo(model_dir, vbx_dir, **kw):
    return Speech2Echo(model_dir / "config.yaml", vbx_dir / "model.pth", diar_mode="vbx",
                       plda_file=vbx_dir / "plda.npz", **kw)


def test_vbx_mode_counts_speakers_blindly(model_dir, vbx_dir, with_spk_head):
    audio = np.random.RandomState(8).randn(16000 * 3).astype(np.float32) * 0.1
    # threshold 0: every frame is speech with 3 active slots (overlap everywhere)
    echo = vbx_echo(model_dir, vbx_dir, diar_threshold=0.0, num_speakers=2)
    assert echo.tasks == ["diar", "sep", "asr", "spk"]
    res = echo(audio)
    assert res.num_spk == 2 and {k for _, _, k in res.segments} == {0, 1}
    assert res.sources.shape == (2, len(audio))
    free = vbx_echo(model_dir, vbx_dir, diar_threshold=0.0, tasks=["diar"])
    assert free.tasks == ["diar", "spk"]
    res = free(audio)
    assert res.num_spk >= 1 and res.sources is None
    assert all(k < res.num_spk for _, _, k in res.segments)
    # a long recording: chunks, then the blind pipeline on the stitched frames
    long = vbx_echo(model_dir, vbx_dir, diar_threshold=0.0, chunk_s=1.0, max_speakers=3)
    res = long(np.tile(audio, 2))
    assert 1 <= res.num_spk <= 3 and res.sources.shape == (res.num_spk, 2 * len(audio))
    # no speech at all: no speaker
    assert vbx_echo(model_dir, vbx_dir, diar_threshold=0.999999)(audio).num_spk == 0


def test_vbx_mode_errors(model_dir, vbx_dir, with_spk_head):
    audio = np.random.RandomState(9).randn(8000).astype(np.float32) * 0.1
    with pytest.raises(ValueError, match="rec.wav: .* speech windows: num_speakers=50"):
        vbx_echo(model_dir, vbx_dir, diar_threshold=0.0, num_speakers=50)(audio, "rec.wav")
    with pytest.raises(ValueError, match="needs plda_file .*fit_plda"):
        Speech2Echo(model_dir / "config.yaml", vbx_dir / "model.pth", diar_mode="vbx")
    with pytest.raises(ValueError, match="plda8.npz: the PLDA takes 8-dim"):
        Speech2Echo(model_dir / "config.yaml", vbx_dir / "model.pth", diar_mode="vbx",
                    plda_file=vbx_dir / "plda8.npz")
    with pytest.raises(ValueError, match="min_speakers=3 is larger than max_speakers=2"):
        vbx_echo(model_dir, vbx_dir, min_speakers=3, max_speakers=2)
    with pytest.raises(ValueError, match="unknown task"):
        vbx_echo(model_dir, vbx_dir, tasks=["dia"])


def test_vbx_mode_needs_the_heads(model_dir, vbx_dir):
    with pytest.raises(ValueError, match="needs a speaker head"):
        Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth", diar_mode="vbx",
                    plda_file=vbx_dir / "plda.npz")
    with pytest.raises(ValueError, match="diar_mode must be one of"):
        Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth", diar_mode="x")


def test_inference_cli_vbx_mode_and_new_options_in_the_stamp(model_dir, vbx_dir, with_spk_head,
                                                              one_wav_data, tmp_path, capsys):
    out = tmp_path / "decode"
    # no --plda_file and no <model dir>/plda.npz: one clear line
    with pytest.raises(SystemExit, match="needs a PLDA: no --plda_file and no .*fit_plda"):
        echo_inference.main(decode_args(model_dir, one_wav_data, out, "--diar_mode", "vbx"))
    model = tmp_path / "exp" / "model.pth"
    model.parent.mkdir()
    model.write_bytes((vbx_dir / "model.pth").read_bytes())
    (model.parent / "plda.npz").write_bytes((vbx_dir / "plda.npz").read_bytes())
    args = ["--train_config", str(model_dir / "config.yaml"), "--model_file", str(model),
            "--data_dir", str(one_wav_data), "--output_dir", str(out)]
    echo_inference.main(args + ["--diar_mode", "vbx", "--num_speakers", "2",
                                "--diar_threshold", "0.0"])
    assert (out / "utt2num_spk").read_text() == "utt1 2\n"
    spks = {line.split()[7] for line in (out / "rttm").read_text().splitlines()}
    assert spks == {"spk1", "spk2"}
    stamp = json.loads((out / ".stamp.json").read_text())
    assert stamp["options"]["diar_mode"] == "vbx" and "plda_file" in stamp
    first = (out / "info.json").stat().st_mtime_ns
    echo_inference.main(args + ["--diar_mode", "vbx", "--num_speakers", "2",
                                "--diar_threshold", "0.0"])
    assert (out / "info.json").stat().st_mtime_ns == first
    # a changed chunking option decodes again; a 1.5 s recording in 1 s chunks goes
    # the long-recording path, with tracks stitched to the recording's length
    echo_inference.main(args + ["--diar_mode", "vbx", "--num_speakers", "2",
                                "--diar_threshold", "0.0", "--chunk_s", "1.0"])
    assert (out / "info.json").stat().st_mtime_ns != first
    assert (out / "rttm").read_text()
    for line in (out / "spk1.scp").read_text().splitlines():
        assert soundfile.info(line.split()[1]).frames == 24000
    with pytest.raises(SystemExit, match="--plda_file .*nope.npz: no such file"):
        echo_inference.main(args + ["--plda_file", str(tmp_path / "nope.npz")])
    with pytest.raises(SystemExit, match="unknown task"):
        echo_inference.main(args + ["--tasks", "dia", "--chunk_s", "3"])


@pytest.fixture(scope="module")
def diar_spk_dir(tmp_path_factory):
    """A tiny model built through EchoTask with the EEND and ArcFace speaker heads."""
    out = tmp_path_factory.mktemp("diar_spk")
    (out / "spk_list.txt").write_text("a\nb\nc\n")
    EchoTask.main(cmd=["--dry_run", "true", "--output_dir", str(out), *TINY,
                       "--sep_head", "none", "--asr_head", "none", "--spk_head", "arcface",
                       "--spk_list", str(out / "spk_list.txt"),
                       "--spk_head_conf", "hidden_size=16", "--spk_head_conf", "embed_dim=8"])
    model, _ = EchoTask.build_model_from_file(out / "config.yaml", None, "cpu")
    torch.save(model.state_dict(), out / "model.pth")
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(30), 10)
    emb = rng.normal(size=(30, 8))[labels] + 0.3 * rng.normal(size=(300, 8))
    PLDA.fit(emb / np.linalg.norm(emb, axis=1, keepdims=True), labels).save(out / "plda.npz")
    return out


def test_vbx_mode_with_the_arcface_head(diar_spk_dir):
    audio = np.random.RandomState(10).randn(16000 * 4).astype(np.float32) * 0.1
    kw = dict(diar_mode="vbx", plda_file=diar_spk_dir / "plda.npz", diar_threshold=0.0)
    echo = Speech2Echo(diar_spk_dir / "config.yaml", diar_spk_dir / "model.pth",
                       num_speakers=2, **kw)
    assert echo.tasks == ["diar", "spk"] and echo.has_diarization
    res = echo(audio)
    assert res.num_spk == 2 and {k for _, _, k in res.segments} == {0, 1}
    assert res.sources is None and res.texts is None
    # 12 s in 5 s chunks (3 forward passes of 2 chunks)
    long = Speech2Echo(diar_spk_dir / "config.yaml", diar_spk_dir / "model.pth",
                       max_speakers=4, chunk_s=5.0, chunk_batch=2, **kw)
    res = long(np.tile(audio, 3))
    assert 1 <= res.num_spk <= 4
    assert max(end for _, end, _ in res.segments) == pytest.approx(12.0, abs=0.05)
    # eend mode leaves the speaker head out
    eend = Speech2Echo(diar_spk_dir / "config.yaml", diar_spk_dir / "model.pth")
    assert eend.tasks == ["diar"]


def test_vbx_mode_refuses_the_plda_of_another_checkpoint(diar_spk_dir, tmp_path, caplog):
    """fit_plda records the checkpoint's digest; another checkpoint's PLDA is refused,
    a PLDA without the record is used with a warning."""
    from espnet_echo.utils.fileio import file_digest

    plda = PLDA.load(diar_spk_dir / "plda.npz")
    assert plda.embedder is None
    mine, other = tmp_path / "mine.npz", tmp_path / "other.npz"
    plda.save(mine, embedder=f"model {file_digest(diar_spk_dir / 'model.pth')}")
    plda.save(other, embedder="model 0123456789abcdef")
    assert PLDA.load(mine).embedder.startswith("model ")
    kw = dict(diar_mode="vbx", diar_threshold=0.0)
    Speech2Echo(diar_spk_dir / "config.yaml", diar_spk_dir / "model.pth", plda_file=mine,
                **kw)
    with pytest.raises(ValueError, match="other.npz was fitted on the embeddings of another "
                       "checkpoint .*fit_plda"):
        Speech2Echo(diar_spk_dir / "config.yaml", diar_spk_dir / "model.pth",
                    plda_file=other, **kw)
    with caplog.at_level("WARNING"):
        Speech2Echo(diar_spk_dir / "config.yaml", diar_spk_dir / "model.pth",
                    plda_file=diar_spk_dir / "plda.npz", **kw)
    assert "does not record which model" in caplog.text


# ------------------------------------------------------------------- precision


def _snr_db(ref: torch.Tensor, est: torch.Tensor) -> torch.Tensor:
    return 10 * torch.log10(ref.pow(2).sum(-1) / (est - ref).pow(2).sum(-1))


@pytest.fixture
def bf16_everywhere(monkeypatch):
    """bf16 'supported' whatever the CPU (autocast itself runs on any CPU)."""
    from espnet_echo.inference import precision

    monkeypatch.setattr(precision, "bf16_supported", lambda device="cpu": True)


@pytest.mark.parametrize("dtype, quantize, act_tol, snr_db", [
    ("bfloat16", "none", 0.05, 30.0),
    ("float32", "int8", 0.1, 25.0),
])
def test_precision_options_agree_with_float32(model_dir, bf16_everywhere, dtype, quantize,
                                              act_tol, snr_db):
    """Tiny random model, seed 0: posteriors and sources close to the fp32 ones.

    Measured here: bf16 max |d posterior| 0.014, sources 40-41 dB SNR vs fp32; int8
    0.038 and 33 dB (tolerances about 3x / 10 dB looser).
    """
    audio = torch.from_numpy(np.random.RandomState(0).randn(32000).astype(np.float32) * 0.1)
    x, x_lens = audio[None], torch.tensor([32000])
    ref_echo = Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth", beam_size=2)
    echo = Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth", beam_size=2,
                       dtype=dtype, quantize=quantize)
    assert echo.dtype == dtype and echo.quantize == quantize
    options = dict(echo.options, tasks=echo.tasks)
    ref, out = ref_echo._infer(x, x_lens, options), echo._infer(x, x_lens, options)
    for task in ref:
        for k, v in out[task].items():
            assert not v.is_floating_point() or v.dtype == torch.float32, (task, k)
    assert (out["diar"]["activity"] - ref["diar"]["activity"]).abs().max() < act_tol
    assert _snr_db(ref["sep"]["sources"], out["sep"]["sources"]).min() > snr_db
    res = echo(audio.numpy())  # the whole policy runs (beam search included)
    assert res.sources.dtype == np.float32 and isinstance(res.texts, list)


def test_bf16_keeps_the_frontend_and_the_waveform_codec_in_fp32(model_dir, bf16_everywhere):
    echo = Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth", dtype="bfloat16")
    seen = {}

    def hook(name):
        def record(mod, inp, out):
            seen.setdefault(name, (out[0] if isinstance(out, tuple) else out).dtype)

        return record

    model = echo.model
    model.frontend.register_forward_hook(hook("frontend"))
    model.normalize.register_forward_hook(hook("normalize"))
    model.heads["sep"].encoder.register_forward_hook(hook("sep_encoder"))
    model.heads["sep"].decoder.register_forward_hook(hook("sep_decoder"))
    model.heads["diar"].register_forward_hook(hook("diar"))
    model.encoder.encoders[0].register_forward_hook(hook("encoder_block"))
    echo(np.random.RandomState(1).randn(16000).astype(np.float32) * 0.1)
    assert seen["frontend"] == seen["normalize"] == torch.float32
    assert seen["sep_encoder"] == seen["sep_decoder"] == torch.float32
    assert seen["encoder_block"] == torch.bfloat16


def test_bf16_without_support_is_an_error_and_auto_falls_back(model_dir, monkeypatch,
                                                               one_wav_data, tmp_path):
    from espnet_echo.inference import precision

    monkeypatch.setattr(precision, "bf16_supported", lambda device="cpu": False)
    with pytest.raises(ValueError, match="bfloat16: .*no native bf16.*--dtype auto"):
        Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth", dtype="bfloat16")
    echo = Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth", dtype="auto")
    assert echo.dtype == "float32"
    out = tmp_path / "decode"
    with pytest.raises(SystemExit, match="echo_inference: error: .*--dtype auto"):
        echo_inference.main(decode_args(model_dir, one_wav_data, out, "--dtype", "bfloat16"))
    with pytest.raises(ValueError, match="int8 takes fp32 activations"):
        monkeypatch.setattr(precision, "bf16_supported", lambda device="cpu": True)
        Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth", dtype="bfloat16",
                    quantize="int8")


def test_precision_options_are_in_the_stamp(model_dir, bf16_everywhere, one_wav_data,
                                            tmp_path):
    out = tmp_path / "decode"
    echo_inference.main(decode_args(model_dir, one_wav_data, out))
    stamp = json.loads((out / ".stamp.json").read_text())
    # the defaults are not stamped: dirs decoded before these options stay current
    assert "dtype" not in stamp["options"] and "quantize" not in stamp["options"]
    first = (out / "info.json").stat().st_mtime_ns
    echo_inference.main(decode_args(model_dir, one_wav_data, out, "--dtype", "auto"))
    second = (out / "info.json").stat().st_mtime_ns
    assert second != first
    assert json.loads((out / ".stamp.json").read_text())["options"]["dtype"] == "bfloat16"
    assert json.loads((out / "info.json").read_text())["dtype"] == "bfloat16"
    echo_inference.main(decode_args(model_dir, one_wav_data, out, "--dtype", "bfloat16"))
    assert (out / "info.json").stat().st_mtime_ns == second  # auto resolved: same decode
    echo_inference.main(decode_args(model_dir, one_wav_data, out, "--quantize", "int8"))
    stamp = json.loads((out / ".stamp.json").read_text())
    assert stamp["options"]["quantize"] == "int8" and "dtype" not in stamp["options"]
    info = json.loads((out / "info.json").read_text())
    echo = Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth")
    # counted before quantisation (packed int8 weights are not parameters)
    assert info["encoder_params"] == echo.encoder_params
    assert echo.encoder_params == sum(p.numel() for p in echo.model.encoder.parameters())


def test_chunk_batch_runs_several_chunks_per_forward_with_bounded_input(
        model_dir, bf16_everywhere, tmp_path):
    audio = np.random.RandomState(8).randn(16000 * 6 + 77).astype(np.float32) * 0.1
    outs = {}
    for batch, dtype in [(1, "float32"), (3, "float32"), (3, "bfloat16")]:
        echo = Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth",
                           chunk_s=2.0, chunk_hop_s=1.0, chunk_batch=batch, dtype=dtype)
        shapes = []
        echo.model.frontend.register_forward_pre_hook(
            lambda mod, inp: shapes.append(tuple(inp[0].shape)) and None)
        outs[batch, dtype] = echo._run_chunks(_ArraySource(audio), "x", tmp_path).activity
        # every forward holds at most chunk_batch chunks of at most chunk_s
        assert all(b <= batch and n <= echo.chunk_samples for b, n in shapes)
        assert max(b for b, _ in shapes) == batch
        # 6 chunks of 2 s every 1 s: full ones in groups of chunk_batch, the last alone
        assert len(shapes) == (6 if batch == 1 else 3)
    np.testing.assert_allclose(outs[1, "float32"], outs[3, "float32"], atol=1e-5, rtol=1e-4)
    assert np.abs(outs[3, "bfloat16"] - outs[1, "float32"]).max() < 0.05


@pytest.mark.parametrize("dtype, quantize", [("bfloat16", "none"), ("float32", "int8")])
def test_vbx_mode_in_bf16_and_int8(diar_spk_dir, bf16_everywhere, dtype, quantize):
    """Speaker frames come back fp32; the speaker head's embed runs outside autocast."""
    audio = np.random.RandomState(10).randn(16000 * 12).astype(np.float32) * 0.1
    echo = Speech2Echo(diar_spk_dir / "config.yaml", diar_spk_dir / "model.pth",
                       diar_mode="vbx", plda_file=diar_spk_dir / "plda.npz",
                       diar_threshold=0.0, num_speakers=2, chunk_s=5.0, chunk_batch=2,
                       dtype=dtype, quantize=quantize)
    res = echo(audio)
    assert res.num_spk == 2 and {k for _, _, k in res.segments} == {0, 1}


def test_a_config_naming_a_missing_relative_file_is_one_clear_error(diar_spk_dir, tmp_path,
                                                                    monkeypatch):
    """config.yaml names the GlobalMVN statistics relative to the recipe dir; when the
    file is neither next to the model nor under the cwd, that is a one-line error
    naming the key and the places tried, not a numpy traceback."""
    import yaml

    conf = yaml.safe_load((diar_spk_dir / "config.yaml").read_text())
    conf["normalize"] = "global_mvn"
    conf["normalize_conf"] = {"stats_file": "exp/stats_fbank/train/feats_stats.npz"}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(conf))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="normalize_conf.stats_file names "
                       "'exp/stats_fbank/train/feats_stats.npz', which exists in none of"):
        Speech2Echo(config, diar_spk_dir / "model.pth")


def test_speaker_count_bounds_without_vbx_are_reported(diar_spk_dir, caplog):
    with caplog.at_level("WARNING"):
        Speech2Echo(diar_spk_dir / "config.yaml", diar_spk_dir / "model.pth", num_speakers=2)
    assert "num_speakers bound(s) the speaker count of diar_mode 'vbx' only" in caplog.text


def test_long_recording_result_is_coherent_per_speaker(model_dir, monkeypatch, tmp_path):
    """A fake model whose heads put two known speakers in different slots in every
    chunk (EEND, separation and ASR each with its own permutation): the result must
    give each speaker its own track and its own words, everywhere."""
    echo = Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth",
                       chunk_s=2.0, chunk_hop_s=1.0, chunk_batch=2, median_frames=1)
    shift, t_total = echo.model.frame_shift, 250  # 10 s
    rng = np.random.RandomState(0)
    truth = np.zeros((t_total, 2), dtype=np.float32)  # turns of 1 s, overlap at changes
    for i in range(0, t_total, 25):
        truth[i:i + 28, (i // 25) % 2] = 1
    # speaker k's waveform: its own tone, gated by its activity
    n = t_total * shift
    tone = np.stack([np.sin(np.arange(n) * f) for f in (0.05, 0.3)]).astype(np.float32)
    sources = tone * np.repeat(truth.T, shift, axis=1)
    # speaker 0 says "A" and speaker 1 "B", at every 5th frame they are active
    said = {k: [f for f in range(t_total) if truth[f, k] and f % 5 == 0] for k in (0, 1)}
    audio = (np.repeat(np.arange(t_total, dtype=np.float32) + 1, shift) * 1e-4)
    a_id, b_id, space = 3, 4, 2

    def perm_of(off, salt):
        return rng_perms[(off // echo.chunk_hop_frames + salt) % 6]

    rng_perms = [list(p) for p in __import__("itertools").permutations(range(3))]

    def fake_infer(speech, lens, options=None):
        bsz, tc = speech.shape[0], echo.chunk_frames
        nfr = (lens // shift).long()
        act = torch.zeros(bsz, tc, 3)
        src = torch.zeros(bsz, 3, speech.shape[1])
        tok_act = torch.zeros(bsz, tc, 3)
        tokens = torch.full((bsz, 3, 40), -1)
        frames = torch.full((bsz, 3, 40), -1)
        tlen = torch.zeros(bsz, 3, dtype=torch.long)
        for b in range(bsz):
            off = int(round(float(speech[b, 0]) / 1e-4)) - 1
            m = int(nfr[b])
            pd, ps, pa = perm_of(off, 0), perm_of(off, 2), perm_of(off, 4)
            for k in (0, 1):
                act[b, :m, pd[k]] = torch.from_numpy(truth[off:off + m, k])
                src[b, ps[k], : m * shift] = torch.from_numpy(
                    sources[k, off * shift:(off + m) * shift])
                tok_act[b, :m, pa[k]] = torch.from_numpy(truth[off:off + m, k])
                ids, frs = [], []
                for f in said[k]:
                    if off <= f < off + m:
                        ids += [(a_id, b_id)[k], space]
                        frs += [f - off, f - off]
                tokens[b, pa[k], : len(ids)] = torch.tensor(ids)
                frames[b, pa[k], : len(frs)] = torch.tensor(frs)
                tlen[b, pa[k]] = len(ids)
        return {
            "diar": {"activity": act, "activity_lengths": nfr},
            "sep": {"sources": src, "source_energy_db": torch.zeros(bsz, 3)},
            "asr": {"tokens": tokens, "token_lengths": tlen, "token_frames": frames,
                    "token_activity": tok_act},
        }

    monkeypatch.setattr(echo.model, "infer", fake_infer)
    res = echo(audio, name="conv", track_dir=tmp_path)
    assert res.num_spk == 2
    # speaker order follows the first chunk's EEND slots; find who is who by the turns
    rebuilt = np.zeros_like(truth)
    for a, b, k in res.segments:
        rebuilt[round(a / echo.frame_sec):round(b / echo.frame_sec), k] = 1
    spk_of = {k: int(np.argmax(rebuilt[:, k] @ truth)) for k in (0, 1)}
    np.testing.assert_array_equal(rebuilt[:, [spk_of[0], spk_of[1]]], truth)
    for k, true_k in spk_of.items():
        track, _ = soundfile.read(res.source_files[k], dtype="float32")
        assert len(track) == n
        corr = [np.corrcoef(track, sources[j])[0, 1] for j in (0, 1)]
        assert corr[true_k] > 0.99 and abs(corr[1 - true_k]) < 0.1
        got = [round(w.start / echo.frame_sec) for w in res.words[k]]
        assert got == said[true_k]  # every word once, at its frame, to its speaker
        assert {w.text for w in res.words[k]} == {"AB"[true_k]}


def test_solo_passthrough_gives_a_lone_speaker_the_mixture(model_dir):
    """solo_passthrough: a chunk with one active speaker gets the mixture, not a slot;
    a chunk with two keeps the separated slots; without it the slot is used."""
    frames = 25
    mixture = torch.linspace(-0.5, 0.5, 16000)[None]
    one = np.zeros((frames, 3))
    one[:, 1] = 1
    env = np.zeros((3, frames))
    env[2] = 1.0
    out = _out(one, [-50.0, -50.0, -5.0], None, envelopes=env, t=frames)
    out.update(mixture=mixture, mixture_lengths=torch.tensor([16000]))
    plain = Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth",
                        solo_passthrough=False)
    solo = Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth")  # the default
    # off: slot 2, scaled to its share of the mixture
    np.testing.assert_allclose(plain.postprocess(dict(out), duration=1.0).sources[0],
                               mixture_gain(out["sources"][0, 2].numpy(), mixture[0].numpy()),
                               atol=1e-6)
    res = solo.postprocess(dict(out), duration=1.0)
    assert res.num_spk == 1
    np.testing.assert_allclose(res.sources[0], mixture[0].numpy(), atol=1e-6)
    two = np.zeros((frames, 3))
    two[:, 0] = two[:, 1] = 1
    env2 = np.zeros((3, frames))
    env2[0] = env2[2] = 1.0
    out2 = _out(two, [-5.0, -50.0, -5.0], None, envelopes=env2, t=frames)
    out2.update(mixture=mixture, mixture_lengths=torch.tensor([16000]))
    res = solo.postprocess(out2, duration=1.0)
    # the slots (1 and 3), each scaled to its share of the mixture (mixture_gain)
    slots = out2["sources"][0].numpy()
    want = sorted(float(mixture_gain(slots[s], mixture[0].numpy())[0]) for s in (0, 2))
    assert res.num_spk == 2 and sorted(res.sources[:, 0].tolist()) == pytest.approx(want)
    # a head that returns no mixture: the slot, as without the option
    assert solo.postprocess(_out(one, [-50.0, -50.0, -5.0], None, envelopes=env, t=frames),
                            duration=1.0).sources[0, 0] == 3.0


def test_spilled_chunks_keep_their_mixture(tmp_path):
    """Long recordings spill each chunk's slots and mixture to disk (float16)."""
    from espnet_echo.inference.speech2echo import _Pass

    run = _Pass(starts=[0, 800], num_samples=2400, spill=tmp_path)
    for i in range(2):
        flat = _out(None, [-5.0, -5.0], None, n=1600)
        flat.update(mixture=torch.full((1, 1600), 0.25 * (i + 1)))
        run.collect(0, flat, 1600, 160, 0.01)
    assert run.mixture(1).shape == (1600,) and float(run.mixture(1)[0]) == 0.5
    assert run.sources(0).shape == (2, 1600)
    run.collect(0, _out(None, [-5.0, -5.0], None, n=1600), 1600, 160, 0.01)
    assert run.mixture(2) is None  # a head without the mixture


def test_tracks_take_the_level_and_sign_of_their_share_of_the_mixture(model_dir):
    """A slot at an arbitrary level and sign (SI-SNR training) comes out at its source's
    level and sign, so chunks of slots and passed-through mixture chunks join smoothly."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(16000) * 0.3, rng.standard_normal(16000) * 0.1
    mix = (a + b).astype(np.float32)
    np.testing.assert_allclose(mixture_gain((-0.05 * a).astype(np.float32), mix), a, atol=0.02)
    silent = np.zeros(16000, np.float32)
    assert not mixture_gain(silent, mix).any()

    # in the policy: two speakers, slots at -0.1x and +5x their sources
    frames = 25
    two = np.zeros((frames, 3))
    two[:, 0] = two[:, 1] = 1
    out = _out(two, [-5.0, -50.0, -5.0], None, t=frames)
    out["sources"] = torch.tensor(np.stack([-0.1 * a, np.zeros(16000), 5 * b]),
                                  dtype=torch.float32)[None]
    out.update(mixture=torch.tensor(mix)[None], mixture_lengths=torch.tensor([16000]))
    echo = Speech2Echo(model_dir / "config.yaml", model_dir / "model.pth")
    res = echo.postprocess(out, duration=1.0)
    assert res.num_spk == 2
    got = sorted(res.sources, key=lambda x: -np.abs(x).max())
    np.testing.assert_allclose(got[0], a, atol=0.03)
    np.testing.assert_allclose(got[1], b, atol=0.03)
