#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0

"""Wall-clock time of VBx clustering on one hour of speaker embeddings (CPU).

Bar (issue 10): one hour of embeddings, 4,800 windows (0.75 s hop), clustered in under
5 s on 2 cores.

Data (:mod:`espnet_echo.cluster.synthetic`, seed ``--seed``): a population of
``--dim``-dimensional synthetic speakers (two-covariance Gaussian model); a PLDA with
``--lda-dim`` LDA dimensions is fitted on ``--train-speakers`` x ``--per-speaker``
training embeddings (timed separately: it is done once, offline); the recording has
``--windows`` windows of ``--speakers`` new speakers taking sticky turns
(``--p-stay`` per window: mean turn ``1 / (1 - p_stay)`` windows).

Timed: :meth:`espnet_echo.cluster.vbx.VBx.cluster` with its defaults (PLDA transform,
AHC, VB-HMM, labels), ``--repeats`` times after one untimed warm-up on the first 200
windows; the median is the figure. One more run is split into its stages. Reported
with the number of speakers found, the clustering accuracy and the machine's load
average before and after (absolute times on a shared machine are inflated by the
other processes' load).

BLAS threads: ``--threads`` (default 1) sets ``OPENBLAS_NUM_THREADS``,
``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` before numpy is imported, unless they are
set in the environment. On 2 cores shared with other processes, 2 busy-waiting
OpenBLAS threads made a 128 x 128 ``eigh`` 200x slower than 1 thread (measured
here), and VBx's matrix products are small; the clustering itself (AHC linkage,
forward-backward) is single-threaded.

Usage: ``python bench/vbx_speed.py`` (about 1 min, most of it the PLDA fit and data
generation); smoke test: ``python bench/vbx_speed.py --windows 400 --dim 32
--lda-dim 16 --train-speakers 60 --per-speaker 10``.
"""

import argparse
import os
import sys


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--windows", type=int, default=4800, help="windows (0.75 s hop)")
    parser.add_argument("--speakers", type=int, default=10, help="speakers in the recording")
    parser.add_argument("--dim", type=int, default=256, help="embedding dimension D")
    parser.add_argument("--lda-dim", type=int, default=128, help="PLDA / LDA dimension")
    parser.add_argument("--train-speakers", type=int, default=400)
    parser.add_argument("--per-speaker", type=int, default=30)
    parser.add_argument("--p-stay", type=float, default=0.9)
    parser.add_argument("--noise", type=float, default=1.0,
                        help="within-speaker noise scale of the recording")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv=None) -> None:
    args = get_parser().parse_args(argv)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))

    import time

    import numpy as np

    from espnet_echo.cluster.plda import PLDA
    from espnet_echo.cluster.synthetic import (
        SyntheticSpeakers,
        clustering_accuracy,
        sticky_turns,
    )
    from espnet_echo.cluster.vbx import (
        VBx,
        _labels_from_posteriors,
        _smoothed_onehot,
        ahc_init,
        vbx_inference,
    )

    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} "
          f"({os.cpu_count()} CPUs); BLAS threads: {os.environ['OPENBLAS_NUM_THREADS']}")
    rng = np.random.default_rng(args.seed)
    world = SyntheticSpeakers(dim=args.dim, seed=args.seed)
    train_x, train_y = world.training_set(args.train_speakers, args.per_speaker, rng)
    t0 = time.perf_counter()
    plda = PLDA.fit(train_x, train_y, lda_dim=args.lda_dim)
    fit_s = time.perf_counter() - t0
    print(f"PLDA fit (offline, not in the figure): {fit_s:.2f} s on "
          f"{len(train_x)} x {args.dim} embeddings of {args.train_speakers} speakers, "
          f"lda_dim {args.lda_dim}")

    labels = sticky_turns(args.speakers, args.windows, args.p_stay, rng)
    emb = world.embeddings(world.speaker_means(args.speakers, rng), labels, rng, args.noise)
    vbx = VBx()
    vbx.cluster(emb[:200], plda)  # warm-up
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        hyp, post = vbx.cluster(emb, plda)
        times.append(time.perf_counter() - t0)
    acc = clustering_accuracy(labels, hyp)

    t0 = time.perf_counter()
    feats = plda.transform(emb)
    t1 = time.perf_counter()
    init = ahc_init(feats, vbx.threshold, vbx.max_init_speakers)
    t2 = time.perf_counter()
    res = vbx_inference(feats, plda.phi, _smoothed_onehot(init, vbx.init_smoothing),
                        loopP=vbx.loopP, Fa=vbx.Fa, Fb=vbx.Fb, max_iters=vbx.max_iters,
                        tol=vbx.tol, prune_threshold=vbx.prune_threshold)
    t3 = time.perf_counter()
    _labels_from_posteriors(res.gamma[:, res.pi > vbx.prune_threshold])
    t4 = time.perf_counter()

    hours = args.windows * 0.75 / 3600
    print(f"recording: {args.windows} windows ({hours:.2f} h at 0.75 s hop), "
          f"{args.speakers} speakers, D={args.dim}, PLDA dim {plda.dim}")
    print(f"VBx.cluster: median {np.median(times):.2f} s over {len(times)} runs "
          f"({', '.join(f'{t:.2f}' for t in times)}); bar < 5 s")
    print(f"  found K={post.shape[1]} (true {args.speakers}), accuracy {acc:.4f}")
    print(f"  stages: PLDA transform {t1 - t0:.2f} s, AHC {t2 - t1:.2f} s "
          f"({init.max() + 1} clusters), VB-HMM {t3 - t2:.2f} s ({len(res.elbo)} "
          f"iterations, {len(res.pi)} speakers left), labels {t4 - t3:.3f} s")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main(sys.argv[1:])
