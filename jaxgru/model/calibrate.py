"""Post-training calibration: min/max observers on every operator's output and on the input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax import Array

from jaxgru.model.floating import CellParams, float_step, input_linears


@struct.dataclass
class Ranges:
    """Observed ranges: ``x_lo, x_hi`` (scalars) for the input, ``lo, hi: float32[n_ops]`` for
    the outputs of the cell's operators. A state's range is that of the operator assigning it
    (it also holds the initial state 0, which every quantizer represents exactly)."""

    x_lo: Array
    x_hi: Array
    lo: Array
    hi: Array


@jax.jit
def _batch_ranges(p: CellParams, x: Array) -> Ranges:
    cell = p.cell
    carry0 = tuple(jnp.zeros(x.shape[:1] + (p.hidden,), x.dtype) for _ in cell.carry)
    init = (jnp.full((cell.n_ops,), jnp.inf), jnp.full((cell.n_ops,), -jnp.inf))

    def step(state, x_t):
        carry, (lo, hi) = state
        carry, outs = float_step(cell, p.arrays, input_linears(cell, p.arrays, x_t), carry)
        lo = jnp.minimum(lo, jnp.stack([o.min() for o in outs]))
        hi = jnp.maximum(hi, jnp.stack([o.max() for o in outs]))
        return (carry, (lo, hi)), None

    (_, (lo, hi)), _ = jax.lax.scan(step, (carry0, init), jnp.swapaxes(x, 0, 1))
    return Ranges(x_lo=x.min(), x_hi=x.max(), lo=lo, hi=hi)


def calibrate(p: CellParams, x: np.ndarray, batch_size: int = 1000) -> Ranges:
    """Runs the float model over the calibration set ``x: [N, T, F]`` and returns min/max ranges."""
    if len(x) == 0:
        raise ValueError("calibration set is empty; pass at least one sequence.")
    parts = [_batch_ranges(p, jnp.asarray(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
    return Ranges(
        x_lo=jnp.min(jnp.stack([r.x_lo for r in parts])),
        x_hi=jnp.max(jnp.stack([r.x_hi for r in parts])),
        lo=jnp.min(jnp.stack([r.lo for r in parts]), axis=0),
        hi=jnp.max(jnp.stack([r.hi for r in parts]), axis=0),
    )
