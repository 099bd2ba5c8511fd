# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Command line of recipe stage 3 (the token lists: utils/test_token_list.py)."""

import pytest

from espnet_echo.bin.make_token_list import main

PANGRAM = "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG".split()


def test_cli(tmp_path):
    inputs = []
    for n in (1, 2):
        path = tmp_path / f"text_spk{n}"
        path.write_text("".join(
            f"mix{i:03d} {' '.join(PANGRAM[(i + n) % 9:] + PANGRAM[:(i + n) % 9])}\n"
            for i in range(40)
        ))
        inputs.append(path)
    out = tmp_path / "data" / "token_list" / "bpe_unigram30"
    main(["--token_type", "bpe", "--nbpe", "30", "--bpemode", "unigram",
          "--input", str(inputs[0]), "--input", str(inputs[1]), "--output_dir", str(out)])
    assert len((out / "tokens.txt").read_text().splitlines()) == 30
    with pytest.raises(SystemExit, match=r"make_token_list: error: --nbpe 5000 is too large"):
        main(["--token_type", "bpe", "--nbpe", "5000", "--input", str(inputs[0]),
              "--output_dir", str(out)])
    with pytest.raises(SystemExit, match=r"make_token_list: error: .*nope: file not found"):
        main(["--token_type", "char", "--input", str(tmp_path / "nope"),
              "--output_dir", str(out)])
    assert len((out / "tokens.txt").read_text().splitlines()) == 30  # kept
