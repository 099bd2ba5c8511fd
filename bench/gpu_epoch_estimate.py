#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Expected GPU time per training epoch of the GPU configs, from a FLOP estimate.

No GPU was available to measure; this counts instead. For each config
(``egs2/mini_mix/echo1/conf/tuning/*_gpu.yaml`` by default) and corpus:

1. the model is built from the config on CPU (random weights, the corpus' speaker
   slots, a 30-token char list and the corpus' number of training speakers);
2. the forward FLOPs of one batch of ``--count`` mixtures of the corpus' mean length
   (K=2 active speakers, 14 chars/s of transcript per speaker, their speaker ids,
   sample-level activity labels) are counted with ``torch.utils.flop_counter
   .FlopCounterMode`` (matmul, convolution and attention kernels; element-wise ops,
   the STFT and the optimizer are not counted) and divided by the batch size;
3. training FLOPs per mixture = 3 x forward (backward ~ 2 x forward);
4. time per epoch = mixtures x training FLOPs per mixture / (peak x MFU), on one GPU;
   with ``--ngpu N`` (DDP) divide by about N.

This is the compute-bound time. At ~28-44 GFLOP per 15 s mixture the models are small
for an H100: the step is likely bound instead by kernel launches (many small ops in
the heads), the CPU side (reading ~3 wavs per mixture: mixture + references, RTTM and
text parsing) and the data loader, so read the figures as a lower bound, not a forecast.

Peaks (dense bf16 tensor-core, no sparsity, NVIDIA datasheets): H100 SXM 989 TFLOP/s,
A100 SXM 312 TFLOP/s. MFU (``--mfu``, default 0.30): the fraction of that peak the step
achieves, an assumption at the low end of the 30-40 % large-model LLM training runs
report; a 25M-parameter model with 384-512-d layers, a TasNet head on the waveform and
the data loader in the loop may well reach less, and the time scales as 1/MFU.

Corpora: the mini corpus (1000 training mixtures, 0.787 h: mean 2.83 s, from
``exp/stats_fbank/train/speech_shape`` of the mini recipe; 3 speaker slots, 99 training
speakers) and Libri2Mix train-360 (50,800 mixtures, ~212 h at 16 kHz in max mode: mean
15.0 s, LibriMix paper, Cosentino et al. 2020, Table 1; 2 slots, 921 speakers of
LibriSpeech train-clean-360). Mean length stands in for the length distribution:
attention (quadratic in length) is a small share at 25 encoder frames/s.

The last column sizes the batch: the bytes of the tensors autograd saves for backward
(fp32, counted with ``saved_tensors_hooks`` on CPU, each storage once) per mixture,
times the mixtures of one ``--batch_bins`` batch. It leaves out the allocator's
fragmentation and workspace, and AMP stores most of them in 16 bits.

Usage: ``python bench/gpu_epoch_estimate.py`` (about 2 minutes on 2 shared CPU cores).
"""

import argparse
import tempfile
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from espnet_echo.tasks.echo import EchoTask

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [
    ROOT / "egs2/mini_mix/echo1/conf/tuning/train_echo25m_gpu.yaml",
    ROOT / "egs2/mini_mix/echo1/conf/tuning/train_ume_ebf25m_gpu.yaml",
]
# name: (training mixtures, hours, speaker slots, training speakers)
CORPORA = {
    "mini_mix train": (1000, 0.787, 3, 99),
    "Libri2Mix train-360": (50800, 212.0, 2, 921),
}
GPUS = {"H100 SXM": 989e12, "A100 SXM": 312e12}  # dense bf16 peak FLOP/s
FS = 16000
CHARS_PER_S = 14
ACTIVE_SPK = 2


def build(config: Path, slots: int, speakers: int, tmp: Path):
    tokens = tmp / "tokens.txt"
    tokens.write_text("\n".join(["<blank>", "<unk>", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ'",
                                 "<space>", "<sos/eos>"][:30]) + "\n")
    spk = tmp / "spk_list.txt"
    spk.write_text("".join(f"spk{i}\n" for i in range(speakers)))
    args = EchoTask.get_parser().parse_args(
        ["--config", str(config), "--token_list", str(tokens), "--token_type", "char",
         "--spk_list", str(spk), "--num_spk", str(slots)])
    model = EchoTask.build_model(args).train()
    return model, len(args.token_list)


def batch(count: int, seconds: float, slots: int, vocab: int, speakers: int):
    n = int(seconds * FS)
    labels = torch.zeros(count, n, slots)
    labels[:, : int(0.7 * n), 0] = 1  # two speakers, 40 % overlap
    labels[:, int(0.3 * n):, 1] = 1
    b = {
        "speech": torch.randn(count, n) * 0.1,
        "speech_lengths": torch.full((count,), n),
        "speech_ref": torch.randn(count, n, ACTIVE_SPK) * 0.05,
        "speech_ref_lengths": torch.full((count,), n),
        "spk_labels": labels,
        "spk_labels_lengths": torch.full((count,), n),
        "num_spk": torch.full((count, 1), ACTIVE_SPK),
        "spk_ids": torch.stack([torch.randperm(speakers)[:ACTIVE_SPK] for _ in range(count)]),
        "spk_ids_lengths": torch.full((count,), ACTIVE_SPK),
    }
    chars = max(1, int(CHARS_PER_S * seconds * 0.7))  # each speaker talks ~70 % of it
    for s in range(1, slots + 1):
        length = chars if s <= ACTIVE_SPK else 0
        b[f"text_spk{s}"] = (torch.randint(2, vocab - 1, (count, length)) if length
                             else torch.full((count, 1), -1))
        b[f"text_spk{s}_lengths"] = torch.full((count,), length)
    return b


def forward_cost(model, b):
    """(forward FLOPs, bytes of the tensors autograd saves for backward, fp32) of a batch."""
    seen, saved = set(), [0]

    def pack(t):
        if isinstance(t, torch.Tensor) and not isinstance(t, torch.nn.Parameter):
            try:
                key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
            except RuntimeError:
                key = None
            if key is None or key not in seen:
                seen.add(key)
                saved[0] += t.untyped_storage().nbytes() if key else t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        with FlopCounterMode(display=False) as counter:
            loss, _, _ = model(**b)
    del loss
    return counter.get_total_flops(), saved[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="+", type=Path, default=CONFIGS)
    p.add_argument("--count", type=int, default=2, help="mixtures per counted batch")
    p.add_argument("--mfu", type=float, default=0.30)
    p.add_argument("--batch_bins", type=int, default=6_400_000,
                   help="the configs' numel batch (speech samples) for the memory column")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    head = (f"{'config':28s} {'corpus':20s} {'mix':>6s} {'mean s':>6s} "
            f"{'fwd GFLOP/mix':>13s} {'train PFLOP/epoch':>17s} "
            + " ".join(f"{g + ' s/epoch':>16s}" for g in GPUS) + f" {'act GiB/batch':>14s}")
    print(f"forward+backward = 3 x forward FLOPs (FlopCounterMode); MFU {args.mfu:.0%} of "
          "dense bf16 peak (" + ", ".join(f"{g} {v / 1e12:.0f} TFLOP/s" for g, v in GPUS.items())
          + "); one GPU")
    print("act GiB/batch: tensors saved for backward (fp32, counted on CPU) of one "
          f"{args.batch_bins:,}-sample batch of mean-length mixtures; AMP keeps most of them "
          "in 16 bits, and weights + Adam state add 16 B/param")
    print(head)
    with tempfile.TemporaryDirectory() as tmp:
        for config in args.configs:
            for corpus, (mixtures, hours, slots, speakers) in CORPORA.items():
                model, vocab = build(config, slots, speakers, Path(tmp))
                params = sum(q.numel() for q in model.parameters())
                seconds = hours * 3600 / mixtures
                fwd, act = forward_cost(model, batch(args.count, seconds, slots, vocab,
                                                     speakers))
                fwd, act = fwd / args.count, act / args.count
                per_batch = args.batch_bins / (seconds * FS)  # mixtures in one batch
                train = 3 * fwd * mixtures
                secs = [train / (peak * args.mfu) for peak in GPUS.values()]
                print(f"{config.stem:28s} {corpus:20s} {mixtures:6d} {seconds:6.2f} "
                      f"{fwd / 1e9:13.1f} {train / 1e15:17.2f} "
                      + " ".join(f"{x:16.1f}" for x in secs)
                      + f" {act * per_batch / 2**30:14.1f}   ({params / 1e6:.1f}M params)")


if __name__ == "__main__":
    main()
