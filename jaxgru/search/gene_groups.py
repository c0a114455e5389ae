"""A reduced genome: genes tied into a few groups by operator role, small enough to enumerate.

With one width per *group* instead of per operator, the GRU's 17 genes become 5 and the space of
widths 2..8 has 7^5 = 16,807 genomes: few enough to score every one with the population
evaluator and know the exact Pareto front, the ground truth a search is measured against.

The groups are read from the cell declaration (``docs/design.md``, "Reduced genome"):

| group             | operators                              | GRU                 |
| ----------------- | -------------------------------------- | ------------------- |
| input linears     | ``linear`` on the input ``x``          | xr, xz, xn          |
| recurrent linears | ``linear`` on a recurrent state        | hr, hz, hn          |
| sums              | ``add``, ``sub1``, ``relu``            | rp, zp, np, omz, h  |
| tables            | ``sigmoid``, ``tanh``                  | r, z, n             |
| products          | ``mul``, ``scale``                     | rh, a, b            |

A cell without operators of some role has fewer groups. In a stack of several layers every layer
has its own groups, named with its prefix (``l0.input linears``, ``l1.input linears``, ...).
"""

from __future__ import annotations

import itertools

import numpy as np

from jaxgru.cells import Stack
from jaxgru.cells.declaration import INPUT, Cell
from jaxgru.ops.kinds import KINDS

GROUPS = ("input linears", "recurrent linears", "sums", "tables", "products")


def op_groups(cell: Cell | Stack) -> dict[str, tuple[int, ...]]:
    """The non-empty groups, in :data:`GROUPS` order (layer by layer in a stack): name -> operator
    indices (positions in the genome)."""
    stack = Stack.of(cell)
    out: dict[str, tuple[int, ...]] = {}
    for layer, c in enumerate(stack.cells):
        members: dict[str, list[int]] = {g: [] for g in GROUPS}
        for i, op in enumerate(c.ops):
            group = KINDS[op.kind].group  # a kind's group; linears split by their source
            if group == "linears":
                group = "input linears" if op.inputs[0] == INPUT else "recurrent linears"
            members[group].append(stack.offsets[layer] + i)
        out.update({stack.prefix(layer) + g: tuple(ix) for g, ix in members.items() if ix})
    return out


def expand(group_genomes: np.ndarray, cell: Cell | Stack) -> np.ndarray:
    """Full genomes ``int32[N, n_ops]`` of reduced ones ``[N, n_groups]``: each operator takes
    its group's width."""
    group_genomes = np.asarray(group_genomes)
    out = np.zeros(group_genomes.shape[:-1] + (cell.n_ops,), np.int32)
    for k, ops in enumerate(op_groups(cell).values()):
        out[..., list(ops)] = group_genomes[..., k : k + 1]
    return out


def enumerate_space(values: tuple[int, ...], n_groups: int) -> np.ndarray:
    """Every reduced genome ``int32[len(values) ** n_groups, n_groups]``, each exactly once,
    in lexicographic order (the last group varies fastest)."""
    return np.array(list(itertools.product(values, repeat=n_groups)), np.int32).reshape(-1, n_groups)
