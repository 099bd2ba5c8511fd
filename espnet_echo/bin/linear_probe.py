#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Frozen-encoder linear probes: how much speaker and content a representation carries.

``python -m espnet_echo.bin.linear_probe --config exp/jepa/config.yaml --checkpoint
exp/jepa/valid.loss.best.pth --prefix target_encoder --data_dir dump/raw/train
--token_list data/token_list/char/tokens.txt --out exp/jepa/probe/probe.json``

The frontend (``DefaultFrontend``), ``normalize`` (ESPnet's ``normalize`` choices, e.g.
``global_mvn`` with its ``stats_file``) and encoder (ESPnet's asr encoder choices after
:func:`espnet_echo.registry.register`, so ``echo_vit``, ``e_branchformer``, ...) are built
from the config; the encoder weights are the checkpoint's ``<prefix>.*`` entries (no
checkpoint: the random-init baseline). Inputs are the clean sources of the data dir
(``spk{n}.scp`` or ``speech_ref.scp``), each cut to its first..last non-zero sample;
speaker labels come from ``utt2spks`` column n, transcripts from ``text_spk{n}``.
Features (the encoder output, (N, D) per source) are extracted once without gradients.

* Speaker probe: mean-pooled features -> multinomial logistic regression (standardised
  inputs, L2, 300 full-batch Adam steps). Speakers with >= 2 sources only; per speaker 30 % of
  its sources (at least one) are held out. Chance is the held-out accuracy of the best
  constant prediction.
* Content probe: one linear layer on the frame features trained with CTC on the char
  tokens of the transcripts (15 epochs of Adam, mini-batches of 32; torch's CPU CTC is
  too slow for hundreds of full-batch steps); 30 % of the mixtures (all their
  sources) are held out; greedy decoding, character error rate on the held-out sources.

Writes a JSON file atomically and prints a one-line summary. Fields: ``speaker_acc``,
``speaker_chance``, ``num_speakers``, ``num_train``/``num_test`` (sources of the speaker
probe), ``ctc_cer``, ``ctc_train_loss``, ``ctc_num_train``/``ctc_num_test``, ``encoder``
(class name), ``checkpoint``, ``prefix``, ``num_sources``, ``feature_dim``, timings.
"""

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import editdistance
import numpy as np
import torch
import yaml

from espnet_echo.bin.score import read_ref_sources, read_ref_texts
from espnet_echo.utils.audio import AudioError, load_audio
from espnet_echo.utils.cli import add_log_level_argument, setup_logging
from espnet_echo.utils.fileio import DataFileError, atomic_open, read_kaldi_map

HELD_OUT = 0.3


class ProbeError(ValueError):
    """Bad config, checkpoint or data for a probe; the message names the file."""


def build_feature_extractor(config: Path, normalize_stats: Optional[Path] = None) -> Tuple:
    """Frontend, normalize (or None) and encoder of a config (eval mode), and its fs.

    ``normalize_stats`` (a ``feats_stats.npz`` of ESPnet's collect-stats) replaces the
    config's normalize by ``global_mvn`` with those statistics, as recipe training does
    on the command line.
    """
    from espnet2.asr.frontend.default import DefaultFrontend
    from espnet2.tasks.asr import encoder_choices, normalize_choices

    from espnet_echo.registry import register

    register()
    try:
        with open(config, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise ProbeError(f"{config}: cannot read the config ({e})") from e
    if not isinstance(cfg, dict) or cfg.get("frontend") != "default":
        raise ProbeError(f"{config}: needs 'frontend: default' (log-mel)")
    if not cfg.get("encoder"):
        raise ProbeError(f"{config}: no 'encoder' given")
    try:
        frontend = DefaultFrontend(**(cfg.get("frontend_conf") or {}))
        normalize = None
        if normalize_stats is not None:
            if not Path(normalize_stats).is_file():
                raise ProbeError(f"{normalize_stats}: normalize stats file not found")
            normalize = normalize_choices.get_class("global_mvn")(
                stats_file=str(normalize_stats)
            )
        elif cfg.get("normalize"):
            normalize = normalize_choices.get_class(cfg["normalize"])(
                **(cfg.get("normalize_conf") or {})
            )
        encoder = encoder_choices.get_class(cfg["encoder"])(
            input_size=frontend.output_size(), **(cfg.get("encoder_conf") or {})
        )
    except (TypeError, ValueError, OSError) as e:
        raise ProbeError(f"{config}: cannot build the model ({e})") from e
    for module in (frontend, normalize, encoder):
        if module is not None:
            module.eval()
    return frontend, normalize, encoder, int((cfg.get("frontend_conf") or {}).get("fs", 16000))


def load_encoder_weights(encoder: torch.nn.Module, checkpoint: Path, prefix: str) -> int:
    """Load the ``<prefix>.*`` entries of a checkpoint into ``encoder``.

    Accepts a plain state dict (``valid.*.best.pth``) or a trainer checkpoint with a
    ``model`` entry. Returns the number of tensors loaded.

    Raises:
        ProbeError: unreadable file, no key with the prefix, missing or unexpected keys
            or shape mismatches; the message names the checkpoint.
    """
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for bad files
        raise ProbeError(f"{checkpoint}: cannot load checkpoint ({e})") from e
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise ProbeError(f"{checkpoint}: not a state dict")
    head = prefix + "."
    sub = {k[len(head):]: v for k, v in state.items() if k.startswith(head)}
    if not sub:
        prefixes = sorted({k.split(".", 1)[0] for k in state})
        raise ProbeError(
            f"{checkpoint}: no key starts with {head!r}; top-level prefixes: "
            f"{', '.join(prefixes[:10])}"
        )
    own = encoder.state_dict()
    missing = sorted(set(own) - set(sub))
    unexpected = sorted(set(sub) - set(own))
    if missing or unexpected:
        raise ProbeError(
            f"{checkpoint}: {prefix}.* does not match the encoder of the config: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    for key, value in sub.items():
        if value.shape != own[key].shape:
            raise ProbeError(
                f"{checkpoint}: {prefix}.{key} has shape {tuple(value.shape)}, the "
                f"encoder of the config expects {tuple(own[key].shape)}"
            )
    encoder.load_state_dict(sub)
    return len(sub)


def read_sources(
    data_dir: Path, max_utts: Optional[int], seed: int
) -> List[Dict[str, str]]:
    """Clean sources ``{utt, wav, spk, text}`` of (a seeded subset of) the mixtures."""
    wavs = read_kaldi_map(data_dir / "wav.scp")
    utts = sorted(wavs)
    if max_utts is not None and len(utts) > max_utts:
        utts = sorted(random.Random(seed).sample(utts, max_utts))
    sources = read_ref_sources(data_dir, wavs)
    if sources is None:
        raise ProbeError(f"{data_dir}: no spk{{n}}.scp or speech_ref.scp (clean sources)")
    texts = read_ref_texts(data_dir, wavs) or {}
    spks = read_kaldi_map(data_dir / "utt2spks")
    out = []
    for utt in utts:
        labels = spks.get(utt, "").split()
        for n, (wav, where) in enumerate(sources.get(utt, [])):
            if n >= len(labels):
                raise ProbeError(
                    f"{data_dir / 'utt2spks'}: utterance {utt!r} has {len(labels)} "
                    f"speakers but {where} lists source {n + 1}"
                )
            text = texts[utt][n][0] if utt in texts and n < len(texts[utt]) else ""
            out.append({"utt": utt, "wav": wav, "spk": labels[n], "text": text})
    if not out:
        raise ProbeError(f"{data_dir}: no sources")
    return out


@torch.no_grad()
def extract_features(
    frontend: torch.nn.Module,
    normalize: Optional[torch.nn.Module],
    encoder: torch.nn.Module,
    wavs: Sequence[str],
    fs: int,
    batch_size: int = 16,
) -> List[torch.Tensor]:
    """Encoder outputs (N_i, D) of each file (trimmed to its non-zero span)."""
    audio = []
    for wav in wavs:
        x = load_audio(wav, fs=fs)
        nonzero = np.flatnonzero(x)
        if nonzero.size:
            x = x[nonzero[0] : nonzero[-1] + 1]
        audio.append(torch.from_numpy(x))
    order = sorted(range(len(audio)), key=lambda i: audio[i].numel())
    feats: List[Optional[torch.Tensor]] = [None] * len(audio)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        lens = torch.tensor([audio[i].numel() for i in idx])
        speech = torch.nn.utils.rnn.pad_sequence([audio[i] for i in idx], batch_first=True)
        x, xlens = frontend(speech, lens)
        if normalize is not None:
            x, xlens = normalize(x, xlens)
        out = encoder(x, xlens)
        hs, olens = out[0], out[1]
        if isinstance(hs, tuple):
            hs = hs[0]
        for j, i in enumerate(idx):
            feats[i] = hs[j, : int(olens[j])].float().clone()
    return feats


def split_by_speaker(
    labels: Sequence[str], seed: int
) -> Tuple[List[int], List[int], List[str]]:
    """Per speaker with >= 2 items: 30 % (>= 1) held out. Returns train, test, speakers."""
    by_spk: Dict[str, List[int]] = {}
    for i, spk in enumerate(labels):
        by_spk.setdefault(spk, []).append(i)
    rng = random.Random(seed)
    train, test, speakers = [], [], []
    for spk in sorted(by_spk):
        items = by_spk[spk]
        if len(items) < 2:
            continue
        rng.shuffle(items)
        n_test = min(len(items) - 1, max(1, round(HELD_OUT * len(items))))
        test.extend(items[:n_test])
        train.extend(items[n_test:])
        speakers.append(spk)
    return sorted(train), sorted(test), speakers


def speaker_probe(
    pooled: torch.Tensor, labels: Sequence[str], seed: int, l2: float = 1e-3,
    steps: int = 300, lr: float = 0.02,
) -> Dict[str, float]:
    """Logistic-regression speaker ID on pooled features (M, D), full-batch Adam.

    With fewer than 2 speakers that have >= 2 sources (a tiny data dir) there is nothing
    to hold out: the accuracy fields are None and ``speaker_probe_skipped`` says why.
    """
    train, test, speakers = split_by_speaker(labels, seed)
    if len(speakers) < 2:
        reason = (
            f"{len(speakers)} speaker(s) with >= 2 sources among {len(labels)} sources; "
            "the speaker probe needs >= 2"
        )
        logging.warning(f"speaker probe skipped: {reason}")
        return {"speaker_acc": None, "speaker_chance": None, "num_speakers": len(speakers),
                "num_train": 0, "num_test": 0, "speaker_probe_skipped": reason}
    index = {spk: k for k, spk in enumerate(speakers)}
    y = torch.tensor([index.get(spk, -1) for spk in labels])
    mean = pooled[train].mean(0)
    std = pooled[train].std(0).clamp_min(1e-5)
    x = (pooled - mean) / std
    torch.manual_seed(seed)
    linear = torch.nn.Linear(x.size(1), len(speakers))
    opt = torch.optim.Adam(linear.parameters(), lr=lr)
    x_train, y_train = x[train], y[train]
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(x_train), y_train)
        (loss + l2 * linear.weight.pow(2).sum()).backward()
        opt.step()
    with torch.no_grad():
        pred = linear(x[test]).argmax(-1)
    y_test = y[test]
    return {
        "speaker_acc": float((pred == y_test).float().mean()),
        "speaker_chance": float(torch.bincount(y_test).max()) / len(test),
        "num_speakers": len(speakers),
        "num_train": len(train),
        "num_test": len(test),
    }


def read_token_list(path: Path) -> List[str]:
    """Token list (one token a line, ``<blank>`` first)."""
    if not path.is_file():
        raise ProbeError(f"{path}: token list not found")
    tokens = [line.rstrip("\n") for line in open(path, encoding="utf-8")]
    if not tokens or tokens[0] != "<blank>":
        raise ProbeError(f"{path}: the first token must be <blank>")
    return tokens


def ctc_probe(
    feats: Sequence[torch.Tensor],
    texts: Sequence[str],
    utts: Sequence[str],
    tokens: List[str],
    seed: int,
    epochs: int = 15,
    batch_size: int = 32,
    lr: float = 1e-2,
) -> Dict[str, float]:
    """Linear CTC probe on frame features (mini-batch Adam); held-out greedy CER.

    Transcripts become ids through ESPnet's ``CharTokenizer`` (space -> ``<space>``) and
    ``TokenIDConverter`` (unknown -> ``<unk>``), as in the recipe's char training.
    """
    from espnet2.text.char_tokenizer import CharTokenizer
    from espnet2.text.token_id_converter import TokenIDConverter

    tokenizer, converter = CharTokenizer(), TokenIDConverter(tokens)
    keep = [i for i, t in enumerate(texts) if t]
    mixtures = sorted({utts[i] for i in keep})
    rng = random.Random(seed)
    rng.shuffle(mixtures)
    n_test = max(1, round(HELD_OUT * len(mixtures)))
    held = set(mixtures[:n_test])
    train = [i for i in keep if utts[i] not in held]
    test = [i for i in keep if utts[i] in held]
    if not train or not test:
        raise ProbeError("content probe needs transcribed sources in >= 2 mixtures")
    feat_dim = feats[0].size(1)
    mean = torch.cat([feats[i] for i in train]).mean(0)
    std = torch.cat([feats[i] for i in train]).std(0).clamp_min(1e-5)

    def batch(items):
        x = torch.nn.utils.rnn.pad_sequence([(feats[i] - mean) / std for i in items],
                                            batch_first=True)
        return x, torch.tensor([feats[i].size(0) for i in items])

    ids = [torch.tensor(converter.tokens2ids(tokenizer.text2tokens(t))) for t in texts]
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    linear = torch.nn.Linear(feat_dim, len(tokens))
    opt = torch.optim.Adam(linear.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(train), generator=gen).tolist()
        epoch_loss = 0.0
        for start in range(0, len(order), batch_size):
            items = [train[k] for k in order[start : start + batch_size]]
            x, xlens = batch(items)
            logp = linear(x).log_softmax(-1).transpose(0, 1)  # (T, B, V)
            loss = torch.nn.functional.ctc_loss(
                logp, torch.cat([ids[i] for i in items]), xlens,
                torch.tensor([ids[i].numel() for i in items]), blank=0, zero_infinity=True,
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            epoch_loss += float(loss.detach()) * len(items)
    x, xlens = batch(test)
    with torch.no_grad():
        best = linear(x).argmax(-1)
    errors = total = 0
    for j, i in enumerate(test):
        path = best[j, : int(xlens[j])].tolist()
        hyp = [t for k, t in enumerate(path) if t != 0 and (k == 0 or t != path[k - 1])]
        errors += editdistance.eval(hyp, ids[i].tolist())
        total += ids[i].numel()
    return {
        "ctc_cer": errors / total,
        "ctc_train_loss": epoch_loss / len(train),
        "ctc_num_train": len(train),
        "ctc_num_test": len(test),
    }


def linear_probe(
    config: Path,
    data_dir: Path,
    token_list: Path,
    out: Path,
    checkpoint: Optional[Path] = None,
    prefix: str = "encoder",
    max_utts: Optional[int] = None,
    seed: int = 0,
    normalize_stats: Optional[Path] = None,
) -> Dict:
    """Run both probes and write ``out`` (JSON); return the result."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    frontend, normalize, encoder, fs = build_feature_extractor(config, normalize_stats)
    if checkpoint is not None:
        loaded = load_encoder_weights(encoder, checkpoint, prefix)
        logging.info(f"{checkpoint}: loaded {loaded} tensors of {prefix}.*")
    tokens = read_token_list(token_list)
    sources = read_sources(data_dir, max_utts, seed)
    feats = extract_features(frontend, normalize, encoder, [s["wav"] for s in sources], fs)
    extract_s = time.perf_counter() - start
    logging.info(f"features of {len(feats)} sources in {extract_s:.1f} s (incl. model build)")
    pooled = torch.stack([f.mean(0) for f in feats])
    result = {
        "encoder": type(encoder).__name__,
        "checkpoint": str(checkpoint) if checkpoint is not None else None,
        "prefix": prefix if checkpoint is not None else None,
        "data_dir": str(data_dir),
        "num_sources": len(sources),
        "feature_dim": pooled.size(1),
    }
    result.update(speaker_probe(pooled, [s["spk"] for s in sources], seed))
    logging.info(f"speaker probe done after {time.perf_counter() - start:.1f} s")
    result.update(
        ctc_probe(feats, [s["text"] for s in sources], [s["utt"] for s in sources],
                  tokens, seed)
    )
    result["extract_time_s"] = round(extract_s, 2)
    result["time_s"] = round(time.perf_counter() - start, 2)
    with atomic_open(out) as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    return result


def get_parser() -> argparse.ArgumentParser:
    """Command line."""
    parser = argparse.ArgumentParser(
        description="Frozen-encoder speaker-ID and CTC linear probes",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--config", type=Path, required=True,
                        help="YAML with frontend/normalize/encoder and their confs")
    parser.add_argument("--normalize_stats", type=Path, default=None,
                        help="feats_stats.npz: global_mvn with these statistics "
                        "(replaces the config's normalize)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="Model state dict; omitted: random-init encoder")
    parser.add_argument("--prefix", default="encoder",
                        help="Encoder key prefix in the checkpoint (e.g. target_encoder)")
    parser.add_argument("--data_dir", type=Path, required=True,
                        help="Data or dump dir with clean sources, utt2spks, text_spk*")
    parser.add_argument("--token_list", type=Path, required=True, help="Char token list")
    parser.add_argument("--out", type=Path, required=True, help="Output JSON")
    parser.add_argument("--max_utts", type=int, default=None,
                        help="Use a seeded subset of this many mixtures")
    parser.add_argument("--seed", type=int, default=0, help="Seed of subsets and probes")
    add_log_level_argument(parser)
    return parser


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Run the probes; a data problem exits with status 1 and one message on stderr.

    Example:
        % python -m espnet_echo.bin.linear_probe --config conf/train_echo.yaml \\
            --data_dir dump/raw/train --token_list data/token_list/char/tokens.txt \\
            --out exp/probe_random/probe.json --max_utts 500
    """
    args = get_parser().parse_args(cmd)
    setup_logging(args.log_level)
    try:
        r = linear_probe(args.config, args.data_dir, args.token_list, args.out,
                         args.checkpoint, args.prefix, args.max_utts, args.seed,
                         args.normalize_stats)
    except (ProbeError, DataFileError, AudioError) as e:
        sys.exit(f"linear_probe: error: {e}")
    speaker = (
        f"speaker probe skipped ({r['speaker_probe_skipped']})"
        if r["speaker_acc"] is None else
        f"speaker acc {r['speaker_acc']:.3f} (chance {r['speaker_chance']:.3f}, "
        f"{r['num_speakers']} speakers, {r['num_train']}/{r['num_test']} train/test)"
    )
    print(
        f"{args.out}: {speaker}, CTC CER {r['ctc_cer']:.3f}, {r['encoder']}"
        f"{' from ' + str(args.checkpoint) if args.checkpoint else ' (random init)'}, "
        f"{r['time_s']:.0f} s"
    )


if __name__ == "__main__":
    main()
