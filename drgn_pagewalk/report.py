"""Rows -> text: tabulate tables for people, JSON for scripts.

A report is a :class:`Report`: a title, column names and rows of plain
values (ints, strings, None for "unknown").  Front ends choose the format;
reports never print.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, TextIO

from tabulate import tabulate

FORMATS = ("table", "json", "proc")
#: Columns whose ints read best in hex.
HEX_COLUMNS = {"start", "end", "addr", "vaddr", "entry", "task", "mm", "pgd",
               "phys", "pfn_hex", "file_offset", "entry_virt", "entry_phys",
               "value", "vma", "next"}


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


def render_json(report: Report, missing: Optional[List[Dict[str, Any]]] = None) -> str:
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
    if missing is not None:
        doc["missing"] = missing
    return json.dumps(doc, indent=2, sort_keys=False)


@dataclass
class StreamReport:
    """A report whose rows are produced while it is written, so that output
    size never decides memory use.  ``widths`` fixes the table's column
    widths (a value longer than its column just pushes the line out);
    ``notes`` may grow while the rows are produced and is written last.

    For reports of millions of rows, ``table_line`` and ``json_line`` may
    turn each item of ``rows`` straight into its table line / JSON object
    text (no newline); the generic path formats cell by cell."""

    title: str
    columns: Sequence[str]
    widths: Sequence[int]
    rows: Iterable[Any]
    notes: List[str] = field(default_factory=list)
    meta: Dict[str, Any] = field(default_factory=dict)
    table_line: Optional[Callable[[Any], str]] = None
    json_line: Optional[Callable[[Any], str]] = None


@dataclass
class TextStream:
    """Kernel-format text (``--format proc``) produced piece by piece while
    it is written, e.g. one pagemap chunk at a time."""

    pieces: Iterable[str]


def stream_table_line(columns: Sequence[str], widths: Sequence[int],
                      row: Sequence[Any]) -> str:
    """One row of a StreamReport as write_table_stream() writes it (no
    newline): cells as render_table() shows them, each padded to its
    column's width but the last."""
    last = len(columns) - 1
    parts = [str(_cell(c, v)).ljust(w) if i < last else str(_cell(c, v))
             for i, (c, v, w) in enumerate(zip(columns, row, widths))]
    return "  ".join(parts).rstrip()


def stream_json_line(columns: Sequence[str], row: Sequence[Any]) -> str:
    """One row of a StreamReport as write_json_stream() writes it."""
    return json.dumps(dict(zip(columns, row)))


def write_table_stream(report: StreamReport, out: TextIO) -> None:
    """The table form of a StreamReport, one line per row as it comes."""
    cols = list(report.columns)
    widths = list(report.widths)
    last = len(cols) - 1

    def line(cells: Sequence[Any]) -> str:
        parts = [str(c).ljust(w) if i < last else str(c)
                 for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(parts).rstrip() + "\n"

    if report.title:
        out.write(report.title + "\n")
    out.write(line([c.upper() for c in cols]))
    out.write(line(["-" * w for w in widths]))
    write = out.write
    if report.table_line is not None:
        # a batch of lines per write: map() and join() run in C
        rows = iter(report.rows)
        while True:
            batch = list(map(report.table_line, islice(rows, 4096)))
            if not batch:
                break
            write("\n".join(batch) + "\n")
    else:
        for row in report.rows:
            write(stream_table_line(cols, widths, row) + "\n")
    for note in report.notes:
        out.write(note + "\n")


def write_json_stream(report: StreamReport, out: TextIO,
                      missing: Optional[Callable[[], List[Dict[str, Any]]]] = None) -> None:
    """The JSON form of a StreamReport: the same document render_json()
    makes for a Report, written row by row (``missing()`` is called once
    the rows are written)."""
    cols = list(report.columns)
    out.write("{\n  \"title\": %s,\n  \"columns\": %s,\n  \"rows\": [" % (
        json.dumps(report.title), json.dumps(cols)))
    sep = "\n    "
    write = out.write
    if report.json_line is not None:
        rows = iter(report.rows)
        while True:
            batch = list(map(report.json_line, islice(rows, 4096)))
            if not batch:
                break
            write(sep + ",\n    ".join(batch))
            sep = ",\n    "
    else:
        for row in report.rows:
            write(sep + stream_json_line(cols, row))
            sep = ",\n    "
    out.write("\n  ]")
    if report.notes:
        out.write(",\n  \"notes\": " + json.dumps(report.notes))
    for key, value in report.meta.items():
        out.write(",\n  %s: %s" % (json.dumps(key), json.dumps(value)))
    if missing is not None:
        out.write(",\n  \"missing\": " + json.dumps(missing()))
    out.write("\n}\n")
