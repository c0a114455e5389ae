"""Post-training calibration: min/max observers on every operator's output and on the input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax import Array

from jaxgru.model.floating import ModelParams, float_step, input_linears, layer_hidden
from jaxgru.model.lengths import check_lengths, hold


@struct.dataclass
class Ranges:
    """Observed ranges: ``x_lo, x_hi`` (scalars) for the input, ``lo, hi: float32[n_ops]`` for
    the outputs of every operator of the stack, in genome order. A state's range is that of the
    operator assigning it (it also holds the initial state 0, which every quantizer represents
    exactly). A deeper layer's input is the layer below's output, coded by its quantizer."""

    x_lo: Array
    x_hi: Array
    lo: Array
    hi: Array


@jax.jit
def _batch_ranges(p: ModelParams, x: Array, lengths: Array | None) -> Ranges:
    """Ranges over the valid steps of ``x: [B, T, I]`` (all of them when ``lengths`` is ``None``)."""
    xs = jnp.swapaxes(x, 0, 1)
    steps = jnp.arange(xs.shape[0])
    valid = None if lengths is None else steps[:, None] < lengths  # [T, B]
    lo_parts, hi_parts = [], []
    for layer, cell in enumerate(p.stack.cells):
        w = p.layer(layer)
        carry0 = tuple(jnp.zeros(xs.shape[1:2] + (layer_hidden(cell, w),), x.dtype) for _ in cell.carry)
        init = (jnp.full((cell.n_ops,), jnp.inf), jnp.full((cell.n_ops,), -jnp.inf))
        out = cell.carry.index(cell.output) if layer < p.stack.layers - 1 else None  # the next layer's input

        def step(state, inputs, cell=cell, w=w, out=out):
            carry, (lo, hi) = state
            x_t, t = inputs
            ok = None if lengths is None else t < lengths
            new, outs = float_step(cell, w, input_linears(cell, w, x_t), carry)
            if ok is not None:  # padding steps are not observed
                outs = tuple(jnp.where(ok[:, None], o, jnp.nan) for o in outs)
            lo = jnp.minimum(lo, jnp.stack([jnp.nanmin(o) for o in outs]))
            hi = jnp.maximum(hi, jnp.stack([jnp.nanmax(o) for o in outs]))
            new = hold(ok, new, carry)
            return (new, (lo, hi)), None if out is None else new[out]

        (_, (lo, hi)), xs_next = jax.lax.scan(step, (carry0, init), (xs, steps))
        lo_parts.append(lo)
        hi_parts.append(hi)
        if layer == 0:
            x_valid = x if valid is None else jnp.where(jnp.swapaxes(valid, 0, 1)[..., None], x, jnp.nan)
            x_lo, x_hi = jnp.nanmin(x_valid), jnp.nanmax(x_valid)
        xs = xs_next
    return Ranges(x_lo=x_lo, x_hi=x_hi, lo=jnp.concatenate(lo_parts), hi=jnp.concatenate(hi_parts))


def calibrate(p: ModelParams, x: np.ndarray, batch_size: int = 1000, lengths=None) -> Ranges:
    """Runs the float model over the calibration set ``x: [N, T, F]`` (``lengths``: each
    sequence's valid steps; the padding is not observed) and returns min/max ranges."""
    if len(x) == 0:
        raise ValueError("calibration set is empty; pass at least one sequence.")
    lengths = check_lengths(lengths, len(x), x.shape[1])
    parts = [_batch_ranges(p, jnp.asarray(x[i : i + batch_size]),
                           None if lengths is None else jnp.asarray(lengths[i : i + batch_size]))
             for i in range(0, len(x), batch_size)]
    return Ranges(
        x_lo=jnp.min(jnp.stack([r.x_lo for r in parts])),
        x_hi=jnp.max(jnp.stack([r.x_hi for r in parts])),
        lo=jnp.min(jnp.stack([r.lo for r in parts]), axis=0),
        hi=jnp.max(jnp.stack([r.hi for r in parts]), axis=0),
    )
