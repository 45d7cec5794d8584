"""Rows -> text: tabulate tables for people, JSON for scripts.

A report is a :class:`Report`: a title, column names and rows of plain
values (ints, strings, None for "unknown").  Front ends choose the format;
reports never print.

In JSON every output is one document (docs/json.md, schema.py): an
envelope ``{"schema", "command", "tool", "kernel", "results": [...],
"missing": [...]}`` with one result object per process or target:
``{"title", META..., KEY: DATA, "notes"}``, where KEY is the command's data
key (``vmas``, ``entries``, ``fields`` ...) and DATA its rows as objects
keyed by column name (or the report's own ``data``).
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
    #: JSON only: the result object's keys before the data (the process,
    #: what the command looked at ...).
    meta: Dict[str, Any] = field(default_factory=dict)
    #: JSON only: the data key of the result object (schema.COMMANDS).
    key: str = "rows"
    #: JSON only: the data under ``key`` when it is not the rows as objects
    #: keyed by column name (every field of a record, an object ...).
    data: Any = None

    def records(self) -> List[Dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]

    def json_object(self) -> Dict[str, Any]:
        """The result object: title, meta, the data under ``key``, notes."""
        doc: Dict[str, Any] = {"title": self.title}
        doc.update(self.meta)
        doc[self.key] = self.records() if self.data is None else self.data
        doc["notes"] = list(self.notes)
        return doc


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
    """A Report's result object as JSON text (integers stay integers,
    addresses included; values that do not apply are null)."""
    return json.dumps(report.json_object(), indent=2)


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
    #: the text of a batch of rows at once, each row as table_line() /
    #: json_line() makes it: table_text(rows) joins the lines with
    #: newlines, json_text(rows, sep) the objects with ``sep`` (for
    #: formats that make runs of like rows in C)
    table_text: Optional[Callable[[List[Any]], str]] = None
    json_text: Optional[Callable[[List[Any], str], str]] = None
    #: JSON only: the data key of the result object (see Report.key).
    key: str = "rows"


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
    if report.title:
        out.write(report.title + "\n")
    out.write(stream_table_line(cols, widths, [c.upper() for c in cols]) + "\n")
    out.write(stream_table_line(cols, widths, ["-" * w for w in widths]) + "\n")
    write = out.write
    if report.table_text is not None or report.table_line is not None:
        # a batch of lines per write: map() and join() run in C
        text = report.table_text or (lambda batch: "\n".join(map(report.table_line, batch)))
        rows = iter(report.rows)
        while True:
            batch = list(islice(rows, 4096))
            if not batch:
                break
            write(text(batch) + "\n")
    else:
        for row in report.rows:
            write(stream_table_line(cols, widths, row) + "\n")
    for note in report.notes:
        out.write(note + "\n")


def _indented(text: str, indent: str) -> str:
    return text.replace("\n", "\n" + indent)


def write_json_stream(report: StreamReport, out: TextIO, indent: str = "") -> None:
    """A StreamReport's result object (Report.json_object()'s layout),
    written row by row: one row per line, 4096 rows per write."""
    inner = indent + "  "
    out.write("{\n%s\"title\": %s" % (inner, json.dumps(report.title)))
    for key, value in report.meta.items():
        out.write(",\n%s%s: %s" % (inner, json.dumps(key),
                                     _indented(json.dumps(value, indent=2), inner)))
    out.write(",\n%s%s: [" % (inner, json.dumps(report.key)))
    sep = "\n" + inner + "  "
    comma = "," + sep
    write = out.write
    cols = list(report.columns)
    line = report.json_line or (lambda row: stream_json_line(cols, row))
    text = report.json_text or (lambda batch, sep: sep.join(map(line, batch)))
    rows = iter(report.rows)
    empty = True
    while True:
        batch = list(islice(rows, 4096))
        if not batch:
            break
        write((sep if empty else comma) + text(batch, comma))
        empty = False
    out.write("]" if empty else "\n%s]" % inner)
    out.write(",\n%s\"notes\": %s\n%s}" % (inner, json.dumps(report.notes), indent))


def write_json_document(header: Dict[str, Any], results: Iterable[Any], out: TextIO,
                        missing: Callable[[], List[Dict[str, Any]]]) -> None:
    """The one JSON document of a command: ``header`` (schema, command,
    tool, kernel), then ``results`` (Reports and StreamReports, each
    written as it comes: streamed rows stay streamed), then ``missing()``
    (called once everything else is written)."""
    out.write("{\n")
    for key, value in header.items():
        out.write("  %s: %s,\n" % (json.dumps(key), json.dumps(value)))
    out.write('  "results": [')
    sep = "\n    "
    for result in results:
        out.write(sep)
        sep = ",\n    "
        if isinstance(result, StreamReport):
            write_json_stream(result, out, "    ")
        else:
            out.write(_indented(render_json(result), "    "))
    out.write("\n  ]" if sep != "\n    " else "]")
    out.write(',\n  "missing": %s\n}\n' % _indented(json.dumps(missing(), indent=2), "  "))
