"""Variable-length sequences: a batch padded to ``T`` steps with each sequence's length.

A step at or past a sequence's end leaves its carried values unchanged (:func:`hold`), so the
last carry is the one of its last valid step, whatever the padding holds; every backend
(float, calibration, integer, QAT, the NumPy reference) scans with the same rule.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import Array


def hold(valid: Array | None, new: tuple[Array, ...], old: tuple[Array, ...]) -> tuple[Array, ...]:
    """``new`` where ``valid: bool[B]``, else ``old`` (each ``[B, H]``); ``new`` when ``valid`` is ``None``."""
    if valid is None:
        return new
    return tuple(jnp.where(valid[:, None], n, o) for n, o in zip(new, old))


def check_lengths(lengths, n: int, steps: int) -> np.ndarray | None:
    """``lengths`` as ``int32[n]`` in ``1..steps`` (``None`` passes through: every sequence is full)."""
    if lengths is None:
        return None
    arr = np.asarray(lengths)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"lengths must be one per sequence, [{n}]; got shape {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"lengths must be integers, got dtype {arr.dtype}.")
    if len(arr) and (arr.min() < 1 or arr.max() > steps):
        raise ValueError(f"lengths must lie in 1..{steps} (the padded sequence length); got {arr.min()}..{arr.max()}.")
    return arr.astype(np.int32)
