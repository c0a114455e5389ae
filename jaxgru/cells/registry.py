"""The declared cells by name."""

from __future__ import annotations

from jaxgru.cells import gru, ligru, lstm, sru
from jaxgru.cells.declaration import Cell

CELLS: dict[str, Cell] = {m.CELL.name: m.CELL for m in (gru, ligru, lstm, sru)}
DEFAULT_CELL = "gru"


def get_cell(cell: str | Cell) -> Cell:
    """The cell called ``cell`` (a :class:`Cell` passes through); ``ValueError`` listing the
    known ones otherwise."""
    if isinstance(cell, Cell):
        return cell
    try:
        return CELLS[cell]
    except (KeyError, TypeError):
        raise ValueError(f"unknown cell {cell!r}; choose one of {sorted(CELLS)}.") from None
