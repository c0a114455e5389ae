"""Genomes: one bit width per operator of a cell, in the cell's declaration order, drawn from a
set of widths (a platform's, ``docs/design.md``, "Width sets").

``cell.op_names`` names the genes (``jaxgru.cells``); ``docs/design.md`` lists every cell's.
The search works on *indices* into a :class:`Widths` set, so crossover and mutation can only
ever produce widths of the set; everything stored or scored is the widths themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaxgru.cells.declaration import Cell
from jaxgru.cells.stack import Stack

MIN_BITS, MAX_BITS = 2, 16  # any width the integer datapath computes exactly
NARROW_BITS = 8  # up to here every matmul is int8 x int8 -> int32; wider codes take the wide path
DEFAULT_IO_BITS = 8  # width of the input quantizer and of the dense head
# Delta thresholds (``docs/design.md``, "Delta networks"): a gene ``t`` in 0..MAX_THRESHOLD means
# ``t / THRESHOLD_STEPS`` of its source's code range (``t * 2^b >> 5`` codes at b bits), so it keeps
# its meaning when the source's width changes; 0 is the dense model.
MAX_THRESHOLD, THRESHOLD_STEPS = 7, 32


@dataclass(frozen=True)
class Widths:
    """An ordered set of bit widths within ``MIN_BITS..MAX_BITS`` that genes draw from."""

    values: tuple[int, ...]

    def __post_init__(self):
        vals = tuple(self.values)
        if not vals or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in vals):
            raise ValueError(f"a width set needs one or more integer widths, got {self.values!r}.")
        bad = [int(v) for v in vals if not MIN_BITS <= v <= MAX_BITS]
        if bad:
            raise ValueError(f"widths must lie in {MIN_BITS}..{MAX_BITS}; got {bad} in {list(vals)}.")
        object.__setattr__(self, "values", tuple(sorted({int(v) for v in vals})))

    @classmethod
    def parse(cls, text: str) -> Widths:
        """``"2-8"``, ``"4,8,16"``, both (``"2-8,16"``: 2..8 and 16) or a platform name
        (:data:`PLATFORM_WIDTHS`)."""
        text = text.strip().lower()
        if text in PLATFORM_WIDTHS:
            return PLATFORM_WIDTHS[text]
        values: list[int] = []
        try:
            for item in text.split(","):
                lo, _, hi = item.partition("-")
                values += range(int(lo), int(hi) + 1) if hi else [int(lo)]
        except ValueError:
            raise ValueError(f"cannot read the width set {text!r}: give a range such as 2-8, a list such as "
                             f"4,8,16, both (2-8,16), or one of {sorted(PLATFORM_WIDTHS)}.") from None
        return cls(tuple(values))

    def __str__(self) -> str:
        runs: list[list[int]] = []  # maximal runs of consecutive widths
        for v in self.values:
            if runs and v == runs[-1][-1] + 1:
                runs[-1].append(v)
            else:
                runs.append([v])
        return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ",".join(map(str, r)) for r in runs)

    def __len__(self) -> int:
        return len(self.values)

    @property
    def wide(self) -> bool:
        """Whether some width needs the wide (int64-accumulating) datapath."""
        return self.values[-1] > NARROW_BITS

    def decode(self, genes) -> np.ndarray:
        """Widths of gene indices ``int[..., D]`` (what the search evolves)."""
        return np.asarray(self.values, np.int32)[np.asarray(genes)]

    def encode(self, widths) -> np.ndarray:
        """Gene indices of ``widths``; every width must belong to the set."""
        widths = np.asarray(widths)
        table = np.full(MAX_BITS + 1, -1, np.int32)
        table[list(self.values)] = np.arange(len(self.values), dtype=np.int32)
        idx = table[np.clip(widths, 0, MAX_BITS)]
        if (idx < 0).any() or (widths > MAX_BITS).any():
            raise ValueError(f"widths {sorted(set(np.asarray(widths).ravel().tolist()))} are not all in the set "
                             f"{self}.")
        return idx

    def homogeneous(self, cell: Cell | Stack) -> np.ndarray:
        """The homogeneous genomes ``int32[len(set), n_ops]``: every operator at each width, narrowest first."""
        return np.repeat(np.asarray(self.values, np.int32)[:, None], cell.n_ops, axis=1)


DEFAULT_WIDTHS = Widths(tuple(range(2, 9)))
# The width sets of MOHAQ's platforms: SiLago computes at 4, 8 or 16 bits, Bitfusion fuses 2-bit bricks.
PLATFORM_WIDTHS = {"default": DEFAULT_WIDTHS, "silago": Widths((4, 8, 16)), "bitfusion": Widths((2, 4, 8, 16))}


def homogeneous_genomes(cell: Cell | Stack, widths: Widths = DEFAULT_WIDTHS) -> np.ndarray:
    """The homogeneous genomes of ``widths`` (default 2..8): ``int32[len(widths), n_ops]``."""
    return widths.homogeneous(cell)


def check_genomes(genomes, cell: Cell | Stack, *, name: str = "genome") -> np.ndarray:
    """Validates bit-width vectors on the host and returns them as ``int32[..., n_ops]``.

    Accepts one genome ``[n_ops]`` or a population ``[P, n_ops]`` of integers in 2..16. Raises
    ``TypeError`` for a non-integer dtype and ``ValueError`` for a wrong shape or width; the
    message names the cell and the length it expects.
    """
    arr = np.asarray(genomes)
    n = cell.n_ops
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(
            f"{name} must hold integer bit widths, got dtype {arr.dtype}; "
            f"pass e.g. np.full({n}, 8, dtype=np.int32) for the {cell.name} cell."
        )
    if arr.ndim not in (1, 2) or arr.shape[-1] != n:
        raise ValueError(
            f"{name} must have shape [{n}] or [P, {n}] for the {cell.name} cell (one bit width per operator: "
            f"{', '.join(cell.op_names)}), got shape {arr.shape}."
        )
    bad = (arr < MIN_BITS) | (arr > MAX_BITS)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise ValueError(
            f"{name} bit widths must lie in {MIN_BITS}..{MAX_BITS}; found {int(arr[tuple(where)])} at index "
            f"{tuple(int(i) for i in where)} (operator {cell.op_names[int(where[-1])]!r} of {cell.name})."
        )
    return arr.astype(np.int32)


def is_wide(genomes) -> bool:
    """Whether any width of ``genomes`` needs the wide datapath (host-side, static)."""
    return bool(np.asarray(genomes).size) and int(np.max(genomes)) > NARROW_BITS


def check_io_bits(bits: int, *, name: str) -> int:
    """Validates the width of the input or head quantizer (a plain int in 2..16)."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise TypeError(f"{name} must be an int in {MIN_BITS}..{MAX_BITS}, got {bits!r}.")
    if not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"{name} must lie in {MIN_BITS}..{MAX_BITS}, got {bits}.")
    return int(bits)


def check_thresholds(thresholds, stack: Stack, *, name: str = "thresholds") -> np.ndarray:
    """Validates delta thresholds: one gene in ``0..MAX_THRESHOLD`` per delta source of
    ``stack`` (``stack.threshold_names``), ``[n_delta]`` or ``[P, n_delta]``; returns int32."""
    arr = np.asarray(thresholds)
    n = len(stack.delta_sources)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integers in 0..{MAX_THRESHOLD}, got dtype {arr.dtype}.")
    if arr.ndim not in (1, 2) or arr.shape[-1] != n:
        raise ValueError(f"{name} must have shape [{n}] or [P, {n}] for {stack.name} (one per delta source: "
                         f"{', '.join(stack.threshold_names)}), got shape {arr.shape}.")
    bad = (arr < 0) | (arr > MAX_THRESHOLD)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise ValueError(f"{name} must lie in 0..{MAX_THRESHOLD} (units of 1/{THRESHOLD_STEPS} of the source's "
                         f"code range); found {int(arr[tuple(where)])} for {stack.threshold_names[int(where[-1])]!r}.")
    return arr.astype(np.int32)
