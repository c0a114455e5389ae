"""Export of one quantized model as plain arrays (``.npz``): what a device would store."""

from __future__ import annotations

import io
import os
from pathlib import Path

import jax
import numpy as np

from jaxgru.calibrate import Ranges
from jaxgru.integer import LUT_OPS, lut_value, quantize_gru
from jaxgru.io import atomic_write_bytes
from jaxgru.model import GRUParams
from jaxgru.ops import DEFAULT_IO_BITS, OP_INDEX, OPS, check_genomes, check_io_bits

_quantize_one = jax.jit(quantize_gru)
_INT8_CODES = np.arange(-128, 128, dtype=np.int32)


@jax.jit
def _tables(q) -> jax.Array:
    """``int32[3, 256]``: each lookup table over every int8 input code."""
    return jax.numpy.stack([lut_value(q.scale, q.zero, q.qmin, q.qmax, k, _INT8_CODES) for k in LUT_OPS])


def export_arrays(
    p: GRUParams,
    ranges: Ranges,
    genome,
    input_bits: int = DEFAULT_IO_BITS,
    head_bits: int = DEFAULT_IO_BITS,
) -> dict[str, np.ndarray]:
    """The integer model of one genome as a dict of NumPy arrays.

    Keys are those of :class:`jaxgru.integer.IntGRU`, plus one lookup table per operator,
    ``lut_<k>``, holding the ``2^b`` entries of the input's code range: ``lut_<k>[q - qmin_in]``.
    ``genome``, ``input_bits`` and ``head_bits`` are stored too.
    """
    genome = check_genomes(genome)
    if genome.ndim != 1:
        raise ValueError(f"export takes one genome of shape [17], got shape {genome.shape}.")
    input_bits = check_io_bits(input_bits, name="input_bits")
    head_bits = check_io_bits(head_bits, name="head_bits")
    q = _quantize_one(p, ranges, genome, input_bits, head_bits)
    tables = np.asarray(_tables(q))
    out = {name: np.asarray(getattr(q, name)) for name in q.__dataclass_fields__}
    for table, k in zip(tables, LUT_OPS):
        src = OP_INDEX[OPS[k].inputs[0]]
        lo, hi = int(out["qmin"][src]), int(out["qmax"][src])
        out[f"lut_{k}"] = table[lo - _INT8_CODES[0] : hi - _INT8_CODES[0] + 1]
    out["genome"] = genome
    out["input_bits"] = np.int32(input_bits)
    out["head_bits"] = np.int32(head_bits)
    return out


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """Writes ``arrays`` to ``path`` atomically (a temporary file, then a rename)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def export_npz(path: str | os.PathLike, p: GRUParams, ranges: Ranges, genome, **io_bits) -> Path:
    """:func:`export_arrays` written to ``path``."""
    return save_npz(path, export_arrays(p, ranges, genome, **io_bits))
