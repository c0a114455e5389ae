"""Uniform affine quantization primitives, traced in the bit width.

Conventions (the same in the JAX model and in ``jaxgru.model.reference``):

* Every code is *signed*: a ``b``-bit code lies in ``[-2^(b-1), 2^(b-1) - 1]``. Activations are
  asymmetric (scale ``S``, zero point ``Z`` inside that range), so a code that would be unsigned
  (a sigmoid output, say) is simply shifted by ``-2^(b-1)``; every code therefore fits a signed
  int8 and every matmul runs ``int8 x int8 -> int32`` (``docs/design.md``, section 1).
* Weights are symmetric (``Z = 0``) over the narrow range ``[-(2^(b-1) - 1), 2^(b-1) - 1]``.
* Float-to-code rounding (weights, biases, lookup tables, the input) is round-half-to-even, as
  ``jnp.round`` and ``np.round`` do. Integer requantization rounds half up:
  ``floor((acc * m + 2^(s-1)) / 2^s)``; out-of-range results saturate, never wrap.
* A real rescale factor ``M`` becomes a fixed-point pair ``(m, s)``, ``M ~ m * 2^-s`` with
  ``0 <= |m| < 2^15`` and ``1 <= s <= 46`` (see :func:`fixed_point`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

MULT_BITS = 15  # |m| < 2^15: keeps every partial product of `requantize` inside int32
MIN_SHIFT, MAX_SHIFT = 1, 46
EPS = 1e-8  # smallest range a quantizer spans; a constant tensor would otherwise give S = 0
BIAS_LIMIT = 2**29  # integer biases and offsets are clipped here so that accumulators never wrap
# The wide datapath's int64 accumulators hold |acc| < 2^39 from a 16 x 16-bit product over 2^9
# terms; biases and offsets up to 2^46 keep acc * m (m < 2^15) inside int64.
WIDE_BIAS_LIMIT = 2**46


def acc_dtype(wide: bool):
    """Accumulators and biases: int32, or int64 on the wide datapath (codes above 8 bits)."""
    return jnp.int64 if wide else jnp.int32


def code_dtype(wide: bool):
    """Stored codes (weights, shared input-side codes): int8, or int16 on the wide datapath."""
    return jnp.int16 if wide else jnp.int8


def round_int(x: Array, wide: bool = False) -> Array:
    """A real in accumulator units to the accumulator type, rounded half to even and clipped to
    :data:`BIAS_LIMIT` (:data:`WIDE_BIAS_LIMIT` when ``wide``)."""
    limit = WIDE_BIAS_LIMIT if wide else BIAS_LIMIT
    return jnp.clip(jnp.round(x), -limit, limit).astype(acc_dtype(wide))


def code_range(bits: Array) -> tuple[Array, Array]:
    """Signed code range ``(qmin, qmax)`` of a ``bits``-wide code; int32, any shape."""
    bits = jnp.asarray(bits, jnp.int32)
    qmax = jnp.left_shift(1, bits - 1) - 1
    return -qmax - 1, qmax


def affine_params(lo: Array, hi: Array, bits: Array) -> tuple[Array, Array]:
    """Scale and zero point of an asymmetric quantizer covering ``[lo, hi]`` (widened to hold 0).

    Zero is exactly representable, so zero padding and the initial hidden state are exact.
    Returns ``(scale float32, zero_point int32)`` broadcast over the inputs' shapes.
    """
    lo = jnp.minimum(jnp.asarray(lo, jnp.float32), 0.0)
    hi = jnp.maximum(jnp.asarray(hi, jnp.float32), 0.0)
    qmin, qmax = code_range(bits)
    scale = jnp.maximum(hi - lo, EPS) / (qmax - qmin).astype(jnp.float32)
    zero = jnp.clip(qmin - jnp.round(lo / scale).astype(jnp.int32), qmin, qmax)
    return scale, zero


def quantize(x: Array, scale: Array, zero: Array, bits: Array) -> Array:
    """Float to code: ``clip(round(x / S) + Z, qmin, qmax)`` as int32."""
    return quantize_to_range(x, scale, zero, *code_range(bits))


def quantize_to_range(x: Array, scale: Array, zero: Array, qmin: Array, qmax: Array) -> Array:
    """:func:`quantize` with the code range given directly."""
    return jnp.clip(jnp.round(x / scale).astype(jnp.int32) + zero, qmin, qmax)


def quantize_weights(w: Array, bits: Array) -> tuple[Array, Array]:
    """Symmetric per-tensor weight quantization; returns ``(codes int32, scale float32)`` (the
    caller stores the codes as narrowly as its widths allow)."""
    qmax = (jnp.left_shift(1, jnp.asarray(bits, jnp.int32) - 1) - 1).astype(jnp.float32)
    scale = jnp.maximum(jnp.max(jnp.abs(w)), EPS) / qmax
    codes = jnp.clip(jnp.round(w / scale), -qmax, qmax)
    return codes.astype(jnp.int32), scale


def fixed_point(
    multiplier: Array, shift: Array | None = None, *, bits: int = MULT_BITS, max_shift: int = MAX_SHIFT
) -> tuple[Array, Array]:
    """Fixed-point form ``(m, s)`` of a real factor, ``multiplier ~ m * 2^-s``.

    With ``shift=None`` the shift is chosen so that ``|m|`` has ``bits`` bits of precision
    (``2^(bits-1) <= |m| < 2^bits``), then clipped to ``[MIN_SHIFT, max_shift]``; pass ``shift``
    to put several factors on one common shift. ``|m|`` saturates at ``2^bits - 1``.
    Returns int32 arrays of the input's shape.
    """
    multiplier = jnp.asarray(multiplier, jnp.float32)
    if shift is None:
        mag = jnp.maximum(jnp.abs(multiplier), jnp.float32(2.0**-60))
        exponent = jnp.floor(jnp.log2(mag)).astype(jnp.int32)  # mag in [2^e, 2^(e+1))
        shift = bits - 1 - exponent
        # log2 in float32 can be off by one near powers of two: fix m's top bit exactly.
        shift = jnp.where(jnp.abs(jnp.ldexp(mag, shift)) >= 2.0**bits - 0.5, shift - 1, shift)
        shift = jnp.clip(shift, MIN_SHIFT, max_shift)
    limit = 2.0**bits - 1
    m = jnp.clip(jnp.round(jnp.ldexp(multiplier, shift)), -limit, limit).astype(jnp.int32)
    return m, jnp.asarray(shift, jnp.int32)


def rounding_shift(acc: Array, s: Array) -> Array:
    """``floor((acc + 2^(s-1)) / 2^s)`` for ``1 <= s <= 31`` and ``|acc| + 2^(s-1) < 2^31``.

    The cheap case of :func:`requantize` (three int32 operations), for accumulators that the
    caller has bounded: elementwise sums and products of codes.
    """
    return jnp.right_shift(acc + jnp.left_shift(1, s - 1), s)


def requantize_wide(acc: Array, m: Array, s: Array) -> Array:
    """:func:`requantize` for int64 accumulators (the wide datapath, under ``jax.enable_x64``):
    ``|acc| < 2^47`` and ``m < 2^15`` keep ``acc * m`` inside int64, so it is formed directly."""
    acc = jnp.asarray(acc, jnp.int64)
    s = jnp.asarray(s, jnp.int64)
    return jnp.right_shift(acc * jnp.asarray(m, jnp.int64) + jnp.left_shift(jnp.int64(1), s - 1), s)


def requantize(acc: Array, m: Array, s: Array) -> Array:
    """Exact ``floor((acc * m + 2^(s-1)) / 2^s)`` in int32 arithmetic (round half up).

    ``acc`` is any int32, ``0 <= m < 2^15`` and ``1 <= s <= 46`` (broadcastable). The 47-bit
    product is never formed: ``acc`` is split into 16-bit halves. A result too large for int32
    saturates at about ``+-2^30`` (callers clip to a code range anyway), so it never wraps.
    """
    acc = jnp.asarray(acc, jnp.int32)
    m = jnp.asarray(m, jnp.int32)
    s = jnp.asarray(s, jnp.int32)
    hi = jnp.right_shift(acc, 16)  # arithmetic shift: floor division
    lo = jnp.bitwise_and(acc, 0xFFFF)  # in [0, 2^16)
    low_prod = lo * m  # < 2^31
    top = hi * m + jnp.right_shift(low_prod, 16)  # acc * m = top * 2^16 + low_rest
    low_rest = jnp.bitwise_and(low_prod, 0xFFFF)
    # s >= 17: the low 16 bits cannot carry into the result.
    big_s = jnp.maximum(s, 17)
    out_big = jnp.right_shift(top + jnp.left_shift(1, big_s - 17), big_s - 16)
    # s <= 16: top is scaled up; saturate it first so the shift cannot overflow.
    small_s = jnp.minimum(s, 16)
    bound = jnp.left_shift(1, small_s + 14)
    top_sat = jnp.clip(top, -bound, bound - 1)
    rest = jnp.right_shift(low_rest + jnp.left_shift(1, small_s - 1), small_s)
    out_small = jnp.left_shift(top_sat, 16 - small_s) + rest
    return jnp.where(s >= 17, out_big, out_small)


def weight_limbs(codes: Array) -> tuple[Array, Array]:
    """The wide datapath's form of a weight matrix ``codes int[K, N]`` (|codes| < 2^15):
    ``limbs int8[K, 2N]``, its high bytes then its low bytes less 128, and ``c int64[N]``,
    128 times its column sums; :func:`wide_dot` combines them."""
    codes = codes.astype(jnp.int32)
    hi = jnp.right_shift(codes, 8)
    lo = jnp.bitwise_and(codes, 255) - 128
    limbs = jnp.concatenate([hi, lo], axis=-1).astype(jnp.int8)
    return limbs, 128 * jnp.sum(codes.astype(jnp.int64), axis=0)


def wide_dot(a: Array, limbs: Array, c: Array) -> Array:
    """Exact ``a @ w`` as ``int64[..., N]`` for codes ``a: int[..., K]`` and a weight matrix in the
    form of :func:`weight_limbs`, from int8 dots only (``docs/design.md``, "The wide datapath").

    With ``a = 256 a_h + u' + 128`` and ``w = 256 w_h + v' + 128`` (``a_h, u', w_h, v'`` int8),
    ``sum a w = 65536 a_h.w_h + 256 (a_h.v' + u'.w_h) + u'.v' + 128 sum(a - 128) + 128 sum w``.
    Each int8 dot stays below ``2^14 K`` in int32, so this is exact for ``K < 2^17``.
    """
    a = a.astype(jnp.int32)
    n = limbs.shape[-1] // 2
    a_h = jnp.right_shift(a, 8)
    u = jnp.bitwise_and(a, 255) - 128
    d_h = int_dot(a_h, limbs).astype(jnp.int64)  # [..., 2N]: a_h.w_h, a_h.v'
    d_l = int_dot(u, limbs).astype(jnp.int64)  # u'.w_h, u'.v'
    rows = 128 * jnp.sum((a - 128).astype(jnp.int64), axis=-1, keepdims=True)
    return (65536 * d_h[..., :n] + 256 * (d_h[..., n:] + d_l[..., :n]) + d_l[..., n:]) + rows + c


def int_dot(a: Array, b: Array) -> Array:
    """``int8[..., K] @ int8[K, N] -> int32[..., N]`` (exact on every backend)."""
    return jax.lax.dot_general(
        a.astype(jnp.int8), b, (((a.ndim - 1,), (0,)), ((), ())), preferred_element_type=jnp.int32
    )
