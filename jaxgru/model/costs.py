"""What a genome costs on hardware: MOHAQ's cost models, read off the cell's declaration.

Every cost is a pure function of one genome (``int32[n_ops]``), vmapped over the population.
From the declaration come, per operator, its parameters and multiply-accumulates per time step
(:func:`jaxgru.model.counts.op_counts`) and the widths of the two operands of each multiplication: a
linear operator multiplies its weights (its own width) by its source's codes (the source
operator's width, or the input quantizer's); a ``scale`` operator its vector (its own width) by
its operand's codes; a ``mul`` operator its two operands; the dense head its weights (``head_bits``)
by the output state's codes. Sums, ``1 - x``, tables and ReLU do no multiplication, so they cost
nothing here, as in MOHAQ. ``docs/design.md`` ("Hardware costs") gives every formula and constant.

Costs are of one classified sequence of ``steps`` time steps: the cell's MACs and weight reads
``steps`` times, the head's once. A delta network executes only part of its matmuls' MACs and reads
only their columns: given each site's executed share (``executed``, from the operations it
eliminated), every cost counts the MACs and reads it executes, so ``bitops`` and the energies fall
with the skipped columns, and a speed-up is the mean rate over the executed MACs times the
reduction of the work (``sum MACs / sum executed MACs``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax import Array

from jaxgru.cells import Stack
from jaxgru.cells.declaration import Cell
from jaxgru.cells.genome import DEFAULT_IO_BITS, check_genomes
from jaxgru.model.counts import op_counts
from jaxgru.ops.kinds import KINDS

# SiLago (MOHAQ): an operation runs in the narrowest of its modes that holds both operands; at
# mode b it is 16 / b times faster than at 16 bits and costs E(b) pJ per MAC; a bit read from
# memory costs 0.08 pJ.
SILAGO_MODES = (4, 8, 16)
SILAGO_MAC_PJ = {4: 0.613 / 4, 8: 1.084 / 2, 16: 1.666}
SILAGO_READ_PJ_PER_BIT = 0.08
# Bitfusion (MOHAQ): speed-up over a 16 x 16-bit product by the product of the operand widths
# (each rounded up to a power of two, the width of its 2-bit bricks): 256 -> 1, ..., 8 -> 32, <= 4 -> 64.
BITFUSION_WIDTHS = (2, 4, 8, 16)
BITFUSION_MAX_SPEEDUP = 64
# The C export (jaxgru.deploy) on a 32-bit core: a weight array's descriptor (pointer, storage,
# width) is 12 bytes; elementwise kinds as its kernels group them (sigmoid and tanh: a table).
C_DESCRIPTOR_BYTES = 12
TABLE_KINDS = ("sigmoid", "tanh")
ELEMENTWISE = ("add", "sub1", "mul", "scale", "relu", "table")
# mcu_instructions' features (mcu_features), in order: multiply-accumulates per step by the path
# the export's matmul takes (on SMLAD paths, the rows after the last whole block apart), rows
# requantized (SMLAD blocks, the rows after them, others), elementwise outputs per step
# (rescaling kernels, tables; on the narrow and the wide datapath; scale vectors read packed), and
# the kernel calls (linear, elementwise operators).
MCU_PATHS = ("bytes", "dsp4", "dsp2", "packed2", "packed3", "packed4", "packed5", "packed6", "packed7",
             "bytes_wide", "halfwords")
MCU_FEATURES = (*(f"macs_{p}" for p in MCU_PATHS), "macs_tail", "rows_dsp", "rows_tail", "rows_other",
                "units_rescale", "units_rescale_wide",
                "units_table", "units_table_wide", "units_scale_packed", "calls_linear", "calls_elementwise")


@struct.dataclass
class CostModel:
    """Per multiplication site (every operator, then the head; ``[n_ops + 1]``): ``macs`` per
    sequence, ``a``/``b`` the operands' indices into ``[genome..., input_bits, head_bits]``;
    per parameter owner (same order): ``params`` and ``reads`` (parameters read per sequence).
    For the C export (same order): ``stored`` weights kept at the owner's width (a matrix, a
    vector), ``biases`` accumulator-typed constants, ``table`` the operand's index of a lookup
    table (``-1``: none), ``fan_in`` of a linear operator (0 otherwise), ``units`` elementwise
    outputs per step and ``kind`` their :data:`ELEMENTWISE` index (``-1``: none)."""

    macs: Array
    a: Array
    b: Array
    params: Array
    reads: Array
    stored: Array
    biases: Array
    table: Array
    fan_in: Array
    units: Array
    kind: Array
    input_bits: int = struct.field(pytree_node=False, default=DEFAULT_IO_BITS)
    head_bits: int = struct.field(pytree_node=False, default=DEFAULT_IO_BITS)


def _element_kind(kind: str) -> str:
    return "table" if kind in TABLE_KINDS else kind


def cost_model(stack: Stack | Cell | str, n_in: int, hidden: int | Sequence[int], n_classes: int, steps: int,
               input_bits: int = DEFAULT_IO_BITS, head_bits: int = DEFAULT_IO_BITS) -> CostModel:
    """The cost model of ``stack`` with these shapes, read off its declaration (a deeper layer's
    input linears multiply by the codes of the layer below's output operator)."""
    stack = Stack.of(stack)
    counts = op_counts(stack, n_in, hidden, n_classes)
    n = stack.n_ops
    input_idx, head_idx = n, n + 1
    pairs = []
    for k, op in enumerate(stack.ops):
        # The widths its kind multiplies: "self" is its own (its weights'), an int an operand's.
        srcs = [input_idx if s < 0 else s for s in stack.operand_ops[k]]
        multiplies = KINDS[op.kind].multiplies
        # (k, k) where it multiplies nothing: 0 MACs, the operands do not matter
        pairs.append(tuple(k if w == "self" else srcs[w] for w in multiplies) if multiplies else (k, k))
    pairs.append((head_idx, stack.output))
    a, b = np.asarray(pairs, np.int32).T
    fan_ins = [f for f, _ in stack.fan_ins(n_in, stack.hidden(hidden))]
    linear = np.array([op.kind == "linear" for op in stack.ops] + [False])
    units = np.append(np.where(linear[:-1], 0, counts.macs + counts.elementwise), 0)
    kind = [ELEMENTWISE.index(_element_kind(op.kind)) if not linear[k] else -1 for k, op in enumerate(stack.ops)]
    table = [(input_idx if stack.operand_ops[k][0] < 0 else stack.operand_ops[k][0])
             if op.kind in TABLE_KINDS else -1 for k, op in enumerate(stack.ops)]
    f = functools.partial(np.asarray, dtype=np.float64)
    biases = np.where(linear[:-1], counts.params - counts.macs, 0)
    return CostModel(
        macs=f(np.append(counts.macs * steps, counts.head_macs)), a=a, b=b,
        params=f(np.append(counts.params, counts.head_params)),
        reads=f(np.append(counts.params * steps, counts.head_params)),
        stored=f(np.append(counts.params - biases, counts.head_macs)),
        biases=f(np.append(biases, counts.head_params - counts.head_macs)),
        table=np.asarray(table + [-1], np.int32), fan_in=f(np.append(np.where(linear[:-1], fan_ins, 0), 0)),
        units=f(units), kind=np.asarray(kind + [-1], np.int32), input_bits=input_bits, head_bits=head_bits)


def _round_up(bits: Array, modes: tuple[int, ...]) -> Array:
    """The narrowest of ``modes`` that holds ``bits`` (the widest when none does)."""
    out = jnp.full_like(bits, modes[-1])
    for m in reversed(modes):
        out = jnp.where(bits <= m, m, out)
    return out


def _operands(model: CostModel, genome: Array) -> tuple[Array, Array, Array]:
    """Operand widths ``(wa, wb)`` of every multiplication site and every parameter owner's width."""
    dt = model.macs.dtype
    ext = jnp.concatenate([genome.astype(dt), jnp.array([model.input_bits, model.head_bits], dt)])
    owner = jnp.concatenate([genome.astype(dt), jnp.array([model.head_bits], dt)])
    return ext[model.a], ext[model.b], owner


def memory_bits(model: CostModel, genome: Array) -> Array:
    """Bits of parameters: each at the width of the operator that owns it (the head at ``head_bits``)."""
    return jnp.sum(model.params * _operands(model, genome)[2])


def bitops(model: CostModel, genome: Array) -> Array:
    """Sum over multiplications of MACs x operand width x operand width, per sequence."""
    wa, wb, _ = _operands(model, genome)
    return jnp.sum(model.macs * wa * wb)


def silago_mode(wa: Array, wb: Array) -> Array:
    """The SiLago mode (4, 8 or 16 bits) a multiplication runs in: the narrowest that holds both operands."""
    return _round_up(jnp.maximum(wa, wb), SILAGO_MODES)


def silago_speedup(model: CostModel, genome: Array) -> Array:
    """MAC-weighted mean speed-up over 16 bits: ``sum macs * 16 / mode / sum macs``."""
    wa, wb, _ = _operands(model, genome)
    return jnp.sum(model.macs * 16.0 / silago_mode(wa, wb)) / jnp.sum(model.macs)


def silago_energy(model: CostModel, genome: Array) -> Array:
    """Energy per sequence in microjoules: every parameter bit read (0.08 pJ each) plus every
    MAC at its mode's energy ``E(4) = 0.613/4, E(8) = 1.084/2, E(16) = 1.666`` pJ."""
    wa, wb, owner = _operands(model, genome)
    mode = silago_mode(wa, wb)
    e_mac = jnp.where(mode <= 4, SILAGO_MAC_PJ[4], jnp.where(mode <= 8, SILAGO_MAC_PJ[8], SILAGO_MAC_PJ[16]))
    pj = SILAGO_READ_PJ_PER_BIT * jnp.sum(model.reads * owner) + jnp.sum(model.macs * e_mac)
    return pj * 1e-6


def bitfusion_speedup(model: CostModel, genome: Array) -> Array:
    """MAC-weighted mean speed-up over 16 x 16 bits: ``min(64, 256 / (pa * pb))`` per
    multiplication, ``pa, pb`` the operand widths rounded up to 2, 4, 8 or 16."""
    wa, wb, _ = _operands(model, genome)
    prod = _round_up(wa, BITFUSION_WIDTHS) * _round_up(wb, BITFUSION_WIDTHS)
    per_mac = jnp.minimum(BITFUSION_MAX_SPEEDUP, 256.0 / prod)
    return jnp.sum(model.macs * per_mac) / jnp.sum(model.macs)


def _widths(model: CostModel, genome: Array) -> tuple[Array, Array, Array]:
    """``ext`` (the genome, then input and head widths), each owner's width and whether the export
    takes the wide datapath (int16 codes: some width above 8)."""
    dt = model.macs.dtype
    ext = jnp.concatenate([genome.astype(dt), jnp.array([model.input_bits, model.head_bits], dt)])
    return ext, _operands(model, genome)[2], jnp.max(ext) > 8


def flash_bytes(model: CostModel, genome: Array) -> Array:
    """Bytes of constants the C export puts in flash (``jaxgru.deploy``, weights packed): every
    weight array at its width (below 8 bits ``ceil(n * b / 8)``, 8 bits a byte, above two), its
    12-byte descriptor, the biases (int32, int64 on the wide datapath) and each lookup table's
    ``2^b`` entries (b the operand's width; int8 or int16). Code and the literals in it not
    included. As ``arm-none-eabi-size`` counts the dense export's ``.rodata`` on a 32-bit core."""
    ext, owner, wide = _widths(model, genome)
    n = model.stored
    weights = jnp.where(owner < 8, jnp.ceil(n * owner / 8), jnp.where(owner == 8, n, 2 * n))
    descriptors = C_DESCRIPTOR_BYTES * (n > 0)
    tables = jnp.where(model.table >= 0, 2.0 ** ext[jnp.maximum(model.table, 0)], 0)
    return (jnp.sum(weights + descriptors) + jnp.sum(model.biases) * jnp.where(wide, 8, 4)
            + jnp.sum(tables) * jnp.where(wide, 2, 1))


def mcu_features(model: CostModel, genome: Array) -> Array:
    """``float[len(MCU_FEATURES)]``: the counts per time step that :func:`mcu_instructions` weighs.
    Each linear operator's MACs go to the path the export's matmul takes: on the narrow datapath
    grouped 8-bit (one code per byte), 4- and 2-bit weights through SMLAD in blocks of 4, 4 and 8
    rows (the rows after the last whole block apart, ``tail``); other packed widths through the
    bit reader; on the wide datapath bytes, grouped rows or int16 loops."""
    _, w, wide = _widths(model, genome)
    lin, narrow = model.fan_in > 0, ~wide
    dsp = {b: lin & narrow & (w == b) for b in (4, 2)}
    paths = {"bytes": lin & narrow & (w == 8), "dsp4": dsp[4], "dsp2": dsp[2],
             **{f"packed{b}": lin & (w == b) & ~dsp.get(b, False) for b in range(2, 8)},
             "bytes_wide": lin & wide & (w == 8), "halfwords": lin & (w > 8)}
    rows = model.stored / jnp.maximum(model.fan_in, 1)
    on_dsp = paths["bytes"] | dsp[4] | dsp[2]
    block = jnp.where(w == 2, 8, 4).astype(model.macs.dtype)  # rows a block of the SMLAD path takes
    tail_rows = jnp.where(on_dsp, jnp.mod(rows, block), 0)
    tail = tail_rows * model.fan_in
    table = model.kind == ELEMENTWISE.index("table")
    rescale = jnp.sum(jnp.where((model.kind >= 0) & ~table, model.units, 0))
    tables = jnp.sum(jnp.where(table, model.units, 0))
    scale_packed = jnp.sum(jnp.where((model.kind == ELEMENTWISE.index("scale")) & (w < 8), model.units, 0))
    values = [*(jnp.sum(jnp.where(paths[name], model.stored - tail, 0)) for name in MCU_PATHS),
              jnp.sum(tail), jnp.sum(jnp.where(on_dsp, rows - tail_rows, 0)), jnp.sum(tail_rows),
              jnp.sum(jnp.where(lin & ~on_dsp, rows, 0)),
              rescale * narrow, rescale * wide, tables * narrow, tables * wide, scale_packed,
              jnp.sum(lin), jnp.sum(model.kind >= 0)]
    return jnp.stack([jnp.asarray(v, model.macs.dtype) for v in values])


MCU_FIT = "cortex_m4_instructions.json"  # package data, written by benchmarks/mcu_instructions.py


@functools.cache
def mcu_coefficients() -> np.ndarray:
    """Instructions per unit of each of :data:`MCU_FEATURES` on a Cortex-M4 (fitted; see
    ``docs/deploy.md``)."""
    fit = json.loads(resources.files("jaxgru.model").joinpath(MCU_FIT).read_text())
    if tuple(fit["features"]) != MCU_FEATURES:
        raise RuntimeError(f"{MCU_FIT} was fitted to other features; rerun benchmarks/mcu_instructions.py.")
    return np.asarray(fit["coefficients"], np.float64)


def mcu_instructions(model: CostModel, genome: Array) -> Array:
    """Instructions per time step of the dense C export (weights packed) on a Cortex-M4, as the
    fitted linear model of :func:`mcu_features` predicts them (its error: ``docs/deploy.md``)."""
    return mcu_features(model, genome) @ jnp.asarray(mcu_coefficients(), model.macs.dtype)


@dataclass(frozen=True)
class Objective:
    """A minimized objective: ``value(model, genome)`` (its natural units, ``unit``) and whether
    larger is better; the search minimizes ``value / value(all 16 bits)`` (or its inverse), so
    the 16-bit model scores 1 on every cost and the hypervolume's reference point is all ones."""

    name: str
    value: object
    unit: str
    maximize: bool = False


# `error` is scored by the evaluator, not here; every other objective is a cost.
COSTS = {
    "size": Objective("size", memory_bits, "bits"),  # GRU-GA's: M_Q / M_FP16 once normalized
    "memory": Objective("memory", lambda m, g: memory_bits(m, g) / 8, "bytes"),
    "bitops": Objective("bitops", bitops, "bit-ops"),
    "silago_speedup": Objective("silago_speedup", silago_speedup, "x", maximize=True),
    "silago_energy": Objective("silago_energy", silago_energy, "uJ"),
    "bitfusion_speedup": Objective("bitfusion_speedup", bitfusion_speedup, "x", maximize=True),
    "flash_bytes": Objective("flash_bytes", flash_bytes, "bytes"),
    "mcu_instructions": Objective("mcu_instructions", mcu_instructions, "instructions per step"),
}
# Objectives the scoring call measures rather than the cost model: the error, and a delta
# network's share of multiply-accumulates eliminated (minimized as the share executed).
MEASURED = ("error", "eliminated_ops")
OBJECTIVES = (*MEASURED, *COSTS)


def _executing(model: CostModel, executed: Array) -> CostModel:
    """``model`` counting only the executed share ``executed [n_ops + 1]`` of each site's MACs and reads."""
    return model.replace(macs=model.macs * executed, reads=model.reads * executed)


def _cost(name: str, model: CostModel, genome: Array, executed: Array) -> Array:
    """Cost ``name`` of the executed operations; a speed-up (a mean rate per MAC) is also
    multiplied by the reduction of the work, ``sum MACs / sum executed MACs``."""
    value = COSTS[name].value(_executing(model, executed), genome)
    if COSTS[name].maximize:
        value = value * jnp.sum(model.macs) / jnp.sum(model.macs * executed)
    return value


@functools.partial(jax.jit, static_argnames="names")
def _population_costs(model: CostModel, genomes: Array, executed: Array, names: tuple[str, ...]) -> dict[str, Array]:
    return {n: jax.vmap(lambda g, e, n=n: _cost(n, model, g, e))(genomes, executed) for n in names}


def population_costs(model: CostModel, genomes, stack: Stack | Cell | str, names=tuple(COSTS),
                     eliminated_ops=None) -> dict[str, np.ndarray]:
    """Every cost in ``names`` of ``genomes: int[P, n_ops]``, in its natural units, ``float64[P]``
    (computed in float64, so counts and sizes are exact). ``eliminated_ops: [P, n_ops]``: a delta
    network's share of each operator's MACs skipped (``jaxgru.model.population.Scores``)."""
    stack = Stack.of(stack)
    genomes = check_genomes(genomes, stack, name="genomes").reshape(-1, stack.n_ops)
    executed = np.ones((len(genomes), stack.n_ops + 1))
    if eliminated_ops is not None:
        executed[:, :-1] -= np.asarray(eliminated_ops, np.float64).reshape(len(genomes), stack.n_ops)
    with jax.enable_x64(True):
        model64 = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64 if v.dtype.kind == "f" else jnp.int32), model)
        out = _population_costs(model64, jnp.asarray(genomes), jnp.asarray(executed), tuple(names))
        return {k: np.asarray(v, np.float64) for k, v in out.items()}


def normalized(model: CostModel, values: dict[str, np.ndarray], stack: Stack | Cell | str) -> dict[str, np.ndarray]:
    """Each cost as the search minimizes it: relative to the all-16-bit model, its input and
    head included (the inverse for a speed-up), so 1 is the 16-bit model and smaller is better.
    ``size`` is then GRU-GA's ``M_Q / M_FP16``."""
    ref_model = model.replace(input_bits=16, head_bits=16)
    stack = Stack.of(stack)
    ref = population_costs(ref_model, np.full((1, stack.n_ops), 16, np.int32), stack, tuple(values))
    return {k: (ref[k][0] / v if COSTS[k].maximize else v / ref[k][0]) for k, v in values.items()}


def check_objectives(names) -> tuple[str, ...]:
    """Validates ``objectives``: ``error`` first, then one or more known costs (or
    ``eliminated_ops``), no repeats."""
    names = tuple(n.strip() for n in (names.split(",") if isinstance(names, str) else names))
    unknown = [n for n in names if n not in OBJECTIVES]
    if unknown:
        raise ValueError(f"unknown objective(s) {unknown}; choose from {', '.join(OBJECTIVES)} (e.g. error,size).")
    if len(names) < 2 or names[0] != "error" or len(set(names)) != len(names):
        raise ValueError(f"`objectives` must start with error and add one or more distinct costs "
                         f"({', '.join(OBJECTIVES[1:])}); got {','.join(names)}.")
    return names
