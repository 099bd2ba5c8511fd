#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Publish a packed Echo model to the Hugging Face Hub.

``python -m espnet_echo.bin.publish --model exp/echo_train_echo/packed/echo_train_echo.zip
--hf_repo owner/name [--dry_run]``

Uploads the files of the pack (``espnet_echo.bin.pack``) as they are unpacked, so that
``Speech2Echo.from_pretrained("owner/name")`` loads it through espnet_model_zoo.
``--dry_run`` prints the repo and each file (path in the repo, size, sha256) and contacts
nothing. Needs ``huggingface_hub`` and a token (``HF_TOKEN`` or ``hf auth login``).
"""

import argparse
from typing import Optional, Sequence

from espnet_echo.utils.cli import add_log_level_argument, exit_on_error, setup_logging
from espnet_echo.utils.hub import publish


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="packed zip or its unpacked dir")
    p.add_argument("--hf_repo", required=True, help="owner/name of the model repo")
    p.add_argument("--dry_run", action="store_true", help="only list what would be uploaded")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--commit_message", default=None)
    p.add_argument("--cache_dir", default=None,
                   help="where a zip is unpacked (default ~/.cache/espnet_echo)")
    add_log_level_argument(p)
    return p


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Upload (or list); errors exit with status 1 and one message."""
    args = get_parser().parse_args(cmd)
    setup_logging(args.log_level)
    with exit_on_error("publish", (ValueError, RuntimeError)):
        plan = publish(args.model, args.hf_repo, dry_run=args.dry_run, private=args.private,
                       commit_message=args.commit_message, cache_dir=args.cache_dir)
    if args.dry_run:
        print("dry run: would upload to " + plan.describe())
    else:
        print(f"uploaded {len(plan.files)} files to https://huggingface.co/{args.hf_repo}")


if __name__ == "__main__":
    main()
