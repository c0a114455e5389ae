"""Export of one quantized model as plain arrays (``.npz``): what a device would store.

Every array is named after the operator that owns it (``w_<op>``, ``b_<op>``, ``v_<op>``,
``lut_<op>``), so a port reads the cell's declaration and finds each operator's data by name. In
a stack of several layers each layer's arrays carry its prefix (``l0.w_xr``, ``l1.zero``); the
input quantizer and the head are the model's own.
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxgru.cells.genome import DEFAULT_IO_BITS, check_genomes, check_io_bits, check_thresholds, is_wide
from jaxgru.files import atomic_write_bytes
from jaxgru.model.calibrate import Ranges
from jaxgru.model.floating import ModelParams, check_params, owned
from jaxgru.model.integer import op_codes, quantize
from jaxgru.ops.kinds import KINDS

_quantize_one = jax.jit(quantize, static_argnames="wide")
# Per-operator fields of the integer model, stored as int32[n_ops] (scale as float32).
PER_OP = ("zero", "qmin", "qmax", "mult", "shift", "mult_a", "mult_b", "offset", "scale")
SCALARS = ("x_inv_scale", "x_zero", "x_qmin", "x_qmax", "x_scale")  # the first layer's input quantizer


@functools.partial(jax.jit, static_argnums=(1, 2))
def _table(q, k: int, n_codes: int) -> jax.Array:
    """``int32[n_codes]``: operator ``k``'s lookup table over its input's codes, from ``qmin`` up
    (its kind's ``evaluate`` on every code)."""
    (src,) = q.cell.operand_ops[k]
    return op_codes(q, k, q.qmin[src] + jnp.arange(n_codes, dtype=jnp.int32))


def export_arrays(
    p: ModelParams,
    ranges: Ranges,
    genome,
    input_bits: int = DEFAULT_IO_BITS,
    head_bits: int = DEFAULT_IO_BITS,
    thresholds=None,
) -> dict[str, np.ndarray]:
    """The integer model of one genome as a dict of NumPy arrays.

    ``cell`` (the stack's name, e.g. ``gru`` or ``gru+gru``), ``genome``, ``input_bits``,
    ``head_bits``; the input quantizer (``x_inv_scale``, ``x_zero``, ``x_qmin``, ``x_qmax``);
    per operator ``int32[n_ops]`` arrays ``zero``, ``qmin``, ``qmax``, ``mult``, ``shift``,
    ``mult_a``, ``mult_b``, ``offset`` (and ``scale`` for reporting); per linear operator ``w_<op>
    int8[in, H]`` and ``b_<op> int32[H]``
    (input zero point folded in); per ``scale`` operator ``v_<op> int8[H]``; per table operator
    ``lut_<op>``, the ``2^b`` entries of its input's code range, ``lut_<op>[q - qmin_in]``; the
    head ``wd int8[H, C]``, ``bd int32[C]`` and ``logit_scale``. Every per-layer array is named
    with its layer's prefix (``Stack.prefix``). A genome with a width above 8 bits exports the
    wide datapath's types: weights ``int16``, biases and ``offset`` ``int64``. With delta
    ``thresholds`` (one gene per source of every layer, ``Stack.delta_sources``), each source's
    threshold in codes ``theta_<source>`` (int32) and the genes as ``thresholds``.
    """
    stack = check_params(p).stack
    genome = check_genomes(genome, stack)
    if genome.ndim != 1:
        raise ValueError(f"export takes one genome of shape [{stack.n_ops}] ({stack.name}), "
                         f"got shape {genome.shape}.")
    input_bits = check_io_bits(input_bits, name="input_bits")
    head_bits = check_io_bits(head_bits, name="head_bits")
    wide = is_wide(np.concatenate([genome, [input_bits, head_bits]]))
    if thresholds is not None:
        thresholds = check_thresholds(thresholds, stack)
        if thresholds.ndim != 1:
            raise ValueError(f"export takes one set of thresholds [{len(stack.delta_sources)}], "
                             f"got {thresholds.shape}.")
    with jax.enable_x64(wide):
        q = _quantize_one(p, ranges, genome, input_bits, head_bits, wide=wide, thresholds=thresholds)
        out = {name: np.asarray(getattr(q.layers[0], name)) for name in SCALARS}
        for layer, (cell, ql) in enumerate(zip(stack.cells, q.layers)):
            pre = stack.prefix(layer)
            per_op = {name: np.asarray(getattr(ql, name)) for name in PER_OP}
            for k in (k for k, op in enumerate(cell.ops) if KINDS[op.kind].table is not None):
                (src,) = cell.operand_ops[k]
                n_codes = int(per_op["qmax"][src]) - int(per_op["qmin"][src]) + 1
                out[f"{pre}lut_{cell.ops[k].name}"] = np.asarray(_table(ql, k, n_codes))
            out.update({pre + name: v for name, v in per_op.items()})
            if ql.theta is not None:
                out.update({f"{pre}theta_{src}": np.asarray(t) for src, t in zip(cell.sources, ql.theta)})
            for k, op in enumerate(cell.ops):  # every operator's own parameters, by its kind's `owns`
                for name, value in owned(cell, ql.arrays, k, ql.hidden).items():
                    out[f"{pre}{name}_{op.name}"] = np.asarray(value)
        out["wd"], out["bd"] = np.asarray(q.head["wd"]), np.asarray(q.head["bd"])
        out["logit_scale"] = np.asarray(q.logit_scale)
    out["cell"] = np.array(stack.name)
    out["genome"] = genome
    if thresholds is not None:
        out["thresholds"] = thresholds
    out["input_bits"] = np.int32(input_bits)
    out["head_bits"] = np.int32(head_bits)
    return out


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """Writes ``arrays`` to ``path`` atomically (a temporary file, then a rename)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def export_npz(path: str | os.PathLike, p: ModelParams, ranges: Ranges, genome, **settings) -> Path:
    """:func:`export_arrays` written to ``path`` (``settings``: its keyword arguments)."""
    return save_npz(path, export_arrays(p, ranges, genome, **settings))
