# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Mixed-radix packing of FSQ codes into integer tokens, and the header of token files.

Finite Scalar Quantization (FSQ; Mentzer et al., 2023, "Finite Scalar Quantization:
VQ-VAE Made Simple", arXiv:2309.15505) rounds each of the ``D`` latent dimensions of a
frame to one of ``L_i`` levels, so a frame's code is an integer vector ``c`` with
``0 <= c_i < L_i``. Mixed-radix packing splits the ``D`` dimensions into ``G`` contiguous
groups and writes each group as one integer token, dimension 0 of the group being the
least significant digit::

    token = sum_i c_i * prod_{j < i} L_j          (i, j over the dimensions of the group)
    vocabulary = prod_i L_i                       (of that group)

which is the index convention of the FSQ paper's reference code and of
``vector-quantize-pytorch``'s ``FSQ.codes_to_indices`` (basis
``cumprod([1] + levels[:-1])``); its ``num_codebooks`` layout (``(c d)`` on the last axis)
is the contiguous grouping used here. A frame of ``D`` FSQ dimensions thus becomes ``G``
tokens, each carrying ``log2(vocabulary)`` bits, and at a frame rate ``f`` the stream is
``G * f`` tokens/s and ``f * sum_g log2(V_g)`` bit/s. The packing is a bijection between
the codes and ``[0, V_1) x ... x [0, V_G)``: :meth:`MixedRadixPacker.unpack` is its exact
inverse.

Paper configuration:
    The JEPA + DAAM tokenizer this codec reproduces (issue 16) uses 2.5 Hz frames and
    47.5 tokens/s, i.e. 19 tokens per frame. The per-dimension FSQ levels and the
    grouping are NOT stated in the material available to this project, so they are our
    choice: 19 groups of levels ``[8, 5, 5, 5]``, the levels Mentzer et al. (2023, Table 1)
    recommend for a codebook of about 2^10 entries. That is 76 FSQ dimensions per frame,
    a vocabulary of 1000 per token (log2 1000 = 9.966 bits/token), 189.35 bits/frame and
    473.37 bit/s at 2.5 Hz (``python -m espnet_echo.codec.packing`` prints it). Only the
    token rate (47.5 tokens/s) is the paper's; the bitrate follows from our levels.

Token-file header:
    :class:`TokenFileHeader` (frame rate, levels, grouping) is the spec the token files
    written by the codec CLIs carry; a reader refuses a file whose header does not match
    its codec (:meth:`TokenFileHeader.check`).
"""

import argparse
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]

INT64_MAX = 2**63 - 1

PAPER_FRAME_RATE_HZ = 2.5
PAPER_TOKENS_PER_FRAME = 19
# Our choice (not stated in the paper): Mentzer et al. 2023, Table 1, |C| ~ 2^10.
PAPER_GROUP_LEVELS = (8, 5, 5, 5)

TOKEN_FILE_FORMAT = "espnet_echo.codec.tokens"
TOKEN_FILE_VERSION = 1

_TORCH_INT_DTYPES = frozenset(
    {
        torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
        torch.uint16, torch.uint32, torch.uint64,
    }
)


def _as_int(value: Any, what: str) -> int:
    """``value`` as a Python int; bools, floats and strings are refused (ValueError)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    return int(value)


def _as_int_tuple(values: Any, what: str) -> Tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise ValueError(f"{what} must be a sequence of integers, got {values!r}")
    return tuple(_as_int(v, f"{what}[{i}]") for i, v in enumerate(values))


def _as_frame_rate(value: Any, what: str = "frame_rate_hz") -> float:
    """``value`` as a positive finite float (Hz); ValueError otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} must be a number (Hz), got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be positive and finite, got {value!r}")
    return value


def _format_seq(seq: Sequence[int]) -> str:
    """``[8, 5, 5, 5] x 19`` for a periodic sequence, else the plain list."""
    n = len(seq)
    for period in range(1, n // 2 + 1):
        if n % period == 0 and tuple(seq) == tuple(seq[:period]) * (n // period):
            return f"{list(seq[:period])} x {n // period}"
    return str(list(seq))


def _format_number(x: float) -> str:
    return f"{x:.6g}"


class MixedRadixPacker:
    """Packs FSQ codes ``(..., D)`` into mixed-radix tokens ``(..., G)`` and back.

    The ``D`` FSQ dimensions (levels ``L_0 .. L_{D-1}``) are split into ``G`` contiguous
    groups of ``group_sizes[g]`` dimensions; group ``g`` becomes token position ``g`` with
    vocabulary ``V_g = prod L_i`` over its dimensions (see the module docstring for the
    digit order). Arrays of any leading shape, e.g. ``(B, T, D)`` -> ``(B, T, G)``, are
    handled; numpy arrays give numpy ``int64`` arrays and torch tensors give ``torch.long``
    tensors on the input's device.

    Args:
        levels: FSQ levels per dimension, each an integer >= 2 (length ``D``).
        group_sizes: Number of consecutive dimensions packed into each token (length
            ``G``); each >= 1, summing to ``D``.

    Raises:
        ValueError: Empty or non-integer levels, a level < 2, group sizes that are not
            positive integers or do not cover the ``D`` dimensions exactly, or a group whose
            vocabulary exceeds the int64 range (``2**63 - 1``).
    """

    def __init__(self, levels: Sequence[int], group_sizes: Sequence[int]):
        levels = _as_int_tuple(levels, "levels")
        group_sizes = _as_int_tuple(group_sizes, "group_sizes")
        if not levels:
            raise ValueError("levels must name at least one FSQ dimension")
        for i, level in enumerate(levels):
            if level < 2:
                raise ValueError(
                    f"levels[{i}] = {level}: an FSQ dimension needs at least 2 levels"
                )
        if not group_sizes:
            raise ValueError("group_sizes must name at least one group")
        for g, size in enumerate(group_sizes):
            if size < 1:
                raise ValueError(f"group_sizes[{g}] = {size}: a group needs >= 1 dimension")
        if sum(group_sizes) != len(levels):
            raise ValueError(
                f"group_sizes {list(group_sizes)} cover {sum(group_sizes)} dimensions, "
                f"but levels has {len(levels)}; the groups must cover the dimensions exactly"
            )

        self._levels = levels
        self._group_sizes = group_sizes
        self._slices: List[Tuple[int, int]] = []
        group_levels = []
        vocab_sizes = []
        basis: List[int] = []
        group_index: List[int] = []
        start = 0
        for g, size in enumerate(group_sizes):
            end = start + size
            self._slices.append((start, end))
            group = levels[start:end]
            group_levels.append(group)
            vocab = math.prod(group)
            if vocab > INT64_MAX:
                raise ValueError(
                    f"group {g} (dimensions {start}..{end - 1}, levels {list(group)}) has a "
                    f"vocabulary of {vocab}, which exceeds int64 (2**63 - 1); "
                    f"use smaller groups"
                )
            vocab_sizes.append(vocab)
            place = 1
            for level in group:
                basis.append(place)
                group_index.append(g)
                place *= level
            start = end
        self._group_levels = tuple(group_levels)
        self._vocab_sizes = tuple(vocab_sizes)

        self._np = {
            "levels": np.asarray(levels, dtype=np.int64),
            "basis": np.asarray(basis, dtype=np.int64),
            "vocab": np.asarray(vocab_sizes, dtype=np.int64),
            "group_index": np.asarray(group_index, dtype=np.int64),
        }
        self._torch: Dict[torch.device, Dict[str, torch.Tensor]] = {}

    @classmethod
    def uniform(cls, group_levels: Sequence[int], num_groups: int) -> "MixedRadixPacker":
        """``num_groups`` tokens per frame, each packing FSQ levels ``group_levels``.

        This is the layout of ``vector-quantize-pytorch``'s ``FSQ(levels=group_levels,
        num_codebooks=num_groups)``.

        Args:
            group_levels: Levels of the dimensions of one group.
            num_groups: Tokens per frame (>= 1).

        Returns:
            A packer over ``len(group_levels) * num_groups`` dimensions.

        Raises:
            ValueError: As for the constructor, or ``num_groups`` < 1.
        """
        group_levels = _as_int_tuple(group_levels, "group_levels")
        num_groups = _as_int(num_groups, "num_groups")
        if num_groups < 1:
            raise ValueError(f"num_groups = {num_groups}: need at least one token per frame")
        return cls(group_levels * num_groups, (len(group_levels),) * num_groups)

    # ------------------------------------------------------------------ properties
    @property
    def levels(self) -> Tuple[int, ...]:
        """FSQ levels per dimension (length ``D``)."""
        return self._levels

    @property
    def group_sizes(self) -> Tuple[int, ...]:
        """Dimensions per token position (length ``G``)."""
        return self._group_sizes

    @property
    def group_levels(self) -> Tuple[Tuple[int, ...], ...]:
        """Levels of the dimensions of each token position (``G`` tuples)."""
        return self._group_levels

    @property
    def num_dims(self) -> int:
        """``D``, FSQ dimensions per frame."""
        return len(self._levels)

    @property
    def tokens_per_frame(self) -> int:
        """``G``, tokens per frame."""
        return len(self._group_sizes)

    @property
    def vocab_sizes(self) -> Tuple[int, ...]:
        """Vocabulary of each token position, ``V_g = prod`` of its levels (length ``G``)."""
        return self._vocab_sizes

    @property
    def bits_per_token(self) -> Tuple[float, ...]:
        """``log2 V_g`` of each token position (bits; length ``G``)."""
        return tuple(math.log2(v) for v in self._vocab_sizes)

    @property
    def bits_per_frame(self) -> float:
        """``sum_g log2 V_g`` = ``sum_i log2 L_i`` (bits per frame)."""
        return math.log2(math.prod(self._vocab_sizes))

    def tokens_per_second(self, frame_rate_hz: float) -> float:
        """Token rate ``G * frame_rate_hz`` (tokens/s).

        Raises:
            ValueError: ``frame_rate_hz`` not a positive finite number.
        """
        return self.tokens_per_frame * _as_frame_rate(frame_rate_hz)

    def bitrate(self, frame_rate_hz: float) -> float:
        """Bitrate ``frame_rate_hz * sum_g log2 V_g`` (bit/s) of an uncompressed stream.

        Raises:
            ValueError: ``frame_rate_hz`` not a positive finite number.
        """
        return _as_frame_rate(frame_rate_hz) * self.bits_per_frame

    def describe(self, frame_rate_hz: float) -> str:
        """One paragraph: levels, groups, vocabulary, bits/token, tokens/s and bit/s.

        Raises:
            ValueError: ``frame_rate_hz`` not a positive finite number.
        """
        frame_rate_hz = _as_frame_rate(frame_rate_hz)
        runs: List[List[Any]] = []
        for levels, vocab in zip(self._group_levels, self._vocab_sizes):
            if runs and runs[-1][0] == levels:
                runs[-1][2] += 1
            else:
                runs.append([levels, vocab, 1])
        groups = " + ".join(
            f"{f'{count} x ' if count > 1 else ''}{list(levels)} (vocabulary {vocab}, "
            f"{_format_number(math.log2(vocab))} bits/token)"
            for levels, vocab, count in runs
        )
        return (
            f"Mixed-radix packing of FSQ codes: {self.num_dims} FSQ dimensions with levels "
            f"{_format_seq(self._levels)} are packed into {self.tokens_per_frame} "
            f"token{'s' if self.tokens_per_frame > 1 else ''} per frame, groups {groups}; "
            f"{_format_number(self.bits_per_frame)} bits/frame. "
            f"At {_format_number(frame_rate_hz)} Hz frames this is "
            f"{_format_number(self.tokens_per_second(frame_rate_hz))} tokens/s and "
            f"{self.bitrate(frame_rate_hz):.2f} bit/s."
        )

    # ------------------------------------------------------------------ packing
    def pack(self, codes: ArrayLike) -> ArrayLike:
        """FSQ codes -> tokens.

        Args:
            codes: Integer codes ``(..., D)``, e.g. ``(B, T, D)``, with
                ``0 <= codes[..., i] < levels[i]`` (numpy array or torch tensor; other
                array-likes are read with ``np.asarray``).

        Returns:
            Tokens ``(..., G)`` (int64; a torch tensor on the input's device for a tensor
            input, else a numpy array), ``0 <= tokens[..., g] < vocab_sizes[g]``.

        Raises:
            ValueError: Non-integer dtype (floats and bools included), a scalar, a last
                dimension other than ``D``, or a code outside ``[0, L_i)``; the message
                names the index and the value of the first bad entry.
        """
        x, is_torch = self._prepare(codes, "codes", self.num_dims, "FSQ dimensions")
        const = self._constants(x) if is_torch else self._np
        levels = self._levels
        group_index = self._np["group_index"]
        self._check_range(
            x,
            const["levels"],
            "codes",
            lambda k: (
                f"FSQ dimension {k} (token position {group_index[k]}) has {levels[k]} "
                f"levels, so its codes lie in [0, {levels[k]})"
            ),
        )
        weighted = x * const["basis"]  # each term < its group's vocabulary: no overflow
        parts = [weighted[..., s:e].sum(-1) for s, e in self._slices]
        return torch.stack(parts, dim=-1) if is_torch else np.stack(parts, axis=-1)

    def unpack(self, tokens: ArrayLike) -> ArrayLike:
        """Tokens -> FSQ codes; the exact inverse of :meth:`pack`.

        Args:
            tokens: Integer tokens ``(..., G)``, e.g. ``(B, T, G)``, with
                ``0 <= tokens[..., g] < vocab_sizes[g]`` (numpy array or torch tensor; other
                array-likes are read with ``np.asarray``).

        Returns:
            Codes ``(..., D)`` (int64; a torch tensor on the input's device for a tensor
            input, else a numpy array), ``0 <= codes[..., i] < levels[i]``.

        Raises:
            ValueError: Non-integer dtype (floats and bools included), a scalar, a last
                dimension other than ``G``, or a token outside its vocabulary; the message
                names the index and the value of the first bad entry.
        """
        x, is_torch = self._prepare(
            tokens, "tokens", self.tokens_per_frame, "tokens per frame"
        )
        const = self._constants(x) if is_torch else self._np
        vocab = self._vocab_sizes
        self._check_range(
            x,
            const["vocab"],
            "tokens",
            lambda k: f"token position {k} has the vocabulary [0, {vocab[k]})",
        )
        digits = x[..., const["group_index"]]
        return (digits // const["basis"]) % const["levels"]

    # ------------------------------------------------------------------ helpers
    def _constants(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        const = self._torch.get(x.device)
        if const is None:
            const = {k: torch.from_numpy(v).to(x.device) for k, v in self._np.items()}
            self._torch[x.device] = const
        return const

    @staticmethod
    def _prepare(x: Any, name: str, last: int, what: str) -> Tuple[ArrayLike, bool]:
        """Check dtype and shape; return ``x`` as int64 and whether it is a tensor."""
        is_torch = isinstance(x, torch.Tensor)
        if is_torch:
            if x.dtype not in _TORCH_INT_DTYPES:
                raise ValueError(f"{name} must have an integer dtype, got {x.dtype}")
        else:
            if not isinstance(x, np.ndarray):
                try:
                    x = np.asarray(x)
                except (TypeError, ValueError) as e:
                    raise ValueError(
                        f"{name} cannot be read as an integer array: {e}"
                    ) from None
            if not np.issubdtype(x.dtype, np.integer):
                raise ValueError(f"{name} must have an integer dtype, got {x.dtype}")
        if x.ndim == 0:
            raise ValueError(f"{name} must have shape (..., {last}) ({what}), got a scalar")
        if x.shape[-1] != last:
            raise ValueError(
                f"{name} must have shape (..., {last}) ({what}), got shape {tuple(x.shape)}"
            )
        if is_torch and x.dtype == torch.uint64:
            # torch has no comparisons for uint64: check on a numpy view of the values.
            MixedRadixPacker._check_uint64(x.detach().cpu().numpy(), name)
            return x.to(torch.int64), True
        if is_torch:
            return x.to(torch.int64), True
        if x.dtype == np.uint64:
            MixedRadixPacker._check_uint64(x, name)
        return x.astype(np.int64, copy=False), False

    @staticmethod
    def _check_uint64(x: np.ndarray, name: str) -> None:
        bad = x > np.uint64(INT64_MAX)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{name}[{', '.join(map(str, idx))}] = {int(x[idx])} is out of range: it "
                f"exceeds int64 and so every vocabulary; {int(bad.sum())} value(s) of {name} "
                f"are out of range"
            )

    @staticmethod
    def _check_range(
        x: ArrayLike, upper: ArrayLike, name: str, explain: Callable[[int], str]
    ) -> None:
        """Raise ValueError naming the first entry of ``x`` outside ``[0, upper[last])``."""
        bad = (x < 0) | (x >= upper)
        if not bool(bad.any()):
            return
        if isinstance(bad, torch.Tensor):
            where = bad.nonzero()
            idx = tuple(int(i) for i in where[0].tolist())
            count = int(where.shape[0])
        else:
            where = np.argwhere(bad)
            idx = tuple(int(i) for i in where[0])
            count = int(where.shape[0])
        value = int(x[idx])
        raise ValueError(
            f"{name}[{', '.join(map(str, idx))}] = {value} is out of range: "
            f"{explain(idx[-1])}; {count} value(s) of {name} are out of range"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MixedRadixPacker):
            return NotImplemented
        return self._levels == other._levels and self._group_sizes == other._group_sizes

    def __hash__(self) -> int:
        return hash((self._levels, self._group_sizes))

    def __repr__(self) -> str:
        return (
            f"MixedRadixPacker(levels={_format_seq(self._levels)}, "
            f"group_sizes={_format_seq(self._group_sizes)})"
        )


def paper_packer() -> MixedRadixPacker:
    """The paper configuration: 19 tokens per frame, each packing FSQ levels [8, 5, 5, 5].

    The levels are our choice (see the module docstring); 76 FSQ dimensions, vocabulary
    1000 per token.
    """
    return MixedRadixPacker.uniform(PAPER_GROUP_LEVELS, PAPER_TOKENS_PER_FRAME)


class TokenHeaderError(ValueError):
    """A token-file header is malformed or does not match the codec reading it."""


@dataclass(frozen=True)
class TokenFileHeader:
    """What a token file must declare: frame rate, FSQ levels and their grouping.

    ``to_dict`` gives a JSON-ready dict (plus ``format``, ``version`` and the derived
    ``vocab_sizes`` an LM pipeline needs); ``from_dict`` reads it back strictly. A tool
    that needs more fields in its file header should nest this dict under a key rather
    than add keys to it (unknown keys are refused, to catch misspellings).

    Args:
        frame_rate_hz: Token frames per second (Hz), positive.
        levels: FSQ levels per dimension (length ``D``).
        group_sizes: Dimensions per token (length ``G``), see :class:`MixedRadixPacker`.

    Raises:
        TokenHeaderError: A frame rate that is not a positive finite number, or levels and
            group sizes a :class:`MixedRadixPacker` refuses.
    """

    frame_rate_hz: float
    levels: Tuple[int, ...]
    group_sizes: Tuple[int, ...]

    _REQUIRED = ("frame_rate_hz", "levels", "group_sizes")
    _OPTIONAL = ("format", "version", "vocab_sizes")

    def __post_init__(self):
        try:
            frame_rate_hz = _as_frame_rate(self.frame_rate_hz)
            packer = MixedRadixPacker(self.levels, self.group_sizes)
        except ValueError as e:
            raise TokenHeaderError(f"invalid token-file header: {e}") from None
        object.__setattr__(self, "frame_rate_hz", frame_rate_hz)
        object.__setattr__(self, "levels", packer.levels)
        object.__setattr__(self, "group_sizes", packer.group_sizes)

    @classmethod
    def from_packer(cls, packer: MixedRadixPacker, frame_rate_hz: float) -> "TokenFileHeader":
        """The header of the tokens of ``packer`` at ``frame_rate_hz`` frames/s."""
        return cls(frame_rate_hz, packer.levels, packer.group_sizes)

    @property
    def packer(self) -> MixedRadixPacker:
        """A :class:`MixedRadixPacker` for these levels and groups."""
        return MixedRadixPacker(self.levels, self.group_sizes)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict: format, version, frame rate, levels, groups, vocab_sizes."""
        return {
            "format": TOKEN_FILE_FORMAT,
            "version": TOKEN_FILE_VERSION,
            "frame_rate_hz": self.frame_rate_hz,
            "levels": list(self.levels),
            "group_sizes": list(self.group_sizes),
            "vocab_sizes": list(self.packer.vocab_sizes),
        }

    @classmethod
    def from_dict(
        cls, d: Mapping[str, Any], source: Optional[str] = None
    ) -> "TokenFileHeader":
        """Read a header written by :meth:`to_dict`.

        ``format`` and ``version``, when present, must be this module's; ``vocab_sizes``,
        when present, must equal the vocabularies the levels and groups give.

        Args:
            d: The header dict (e.g. parsed JSON).
            source: Name of the file, for the messages.

        Returns:
            The header.

        Raises:
            TokenHeaderError: Not a dict, a missing or unknown key, a wrong format or
                version, bad values, or ``vocab_sizes`` inconsistent with the levels.
        """
        where = f"{source}: " if source else ""
        if not isinstance(d, Mapping):
            raise TokenHeaderError(f"{where}token-file header must be a dict, got {d!r}")
        missing = [k for k in cls._REQUIRED if k not in d]
        if missing:
            raise TokenHeaderError(f"{where}token-file header lacks {missing}")
        unknown = sorted(str(k) for k in d if k not in cls._REQUIRED + cls._OPTIONAL)
        if unknown:
            raise TokenHeaderError(f"{where}token-file header has unknown keys {unknown}")
        if "format" in d and d["format"] != TOKEN_FILE_FORMAT:
            raise TokenHeaderError(
                f"{where}token-file header format is {d['format']!r}, "
                f"expected {TOKEN_FILE_FORMAT!r}"
            )
        if "version" in d and (
            isinstance(d["version"], bool) or d["version"] != TOKEN_FILE_VERSION
        ):
            raise TokenHeaderError(
                f"{where}token-file header version is {d['version']!r}, "
                f"this reader knows version {TOKEN_FILE_VERSION}"
            )
        try:
            header = cls(d["frame_rate_hz"], d["levels"], d["group_sizes"])
        except TokenHeaderError as e:
            raise TokenHeaderError(f"{where}{e}") from None
        if "vocab_sizes" in d:
            stated = d["vocab_sizes"]
            derived = list(header.packer.vocab_sizes)
            if not isinstance(stated, (list, tuple)) or list(stated) != derived:
                raise TokenHeaderError(
                    f"{where}token-file header states vocab_sizes {_format_any(stated)}, but "
                    f"its levels and group_sizes give {_format_seq(derived)}"
                )
        return header

    def check(self, expected: "TokenFileHeader", source: Optional[str] = None) -> None:
        """Refuse a token file whose header differs from what the codec expects.

        Frame rates are compared with a relative tolerance of 1e-9; levels and group sizes
        must be equal.

        Args:
            expected: The header of the codec that will read the tokens.
            source: Name of the file, for the message.

        Raises:
            TokenHeaderError: Naming every mismatching field with both values.
        """
        problems = []
        if not math.isclose(self.frame_rate_hz, expected.frame_rate_hz, rel_tol=1e-9):
            problems.append(
                f"frame_rate_hz is {_format_number(self.frame_rate_hz)} in the file, the "
                f"codec expects {_format_number(expected.frame_rate_hz)}"
            )
        if self.levels != expected.levels:
            problems.append(
                f"levels are {_format_seq(self.levels)} in the file, the codec expects "
                f"{_format_seq(expected.levels)}"
            )
        if self.group_sizes != expected.group_sizes:
            problems.append(
                f"group_sizes are {_format_seq(self.group_sizes)} in the file, the codec "
                f"expects {_format_seq(expected.group_sizes)}"
            )
        if problems:
            where = source or "token file"
            raise TokenHeaderError(
                f"{where}: header does not match the codec: " + "; ".join(problems)
            )


def _format_any(value: Any) -> str:
    if isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value):
        return _format_seq(value)
    return repr(value)


def paper_header() -> TokenFileHeader:
    """Token-file header of the paper configuration (2.5 Hz, 19 x [8, 5, 5, 5])."""
    return TokenFileHeader.from_packer(paper_packer(), PAPER_FRAME_RATE_HZ)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Print the vocabulary, bits/token, tokens/s and bit/s of a mixed-radix "
        "packing of FSQ codes (default: the paper configuration).",
    )
    parser.add_argument(
        "--group_levels", type=int, nargs="+", default=list(PAPER_GROUP_LEVELS),
        help="FSQ levels of the dimensions of one token",
    )
    parser.add_argument(
        "--tokens_per_frame", type=int, default=PAPER_TOKENS_PER_FRAME,
        help="tokens (groups) per frame",
    )
    parser.add_argument(
        "--frame_rate_hz", type=float, default=PAPER_FRAME_RATE_HZ, help="frames per second"
    )
    return parser


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """``python -m espnet_echo.codec.packing [--group_levels 8 5 5 5 ...]``."""
    args = get_parser().parse_args(cmd)
    try:
        packer = MixedRadixPacker.uniform(args.group_levels, args.tokens_per_frame)
        print(packer.describe(args.frame_rate_hz))
    except ValueError as e:
        raise SystemExit(f"error: {e}")


if __name__ == "__main__":
    main()
