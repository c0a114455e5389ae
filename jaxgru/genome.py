"""Genomes: one bit width per operator of a cell, in the cell's declaration order.

``cell.op_names`` names the genes (``jaxgru.cells``); ``docs/design.md`` lists every cell's.
"""

from __future__ import annotations

import numpy as np

from jaxgru.cell import Cell

MIN_BITS, MAX_BITS = 2, 8
DEFAULT_IO_BITS = 8  # width of the input quantizer and of the dense head


def homogeneous_genomes(cell: Cell) -> np.ndarray:
    """The homogeneous genomes ``int32[7, n_ops]``: every operator at 2, 3, ..., 8 bits."""
    return np.repeat(np.arange(MIN_BITS, MAX_BITS + 1, dtype=np.int32)[:, None], cell.n_ops, axis=1)


def check_genomes(genomes, cell: Cell, *, name: str = "genome") -> np.ndarray:
    """Validates bit-width vectors on the host and returns them as ``int32[..., n_ops]``.

    Accepts one genome ``[n_ops]`` or a population ``[P, n_ops]`` of integers in 2..8. Raises
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
            f"{tuple(int(i) for i in where)} (operator {cell.op_names[int(where[-1])]!r} of the {cell.name} cell)."
        )
    return arr.astype(np.int32)


def check_io_bits(bits: int, *, name: str) -> int:
    """Validates the width of the input or head quantizer (a plain int in 2..8)."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise TypeError(f"{name} must be an int in {MIN_BITS}..{MAX_BITS}, got {bits!r}.")
    if not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"{name} must lie in {MIN_BITS}..{MAX_BITS}, got {bits}.")
    return int(bits)
