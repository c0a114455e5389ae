"""A model's recurrent layers: ``L >= 1`` declared cells, layer ``l`` reading layer ``l-1``'s output.

A :class:`Stack` is the genome's frame: the genome is every layer's operators in order, so layer
``l``'s genes are ``genome[stack.span(l)]``. Names carry the layer when there are several
(``l0.xr``, ``l1.xr``, ...; a one-layer stack keeps the cell's own names, ``xr``), and so do the
weight arrays (``l1.wx``). Seen as one flat list of operators (:attr:`Stack.ops`), layer ``l``'s
``x`` is layer ``l-1``'s output operator: what it multiplies, whose codes it reads and whose
quantizer codes its input. Only the first layer reads the model's input (its own quantizer).

Every backend runs a stack layer by layer, each layer over the whole sequence, and its output
sequence of codes is the next layer's input; the dense head reads the last layer's output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from jaxgru.cells.declaration import INPUT, Cell, Op
from jaxgru.cells.registry import get_cell


@dataclass(frozen=True)
class Stack:
    """``cells``: each layer's cell, first to last. Hashable (a static argument of ``jax.jit``)."""

    cells: tuple[Cell, ...]

    def __post_init__(self):
        cells = tuple(get_cell(c) for c in self.cells)
        if not cells:
            raise ValueError("a model needs at least one recurrent layer.")
        object.__setattr__(self, "cells", cells)

    @classmethod
    def of(cls, cells: Stack | Cell | str | Sequence[Cell | str], layers: int | None = None) -> Stack:
        """A stack from a stack, a cell (or its name) repeated ``layers`` times (default 1), or a
        list of cells, one per layer (``"gru+sru"`` names them in a string)."""
        if isinstance(cells, Stack):
            stack = cells
        elif isinstance(cells, (Cell, str)):
            names = cells.split("+") if isinstance(cells, str) else [cells]
            stack = cls(tuple(names) * (layers or 1) if len(names) == 1 else tuple(names))
        else:
            stack = cls(tuple(cells))
        if layers is not None and stack.layers != layers:
            raise ValueError(f"{stack.name} has {stack.layers} layers but {layers} were asked for.")
        return stack

    # --- layers --------------------------------------------------------------------------
    @property
    def layers(self) -> int:
        return len(self.cells)

    @property
    def name(self) -> str:
        """``gru`` for one layer, ``gru+gru`` for two."""
        return "+".join(c.name for c in self.cells)

    def prefix(self, layer: int) -> str:
        """What layer ``layer``'s gene and array names start with: ``""`` in a one-layer stack, else ``l<layer>.``."""
        return "" if self.layers == 1 else f"l{layer}."

    @cached_property
    def offsets(self) -> tuple[int, ...]:
        """Position of each layer's first gene, and the genome's length last."""
        return tuple(int(v) for v in np.cumsum([0] + [c.n_ops for c in self.cells]))

    def span(self, layer: int) -> slice:
        """Layer ``layer``'s genes within the genome."""
        return slice(self.offsets[layer], self.offsets[layer + 1])

    def layer_of(self, k: int) -> int:
        """The layer that operator ``k`` (a position in the genome) belongs to."""
        return int(np.searchsorted(self.offsets, k, side="right")) - 1

    def hidden(self, hidden: int | Sequence[int]) -> tuple[int, ...]:
        """Each layer's hidden width from one width for all or one per layer; ``ValueError``
        when a list does not name one width per layer."""
        if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
            hidden = (int(hidden),) * self.layers
        hidden = tuple(int(h) for h in hidden)
        if len(hidden) != self.layers:
            raise ValueError(f"{len(hidden)} hidden width(s) {list(hidden)} for {self.layers} layer(s) "
                             f"({self.name}); give one width for all layers or one per layer.")
        if min(hidden) < 1:
            raise ValueError(f"hidden widths must be >= 1, got {list(hidden)}.")
        return hidden

    # --- the genome, as one flat list of operators ---------------------------------------
    @property
    def n_ops(self) -> int:
        return self.offsets[-1]

    @cached_property
    def ops(self) -> tuple[Op, ...]:
        """Every layer's operators with prefixed names; layer ``l >= 1``'s ``x`` is renamed to
        layer ``l-1``'s output operator."""
        out = []
        for layer, cell in enumerate(self.cells):
            rename = {n: self.prefix(layer) + n for n in (*cell.op_names, *cell.states)}
            rename[INPUT] = INPUT if layer == 0 else self.prefix(layer - 1) + self.cells[layer - 1].output
            out += [Op(rename[op.name], op.kind, tuple(rename[n] for n in op.inputs)) for op in cell.ops]
        return tuple(out)

    @property
    def op_names(self) -> tuple[str, ...]:
        return tuple(op.name for op in self.ops)

    def index(self, name: str) -> int:
        """Position of the operator ``name`` (its gene)."""
        return self.op_names.index(name)

    @cached_property
    def operand_ops(self) -> tuple[tuple[int, ...], ...]:
        """For each operator, the genome position whose code each operand is (``-1``: the model's
        input); layer ``l >= 1``'s ``x`` is layer ``l-1``'s output operator."""
        out = []
        for layer, cell in enumerate(self.cells):
            start = self.offsets[layer]
            below = -1 if layer == 0 else self.output_op(layer - 1)
            out += [tuple(below if s < 0 else start + s for s in srcs) for srcs in cell.operand_ops]
        return tuple(out)

    def output_op(self, layer: int) -> int:
        """Genome position of layer ``layer``'s output operator."""
        cell = self.cells[layer]
        return self.offsets[layer] + cell.index(cell.output)

    @property
    def output(self) -> int:
        """Genome position of the operator the dense head reads (the last layer's output)."""
        return self.output_op(self.layers - 1)

    def fan_ins(self, n_in: int, hidden: Sequence[int]) -> tuple[tuple[int, int], ...]:
        """``(fan-in of its first operand, H)`` per operator: the model's input width ``n_in``
        for layer 0's ``x``, the layer below's width for a deeper layer's, its own for a state."""
        out = []
        for layer, cell in enumerate(self.cells):
            below = n_in if layer == 0 else hidden[layer - 1]
            out += [(below if op.inputs[0] == INPUT else hidden[layer], hidden[layer]) for op in cell.ops]
        return tuple(out)

    @cached_property
    def delta_sources(self) -> tuple[tuple[int, str], ...]:
        """``(layer, source)`` of every source a matmul reads (each layer's ``cell.sources``:
        ``x`` first, then its states), in order: one delta threshold each."""
        return tuple((layer, src) for layer, cell in enumerate(self.cells) for src in cell.sources)

    @property
    def threshold_names(self) -> tuple[str, ...]:
        """The threshold genes' names: ``t_x``, ``t_h`` (``l1.t_h`` with several layers)."""
        return tuple(f"{self.prefix(layer)}t_{src}" for layer, src in self.delta_sources)

    def describe(self) -> str:
        """The flat declaration as numbered lines, e.g. ``17 l1.xr = linear(l0.h)``."""
        return "\n".join(f"{k:2d} {op.name} = {op.kind}({', '.join(op.inputs)})" for k, op in enumerate(self.ops))

    # --- tied genomes ------------------------------------------------------------------------
    @property
    def tieable(self) -> bool:
        """Whether every layer is the same cell (so one layer's genome can serve them all)."""
        return len({c.name for c in self.cells}) == 1

    def untie(self, genomes) -> np.ndarray:
        """Full genomes ``int32[..., n_ops]`` of tied ones ``[..., cells[0].n_ops]``: each
        operator takes the same width in every layer."""
        if not self.tieable:
            raise ValueError(f"tied widths need the same cell in every layer; {self.name} mixes cells.")
        return np.tile(np.asarray(genomes, np.int32), self.layers)
