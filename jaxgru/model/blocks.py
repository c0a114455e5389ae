"""How a population runs on one device: vmapped blocks of specimens, one block after another.

Specimens never interact, so any split of the population gives the same result; the split only
decides speed and memory. On XLA's CPU backend a batched (vmapped) matmul runs on one thread
while a plain matmul uses every core, so there small blocks are faster: measured on 2 cores,
scoring in blocks of 8 was never slower than the whole population at once and up to 1.6x faster
(GRU(256), P=256), and QAT in blocks of 2 was 1.8-1.9x faster (docs/benchmarks.md).
Elsewhere (GPU, TPU) the whole population runs side by side, as far as memory allows; those
defaults are not measured here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import jax

Block = int | None | Literal["auto"]
CPU_EVAL_BLOCK = 8
CPU_QAT_BLOCK = 2


def map_blocks(fn: Callable, xs, block: int | None):
    """``fn`` over the leading axis of the pytree ``xs``: ``block`` items vmapped at a time, the
    blocks in sequence (``lax.map``; a last, smaller block takes the remainder). ``block=None``
    (or ``>=`` the number of items) vmaps them all at once. ``block`` is static."""
    n = jax.tree.leaves(xs)[0].shape[0]
    if block is None or block >= n:
        return jax.vmap(fn)(xs)
    return jax.lax.map(fn, xs, batch_size=block)


def resolve_block(block: Block, cpu: int, elsewhere: int | None = None) -> int | None:
    """The block size that ``block`` asks for: a positive int or ``None`` (all at once) as given;
    ``"auto"``: ``cpu`` on the CPU backend, ``elsewhere`` on any other. Refuses anything else."""
    if block == "auto":
        return cpu if jax.default_backend() == "cpu" else elsewhere
    if block is None or (isinstance(block, int) and not isinstance(block, bool) and block >= 1):
        return block
    raise ValueError(f'block must be a positive number of specimens, None (all at once) or "auto"; got {block!r}.')
