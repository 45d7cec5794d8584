"""The command set, shared by the drgn REPL (``%pagewalk ...``, registered
through the "drgn.plugins" entry point) and the ``drgn-pagewalk`` CLI.

Each subcommand turns a report from ops/ into text in one of three formats:
``table`` (tabulate, for people), ``json`` (for scripts) and ``proc`` (exactly
what the kernel prints in /proc).  Errors are :class:`PagewalkError`: one
line, exit status 2 for usage and 1 for data.  When the dump lacks memory a
command needs (a filtered dump), the command prints what it can read, names
what it left out ("missing: ..." lines on stderr, a ``missing`` list in
JSON) and exits with status 3 (EXIT_MISSING).
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from contextlib import contextmanager
from itertools import chain
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence,
                    TextIO, Tuple)

from .page_commands import PAGE_COMMANDS, _WxFound, add_page_subcommands
from .report import (
    FORMATS,
    Report,
    StreamReport,
    TextStream,
    render_table,
    write_json_document,
    write_table_stream,
)
from .schema import command_form, header, kernel_release, task_keys, tool_version, versions


class PagewalkError(Exception):
    """A one-line error for the user; ``status`` is the exit code.
    ``usage``: the usage line of the (sub)command that failed, shown after
    the message (error_line())."""

    status = 1

    def __init__(self, message: str = "", usage: Optional[str] = None) -> None:
        super().__init__(message)
        self.usage = usage


def error_line(prog_name: str, e: PagewalkError) -> str:
    """``PROG: error: MESSAGE (usage: PROG SUBCOMMAND ...)``: the one line
    every front end prints for an error."""
    line = f"{prog_name}: error: {e}"
    return f"{line} (usage: {e.usage})" if e.usage else line


class UsageError(PagewalkError):
    status = 2


#: How each front end is given a kernel's debug info (no_debug_info()).
GIVE_VMLINUX = {
    "drgn-pagewalk": "give its vmlinux with -s",
    "pagewalk": "load its vmlinux (drgn -s VMLINUX, or prog.load_debug_info([VMLINUX]))",
    "lx-pagewalk": "give its vmlinux (gdb VMLINUX, or lx-pagewalk --vmlinux VMLINUX)",
}


def no_debug_info(release: Optional[str], subject: str,
                  prog_name: str = "drgn-pagewalk") -> PagewalkError:
    """The error for a kernel whose debug info is not there: which kernel
    (its release, from VMCOREINFO's OSRELEASE, which needs no debug info)
    and what to install or give."""
    give = GIVE_VMLINUX.get(prog_name, GIVE_VMLINUX["drgn-pagewalk"])
    if not release:
        return PagewalkError(f"no debug info for {subject}: {give}")
    return PagewalkError(f"no debug info for {release}, the kernel of {subject}: install "
                         f"linux-image-{release}-dbg (Debian) or {give}")


def require_debug_info(prog: Any, subject: str, prog_name: str) -> None:
    """A Program without the kernel's types (drgn started without its
    vmlinux) is refused before any command runs."""
    try:
        prog.type("struct mm_struct")
    except LookupError:
        raise no_debug_info(kernel_release(prog), subject, prog_name) from None


#: The page sizes the page-table formats (arch/) handle.
PAGE_SIZES = (4096,)


def require_page_size(prog: Any) -> None:
    """A kernel whose page size the tool does not handle (arm64 with 16 or
    64 KiB pages) is refused before anything is printed: PAGE_SIZE is
    drgn's, from VMCOREINFO's PAGESIZE= (a plain key, not NUMBER())."""
    page_size = int(prog["PAGE_SIZE"])
    if page_size not in PAGE_SIZES:
        raise PagewalkError(f"this kernel has {page_size // 1024} KiB pages: not supported "
                            "(4 KiB pages only so far)")


#: Exit status when parts of the output were left out: the dump lacks
#: memory they needed (each part is named on stderr and in JSON).
EXIT_MISSING = 3


class MissingError(PagewalkError):
    """Nothing of what was asked could be read from the dump."""

    status = EXIT_MISSING


def note_missing(prog: Any, context: Optional[str], left_out: str, error: Any) -> None:
    """Record that ``left_out`` (for ``context``) is not printed because
    reading it faulted with ``error`` (a drgn FaultError)."""
    from .drgn_target import get_target

    get_target(prog).note_fault(left_out, error, context)


@contextmanager
def reading(prog: Any, context: Optional[str], left_out: str) -> Iterator[None]:
    """Run the block; if the dump lacks memory it reads (drgn FaultError, or
    a part of a vma tree: VmaTreeLost), note what is left out
    (note_missing()) and go on after the block.  What the target itself
    finds missing in the block (a lost part of a vma tree) is noted with
    the same context."""
    from drgn import FaultError

    from .target import VmaTreeLost

    target = _target_or_none(prog) if prog is not None else None
    outer = target.context if target is not None else None
    if target is not None and context is not None:
        target.context = context
    try:
        yield
    except FaultError as e:
        note_missing(prog, context, left_out, e)
    except VmaTreeLost as e:
        note_missing(prog, context, left_out, e.error)
    finally:
        if target is not None:
            target.context = outer


def guarded(prog: Any, context: Optional[str], left_out: str,
            items: Iterable[Any]) -> Iterator[Any]:
    """``items`` as they come, until one cannot be read from the dump: the
    rest is noted as left out (streamed output is produced while it is
    written, after the command's own loop)."""
    with reading(prog, context, left_out):
        yield from items


class _Parser(argparse.ArgumentParser):
    """argparse that raises one-line UsageErrors, with this (sub)parser's
    usage line, instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message, usage=usage_line(self))


def usage_line(parser: argparse.ArgumentParser) -> str:
    """A parser's usage on one line, without "usage: "."""
    text = " ".join(parser.format_usage().split())
    return text[len("usage: "):] if text.startswith("usage: ") else text


def _subparser(parser: argparse.ArgumentParser, name: str) -> Optional[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(name)
    return None


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """parse_args(), with COMMAND required unless --version is given; an
    argument no parser knows is the subcommand's error."""
    args, extra = parser.parse_known_args(list(argv))
    if extra:
        sub = _subparser(parser, args.command) if args.command else None
        (sub or parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None and not args.version:
        parser.error("the following arguments are required: COMMAND")
    return args


def add_usage(parser: argparse.ArgumentParser, args: Optional[argparse.Namespace],
              e: PagewalkError) -> PagewalkError:
    """A UsageError a command raised gets its subcommand's usage line."""
    if isinstance(e, UsageError) and e.usage is None:
        sub = _subparser(parser, args.command) if args and args.command else None
        e.usage = usage_line(sub or parser)
    return e


# -- task selection ----------------------------------------------------------

def parse_task_spec(spec: str) -> int:
    """A PID (decimal) or a task_struct address (hex, 0x...)."""
    try:
        return int(spec, 0)
    except ValueError:
        raise UsageError(f"not a PID or task address: {spec!r}") from None


def parse_number(text: str, what: str) -> int:
    """A number argument (decimal, or hex with 0x): a PFN, a page index."""
    try:
        return int(text, 0)
    except ValueError:
        raise UsageError(f"not a {what}: {text!r}") from None


def find_task_obj(prog: Any, spec: str) -> Any:
    """The task a PID or ``task_struct`` address names; it must have an mm."""
    from drgn import FaultError, Object
    from drgn.helpers.linux.pid import find_task

    value = parse_task_spec(spec)
    if value < 0:
        raise UsageError(f"not a PID or task address: {spec!r}")
    if value >= 1 << 32:
        task = Object(prog, "struct task_struct *", value)
        try:
            pid = task.pid.value_()
            mm = task.mm.value_()
        except FaultError:
            raise PagewalkError(f"no task_struct at {value:#x}") from None
        desc = f"task {value:#x} (PID {pid})"
    else:
        try:
            task = find_task(prog, value)
            if not task:
                raise PagewalkError(f"no process with PID {value}")
            mm = task.mm.value_()
        except FaultError as e:
            # DUMP: the PID table or the task is not in the dump; the
            # process list may still reach the task
            for task in _task_list(prog):
                if task.pid.value_() == value:
                    mm = task.mm.value_()
                    break
            else:
                note_missing(prog, f"PID {value}", "everything asked", e)
                raise MissingError(f"PID {value} cannot be read from this dump "
                                   "(see the missing line)") from None
        desc = f"PID {value}"
    if not mm:
        raise PagewalkError(f"{desc} is a kernel thread: it has no mm")
    return task


def tasks_with_mm(prog: Any) -> List[Any]:
    """Every thread-group leader with an mm, by PID (for_each_task()).
    DUMP: a PID whose struct pid or task_struct the dump lacks is noted as
    missing and passed over; a PID table node it lacks ends the list."""
    from drgn.helpers.linux.pid import for_each_pid, pid_task

    from drgn import FaultError, Object

    pidtype = prog["PIDTYPE_PID"]
    found = {}
    idr = prog["init_pid_ns"].idr
    base = idr.idr_base.value_() if hasattr(idr, "idr_base") else 0

    def lost(e: Any, index: int) -> None:
        note_missing(prog, None, f"the PIDs under one PID table node (from {index + base})",
                     e)

    with reading(prog, None, "the rest of the PID table (the processes the task "
                 "list reaches are listed)"):
        if hasattr(idr.idr_rt, "xa_head"):
            pids: Iterable[Any] = (Object(prog, "struct pid *", entry) for _, entry in
                                   xa_entries(prog, idr.idr_rt.xa_head.value_(), lost))
        else:  # before 4.20
            pids = for_each_pid(prog)
        for pid in pids:
            try:
                nr = pid.numbers[0].nr.value_()
            except FaultError as e:
                note_missing(prog, None, "a task (process or kernel thread)", e)
                continue
            with reading(prog, f"PID {nr}", "its task (process or kernel thread)"):
                t = pid_task(pid, pidtype)
                if t and t.mm.value_() and t.pid.value_() == t.tgid.value_():
                    found[t.value_()] = t
    if target_missing(prog):
        # DUMP: the PID table has holes; the process list (init_task.tasks,
        # both ways from init_task) may reach processes behind them
        for t in _task_list(prog):
            if t.value_() not in found and t.mm.value_():
                found[t.value_()] = t
    return sorted(found.values(), key=lambda t: t.pid.value_())


def xa_entries(prog: Any, head: int, lost: Callable[[Any, int], None]
               ) -> Iterator[Tuple[int, int]]:
    """(index, entry) of every entry of an XArray (4.20 and later) whose
    xa_head is ``head``, as xa_for_each() finds them.  DUMP: a node the dump
    lacks is passed to ``lost(error, first index)`` and its subtree skipped;
    the walk goes on with the other nodes."""
    from drgn import FaultError, offsetof

    node_type = prog.type("struct xa_node")
    size = node_type.size
    shift_off = offsetof(node_type, "shift")
    slots_off = offsetof(node_type, "slots")
    nr_slots = node_type.member("slots").type.length
    stack = [(head, 0)]
    while stack:
        entry, index = stack.pop()
        if entry & 3 != 2:  # not internal: a pointer
            yield index, entry
            continue
        if entry <= 4096:  # sibling, retry or zero entry
            continue
        try:
            data = prog.read(entry - 2, size)
        except FaultError as e:
            lost(e, index)
            continue
        shift = data[shift_off]
        slots = struct.unpack_from(f"<{nr_slots}Q", data, slots_off)
        stack.extend((slot, index + (i << shift))
                     for i, slot in reversed(list(enumerate(slots))) if slot)


def target_missing(prog: Any) -> bool:
    """Has the current command left anything out so far?"""
    from .drgn_target import get_target

    return bool(get_target(prog).missing)


def _task_list(prog: Any) -> Iterator[Any]:
    """The thread-group leaders on init_task.tasks, followed forwards and
    then backwards from init_task, each way until a task cannot be read
    (for_each_process() of a dump that lacks some task_structs)."""
    from drgn import FaultError, container_of

    head = prog["init_task"].tasks.address_of_()
    seen = {head.value_()}
    for way in ("next", "prev"):
        node = getattr(head, way)
        try:
            while node.value_() not in seen:
                seen.add(node.value_())
                task = container_of(node, "struct task_struct", "tasks")
                task.mm.read_()
                yield task
                node = getattr(node, way).read_()
        except FaultError:
            continue


def selected_tasks(prog: Any, args: argparse.Namespace) -> List[Any]:
    if getattr(args, "all", False):
        if args.task is not None:
            raise UsageError("give a PID or --all, not both")
        return tasks_with_mm(prog)
    if args.task is None:
        raise UsageError("a PID (or task_struct address) or --all is needed")
    return [find_task_obj(prog, args.task)]


def parse_addr(text: str) -> int:
    try:
        value = int(text, 16) if not text.startswith(("0x", "0X")) else int(text, 0)
    except ValueError:
        raise UsageError(f"not a hexadecimal address: {text!r}") from None
    if not 0 <= value < 1 << 64:
        raise UsageError(f"address out of range: {text!r}")
    return value


# -- commands -----------------------------------------------------------------

def _task_desc(task: Any) -> str:
    return f"PID {task.pid.value_()} ({task.comm.string_().decode(errors='replace')})"


def cmd_ps(prog: Any, args: argparse.Namespace) -> List[Report]:
    """Processes with an mm: what the other commands can look at."""
    from drgn.helpers.linux.mm import task_rss

    report = Report("", ["pid", "comm", "task", "mm", "rss_kb", "vmas"], key="processes",
                    meta={"version": versions(prog)})
    for task in tasks_with_mm(prog):
        desc = f"PID {task.pid.value_()}"
        rss_kb = nr_vmas = None  # null: what the dump does not hold
        with reading(prog, desc, "its rss_kb"):
            rss_kb = task_rss(prog, task).total * 4
        with reading(prog, desc, "its vmas count"):
            nr_vmas = task.mm.map_count.value_()
        comm = task.comm.string_().decode(errors="replace")
        report.rows.append([task.pid.value_(), comm, task.value_(), task.mm.value_(),
                            rss_kb, nr_vmas])
    return [report]


def cmd_vmas(prog: Any, args: argparse.Namespace) -> List[Report]:
    """Per-vma page counts from the walker."""
    from .drgn_target import get_target
    from .ops.maps import show_map_vma, vma_perms
    from .ops.vmas import totals, vma_pages

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
            for s, name in read:
                v = s.vma
                report.rows.append([v.vm_start, v.vm_end, vma_perms(v.vm_flags),
                                    (v.vm_end - v.vm_start) >> 10, s.present * 4,
                                    s.swap * 4, s.thp * 4, s.hugetlb * 4, name])
                report.notes.extend(str(p) for p in s.problems)
            t = totals(stats)
            report.totals = ["total", "", "",
                             sum((s.vma.vm_end - s.vma.vm_start) >> 10 for s in stats),
                             t["present"] * 4, t["swap"] * 4, t["thp"] * 4,
                             t["hugetlb"] * 4, f"{len(stats)} vmas"]
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
    from .ops import smaps

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
    from .drgn_target import get_target

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
    from .ops import smaps

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
    from .ops import pagemap

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
            chunks = guarded(prog, _task_desc(task), "the rest of its pagemap",
                             pagemap.pagemap_chunks(task, start, end))
            if args.format == "proc":
                out.append(TextStream(pagemap.format_pagemap(c) for c in chunks))
            else:
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
    from .ops import numa_maps

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
    from .ops import status

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


CommandFunc = Callable[[Any, argparse.Namespace], List[Any]]
COMMANDS: Dict[str, CommandFunc] = {
    "ps": cmd_ps,
    "vmas": cmd_vmas,
    "smaps": cmd_smaps,
    "smaps-rollup": cmd_smaps_rollup,
    "pagemap": cmd_pagemap,
    "numa-maps": cmd_numa_maps,
    "status": cmd_status,
}
COMMANDS.update(PAGE_COMMANDS)


def add_format_option(parser: argparse.ArgumentParser, sub: bool = False) -> None:
    """--format; on a subcommand it only overrides a format given before it."""
    parser.add_argument("--format", "-f", choices=FORMATS,
                        default=argparse.SUPPRESS if sub else "table",
                        help="table (default), json, or proc: exactly what "
                        "the kernel prints in /proc")


def add_subcommands(parser: argparse.ArgumentParser) -> None:
    """The subcommands, and --version; each subcommand's usage reads
    "PROG SUBCOMMAND ..." (COMMAND is required by parse_args())."""
    parser.add_argument("--version", action="store_true",
                        help="print the versions of drgn-pagewalk, drgn, Python "
                        "and the kernel of the dump, and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", prog=parser.prog)

    def task_cmd(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("task", nargs="?", metavar="PID",
                       help="PID, or task_struct address (0x...)")
        p.add_argument("--all", "-a", action="store_true",
                       help="every process with an mm")
        add_format_option(p, sub=True)
        return p

    p = sub.add_parser("ps", help="processes with an mm")
    add_format_option(p, sub=True)
    task_cmd("vmas", "per-vma page counts from the page-table walk")
    p = task_cmd("smaps", "/proc/PID/smaps")
    p.add_argument("addr", nargs="?", metavar="ADDR",
                   help="only the vma containing this address (hex)")
    task_cmd("smaps-rollup", "/proc/PID/smaps_rollup")
    p = task_cmd("pagemap", "/proc/PID/pagemap entries")
    p.add_argument("start", nargs="?", metavar="START", help="first address (hex)")
    p.add_argument("end", nargs="?", metavar="END", help="end address (hex)")
    task_cmd("numa-maps", "/proc/PID/numa_maps")
    p = task_cmd("status", "memory lines of /proc/PID/status; --walk: counters vs "
                 "the page tables")
    p.add_argument("--walk", action="store_true",
                   help="also recompute RSS, swap and page-table pages from a walk "
                   "(table and JSON)")
    add_page_subcommands(sub, task_cmd, add_format_option)
    for p in sub.choices.values():
        p.add_argument("--drgn", action="store_true",
                       help="print the equivalent Python code (drgn and drgn_pagewalk's "
                       "API) instead of running the command")


def build_parser(prog_name: str = "pagewalk") -> argparse.ArgumentParser:
    parser = _Parser(prog=prog_name,
                     description="the kernel's page-table walker over a dump")
    add_format_option(parser)
    add_subcommands(parser)
    return parser


def write_result(result: Any, fmt: str, out: TextIO) -> None:
    """One result in the table or proc format: /proc text as it is, a
    Report rendered, a StreamReport written row by row (JSON:
    write_json_document())."""
    if isinstance(result, StreamReport):
        write_table_stream(result, out)
    elif isinstance(result, str):
        out.write(result if fmt == "proc" else result.rstrip("\n") + "\n")
    elif isinstance(result, TextStream):
        for piece in result.pieces:
            out.write(piece)
    else:
        out.write(render_table(result) + "\n")


def write_results(prog: Any, args: argparse.Namespace, results: List[Any], out: TextIO,
                  missing: Callable[[], List[Dict[str, Any]]]) -> None:
    """Every result of a command: in JSON one document (schema.py: the
    envelope, then one object per result, then what is missing), else one
    after another."""
    if args.format == "json":
        write_json_document(header(prog, command_form(args)), results, out, missing)
        return
    for i, r in enumerate(results):
        if i and args.format != "proc":
            out.write("\n")
        write_result(r, args.format, out)


def run(prog: Any, args: argparse.Namespace, out: TextIO,
        prog_name: str = "pagewalk") -> int:
    """Run a parsed command and write its output (several results: tables
    one after another, JSON one document); on a running kernel, then note the
    table pages that changed under it (report_live_changes()).  Returns the
    exit status: 0, or EXIT_MISSING when parts were left out because the
    dump lacks them."""
    if args.version:
        out.write("".join(line + "\n" for line in version_lines(prog)))
        return 0
    if getattr(args, "drgn", False):
        from .drgn_code import drgn_code

        out.write(drgn_code(args))
        return 0
    if prog is not None:
        require_debug_info(prog, "this program", prog_name)
        require_page_size(prog)
    target = _target_or_none(prog)
    missing: Callable[[], List[Dict[str, Any]]] = list
    if target is not None:
        target.begin_command()
        missing = lambda: [m.record() for m in target.missing]  # noqa: E731
    progress = Progress(target, f"{prog_name}: {args.command}",
                        float(os.environ.get("DRGN_PAGEWALK_PROGRESS_DELAY", "1"))) \
        if target is not None and _is_tty(sys.stderr) else None
    try:
        from drgn import FaultError

        from .target import VmaTreeLost

        try:
            results = COMMANDS[args.command](prog, args)
        except _WxFound as e:
            write_results(prog, args, [e.result], out, missing)
            raise PagewalkError(e.message) from None
        except (FaultError, VmaTreeLost) as e:
            if target is None:
                raise
            # outside the commands' own guards (reading()): the whole output
            note_missing(prog, None, f"the output of {args.command}",
                         e.error if isinstance(e, VmaTreeLost) else e)
            results = []
        write_results(prog, args, results, out, missing)
    finally:
        if progress is not None:
            progress.stop()
        if target is not None:
            # the damage the walks met, one line each, after the output
            out.flush()
            for line in target.end_command():
                print(line, file=sys.stderr)
    report_live_changes(prog, prog_name)
    return EXIT_MISSING if target is not None and target.missing else 0


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """A progress line on stderr (a terminal) for a command that runs over a
    second: the vmas and address space walked so far, rewritten in place
    every half second and erased at the end.  Silent when stderr is not a
    terminal, and for commands that end within the second."""

    def __init__(self, target: Any, label: str, delay: float = 1.0) -> None:
        import threading

        self.target = target
        self.label = label
        self.shown = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(delay,), daemon=True)
        self._thread.start()

    def _run(self, delay: float) -> None:
        if self._done.wait(delay):
            return
        while not self._done.is_set():
            ranges, size = self.target.walked
            sys.stderr.write(f"\r{self.label}: {ranges} vma(s), "
                             f"{size / (1 << 30):.1f} GiB of address space walked ")
            sys.stderr.flush()
            self.shown = True
            self._done.wait(0.5)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _target_or_none(prog: Any) -> Any:
    """The program's walker Target, or None where there is none (another
    architecture: the command says so itself)."""
    from .drgn_target import get_target
    from .target import TargetError

    try:
        return get_target(prog)
    except (TargetError, LookupError):
        return None


def one_line(e: BaseException) -> str:
    """The first line of an exception's message (its type if it has none),
    for one-line errors."""
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def report_live_changes(prog: Any, prog_name: str) -> None:
    """After a walk of a running kernel: say on stderr which table pages
    changed under it (a note, not an error)."""
    target = prog.cache.get("drgn_pagewalk_target")
    if target is None or not target.live:
        return
    changed = target.changed_tables()
    if changed:
        shown = ", ".join(f"{p:#x}" for p in changed[:8])
        more = f" and {len(changed) - 8} more" if len(changed) > 8 else ""
        print(f"{prog_name}: note: the kernel was running: {len(changed)} page-table "
              f"page(s) changed during the walk (physical {shown}{more}); "
              "entries there may be older or newer than the rest",
              file=sys.stderr)


def run_argv(prog: Any, argv: Sequence[str], out: TextIO = sys.stdout,
             prog_name: str = "pagewalk") -> int:
    """Parse and run; print a one-line error (error_line()) and return its
    status on failure."""
    parser = build_parser(prog_name)
    args = None
    try:
        args = parse_args(parser, argv)
        return run(prog, args, out, prog_name)
    except PagewalkError as e:
        print(error_line(prog_name, add_usage(parser, args, e)), file=sys.stderr)
        return e.status


def version_lines(prog: Any = None, where: Optional[str] = None) -> List[str]:
    """``drgn-pagewalk VERSION (drgn VERSION, Python X.Y.Z)``, then, with a
    Program, ``kernel RELEASE`` (`` (WHERE)``: the dump's path)."""
    import platform

    import drgn

    lines = [f"drgn-pagewalk {tool_version()} (drgn {drgn.__version__}, "
             f"Python {platform.python_version()})"]
    if prog is not None:
        lines.append(f"kernel {kernel_release(prog)}" + (f" ({where})" if where else ""))
    return lines


def _register_drgn_command() -> None:
    """``%pagewalk SUBCOMMAND ...`` in the drgn REPL and run_command()."""
    try:
        from drgn.commands import custom_command, parse_shell_command
    except ImportError:  # drgn without the command framework
        return

    @custom_command(
        name="pagewalk",
        description="the kernel's page-table walker: smaps, pagemap, vmas ...",
        usage="**pagewalk** *COMMAND* [*ARGS*]",
        long_description=build_parser().format_help(),
        parse=parse_shell_command,
    )
    def _cmd_pagewalk(prog: Any, name: str, args: Sequence[str], **kwargs: Any) -> None:
        # Errors are printed as one line by run_argv(); the REPL goes on.
        run_argv(prog, args, sys.stdout, prog_name="pagewalk")


_register_drgn_command()
