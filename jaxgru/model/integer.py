"""The integer-only model of a declared cell, with per-operator bit widths from a traced genome.

:func:`quantize` turns float weights, calibrated ranges and one genome ``int32[n_ops]`` into an
:class:`IntModel` of integer weights, fixed-point multipliers and zero points (which also define
the sigmoid/tanh lookup tables, :func:`lut_value`), all computed in-graph, so ``jax.vmap`` over
genomes quantizes a whole population without recompiling. :func:`int_logits` runs it: every
matmul is ``int8 x int8 -> int32``, every other operator int32 arithmetic (``jaxgru.ops.primitives``).
Widths above 8 bits take the *wide* datapath (static ``wide=True``, traced under
``jax.enable_x64``): codes up to 16 bits, int64 accumulators, and every matmul still on int8 dots,
four per product, on the 8-bit limbs of both operands (:func:`wide_dot`).
Both walk the cell's declaration with one function per operator kind (:data:`PREPARE` sets an
operator's constants, :data:`INT_KERNELS` evaluates it). ``jaxgru.model.reference`` is the plain
NumPy twin that must agree bit for bit; ``docs/design.md`` gives every operator's formula.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import struct
from jax import Array

from jaxgru.cells.declaration import INPUT, Cell
from jaxgru.cells.genome import DEFAULT_WIDTHS
from jaxgru.model.calibrate import Ranges
from jaxgru.model.floating import CellParams
from jaxgru.ops.primitives import (
    affine_params,
    code_range,
    fixed_point,
    quantize_to_range,
    quantize_weights,
    requantize,
    requantize_wide,
    rounding_shift,
)

BIAS_LIMIT = 2**29  # integer biases and offsets are clipped here so that accumulators never wrap
# The wide datapath's int64 accumulators hold |acc| < 2^39 from a 16 x 16-bit product over 2^9
# terms; biases and offsets up to 2^46 keep acc * m (m < 2^15) inside int64.
WIDE_BIAS_LIMIT = 2**46
# Elementwise operators rescale with 14-bit multipliers and shifts <= 31: their accumulators
# (|code - zero| <= 255, so a product is < 2^16 and a sum term < 2^22) then stay inside int32
# through `rounding_shift`, the three-instruction form of requantization.
ELEM_MULT_BITS, ELEM_MAX_SHIFT = 14, 31
LUT_FUNCTIONS = {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh}


@struct.dataclass
class IntModel:
    """One quantized model of ``cell`` (add a leading axis ``[P]`` for a population).

    ``bits``: the genome ``int32[n_ops]`` it was made from. ``wide`` (static): codes up to 16
    bits, weights ``int16``, biases and accumulators ``int64`` (see the module docstring); the
    matmul operands are then also stored as limbs, ``<w>_limbs int8[in, 2N]`` and ``<w>_c int64[N]``.
    Input quantizer: ``x_inv_scale`` (float32), ``x_zero``, ``x_qmin``, ``x_qmax``.
    ``arrays``: ``w<s> int8[in, k*H]`` and ``b<s> int32[k*H]`` per linear source (the source's
    zero point folded into the bias, so ``acc = codes @ w + b``), ``v_<op> int8[H]`` per
    ``scale`` operator, the head ``wd int8[H, C]``, ``bd int32[C]``.
    Per operator (``[n_ops]``): output ``zero``/``qmin``/``qmax``; ``mult``/``shift`` of the
    requantization; for sums ``mult_a``/``mult_b``/``offset`` (``acc = offset + mult_a*qa +
    mult_b*qb`` is then shifted by ``shift``). Lookup tables are not stored: :func:`lut_value`
    defines them from these fields. ``scale float32[n_ops]``, ``x_scale`` and ``logit_scale`` map
    codes back to reals (reporting only; inference never uses them).
    """

    bits: Array
    x_inv_scale: Array
    x_zero: Array
    x_qmin: Array
    x_qmax: Array
    arrays: dict[str, Array]
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
    cell: Cell = struct.field(pytree_node=False)
    wide: bool = struct.field(pytree_node=False, default=False)


def acc_dtype(wide: bool):
    """Accumulators and biases: int32, or int64 on the wide datapath."""
    return jnp.int64 if wide else jnp.int32


def code_dtype(wide: bool):
    """Stored codes (weights, shared input-side codes): int8, or int16 on the wide datapath."""
    return jnp.int16 if wide else jnp.int8


def _round_int(x: Array, wide: bool = False) -> Array:
    limit = WIDE_BIAS_LIMIT if wide else BIAS_LIMIT
    return jnp.clip(jnp.round(x), -limit, limit).astype(acc_dtype(wide))


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


def _store_weights(arrays: dict, name: str, codes: Array, wide: bool) -> None:
    arrays[name] = codes.astype(code_dtype(wide))
    if wide:
        arrays[f"{name}_limbs"], arrays[f"{name}_c"] = weight_limbs(codes)


def quantize_linear(w: Array, b: Array, bits: Array, in_scale: Array, in_zero: Array, out_scale: Array,
                    wide: bool = False):
    """Quantizes a stacked kernel ``w [in, k*H]`` and bias ``[k*H]`` operator by operator (each
    its own width, ``bits [k]``); returns ``(codes int32[in, k*H], bias int32[k*H], mult[k],
    shift[k])`` (bias int64 when ``wide``)."""
    n_in, kh = w.shape
    k = bits.shape[0]
    hidden = kh // k
    wk = jnp.moveaxis(w.reshape(n_in, k, hidden), 1, 0)  # [k, in, H]
    codes, w_scale = jax.vmap(quantize_weights)(wk, bits)  # [k, in, H], [k]
    acc_scale = w_scale * in_scale  # real value of one accumulator unit, per operator
    bias = _round_int(b.reshape(k, hidden) / acc_scale[:, None], wide)
    # fold the input zero point
    bias = bias - in_zero.astype(bias.dtype) * codes.astype(bias.dtype).sum(axis=1)
    mult, shift = fixed_point(acc_scale / out_scale)
    codes = jnp.moveaxis(codes, 0, 1).reshape(n_in, kh)
    return codes, bias.reshape(kh), mult, shift


_ELEM = {"bits": ELEM_MULT_BITS, "max_shift": ELEM_MAX_SHIFT}


def _prep_add(c, k, srcs, p):
    a, b = srcs
    ratio_a, ratio_b = c["scale"][a] / c["scale"][k], c["scale"][b] / c["scale"][k]
    _, s = fixed_point(jnp.maximum(ratio_a, ratio_b), **_ELEM)  # one shift for both terms
    ma, _ = fixed_point(ratio_a, s, bits=ELEM_MULT_BITS)
    mb, _ = fixed_point(ratio_b, s, bits=ELEM_MULT_BITS)
    dt = acc_dtype(c["wide"])
    offset = -(ma.astype(dt) * c["zero"][a] + mb.astype(dt) * c["zero"][b])
    return {"mult_a": ma, "mult_b": mb, "offset": offset, "shift": s, "mult": 1}


def _prep_sub1(c, k, srcs, p):  # 1 - a: a sum of the constant 1 and -a
    (a,) = srcs
    m, s = fixed_point(c["scale"][a] / c["scale"][k], **_ELEM)
    one = _round_int(jnp.ldexp(1.0 / c["scale"][k], s), c["wide"])
    limit = WIDE_BIAS_LIMIT if c["wide"] else BIAS_LIMIT
    return {"mult_a": -m, "offset": jnp.clip(one + m.astype(one.dtype) * c["zero"][a], -limit, limit), "shift": s,
            "mult": 1}


def _prep_mul(c, k, srcs, p):
    a, b = srcs
    m, s = fixed_point(c["scale"][a] * c["scale"][b] / c["scale"][k], **_ELEM)
    return {"mult": m, "shift": s}


def _prep_rescale(c, k, srcs, p):  # ReLU: the operand's scale to the output's
    m, s = fixed_point(c["scale"][srcs[0]] / c["scale"][k], **_ELEM)
    return {"mult": m, "shift": s}


def _prep_scale(c, k, srcs, p):  # v * a: v quantized symmetric at the operator's width
    codes, v_scale = quantize_weights(p[f"v_{p.cell.ops[k].name}"], c["bits"][k])
    m, s = fixed_point(c["scale"][srcs[0]] * v_scale / c["scale"][k], **_ELEM)
    return {"mult": m, "shift": s, "vector": codes.astype(code_dtype(c["wide"]))}


def _prep_none(c, k, srcs, p):  # lookup tables are defined by the scales and zero points
    return {}


# prepare(constants, k, operand operator indices, float weights) -> fields of operator k.
# Linear operators are prepared per source, by `quantize_linear`.
PREPARE: dict[str, Callable] = {
    "linear": quantize_linear, "scale": _prep_scale, "add": _prep_add, "sub1": _prep_sub1, "mul": _prep_mul,
    "sigmoid": _prep_none, "tanh": _prep_none, "relu": _prep_rescale,
}


def quantize(
    p: CellParams, ranges: Ranges, bits: Array, input_bits: Array = 8, head_bits: Array = 8, wide: bool = False
) -> IntModel:
    """Integer model for one genome ``bits: int32[n_ops]`` (traced; vmap it over a population).

    ``wide`` (static) must be set when a width may exceed 8 bits, and the call traced under
    ``jax.enable_x64(True)``; for widths up to 8 both datapaths give the same codes."""
    cell = p.cell
    n = cell.n_ops
    bits = jnp.asarray(bits, jnp.int32)
    qmin, qmax = code_range(bits)
    scale, zero = affine_params(ranges.lo, ranges.hi, bits)
    x_scale, x_zero = affine_params(ranges.x_lo, ranges.x_hi, input_bits)
    x_qmin, x_qmax = code_range(input_bits)
    out_op = cell.index(cell.output)
    fields = {"mult": jnp.zeros(n, jnp.int32), "shift": jnp.ones(n, jnp.int32), "mult_a": jnp.zeros(n, jnp.int32),
              "mult_b": jnp.zeros(n, jnp.int32), "offset": jnp.zeros(n, acc_dtype(wide))}
    arrays = {}

    for src, group in cell.linear_groups.items():
        idx = jnp.array(group)
        if src == INPUT:
            in_scale, in_zero = x_scale, x_zero
        else:
            in_scale, in_zero = scale[cell.index(src)], zero[cell.index(src)]
        codes, arrays[f"b{src}"], m, s = PREPARE["linear"](
            p[f"w{src}"], p[f"b{src}"], bits[idx], in_scale, in_zero, scale[idx], wide)
        _store_weights(arrays, f"w{src}", codes, wide)
        fields["mult"], fields["shift"] = fields["mult"].at[idx].set(m), fields["shift"].at[idx].set(s)

    consts = {"scale": scale, "zero": zero, "bits": bits, "wide": wide}
    for k in cell.step_ops:
        op = cell.ops[k]
        for name, value in PREPARE[op.kind](consts, k, cell.operand_ops[k], p).items():
            if name == "vector":
                arrays[f"v_{op.name}"] = value
            else:
                fields[name] = fields[name].at[k].set(value)

    h_scale, h_zero = scale[out_op], zero[out_op]
    wd, d_scale = quantize_weights(p["wd"], head_bits)
    _store_weights(arrays, "wd", wd, wide)
    bd = _round_int(p["bd"] / (d_scale * h_scale), wide)
    arrays["bd"] = bd - h_zero.astype(bd.dtype) * wd.astype(bd.dtype).sum(axis=0)

    return IntModel(
        bits=bits, x_inv_scale=1.0 / x_scale, x_zero=x_zero, x_qmin=x_qmin, x_qmax=x_qmax, arrays=arrays,
        zero=zero, qmin=qmin, qmax=qmax, scale=scale, x_scale=x_scale, logit_scale=d_scale * h_scale, cell=cell,
        wide=wide, **fields,
    )


def int_dot(a: Array, b: Array) -> Array:
    """``int8[..., K] @ int8[K, N] -> int32[..., N]`` (exact on every backend)."""
    return jax.lax.dot_general(
        a.astype(jnp.int8), b, (((a.ndim - 1,), (0,)), ((), ())), preferred_element_type=jnp.int32
    )


def matmul(q: IntModel, name: str, codes: Array) -> Array:
    """``codes @ q.arrays[name]``: int32 on the narrow datapath, int64 (:func:`wide_dot`) on the wide."""
    if q.wide:
        return wide_dot(codes, q.arrays[f"{name}_limbs"], q.arrays[f"{name}_c"])
    return int_dot(codes, q.arrays[name])


def quantize_input(q: IntModel, x: Array) -> Array:
    """Input codes of ``x`` (float32, any shape) as int32."""
    return jnp.clip(jnp.round(x * q.x_inv_scale).astype(jnp.int32) + q.x_zero, q.x_qmin, q.x_qmax)


def lut_value(q: IntModel, k: int, code: Array) -> Array:
    """Entry of operator ``k``'s lookup table at input ``code``: the output code of
    ``f(S_in * (code - Z_in))``, ``f`` = sigmoid or tanh. The export tabulates it over every
    input code; the cell evaluates it per element, the same computation on the same code."""
    (src,) = q.cell.operand_ops[k]
    real = LUT_FUNCTIONS[q.cell.ops[k].kind](q.scale[src] * (code - q.zero[src]).astype(jnp.float32))
    return quantize_to_range(real, q.scale[k], q.zero[k], q.qmin[k], q.qmax[k])


def _saturate(q: IntModel, k: int, value: Array) -> Array:
    return jnp.clip(q.zero[k] + value, q.qmin[k], q.qmax[k]).astype(jnp.int32)


def _acc(q: IntModel, v: Array) -> Array:
    """An operand in the accumulator type (elementwise products of 16-bit codes need int64)."""
    return v.astype(acc_dtype(q.wide))


def _int_linear(q: IntModel, src: str, codes: Array) -> Array:
    """The linear operators on ``src`` (codes ``[..., in]``) as one matmul, each operator's
    slice requantized to its own width: ``int32[..., k*H]``."""
    group = jnp.array(q.cell.linear_groups[src])
    acc = matmul(q, f"w{src}", codes) + q.arrays[f"b{src}"]
    hidden = acc.shape[-1] // len(q.cell.linear_groups[src])
    per_unit = lambda v: jnp.repeat(v[group], hidden)  # noqa: E731
    rq = requantize_wide if q.wide else requantize
    out = jnp.clip(per_unit(q.zero) + rq(acc, per_unit(q.mult), per_unit(q.shift)), per_unit(q.qmin), per_unit(q.qmax))
    return out.astype(jnp.int32)


def _int_add(q, k, srcs, qa, qb):
    acc = q.offset[k] + _acc(q, q.mult_a[k]) * qa + _acc(q, q.mult_b[k]) * qb
    return _saturate(q, k, rounding_shift(acc, q.shift[k]))


def _int_sub1(q, k, srcs, qa):  # the constant 1 lives in the offset
    return _saturate(q, k, rounding_shift(q.offset[k] + _acc(q, q.mult_a[k]) * qa, q.shift[k]))


def _int_mul(q, k, srcs, qa, qb):
    a, b = srcs
    acc = _acc(q, qa - q.zero[a]) * _acc(q, qb - q.zero[b]) * q.mult[k]
    return _saturate(q, k, rounding_shift(acc, q.shift[k]))


def _int_scale(q, k, srcs, qa):
    acc = _acc(q, qa - q.zero[srcs[0]]) * _acc(q, q.arrays[f"v_{q.cell.ops[k].name}"]) * q.mult[k]
    return _saturate(q, k, rounding_shift(acc, q.shift[k]))


def _int_relu(q, k, srcs, qa):
    acc = _acc(q, jnp.maximum(qa - q.zero[srcs[0]], 0)) * q.mult[k]
    return _saturate(q, k, rounding_shift(acc, q.shift[k]))


def _int_lut(q, k, srcs, qa):
    # Evaluating the table's defining function per element vectorizes; a gather inside XLA's
    # fused elementwise loop does not (it made the whole GRU cell 3x slower on the CPU).
    return lut_value(q, k, qa)


# kernel(q, k, operand operator indices, *operand codes) -> codes of operator k;
# ``linear`` is the fused group, ``linear(q, src, codes)``.
INT_KERNELS: dict[str, Callable] = {
    "linear": _int_linear, "scale": _int_scale, "add": _int_add, "sub1": _int_sub1, "mul": _int_mul,
    "sigmoid": _int_lut, "tanh": _int_lut, "relu": _int_relu,
}


def x_gate_codes(q: IntModel, x: Array) -> Array:
    """Output codes of the linear operators on the input, for float inputs ``x: [..., I]``, as
    ``int8[..., k*H]`` (int16 when wide). They depend on the genome only through those
    operators' genes and the input width, which is what lets a population share them
    (:func:`select_x_gates`)."""
    return INT_KERNELS["linear"](q, INPUT, quantize_input(q, x)).astype(code_dtype(q.wide))


def select_x_gates(shared: Array, bits: Array, cell: Cell, widths: tuple[int, ...] = DEFAULT_WIDTHS.values) -> Array:
    """Picks one specimen's input-side codes out of ``shared: [len(widths), ..., k*H]``, the codes
    of :func:`x_gate_codes` computed once per width of ``widths`` (static): operator ``g`` of the
    input group comes from width ``bits[cell.input_ops[g]]``, which must be one of them."""
    hidden = shared.shape[-1] // len(cell.input_ops)
    position = jnp.zeros(max(widths) + 1, jnp.int32).at[jnp.array(widths)].set(jnp.arange(len(widths), dtype=jnp.int32))
    rows = [shared[position[bits[k]], ..., g * hidden : (g + 1) * hidden] for g, k in enumerate(cell.input_ops)]
    return jnp.concatenate(rows, axis=-1)


def int_step(q: IntModel, xg: Array, carry: tuple[Array, ...]) -> tuple[tuple[Array, ...], tuple[Array, ...]]:
    """One integer step: the input-side codes ``xg: [..., k*H]`` (of :func:`x_gate_codes`) and
    the codes of ``cell.carry`` (each ``int32[..., H]``) to the new carry and the output codes of
    every operator (declaration order), each ``int32[..., H]``."""
    cell = q.cell
    values = dict(zip(cell.carry, carry))
    for src, group in cell.linear_groups.items():
        acc = xg.astype(jnp.int32) if src == INPUT else INT_KERNELS["linear"](q, src, values[src])
        values.update(zip((cell.ops[k].name for k in group), jnp.split(acc, len(group), axis=-1)))
    values = cell.walk(values, lambda k, op, *a: INT_KERNELS[op.kind](q, k, cell.operand_ops[k], *a))
    return tuple(values[n] for n in cell.carry), tuple(values[op.name] for op in cell.ops)


def initial_carry(q: IntModel, batch: int) -> tuple[Array, ...]:
    """Codes of the zero initial carry, ``int32[batch, H]`` each."""
    hidden = q.arrays["wd"].shape[-2]
    return tuple(jnp.full((batch, hidden), q.zero[k], jnp.int32) for k in q.cell.carry_ops)


def int_scan(q: IntModel, xs: Array, select: Callable[[IntModel, Array], Array] | None = None) -> Array:
    """Runs the cell over time and the head; returns integer logits ``int32[B, C]``.

    ``xs: [T, ...]`` is scanned; ``select(q, xs[t])`` gives step ``t``'s input-side codes
    ``[B, k*H]`` (default: ``xs[t]`` already is them).
    """
    def step(carry, xs_t):
        return int_step(q, xs_t if select is None else select(q, xs_t), carry)[0], None

    carry, _ = jax.lax.scan(step, initial_carry(q, xs.shape[-2]), xs)
    return matmul(q, "wd", carry[q.cell.carry.index(q.cell.output)]) + q.arrays["bd"]


def int_logits(q: IntModel, x: Array) -> Array:
    """Integer logits ``int32[B, C]`` (units of ``q.logit_scale``) of float inputs ``x: [B, T, I]``."""
    # The input-side codes are made inside each step: precomputed for every step they would be a
    # scanned input with the population's block axis on it, which made unshared scoring (P < 7, or
    # one set of weights per specimen: QAT, beacons) 3.7x slower on the CPU
    # (benchmarks/per_specimen_weights.py).
    return int_scan(q, jnp.swapaxes(x, 0, 1), x_gate_codes)
