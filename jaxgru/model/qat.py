"""Quantization-aware training of a whole population at once.

:func:`fake_quant_logits` is the float twin of the integer model: every operator output, the
input, every weight and bias is rounded onto the grid that :func:`jaxgru.model.integer.quantize`
gives it for the same genome and ranges, so the forward pass reproduces the integer model's
codes (up to its fixed-point multipliers and round-half-up requantization); the backward pass
is a straight-through estimator (identity inside the code range, zero where it saturates).

:func:`qat_population` fine-tunes one copy of the float weights per specimen, each with its own
bit widths, in one jitted step vmapped over the population (Optax Adam). Activation ranges stay
those of the float model's calibration; weight scales follow the weights (max |w|), as in the
integer model, so :func:`jaxgru.model.population.population_accuracy` scores the result directly.
Nothing here is specific to a cell: the twin walks the cell's declaration.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from jaxgru.cells.declaration import Cell
from jaxgru.cells.genome import check_genomes, check_io_bits, is_wide
from jaxgru.model.blocks import CPU_QAT_BLOCK, Block, map_blocks, resolve_block
from jaxgru.model.calibrate import Ranges
from jaxgru.model.floating import (
    ModelParams,
    check_params,
    float_step,
    input_linears,
    layer_arrays,
    layer_hidden,
    owned,
)
from jaxgru.model.integer import (
    Grid,
    IntLayer,
    below_gate_codes,
    grids,
    initial_carry,
    int_step,
    quantize,
    x_gate_codes,
)
from jaxgru.model.lengths import check_lengths, hold
from jaxgru.model.training import cross_entropy
from jaxgru.ops.kinds import KINDS
from jaxgru.ops.primitives import quantize_weights

sg = jax.lax.stop_gradient


def fake_quant(x: Array, scale: Array, zero: Array, qmin: Array, qmax: Array) -> Array:
    """``S * (clip(round(x / S) + Z, qmin, qmax) - Z)`` with a straight-through gradient: 1 where
    ``x`` lies inside the representable range, 0 where it saturates."""
    xc = jnp.clip(x, scale * (qmin - zero).astype(x.dtype), scale * (qmax - zero).astype(x.dtype))
    return xc + sg(jnp.round(xc / scale) * scale - xc)


def _fake_quant_layer(cell: Cell, w: dict, g: Grid) -> dict:
    """One layer's weights on the grid of its :class:`~jaxgru.model.integer.Grid`: each
    operator's parameters by their kind's quantizer (``Param.quant``: a ``weight`` symmetric at
    the operator's width, a ``bias`` in units of its weight's scale times its operand's), each
    straight-through; a linear group's restacked."""
    hidden = layer_hidden(cell, w)
    out, parts = {}, {}
    for k, op in enumerate(cell.ops):
        (src,) = cell.operand_ops[k][:1] or (None,)
        in_scale = g.x_scale if src is not None and src < 0 else (g.scale[src] if src is not None else None)
        w_scale = None
        for prm, value in zip(KINDS[op.kind].owns, owned(cell, w, k, hidden).values()):
            if prm.quant == "weight":
                codes, w_scale = quantize_weights(sg(value), g.bits[k])
                q = value + sg(codes.astype(value.dtype) * w_scale - value)
            else:  # a bias, in accumulator units
                acc_scale = sg(w_scale * in_scale)
                q = value + sg(jnp.round(value / acc_scale) * acc_scale - value)
            parts.setdefault(cell.param_key(k, prm.name), []).append(q)
    for key, values in parts.items():
        out[key] = values[0] if len(values) == 1 else jnp.concatenate(values, axis=-1)
    return out


def fake_quant_weights(p: ModelParams, gs: tuple[Grid, ...], head_bits: Array) -> dict:
    """Every weight of ``p`` on the grid the integer model gives it for the genome whose
    per-layer quantizers are ``gs`` (:func:`jaxgru.model.integer.grids`), with the same names
    as ``p.arrays``; the head's at ``head_bits``."""
    stack, w = p.stack, {}
    for layer, (cell, g) in enumerate(zip(stack.cells, gs)):
        w.update({stack.prefix(layer) + k: v for k, v in _fake_quant_layer(cell, p.layer(layer), g).items()})
    wd_codes, d_scale = quantize_weights(sg(p["wd"]), head_bits)
    w["wd"] = p["wd"] + sg(wd_codes.astype(p["wd"].dtype) * d_scale - p["wd"])
    last, k = gs[-1], stack.cells[-1].index(stack.cells[-1].output)
    bd_scale = sg(d_scale * last.scale[k])
    w["bd"] = p["bd"] + sg(jnp.round(p["bd"] / bd_scale) * bd_scale - p["bd"])
    return w


def fake_quant_logits(
    p: ModelParams, ranges: Ranges, bits: Array, x: Array, input_bits: Array = 8, head_bits: Array = 8,
    *, exact: bool = True, wide: bool = False, lengths: Array | None = None,
) -> Array:
    """Float logits ``[B, C]`` of the fake-quantized model of genome ``bits: int32[n_ops]`` on
    ``x: float32[B, T, I]``; differentiable in ``p`` (straight-through).

    The float walk of each layer (:func:`jaxgru.model.floating.float_step`) with every operator's
    value put on its grid; a deeper layer reads the layer below's (fake-quantized) outputs.
    ``exact`` (static): the integer model runs alongside and every operator's
    value is snapped to the real value of its integer code, so the forward pass *is* the integer
    model (its logits up to float summation order) and only the gradient comes from the float
    surrogate. Without it the surrogate rounds in float, which tips a few codes the other way
    (its fixed-point multipliers and round-half-up differ from float rounding) and costs less.
    ``wide`` (static): the integer model runs the wide datapath (widths above 8 bits).
    ``lengths: int[B]`` (optional): each sequence's valid steps."""
    stack = p.stack
    bits = jnp.asarray(bits, jnp.int32)
    gs = grids(stack, ranges, bits, input_bits)
    w = fake_quant_weights(p, gs, head_bits)
    q = quantize(sg(p), ranges, bits, input_bits, head_bits, wide=wide) if exact else None  # no gradient
    fake = fake_quant(x, gs[0].x_scale, gs[0].x_zero, gs[0].x_qmin, gs[0].x_qmax)
    codes_in = jnp.swapaxes(x, 0, 1)  # the first layer's integer input codes are made per step
    last = stack.layers - 1
    for layer, (cell, g) in enumerate(zip(stack.cells, gs)):
        wl = layer_arrays(stack, w, layer)
        if layer == 0:
            pre = {k: jnp.swapaxes(v, 0, 1) for k, v in input_linears(cell, wl, fake).items()}  # {name: [T, B, H]}
        else:
            pre = input_linears(cell, wl, fake)
        ql = None if q is None else q.layers[layer]
        carry, ys = _fake_quant_layer_scan(cell, wl, g, ql, pre, codes_in, lengths, layer == 0, emit=layer < last)
        if layer < last:
            fake, codes_in = ys
    out = stack.cells[-1]
    return carry[out.carry.index(out.output)] @ w["wd"] + w["bd"]


def _fake_quant_layer_scan(cell: Cell, w: dict, g: Grid, q: IntLayer | None, pre: dict, codes_in: Array,
                           lengths: Array | None, first: bool, *, emit: bool):
    """One layer of :func:`fake_quant_logits` over time: ``pre`` its input linears ``{name:
    [T, B, H]}``, ``codes_in`` the integer side's input (float inputs for the first layer, the
    layer below's codes above it; unused without ``q``). Returns the last float carry and, with
    ``emit``, the output's values and codes at every step (the next layer's input)."""
    steps, batch = pre[cell.ops[cell.input_ops[0]].name].shape[:2]
    select = x_gate_codes if first else below_gate_codes
    carry0 = tuple(jnp.zeros((batch, layer_hidden(cell, w)), pre[cell.ops[0].name].dtype) for _ in cell.carry)
    out_at = cell.carry.index(cell.output)

    def step(state, inputs):
        carry, codes_carry = state
        pre_t, code_in_t, t = inputs
        codes = None if q is None else int_step(q, select(q, code_in_t), codes_carry)

        def out(k, v):  # operator k's value: on its grid, and on its integer code when exact
            v = fake_quant(v, g.scale[k], g.zero[k], g.qmin[k], g.qmax[k])
            return v if codes is None else v + sg(g.scale[k] * (codes[1][k] - g.zero[k]).astype(v.dtype) - v)

        valid = None if lengths is None else t < lengths
        new = hold(valid, float_step(cell, w, pre_t, carry, hook=out)[0], carry)
        new_codes = None if codes is None else hold(valid, codes[0], codes_carry)
        ys = (new[out_at], None if new_codes is None else new_codes[out_at]) if emit else None
        return (new, new_codes), ys

    init = (carry0, None if q is None else initial_carry(q, batch))
    (carry, _), ys = jax.lax.scan(step, init, (pre, codes_in if q is not None else None, jnp.arange(steps)))
    return carry, ys


QAT_MEMORY_BUDGET = 2 * 2**30  # bytes of saved activations per vmapped QAT call
# Values kept for the backward pass per (sample, step, hidden unit, operator), with headroom
# (sized on the GRU: 40 per hidden unit over its 17 operators).
_FLOATS_PER_OP_UNIT = 40 / 17


def memory_block(
    population: int, steps: int, batch_size: int, *, op_units: int, budget: int = QAT_MEMORY_BUDGET
) -> int:
    """Specimens per vmapped QAT block whose saved activations fit ``budget`` bytes, for a model
    of ``op_units`` operator outputs per step (each layer's hidden width times its operators, summed)."""
    per_specimen = int(batch_size * steps * _FLOATS_PER_OP_UNIT * op_units * 4)
    return int(max(1, min(population, budget // per_specimen)))


@functools.lru_cache(maxsize=8)
def _population_step(
    tx: optax.GradientTransformation, exact: bool, block: int | None, wide: bool = False
) -> Callable:
    """The QAT step with optimizer ``tx``, jitted and mapped over the population (weights,
    optimizer state, genome) in vmapped blocks of ``block`` (:func:`jaxgru.model.blocks.map_blocks`);
    ranges, the batch and the I/O widths are shared. Cached per (optimizer, settings)."""

    def step(p, opt_state, bits, ranges, x, y, lengths, input_bits, head_bits):
        loss_fn = lambda q: cross_entropy(  # noqa: E731
            fake_quant_logits(q, ranges, bits, x, input_bits, head_bits, exact=exact, wide=wide, lengths=lengths), y)
        loss, grads = jax.value_and_grad(loss_fn)(p)
        updates, opt_state = tx.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state, loss

    def population_step(p, opt_state, genomes, *shared):
        return map_blocks(lambda s: step(*s, *shared), (p, opt_state, genomes), block)

    return jax.jit(population_step)


@functools.lru_cache(maxsize=8)
def _adam(learning_rate: float) -> optax.GradientTransformation:
    """QAT's default optimizer; one object per step size, so the compiled step is reused."""
    return optax.adam(learning_rate)


def _replicate(p: ModelParams, n: int) -> ModelParams:
    return jax.tree.map(lambda a: jnp.repeat(jnp.asarray(a)[None], n, axis=0), p)


def qat_population(
    p: ModelParams,
    ranges: Ranges,
    genomes,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int = 1,
    batch_size: int = 128,
    learning_rate: float = 1e-5,
    seed: int = 0,
    optimizer: optax.GradientTransformation | None = None,
    block: Block = "auto",
    input_bits: int = 8,
    head_bits: int = 8,
    exact: bool = True,
    lengths=None,
) -> ModelParams:
    """Fine-tunes a copy of ``p`` per genome of ``genomes: int[P, n_ops]`` on ``x: [N, T, I]``,
    ``y: [N]``; returns the population's weights, every leaf with a leading axis ``[P]``.

    ``optimizer`` (an Optax transformation, one state per specimen) defaults to Adam at
    ``learning_rate``. Every specimen sees the same batches (order drawn from ``seed`` by host
    NumPy; the last partial batch of an epoch is dropped), so a specimen's result does not
    depend on the rest of the population, nor on ``block``: specimens are trained vmapped
    ``block`` at a time, one block after another inside one jitted step (``"auto"``: 2 on the
    CPU, where that was fastest; elsewhere as many as :func:`memory_block` fits in memory;
    ``None``: all at once). ``exact``: the forward pass is
    the integer model itself (see :func:`fake_quant_logits`). ``lengths: int[N]`` (optional):
    each sequence's valid steps.
    """
    genomes = check_genomes(genomes, check_params(p).stack, name="genomes")
    if genomes.ndim != 2:
        raise ValueError(f"genomes must be a population [P, {p.stack.n_ops}]; got shape {genomes.shape}.")
    x, y = np.asarray(x, np.float32), np.asarray(y, np.int32)
    if x.ndim != 3 or len(x) != len(y) or len(x) < batch_size:
        raise ValueError(
            f"QAT needs x [N, T, I] and y [N] with N >= batch_size ({batch_size}); got {x.shape}, {y.shape}.")
    if epochs < 0 or learning_rate <= 0:
        raise ValueError(f"QAT needs epochs >= 0 and learning_rate > 0; got {epochs}, {learning_rate}.")
    input_bits = check_io_bits(input_bits, name="input_bits")
    head_bits = check_io_bits(head_bits, name="head_bits")
    lengths = check_lengths(lengths, len(x), x.shape[1])
    op_units = sum(h * c.n_ops for h, c in zip(p.hidden, p.stack.cells))
    fits = memory_block(len(genomes), x.shape[1], batch_size, op_units=op_units)
    block = resolve_block(block, min(CPU_QAT_BLOCK, fits), fits)
    wide = bool(exact) and is_wide(np.concatenate([genomes.ravel(), [input_bits, head_bits]]))
    tx = _adam(float(learning_rate)) if optimizer is None else optimizer
    step = _population_step(tx, bool(exact), block, wide)
    rng = np.random.default_rng(seed)
    steps = len(x) // batch_size
    batches = [rng.permutation(len(x))[: steps * batch_size].reshape(steps, batch_size) for _ in range(epochs)]
    g = jnp.asarray(genomes)
    params = _replicate(p, len(g))
    opt_state = jax.vmap(tx.init)(params)
    with jax.enable_x64(wide):  # only the wide integer model needs int64; floats stay float32
        for idx in (i for epoch in batches for i in epoch):
            params, opt_state, _ = step(params, opt_state, g, ranges, jnp.asarray(x[idx]), jnp.asarray(y[idx]),
                                        None if lengths is None else jnp.asarray(lengths[idx]),
                                        jnp.int32(input_bits), jnp.int32(head_bits))
    return params
