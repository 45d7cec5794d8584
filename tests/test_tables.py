"""What a person reads: every command's table (the default format) on every
booted lab.  Sizes and counts are decimal, with their unit in the column's
name where they have one; only addresses, raw entries and flags are hex.
And the smaps_rollup table carries the guest's own smaps_rollup numbers."""

from __future__ import annotations

import io
import re
from typing import Any, Dict, Iterator, List, Tuple

from drgn_pagewalk.commands.run import run_argv

from .counts import count
from .test_json_schema import _argvs

#: The columns whose values are addresses, raw entries or bit sets: the only
#: ones that may be hex.  Written out here, not taken from report.py, so
#: that a size column added to report.HEX_COLUMNS fails this test.
ADDRESS_COLUMNS = {"START", "END", "ADDR", "VADDR", "NEXT", "VMA", "ENTRY",
                   "TASK", "MM", "PGD", "PHYS", "PFN_HEX", "FILE_OFFSET",
                   "ENTRY_VIRT", "ENTRY_PHYS", "FLAGS"}
#: The commands whose VALUE column is a raw page-table entry.
RAW_VALUE = {"vtop", "walk", "ptcheck"}
HEX = re.compile(r"^-?0x[0-9a-f]+$")


def tables(text: str) -> Iterator[Tuple[List[str], List[List[str]]]]:
    """The (headers, rows) of each table in ``text``: a header line, a line
    of dashes under each column, then rows cut at the columns' places (a row
    ends the table when it has text in the gaps between the columns)."""
    lines = text.splitlines()
    for i in range(1, len(lines)):
        if not re.fullmatch(r"-+( +-+)*", lines[i]):
            continue
        spans = [m.span() for m in re.finditer(r"-+", lines[i])]
        # the last column runs to the end of the line (long values push it out)
        spans[-1] = (spans[-1][0], 1 << 20)
        headers = [lines[i - 1][a:b].strip() for a, b in spans]
        rows = []
        for line in lines[i + 1:]:
            if not line.strip():
                break
            gaps = [line[b:c] for (_, b), (c, _) in zip(spans, spans[1:])]
            if any(g.strip() for g in gaps):
                break
            rows.append([line[a:b].strip() for a, b in spans])
        yield headers, rows


def _table(prog: Any, argv: List[str]) -> str:
    out = io.StringIO()
    assert run_argv(prog, argv, out) == 0, argv
    return out.getvalue()


def test_only_addresses_are_hex(lab, prog):
    argvs = _argvs(lab)
    argvs["pagemap, a THP"] = ["pagemap", str(lab.pids["workload"]),
                               hex(lab.meta["vmas"]["thp"]["start"]),
                               hex(lab.meta["vmas"]["thp"]["start"] + (4 << 12))]
    argvs["ps"] = ["ps"]
    argvs["vm -p, workload"] = ["vm", "-p", "--fold", str(lab.pids["workload"])]
    seen = 0
    for form, argv in argvs.items():
        found = list(tables(_table(prog, argv)))
        assert found, f"{form}: no table"
        for headers, rows in found:
            assert rows or form in ("ptcheck", "ptdump --checkwx"), f"{form}: a table without rows"
            for col, header in enumerate(headers):
                if header in ADDRESS_COLUMNS or (header == "VALUE" and form in RAW_VALUE):
                    continue
                hexed = [r[col] for r in rows if HEX.match(r[col])]
                assert not hexed, f"{form}: column {header} printed in hex: {hexed[:3]}"
                seen += 1
        count("table columns checked for sizes printed in hex")
    assert seen > 50


def _truth_rollup(lab: Any, pid: int) -> Tuple[str, Dict[str, int]]:
    lines = lab.truth_text(pid, "smaps_rollup").splitlines()
    fields = {}
    for line in lines[1:]:
        key, value = line.split(":")
        assert value.endswith(" kB"), line
        fields[key] = int(value.split()[0])
    return lines[0].split()[0], fields


def test_smaps_rollup_table_is_the_kernel_s(lab, prog):
    """The table of smaps-rollup: the rollup's range on the title line, one
    row per field of the kernel's file, in its order, its kB in decimal."""
    for role, pid in lab.pids.items():
        text = _table(prog, ["smaps-rollup", str(pid)])
        span, fields = _truth_rollup(lab, pid)
        start, end = (int(x, 16) for x in span.split("-"))
        title = text.splitlines()[0]
        assert title.endswith(f" {start:#x}-{end:#x} [rollup]"), title
        (headers, rows), = tables(text)
        assert headers == ["FIELD", "KB"]
        assert [(f, int(kb)) for f, kb in rows] == list(fields.items()), role
        count("smaps_rollup table rows equal to the guest's", len(rows))
