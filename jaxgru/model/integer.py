"""The integer-only model of a declared cell, with per-operator bit widths from a traced genome.

:func:`quantize` turns float weights, calibrated ranges and one genome ``int32[n_ops]`` into an
:class:`IntModel` of integer weights, fixed-point multipliers and zero points (which also define
the sigmoid/tanh lookup tables), all computed in-graph, so ``jax.vmap`` over
genomes quantizes a whole population without recompiling. :func:`int_logits` runs it: every
matmul is ``int8 x int8 -> int32``, every other operator int32 arithmetic (``jaxgru.ops.primitives``).
Widths above 8 bits take the *wide* datapath (static ``wide=True``, traced under
``jax.enable_x64``): codes up to 16 bits, int64 accumulators, and every matmul still on int8 dots,
four per product, on the 8-bit limbs of both operands (:func:`wide_dot`).
Both walk the cell's declaration and call each operator kind's record (``jaxgru.ops.kinds``:
``prepare`` sets an operator's constants, ``evaluate`` computes its codes). ``jaxgru.model.reference`` is the plain
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
from jaxgru.model.floating import CellParams, owned
from jaxgru.ops.kinds import KINDS, Quantizers
from jaxgru.ops.primitives import (
    acc_dtype,
    affine_params,
    code_dtype,
    code_range,
    int_dot,
    quantize_weights,
    round_int,
    weight_limbs,
    wide_dot,
)

PER_OP_FIELDS = ("mult", "shift", "mult_a", "mult_b", "offset")  # what `prepare` may set, per operator


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
    mult_b*qb`` is then shifted by ``shift``). Lookup tables are not stored: their kind's
    ``evaluate`` defines them from these fields. ``scale float32[n_ops]``, ``x_scale`` and ``logit_scale`` map
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


def _store_weights(arrays: dict, name: str, codes: Array, wide: bool) -> None:
    arrays[name] = codes.astype(code_dtype(wide))
    if wide:
        arrays[f"{name}_limbs"], arrays[f"{name}_c"] = weight_limbs(codes)


def _quantizers(cell: Cell, k: int, bits, scale, zero, x_scale, x_zero, wide: bool) -> Quantizers:
    srcs = cell.operand_ops[k]
    return Quantizers(
        bits=bits[k], scale=scale[k], zero=zero[k], wide=wide,
        in_scale=tuple(x_scale if s < 0 else scale[s] for s in srcs),
        in_zero=tuple(x_zero if s < 0 else zero[s] for s in srcs))


def quantize(
    p: CellParams, ranges: Ranges, bits: Array, input_bits: Array = 8, head_bits: Array = 8, *, wide: bool = False
) -> IntModel:
    """Integer model for one genome ``bits: int32[n_ops]`` (traced; vmap it over a population).

    Each operator's constants come from its kind's ``prepare`` (``jaxgru.ops.kinds``); a linear
    group's codes are stacked into one matrix per source. ``wide`` (static, keyword-only) must be
    set when a width may exceed 8 bits, and the call traced under ``jax.enable_x64(True)``; for
    widths up to 8 both datapaths give the same codes."""
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
    parts: dict[str, list[Array]] = {}  # array name -> its operators' integer codes, in order
    for k, op in enumerate(cell.ops):
        kind = KINDS[op.kind]
        qz = _quantizers(cell, k, bits, scale, zero, x_scale, x_zero, wide)
        consts = kind.prepare(qz, owned(cell, p.arrays, k, p.hidden))
        for prm in kind.owns:
            value = consts.pop(prm.name)
            parts.setdefault(cell.param_key(k, prm.name), []).append(
                value.astype(code_dtype(wide)) if prm.quant == "weight" else value)
        for name, value in consts.items():
            fields[name] = fields[name].at[k].set(value)
    arrays = {}
    for key, values in parts.items():
        arrays[key] = values[0] if len(values) == 1 else jnp.concatenate(values, axis=-1)
    if wide:  # matmul operands also as int8 limbs (`wide_dot`)
        for src in cell.sources:
            arrays[f"w{src}_limbs"], arrays[f"w{src}_c"] = weight_limbs(arrays[f"w{src}"])

    h_scale, h_zero = scale[out_op], zero[out_op]
    wd, d_scale = quantize_weights(p["wd"], head_bits)
    _store_weights(arrays, "wd", wd, wide)
    bd = round_int(p["bd"] / (d_scale * h_scale), wide)
    arrays["bd"] = bd - h_zero.astype(bd.dtype) * wd.astype(bd.dtype).sum(axis=0)

    return IntModel(
        bits=bits, x_inv_scale=1.0 / x_scale, x_zero=x_zero, x_qmin=x_qmin, x_qmax=x_qmax, arrays=arrays,
        zero=zero, qmin=qmin, qmax=qmax, scale=scale, x_scale=x_scale, logit_scale=d_scale * h_scale, cell=cell,
        wide=wide, **fields,
    )


def matmul(q: IntModel, name: str, codes: Array) -> Array:
    """``codes @ q.arrays[name]``: int32 on the narrow datapath, int64 (:func:`wide_dot`) on the wide."""
    if q.wide:
        return wide_dot(codes, q.arrays[f"{name}_limbs"], q.arrays[f"{name}_c"])
    return int_dot(codes, q.arrays[name])


def quantize_input(q: IntModel, x: Array) -> Array:
    """Input codes of ``x`` (float32, any shape) as int32."""
    return jnp.clip(jnp.round(x * q.x_inv_scale).astype(jnp.int32) + q.x_zero, q.x_qmin, q.x_qmax)


def constants(q: IntModel, k: int) -> dict:
    """What operator ``k``'s kind evaluates with (``jaxgru.ops.kinds``): its per-operator fields,
    its quantizers, its operands' zero points and scales, and its own integer parameters."""
    cell = q.cell
    srcs = cell.operand_ops[k]
    c = {name: getattr(q, name)[k] for name in ("zero", "qmin", "qmax", "scale") + PER_OP_FIELDS}
    c["in_zero"] = tuple(q.x_zero if s < 0 else q.zero[s] for s in srcs)
    c["in_scale"] = tuple(q.x_scale if s < 0 else q.scale[s] for s in srcs)
    c["wide"] = q.wide
    for prm in KINDS[cell.ops[k].kind].owns:
        c[prm.name] = q.arrays[cell.param_key(k, prm.name)]
    return c


def group_constants(q: IntModel, src: str) -> dict:
    """:func:`constants` of the fused group on ``src``: per-unit vectors ``[k*H]`` and the
    stacked parameters (and, on the wide datapath, the weights' limbs)."""
    cell = q.cell
    group = cell.linear_groups[src]
    hidden = q.arrays["wd"].shape[-2]
    idx = jnp.array(group)
    per_unit = lambda v: jnp.repeat(v[idx], hidden)  # noqa: E731
    c = {name: per_unit(getattr(q, name)) for name in ("zero", "qmin", "qmax", "scale") + PER_OP_FIELDS}
    c["in_zero"] = (q.x_zero if src == INPUT else q.zero[cell.index(src)],)
    c["in_scale"] = (q.x_scale if src == INPUT else q.scale[cell.index(src)],)
    c["wide"] = q.wide
    for prm in KINDS[cell.ops[group[0]].kind].owns:
        key = cell.param_key(group[0], prm.name)
        c[prm.name] = q.arrays[key]
        if q.wide and f"{key}_limbs" in q.arrays:
            c[f"{prm.name}_limbs"], c[f"{prm.name}_c"] = q.arrays[f"{key}_limbs"], q.arrays[f"{key}_c"]
    return c


def op_codes(q: IntModel, k: int, *codes: Array) -> Array:
    """Output codes of operator ``k`` (not fused) from its operands' codes."""
    return KINDS[q.cell.ops[k].kind].evaluate(constants(q, k), *codes)


def _int_linear(q: IntModel, src: str, codes: Array) -> Array:
    """The fused operators on ``src`` (codes ``[..., in]``) as one matmul, each operator's
    slice requantized to its own width: ``int32[..., k*H]``."""
    group = q.cell.linear_groups[src]
    return KINDS[q.cell.ops[group[0]].kind].evaluate(group_constants(q, src), codes)


def x_gate_codes(q: IntModel, x: Array) -> Array:
    """Output codes of the linear operators on the input, for float inputs ``x: [..., I]``, as
    ``int8[..., k*H]`` (int16 when wide). They depend on the genome only through those
    operators' genes and the input width, which is what lets a population share them
    (:func:`select_x_gates`)."""
    return _int_linear(q, INPUT, quantize_input(q, x)).astype(code_dtype(q.wide))


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
        acc = xg.astype(jnp.int32) if src == INPUT else _int_linear(q, src, values[src])
        values.update(zip((cell.ops[k].name for k in group), jnp.split(acc, len(group), axis=-1)))
    values = cell.walk(values, lambda k, op, *a: op_codes(q, k, *a))
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
