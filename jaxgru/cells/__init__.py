"""Cells as data: the declaration (:class:`Cell`, :class:`Op`), the declared cells, stacks of
them (:class:`Stack`) and genomes.

Each cell module (``gru``, ``lstm``, ``ligru``, ``sru``) declares one :class:`Cell` as ``CELL``;
adding a cell is adding a module and naming it in :data:`CELLS` (``jaxgru.cells.registry``).
"""

from __future__ import annotations

from jaxgru.cells.declaration import INPUT, Cell, Op
from jaxgru.cells.registry import CELLS, DEFAULT_CELL, get_cell
from jaxgru.cells.stack import Stack

__all__ = ["CELLS", "DEFAULT_CELL", "INPUT", "Cell", "Op", "Stack", "get_cell"]
