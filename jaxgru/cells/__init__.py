"""The declared cells. Each module of this package declares one :class:`jaxgru.cell.Cell` as
``CELL``; adding a cell is adding a module, nothing else."""

from __future__ import annotations

import importlib
import pkgutil

from jaxgru.cell import Cell

CELLS: dict[str, Cell] = {}
for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    _cell = importlib.import_module(f"{__name__}.{_info.name}").CELL
    CELLS[_cell.name] = _cell
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
