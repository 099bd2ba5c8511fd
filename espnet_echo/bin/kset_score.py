#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Echo's latent separation metrics of a K-set model (``sep_head: kset``) on a data dir.

``python -m espnet_echo.bin.kset_score --train_config exp/m/config.yaml --model_file
exp/m/valid.loss.best.pth --data_dir dump/raw/test --out_dir exp/m/kset_test``

Per utterance (one at a time, so every latent covers exactly its own frames): the
model's encoder -> RWSE -> K-set head gives the slot latents and existence
probabilities; the model's frozen target encoder gives each clean source's latent
(``speech_ref.scp``, the first ``utt2num_spk`` columns; a silent source or one shorter
than one encoder frame is not a source, as in training) and the mixture's.
``<out_dir>/records/<utt>.npz`` holds them
(:func:`espnet_echo.metrics.latent_separation.write_record`) and
``<out_dir>/scores.json`` the corpus figures of
:func:`espnet_echo.metrics.latent_separation.score_latent_dir` (latent SI-SDR,
SI-SDRi, PIT accuracy, K-routing accuracy, mean |K̂-K|).
"""

import argparse
import json
from pathlib import Path
from typing import Optional, Sequence

import torch

from espnet_echo.data.scp import read_entry, split_entries
from espnet_echo.metrics.latent_separation import score_latent_dir, write_record
from espnet_echo.unified.references import BatchContext, reference_kind
from espnet_echo.utils.cli import add_log_level_argument, exit_on_error, setup_logging


def get_parser() -> argparse.ArgumentParser:
    """Command line."""
    p = argparse.ArgumentParser(
        description="Latent separation metrics of a K-set model on a data dir",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--train_config", type=Path, required=True, help="config.yaml")
    p.add_argument("--model_file", type=Path, required=True, help="checkpoint (.pth)")
    p.add_argument("--data_dir", type=Path, required=True,
                   help="data dir with wav.scp, speech_ref.scp and utt2num_spk")
    p.add_argument("--out_dir", type=Path, required=True, help="records/ and scores.json")
    p.add_argument("--max_utts", type=int, default=None, help="first N utterances only")
    p.add_argument("--num_threads", type=int, default=1, help="torch threads (0: keep)")
    add_log_level_argument(p)
    return p


def _read_scp(path: Path) -> dict:
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                key, _, rest = line.strip().partition(" ")
                out[key] = (rest.strip(), f"{path}:{n}")
    return out


@torch.no_grad()
def score_data_dir(
    train_config: Path,
    model_file: Path,
    data_dir: Path,
    out_dir: Path,
    max_utts: Optional[int] = None,
) -> dict:
    """Write the records of every utterance and return the corpus scores.

    Raises:
        ValueError: the model has no K-set head (no ``source_latents`` reference), or a
            data file is missing or malformed (names the file).
    """
    from espnet_echo.tasks.echo import EchoTask

    model, _ = EchoTask.build_model_from_file(train_config, model_file, "cpu")
    model.eval()
    task = next((t for t, h in model.heads.items() if "source_latents" in h.ref_kinds),
                None)
    if task is None:
        raise ValueError(f"{train_config}: the model has no K-set separation head")
    for name in ("wav.scp", "speech_ref.scp", "utt2num_spk"):
        if not (data_dir / name).is_file():
            raise ValueError(f"{data_dir / name} not found")
    wavs = _read_scp(data_dir / "wav.scp")
    refs = _read_scp(data_dir / "speech_ref.scp")
    nspk = {k: int(v) for k, (v, _) in _read_scp(data_dir / "utt2num_spk").items()}
    records = out_dir / "records"
    records.mkdir(parents=True, exist_ok=True)
    for i, utt in enumerate(sorted(wavs)):
        if max_utts is not None and i >= max_utts:
            break
        if utt not in refs or utt not in nspk:
            raise ValueError(f"{data_dir}: {utt} lacks speech_ref.scp/utt2num_spk entries")
        mix, _ = read_entry(*wavs[utt])
        cols = [read_entry(e, refs[utt][1])[0] for e in split_entries(*refs[utt])]
        n = len(mix)
        ref = torch.zeros(1, n, max(1, len(cols)))
        for j, c in enumerate(cols):
            ref[0, : min(n, len(c)), j] = torch.from_numpy(c[:n])
        speech = torch.from_numpy(mix)[None]
        lengths = torch.tensor([n])
        last, hs, lens = model.encode(speech, lengths)
        batch = {"speech_ref": ref, "num_spk": torch.tensor([[nspk[utt]]])}
        ctx = BatchContext(
            speech=speech, speech_lengths=lengths, num_slots=model.num_spk,
            num_frames=last.shape[1], frame_shift=model.frame_shift,
            target_encode=model.target_latents,
            mixture_latents=model.target_latents(speech, lengths),
        )
        head = model.heads[task]
        r = {}
        for kind in head.ref_kinds:  # only the K-set head's references
            r.update(reference_kind(kind).build(batch, ctx))
        out = head.infer(model.fuse(task, last, hs), lens, speech, lengths)
        rec = head.records(out, r["source_latents"], r["num_sources"],
                           r["mixture_latents"])[0]
        write_record(records / f"{utt}.npz", **rec)
    scores = score_latent_dir(records)
    (out_dir / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
    return scores


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Score and print the JSON; bad data or options exit with status 1."""
    args = get_parser().parse_args(cmd)
    setup_logging(args.log_level)
    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    with exit_on_error("kset_score", (ValueError, RuntimeError)):
        scores = score_data_dir(args.train_config, args.model_file, args.data_dir,
                                args.out_dir, args.max_utts)
    print(json.dumps(scores, indent=2))


if __name__ == "__main__":
    main()
