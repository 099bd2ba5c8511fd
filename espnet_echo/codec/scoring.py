# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Codec scoring beside real codecs: bitrate, tokens/s, STOI, PESQ, MCD.

Every system is scored on the same reference utterances (16 kHz mono):

* the JEPA + DAAM tokenizer (its decoded WAVs, ``codec_decode``);
* Codec2 (Rowe, http://www.rowetel.com/codec2.html; Debian ``codec2``: ``c2enc``/``c2dec``)
  at 700C, 1200 and 3200 bit/s: the reference is resampled to 8 kHz raw s16le, coded and
  decoded through subprocesses, and resampled back to 16 kHz;
* Opus (RFC 6716; ``opusenc``/``opusdec`` of opus-tools) at its lowest speech bitrates
  (6 and 8 kbit/s, ``opusenc --bitrate``), decoded at 16 kHz. Its measured bitrate
  (Ogg file size incl. container overhead / duration) is reported next to the nominal one.

Before scoring, each decoded signal is aligned to its reference by the integer lag
(within +-``max_lag_ms``) that maximises their cross-correlation, for every system alike
(Codec2 and the neural codec have algorithmic delays), then cut/padded to the reference
length. Metrics, per utterance then averaged:

* STOI (Taal et al. 2011, ``pystoi.stoi``, 16 kHz, non-extended);
* wide-band PESQ (ITU-T P.862.2, ``pesq.pesq(16000, ref, deg, "wb")``); an utterance PESQ
  refuses (no speech found) is left out of the PESQ mean and counted in ``pesq_failed``;
* mel-cepstral distortion (Kubichek 1993): 12 mel-cepstral coefficients c1..c12 (DCT-II of the
  log 80-band mel amplitude spectrum, 25 ms Hann window, 10 ms hop, ``librosa``), ``c0``
  (energy) excluded, ``MCD = 10 / ln 10 * sqrt(2 * sum_d (c_d - c'_d)^2)`` dB averaged over
  the speech frames of the reference (no DTW: the signals are time-aligned; see
  :func:`mcd` for the floor and the frame selection).

A silent reference (peak below one 16-bit step, ``SILENCE_PEAK``) has no speech to
measure: STOI, PESQ, MCD (and speaker similarity) are undefined on it, so they are NaN for
that utterance, left out of the means (``silent_refs`` counts such utterances), and a
system with nothing else to average reports None: ``null`` in ``scores.json``, ``-`` in
the table. (``pystoi`` itself would return ~0 for silence, which reads as measured.)
"""

import json
import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import soundfile

from espnet_echo.utils.audio import load_audio, resample_audio
from espnet_echo.utils.fileio import DataFileError, atomic_open, read_kaldi_map

PathLike = Union[str, Path]
FS = 16000
CODEC2_MODES = ("700C", "1200", "3200")
OPUS_KBPS = (6, 8)
#: A reference whose peak is below one 16-bit step is silent (metrics undefined).
SILENCE_PEAK = 2.0**-15


class ReferenceCodecError(RuntimeError):
    """A reference codec binary is missing or failed; the message names the command."""


def _run(cmd: List[str], what: str) -> None:
    if shutil.which(cmd[0]) is None:
        raise ReferenceCodecError(f"{cmd[0]} not found (install Debian codec2 / opus-tools)")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ReferenceCodecError(
            f"{what}: {' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-500:]}"
        )


def codec2_roundtrip(wav: np.ndarray, mode: str, fs: int = FS) -> Tuple[np.ndarray, float]:
    """Code and decode a waveform with Codec2.

    Args:
        wav: float32 (N,) at ``fs``.
        mode: ``c2enc`` mode (``700C``, ``1200``, ``3200``...).
        fs: Rate of ``wav`` (Hz).

    Returns:
        ``(decoded (N',) float32 at fs, bits per second of the coded file)``.

    Raises:
        ReferenceCodecError: ``c2enc``/``c2dec`` missing or failing.
    """
    x8 = resample_audio(wav, fs, 8000)
    pcm = (np.clip(x8, -1, 1) * 32767).astype("<i2")
    with tempfile.TemporaryDirectory() as d:
        raw, bit, out = (os.path.join(d, n) for n in ("in.raw", "out.bit", "out.raw"))
        pcm.tofile(raw)
        _run(["c2enc", mode, raw, bit], f"codec2 {mode}")
        _run(["c2dec", mode, bit, out], f"codec2 {mode}")
        nbits = os.path.getsize(bit) * 8
        y8 = np.fromfile(out, dtype="<i2").astype(np.float32) / 32768.0
    return resample_audio(y8, 8000, fs), nbits / (len(wav) / fs)


def opus_roundtrip(wav: np.ndarray, kbps: float, fs: int = FS) -> Tuple[np.ndarray, float]:
    """Code and decode a waveform with Opus (``opusenc --bitrate``, ``opusdec --rate fs``).

    Returns:
        ``(decoded (N',) float32 at fs, measured bit/s of the Ogg file)``.

    Raises:
        ReferenceCodecError: ``opusenc``/``opusdec`` missing or failing.
    """
    with tempfile.TemporaryDirectory() as d:
        src, enc, out = (os.path.join(d, n) for n in ("in.wav", "out.opus", "out.wav"))
        soundfile.write(src, np.clip(wav, -1, 1), fs, subtype="PCM_16")
        _run(["opusenc", "--quiet", "--bitrate", str(kbps), src, enc], f"opus {kbps}")
        _run(["opusdec", "--quiet", "--rate", str(fs), enc, out], f"opus {kbps}")
        nbits = os.path.getsize(enc) * 8
        y, rate = soundfile.read(out, dtype="float32", always_2d=True)
    return y[:, 0], nbits / (len(wav) / fs)


def align(ref: np.ndarray, deg: np.ndarray, max_lag: int) -> np.ndarray:
    """``deg`` shifted by the lag in ``[-max_lag, max_lag]`` maximising the cross-correlation
    with ``ref``, then cut / zero-padded to ``len(ref)``."""
    n = len(ref)
    deg = np.asarray(deg, dtype=np.float32)
    pad = np.zeros(n + 2 * max_lag, dtype=np.float32)
    m = min(len(deg), n + max_lag)
    pad[max_lag : max_lag + m] = deg[:m]
    # correlation of ref with each window pad[k : k + n], k = 0 .. 2 max_lag
    from scipy.signal import correlate

    corr = correlate(pad, ref, mode="valid")
    k = int(np.argmax(corr))
    return pad[k : k + n]


def _log_mel_amplitude(wav: np.ndarray, fs: int) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(
        y=wav.astype(np.float32), sr=fs, n_fft=400, win_length=400, hop_length=160,
        n_mels=80, power=1.0,
    )
    return mel  # (80, T) mel amplitude


def mcd(ref: np.ndarray, deg: np.ndarray, fs: int = FS, n_mfcc: int = 13) -> float:
    """Mel-cepstral distortion (dB) of two aligned signals (c0 excluded).

    Mel cepstra: ``c_k = (2 / M) sum_m log A_m cos(pi k (m + 1/2) / M)`` (DCT-II) of the
    natural-log M = 80-band mel *amplitude* spectrum ``A`` (25 ms Hann window, 10 ms hop),
    ``k = 1 .. n_mfcc - 1``. Both spectra are floored at
    60 dB below the reference's peak band (synthetic references hold digital silence,
    whose log would otherwise dominate), and only frames of the reference within 40 dB of
    its loudest frame are averaged (speech frames).
    """
    from scipy.fft import dct

    a, b = _log_mel_amplitude(ref, fs), _log_mel_amplitude(deg, fs)
    t = min(a.shape[1], b.shape[1])
    a, b = a[:, :t], b[:, :t]
    floor = max(float(a.max()), 1e-8) * 1e-3
    la, lb = np.log(np.maximum(a, floor)), np.log(np.maximum(b, floor))
    energy = 20 * np.log10(np.maximum(a.sum(axis=0), 1e-12))
    speech = energy > energy.max() - 40.0
    n = la.shape[0]  # cepstrum c_k = (2 / n) sum_m log|X_m| cos(pi k (m + 1/2) / n)
    ca = dct(la, type=2, axis=0)[1:n_mfcc, speech] / n
    cb = dct(lb, type=2, axis=0)[1:n_mfcc, speech] / n
    dist = 10.0 / math.log(10.0) * np.sqrt(2.0 * np.sum((ca - cb) ** 2, axis=0))
    return float(np.mean(dist)) if dist.size else float("nan")


def is_silent(wav: np.ndarray) -> bool:
    """True if ``wav`` has no sample of magnitude ``SILENCE_PEAK`` or more."""
    return not wav.size or float(np.max(np.abs(wav))) < SILENCE_PEAK


def utterance_metrics(ref: np.ndarray, deg: np.ndarray, fs: int = FS) -> Dict[str, float]:
    """STOI, wide-band PESQ (NaN if PESQ refuses the pair) and MCD of an aligned pair.

    All three are NaN (undefined, not measured) when ``ref`` is silent (:func:`is_silent`).
    """
    from pesq import pesq as pesq_fn
    from pystoi import stoi

    if is_silent(np.asarray(ref)):
        return {"stoi": float("nan"), "mcd": float("nan"), "pesq": float("nan")}
    out = {"stoi": float(stoi(ref, deg, fs, extended=False)), "mcd": mcd(ref, deg, fs)}
    try:
        out["pesq"] = float(pesq_fn(fs, ref, deg, "wb"))
    except Exception:  # pesq.NoUtterancesError / BufferTooShortError on silence
        out["pesq"] = float("nan")
    return out


class SpeakerSimilarity:
    """Cosine similarity of the project's speaker embeddings of a reference and a decoded
    signal (optional metric ``spk_sim``).

    The embedding of an utterance is the model's speaker head (e.g. ArcFace,
    :func:`espnet_echo.inference.speaker_embeddings.speaker_head`) pooled over all its
    frames in one window (:func:`espnet_echo.inference.blind_diar.embed_windows`), from one
    encoder pass (``ESPnetEchoModel.infer`` with only the speaker task).

    Args:
        train_config: ``config.yaml`` of a trained Echo model with a speaker head.
        model_file: Its checkpoint.

    Raises:
        ValueError: The model has no speaker head.
    """

    def __init__(self, train_config: PathLike, model_file: PathLike):
        import torch

        from espnet_echo.inference.speaker_embeddings import speaker_head
        from espnet_echo.inference.speech2echo import load_model

        self._torch = torch
        self.model, _ = load_model(train_config, model_file, "cpu")
        self.task, self.head = speaker_head(self.model)

    def embed(self, wav: np.ndarray) -> np.ndarray:
        """Unit-norm speaker embedding (embed_dim,) of a waveform (N,) at 16 kHz."""
        from espnet_echo.inference.blind_diar import embed_windows

        torch = self._torch
        x = torch.from_numpy(np.asarray(wav, dtype=np.float32))[None]
        with torch.no_grad():
            out = self.model.infer(x, torch.tensor([x.size(1)]), {"tasks": [self.task]})
            frames = out[self.task]["speaker_frames"]
            t = int(out[self.task]["speaker_frames_lengths"][0])
            e = embed_windows(
                self.head.embed, frames[0, :t], np.ones(t, dtype=bool),
                np.array([[0, t]], dtype=np.int64),
            )[0].double().numpy()
        return e / max(np.linalg.norm(e), 1e-12)

    def __call__(self, ref: np.ndarray, deg: np.ndarray) -> float:
        """Cosine similarity in [-1, 1]."""
        return float(np.dot(self.embed(ref), self.embed(deg)))


def _mean(values: Sequence[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return float(np.mean(vals)) if vals else float("nan")


def score_system(
    refs: Dict[str, np.ndarray],
    decode: Callable[[str, np.ndarray], Tuple[np.ndarray, float]],
    max_lag_ms: float = 50.0,
    fs: int = FS,
    spk_sim: Optional[Callable[[np.ndarray, np.ndarray], float]] = None,
) -> Dict[str, float]:
    """Mean metrics of one system over ``refs``.

    Args:
        refs: ``{key: reference (N,) float32}``.
        decode: ``(key, ref) -> (decoded (N',), bit/s)``.
        max_lag_ms: Alignment search range.
        spk_sim: Optional ``(ref, deg) -> similarity`` (:class:`SpeakerSimilarity`).

    Returns:
        ``{"stoi", "pesq", "mcd", "bitrate_measured", "num_utts", "pesq_failed",
        "silent_refs"}``, plus ``spk_sim`` with ``spk_sim``. Silent references
        (:func:`is_silent`) are left out of the metric means; a mean over nothing is NaN.
    """
    rows, rates = [], []
    max_lag = int(round(max_lag_ms * fs / 1000))
    for key, ref in refs.items():
        deg, rate = decode(key, ref)
        aligned = align(ref, deg, max_lag)
        rows.append(utterance_metrics(ref, aligned, fs))
        if spk_sim is not None:
            rows[-1]["spk_sim"] = float("nan") if is_silent(ref) else spk_sim(ref, aligned)
        rates.append(rate)
    extra = {"spk_sim": _mean([r["spk_sim"] for r in rows])} if spk_sim is not None else {}
    return {
        **extra,
        "stoi": _mean([r["stoi"] for r in rows]),
        "pesq": _mean([r["pesq"] for r in rows]),
        "mcd": _mean([r["mcd"] for r in rows]),
        "bitrate_measured": _mean(rates),
        "num_utts": len(rows),
        "pesq_failed": sum(
            math.isnan(r["pesq"]) and not is_silent(ref) for r, ref in zip(rows, refs.values())
        ),
        "silent_refs": sum(is_silent(ref) for ref in refs.values()),
    }


def load_scp(
    scp: PathLike, fs: int = FS, max_utts: Optional[int] = None
) -> Dict[str, np.ndarray]:
    """``{key: waveform}`` of a wav.scp of plain audio paths (first ``max_utts`` lines).

    Raises:
        DataFileError / AudioError: A malformed scp or bad audio, naming the file.
    """
    items = list(read_kaldi_map(scp).items())
    if max_utts is not None:
        items = items[:max_utts]
    return {k: load_audio(v, fs=fs) for k, v in items}


def score_codec_dir(
    ref_scp: PathLike,
    hyp_scp: PathLike,
    meta: Dict,
    max_utts: Optional[int] = None,
    anchors: bool = True,
    num_frames: Optional[Dict[str, int]] = None,
    spk_sim: Optional[Callable[[np.ndarray, np.ndarray], float]] = None,
) -> List[Dict]:
    """Rows of the codec table: the tokenizer's decoded WAVs and the anchors.

    Args:
        ref_scp: Reference ``wav.scp`` (16 kHz).
        hyp_scp: ``wav.scp`` of the decoded WAVs (``codec_decode``), same keys.
        meta: The codec's ``meta_info()`` (``bitrate``, ``tokens_per_second``).
        max_utts: Score only the first utterances of ``ref_scp``.
        anchors: Also run Codec2 700C/1200/3200 and Opus 6/8 kbit/s.
        num_frames: ``{key: codec frames}`` (``tokens.jsonl``): the tokenizer's measured
            bit/s is then ``frames * bits_per_frame / duration`` (the last frame is
            padded, so it is a little above the nominal rate); else the nominal rate.
        spk_sim: Optional speaker similarity (:class:`SpeakerSimilarity`), every system.

    Raises:
        DataFileError: A reference key missing from ``hyp_scp`` or from ``num_frames``.
    """
    refs = load_scp(ref_scp, max_utts=max_utts)
    hyps = read_kaldi_map(hyp_scp)
    missing = [k for k in refs if k not in hyps]
    if missing:
        raise DataFileError(
            f"{hyp_scp}: no decoded audio for {len(missing)} keys, e.g. {missing[0]}"
        )
    if num_frames is not None:
        missing = [k for k in refs if k not in num_frames]
        if missing:
            where = getattr(num_frames, "source", "the token file")
            raise DataFileError(
                f"{where}: no tokens for {len(missing)} keys of {ref_scp}, e.g. "
                f"{missing[0]} (was --token_dir encoded from these references?)"
            )
    rows = []
    bits_per_frame = meta["bitrate"] / meta["frame_rate_hz"]

    def ours(key: str, ref: np.ndarray) -> Tuple[np.ndarray, float]:
        rate = meta["bitrate"]
        if num_frames is not None:
            rate = num_frames[key] * bits_per_frame / (len(ref) / FS)
        return load_audio(hyps[key], fs=FS), rate

    res = score_system(refs, ours, spk_sim=spk_sim)
    rows.append(
        {"system": "JEPA+DAAM FSQ (ours)", "bitrate": meta["bitrate"],
         "tokens_per_second": meta["tokens_per_second"], **res}
    )
    if anchors:
        for mode in CODEC2_MODES:
            nominal = 700.0 if mode == "700C" else float(mode)
            res = score_system(
                refs, lambda k, r, m=mode: codec2_roundtrip(r, m), spk_sim=spk_sim
            )
            rows.append({"system": f"Codec2 {mode}", "bitrate": nominal,
                         "tokens_per_second": None, **res})
        for kbps in OPUS_KBPS:
            res = score_system(
                refs, lambda k, r, b=kbps: opus_roundtrip(r, b), spk_sim=spk_sim
            )
            rows.append({"system": f"Opus {kbps} kbit/s", "bitrate": kbps * 1000.0,
                         "tokens_per_second": None, **res})
    return rows


class FrameCounts(dict):
    """``{key: num_frames}`` read from a token file; ``source`` names it for messages."""

    source: str = ""


def read_num_frames(token_dir: PathLike) -> Optional[FrameCounts]:
    """``{key: num_frames}`` of ``<token_dir>/tokens.jsonl`` (None without that file).

    Raises:
        DataFileError: A malformed line, naming ``file:line``.
    """
    path = Path(token_dir) / "tokens.jsonl"
    if not path.is_file():
        return None
    out = FrameCounts()
    out.source = str(path)
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if lineno == 1 or not line.strip():
                continue
            try:
                rec = json.loads(line)
                out[rec["key"]] = int(rec["num_frames"])
            except (ValueError, KeyError, TypeError) as e:
                raise DataFileError(f"{path}:{lineno}: malformed token record ({e})") from None
    return out


def _json_ready(v):
    """NaN (an undefined metric) -> None, recursively, so the JSON is standard."""
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, dict):
        return {k: _json_ready(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_ready(x) for x in v]
    return v


def format_table(rows: List[Dict]) -> str:
    """Markdown table of :func:`score_codec_dir` rows."""

    def f(v, fmt):
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)

    spk = any("spk_sim" in r for r in rows)
    lines = [
        "| system | bit/s (nominal) | bit/s (measured) | tokens/s | STOI | PESQ-WB "
        "| MCD (dB) |" + (" spk sim |" if spk else "") + " utts |",
        "|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if spk else "") + "---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['system']} | {f(r['bitrate'], '{:.1f}')} "
            f"| {f(r['bitrate_measured'], '{:.1f}')} "
            f"| {f(r['tokens_per_second'], '{:.1f}')} | {f(r['stoi'], '{:.3f}')} "
            f"| {f(r['pesq'], '{:.2f}')} | {f(r['mcd'], '{:.2f}')} |"
            + (f" {f(r.get('spk_sim'), '{:.3f}')} |" if spk else "")
            + f" {r['num_utts']} |"
        )
    return "\n".join(lines) + "\n"


def write_results(rows: List[Dict], out_dir: PathLike) -> None:
    """``<out_dir>/scores.json`` and ``<out_dir>/scores.md`` (atomic)."""
    out_dir = Path(out_dir)
    with atomic_open(out_dir / "scores.json") as f:
        json.dump(_json_ready(rows), f, indent=1)
    with atomic_open(out_dir / "scores.md") as f:
        f.write(format_table(rows))


def write_curve(rows: List[Dict], out_dir: PathLike) -> str:
    """``<out_dir>/curve.json`` and ``curve.md`` of :func:`training_curve` rows (atomic);
    returns the Markdown table. Undefined metrics are ``null`` / ``-``."""

    def f(v, fmt):
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)

    out_dir = Path(out_dir)
    with atomic_open(out_dir / "curve.json") as fh:
        json.dump(_json_ready(rows), fh, indent=1)
    lines = ["| epoch | steps | minutes | STOI | PESQ-WB | MCD (dB) |",
             "|---:|---:|---:|---:|---:|---:|"]
    lines += [
        f"| {r['epoch']} | {r['steps']} | {f(r['minutes'], '{:.1f}')} "
        f"| {f(r['stoi'], '{:.3f}')} | {f(r['pesq'], '{:.2f}')} | {f(r['mcd'], '{:.2f}')} |"
        for r in rows
    ]
    table = "\n".join(lines) + "\n"
    with atomic_open(out_dir / "curve.md") as fh:
        fh.write(table)
    return table


def _epoch_progress(train_log: Path) -> Dict[int, Tuple[int, float]]:
    """``{epoch: (cumulative generator steps, minutes since training started)}``.

    Read from ESPnet's ``train.log``: the ``<N>epoch results: [train] ... total_count=K``
    summaries and their timestamps, the start being the ``1/<M>epoch started`` line.
    """
    import datetime
    import re

    out: Dict[int, Tuple[int, float]] = {}
    if not train_log.is_file():
        return out
    stamp = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})")
    res = re.compile(r"(\d+)epoch results: \[train\].*?total_count=(\d+)")
    start = None
    for line in train_log.read_text(errors="replace").splitlines():
        t = stamp.search(line)
        if t is None:
            continue
        when = datetime.datetime.strptime(t.group(1), "%Y-%m-%d %H:%M:%S,%f")
        if start is None and re.search(r"\b1/\d+epoch started", line):
            start = when
        m = res.search(line)
        if m and start is not None:
            out[int(m.group(1))] = (int(m.group(2)), (when - start).total_seconds() / 60)
    return out


def training_curve(
    exp_dir: PathLike,
    ref_scp: PathLike,
    max_utts: Optional[int] = None,
    epochs: Optional[Sequence[int]] = None,
) -> List[Dict]:
    """STOI (and PESQ, MCD) of the epoch checkpoints of a codec training run.

    Each ``<exp_dir>/<N>epoch.pth`` (or those of ``epochs``) is loaded with
    ``<exp_dir>/config.yaml``; the references are encoded and decoded in memory and scored
    as in :func:`score_system`. ``steps`` (cumulative generator updates) and ``minutes``
    (wall time from the start of epoch 1 to the end of that epoch's validation) are read
    from ``<exp_dir>/train.log`` (or ``log/train.log``, :func:`_epoch_progress`).

    Raises:
        DataFileError: No epoch checkpoint in ``exp_dir``.
    """
    from espnet_echo.codec.inference import CodecRunner

    exp_dir = Path(exp_dir)
    config = exp_dir / "config.yaml"
    found = sorted(
        int(p.name[: -len("epoch.pth")]) for p in exp_dir.glob("*epoch.pth")
        if p.name[: -len("epoch.pth")].isdigit()
    )
    if epochs is not None:
        found = [e for e in found if e in set(epochs)]
    if not found:
        raise DataFileError(f"{exp_dir}: no <N>epoch.pth checkpoints to score")
    log = exp_dir / "train.log"
    progress = _epoch_progress(log if log.is_file() else exp_dir / "log" / "train.log")
    refs = load_scp(ref_scp, max_utts=max_utts)
    rows = []
    for epoch in found:
        ckpt = exp_dir / f"{epoch}epoch.pth"
        runner = CodecRunner.from_files(config, ckpt)
        res = score_system(
            refs, lambda k, r: (runner.decode(runner.encode(r, k), len(r), k), 0.0)
        )
        rows.append(
            {"epoch": epoch, "steps": progress.get(epoch, (None, None))[0],
             "minutes": progress.get(epoch, (None, None))[1],
             "stoi": res["stoi"], "pesq": res["pesq"], "mcd": res["mcd"],
             "num_utts": res["num_utts"]}
        )
    return rows
