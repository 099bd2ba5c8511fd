# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Publish a packed Echo model to the Hugging Face Hub.

The repo gets the pack's files as they are unpacked (``meta.yaml`` at the top, the config,
checkpoint, statistics, ``README.md`` model card), the layout espnet_model_zoo downloads a
Hub model in: ``Speech2Echo.from_pretrained("owner/name")`` then reads it back.
``huggingface_hub`` is imported only when something is really uploaded.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Union

from espnet_echo.inference.model_files import pack_files

REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class UploadPlan:
    """What :func:`publish` uploads.

    Attributes:
        repo_id: ``owner/name`` on the Hub.
        root: Local directory the files are read from (the unpacked pack).
        files: ``(path in the repo, size in bytes, sha256)``, sorted by path.
    """

    repo_id: str
    root: Path
    files: List[tuple]

    def describe(self) -> str:
        """The repo and one ``<path> <size> <sha256>`` line per file."""
        lines = [f"repo: https://huggingface.co/{self.repo_id} (model)"]
        lines += [f"{path} {size} {digest}" for path, size, digest in self.files]
        total = sum(size for _, size, _ in self.files)
        lines.append(f"{len(self.files)} files, {total} bytes")
        return "\n".join(lines)


def _glob_escape(name: str) -> str:
    """An fnmatch pattern matching exactly ``name`` (upload_folder's allow_patterns)."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def plan_upload(
    model: Union[str, Path], repo_id: str, cache_dir: Optional[Union[str, Path]] = None
) -> UploadPlan:
    """List what publishing ``model`` to ``repo_id`` would upload.

    Args:
        model: A packed zip (``espnet_echo.bin.pack``) or its unpacked dir.
        repo_id: ``owner/name``.
        cache_dir: Where a zip is unpacked (default ``~/.cache/espnet_echo``).

    Raises:
        ValueError: ``repo_id`` is not ``owner/name``, or ``model`` is not a pack (an exp
            dir must be packed first); the message names it.
    """
    if not REPO_ID.match(repo_id or ""):
        raise ValueError(f"--hf_repo {repo_id!r}: expected owner/name")
    root, files = pack_files(model, cache_dir)
    return UploadPlan(repo_id=repo_id, root=root, files=files)


def publish(
    model: Union[str, Path],
    repo_id: str,
    dry_run: bool = False,
    private: bool = False,
    token: Optional[str] = None,
    commit_message: Optional[str] = None,
    cache_dir: Optional[Union[str, Path]] = None,
    api: Any = None,
) -> UploadPlan:
    """Upload a packed model to the Hugging Face Hub (or only say what would be uploaded).

    Creates the model repo if it does not exist (``HfApi.create_repo(exist_ok=True)``) and
    uploads exactly the files of :func:`plan_upload` in one commit
    (``HfApi.upload_folder``).

    Args:
        model: A packed zip or its unpacked dir.
        repo_id: ``owner/name``.
        dry_run: Only build the plan; nothing is contacted.
        private: Create the repo private.
        token: Hub token (default: ``HF_TOKEN`` or the one ``hf auth login`` stored).
        commit_message: Message of the upload commit.
        cache_dir: Where a zip is unpacked.
        api: An ``HfApi``-like object (default: ``huggingface_hub.HfApi``).

    Returns:
        The plan (uploaded unless ``dry_run``).

    Raises:
        ValueError: see :func:`plan_upload`.
        RuntimeError: huggingface_hub is missing, there is no token, or the Hub or
            network failed; one line that suggests ``--dry_run``.
    """
    plan = plan_upload(model, repo_id, cache_dir)
    if dry_run:
        return plan
    hint = "; run with --dry_run to only list the files"
    if api is None:
        try:
            import huggingface_hub
        except ImportError:
            raise RuntimeError("huggingface_hub is not installed (pip install "
                               f"huggingface_hub){hint}") from None
        token = token or huggingface_hub.get_token()
        if not token:
            raise RuntimeError("no Hugging Face token (set HF_TOKEN or run `hf auth "
                               f"login`){hint}")
        api = huggingface_hub.HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        api.upload_folder(
            repo_id=repo_id, repo_type="model", folder_path=str(plan.root),
            allow_patterns=[_glob_escape(path) for path, _, _ in plan.files],
            commit_message=commit_message or f"Upload {Path(model).name}",
        )
    except Exception as e:  # network, auth, quota: any failure of the Hub client
        message = " ".join(str(e).split()) or type(e).__name__
        raise RuntimeError(f"upload to {repo_id} failed: {type(e).__name__}: "
                           f"{message}{hint}") from e
    return plan
