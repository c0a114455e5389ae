"""Export of one quantized model as plain arrays (``.npz``): what a device would store."""

from __future__ import annotations

import io
import os
from pathlib import Path

import jax
import numpy as np

from jaxgru.calibrate import Ranges
from jaxgru.integer import LUT_OPS, LUT_SIZE, quantize_gru
from jaxgru.io import atomic_write_bytes
from jaxgru.model import GRUParams
from jaxgru.ops import DEFAULT_IO_BITS, OP_INDEX, OPS, check_genomes, check_io_bits

_quantize_one = jax.jit(quantize_gru)


def export_arrays(
    p: GRUParams,
    ranges: Ranges,
    genome,
    input_bits: int = DEFAULT_IO_BITS,
    head_bits: int = DEFAULT_IO_BITS,
) -> dict[str, np.ndarray]:
    """The integer model of one genome as a dict of NumPy arrays.

    Keys are those of :class:`jaxgru.integer.IntGRU` except ``lut``, which becomes one table
    per operator, ``lut_<k>``, holding only the ``2^b`` entries of the input's code range:
    ``lut_<k>[q - qmin_in]``. ``genome``, ``input_bits`` and ``head_bits`` are stored too.
    """
    genome = check_genomes(genome)
    if genome.ndim != 1:
        raise ValueError(f"export takes one genome of shape [17], got shape {genome.shape}.")
    input_bits = check_io_bits(input_bits, name="input_bits")
    head_bits = check_io_bits(head_bits, name="head_bits")
    q = jax.device_get(_quantize_one(p, ranges, genome, input_bits, head_bits))
    out = {name: np.asarray(getattr(q, name)) for name in q.__dataclass_fields__ if name != "lut"}
    for i, k in enumerate(LUT_OPS):
        src = OP_INDEX[OPS[k].inputs[0]]
        lo, hi = int(out["qmin"][src]), int(out["qmax"][src])
        out[f"lut_{k}"] = np.asarray(q.lut[i])[lo + LUT_SIZE // 2 : hi + LUT_SIZE // 2 + 1]
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
