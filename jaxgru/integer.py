"""The integer-only GRU: per-operator bit widths taken from a traced genome.

:func:`quantize_gru` turns float weights, calibrated ranges and one genome ``int32[17]`` into an
:class:`IntGRU` of integer weights, fixed-point multipliers and zero points (which also define
the sigmoid/tanh lookup tables, :func:`lut_value`), all computed in-graph, so ``jax.vmap``
over genomes quantizes a whole population without recompiling. :func:`int_logits` runs the
integer model; every matmul is ``int8 x int8 -> int32`` and every other operator is int32
arithmetic (``jaxgru.quant``).
``jaxgru.reference`` is the plain NumPy twin that must agree with it bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import struct
from jax import Array

from jaxgru.calibrate import Ranges
from jaxgru.model import GRUParams
from jaxgru.ops import H_LINEAR, H_OP, MIN_BITS, N_OPS, OP_INDEX, OPS, X_LINEAR
from jaxgru.quant import (
    affine_params,
    code_range,
    fixed_point,
    quantize_to_range,
    quantize_weights,
    requantize,
    rounding_shift,
)

LUT_OPS = (OP_INDEX["r"], OP_INDEX["z"], OP_INDEX["n"])
BIAS_LIMIT = 2**29  # integer biases and offsets are clipped here so that accumulators never wrap
# Elementwise operators rescale with 14-bit multipliers and shifts <= 31: their accumulators
# (|code - zero| <= 255, so a product is < 2^16 and a sum term < 2^22) then stay inside int32
# through `rounding_shift`, the three-instruction form of requantization.
ELEM_MULT_BITS, ELEM_MAX_SHIFT = 14, 31
LUT_FUNCTIONS = {"lut_sigmoid": jax.nn.sigmoid, "lut_tanh": jnp.tanh}


@struct.dataclass
class IntGRU:
    """One quantized model (add a leading axis ``[P]`` for a population).

    ``bits``: the genome ``int32[17]`` it was made from.
    Input quantizer: ``x_inv_scale`` (float32), ``x_zero``, ``x_qmin``, ``x_qmax``.
    Linear layers: ``wx int8[I, 3H]``, ``wh int8[H, 3H]``, ``wd int8[H, C]`` and int32 biases
    ``bx[3H]``, ``bh[3H]``, ``bd[C]`` with the input zero point folded in, so that
    ``acc = codes @ w + b`` directly.
    Per operator (``[17]``): output ``zero``/``qmin``/``qmax``; ``mult``/``shift`` of the
    requantization; for sums ``mult_a``/``mult_b``/``offset`` (``acc = offset + mult_a*qa +
    mult_b*qb`` is then shifted by ``shift``). The tables of operators 7, 9, 12 are not stored:
    :func:`lut_value` defines them from these fields. ``scale float32[17]``, ``x_scale`` and ``logit_scale`` map codes
    back to reals (reporting only; inference never uses them).
    """

    bits: Array
    x_inv_scale: Array
    x_zero: Array
    x_qmin: Array
    x_qmax: Array
    wx: Array
    bx: Array
    wh: Array
    bh: Array
    wd: Array
    bd: Array
    zero: Array
    qmin: Array
    qmax: Array
    mult: Array
    shift: Array
    mult_a: Array
    mult_b: Array
    offset: Array
    scale: Array
    x_scale: Array
    logit_scale: Array


def _round_int(x: Array, limit: int = BIAS_LIMIT) -> Array:
    return jnp.clip(jnp.round(x), -limit, limit).astype(jnp.int32)


def _linear(w: Array, b: Array, bits: Array, in_scale: Array, in_zero: Array, out_scale: Array):
    """Quantizes a stacked kernel ``w [in, 3H]`` gate by gate (each gate its own width)."""
    n_in, three_h = w.shape
    hidden = three_h // 3
    w3 = jnp.moveaxis(w.reshape(n_in, 3, hidden), 1, 0)  # [3, in, H]
    codes, w_scale = jax.vmap(quantize_weights)(w3, bits)  # [3, in, H], [3]
    acc_scale = w_scale * in_scale  # real value of one accumulator unit, per gate
    bias = _round_int(b.reshape(3, hidden) / acc_scale[:, None])
    bias = bias - in_zero * codes.astype(jnp.int32).sum(axis=1)  # fold the input zero point
    mult, shift = fixed_point(acc_scale / out_scale)
    codes = jnp.moveaxis(codes, 0, 1).reshape(n_in, three_h)
    return codes, bias.reshape(three_h), mult, shift


def lut_value(scale: Array, zero: Array, qmin: Array, qmax: Array, k: int, code: Array) -> Array:
    """Entry of operator ``k``'s lookup table at input ``code``: the output code of
    ``f(S_in * (code - Z_in))``, ``f`` = sigmoid or tanh; ``scale``, ``zero``, ``qmin``,
    ``qmax`` are the per-operator ``[17]`` arrays. The export tabulates it over every input
    code; the cell evaluates it per element, the same computation on the same code."""
    src = OP_INDEX[OPS[k].inputs[0]]
    real = LUT_FUNCTIONS[OPS[k].kind](scale[src] * (code - zero[src]).astype(jnp.float32))
    return quantize_to_range(real, scale[k], zero[k], qmin[k], qmax[k])


def quantize_gru(
    p: GRUParams, ranges: Ranges, bits: Array, input_bits: Array = 8, head_bits: Array = 8
) -> IntGRU:
    """Integer model for one genome ``bits: int32[17]`` (traced; vmap it over a population)."""
    bits = jnp.asarray(bits, jnp.int32)
    qmin, qmax = code_range(bits)
    scale, zero = affine_params(ranges.lo, ranges.hi, bits)
    x_scale, x_zero = affine_params(ranges.x_lo, ranges.x_hi, input_bits)
    x_qmin, x_qmax = code_range(input_bits)
    h_scale, h_zero = scale[H_OP], zero[H_OP]

    mult = jnp.zeros(N_OPS, jnp.int32)
    shift = jnp.ones(N_OPS, jnp.int32)
    mult_a = jnp.zeros(N_OPS, jnp.int32)
    mult_b = jnp.zeros(N_OPS, jnp.int32)
    offset = jnp.zeros(N_OPS, jnp.int32)

    xi, hi = jnp.array(X_LINEAR), jnp.array(H_LINEAR)
    wx, bx, m, s = _linear(p.wx, p.bx, bits[xi], x_scale, x_zero, scale[xi])
    mult, shift = mult.at[xi].set(m), shift.at[xi].set(s)
    wh, bh, m, s = _linear(p.wh, p.bh, bits[hi], h_scale, h_zero, scale[hi])
    mult, shift = mult.at[hi].set(m), shift.at[hi].set(s)

    elem = {"bits": ELEM_MULT_BITS, "max_shift": ELEM_MAX_SHIFT}
    for k, op in enumerate(OPS):
        if op.kind == "add":
            a, b = (OP_INDEX[name] for name in op.inputs)
            ratio_a, ratio_b = scale[a] / scale[k], scale[b] / scale[k]
            _, s = fixed_point(jnp.maximum(ratio_a, ratio_b), **elem)  # one shift for both terms
            ma, _ = fixed_point(ratio_a, s, bits=ELEM_MULT_BITS)
            mb, _ = fixed_point(ratio_b, s, bits=ELEM_MULT_BITS)
            mult_a, mult_b = mult_a.at[k].set(ma), mult_b.at[k].set(mb)
            offset = offset.at[k].set(-(ma * zero[a] + mb * zero[b]))
            shift, mult = shift.at[k].set(s), mult.at[k].set(1)
        elif op.kind == "sub1":  # 1 - z: a sum of the constant 1 and -z
            a = OP_INDEX[op.inputs[0]]
            m, s = fixed_point(scale[a] / scale[k], **elem)
            one = _round_int(jnp.ldexp(1.0 / scale[k], s))
            mult_a = mult_a.at[k].set(-m)
            offset = offset.at[k].set(jnp.clip(one + m * zero[a], -BIAS_LIMIT, BIAS_LIMIT))
            shift, mult = shift.at[k].set(s), mult.at[k].set(1)
        elif op.kind == "mul":
            a, b = (OP_INDEX[name] for name in op.inputs)
            m, s = fixed_point(scale[a] * scale[b] / scale[k], **elem)
            mult, shift = mult.at[k].set(m), shift.at[k].set(s)

    wd, d_scale = quantize_weights(p.wd, head_bits)
    bd = _round_int(p.bd / (d_scale * h_scale)) - h_zero * wd.astype(jnp.int32).sum(axis=0)

    return IntGRU(
        bits=bits,
        x_inv_scale=1.0 / x_scale,
        x_zero=x_zero,
        x_qmin=x_qmin,
        x_qmax=x_qmax,
        wx=wx,
        bx=bx,
        wh=wh,
        bh=bh,
        wd=wd,
        bd=bd,
        zero=zero,
        qmin=qmin,
        qmax=qmax,
        mult=mult,
        shift=shift,
        mult_a=mult_a,
        mult_b=mult_b,
        offset=offset,
        scale=scale,
        x_scale=x_scale,
        logit_scale=d_scale * h_scale,
    )


def int_dot(a: Array, b: Array) -> Array:
    """``int8[..., K] @ int8[K, N] -> int32[..., N]`` (exact on every backend)."""
    return jax.lax.dot_general(
        a.astype(jnp.int8), b, (((a.ndim - 1,), (0,)), ((), ())), preferred_element_type=jnp.int32
    )


def quantize_input(q: IntGRU, x: Array) -> Array:
    """Input codes of ``x`` (float32, any shape) as int32."""
    return jnp.clip(jnp.round(x * q.x_inv_scale).astype(jnp.int32) + q.x_zero, q.x_qmin, q.x_qmax)


def _saturate(q: IntGRU, k, value: Array) -> Array:
    return jnp.clip(q.zero[k] + value, q.qmin[k], q.qmax[k])


def _add(q: IntGRU, k: int, qa: Array, qb: Array) -> Array:
    acc = q.offset[k] + q.mult_a[k] * qa + q.mult_b[k] * qb
    return _saturate(q, k, rounding_shift(acc, q.shift[k]))


def _mul(q: IntGRU, k: int, a: int, qa: Array, qb: Array, b: int) -> Array:
    acc = (qa - q.zero[a]) * (qb - q.zero[b]) * q.mult[k]
    return _saturate(q, k, rounding_shift(acc, q.shift[k]))


def _lut(q: IntGRU, i: int, qin: Array) -> Array:
    # Evaluating the table's defining function per element vectorizes; a gather inside XLA's
    # fused elementwise loop does not (it made the whole cell 3x slower on the CPU).
    return lut_value(q.scale, q.zero, q.qmin, q.qmax, LUT_OPS[i], qin)


def _gates(q: IntGRU, acc: Array, ops: tuple[int, int, int]) -> Array:
    """Requantizes the three gate slices of a stacked accumulator ``int32[..., 3H]``."""
    ops_arr = jnp.array(ops)
    hidden = acc.shape[-1] // 3
    per_unit = lambda v: jnp.repeat(v[ops_arr], hidden)  # noqa: E731
    return jnp.clip(
        per_unit(q.zero) + requantize(acc, per_unit(q.mult), per_unit(q.shift)),
        per_unit(q.qmin),
        per_unit(q.qmax),
    )


def x_gate_codes(q: IntGRU, x: Array) -> Array:
    """Output codes of operators 0, 2, 4 (``xr, xz, xn``) for float inputs ``x: [..., I]``,
    as ``int8[..., 3H]``. They depend on the genome only through genes 0, 2, 4 and the input
    width, which is what lets a population share them (:func:`select_x_gates`)."""
    return _gates(q, int_dot(quantize_input(q, x), q.wx) + q.bx, X_LINEAR).astype(jnp.int8)


def select_x_gates(shared: Array, bits: Array) -> Array:
    """Picks one specimen's gate codes out of ``shared: int8[7, ..., 3H]``, the codes of
    :func:`x_gate_codes` computed once per width 2..8: gate ``g`` comes from width
    ``bits[X_LINEAR[g]]``. Returns ``int8[..., 3H]``."""
    hidden = shared.shape[-1] // 3
    rows = [shared[bits[k] - MIN_BITS, ..., g * hidden : (g + 1) * hidden] for g, k in enumerate(X_LINEAR)]
    return jnp.concatenate(rows, axis=-1)


def int_cell_codes(q: IntGRU, xg: Array, qh: Array) -> tuple[Array, ...]:
    """One integer GRU step: input-gate codes ``xg: [..., 3H]`` (of :func:`x_gate_codes`) and
    state codes ``qh: int32[..., H]`` to the output codes of all 17 operators (``jaxgru.ops``
    order; the last is the new state), each ``int32[..., H]``."""
    o = OP_INDEX
    xr, xz, xn = jnp.split(xg.astype(jnp.int32), 3, axis=-1)
    hr, hz, hn = jnp.split(_gates(q, int_dot(qh, q.wh) + q.bh, H_LINEAR), 3, axis=-1)
    rp = _add(q, o["rp"], xr, hr)
    r = _lut(q, 0, rp)
    zp = _add(q, o["zp"], xz, hz)
    z = _lut(q, 1, zp)
    rh = _mul(q, o["rh"], o["r"], r, hn, o["hn"])
    np_ = _add(q, o["np"], xn, rh)
    n = _lut(q, 2, np_)
    omz = _add(q, o["omz"], z, 0)  # mult_b is 0: the constant 1 lives in the offset
    a = _mul(q, o["a"], o["omz"], omz, n, o["n"])
    b = _mul(q, o["b"], o["z"], z, qh, H_OP)
    return xr, hr, xz, hz, xn, hn, rp, r, zp, z, rh, np_, n, omz, a, b, _add(q, H_OP, a, b)


def int_cell(q: IntGRU, xg: Array, qh: Array) -> Array:
    """One integer GRU step (:func:`int_cell_codes`), returning only the new state codes."""
    return int_cell_codes(q, xg, qh)[H_OP]


def int_scan(q: IntGRU, xs: Array, select: Callable[[IntGRU, Array], Array] | None = None) -> Array:
    """Runs the cell over time and the head; returns integer logits ``int32[B, C]``.

    ``xs: [T, ...]`` is scanned; ``select(q, xs[t])`` gives step ``t``'s gate codes
    ``[B, 3H]`` (default: ``xs[t]`` already is them).
    """
    batch = xs.shape[-2]
    h0 = jnp.full((batch, q.wh.shape[0]), q.zero[H_OP], jnp.int32)

    def step(qh, xs_t):
        return int_cell(q, xs_t if select is None else select(q, xs_t), qh), None

    qh, _ = jax.lax.scan(step, h0, xs)
    return int_dot(qh, q.wd) + q.bd


def int_logits(q: IntGRU, x: Array) -> Array:
    """Integer logits ``int32[B, C]`` (units of ``q.logit_scale``) of float inputs ``x: [B, T, I]``."""
    return int_scan(q, x_gate_codes(q, jnp.swapaxes(x, 0, 1)))
