"""Tests of espnet_echo.data.spk_ids: the speaker list, spk_ids and the column order."""

from pathlib import Path

import numpy as np
import pytest
import soundfile
from espnet2.fileio.rttm import RttmReader

from espnet_echo.data.format import format_data
from espnet_echo.data.spk_ids import (
    build_spk_list,
    make_spk_ids,
    read_spk_list,
)
from espnet_echo.utils.fileio import DataFileError

FS = 16000


def _write(path: Path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def make_dir(root: Path, utts) -> Path:
    """A contract dir; ``utts``: ``{utt: [(spk, start_s, end_s) per source]}``, 1 s each.

    The RTTM lists the turns by start time, so its first-appearance order need not be
    the source order of ``utt2spks``.
    """
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    wav, spk1, spk2, utt2spks, k, rttm = [], [], [], [], [], []
    for utt, sources in sorted(utts.items()):
        xs = []
        for n, (spk, a, b) in enumerate(sources, 1):
            x = np.zeros(FS, np.int16)
            x[int(a * FS):int(b * FS)] = rng.integers(-3000, 3000, int(b * FS) - int(a * FS))
            xs.append(x)
            soundfile.write(root / f"{utt}-s{n}.wav", x, FS, subtype="PCM_16")
            (spk1 if n == 1 else spk2).append(f"{utt} {root / f'{utt}-s{n}.wav'}")
        mix = np.sum([x.astype(np.int32) for x in xs], axis=0).astype(np.int16)
        soundfile.write(root / f"{utt}.wav", mix, FS, subtype="PCM_16")
        wav.append(f"{utt} {root / f'{utt}.wav'}")
        utt2spks.append(f"{utt} " + " ".join(s for s, _, _ in sources))
        k.append(f"{utt} {len(sources)}")
        for spk, a, b in sorted(sources, key=lambda t: t[1]):
            rttm.append(f"SPEAKER {utt} 1 {a:.6f} {b - a:.6f} <NA> <NA> {spk} <NA> <NA>")
    _write(root / "wav.scp", wav)
    _write(root / "spk1.scp", spk1)
    if spk2:
        _write(root / "spk2.scp", spk2)
    _write(root / "utt2spks", utt2spks)
    _write(root / "utt2num_spk", k)
    _write(root / "rttm", rttm)
    return root


TRAIN = {"t1": [("bob", 0.5, 1.0), ("alice", 0.0, 0.6)], "t2": [("carol", 0.0, 1.0)]}
DEV = {"d1": [("alice", 0.0, 0.5), ("dave", 0.4, 1.0)]}


@pytest.fixture
def dumps(tmp_path):
    train = tmp_path / "dump" / "train"
    dev = tmp_path / "dump" / "dev"
    format_data(make_dir(tmp_path / "data" / "train", TRAIN), train, num_spk=2)
    format_data(make_dir(tmp_path / "data" / "dev", DEV), dev, num_spk=2)
    return train, dev


def test_espnet_rttm_columns_of_a_dump_are_in_source_order(dumps):
    """ESPnet's RttmReader numbers columns by first appearance; the dump's columns must
    be the sources of utt2spks (bob, then alice) although alice speaks first."""
    train, _ = dumps
    labels = RttmReader(str(train / "espnet_rttm"))["t1"]
    assert labels.shape[1] == 2
    bob, alice = labels[:, 0], labels[:, 1]
    assert bob[: FS // 2 - 1].sum() == 0 and bob[FS // 2 + 10] == 1
    assert alice[:100].all() and alice[int(0.6 * FS) + 10:].sum() == 0


def test_make_spk_ids_writes_list_and_ids(dumps, tmp_path):
    train, dev = dumps
    spk_list = tmp_path / "lists" / "spk_list.txt"
    speakers = make_spk_ids(train, spk_list, [train, dev])
    assert speakers == ["alice", "bob", "carol"] == read_spk_list(spk_list)
    assert build_spk_list(train) == speakers
    assert (train / "spk_ids").read_text() == "t1 1 0\nt2 2\n"  # source order
    assert (dev / "spk_ids").read_text() == "d1 0 -1\n"  # dave is not a training speaker
    # idempotent: nothing is rewritten
    mtimes = [p.stat().st_mtime_ns for p in (spk_list, train / "spk_ids", dev / "spk_ids")]
    make_spk_ids(train, spk_list, [train, dev])
    assert mtimes == [p.stat().st_mtime_ns for p in
                      (spk_list, train / "spk_ids", dev / "spk_ids")]


def test_rttm_in_another_speaker_order_is_refused(tmp_path):
    src = make_dir(tmp_path / "src", TRAIN)
    lines = src.joinpath("rttm").read_text().splitlines()
    # an espnet_rttm whose first speaker is alice, but utt2spks says "bob alice"
    _write(src / "espnet_rttm", [
        f"SPEAKER t1 1 0 {int(0.6 * FS)} <NA> <NA> alice <NA>",
        f"SPEAKER t1 1 {FS // 2} {FS} <NA> <NA> bob <NA>",
        f"END t1 <NA> <NA> {FS} <NA> <NA> <NA> <NA>",
        f"SPEAKER t2 1 0 {FS} <NA> <NA> carol <NA>",
        f"END t2 <NA> <NA> {FS} <NA> <NA> <NA> <NA>",
    ])
    assert lines
    with pytest.raises(DataFileError, match=r"espnet_rttm:1: the speakers of 't1' appear in "
                                            r"the order \['alice', 'bob'\].*utt2spks:1"):
        make_spk_ids(src, tmp_path / "spk_list.txt", [src])
    assert not (tmp_path / "spk_list.txt").exists()  # nothing written


@pytest.mark.parametrize(
    "content, match",
    [
        (None, "speaker list not found"),
        ("", "speaker list is empty"),
        ("a\nb\na\n", r":3: speaker 'a' repeated \(first on line 1\)"),
        ("a\n\n", r":2: empty line"),
        ("a b\n", r":1: one speaker id per line"),
    ],
)
def test_read_spk_list_errors(tmp_path, content, match):
    path = tmp_path / "spk_list.txt"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataFileError, match=match):
        read_spk_list(path)


def test_dirs_without_utt2spks_are_refused(dumps, tmp_path):
    train, dev = dumps
    (dev / "utt2spks").unlink()
    with pytest.raises(DataFileError, match=r"dev/utt2spks: file not found"):
        make_spk_ids(train, tmp_path / "spk_list.txt", [train, dev])
    assert not (train / "spk_ids").exists()  # every dir is checked before writing
