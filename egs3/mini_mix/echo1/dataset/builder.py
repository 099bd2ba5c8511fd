# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""``create_dataset`` stage of the espnet3 mini recipe: the egs2 recipe's stages 1-3.

Source: the offline corpus of ``python -m espnet_echo.bin.simulate`` (contract data dirs,
``docs/CONTRACT.md``). Build: its dump in EchoTask's layout (``espnet_echo.bin.format_data``)
and the character token list of the ASR head (``espnet_echo.bin.make_token_list``). The
same command-line tools as ``egs2/mini_mix/echo1``, run as subprocesses; each is itself
idempotent (stamps) and atomic.
"""

import subprocess
import sys
from pathlib import Path
from typing import Mapping, Optional, Sequence

from espnet3.components.data.dataset_builder import DatasetBuilder


def _run(module: str, args: Sequence[str]) -> None:
    cmd = [sys.executable, "-m", module, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )


def _options(options: Optional[Mapping]) -> list:
    """``{"num_train": 8, "snr_range": [10, 30]}`` -> ``--num_train 8 --snr_range 10 30``."""
    out = []
    for key, value in (options or {}).items():
        values = value if isinstance(value, (list, tuple)) else [value]
        out += [f"--{key}", *(str(v) for v in values)]
    return out


class MiniMixBuilder(DatasetBuilder):
    """Simulate the mini corpus, dump it for EchoTask and write the char token list.

    Every method takes the training config's ``create_dataset`` block as keyword
    arguments (``BaseSystem.create_dataset``); keys it does not use are ignored.

    Args (of every method):
        data_dir: Where the simulator writes ``<split>/`` (and ``wav/``).
        dump_dir: Where the dumps go, ``<dump_dir>/<split>/``.
        token_list: ``tokens.txt`` to write; its directory also gets the build log.
        splits: Splits to dump (the simulator always writes train, dev and test).
        num_spk: Speaker slots of the model (``format_data --num_spk``).
        simulate: Options of ``espnet_echo.bin.simulate`` (``num_train``, ``max_spk``...).
    """

    @staticmethod
    def _splits(splits: Optional[Sequence[str]]) -> list:
        return list(splits or ("train", "dev", "test"))

    def is_source_prepared(self, data_dir: str = "data", splits=None, **_unused) -> bool:
        return all((Path(data_dir) / s / "wav.scp").is_file() for s in self._splits(splits))

    def prepare_source(
        self, data_dir: str = "data", simulate: Optional[Mapping] = None, **_unused
    ) -> None:
        data_dir = Path(data_dir)
        _run("espnet_echo.bin.simulate",
             ["--out_dir", str(data_dir), "--wav_dir", str(data_dir / "wav"),
              *_options(simulate)])

    def is_built(
        self, dump_dir: str = "dump/raw", token_list: str = "data/token_list/char/tokens.txt",
        splits=None, **_unused,
    ) -> bool:
        dumped = all(
            (Path(dump_dir) / s / "speech_ref.scp").is_file() for s in self._splits(splits)
        )
        return dumped and Path(token_list).is_file()

    def build(
        self, data_dir: str = "data", dump_dir: str = "dump/raw",
        token_list: str = "data/token_list/char/tokens.txt", splits=None, num_spk: int = 3,
        nj: int = 1, **_unused,
    ) -> None:
        splits = self._splits(splits)
        for split in splits:
            _run("espnet_echo.bin.format_data",
                 ["--src", str(Path(data_dir) / split), "--dst", str(Path(dump_dir) / split),
                  "--num_spk", str(num_spk), "--nj", str(nj)])
        train = Path(dump_dir) / splits[0]
        inputs = []
        for n in range(1, num_spk + 1):
            inputs += ["--input", str(train / f"text_spk{n}")]
        _run("espnet_echo.bin.make_token_list",
             ["--token_type", "char", *inputs, "--output_dir", str(Path(token_list).parent)])
