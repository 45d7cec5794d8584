"""Rows -> text: tabulate tables for people, JSON for scripts.

A report is a :class:`Report`: a title, column names and rows of plain
values (ints, strings, None for "unknown").  Front ends choose the format;
reports never print.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from tabulate import tabulate

FORMATS = ("table", "json", "proc")
#: Columns whose ints read best in hex.
HEX_COLUMNS = {"start", "end", "addr", "vaddr", "entry", "task", "mm", "pgd",
               "phys", "pfn_hex"}


@dataclass
class Report:
    """A table of rows with an optional totals row and free-form notes."""

    title: str
    columns: Sequence[str]
    rows: List[Sequence[Any]] = field(default_factory=list)
    totals: Optional[Sequence[Any]] = None
    notes: List[str] = field(default_factory=list)
    #: Extra data for JSON only (e.g. the kernel release).
    meta: Dict[str, Any] = field(default_factory=dict)

    def records(self) -> List[Dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]


def _cell(column: str, value: Any) -> Any:
    if value is None:  # does not apply (no swap offset of a present page...)
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and column.lower() in HEX_COLUMNS:
        return f"{value:#x}"
    return value


def render_table(report: Report) -> str:
    """A tabulate table with the totals row at the bottom."""
    rows = [[_cell(c, v) for c, v in zip(report.columns, row)] for row in report.rows]
    if report.totals is not None:
        rows.append([_cell(c, v) for c, v in zip(report.columns, report.totals)])
    text = tabulate(rows, headers=[c.upper() for c in report.columns],
                    tablefmt="simple", disable_numparse=True,
                    colalign=None)
    lines = [report.title, text] if report.title else [text]
    lines.extend(report.notes)
    return "\n".join(lines)


def render_json(report: Report) -> str:
    """Stable JSON: {"title", "columns", "rows": [{column: value}], "totals", ...}.

    Integers stay integers (addresses included); values that do not apply
    are null.
    """
    doc: Dict[str, Any] = {"title": report.title, "columns": list(report.columns),
                           "rows": report.records()}
    if report.totals is not None:
        doc["totals"] = dict(zip(report.columns, report.totals))
    if report.notes:
        doc["notes"] = report.notes
    doc.update(report.meta)
    return json.dumps(doc, indent=2, sort_keys=False)
