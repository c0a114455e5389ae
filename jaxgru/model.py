"""The float GRU classifier: GRU(H) -> dense -> softmax, as a Flax NNX module.

The arithmetic lives in pure functions over :class:`GRUParams` so that calibration, the
integer model and quantization-aware training all read the same weights. Gate order in the
stacked kernels is (r, z, n), as in ``jaxgru.ops``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx, struct
from jax import Array


@struct.dataclass
class GRUParams:
    """Float weights of the classifier; kernels are ``[in, out]``.

    wx: ``[I, 3H]`` input kernels of operators 0, 2, 4 (r, z, n); bx: ``[3H]``.
    wh: ``[H, 3H]`` recurrent kernels of operators 1, 3, 5; bh: ``[3H]``.
    wd: ``[H, C]`` dense head; bd: ``[C]``.
    """

    wx: Array
    bx: Array
    wh: Array
    bh: Array
    wd: Array
    bd: Array

    @property
    def hidden(self) -> int:
        return self.wh.shape[0]


def gru_cell(p: GRUParams, x: Array, h: Array) -> tuple[Array, tuple[Array, ...]]:
    """One float GRU step, ``x: [..., I]``, ``h: [..., H]``.

    Returns the new state and the 17 operator outputs in ``jaxgru.ops`` order (the last is
    the new state itself), which is what calibration observes.
    """
    xr, xz, xn = jnp.split(x @ p.wx + p.bx, 3, axis=-1)
    hr, hz, hn = jnp.split(h @ p.wh + p.bh, 3, axis=-1)
    rp = xr + hr
    r = jax.nn.sigmoid(rp)
    zp = xz + hz
    z = jax.nn.sigmoid(zp)
    rh = r * hn
    np_ = xn + rh
    n = jnp.tanh(np_)
    omz = 1.0 - z
    a = omz * n
    b = z * h
    h_new = a + b
    return h_new, (xr, hr, xz, hz, xn, hn, rp, r, zp, z, rh, np_, n, omz, a, b, h_new)


def gru_logits(p: GRUParams, x: Array) -> Array:
    """Float logits ``[B, C]`` of a batch of sequences ``x: [B, T, I]``."""
    h0 = jnp.zeros(x.shape[:1] + (p.hidden,), x.dtype)

    def step(h, x_t):
        return gru_cell(p, x_t, h)[0], None

    h, _ = jax.lax.scan(step, h0, jnp.swapaxes(x, 0, 1))
    return h @ p.wd + p.bd


class GRUClassifier(nnx.Module):
    """GRU(hidden) -> dense(classes); softmax is left to the loss."""

    def __init__(self, n_in: int, hidden: int, n_classes: int, *, rngs: nnx.Rngs):
        self.x_proj = nnx.Linear(n_in, 3 * hidden, rngs=rngs)
        self.h_proj = nnx.Linear(
            hidden, 3 * hidden, kernel_init=nnx.initializers.orthogonal(), rngs=rngs
        )
        self.head = nnx.Linear(hidden, n_classes, rngs=rngs)

    def params(self) -> GRUParams:
        return GRUParams(
            wx=self.x_proj.kernel[...],
            bx=self.x_proj.bias[...],
            wh=self.h_proj.kernel[...],
            bh=self.h_proj.bias[...],
            wd=self.head.kernel[...],
            bd=self.head.bias[...],
        )

    def __call__(self, x: Array) -> Array:
        return gru_logits(self.params(), x)
