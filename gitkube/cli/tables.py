"""kubectl-style tables: the columns of ``gitkube get`` for each kind, as text. Pure.

The columns and their cells are gitkube/model/columns.py's, the ones the API's Table output
gives the real kubectl, so ``gitkube get`` and ``kubectl get`` print the same: headers are
the column names upper-cased (as kubectl prints them), ``-o wide`` adds the priority-1
columns. ``render(headers, rows)`` aligns them with three spaces like kubectl.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gitkube.model.columns import Column, cells, columns_for


def _shown(kind: str, wide: bool) -> list[Column]:
    return [c for c in columns_for(kind) if wide or c.priority == 0]


def columns(kind: str, wide: bool = False) -> list[str]:
    """The headers of ``kind``'s table."""
    return [c.name.upper() for c in _shown(kind, wide)]


def row(obj: Mapping[str, Any], now: float, wide: bool = False) -> list[str]:
    """One object's cells, as text, at time ``now`` (epoch seconds)."""
    return [str(cell) for cell in cells(_shown(str(obj.get("kind")), wide), obj, now)]


def render(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns left-aligned, separated by three spaces, no trailing blanks."""
    widths = [len(h) for h in headers]
    for r in rows:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for r in [list(headers), *map(list, rows)]:
        out = [cell.ljust(widths[i]) for i, cell in enumerate(r)]
        lines.append("   ".join(out).rstrip())
    return "\n".join(lines) + "\n"
