"""Pareto dominance, fronts and hypervolume: the one definition NSGA-II, the reports and the
studies share.

Every objective is minimized. The functions take NumPy arrays (exact float64 on the host: reports,
studies) or JAX arrays (traced inside the jitted search) and compute the same thing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array


def _xp(a):
    """NumPy for NumPy arrays (float64 on the host), ``jax.numpy`` for everything else."""
    return np if isinstance(a, np.ndarray) else jnp


def dominates(a, b):
    """``D[i, j]``: row ``i`` of ``a [K, M]`` Pareto-dominates row ``j`` of ``b [N, M]`` (every
    objective minimized): no worse in all, better in one. NumPy in, NumPy out; JAX in, JAX out."""
    xp = _xp(a)
    a, b = a[:, None, :], b[None, :, :]
    return xp.all(a <= b, axis=-1) & xp.any(a < b, axis=-1)


def dominance_matrix(fitness: Array, violation: Array | None = None) -> Array:
    """``D[i, j]``: specimen ``i`` (constrained-)dominates ``j``, ``fitness: [N, M]`` minimized.
    With ``violation [N]`` (``<= 0`` feasible), Deb's rule: feasible beats infeasible, and of
    two infeasible the smaller violation wins."""
    dom = dominates(fitness, fitness)
    if violation is None:
        return dom
    xp = _xp(fitness)
    v_i, v_j = violation[:, None], violation[None, :]
    both_feasible = (v_i <= 0) & (v_j <= 0)
    return xp.where(both_feasible, dom, v_i < v_j)


def _pack_bits(mask: Array) -> Array:
    """``bool[N, N]`` to ``uint32[N, ceil(N / 32)]``: bit ``b`` of word ``w`` of row ``i`` is
    ``mask[i, 32 w + b]``."""
    n = mask.shape[1]
    words = -(-n // 32)
    mask = jnp.pad(mask, ((0, 0), (0, 32 * words - n))).reshape(mask.shape[0], words, 32)
    return jnp.sum(mask.astype(jnp.uint32) << jnp.arange(32, dtype=jnp.uint32), axis=-1, dtype=jnp.uint32)


def _unpack_bits(words: Array, n: int) -> Array:
    """``uint32[W]`` to ``bool[n]``, the inverse of :func:`_pack_bits` for one row."""
    return ((words[:, None] >> jnp.arange(32, dtype=jnp.uint32)) & 1).astype(bool).reshape(-1)[:n]


def non_dominated_rank(
    fitness: Array, violation: Array | None = None, n_stop: int | None = None
) -> Array:
    """Front index of each specimen (0 = non-dominated), ``int32[N]``.

    Fronts are peeled one at a time; with ``n_stop`` the peeling ends once that many specimens
    are ranked and the rest get rank ``N`` (what survival needs, as pymoo's ``n_stop_if_ranked``).
    The dominance matrix is packed 32 specimens to a word, so each front costs an OR over
    ``N x N / 32`` words instead of a float ``N x N`` matrix-vector product.
    """
    n = fitness.shape[0]
    n_stop = n if n_stop is None else n_stop
    dom = _pack_bits(dominance_matrix(fitness, violation))  # [N, W]

    def cond(carry):
        k, rank = carry
        return (jnp.sum(rank < n) < n_stop) & (k < n)

    def body(carry):
        k, rank = carry
        rows = jnp.where((rank == n)[:, None], dom, jnp.uint32(0))  # rows of unranked specimens
        hit = jax.lax.reduce(rows, jnp.uint32(0), jax.lax.bitwise_or, (0,))
        front = (rank == n) & ~_unpack_bits(hit, n)  # unranked, dominated by no unranked one
        return k + 1, jnp.where(front, k, rank)

    _, rank = jax.lax.while_loop(cond, body, (jnp.int32(0), jnp.full(n, n, jnp.int32)))
    return rank


def dominated_by(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    """``bool[N]``: whether some row of ``others [K, M]`` dominates each row of ``points [N, M]``."""
    return np.asarray(dominates(np.asarray(others), np.asarray(points)).any(axis=0))


def pareto_mask(f: np.ndarray) -> np.ndarray:
    """``bool[N]``: the non-dominated rows of ``f [N, M]``; of equal rows only the first is kept.
    Two objectives take an ``O(N log N)`` sweep (an exhaustively scored space has ~10^4 rows)."""
    f = np.asarray(f, np.float64)
    keep = np.zeros(len(f), bool)
    if f.shape[1] == 2:
        best = np.inf
        for i in np.lexsort((f[:, 0], f[:, 1])):  # by the second objective, then the first (stable)
            if f[i, 0] < best:
                keep[i], best = True, f[i, 0]
        return keep
    _, first = np.unique(f, axis=0, return_index=True)
    keep[first] = True
    return keep & ~dominated_by(f, f)


def pareto_front(f: np.ndarray) -> np.ndarray:
    """Indices of :func:`pareto_mask`'s rows, sorted by the second objective then the first."""
    f = np.asarray(f, np.float64)
    idx = np.flatnonzero(pareto_mask(f))
    return idx[np.lexsort((f[idx, 0], f[idx, 1]))]


def hypervolume_2d(fitness: Array, ref: Array, mask: Array | None = None) -> Array:
    """Exact area dominated by the (masked) points of ``fitness: [N, 2]`` and bounded by ``ref``."""
    f = jnp.minimum(fitness, ref)  # points beyond the reference add nothing
    if mask is not None:
        f = jnp.where(mask[:, None], f, ref)
    order = jnp.lexsort((f[:, 1], f[:, 0]))
    x, y = f[order, 0], f[order, 1]
    best_y = jax.lax.cummin(y)
    widths = jnp.concatenate([x[1:], ref[:1]]) - x
    return jnp.sum(widths * (ref[1] - best_y))


def hypervolume_3d(fitness: Array, ref: Array, mask: Array | None = None) -> Array:
    """Exact volume dominated by the (masked) points of ``fitness: [N, 3]`` and bounded by ``ref``.

    Slices along the third objective: between consecutive values of it, the dominated region's
    cross-section is the 2-D hypervolume of the points at or below the slice. ``O(N^2 log N)``,
    vmapped over the ``N`` slices."""
    f = jnp.minimum(fitness, ref)
    if mask is not None:
        f = jnp.where(mask[:, None], f, ref)
    z = jnp.sort(f[:, 2])
    depth = jnp.concatenate([z[1:], ref[2:]]) - z  # slab i spans [z_i, z_{i+1})
    area = jax.vmap(lambda zi: hypervolume_2d(f[:, :2], ref[:2], f[:, 2] <= zi))(z)
    return jnp.sum(area * depth)


def hypervolume(fitness: Array, ref: Array, mask: Array | None = None) -> Array:
    """Exact hypervolume for 2 or 3 objectives; ``nan`` for more (not computed)."""
    m = fitness.shape[-1]
    if m == 2:
        return hypervolume_2d(fitness, ref, mask)
    if m == 3:
        return hypervolume_3d(fitness, ref, mask)
    return jnp.float32(jnp.nan)


def archive_hypervolume(f, ends: list[int], ref=None) -> list[float]:
    """Hypervolume of the first ``n`` rows of ``f [E, M]`` for each ``n`` in ``ends`` (one
    compiled call shape: the rows past ``n`` are masked); ``ref`` defaults to all ones."""
    fj = jnp.asarray(f, jnp.float32)
    ref = jnp.ones(fj.shape[1], jnp.float32) if ref is None else jnp.asarray(ref, jnp.float32)
    idx = jnp.arange(len(fj))
    return [float(hypervolume(fj, ref, idx < n)) for n in ends]
