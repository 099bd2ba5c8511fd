# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""load_state_dict: a bad checkpoint is one error naming the file, whatever torch raises."""

import argparse
import pickle
import random
import re

import pytest
import torch

from espnet_echo.utils.checkpoint import CheckpointError, load_state_dict
from espnet_echo.utils.fileio import DataFileError

GOOD = {"w": torch.arange(3.0), "b": torch.zeros(2)}


def _write(path, kind):
    """A bad ``*.pth`` of the given kind; returns a regex of the expected reason."""
    if kind == "empty":
        path.write_bytes(b"")
        return r"empty file"
    if kind == "random":
        path.write_bytes(random.Random(0).randbytes(4096))
        return r"UnpicklingError: "
    if kind == "pickle_list":  # a plain pickle, not torch.save
        path.write_bytes(pickle.dumps([1, 2, 3], protocol=4))
        return r"UnpicklingError: "
    if kind == "text":
        path.write_text("hello world\n")
        return r"KeyError: unknown pickle key"
    if kind == "truncated":
        torch.save(GOOD, path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return r"RuntimeError: PytorchStreamReader failed reading zip archive"
    if kind == "torch_list":  # loads, but is no state dict
        torch.save([torch.zeros(2)], path)
        return r"it holds a list, not a state dict"
    if kind == "tensor":
        torch.save(torch.zeros(2), path)
        return r"it holds a Tensor, not a state dict"
    if kind == "pickled_object":  # a real checkpoint that weights_only refuses
        torch.save({"args": argparse.Namespace(x=1)}, path)
        return r"refused by torch.load\(weights_only=True\): Unsupported global: .*Namespace"
    raise AssertionError(kind)


KINDS = ["empty", "random", "pickle_list", "text", "truncated", "torch_list", "tensor",
         "pickled_object"]


@pytest.mark.parametrize("kind", KINDS)
def test_bad_checkpoint_is_one_line_error_naming_the_file(tmp_path, kind):
    pth = tmp_path / "valid.loss.best.pth"
    reason = _write(pth, kind)
    with pytest.raises(CheckpointError) as e:
        load_state_dict(pth)
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 400, msg
    assert re.fullmatch(rf"{re.escape(str(pth))}: not a readable PyTorch checkpoint "
                        rf"\(.*{reason}.*\)", msg), msg
    # the bin tools turn ValueErrors (DataFileError) into "<tool>: error: <message>"
    assert isinstance(e.value, DataFileError) and isinstance(e.value, ValueError)


def test_plain_pickle_does_not_warn_about_its_protocol(tmp_path, recwarn):
    pth = tmp_path / "m.pth"
    _write(pth, "pickle_list")
    with pytest.raises(CheckpointError):
        load_state_dict(pth)
    assert not [w for w in recwarn if "pickle protocol" in str(w.message)]


def test_missing_file_and_directory(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(CheckpointError, match=f"{missing}: checkpoint not found"):
        load_state_dict(missing)
    (tmp_path / "dir.pth").mkdir()
    with pytest.raises(CheckpointError, match="dir.pth: checkpoint not found"):
        load_state_dict(tmp_path / "dir.pth")


def test_good_state_dict_loads(tmp_path):
    pth = tmp_path / "m.pth"
    torch.save(GOOD, pth)
    state = load_state_dict(str(pth))
    assert set(state) == {"w", "b"} and torch.equal(state["w"], GOOD["w"])


def test_callers_keep_their_error_types(tmp_path):
    """The OWSM extraction and the SSL probe report a bad file as their own error."""
    from espnet_echo.ssl.probe import ProbeError, load_encoder_weights
    from espnet_echo.utils.owsm import ExtractError, load_checkpoint

    pth = tmp_path / "model.pth"
    pth.write_bytes(b"")
    with pytest.raises(ExtractError, match=f"{pth}: not a readable PyTorch checkpoint"):
        load_checkpoint(pth)
    with pytest.raises(ProbeError, match=f"{pth}: not a readable PyTorch checkpoint"):
        load_encoder_weights(torch.nn.Linear(2, 2), pth, "encoder")
