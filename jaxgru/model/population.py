"""Scoring a whole population of genomes in one jitted, vmapped call."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxgru import distributed
from jaxgru.cells.genome import DEFAULT_IO_BITS, DEFAULT_WIDTHS, Widths, check_genomes, check_io_bits, check_thresholds
from jaxgru.model.blocks import CPU_EVAL_BLOCK, Block, map_blocks, resolve_block
from jaxgru.model.calibrate import Ranges
from jaxgru.model.counts import eliminated_shares
from jaxgru.model.floating import ModelParams, check_params
from jaxgru.model.integer import IntModel, int_logits, int_scan, quantize, select_x_gates, x_gate_codes
from jaxgru.model.lengths import check_lengths

# Live int32 values per (specimen, sample, hidden unit, operator) inside one step, with headroom
# (measured on the GRU: 48 per gate unit, 3 gates, 17 operators); sizes data chunks so that
# P = 1024 stays within a few GiB.
_WORDS_PER_OP_UNIT = 3 * 48 / 17
DEFAULT_MEMORY_BUDGET = 2 * 2**30  # bytes of activations per chunk


def quantize_population(
    p: ModelParams, ranges: Ranges, genomes: Array, input_bits: Array, head_bits: Array, *,
    widths: tuple[int, ...] = DEFAULT_WIDTHS.values, thresholds: Array | None = None,
) -> tuple[IntModel, IntModel | None]:
    """The integer models of ``genomes: int32[P, n_ops]`` and of the homogeneous genomes of
    ``widths`` (static; whose input projections the population shares), both with a leading
    model axis. Widths above 8 bits in ``widths`` select the wide datapath (``jax.enable_x64``).

    ``p`` is one set of float weights, or one per specimen (every leaf with a leading ``[P]``,
    as quantization-aware training gives them); then nothing is shared and the second model is
    ``None``. So it is with delta ``thresholds: int32[P, n_delta]``: a delta layer filters its
    input codes before the matmuls, so each specimen computes its own projections."""
    wide = Widths(widths).wide
    one = lambda p_, g, t=None: quantize(p_, ranges, g, input_bits, head_bits, wide=wide, thresholds=t)  # noqa: E731
    if thresholds is not None:
        return jax.vmap(one, (0 if p.per_specimen else None, 0, 0))(p, genomes, thresholds), None
    if p.per_specimen:
        return jax.vmap(one)(p, genomes), None
    homogeneous = jnp.asarray(Widths(widths).homogeneous(p.stack))
    return jax.vmap(one, (None, 0))(p, genomes), jax.vmap(one, (None, 0))(p, homogeneous)


def quantized_population_logits(
    models: IntModel, per_width: IntModel | None, x: Array, lengths: Array | None = None, *,
    block: int | None = None, widths: tuple[int, ...] = DEFAULT_WIDTHS.values, counted: bool = False,
) -> Array | tuple[Array, Array]:
    """Integer logits ``int[P, B, C]`` of the models of :func:`quantize_population` on
    ``x: float32[B, T, I]`` (``lengths: int[B]``, optional: each sequence's valid steps). The
    first layer's input projections (its cell's ``input_ops``) are computed once per width of
    ``widths`` and shared, since a specimen's own depend only on its widths (with fewer
    specimens than widths each computes its own, as does every specimen with its own weights,
    ``per_width=None``). Deeper layers read their own specimen's codes, so each computes its
    own input projections.

    ``block`` (static): specimens run vmapped in blocks of ``block``, one block after another
    (:func:`jaxgru.model.blocks.map_blocks`; ``None``: all at once). Activations scale with the block.
    ``counted`` (static; delta models): also the units propagated per delta source ``int32[P, n_delta]``."""
    if per_width is None or models.bits.shape[0] < per_width.bits.shape[0]:  # sharing pays only when P > |widths|
        run = lambda m: int_logits(m, x, lengths, counted=counted)  # noqa: E731
    else:
        # [T, len(widths), B, 3H]: scanned over T; each specimen picks its widths inside the step.
        shared = jax.vmap(x_gate_codes, (0, None), 1)(per_width.layers[0], jnp.swapaxes(x, 0, 1))
        pick = lambda q, s: select_x_gates(s, q.bits, q.cell, widths)  # noqa: E731
        run = lambda m: int_scan(m, shared, pick, lengths)  # noqa: E731
    return map_blocks(run, models, block)


def population_logits(
    p: ModelParams,
    ranges: Ranges,
    genomes: Array,
    x: Array,
    input_bits: Array,
    head_bits: Array,
    *,
    lengths: Array | None = None,
    block: Block = "auto",
    widths: tuple[int, ...] = DEFAULT_WIDTHS.values,
) -> Array:
    """Integer logits ``int[P, B, C]`` of ``genomes: int32[P, n_ops]`` on ``x: float32[B, T, I]``
    (``lengths: int[B]``, optional: each sequence's valid steps).

    Pure and traceable in every argument but ``block`` and ``widths`` (static; see
    :func:`population_accuracy`): the genomes are data, so a new population never recompiles.
    Every gene must be one of ``widths``; with a width above 8 trace it under ``jax.enable_x64``.
    """
    models, per_width = quantize_population(p, ranges, genomes, input_bits, head_bits, widths=widths)
    return quantized_population_logits(models, per_width, x, lengths, block=resolve_block(block, CPU_EVAL_BLOCK),
                                       widths=widths)


def _correct_counts(p, ranges, genomes, thresholds, x, y, lengths, input_bits, head_bits, *, batch_size: int,
                    block: int | None, widths: tuple[int, ...]) -> Array | tuple[Array, Array]:
    """Correct predictions ``int32[P]``; the data is scanned in chunks of ``batch_size``. With
    delta ``thresholds``, also the units propagated per chunk ``int32[n_chunks, P, n_delta]``
    (summed on the host, in int64)."""
    n = x.shape[0]
    n_batches = -(-n // batch_size)
    pad = n_batches * batch_size - n
    x = jnp.pad(x, ((0, pad),) + ((0, 0),) * (x.ndim - 1)).reshape((n_batches, batch_size) + x.shape[1:])
    y = jnp.pad(y, (0, pad), constant_values=-1).reshape(n_batches, batch_size)  # -1 never matches
    if lengths is not None:
        # length 0: a padding row never steps (and a delta model counts nothing of it)
        lengths = jnp.pad(lengths, (0, pad), constant_values=0).reshape(n_batches, batch_size)
    counted = thresholds is not None

    models, per_width = quantize_population(p, ranges, genomes, input_bits, head_bits, widths=widths,
                                            thresholds=thresholds)  # once

    def body(correct, batch):
        xb, yb, lb = batch
        out = quantized_population_logits(models, per_width, xb, lb, block=block, widths=widths, counted=counted)
        logits, propagated = out if counted else (out, None)
        return correct + jnp.sum(jnp.argmax(logits, axis=-1) == yb, axis=-1, dtype=jnp.int32), propagated

    # zeros_like: sharded like genomes
    correct, propagated = jax.lax.scan(body, jnp.zeros_like(genomes[:, 0]), (x, y, lengths))
    return (correct, propagated) if counted else correct


@functools.lru_cache(maxsize=32)
def _compiled_counts(devices: tuple, batch_size: int, block: int | None, per_specimen: bool,
                     widths: tuple[int, ...], delta: bool):
    """``_correct_counts`` jitted; over several devices, sharded along the population axis.

    Each device scores its own slice of the population against the whole (replicated) data
    set: specimens never communicate, so ``shard_map`` needs no collective at all. Weights
    are replicated, or split with the population when ``per_specimen`` (one set per specimen).
    When the devices span several processes, the scores are gathered to every device (one
    all-gather of ``int32[P]``), so that every process reads them all.
    """
    fn = functools.partial(_correct_counts, batch_size=batch_size, block=block, widths=widths)
    if len(devices) == 1:
        return jax.jit(fn)
    mesh = Mesh(np.array(devices), ("population",))
    rep, split = PartitionSpec(), PartitionSpec("population")
    gathered = {"out_shardings": NamedSharding(mesh, rep)} if distributed.spans_processes(devices) else {}
    return jax.jit(
        jax.shard_map(
            fn, mesh=mesh,
            in_specs=(split if per_specimen else rep, rep, split, split if delta else rep, rep, rep, rep, rep, rep),
            out_specs=(split, PartitionSpec(None, "population")) if delta else split,
        ), **gathered,
    )


def auto_batch_size(
    population: int, hidden: int, n: int, n_ops: int, memory_budget: int = DEFAULT_MEMORY_BUDGET
) -> int:
    """Largest data chunk whose activations for ``population`` specimens side by side (one
    block of them) fit ``memory_budget``; a cell's live values grow with its operators. For a
    stack, pass its largest layer's ``hidden`` and ``n_ops`` (the layers run one after another)."""
    per_sample = int(population * hidden * 4 * _WORDS_PER_OP_UNIT * n_ops)
    return int(max(1, min(n, memory_budget // per_sample)))


class Scores(NamedTuple):
    """What :func:`population_scores` measures per specimen: ``accuracy float64[P]``; with delta
    thresholds, ``eliminated float64[P]``, the share of every multiply-accumulate of the model
    (matmuls, elementwise products, the head) that was skipped, and ``eliminated_ops float64[P,
    n_ops]``, each operator's share of its own (0 where it has none or no deltas); padded steps
    excluded. Without thresholds both are ``None``."""

    accuracy: np.ndarray
    eliminated: np.ndarray | None = None
    eliminated_ops: np.ndarray | None = None


def population_accuracy(p: ModelParams, ranges: Ranges, genomes, x, y, **settings) -> np.ndarray:
    """Accuracy ``float64[P]`` of every genome of ``genomes: int[P, n_ops]`` on ``x: [N, T, I]``,
    ``y: [N]``: :func:`population_scores`'s ``accuracy`` (``settings``: its keyword arguments)."""
    return population_scores(p, ranges, genomes, x, y, **settings).accuracy


def population_scores(
    p: ModelParams,
    ranges: Ranges,
    genomes,
    x,
    y,
    *,
    input_bits: int = DEFAULT_IO_BITS,
    head_bits: int = DEFAULT_IO_BITS,
    batch_size: int | None = None,
    block: Block = "auto",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    devices: Sequence[jax.Device] | None = None,
    widths: Widths | None = None,
    lengths=None,
    thresholds=None,
) -> Scores:
    """:class:`Scores` of every genome of ``genomes: int[P, n_ops]`` on ``x: [N, T, I]``, ``y: [N]``
    (``lengths: int[N]``, optional: each sequence's valid steps, the rest is padding).

    One compiled call for the population: the data is cut into chunks of ``batch_size``
    sequences (by default the largest chunk whose activations fit ``memory_budget`` bytes per
    device) and scanned; within a chunk, ``block`` specimens at a time run vmapped, one block
    after another (``None``: all of them; ``"auto"``: 8 on the CPU, all elsewhere, see
    :mod:`jaxgru.model.blocks`). ``devices`` (default: all of ``jax.devices()``) share the population:
    it is padded to a multiple of their number and sharded along a ``population`` mesh axis.
    With ``jax.distributed.initialize()`` run first, ``jax.devices()`` spans every host.
    ``p`` may hold one set of weights per genome (leading axis ``[P]``, from
    :func:`jaxgru.model.qat.qat_population`).

    ``widths``: the set every gene belongs to (its input-side codes are computed once per width
    and shared); default 2..8, or 2..16 when a gene or I/O width exceeds 8. A set with a width
    above 8 runs the wide datapath (int64 accumulators, ``jax.enable_x64`` around the call).
    ``thresholds: int[P, n_delta]``: each specimen's delta thresholds (``Stack.delta_sources``);
    the operations they eliminate are counted in the same call.
    """
    genomes = check_genomes(genomes, p.stack, name="genomes")
    if genomes.ndim == 1:
        raise ValueError(f"genomes must be a population [P, {p.stack.n_ops}]; got one genome {genomes.shape}, "
                         "use genomes[None].")
    x, y = np.asarray(x, np.float32), np.asarray(y, np.int32)
    if x.ndim != 3 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x must be [N, T, I] and y [N] with the same N; got {x.shape} and {y.shape}.")
    lengths = check_lengths(lengths, len(x), x.shape[1])
    per_specimen = check_params(p).per_specimen
    if per_specimen and p["wd"].shape[0] != len(genomes):
        raise ValueError(f"p holds weights for {p['wd'].shape[0]} specimens but there are {len(genomes)} genomes.")
    if x.shape[-1] != p.n_in:
        raise ValueError(f"x has {x.shape[-1]} features per step but the model expects {p.n_in}.")
    if thresholds is not None:
        thresholds = check_thresholds(thresholds, p.stack)
        if thresholds.shape != (len(genomes), len(p.stack.delta_sources)):
            raise ValueError(f"thresholds must be [P, n_delta] = {[len(genomes), len(p.stack.delta_sources)]}, one "
                             f"row per genome; got {list(thresholds.shape)}.")
        if lengths is None:  # padding rows get length 0, so the real ones need theirs
            lengths = np.full(len(x), x.shape[1], np.int32)
    input_bits = check_io_bits(input_bits, name="input_bits")
    head_bits = check_io_bits(head_bits, name="head_bits")
    widths = datapath_widths(genomes, widths, input_bits, head_bits)
    block = resolve_block(block, CPU_EVAL_BLOCK)
    devices = tuple(jax.devices() if devices is None else devices)
    n_pop = len(genomes)
    padded = -(-n_pop // len(devices)) * len(devices)
    pad = lambda a: np.concatenate([np.asarray(a), np.repeat(np.asarray(a)[:1], padded - n_pop, axis=0)])  # noqa: E731
    genomes = pad(genomes)
    if per_specimen:
        p = jax.tree.map(pad, p)
    side_by_side = padded // len(devices) if block is None else min(block, padded // len(devices))
    if batch_size is None:
        largest = max(zip(p.hidden, p.stack.cells), key=lambda hc: hc[0] * hc[1].n_ops)
        batch_size = auto_batch_size(side_by_side, largest[0], len(x), largest[1].n_ops, memory_budget)
    delta = thresholds is not None
    if delta:  # a chunk's count of propagated units, B * T * fan_in, must fit int32
        fan_in = max(p.n_in, *p.hidden)
        batch_size = max(1, min(int(batch_size), (2**31 - 1) // (x.shape[1] * fan_in)))
    with jax.enable_x64(widths.wide):
        out = _compiled_counts(devices, int(batch_size), block, per_specimen, widths.values, delta)(
            p, ranges, jnp.asarray(genomes), jnp.asarray(pad(thresholds)) if delta else None, jnp.asarray(x),
            jnp.asarray(y), None if lengths is None else jnp.asarray(lengths), jnp.int32(input_bits),
            jnp.int32(head_bits))
        correct, propagated = (np.asarray(o) for o in out) if delta else (np.asarray(out), None)
    accuracy = correct.astype(np.float64)[:n_pop] / len(x)
    if not delta:
        return Scores(accuracy)
    propagated = propagated.astype(np.int64).sum(axis=0)[:n_pop]
    steps = int(np.sum(lengths))
    eliminated, per_op = eliminated_shares(p.stack, p.n_in, p.hidden, p.n_classes, propagated, steps, len(x))
    return Scores(accuracy, eliminated, per_op)


def datapath_widths(genomes: np.ndarray, widths: Widths | None, input_bits: int, head_bits: int) -> Widths:
    """The width set a population is scored with: ``widths`` (checked to hold every gene, and
    made wide when an I/O width is), or by default 2..8, or 2..16 when anything is wider."""
    used = set(np.unique(genomes).tolist())
    if widths is None:
        widths = DEFAULT_WIDTHS if max(used | {input_bits, head_bits}) <= DEFAULT_WIDTHS.values[-1] else Widths(
            tuple(range(2, 17)))
    missing = used - set(widths.values)
    if missing:
        raise ValueError(f"genomes hold widths {sorted(missing)} outside the width set {widths}.")
    if max(input_bits, head_bits) > 8 and not widths.wide:
        widths = Widths(widths.values + (16,))  # the I/O quantizers need the wide datapath
    return widths
