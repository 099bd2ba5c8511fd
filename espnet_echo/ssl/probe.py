# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Frozen-encoder linear probes: how much speaker and content a representation carries.

The frontend, normalize and encoder are those of a training config, built through its
ESPnet task (:func:`espnet_echo.ssl.features.build_feature_model`); the encoder weights
are the ``<prefix>.*`` entries of a checkpoint (none: the random-init baseline). Inputs
are the clean sources of a data or dump dir, read by the data-dir reader
(:func:`espnet_echo.data.refs.read_labelled_sources`, audio by
:meth:`~espnet_echo.data.datadir.DataDir.read_audio`: ``segments``, pipes, arks, paths
with spaces), each cut to its first..last non-zero sample. Features (the encoder
output, (N, D) per source) are extracted once without gradients.

* Speaker probe: mean-pooled features -> multinomial logistic regression (standardised
  inputs, L2, 300 full-batch Adam steps). Speakers with >= 2 sources only; per speaker
  30 % of its sources (at least one) are held out. Chance is the held-out accuracy of
  the best constant prediction.
* Content probe: one linear layer on the frame features trained with CTC on the char
  tokens of the transcripts (15 epochs of Adam, mini-batches of 32; torch's CPU CTC is
  too slow for hundreds of full-batch steps); 30 % of the mixtures (all their sources)
  are held out; greedy decoding, character error rate on the held-out sources.
"""

import json
import logging
import random
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import editdistance
import numpy as np
import torch

from espnet_echo.data.datadir import load_data_dir
from espnet_echo.data.refs import read_labelled_sources
from espnet_echo.data.scp import load_entry
from espnet_echo.ssl.features import build_feature_model, read_feature_config
from espnet_echo.utils.checkpoint import CheckpointError, load_state_dict
from espnet_echo.utils.fileio import atomic_open
from espnet_echo.utils.token_list import read_token_list

HELD_OUT = 0.3


class ProbeError(ValueError):
    """Bad config, checkpoint or data for a probe; the message names the file."""


def build_feature_extractor(
    config: Path, normalize_stats: Optional[Path] = None, token_list: Optional[Path] = None
) -> Tuple[torch.nn.Module, Optional[torch.nn.Module], torch.nn.Module, int]:
    """Frontend, normalize (or None) and encoder of a config (eval mode), and its fs.

    The model is built by the config's task (:func:`build_feature_model`). Its normalize
    is the config's (none when the config names none), or, with ``normalize_stats`` (a
    ``feats_stats.npz`` of ESPnet's collect-stats), ``global_mvn`` with those statistics,
    as recipe training sets it on the command line.

    Args:
        config: Training config with ``frontend: default`` and an ``encoder``.
        normalize_stats: Statistics that replace the config's normalize.
        token_list: Token list for an EchoTask config that names none.

    Returns:
        ``(frontend, normalize, encoder, fs)``, fs in Hz (``frontend_conf.fs``).

    Raises:
        DataFileError: unreadable config, another frontend, or a model the task cannot
            build.
        ProbeError: no encoder in the config, or no such ``normalize_stats`` file.
    """
    cfg = read_feature_config(config)
    if not cfg.get("encoder"):
        raise ProbeError(f"{config}: no 'encoder' given")
    if normalize_stats is not None:
        if not Path(normalize_stats).is_file():
            raise ProbeError(f"{normalize_stats}: normalize stats file not found")
        normalize, normalize_conf = "global_mvn", {"stats_file": str(normalize_stats)}
    else:
        normalize, normalize_conf = cfg.get("normalize"), cfg.get("normalize_conf")
    model, args = build_feature_model(config, cfg, normalize, normalize_conf, token_list)
    fs = int((args.frontend_conf or {}).get("fs", 16000))
    return model.frontend, model.normalize, model.encoder, fs


def load_encoder_weights(encoder: torch.nn.Module, checkpoint: Path, prefix: str) -> int:
    """Load the ``<prefix>.*`` entries of a checkpoint into ``encoder``.

    Accepts a plain state dict (``valid.*.best.pth``) or a trainer checkpoint with a
    ``model`` entry. Unlike ``build_model_from_file`` (``strict=False``), every key and
    shape of the encoder must match.

    Args:
        encoder: The encoder built from the config.
        checkpoint: ``.pth`` file, read with ``torch.load(weights_only=True)``.
        prefix: Key prefix of the encoder in the checkpoint (``encoder``,
            ``target_encoder``).

    Returns:
        The number of tensors loaded.

    Raises:
        ProbeError: unreadable file, no key with the prefix, missing or unexpected keys
            or shape mismatches; the message names the checkpoint.
    """
    try:
        state = load_state_dict(checkpoint)
    except CheckpointError as e:  # missing, empty, corrupt or not a dict
        raise ProbeError(str(e)) from e
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


@torch.no_grad()
def extract_features(
    frontend: torch.nn.Module,
    normalize: Optional[torch.nn.Module],
    encoder: torch.nn.Module,
    wavs: Sequence[Union[str, np.ndarray]],
    fs: int,
    batch_size: int = 16,
) -> List[torch.Tensor]:
    """Encoder outputs (N_i, D) of each file (trimmed to its non-zero span).

    Args:
        frontend: Waveform (B, S) -> features (B, T, F).
        normalize: Feature normalisation or None.
        encoder: ESPnet encoder (its first output is (B, N, D)).
        wavs: scp entries (paths, ``cmd |`` pipes, arks: :mod:`espnet_echo.data.scp`)
            or signals already read (float ``(T,)`` at ``fs``).
        fs: Their required sample rate (Hz).
        batch_size: Files per forward pass (sorted by length).

    Returns:
        One float tensor (N_i, D) per file, in ``wavs`` order.

    Raises:
        AudioError: a bad audio file.
    """
    audio = []
    for i, wav in enumerate(wavs):
        x = wav if isinstance(wav, np.ndarray) else load_entry(wav, f"input {i + 1}", fs)
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
    """Per speaker with >= 2 items: 30 % (>= 1) held out.

    Args:
        labels: Speaker label of each item.
        seed: Seed of the draw.

    Returns:
        Sorted train and test item indices, and the speakers kept (sorted).
    """
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

    Args:
        pooled: Mean-pooled features (M, D).
        labels: Speaker label of each row.
        seed: Seed of the split and the initialisation.
        l2: L2 weight on the classifier weights.
        steps: Adam steps.
        lr: Adam learning rate.

    Returns:
        ``speaker_acc`` and ``speaker_chance`` (fractions of the held-out sources),
        ``num_speakers``, ``num_train``, ``num_test``.
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

    Args:
        feats: Frame features (N_i, D) per source.
        texts: Transcript per source ("" = untranscribed, not used).
        utts: Mixture of each source (the held-out split is by mixture).
        tokens: Char token list, ``<blank>`` first.
        seed: Seed of the split, the initialisation and the batch order.
        epochs: Training epochs.
        batch_size: Sources per mini-batch.
        lr: Adam learning rate.

    Returns:
        ``ctc_cer`` (fraction), ``ctc_train_loss`` (last epoch, per source),
        ``ctc_num_train``, ``ctc_num_test``.

    Raises:
        ProbeError: fewer than 2 mixtures with transcribed sources.
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
    """Run both probes and write ``out`` (JSON); return the result.

    Args:
        config: Training config (frontend, normalize, encoder).
        data_dir: Data or dump dir with clean sources, ``utt2spks``, ``text_spk{n}``.
        token_list: Char token list of the content probe.
        out: Output JSON, written atomically.
        checkpoint: Model state dict; None: the random-init encoder.
        prefix: Encoder key prefix in the checkpoint.
        max_utts: Use a seeded subset of this many mixtures (None: all).
        seed: Seed of the subset, the initialisation and the probes.
        normalize_stats: ``feats_stats.npz``: ``global_mvn`` instead of the config's
            normalize.

    Returns:
        ``speaker_acc``, ``speaker_chance``, ``num_speakers``, ``num_train``/``num_test``
        (sources of the speaker probe), ``ctc_cer``, ``ctc_train_loss``,
        ``ctc_num_train``/``ctc_num_test``, ``encoder`` (class name), ``checkpoint``,
        ``prefix``, ``data_dir``, ``num_sources``, ``feature_dim``, ``extract_time_s``,
        ``time_s``.

    Raises:
        ProbeError, DataFileError, AudioError: bad config, checkpoint, token list or
            data; the message names the file.
    """
    start = time.perf_counter()
    torch.manual_seed(seed)
    tokens = read_token_list(token_list)
    frontend, normalize, encoder, fs = build_feature_extractor(
        config, normalize_stats, token_list
    )
    if checkpoint is not None:
        loaded = load_encoder_weights(encoder, checkpoint, prefix)
        logging.info(f"{checkpoint}: loaded {loaded} tensors of {prefix}.*")
    ddir = load_data_dir(data_dir)
    sources = read_labelled_sources(ddir, max_utts, seed)
    audio, index = [], {}
    for s in sources:  # sources of a mixture come in speaker order: n counts them
        index[s["utt"]] = index.get(s["utt"], 0) + 1
        audio.append(ddir.read_audio(s["utt"], index[s["utt"]], fs=fs)[0])
    feats = extract_features(frontend, normalize, encoder, audio, fs)
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
