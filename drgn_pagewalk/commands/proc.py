"""The /proc report commands: ps, vmas, smaps, smaps-rollup, pagemap,
numa-maps and status.  Each turns a report from ops/ into a Report, a
StreamReport or /proc text (--format proc) for run.py to write."""

from __future__ import annotations

import argparse
from itertools import chain
from typing import Any, Dict, Iterable, Iterator, List, Tuple

from ..errors import PagewalkError, UsageError
from ..output.report import Report, StreamReport, TextStream
from ..output.schema import task_keys, versions
from ..target.missing import guarded, reading
from .args import parse_addr
from .tasks import _task_desc, selected_tasks, tasks_with_mm


def cmd_ps(prog: Any, args: argparse.Namespace) -> List[Report]:
    """Processes with an mm: what the other commands can look at."""
    from drgn.helpers.linux.mm import task_rss

    from ..target.drgn_target import get_target

    report = Report("", ["pid", "comm", "task", "mm", "rss_kb", "vmas"], key="processes",
                    meta={"version": versions(prog)})
    for task in tasks_with_mm(prog):
        desc = f"PID {task.pid.value_()}"
        rss_kb = nr_vmas = None  # null: what the dump does not hold
        with reading(prog, desc, "its rss_kb"):
            # K(): pages << (PAGE_SHIFT - 10)
            rss_kb = task_rss(prog, task).total << (get_target(prog).arch.page_shift - 10)
        with reading(prog, desc, "its vmas count"):
            nr_vmas = task.mm.map_count.value_()
        comm = task.comm.string_().decode(errors="replace")
        report.rows.append([task.pid.value_(), comm, task.value_(), task.mm.value_(),
                            rss_kb, nr_vmas])
    return [report]


def cmd_vmas(prog: Any, args: argparse.Namespace) -> List[Report]:
    """Per-vma page counts from the walker."""
    from ..target.drgn_target import get_target
    from ..ops.maps import show_map_vma, vma_perms
    from ..ops.vmas import totals, vma_pages

    target = get_target(prog)
    reports = []
    for task in selected_tasks(prog, args):
        with reading(prog, _task_desc(task), "its vmas"):
            mm = target.mm(task.mm)
            vmas = target.vmas(mm)
            read = list(target.each_vma(vmas, lambda v: (vma_pages([v])[0], _maps_name(
                show_map_vma(task, v.obj)))))
            stats = [s for s, _ in read]
            target.note_partial(mm, "the totals", len(stats), len(vmas))
            report = Report(_task_desc(task),
                            ["start", "end", "perms", "kb", "present_kb", "swap_kb",
                             "thp_kb", "hugetlb_kb", "name"], key="vmas")
            kb = target.arch.page_shift - 10  # base pages in kB
            for s, name in read:
                v = s.vma
                report.rows.append([v.vm_start, v.vm_end, vma_perms(v.vm_flags),
                                    (v.vm_end - v.vm_start) >> 10, s.present << kb,
                                    s.swap << kb, s.thp << kb, s.hugetlb << kb, name])
                report.notes.extend(str(p) for p in s.problems)
            t = totals(stats)
            report.totals = ["total", "", "",
                             sum((s.vma.vm_end - s.vma.vm_start) >> 10 for s in stats),
                             t["present"] << kb, t["swap"] << kb, t["thp"] << kb,
                             t["hugetlb"] << kb, f"{len(stats)} vmas"]
            report.notes.extend(target.found_notes(mm, [s.vma for s in stats]))
            report.data = [dict(r, name=r["name"] or None) for r in report.records()]
            report.meta = dict(task_keys(task), paging_levels=target.arch.levels,
                               totals=dict(zip(["kb", "present_kb", "swap_kb", "thp_kb",
                                                "hugetlb_kb"], report.totals[3:8]),
                                           vmas=len(stats)))
            reports.append(report)
    return reports


def _maps_name(line: str) -> str:
    """The name column of a /proc/PID/maps line (may be empty)."""
    fields = line.rstrip("\n").split(None, 5)
    return fields[5] if len(fields) == 6 else ""


def cmd_smaps(prog: Any, args: argparse.Namespace) -> List[Any]:
    """/proc/PID/smaps."""
    from ..ops import smaps

    addr = parse_addr(args.addr) if args.addr else None
    out: List[Any] = []
    for task in selected_tasks(prog, args):
        with reading(prog, _task_desc(task), "its smaps"):
            if addr is not None and not _vma_at(task, addr):
                raise PagewalkError(f"address {addr:#x} is not in any vma of {_task_desc(task)}")
            if args.format == "proc":
                out.append(smaps.show_smaps(task, addr))
                continue
            records = smaps.smaps_records(task)
            if addr is not None:
                records = [r for r in records if r["start"] <= addr < r["end"]]
            out.append(_records_report(task, records,
                                       ["start", "end", "perms", "Rss", "Pss",
                                        "Shared_Clean", "Shared_Dirty", "Private_Clean",
                                        "Private_Dirty", "Anonymous", "AnonHugePages",
                                        "Swap", "Locked", "name"],
                                       sum_from=3))
    return out


def _vma_tree(prog: Any, task: Any) -> None:
    """Read a process's mm and VMA tree (kept by the target), so that a
    dump that lacks them says so before any streamed output starts."""
    from ..target.drgn_target import get_target

    target = get_target(prog)
    target.vmas(target.mm(task.mm))


def _vma_at(task: Any, addr: int) -> bool:
    from drgn.helpers.linux.mm import vma_find

    return bool(vma_find(task.mm, addr))


def _records_report(task: Any, records: List[Dict[str, Any]],
                    columns: List[str], sum_from: int) -> Report:
    """A table of chosen columns, with totals of the numeric ones; JSON gets
    every field of every record (``vmas``)."""
    report = Report(_task_desc(task), columns, key="vmas", meta=task_keys(task),
                    data=[dict(r, name=r.get("name") or None) for r in records])
    for r in records:
        report.rows.append([r.get(c) for c in columns])
    totals: List[Any] = ["total"] + [""] * (sum_from - 1)
    for c in columns[sum_from:]:
        vals = [r.get(c) for r in records]
        totals.append(sum(v for v in vals if isinstance(v, int))
                      if any(isinstance(v, int) for v in vals) else "")
    report.totals = totals
    return report


def cmd_smaps_rollup(prog: Any, args: argparse.Namespace) -> List[Any]:
    """/proc/PID/smaps_rollup."""
    from ..ops import smaps

    out: List[Any] = []
    for task in selected_tasks(prog, args):
        with reading(prog, _task_desc(task), "its smaps_rollup"):
            if args.format == "proc":
                out.append(smaps.show_smaps_rollup(task))
                continue
            record = smaps.smaps_rollup_record(task)
            # the range on the title line, as the kernel's [rollup] header
            # line has it; every field a size in kB
            title = f"{_task_desc(task)} {record['start']:#x}-{record['end']:#x} [rollup]"
            report = Report(title, ["field", "kb"], key="fields",
                            meta=task_keys(task), data=record)
            report.rows = [[k, v] for k, v in record.items() if k not in ("start", "end")]
            out.append(report)
    return out


def cmd_pagemap(prog: Any, args: argparse.Namespace) -> List[Any]:
    """/proc/PID/pagemap entries, decoded."""
    from ..ops import pagemap

    start = parse_addr(args.start) if args.start else None
    end = parse_addr(args.end) if args.end else None
    if start is not None and end is not None and start >= end:
        raise UsageError(f"empty range {start:#x}-{end:#x}")
    out: List[Any] = []
    for task in selected_tasks(prog, args):
        with reading(prog, _task_desc(task), "its pagemap"):
            _vma_tree(prog, task)  # read now: the entries come later
            # Streamed: one chunk of entries in memory at a time, whatever the
            # size of the process.
            if args.format == "proc":
                out.append(TextStream(guarded(prog, _task_desc(task), "the rest of its pagemap",
                                              pagemap.pagemap_text_chunks(task, start, end))))
            else:
                chunks = guarded(prog, _task_desc(task), "the rest of its pagemap",
                                 pagemap.pagemap_chunks(task, start, end))
                out.append(StreamReport(_task_desc(task), PAGEMAP_COLUMNS, PAGEMAP_WIDTHS,
                                        _pagemap_items(chunks), meta=task_keys(task),
                                        table_text=pagemap.pagemap_table_text,
                                        json_text=pagemap.pagemap_json_text,
                                        key="entries"))
    return out


#: ``pages``: how many pages from ``vaddr`` on have this entry (1, or a
#: run of empty entries: a hole costs one row, not one per page).
PAGEMAP_COLUMNS = ["vaddr", "pages", "entry", "present", "swap", "pfn", "swap_type",
                   "swap_offset", "soft_dirty", "exclusive", "file"]
#: Widest values: a 57-bit user address, 2^45 pages, a 64-bit entry, a
#: 55-bit PFN.
PAGEMAP_WIDTHS = [18, 9, 18, 7, 4, 17, 9, 11, 10, 9, 4]


def _pagemap_items(chunks: Iterable[List[Tuple[int, int, int]]]
                   ) -> Iterator[Tuple[int, int, int]]:
    """The items of every chunk, one after another (in C)."""
    return chain.from_iterable(chunks)


def cmd_numa_maps(prog: Any, args: argparse.Namespace) -> List[Any]:
    """/proc/PID/numa_maps."""
    from ..ops import numa_maps

    out: List[Any] = []
    for task in selected_tasks(prog, args):
        with reading(prog, _task_desc(task), "its numa_maps"):
            text = numa_maps.show_numa_maps(task)
            if args.format == "proc":
                out.append(text)
                continue
            report = Report(_task_desc(task), ["start", "policy", "details"], key="vmas",
                            meta=task_keys(task))
            for line in text.splitlines():
                start, policy, *rest = line.split(" ")
                report.rows.append([int(start, 16), policy, " ".join(rest)])
            out.append(report)
    return out


def cmd_status(prog: Any, args: argparse.Namespace) -> List[Any]:
    """Memory lines of /proc/PID/status, from counters and from the walk."""
    from ..ops import status

    out: List[Any] = []
    for task in selected_tasks(prog, args):
        with reading(prog, _task_desc(task), "its status"):
            if args.format == "proc":
                out.append(status.show_status_mem(task))
                continue
            fields = status.status_fields(task, walk=args.walk)
            columns = ["field", "counters_kb", "pending_kb"]
            if args.walk:
                columns += ["walk_kb", "agree"]
            report = Report(_task_desc(task), columns, key="fields",
                            meta=dict(task_keys(task), walk=bool(args.walk)))
            report.data = {name: {"counters_kb": f["counters"], "pending_kb": f["pending"],
                                  "walk_kb": f["walk"], "agree": f["agree"]}
                           for name, f in fields.items()}
            for name, f in fields.items():
                row = [name, f["counters"], f["pending"]]
                if args.walk:
                    row += [f["walk"], f["agree"]]
                report.rows.append(row)
            report.notes.append("pending_kb: per-thread counts not yet in the mm (6.1)")
            if args.walk:
                report.notes.append("walk_kb: recomputed from the page tables; "
                                    "agree: walk == counters + pending")
            out.append(report)
    return out
