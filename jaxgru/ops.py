"""The GRU cell as 17 quantized operators: the genome's layout.

Gene ``k`` of a genome is the bit width (2..8) of operator ``k`` below (DESIGN section 3). A
linear operator's gene sets the width of both its weights and its output; every other
operator's gene sets the width of its output code.

    0 xr = W_ir x + b_ir    6 rp = xr + hr      12 n   = tanh(np)
    1 hr = W_hr h + b_hr    7 r  = sigmoid(rp)  13 omz = 1 - z
    2 xz = W_iz x + b_iz    8 zp = xz + hz      14 a   = omz * n
    3 hz = W_hz h + b_hz    9 z  = sigmoid(zp)  15 b   = z * h
    4 xn = W_in x + b_in   10 rh = r * hn       16 h'  = a + b
    5 hn = W_hn h + b_hn   11 np = xn + rh
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Op(NamedTuple):
    name: str
    kind: str  # "linear" | "add" | "sub1" | "lut_sigmoid" | "lut_tanh" | "mul"
    inputs: tuple[str, ...]  # names of the operands ("x", "h" or another op's name)


OPS: tuple[Op, ...] = (
    Op("xr", "linear", ("x",)),
    Op("hr", "linear", ("h",)),
    Op("xz", "linear", ("x",)),
    Op("hz", "linear", ("h",)),
    Op("xn", "linear", ("x",)),
    Op("hn", "linear", ("h",)),
    Op("rp", "add", ("xr", "hr")),
    Op("r", "lut_sigmoid", ("rp",)),
    Op("zp", "add", ("xz", "hz")),
    Op("z", "lut_sigmoid", ("zp",)),
    Op("rh", "mul", ("r", "hn")),
    Op("np", "add", ("xn", "rh")),
    Op("n", "lut_tanh", ("np",)),
    Op("omz", "sub1", ("z",)),
    Op("a", "mul", ("omz", "n")),
    Op("b", "mul", ("z", "h")),
    Op("h", "add", ("a", "b")),
)
N_OPS = len(OPS)
OP_INDEX = {op.name: i for i, op in enumerate(OPS)}
# The hidden state h is operator 16's output: its code, scale and zero point are that operator's.
H_OP = OP_INDEX["h"]
# Linear operators in gate order (r, z, n): input projections and recurrent projections.
X_LINEAR = (OP_INDEX["xr"], OP_INDEX["xz"], OP_INDEX["xn"])
H_LINEAR = (OP_INDEX["hr"], OP_INDEX["hz"], OP_INDEX["hn"])

MIN_BITS, MAX_BITS = 2, 8
DEFAULT_IO_BITS = 8  # width of the input quantizer and of the dense head


def homogeneous_genomes() -> np.ndarray:
    """The homogeneous genomes ``int32[7, 17]``: every operator at 2, 3, ..., 8 bits."""
    return np.repeat(np.arange(MIN_BITS, MAX_BITS + 1, dtype=np.int32)[:, None], N_OPS, axis=1)


def check_genomes(genomes, *, name: str = "genome") -> np.ndarray:
    """Validates bit-width vectors on the host and returns them as ``int32[..., 17]``.

    Accepts one genome ``[17]`` or a population ``[P, 17]`` of integers in 2..8. Raises
    ``TypeError`` for a non-integer dtype and ``ValueError`` for a wrong shape or width.
    """
    arr = np.asarray(genomes)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(
            f"{name} must hold integer bit widths, got dtype {arr.dtype}; "
            f"pass e.g. np.full(17, 8, dtype=np.int32)."
        )
    if arr.ndim not in (1, 2) or arr.shape[-1] != N_OPS:
        raise ValueError(
            f"{name} must have shape [{N_OPS}] or [P, {N_OPS}] (one bit width per GRU operator, "
            f"in the order of jaxgru.ops.OPS), got shape {arr.shape}."
        )
    bad = (arr < MIN_BITS) | (arr > MAX_BITS)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise ValueError(
            f"{name} bit widths must lie in {MIN_BITS}..{MAX_BITS}; found {int(arr[tuple(where)])} "
            f"at index {tuple(int(i) for i in where)} (operator {OPS[int(where[-1])].name!r})."
        )
    return arr.astype(np.int32)


def check_io_bits(bits: int, *, name: str) -> int:
    """Validates the width of the input or head quantizer (a plain int in 2..8)."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise TypeError(f"{name} must be an int in {MIN_BITS}..{MAX_BITS}, got {bits!r}.")
    if not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"{name} must lie in {MIN_BITS}..{MAX_BITS}, got {bits}.")
    return int(bits)
