"""What each operator of a cell owns and computes: parameter and multiply-accumulate counts,
and the model-size objective of the GRU-GA paper (``docs/design.md``, "Objectives").

``M_Q = sum over parameters of the bit width of the operator that owns it``. A linear operator
owns its weight matrix and its bias (counted at the operator's width, as the paper's formula
does; the deployed int32 biases are an implementation detail of the integer model), a ``scale``
operator its vector; the dense head owns its weights and bias at ``head_bits``; every other
operator owns nothing. ``M_FP16 = 16 * number of parameters``; the fitness is ``1 - M_Q / M_FP16``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from jaxgru.cells import Stack
from jaxgru.cells.declaration import Cell
from jaxgru.cells.genome import DEFAULT_IO_BITS, check_genomes
from jaxgru.ops.kinds import KINDS


class OpCounts(NamedTuple):
    """Per operator (declaration order): ``params int64[n_ops]`` owned, ``macs int64[n_ops]``
    multiply-accumulates per time step and sequence (a linear operator ``in * H``, an elementwise
    product or ``scale`` ``H``, anything else 0), ``elementwise int64[n_ops]`` other
    per-element operations per step (sums, ``1 - x``, tables, ReLU: ``H``); and the dense head's
    parameters and MACs (once per sequence)."""

    params: np.ndarray
    macs: np.ndarray
    elementwise: np.ndarray
    head_params: int
    head_macs: int


def op_counts(stack: Stack | Cell | str, n_in: int, hidden: int | Sequence[int], n_classes: int) -> OpCounts:
    """Every operator's counts (genome order), from its kind's ``counts(fan_in, H)``
    (``jaxgru.ops.kinds``); a deeper layer's fan-in on ``x`` is the width of the layer below.
    ``hidden``: one width for every layer or one per layer."""
    stack = Stack.of(stack)
    hidden = stack.hidden(hidden)
    rows = [KINDS[op.kind].counts(fan_in, h) for op, (fan_in, h) in zip(stack.ops, stack.fan_ins(n_in, hidden))]
    params, macs, elementwise = (np.array(col, np.int64) for col in zip(*rows))
    return OpCounts(params, macs, elementwise, hidden[-1] * n_classes + n_classes, hidden[-1] * n_classes)


def param_counts(stack: Stack | Cell | str, n_in: int, hidden: int | Sequence[int], n_classes: int
                 ) -> tuple[np.ndarray, int]:
    """Parameters owned by each operator of ``stack``, and by the dense head."""
    counts = op_counts(stack, n_in, hidden, n_classes)
    return counts.params, counts.head_params


def model_size(
    genomes, stack: Stack | Cell | str, n_in: int, hidden: int | Sequence[int], n_classes: int,
    head_bits: int = DEFAULT_IO_BITS,
) -> tuple[np.ndarray, np.ndarray]:
    """``(size_bits, fitness)`` for ``genomes: int[..., n_ops]`` of ``stack``.

    ``size_bits`` is ``M_Q``; ``fitness = 1 - M_Q / M_FP16`` (larger is better, 0.5 at 8 bits).
    """
    stack = Stack.of(stack)
    genomes = check_genomes(genomes, stack)
    counts, head = param_counts(stack, n_in, hidden, n_classes)
    size_bits = genomes.astype(np.int64) @ counts + head_bits * head
    fp16 = 16 * (counts.sum() + head)
    return size_bits, 1.0 - size_bits / fp16


def eliminated_shares(
    stack: Stack | Cell | str, n_in: int, hidden: int | Sequence[int], n_classes: int, propagated, steps: int,
    sequences: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The multiply-accumulates a delta model skips, from the units it propagated.

    ``propagated: int[P, n_delta]``: units propagated per delta source (``stack.delta_sources``)
    over ``steps`` valid steps (summed over ``sequences`` sequences). A unit not propagated skips
    its column of every matmul on its source (``H`` MACs per operator). Returns ``(total
    float64[P], per_op float64[P, n_ops])``: the share of all the model's MACs over those steps
    (every operator's and the head's) skipped, and each operator's share of its own (0 where it
    has none)."""
    stack = Stack.of(stack)
    hidden = stack.hidden(hidden)
    counts = op_counts(stack, n_in, hidden, n_classes)
    propagated = np.asarray(propagated, np.float64)
    per_op = np.zeros((len(propagated), stack.n_ops))
    skipped_macs = np.zeros(len(propagated))
    fan_ins = stack.fan_ins(n_in, hidden)
    for i, (layer, src) in enumerate(stack.delta_sources):
        group = [stack.offsets[layer] + k for k in stack.cells[layer].linear_groups[src]]
        share = 1.0 - propagated[:, i] / max(steps * fan_ins[group[0]][0], 1)
        for k in group:
            per_op[:, k] = share
            skipped_macs += share * steps * counts.macs[k]
    total = steps * counts.macs.sum() + sequences * counts.head_macs
    return skipped_macs / total, per_op
