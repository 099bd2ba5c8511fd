# Copyright 2026 espnet-echo developers
#  Apache 2.0
import itertools
import json
import math
import re

import numpy as np
import pytest
import torch

from espnet_echo.codec.packing import (
    INT64_MAX,
    PAPER_FRAME_RATE_HZ,
    PAPER_GROUP_LEVELS,
    PAPER_TOKENS_PER_FRAME,
    TOKEN_FILE_FORMAT,
    MixedRadixPacker,
    TokenFileHeader,
    TokenHeaderError,
    main,
    paper_header,
    paper_packer,
)

# (levels, group_sizes) small enough to enumerate every code and every token.
SMALL = [
    ((2,), (1,)),
    ((3,), (1,)),
    ((2, 2), (2,)),
    ((2, 3), (2,)),
    ((2, 3), (1, 1)),
    ((3, 2, 4), (3,)),
    ((8, 5, 5, 5), (4,)),
    ((2, 3, 4, 2), (3, 1)),
    ((3, 3, 2, 2, 2), (2, 1, 2)),
    ((2,) * 6, (1,) * 6),
    ((7, 2, 3, 5), (1, 3)),
]

# 7^2 * 73 * 127 * 337 * 92737 * 649657 = 2^63 - 1: the largest vocabulary allowed.
INT64_MAX_LEVELS = (7, 7, 73, 127, 337, 92737, 649657)


def _reference_pack(levels, group_sizes, code):
    """Independent, Python-int version of token = sum_i c_i prod_{j<i} L_j per group."""
    tokens, start = [], 0
    for size in group_sizes:
        token, place = 0, 1
        for level, c in zip(levels[start : start + size], code[start : start + size]):
            token += int(c) * place
            place *= level
        tokens.append(token)
        start += size
    return tokens


def _all_codes(levels):
    return np.array(list(itertools.product(*[range(v) for v in levels])), dtype=np.int64)


def _vocab(levels, group_sizes):
    out, start = [], 0
    for size in group_sizes:
        out.append(math.prod(levels[start : start + size]))
        start += size
    return out


def _random_config(rng):
    """Random levels in [2, 17] and a random grouping, every vocabulary within int64."""
    d = int(rng.integers(20, 200))
    levels = tuple(int(v) for v in rng.integers(2, 18, size=d))
    sizes, left = [], d
    while left:
        size = int(min(left, rng.integers(1, 16)))  # 17**15 < 2**63
        sizes.append(size)
        left -= size
    return levels, tuple(sizes)


# ---------------------------------------------------------------- the formula by hand
def test_pack_matches_the_formula_by_hand():
    packer = MixedRadixPacker([8, 5, 5, 5], [4])
    # 3 + 2*8 + 4*(8*5) + 1*(8*5*5)
    assert packer.pack(np.array([3, 2, 4, 1])).tolist() == [379]
    assert packer.unpack(np.array([379])).tolist() == [3, 2, 4, 1]
    assert packer.pack(np.array([7, 4, 4, 4])).tolist() == [999]

    packer = MixedRadixPacker([2, 3, 4, 2], [3, 1])
    # group 0: 1 + 2*2 + 3*(2*3) = 23; group 1: 1
    assert packer.pack(np.array([1, 2, 3, 1])).tolist() == [23, 1]
    assert packer.unpack(np.array([23, 1])).tolist() == [1, 2, 3, 1]


# ---------------------------------------------------------------- exhaustive identities
@pytest.mark.parametrize("levels,group_sizes", SMALL)
def test_pack_unpack_identity_for_every_code(levels, group_sizes):
    packer = MixedRadixPacker(levels, group_sizes)
    codes = _all_codes(levels)
    tokens = packer.pack(codes)
    assert tokens.shape == (len(codes), len(group_sizes))
    assert tokens.dtype == np.int64
    np.testing.assert_array_equal(packer.unpack(tokens), codes)
    expected = np.array([_reference_pack(levels, group_sizes, c) for c in codes])
    np.testing.assert_array_equal(tokens, expected)
    # a bijection onto the product of the vocabularies
    vocab = _vocab(levels, group_sizes)
    assert (tokens >= 0).all() and (tokens < np.array(vocab)).all()
    assert len({tuple(t) for t in tokens.tolist()}) == math.prod(vocab) == len(codes)


@pytest.mark.parametrize("levels,group_sizes", SMALL)
def test_unpack_pack_identity_for_every_token(levels, group_sizes):
    packer = MixedRadixPacker(levels, group_sizes)
    vocab = _vocab(levels, group_sizes)
    tokens = np.array(list(itertools.product(*[range(v) for v in vocab])), dtype=np.int64)
    codes = packer.unpack(tokens)
    assert codes.shape == (len(tokens), len(levels))
    assert (codes >= 0).all() and (codes < np.array(levels)).all()
    np.testing.assert_array_equal(packer.pack(codes), tokens)


def test_paper_config_every_token_value_at_every_position():
    packer = paper_packer()
    g = np.arange(PAPER_TOKENS_PER_FRAME)
    tokens = (np.arange(1000)[:, None] + 53 * g[None, :]) % 1000  # (1000, 19)
    codes = packer.unpack(tokens)
    assert codes.shape == (1000, 76)
    assert (codes < np.array(packer.levels)).all() and (codes >= 0).all()
    np.testing.assert_array_equal(packer.pack(codes), tokens)
    # every code of a group appears at every position, and packs back
    group_codes = _all_codes(PAPER_GROUP_LEVELS)  # (1000, 4)
    frames = np.concatenate([np.roll(group_codes, 7 * k, axis=0) for k in g], axis=1)
    np.testing.assert_array_equal(packer.unpack(packer.pack(frames)), frames)


# ---------------------------------------------------------------- random large configs
@pytest.mark.parametrize("seed", range(5))
def test_random_large_configs_round_trip(seed):
    rng = np.random.default_rng(seed)
    levels, group_sizes = _random_config(rng)
    packer = MixedRadixPacker(levels, group_sizes)
    vocab = np.array(_vocab(levels, group_sizes), dtype=np.int64)
    assert packer.vocab_sizes == tuple(vocab.tolist())

    codes = rng.integers(0, np.array(levels), size=(3, 40, len(levels)))  # (B, T, D)
    tokens = packer.pack(codes)
    assert tokens.shape == (3, 40, len(group_sizes))
    assert (tokens >= 0).all() and (tokens < vocab).all()
    np.testing.assert_array_equal(packer.unpack(tokens), codes)
    for code, token in zip(codes[1, :5], tokens[1, :5]):
        assert token.tolist() == _reference_pack(levels, group_sizes, code)

    tokens = rng.integers(0, vocab, size=(3, 40, len(group_sizes)))
    np.testing.assert_array_equal(packer.pack(packer.unpack(tokens)), tokens)
    # the extreme codes map to the extreme tokens
    top = np.array(levels) - 1
    np.testing.assert_array_equal(packer.pack(top), vocab - 1)
    np.testing.assert_array_equal(packer.pack(np.zeros_like(top)), 0)


def test_vocabulary_of_exactly_int64_max_does_not_overflow():
    assert math.prod(INT64_MAX_LEVELS) == INT64_MAX
    packer = MixedRadixPacker(INT64_MAX_LEVELS, [len(INT64_MAX_LEVELS)])
    assert packer.vocab_sizes == (INT64_MAX,)
    top = np.array(INT64_MAX_LEVELS) - 1
    assert packer.pack(top).tolist() == [INT64_MAX - 1]
    np.testing.assert_array_equal(packer.unpack(np.array([INT64_MAX - 1])), top)
    rng = np.random.default_rng(3)
    codes = rng.integers(0, np.array(INT64_MAX_LEVELS), size=(100, 7))
    tokens = packer.pack(codes)
    expected = [_reference_pack(INT64_MAX_LEVELS, [7], c)[0] for c in codes]
    assert tokens[:, 0].tolist() == expected
    np.testing.assert_array_equal(packer.unpack(tokens), codes)
    t = torch.from_numpy(codes)
    assert torch.equal(packer.pack(t), torch.from_numpy(tokens))


def test_vocabulary_beyond_int64_is_refused():
    with pytest.raises(ValueError, match=r"group 1 .*exceeds int64"):
        MixedRadixPacker((2,) * 3 + (2,) * 63, [3, 63])  # 2**63 > 2**63 - 1
    MixedRadixPacker((2,) * 3 + (2,) * 62, [3, 62])  # 2**62 fits


# ---------------------------------------------------------------- numpy / torch / shapes
def test_torch_and_numpy_agree_and_keep_their_types():
    packer = MixedRadixPacker([8, 5, 5, 5, 3, 3], [4, 2])
    rng = np.random.default_rng(1)
    codes = rng.integers(0, np.array(packer.levels), size=(2, 7, 6))
    tokens = packer.pack(codes)
    for dtype in (torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64,
                  torch.uint16, torch.uint32, torch.uint64):
        t = packer.pack(torch.from_numpy(codes).to(dtype))
        assert isinstance(t, torch.Tensor) and t.dtype == torch.int64
        assert t.device == torch.device("cpu")
        np.testing.assert_array_equal(t.numpy(), tokens)
        back = packer.unpack(t.to(torch.int32))
        assert isinstance(back, torch.Tensor) and back.dtype == torch.int64
        np.testing.assert_array_equal(back.numpy(), codes)
    for dtype in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.uint64):
        np.testing.assert_array_equal(packer.pack(codes.astype(dtype)), tokens)
    for dtype in (np.int16, np.uint16, np.int32, np.uint32, np.uint64):  # tokens reach 999
        np.testing.assert_array_equal(packer.unpack(tokens.astype(dtype)), codes)
    # a plain list is read as a numpy array
    assert packer.pack(codes[0, 0].tolist()).tolist() == tokens[0, 0].tolist()


def test_shapes():
    packer = MixedRadixPacker([4, 4, 3], [2, 1])
    assert packer.pack(np.array([3, 2, 1])).shape == (2,)
    assert packer.pack(np.zeros((5, 3), dtype=np.int64)).shape == (5, 2)
    assert packer.pack(np.zeros((0, 3), dtype=np.int64)).shape == (0, 2)
    assert packer.unpack(np.zeros((2, 0, 2), dtype=np.int64)).shape == (2, 0, 3)
    assert tuple(packer.unpack(torch.zeros(4, 6, 2, dtype=torch.long)).shape) == (4, 6, 3)
    assert packer.num_dims == 3 and packer.tokens_per_frame == 2


def test_pack_does_not_modify_its_input():
    packer = MixedRadixPacker([8, 5], [2])
    codes = np.array([[7, 4], [1, 2]])
    tokens = packer.pack(codes)
    packer.unpack(tokens)
    assert codes.tolist() == [[7, 4], [1, 2]] and tokens.tolist() == [[39], [17]]


# ---------------------------------------------------------------- sizes and rates
def test_vocab_bits_and_rates_of_a_small_config():
    packer = MixedRadixPacker([2, 3, 4, 2], [3, 1])
    assert packer.group_levels == ((2, 3, 4), (2,))
    assert packer.vocab_sizes == (24, 2)
    assert packer.bits_per_token == pytest.approx((4.584962500721156, 1.0), abs=1e-12)
    assert packer.bits_per_frame == pytest.approx(5.584962500721156, abs=1e-12)
    assert packer.tokens_per_second(10) == 20.0
    assert packer.bitrate(10) == pytest.approx(55.84962500721156, abs=1e-9)
    text = packer.describe(10)
    assert "[2, 3, 4] (vocabulary 24" in text and "[2] (vocabulary 2" in text
    assert "20 tokens/s" in text and "55.85 bit/s" in text


@pytest.mark.parametrize("rate", [0, -2.5, float("nan"), float("inf"), True, "2.5", None])
def test_bad_frame_rate(rate):
    packer = paper_packer()
    for method in (packer.tokens_per_second, packer.bitrate, packer.describe):
        with pytest.raises(ValueError, match="frame_rate_hz"):
            method(rate)


def test_paper_config():
    packer = paper_packer()
    assert packer == MixedRadixPacker([8, 5, 5, 5] * 19, [4] * 19)
    assert PAPER_FRAME_RATE_HZ == 2.5 and PAPER_TOKENS_PER_FRAME == 19
    assert packer.num_dims == 76 and packer.tokens_per_frame == 19
    assert packer.vocab_sizes == (1000,) * 19
    assert packer.tokens_per_second(PAPER_FRAME_RATE_HZ) == 47.5  # exactly
    assert packer.bits_per_token == pytest.approx((9.965784284662087,) * 19, abs=1e-12)
    assert packer.bits_per_frame == pytest.approx(189.34990140857965, abs=1e-9)
    assert packer.bitrate(PAPER_FRAME_RATE_HZ) == pytest.approx(473.3747535214491, abs=1e-9)
    text = packer.describe(PAPER_FRAME_RATE_HZ)
    for part in ("76 FSQ dimensions", "19 tokens per frame", "19 x [8, 5, 5, 5]",
                 "vocabulary 1000", "9.96578 bits/token", "2.5 Hz", "47.5 tokens/s",
                 "473.37 bit/s"):
        assert part in text, part


def test_main_prints_the_paper_config(capsys):
    main([])
    assert capsys.readouterr().out.strip() == paper_packer().describe(2.5)
    main(["--group_levels", "8", "6", "5", "--tokens_per_frame", "2", "--frame_rate_hz", "50"])
    out = capsys.readouterr().out
    assert "vocabulary 240" in out and "100 tokens/s" in out
    with pytest.raises(SystemExit, match=r"levels\[2\] = 1"):
        main(["--group_levels", "8", "6", "1"])


# ---------------------------------------------------------------- construction errors
@pytest.mark.parametrize(
    "levels,group_sizes,pattern",
    [
        ([], [], "at least one FSQ dimension"),
        ([2, 1, 3], [3], r"levels\[1\] = 1: .*at least 2 levels"),
        ([2, 0], [2], r"levels\[1\] = 0"),
        ([2, 2.0], [2], r"levels\[1\] must be an integer"),
        ([True, 3], [2], r"levels\[0\] must be an integer"),
        ("85", [2], "levels must be a sequence"),
        ([8, 5, 5, 5], [3], r"cover 3 dimensions, but levels has 4"),
        ([8, 5, 5, 5], [2, 3], r"cover 5 dimensions, but levels has 4"),
        ([8, 5, 5, 5], [2, 0, 2], r"group_sizes\[1\] = 0"),
        ([8, 5, 5, 5], [], "at least one group"),
        ([8, 5, 5, 5], [4.0], r"group_sizes\[0\] must be an integer"),
    ],
)
def test_bad_construction(levels, group_sizes, pattern):
    with pytest.raises(ValueError, match=pattern):
        MixedRadixPacker(levels, group_sizes)


def test_uniform():
    assert MixedRadixPacker.uniform([8, 5], 3) == MixedRadixPacker([8, 5] * 3, [2] * 3)
    assert MixedRadixPacker.uniform(np.array([8, 5]), 1).levels == (8, 5)
    with pytest.raises(ValueError, match="num_groups = 0"):
        MixedRadixPacker.uniform([8, 5], 0)
    assert MixedRadixPacker([8, 5], [1, 1]) != MixedRadixPacker([8, 5], [2])


# ---------------------------------------------------------------- bad inputs
def test_codes_outside_their_levels():
    packer = MixedRadixPacker([2, 3, 4, 2], [3, 1])
    codes = np.zeros((3, 4), dtype=np.int64)
    codes[1, 2] = 4
    codes[2, 0] = 9
    with pytest.raises(ValueError, match=re.escape("codes[1, 2] = 4 is out of range")) as e:
        packer.pack(codes)
    assert "FSQ dimension 2 (token position 0) has 4 levels" in str(e.value)
    assert "2 value(s)" in str(e.value)
    with pytest.raises(ValueError, match=re.escape("codes[3] = -1")):
        packer.pack(np.array([0, 0, 0, -1]))
    with pytest.raises(ValueError, match=re.escape("codes[0, 0, 3] = 2")):
        packer.pack(torch.tensor([[[0, 0, 0, 2]]]))
    with pytest.raises(ValueError, match=re.escape("codes[0] = 9223372036854775813")):
        packer.pack(np.array([2**63 + 5, 0, 0, 0], dtype=np.uint64))
    with pytest.raises(ValueError, match=re.escape("codes[1] = 9223372036854775813")):
        packer.pack(torch.tensor([0, 2**63 + 5, 0, 0], dtype=torch.uint64))


def test_tokens_outside_the_vocabulary():
    packer = MixedRadixPacker([2, 3, 4, 2], [3, 1])
    with pytest.raises(ValueError, match=re.escape("tokens[0, 1] = 2 is out of range")) as e:
        packer.unpack(np.array([[23, 2], [0, 0]]))
    assert "token position 1 has the vocabulary [0, 2)" in str(e.value)
    with pytest.raises(ValueError, match=re.escape("tokens[1, 0] = 24")):
        packer.unpack(np.array([[23, 1], [24, 1]]))
    with pytest.raises(ValueError, match=re.escape("tokens[0] = -1")):
        packer.unpack(torch.tensor([-1, 0]))
    with pytest.raises(ValueError, match=re.escape("tokens[2, 0] = 1000")):
        paper_packer().unpack(np.array([[0] * 19, [999] * 19, [1000] + [0] * 18]))


@pytest.mark.parametrize(
    "value,pattern",
    [
        (
            np.zeros((2, 3), dtype=np.int64),
            r"shape \(\.\.\., 4\) \(FSQ dimensions\), got shape \(2, 3\)",
        ),
        (np.zeros((2, 5), dtype=np.int64), r"got shape \(2, 5\)"),
        (np.int64(1), "got a scalar"),
        (np.zeros(4), "integer dtype, got float64"),
        (np.zeros(4, dtype=bool), "integer dtype, got bool"),
        (torch.zeros(4), "integer dtype, got torch.float32"),
        (torch.zeros(4, dtype=torch.bool), "integer dtype, got torch.bool"),
        ([0.0, 1.0, 0.0, 1.0], "integer dtype, got float64"),
        ([[0, 1], [0]], "cannot be read as an integer array"),
    ],
)
def test_bad_code_arrays(value, pattern):
    with pytest.raises(ValueError, match=pattern):
        MixedRadixPacker([2, 3, 4, 2], [3, 1]).pack(value)


@pytest.mark.parametrize(
    "value,pattern",
    [
        (
            np.zeros((2, 4), dtype=np.int64),
            r"shape \(\.\.\., 2\) \(tokens per frame\), got shape \(2, 4\)",
        ),
        (torch.zeros(3, 1, dtype=torch.long), r"got shape \(3, 1\)"),
        (np.float32(1), "integer dtype, got float32"),
        (torch.tensor([1.0, 0.0], dtype=torch.float64), "integer dtype, got torch.float64"),
    ],
)
def test_bad_token_arrays(value, pattern):
    with pytest.raises(ValueError, match=pattern):
        MixedRadixPacker([2, 3, 4, 2], [3, 1]).unpack(value)


# ---------------------------------------------------------------- token-file header
def test_header_round_trip():
    header = paper_header()
    assert header == TokenFileHeader(2.5, [8, 5, 5, 5] * 19, [4] * 19)
    assert header.packer == paper_packer()
    d = header.to_dict()
    assert d["format"] == TOKEN_FILE_FORMAT and d["version"] == 1
    assert d["frame_rate_hz"] == 2.5 and d["vocab_sizes"] == [1000] * 19
    back = TokenFileHeader.from_dict(json.loads(json.dumps(d)))
    assert back == header and isinstance(back.levels, tuple)
    back.check(header)
    # the optional keys may be left out
    minimal = {"frame_rate_hz": 50, "levels": [3, 3], "group_sizes": [1, 1]}
    assert TokenFileHeader.from_dict(minimal) == TokenFileHeader(50.0, (3, 3), (1, 1))


def test_header_check_refuses_a_mismatch():
    codec = paper_header()
    wrong_rate = TokenFileHeader(12.5, codec.levels, codec.group_sizes)
    with pytest.raises(TokenHeaderError, match=r"a\.jsonl: .*frame_rate_hz is 12.5 in the "
                       r"file, the codec expects 2.5"):
        wrong_rate.check(codec, source="a.jsonl")
    wrong_levels = TokenFileHeader(2.5, [8, 5, 5, 4] * 19, [4] * 19)
    with pytest.raises(TokenHeaderError, match=re.escape(
            "levels are [8, 5, 5, 4] x 19 in the file, the codec expects [8, 5, 5, 5] x 19")):
        wrong_levels.check(codec)
    regrouped = TokenFileHeader(2.5, codec.levels, [2] * 38)
    with pytest.raises(TokenHeaderError, match=r"group_sizes are \[2\] x 38 in the file"):
        regrouped.check(codec)
    with pytest.raises(ValueError, match=r"frame_rate_hz.*; levels"):
        TokenFileHeader(50, [8, 5], [2]).check(codec)
    # float noise in the rate is not a mismatch
    TokenFileHeader(2.5 * (1 + 1e-12), codec.levels, codec.group_sizes).check(codec)


@pytest.mark.parametrize(
    "change,pattern",
    [
        ({"levels": None}, r"lacks \['levels'\]"),
        ({"frame_rate": 2.5}, r"unknown keys \['frame_rate'\]"),
        ({"format": "other"}, "format is 'other'"),
        ({"version": 2}, "version is 2"),
        ({"version": True}, "version is True"),
        ({"vocab_sizes": [1000] * 18}, r"states vocab_sizes \[1000\] x 18"),
        ({"vocab_sizes": "1000"}, r"states vocab_sizes '1000'"),
        ({"frame_rate_hz": "2.5"}, "frame_rate_hz must be a number"),
        ({"frame_rate_hz": 0}, "frame_rate_hz must be positive"),
        ({"levels": [8.0, 5, 5, 5] * 19}, r"levels\[0\] must be an integer"),
        ({"group_sizes": [4] * 18}, "cover 72 dimensions, but levels has 76"),
    ],
)
def test_header_from_dict_refuses_bad_headers(change, pattern):
    d = paper_header().to_dict()
    for key, value in change.items():
        if value is None:
            del d[key]
        else:
            d[key] = value
    with pytest.raises(TokenHeaderError, match=r"tok\.jsonl: .*" + pattern):
        TokenFileHeader.from_dict(d, source="tok.jsonl")


def test_header_from_dict_refuses_a_non_dict():
    with pytest.raises(TokenHeaderError, match="must be a dict"):
        TokenFileHeader.from_dict([2.5, [8], [1]])


def test_header_construction_errors():
    with pytest.raises(TokenHeaderError, match="levels"):
        TokenFileHeader(2.5, [1, 5], [2])
    with pytest.raises(TokenHeaderError, match="frame_rate_hz"):
        TokenFileHeader(float("nan"), [8, 5], [2])
    assert issubclass(TokenHeaderError, ValueError)
