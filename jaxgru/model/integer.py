"""The integer-only model of a stack of declared cells, per-operator bit widths from a traced genome.

:func:`quantize` turns float weights, calibrated ranges and one genome ``int32[n_ops]`` into an
:class:`IntModel` (an :class:`IntLayer` per recurrent layer, then the head) of integer weights,
fixed-point multipliers and zero points (which also define the sigmoid/tanh lookup tables), all
computed in-graph, so ``jax.vmap`` over genomes quantizes a whole population without
recompiling. :func:`int_logits` runs it: every matmul is ``int8 x int8 -> int32``, every other
operator int32 arithmetic (``jaxgru.ops.primitives``).
Widths above 8 bits take the *wide* datapath (static ``wide=True``, traced under
``jax.enable_x64``): codes up to 16 bits, int64 accumulators, and every matmul still on int8 dots,
four per product, on the 8-bit limbs of both operands (:func:`wide_dot`).
Both walk each layer's cell declaration and call each operator kind's record
(``jaxgru.ops.kinds``: ``prepare`` sets an operator's constants, ``evaluate`` computes its
codes). A deeper layer reads the codes of the layer below's output operator as its input, so its
input quantizer is that operator's (no rescaling between layers).
With delta thresholds (``quantize(..., thresholds=)``) each layer is a *delta network*: a
source's unit is propagated to the matmuls that read it only when its code moved by more than the
threshold since it was last propagated (:func:`delta_update`). The matmuls then compute densely on
the codes last propagated, ``s_hat``, which equals the incremental memory ``M = W s_hat + b`` of a
device that skips the other columns (``docs/design.md``, "Delta networks").
``jaxgru.model.reference`` is the plain NumPy twin that must agree bit for bit;
``docs/design.md`` gives every operator's formula.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import struct
from jax import Array

from jaxgru.cells import Stack
from jaxgru.cells.declaration import INPUT, Cell
from jaxgru.cells.genome import DEFAULT_WIDTHS, THRESHOLD_STEPS
from jaxgru.model.calibrate import Ranges
from jaxgru.model.floating import ModelParams, owned
from jaxgru.model.lengths import hold
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
class IntLayer:
    """One quantized recurrent layer of ``cell`` (add a leading axis ``[P]`` for a population).

    ``bits``: its genes ``int32[n_ops]``. ``wide`` (static): codes up to 16 bits, weights
    ``int16``, biases and accumulators ``int64`` (see the module docstring); the matmul operands
    are then also stored as limbs, ``<w>_limbs int8[in, 2N]`` and ``<w>_c int64[N]``.
    Input quantizer: ``x_inv_scale`` (float32), ``x_zero``, ``x_qmin``, ``x_qmax`` (above the
    first layer, the layer below's output operator's). ``arrays``: ``w<s> int8[in, k*H]`` and
    ``b<s> int32[k*H]`` per linear source (the source's zero point folded into the bias, so
    ``acc = codes @ w + b``), ``v_<op> int8[H]`` per ``scale`` operator.
    Per operator (``[n_ops]``): output ``zero``/``qmin``/``qmax``; ``mult``/``shift`` of the
    requantization; for sums ``mult_a``/``mult_b``/``offset`` (``acc = offset + mult_a*qa +
    mult_b*qb`` is then shifted by ``shift``). Lookup tables are not stored: their kind's
    ``evaluate`` defines them from these fields. ``scale float32[n_ops]`` and ``x_scale`` map
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
    cell: Cell = struct.field(pytree_node=False)
    wide: bool = struct.field(pytree_node=False, default=False)
    theta: Array | None = None

    @property
    def hidden(self) -> int:
        return self.arrays[f"b{INPUT}"].shape[-1] // len(self.cell.input_ops)


@struct.dataclass
class IntModel:
    """One quantized model of ``stack``: ``bits`` (the genome ``int32[n_ops]`` it was made from),
    its ``layers``, the dense head ``head`` (``wd int8[H, C]``, ``bd int32[C]``, the output's
    zero point folded into ``bd``) and ``logit_scale``, the real value of one logit unit."""

    bits: Array
    layers: tuple[IntLayer, ...]
    head: dict[str, Array]
    logit_scale: Array
    stack: Stack = struct.field(pytree_node=False)
    wide: bool = struct.field(pytree_node=False, default=False)


def _store_weights(arrays: dict, name: str, codes: Array, wide: bool) -> None:
    arrays[name] = codes.astype(code_dtype(wide))
    if wide:
        arrays[f"{name}_limbs"], arrays[f"{name}_c"] = weight_limbs(codes)


@struct.dataclass
class Grid:
    """The quantizers of one layer for one genome: its operators' ``bits``, ``scale``, ``zero``,
    ``qmin``, ``qmax`` (``[n_ops]`` each) and its input's ``x_scale``, ``x_zero``, ``x_qmin``,
    ``x_qmax`` (the model's input quantizer for the first layer, the layer below's output
    operator's above it)."""

    bits: Array
    scale: Array
    zero: Array
    qmin: Array
    qmax: Array
    x_scale: Array
    x_zero: Array
    x_qmin: Array
    x_qmax: Array


def grids(stack: Stack, ranges: Ranges, bits: Array, input_bits: Array) -> tuple[Grid, ...]:
    """Every layer's :class:`Grid` for the genome ``bits: int32[n_ops]`` (traced)."""
    bits = jnp.asarray(bits, jnp.int32)
    qmin, qmax = code_range(bits)
    scale, zero = affine_params(ranges.lo, ranges.hi, bits)
    x_scale, x_zero = affine_params(ranges.x_lo, ranges.x_hi, input_bits)
    x_qmin, x_qmax = code_range(input_bits)
    out = []
    for layer in range(stack.layers):
        s = stack.span(layer)
        out.append(Grid(bits[s], scale[s], zero[s], qmin[s], qmax[s], x_scale, x_zero, x_qmin, x_qmax))
        k = stack.output_op(layer)  # the next layer's input quantizer
        x_scale, x_zero, x_qmin, x_qmax = scale[k], zero[k], qmin[k], qmax[k]
    return tuple(out)


def _quantizers(cell: Cell, k: int, g: Grid, wide: bool) -> Quantizers:
    srcs = cell.operand_ops[k]
    return Quantizers(
        bits=g.bits[k], scale=g.scale[k], zero=g.zero[k], wide=wide,
        in_scale=tuple(g.x_scale if s < 0 else g.scale[s] for s in srcs),
        in_zero=tuple(g.x_zero if s < 0 else g.zero[s] for s in srcs))


def threshold_codes(genes: Array, qmin: Array, qmax: Array) -> Array:
    """A threshold gene ``t`` (0..7) in codes of a source coded in ``qmin..qmax``: ``t /
    THRESHOLD_STEPS`` of its ``2^b`` codes, rounded down (``t * 2^b >> 5``)."""
    return (jnp.asarray(genes, jnp.int32) * (qmax - qmin + 1)) // THRESHOLD_STEPS


def quantize_layer(cell: Cell, w: dict, g: Grid, *, wide: bool = False, thresholds: Array | None = None) -> IntLayer:
    """One layer's integer model from its float arrays ``w`` and its :class:`Grid`: each
    operator's constants from its kind's ``prepare``, a linear group's codes stacked into one
    matrix per source. ``thresholds``: one delta threshold gene per source (``cell.sources``)."""
    n = cell.n_ops
    hidden = w[f"b{INPUT}"].shape[-1] // len(cell.input_ops)
    fields = {"mult": jnp.zeros(n, jnp.int32), "shift": jnp.ones(n, jnp.int32), "mult_a": jnp.zeros(n, jnp.int32),
              "mult_b": jnp.zeros(n, jnp.int32), "offset": jnp.zeros(n, acc_dtype(wide))}
    parts: dict[str, list[Array]] = {}  # array name -> its operators' integer codes, in order
    for k, op in enumerate(cell.ops):
        kind = KINDS[op.kind]
        consts = kind.prepare(_quantizers(cell, k, g, wide), owned(cell, w, k, hidden))
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
    theta = None
    if thresholds is not None:
        lo = jnp.stack([g.x_qmin if s == INPUT else g.qmin[cell.index(s)] for s in cell.sources])
        hi = jnp.stack([g.x_qmax if s == INPUT else g.qmax[cell.index(s)] for s in cell.sources])
        theta = threshold_codes(thresholds, lo, hi)
    return IntLayer(
        bits=g.bits, x_inv_scale=1.0 / g.x_scale, x_zero=g.x_zero, x_qmin=g.x_qmin, x_qmax=g.x_qmax, arrays=arrays,
        zero=g.zero, qmin=g.qmin, qmax=g.qmax, scale=g.scale, x_scale=g.x_scale, cell=cell, wide=wide, theta=theta,
        **fields)


def quantize(
    p: ModelParams, ranges: Ranges, bits: Array, input_bits: Array = 8, head_bits: Array = 8, *, wide: bool = False,
    thresholds: Array | None = None,
) -> IntModel:
    """Integer model for one genome ``bits: int32[n_ops]`` (traced; vmap it over a population).

    ``wide`` (static, keyword-only) must be set when a width may exceed 8 bits, and the call
    traced under ``jax.enable_x64(True)``; for widths up to 8 both datapaths give the same codes.
    ``thresholds: int32[n_delta]`` (traced; ``None``: no deltas): one delta threshold gene per
    source of every layer (``stack.delta_sources``); all zeros is the model without deltas."""
    stack = p.stack
    bits = jnp.asarray(bits, jnp.int32)
    per_layer = [None] * stack.layers
    if thresholds is not None:
        thresholds = jnp.asarray(thresholds, jnp.int32)
        per_layer = [thresholds[jnp.array([i for i, (at, _) in enumerate(stack.delta_sources) if at == layer])]
                     for layer in range(stack.layers)]
    layers = tuple(quantize_layer(cell, p.layer(i), g, wide=wide, thresholds=per_layer[i])
                   for i, (cell, g) in enumerate(zip(stack.cells, grids(stack, ranges, bits, input_bits))))
    out = layers[-1]
    k = out.cell.index(out.cell.output)
    h_scale, h_zero = out.scale[k], out.zero[k]
    head: dict[str, Array] = {}
    wd, d_scale = quantize_weights(p["wd"], head_bits)
    _store_weights(head, "wd", wd, wide)
    bd = round_int(p["bd"] / (d_scale * h_scale), wide)
    head["bd"] = bd - h_zero.astype(bd.dtype) * wd.astype(bd.dtype).sum(axis=0)
    return IntModel(bits=bits, layers=layers, head=head, logit_scale=d_scale * h_scale, stack=stack, wide=wide)


def matmul(arrays: dict, name: str, codes: Array, wide: bool) -> Array:
    """``codes @ arrays[name]``: int32 on the narrow datapath, int64 (:func:`wide_dot`) on the wide."""
    if wide:
        return wide_dot(codes, arrays[f"{name}_limbs"], arrays[f"{name}_c"])
    return int_dot(codes, arrays[name])


def quantize_input(q: IntLayer, x: Array) -> Array:
    """Input codes of ``x`` (float32, any shape) as int32."""
    return jnp.clip(jnp.round(x * q.x_inv_scale).astype(jnp.int32) + q.x_zero, q.x_qmin, q.x_qmax)


def constants(q: IntLayer, k: int) -> dict:
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


def group_constants(q: IntLayer, src: str) -> dict:
    """:func:`constants` of the fused group on ``src``: per-unit vectors ``[k*H]`` and the
    stacked parameters (and, on the wide datapath, the weights' limbs)."""
    cell = q.cell
    group = cell.linear_groups[src]
    idx = jnp.array(group)
    per_unit = lambda v: jnp.repeat(v[idx], q.hidden)  # noqa: E731
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


def op_codes(q: IntLayer, k: int, *codes: Array) -> Array:
    """Output codes of operator ``k`` (not fused) from its operands' codes."""
    return KINDS[q.cell.ops[k].kind].evaluate(constants(q, k), *codes)


def _int_linear(q: IntLayer, src: str, codes: Array) -> Array:
    """The fused operators on ``src`` (codes ``[..., in]``) as one matmul, each operator's
    slice requantized to its own width: ``int32[..., k*H]``."""
    group = q.cell.linear_groups[src]
    return KINDS[q.cell.ops[group[0]].kind].evaluate(group_constants(q, src), codes)


def x_gate_codes(q: IntLayer, x: Array) -> Array:
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


def int_step(
    q: IntLayer, xg: Array, carry: tuple[Array, ...], read: dict[str, Array] | None = None
) -> tuple[tuple[Array, ...], tuple[Array, ...]]:
    """One integer step: the input-side codes ``xg: [..., k*H]`` (of :func:`x_gate_codes`) and
    the codes of ``cell.carry`` (each ``int32[..., H]``) to the new carry and the output codes of
    every operator (declaration order), each ``int32[..., H]``. ``read``: the codes each state's
    matmuls read instead of the state's (a delta network's ``s_hat``)."""
    cell = q.cell
    values = dict(zip(cell.carry, carry))
    reads = values if read is None else read
    for src, group in cell.linear_groups.items():
        acc = xg.astype(jnp.int32) if src == INPUT else _int_linear(q, src, reads[src])
        values.update(zip((cell.ops[k].name for k in group), jnp.split(acc, len(group), axis=-1)))
    values = cell.walk(values, lambda k, op, *a: op_codes(q, k, *a))
    return tuple(values[n] for n in cell.carry), tuple(values[op.name] for op in cell.ops)


def initial_carry(q: IntLayer, batch: int) -> tuple[Array, ...]:
    """Codes of the zero initial carry, ``int32[batch, H]`` each."""
    return tuple(jnp.full((batch, q.hidden), q.zero[k], jnp.int32) for k in q.cell.carry_ops)


def below_gate_codes(q: IntLayer, codes: Array) -> Array:
    """A deeper layer's input-side codes from the layer below's output codes ``int32[..., H]``."""
    return _int_linear(q, INPUT, codes)


def delta_update(theta: Array, codes: Array, s_hat: Array) -> tuple[Array, Array]:
    """One delta step of a source: a unit is propagated when ``|codes - s_hat| > theta``; returns
    the codes last propagated after the step (``codes`` where propagated, ``s_hat`` elsewhere) and
    the propagated mask ``bool[..., n]``."""
    propagated = jnp.abs(codes - s_hat) > theta
    return jnp.where(propagated, codes, s_hat), propagated


def initial_memory(q: IntLayer, batch: int, fan_in: int) -> tuple[Array, ...]:
    """A delta layer's ``s_hat`` before the first step: every source at its zero point (real 0),
    ``int32[batch, fan_in]`` for ``x``, ``int32[batch, H]`` for a state."""
    return tuple(jnp.full((batch, fan_in if s == INPUT else q.hidden), q.x_zero if s == INPUT else
                          q.zero[q.cell.index(s)], jnp.int32) for s in q.cell.sources)


Select = Callable[[IntLayer, Array], Array]


def layer_scan(
    q: IntLayer, xs: Array, select: Select | None = None, lengths: Array | None = None, *, outputs: bool = False
) -> tuple[tuple[Array, ...], Array | None, Array | None]:
    """One layer over time: ``xs: [T, ...]`` is scanned and ``select(q, xs[t])`` gives step
    ``t``'s input-side codes ``[B, k*H]`` (default: ``xs[t]`` already is them); for a delta layer
    (``q.theta`` set) it gives the input's codes ``[B, I]`` instead. Returns the last carry, with
    ``outputs`` (static) the output codes at every step ``int32[T, B, H]``, and for a delta layer
    the units propagated per source ``int32[len(cell.sources)]`` (summed over valid steps and
    the batch). ``lengths: int[B]``: steps at or past a sequence's end leave its carry (and a delta
    layer's ``s_hat``) unchanged."""
    cell = q.cell
    out = cell.carry.index(cell.output)
    delta = q.theta is not None

    def step(carry, inputs):
        state, s_hat, count = carry
        xs_t, t = inputs
        valid = None if lengths is None else t < lengths
        codes = xs_t if select is None else select(q, xs_t)
        if delta:
            values = {INPUT: codes, **dict(zip(cell.carry, state))}
            updates = [delta_update(q.theta[i], values[s], s_hat[i]) for i, s in enumerate(cell.sources)]
            read = {s: u[0] for s, u in zip(cell.sources, updates)}
            xg = _int_linear(q, INPUT, read[INPUT])
            new = int_step(q, xg, state, read)[0]
            s_hat = hold(valid, tuple(read.values()), s_hat)
            count = count + jnp.stack([jnp.sum(p if valid is None else p & valid[:, None], dtype=jnp.int32)
                                       for _, p in updates])
        else:
            new = int_step(q, codes, state)[0]
        new = hold(valid, new, state)
        return (new, s_hat, count), new[out] if outputs else None

    leading = jax.tree.leaves(xs)[0]
    batch = leading.shape[-2]
    memory, count = (), None
    if delta:  # derived from theta, so that under shard_map they vary with the population like the step's outputs
        memory = tuple(m + 0 * t for m, t in zip(initial_memory(q, batch, leading.shape[-1]), q.theta))
        count = 0 * q.theta
    (carry, _, count), ys = jax.lax.scan(step, (initial_carry(q, batch), memory, count),
                                         (xs, jnp.arange(xs.shape[0])))
    return carry, ys, count


def int_scan(
    q: IntModel, xs: Array, select: Select | None = None, lengths: Array | None = None, *, counted: bool = False
) -> Array | tuple[Array, Array]:
    """Runs the stack over time and the head; returns integer logits ``int32[B, C]``.

    The first layer scans ``xs: [T, ...]`` with ``select`` (:func:`layer_scan`); each deeper
    layer scans the output codes of the layer below. ``lengths: int[B]`` (optional): each
    sequence's valid steps; the head reads its last. ``counted`` (static; delta models only):
    also return the units propagated per delta source ``int32[n_delta]`` (``stack.delta_sources``).
    """
    if counted and q.layers[0].theta is None:
        raise ValueError("counted=True needs a delta model (quantize(..., thresholds=...)).")
    last = len(q.layers) - 1
    counts = []
    for i, layer in enumerate(q.layers):
        below = None if layer.theta is not None else below_gate_codes
        carry, xs, count = layer_scan(layer, xs, select if i == 0 else below, lengths, outputs=i < last)
        counts.append(count)
    out = carry[layer.cell.carry.index(layer.cell.output)]
    logits = matmul(q.head, "wd", out, q.wide) + q.head["bd"]
    return (logits, jnp.concatenate(counts)) if counted else logits


def int_logits(
    q: IntModel, x: Array, lengths: Array | None = None, *, counted: bool = False
) -> Array | tuple[Array, Array]:
    """Integer logits ``int32[B, C]`` (units of ``q.logit_scale``) of float inputs ``x: [B, T, I]``
    (``lengths: int[B]``: each sequence's valid steps). ``counted`` (static): with deltas, also
    the units propagated per delta source (:func:`int_scan`)."""
    # The input-side codes are made inside each step: precomputed for every step they would be a
    # scanned input with the population's block axis on it, which made unshared scoring (P < 7, or
    # one set of weights per specimen: QAT, beacons) 3.7x slower on the CPU
    # (benchmarks/per_specimen_weights.py).
    select = quantize_input if q.layers[0].theta is not None else x_gate_codes  # a delta layer filters the codes
    return int_scan(q, jnp.swapaxes(x, 0, 1), select, lengths, counted=counted)
