# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""The model card (``README.md``) of a packed Echo model.

Built from the training config (data, architecture, training length) and the recipe's
``RESULTS.md`` (this model's rows of each table), by :func:`model_card`; the packer
(:func:`espnet_echo.inference.model_files.pack_model`) puts it at the top of the zip, so
it is also the page of the Hugging Face repo the model is published to.
"""

from pathlib import PurePosixPath
from typing import Dict, List, Optional

HEAD_KEYS = ("diar_head", "sep_head", "asr_head", "spk_head")
#: What each head does, for the card.
HEAD_ROLES = {
    "diar_head": "diarization", "sep_head": "separation", "asr_head": "multi-speaker ASR",
    "spk_head": "speaker embeddings",
}


def _data_sets(config: dict, key: str) -> List[str]:
    """The data dirs of ``<key>_data_path_and_name_and_type`` (dir of each file)."""
    dirs: List[str] = []
    for triple in config.get(f"{key}_data_path_and_name_and_type") or []:
        if isinstance(triple, (list, tuple)) and triple:
            d = str(PurePosixPath(str(triple[0])).parent)
            if d not in dirs:
                dirs.append(d)
    return dirs


def _matches(cell: str, name: str) -> bool:
    cell = cell.strip()
    return cell == name or cell.startswith(name + "/") or cell.startswith(name + "+")


def results_for(results: str, name: str) -> str:
    """This model's part of a ``RESULTS.md``: the environment section and, of each
    table with a row whose first cell is ``name``, ``name/<set>`` or ``name+<mode>/...``,
    its heading, notes, header and those rows. Empty if no row matches."""
    lines = results.splitlines()
    out: List[str] = []
    env: List[str] = []
    section: List[str] = []  # heading and notes since the last heading
    i = 0
    in_env = False
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            line = "#" + line  # one level below the card's "## Results"
            section = [line]
            in_env = line.lstrip("#").strip().lower() == "environments"
            if in_env:
                env.append(line)
            i += 1
            continue
        if line.startswith("|"):
            table = []
            while i < len(lines) and lines[i].startswith("|"):
                table.append(lines[i])
                i += 1
            rows = [r for r in table[2:] if _matches(r.strip("|").split("|")[0], name)]
            if rows:
                out += [""] + section + [""] + table[:2] + rows
            continue
        if in_env:
            env.append(line)
        elif line.strip() and not line.startswith("<!--"):
            section.append(line)
        i += 1
    if not out:
        return ""
    return "\n".join(["\n".join(env).strip()] + out).strip() + "\n"


def _fmt_size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def model_card(
    config: dict,
    name: str,
    files: Dict[str, int],
    zip_name: str,
    results: Optional[str] = None,
    data_licence: Optional[str] = None,
    has_plda: bool = False,
) -> str:
    """Write the model card of a packed model.

    Args:
        config: The (packed) training config.
        name: Model name (its exp dir's name).
        files: ``{member path: size}`` of the other files in the pack.
        zip_name: File name of the zip, for the usage lines.
        results: Text of the recipe's ``RESULTS.md``, or None.
        data_licence: Licence of the training data, or None (then the card says it is not
            recorded).
        has_plda: Whether the pack holds a PLDA (blind diarization with ``vbx``).

    Returns:
        Markdown text.
    """
    heads = [f"{config[k]} ({HEAD_ROLES[k]})" for k in HEAD_KEYS if config.get(k)]
    enc = config.get("encoder_conf") or {}
    enc_desc = ", ".join(f"{k}={enc[k]}" for k in ("output_size", "num_blocks",
                                                   "attention_heads") if k in enc)
    train_sets = ", ".join(_data_sets(config, "train")) or "not recorded"
    valid_sets = ", ".join(_data_sets(config, "valid")) or "not recorded"
    tokens = config.get("token_list")
    spk = config.get("spk_list")
    lines = [
        f"# {name}",
        "",
        "An espnet-echo (ESPnet plugin) model: one shared encoder with "
        f"heads for {', '.join(heads) or 'no task'}; it counts the speakers of a recording, "
        "says who spoke when, separates and transcribes them.",
        "",
        "## How to run",
        "",
        "With espnet-echo installed:",
        "",
        "```sh",
        f"python -m espnet_echo.bin.echo_infer --model {zip_name} rec.wav",
        "```",
        "",
        "or from Python:",
        "",
        "```python",
        "from espnet_echo.inference.speech2echo import Speech2Echo",
        f'echo = Speech2Echo.from_pretrained("{zip_name}")',
        "result = echo(speech)  # 16 kHz mono float32 waveform",
        "```",
        "",
    ]
    if has_plda:
        lines += ["The pack holds `plda.npz`, the PLDA of blind diarization "
                  "(ArcFace embeddings + VBx, `diar_mode: vbx`).", ""]
    lines += [
        "## Model",
        "",
        f"- encoder: {config.get('encoder', '?')}" + (f" ({enc_desc})" if enc_desc else ""),
        f"- frontend: {config.get('frontend', '?')} "
        f"{config.get('frontend_conf') or ''}".rstrip(),
        f"- normalize: {config.get('normalize')}",
        f"- speaker slots: {config.get('num_spk', '?')}",
        f"- tokens: {config.get('token_type', '?')}"
        + (f", {len(tokens)} entries" if isinstance(tokens, list) else ""),
    ]
    if isinstance(spk, list):
        lines.append(f"- training speakers (speaker head): {len(spk)}")
    lines += [
        "",
        "## Training",
        "",
        f"- training data: {train_sets}",
        f"- validation data: {valid_sets}",
        f"- epochs: {config.get('max_epoch', '?')}"
        + (f", {config['num_iters_per_epoch']} steps each"
           if config.get("num_iters_per_epoch") else ""),
        f"- batches: {config.get('batch_type', '?')}, batch_bins {config.get('batch_bins')}, "
        f"batch_size {config.get('batch_size')}",
        f"- optimiser: {config.get('optim', '?')} {config.get('optim_conf') or ''}, "
        f"scheduler: {config.get('scheduler')} {config.get('scheduler_conf') or ''}".rstrip(),
        f"- seed: {config.get('seed', '?')}",
        "",
        "## Results",
        "",
    ]
    mine = results_for(results, name) if results else ""
    lines.append(mine.rstrip() if mine else "No RESULTS.md rows for this model were packed.")
    lines += [
        "",
        "## Files",
        "",
        "|file|size|",
        "|---|---|",
    ]
    lines += [f"|{a}|{_fmt_size(s)}|" for a, s in sorted(files.items())]
    lines += [
        "",
        "## Licence",
        "",
        "- code and model: Apache 2.0",
        f"- data: {data_licence}" if data_licence else
        "- data: not recorded by the packer; see the recipe's corpus",
        "",
    ]
    return "\n".join(lines)
