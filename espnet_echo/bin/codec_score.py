#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Score decoded codec speech beside Codec2 and Opus, or a training curve (STOI vs steps).

Table mode: ``--ref_scp`` (16 kHz references), ``--hyp_scp`` (``codec_decode``'s
``wav.scp``) and ``--token_dir`` (``codec_encode``'s directory: its ``header.json`` gives the
codec's bitrate and tokens/s); writes ``<out_dir>/scores.{json,md}`` with the tokenizer and
the anchors (Codec2 700C/1200/3200, Opus 6/8 kbit/s) on the same utterances
(:mod:`espnet_echo.codec.scoring`); with ``--spk_model_config/--spk_model_file`` (an Echo
model with a speaker head) also the speaker similarity of each system.

Curve mode (``--curve_exp exp/<codec>``): STOI/PESQ/MCD of every ``<N>epoch.pth`` on
``--ref_scp``; writes ``<out_dir>/curve.{json,md}``.

Example:
    python -m espnet_echo.bin.codec_score --ref_scp data/test/wav.scp \\
        --hyp_scp exp/codec/decode_test/wav.scp --token_dir exp/codec/tokens_test \\
        --out_dir exp/codec/scores_test
"""

import argparse
import json
from pathlib import Path
from typing import Optional, Sequence

from espnet_echo.codec import scoring
from espnet_echo.utils.cli import add_log_level_argument, exit_on_error, setup_logging


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--ref_scp", required=True, help="reference wav.scp (16 kHz)")
    p.add_argument("--hyp_scp", help="decoded wav.scp (table mode)")
    p.add_argument("--token_dir", help="codec_encode output dir (table mode)")
    p.add_argument("--curve_exp", help="codec exp dir: score its epoch checkpoints")
    p.add_argument("--out_dir", required=True, help="where scores/curve files go")
    p.add_argument("--max_utts", type=int, default=None, help="first N references only")
    p.add_argument("--no_anchors", action="store_true", help="skip Codec2/Opus")
    p.add_argument(
        "--spk_model_config",
        help="config.yaml of an Echo model with a speaker head: adds speaker similarity",
    )
    p.add_argument("--spk_model_file", help="its checkpoint (with --spk_model_config)")
    add_log_level_argument(p)
    return p


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Run the tool; bad input exits with status 1 and one message naming the file."""
    args = get_parser().parse_args(cmd)
    setup_logging(args.log_level)
    with exit_on_error("codec_score", (ValueError, OSError, scoring.ReferenceCodecError)):
        out = Path(args.out_dir)
        if args.curve_exp:
            rows = scoring.training_curve(args.curve_exp, args.ref_scp, args.max_utts)
            print(scoring.write_curve(rows, out), end="")
            return
        if not (args.hyp_scp and args.token_dir):
            raise ValueError("table mode needs --hyp_scp and --token_dir (or use --curve_exp)")
        header_file = Path(args.token_dir) / "header.json"
        if not header_file.is_file():
            raise ValueError(f"{header_file}: file not found (run codec_encode first)")
        meta = json.loads(header_file.read_text())["codec"]
        num_frames = scoring.read_num_frames(args.token_dir)
        spk_sim = None
        if args.spk_model_config:
            if not args.spk_model_file:
                raise ValueError("--spk_model_config needs --spk_model_file")
            spk_sim = scoring.SpeakerSimilarity(args.spk_model_config, args.spk_model_file)
        rows = scoring.score_codec_dir(
            args.ref_scp, args.hyp_scp, meta, args.max_utts, anchors=not args.no_anchors,
            num_frames=num_frames, spk_sim=spk_sim,
        )
        scoring.write_results(rows, out)
        print(scoring.format_table(rows), end="")


if __name__ == "__main__":
    main()
