#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0

"""Compute (wall time, real-time factor, peak RSS) of a pyannote.audio 4 diarization pipeline.

Bar (issue 13): a side-by-side compute comparison of the Echo pipeline against
pyannote.audio 4's speaker-diarization pipeline on the same file and the same cores.

Run (inside the bench-only env, never the project's .venv)::

    bash bench/pyannote_env.sh        # once: creates bench/.venv-pyannote
    bench/.venv-pyannote/bin/python bench/pyannote_rtf.py /path/to/16k_mono.wav \\
        --num-threads 2 --num-speakers 4

It prints one JSON line (``--json-out`` also writes it to a file).

What is built (no download: nothing can be fetched from the model hub here, so every
network has RANDOM weights; only compute is meaningful, not the diarization output):

* pipeline: ``pyannote.audio.pipelines.SpeakerDiarization`` (the class behind
  ``pyannote/speaker-diarization-3.1`` and ``pyannote/speaker-diarization-community-1``),
  given Model instances for ``segmentation=`` and ``embedding=`` and a PLDA instance for
  ``plda=``; ``segmentation_batch_size=32``, ``embedding_batch_size=32``,
  ``embedding_exclude_overlap=True`` as in those pipelines' published config.yaml;
  ``segmentation_step=0.1`` (class default: 10 s window, 1 s hop).
* segmentation: ``PyanNet`` as ``pyannote/segmentation-3.0`` (SincNet stride 10, 4-layer
  bidirectional monolithic LSTM 128 units, dropout 0.5, 2 linear layers of 128, powerset
  output over 3 speakers per 10 s chunk with at most 2 simultaneous = 7 classes,
  LogSoftmax).
* embedding: ``WeSpeakerResNet34`` (pyannote's port of WeSpeaker ResNet34, 80 fbank,
  256-dim, TSTP pooling), the architecture of ``pyannote/wespeaker-voxceleb-resnet34-LM``
  and of community-1's embedding model, wrapped by pyannote's
  ``PyannoteAudioPretrainedSpeakerEmbedding`` as the pipeline does for a Model.
* clustering: ``VBxClustering`` (pyannote 4's default and community-1's choice: AHC
  (centroid linkage) initialisation, VB-HMM with PLDA, constrained assignment) with the
  pipeline's ``default_parameters()``: segmentation min_duration_off 0.0, clustering
  threshold 0.6, Fa 0.07, Fb 0.8. Its PLDA (``xvec_transform.npz`` + ``plda.npz``, 256 ->
  128 LDA dims) is random too: a random orthonormal LDA, random well-conditioned PLDA
  transform and a decaying between-class spectrum, written to a temporary folder.
  ``--clustering AgglomerativeClustering`` gives the 3.1 pipeline instead (threshold
  0.7045654963945799, method centroid, min_cluster_size 12).

Random weights and representativeness:

* the segmentation classifier bias is calibrated (``--no-calibrate`` to skip) on the
  first 60 s so that the frame-level argmax over the 7 powerset classes follows a
  conversational prior (15 % non-speech, 75 % single speaker, 10 % overlap); with the
  raw random bias, whole chunks can come out as one class (e.g. all non-speech, where
  the pipeline exits before embeddings and clustering, or all overlap, where no
  embedding is "clean" enough for clustering). The network's compute is unchanged.
* the embedding step's cost does not depend on the weights: pyannote extracts one
  embedding per (chunk, local speaker) pair, i.e. 3 x num_chunks ResNet34 passes on
  10 s windows, active or not.
* random embeddings are not speaker-discriminative, so VBx may find 1 cluster (or many);
  ``--num-speakers K`` (default 4, the number of speakers of the test conversation)
  is passed to the pipeline, so the KMeans re-clustering step runs whenever VBx's own
  count differs from K, as it would on a file with a known speaker count. The JSON
  reports the number of AHC clusters, VBx clusters and final speakers found.
  ``--num-speakers 0`` lets the pipeline pick.

Measured: wall time of ``pipeline({"waveform", "sample_rate", "uri"}, num_speakers=K)``
on the whole file (audio already in memory: pyannote 4 reads files through torchcodec,
which needs FFmpeg libraries that this machine lacks; reading a 10 min 16-bit WAV takes
~10 ms, reported as ``load_s``), after one untimed warm-up run on its first 10 s;
``--repeats`` runs, the median is ``wall_s``. ``rtf = wall_s / audio_s``. Peak RSS is
``ru_maxrss`` of this process (includes the models, the warm-up and the loaded audio).
Stages come from the pipeline's ``hook`` (called after segmentation, speaker counting
and each embedding batch) plus a timer around the clustering call; ``reconstruct_s``
is the rest (cluster-to-frame reconstruction, binarisation to annotations).

Threads: ``--num-threads N`` (default 2) calls ``torch.set_num_threads(N)`` and sets
``OMP_NUM_THREADS``/``MKL_NUM_THREADS``/``OPENBLAS_NUM_THREADS`` (numpy/scipy BLAS in
clustering) to N before numpy and torch are imported, unless already set.
"""

import argparse
import json
import os
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("wav", help="16 kHz mono WAV (other rates are resampled by pyannote)")
    p.add_argument("--num-threads", type=int, default=2)
    p.add_argument(
        "--num-speakers",
        type=int,
        default=4,
        help="passed as num_speakers= to the pipeline; 0 = let the pipeline decide",
    )
    p.add_argument(
        "--clustering",
        default="VBxClustering",
        choices=["VBxClustering", "AgglomerativeClustering"],
    )
    p.add_argument("--segmentation-batch-size", type=int, default=32)
    p.add_argument("--embedding-batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--warmup-s", type=float, default=10.0)
    p.add_argument("--no-calibrate", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json-out", default=None)
    return p.parse_args(argv)


args = parse_args()
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, str(args.num_threads))
# pyannote.audio 4 sends usage telemetry by default; no network here, and none wanted.
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import resource  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402
from importlib.metadata import version  # noqa: E402

import numpy as np  # noqa: E402
import scipy.io.wavfile  # noqa: E402
import torch  # noqa: E402

warnings.filterwarnings("ignore")

import pyannote.audio  # noqa: E402
import pyannote.audio.pipelines.clustering as pa_clustering  # noqa: E402
from pyannote.audio.core.plda import PLDA  # noqa: E402
from pyannote.audio.core.task import Problem, Resolution, Specifications  # noqa: E402
from pyannote.audio.models.embedding import WeSpeakerResNet34  # noqa: E402
from pyannote.audio.models.segmentation import PyanNet  # noqa: E402
from pyannote.audio.pipelines import SpeakerDiarization  # noqa: E402

SAMPLE_RATE = 16000

# 3.1 pipeline's clustering hyper-parameters (pyannote/speaker-diarization-3.1 config.yaml)
AHC_31 = {"method": "centroid", "min_cluster_size": 12, "threshold": 0.7045654963945799}


def build_segmentation(seed: int) -> PyanNet:
    """PyanNet with pyannote/segmentation-3.0's hyper-parameters and specifications."""
    torch.manual_seed(seed)
    model = PyanNet(
        sincnet={"stride": 10},
        lstm={
            "hidden_size": 128,
            "num_layers": 4,
            "bidirectional": True,
            "monolithic": True,
            "dropout": 0.5,
        },
        linear={"hidden_size": 128, "num_layers": 2},
        sample_rate=SAMPLE_RATE,
        num_channels=1,
    )
    model.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION,
        resolution=Resolution.FRAME,
        duration=10.0,
        min_duration=None,
        warm_up=(0.0, 0.0),
        classes=["speaker#1", "speaker#2", "speaker#3"],
        powerset_max_classes=2,
        permutation_invariant=True,
    )
    model.setup()  # no task: adds the 7-class classifier + LogSoftmax (build())
    return model.eval()


def calibrate_segmentation(model: PyanNet, waveform: torch.Tensor, seconds: float = 60.0):
    """Re-scale the random classifier so the argmax powerset class follows a prior.

    Classes (3 speakers, at most 2 at once): [none, {1}, {2}, {3}, {1,2}, {1,3}, {2,3}].
    With random weights the 7 logits barely move from frame to frame compared with
    their differences, so every frame gets the same class. The classifier (a Linear
    layer) is re-parameterised so that each logit has zero mean and unit variance over
    the first ``seconds`` of audio (W_c / std_c, (b_c - mean_c) / std_c), then a
    per-class offset is fitted so that the argmax frequencies match ``target``. Same
    layer, same compute. Returns (prior, frequencies before, frequencies after).
    """
    target = np.array([0.15, 0.25, 0.25, 0.25, 0.1 / 3, 0.1 / 3, 0.1 / 3])
    chunk = 10 * SAMPLE_RATE
    n = max(1, min(int(seconds * SAMPLE_RATE), waveform.shape[-1]) // chunk)
    x = waveform[..., : n * chunk].reshape(n, 1, chunk)
    captured = []
    handle = model.classifier.register_forward_hook(
        lambda mod, inp, out: captured.append(out.detach())
    )
    with torch.inference_mode():
        model(x)
    handle.remove()
    logits = torch.cat(captured).reshape(-1, model.dimension).double().numpy()
    mean, std = logits.mean(axis=0), logits.std(axis=0) + 1e-12
    z = (logits - mean) / std

    def freq(z, b):
        hits = np.bincount(np.argmax(z + b, axis=1), minlength=model.dimension)
        return hits / hits.sum()

    before = freq(logits, 0.0)
    bias = np.zeros(model.dimension)
    for _ in range(300):
        bias += 0.2 * np.log((target + 1e-3) / (freq(z, bias) + 1e-3))
    with torch.no_grad():
        w, b = model.classifier.weight, model.classifier.bias
        scale = torch.from_numpy(1.0 / std).to(w.dtype)
        w.mul_(scale[:, None])
        b.copy_(((b.double() - torch.from_numpy(mean)) / torch.from_numpy(std)
                 + torch.from_numpy(bias)).to(b.dtype))
    return target, before, freq(z, bias)


def build_embedding(seed: int) -> WeSpeakerResNet34:
    torch.manual_seed(seed + 1)
    return WeSpeakerResNet34(sample_rate=SAMPLE_RATE).eval()


def build_plda(folder: str, seed: int, dim: int = 256, lda_dim: int = 128) -> PLDA:
    """Random PLDA with the shapes of community-1's (xvec_transform.npz, plda.npz)."""
    rng = np.random.default_rng(seed)
    lda, _ = np.linalg.qr(rng.standard_normal((dim, lda_dim)))  # (256, 128) orthonormal
    np.savez(
        os.path.join(folder, "xvec_transform.npz"),
        mean1=0.01 * rng.standard_normal(dim),
        mean2=0.01 * rng.standard_normal(lda_dim),
        lda=lda,
    )
    q, _ = np.linalg.qr(rng.standard_normal((lda_dim, lda_dim)))
    tr = q * rng.uniform(0.5, 2.0, size=lda_dim)[:, None]  # well-conditioned
    psi = np.sort(np.exp(rng.uniform(-3.0, 3.0, size=lda_dim)))[::-1]
    np.savez(
        os.path.join(folder, "plda.npz"),
        mu=0.01 * rng.standard_normal(lda_dim),
        tr=tr,
        psi=psi,
    )
    return PLDA(
        os.path.join(folder, "xvec_transform.npz"), os.path.join(folder, "plda.npz")
    )


class StageClock:
    """Pipeline hook that stamps the last call of each step, plus a clustering timer."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.t0 = time.perf_counter()
        self.last = {}
        self.clustering_s = 0.0
        self.clustering_info = {}

    def __call__(self, step_name, step_artifact, file=None, total=None, completed=None):
        self.last[step_name] = time.perf_counter()

    def stages(self, t_end: float) -> dict:
        t = self.t0
        out = {}
        for name in ("segmentation", "speaker_counting", "embeddings"):
            if name in self.last:
                out[f"{name}_s"] = round(self.last[name] - t, 3)
                t = self.last[name]
        out["clustering_s"] = round(self.clustering_s, 3)
        out["reconstruct_s"] = round(t_end - t - self.clustering_s, 3)
        return out


CLOCK = StageClock()


def instrument_clustering():
    """Time every clustering call; record AHC / VBx cluster counts (VBx only)."""
    for cls in (pa_clustering.VBxClustering, pa_clustering.AgglomerativeClustering):
        orig = cls.__call__

        def timed(self, *a, _orig=orig, **kw):
            t = time.perf_counter()
            try:
                return _orig(self, *a, **kw)
            finally:
                CLOCK.clustering_s += time.perf_counter() - t

        cls.__call__ = timed

    orig_vbx = pa_clustering.cluster_vbx

    def vbx(ahc_clusters, *a, **kw):
        t = time.perf_counter()
        q, sp = orig_vbx(ahc_clusters, *a, **kw)
        CLOCK.clustering_info.update(
            num_clustered_embeddings=int(len(ahc_clusters)),
            ahc_clusters=int(np.max(ahc_clusters) + 1),
            vbx_clusters=int(np.sum(sp > 1e-7)),
            vbx_s=round(time.perf_counter() - t, 3),
        )
        return q, sp

    pa_clustering.cluster_vbx = vbx


def read_wav(path: str) -> torch.Tensor:
    sr, x = scipy.io.wavfile.read(path)
    if x.dtype == np.int16:
        x = x.astype(np.float32) / 32768.0
    elif x.dtype == np.int32:
        x = x.astype(np.float32) / 2147483648.0
    else:
        x = x.astype(np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if sr != SAMPLE_RATE:
        raise SystemExit(f"{path}: {sr} Hz; this bench expects {SAMPLE_RATE} Hz")
    return torch.from_numpy(x)[None]  # (1, time)


def main():
    torch.set_num_threads(args.num_threads)
    t = time.perf_counter()
    waveform = read_wav(args.wav)
    load_s = time.perf_counter() - t
    audio_s = waveform.shape[-1] / SAMPLE_RATE

    segmentation = build_segmentation(args.seed)
    calib = None
    if not args.no_calibrate:
        prior, before, after = calibrate_segmentation(segmentation, waveform)
        calib = {
            "prior": [round(v, 3) for v in prior],
            "argmax_freq_raw": [round(v, 3) for v in before],
            "argmax_freq_calibrated": [round(v, 3) for v in after],
        }
    embedding = build_embedding(args.seed)
    tmp = tempfile.TemporaryDirectory()
    plda = build_plda(tmp.name, args.seed)

    pipeline = SpeakerDiarization(
        segmentation=segmentation,
        embedding=embedding,
        plda=plda,
        clustering=args.clustering,
        segmentation_batch_size=args.segmentation_batch_size,
        embedding_batch_size=args.embedding_batch_size,
        embedding_exclude_overlap=True,
    )
    params = pipeline.default_parameters()
    if args.clustering == "AgglomerativeClustering":
        params = {"segmentation": {"min_duration_off": 0.0}, "clustering": dict(AHC_31)}
    pipeline.instantiate(params)
    instrument_clustering()

    kw = {"num_speakers": args.num_speakers} if args.num_speakers > 0 else {}

    def run(x, uri, **kw):
        CLOCK.reset()
        out = pipeline({"waveform": x, "sample_rate": SAMPLE_RATE, "uri": uri}, hook=CLOCK, **kw)
        t_end = time.perf_counter()
        return out, t_end - CLOCK.t0, CLOCK.stages(t_end)

    rss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    warm = waveform[:, : int(args.warmup_s * SAMPLE_RATE)]
    # no num_speakers here: 10 s = 1 chunk = 3 embeddings, fewer than K for KMeans
    _, warm_s, _ = run(warm, "warmup")
    ru0 = resource.getrusage(resource.RUSAGE_SELF)

    walls, stages, out = [], None, None
    for i in range(args.repeats):
        out, wall, st = run(waveform, os.path.basename(args.wav), **kw)
        walls.append(wall)
        if stages is None or wall <= min(walls):
            stages = st
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    wall_s = statistics.median(walls)
    diar = out.speaker_diarization
    speech_s = diar.get_timeline().support().duration()
    res = {
        "audio_s": round(audio_s, 3),
        "wall_s": round(wall_s, 3),
        "rtf": round(wall_s / audio_s, 5),
        "num_threads": args.num_threads,
        "pyannote_version": pyannote.audio.__version__,
        "torch_version": torch.__version__,
        "num_speakers_found": len(diar.labels()),
        "stages": stages,
        "clustering": args.clustering,
        "clustering_info": dict(CLOCK.clustering_info),
        "num_speakers_arg": args.num_speakers or None,
        "params": params,
        "segmentation_batch_size": args.segmentation_batch_size,
        "embedding_batch_size": args.embedding_batch_size,
        "num_chunks": int(round((audio_s - 10.0) / 1.0)) + 1 if audio_s > 10 else 1,
        "speech_s_found": round(speech_s, 1),
        "repeats": args.repeats,
        "walls_s": [round(w, 3) for w in walls],
        "warmup_s": round(warm_s, 3),
        "cpu_user_s": round((ru1.ru_utime - ru0.ru_utime) / args.repeats, 2),
        "cpu_sys_s": round((ru1.ru_stime - ru0.ru_stime) / args.repeats, 2),
        "load_s": round(load_s, 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_before_warmup_mb": round(rss_before_kb / 1024, 1),
        "weights": "random (no pretrained weights available offline)",
        "segmentation_calibration": calib,
        "python": sys.version.split()[0],
        "versions": {
            p: version(p)
            for p in ("pyannote.core", "pyannote.pipeline", "numpy", "scipy", "scikit-learn")
        },
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "wav": os.path.abspath(args.wav),
    }
    line = json.dumps(res)
    print(line, flush=True)
    if args.json_out:
        with open(args.json_out, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
