"""The page-level commands: vtop, vm, rmap, walk, ptdump.  Each turns an
op from ops/ into a Report or StreamReport; registry.py declares them."""

from __future__ import annotations

import argparse
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ..output.report import Report, StreamReport
from ..output.schema import task_keys


def _errors():  # type: ignore[no-untyped-def]
    from ..errors import PagewalkError, UsageError

    return PagewalkError, UsageError


def _size(n: Optional[int]) -> Any:
    if n is None:
        return None
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and not n & ((1 << shift) - 1):
            return f"{n >> shift}{unit}"
    return str(n)


# -- vtop ---------------------------------------------------------------------

def cmd_vtop(prog: Any, args: argparse.Namespace) -> List[Any]:
    """Every level's entry for one address, the page or swap entry behind it."""
    from ..target.missing import reading
    from .args import parse_addr
    from .proc import _maps_name
    from .tasks import _task_desc, find_task_obj
    from ..target.drgn_target import get_target
    from ..ops.maps import show_map_vma, vma_perms
    from ..ops.vtop import vtop, vtop_record

    PagewalkError, UsageError = _errors()
    target = get_target(prog)
    arch = target.arch
    addr = parse_addr(args.addr)
    if not arch.is_canonical(addr):
        raise PagewalkError(f"{addr:#x} is not a canonical address "
                            f"({arch.levels}-level paging)")
    kernel = args.kernel or (args.task is None and addr >= arch.task_size)
    vma_desc = None
    who: Dict[str, Any] = {"pid": None, "comm": None, "task": None}
    if args.task is not None and not args.kernel:
        task = find_task_obj(prog, args.task)
        mm = target.mm(task.mm)
        who = task_keys(task)
        title = f"{_task_desc(task)} {addr:#x}"
        if addr < arch.task_size:
            # DUMP: a dump without the VMA tree still has the page tables:
            # the vma is then named missing and the walk goes on
            with reading(prog, _task_desc(task), f"the vma of {addr:#x}"):
                vma = target.find_vma(mm, addr)
                if vma is None or vma.vm_start > addr:
                    raise PagewalkError(f"address {addr:#x} is not in any vma of "
                                        f"{_task_desc(task)}")
                vma_desc = {"start": vma.vm_start, "end": vma.vm_end,
                            "perms": vma_perms(vma.vm_flags),
                            "name": _maps_name(show_map_vma(task, vma.obj))}
    elif kernel:
        mm = target.mm(prog["init_mm"].address_of_())
        title = f"kernel {addr:#x} (init_mm)"
    else:
        raise UsageError(f"{addr:#x} is a user address: give the PID whose "
                         "page tables to walk")
    pgd = None
    if args.user_pgd:
        if not arch.pti:
            raise PagewalkError("there is no PTI user pgd in this kernel (page table "
                                "isolation is off, or the kernel is not x86-64)")
        pgd = mm.pgd + 4096  # the PTI pair: user copy one page above
        title += " (PTI user pgd)"
    v = vtop(target, mm, addr, pgd)
    report = Report(title, ["level", "entry_virt", "entry_phys", "value", "flags"],
                    key="levels")
    for lv in v.levels:
        report.rows.append([lv.level, lv.entry_virt, lv.entry_phys, lv.value,
                            " ".join(lv.flags) or "-"])
    record = vtop_record(v)
    report.data = record.pop("levels")
    report.meta = dict(who, **record, vma=vma_desc, user_pgd=bool(args.user_pgd))
    report.notes.extend(_vtop_notes(v, vma_desc))
    return [report]


def _vtop_notes(v: Any, vma: Optional[Dict[str, Any]]) -> List[str]:
    notes = []
    if vma is not None:
        notes.append(f"VMA       {vma['start']:#x}-{vma['end']:#x} {vma['perms']} "
                     f"{vma['name']}".rstrip())
    where = f"stopped at {v.stop_level}: {v.stop_reason}"
    notes.append(f"RESULT    {where}")
    if v.physical is not None:
        extra = " (PROT_NONE: the entry's PFN is stored inverted; shown as the " \
                "kernel's pte_pfn() reads it)" if v.stop_reason == "protnone" else ""
        notes.append(f"PHYSICAL  {v.physical:#x}  PFN {v.pfn:#x}  page size "
                     f"{_size(v.page_size)}{extra}")
    if v.swap is not None:
        s = v.swap
        if "migration_pfn" in s:
            notes.append(f"MIGRATION type {s['type']} PFN {s['migration_pfn']:#x}")
        else:
            notes.append(f"SWAP      type {s['type']} offset {s['offset']:#x}"
                         f" on {s['device'] or 'an unknown device'}")
    p = v.page
    if p is not None:
        if not p.get("valid"):
            notes.append(f"PAGE      PFN {p['pfn']:#x} has no struct page (not pfn_valid())")
        elif "error" in p:
            notes.append(f"PAGE      {p['address']:#x} unreadable: {p['error']}")
        else:
            if p.get("slab") is not None:
                what = f"slab page of {p['slab']}"
            elif p["anon"]:
                what = "anon"
            else:
                what = f"file {p['file']}" if p["file"] else f"mapping {p['mapping']:#x}"
            if p["index"] is not None:
                what += f" index {p['index']:#x}"
            mc = p["mapcount"] if p["folio_mapcount"] is None else \
                f"{p['mapcount']} (folio {p['folio_mapcount']})"
            notes.append(f"PAGE      {p['address']:#x} refcount {p['refcount']} "
                         f"mapcount {mc} {what} "
                         f"folio order {p['folio_order']}"
                         + (" hugetlb" if p["hugetlb"] else ""))
            notes.append(f"FLAGS     {p['folio_flags']:#x} {p['flag_names']}"
                         + (" (of the folio's head page)" if p["head_pfn"] != p["pfn"]
                            else ""))
    for problem in v.problems:
        notes.append(f"DAMAGE    {problem}")
    return notes


# -- vm -----------------------------------------------------------------------

def cmd_vm(prog: Any, args: argparse.Namespace) -> List[Any]:
    """The vmas of a process; with -p every page of every vma."""
    from ..target.missing import reading
    from .proc import _maps_name
    from .tasks import _task_desc, selected_tasks
    from ..target.drgn_target import get_target
    from ..ops.maps import show_map_vma, vma_perms
    from ..ops.vm import vm_flag_names, vma_kind

    target = get_target(prog)
    shmem_aops = prog["shmem_aops"].address_
    out: List[Any] = []
    for task in selected_tasks(prog, args):
        with reading(prog, _task_desc(task), "its vm -p" if args.pages else "its vmas"):
            mm = target.mm(task.mm)
            task_size = mm.obj.task_size.value_()
            vmas = list(target.each_vma(
                [v for v in target.vmas(mm) if v.vm_start < task_size],
                lambda v: (v, _maps_name(show_map_vma(task, v.obj)))))
            if args.pages:
                out.append(_vm_pages(prog, target, task, vmas, args.fold))
                continue
            report = Report(_task_desc(task), ["vma", "start", "end", "perms", "flags",
                                               "kind", "file"], key="vmas",
                            meta=dict(task_keys(task), mm=mm.address, pgd_phys=mm.pgd))
            report.data = []
            for v, name in vmas:
                names = vm_flag_names(v.vm_flags)
                row = [v.address, v.vm_start, v.vm_end, vma_perms(v.vm_flags),
                       f"{v.vm_flags:#x} {names}", vma_kind(v, shmem_aops), name or None]
                report.rows.append(row)
                report.data.append(dict(zip(report.columns, row), flags=v.vm_flags,
                                        flag_names=names.split("|") if names else []))
            report.notes.extend(target.found_notes(mm, [v for v, _ in vmas]))
            out.append(report)
    return out


def _vm_pages(prog: Any, target: Any, task: Any, vmas: List[Tuple[Any, str]],
              fold: bool) -> StreamReport:
    from ..target.missing import guarded
    from .tasks import _task_desc
    from ..ops.page import PageCache
    from ..ops.vm import (
        FOLD_COLUMNS,
        FOLD_WIDTHS,
        PAGE_COLUMNS,
        PAGE_WIDTHS,
        VmPages,
        fold_rows,
        vm_page_json_line,
        vm_page_table_line,
        vma_page_rows,
    )

    vp = VmPages(prog, target.arch, PageCache(prog))
    notes: List[str] = []
    problems: list = []

    def rows() -> Iterator[Tuple[Any, ...]]:
        for v, name in vmas:
            yield from guarded(prog, _task_desc(task),
                               f"the pages of vma {v.vm_start:#x}-{v.vm_end:#x} from "
                               "the first it could not read", vma_page_rows(vp, v, name,
                                                                            problems))
        for p in problems:
            notes.append(f"DAMAGE {p}")

    if fold:
        return StreamReport(_task_desc(task), FOLD_COLUMNS, FOLD_WIDTHS,
                            fold_rows(rows()), notes, meta=task_keys(task), key="runs")
    return StreamReport(_task_desc(task), PAGE_COLUMNS, PAGE_WIDTHS, rows(), notes,
                        meta=task_keys(task), table_line=vm_page_table_line,
                        json_line=vm_page_json_line, key="pages")


# -- rmap ---------------------------------------------------------------------

def _mapping_of(prog: Any, spec: str) -> Tuple[Any, str]:
    """The address_space of a path in the dump, or of an inode address."""
    from drgn import FaultError, Object
    from drgn.helpers.linux.fs import path_lookup

    PagewalkError, _ = _errors()
    if spec.startswith(("0x", "0X")):
        try:
            inode = Object(prog, "struct inode *", int(spec, 16))
            mapping = inode.i_mapping
            mapping.i_mmap.rb_root.rb_node.value_()
        except (FaultError, ValueError):
            raise PagewalkError(f"no inode at {spec}") from None
        return mapping, f"inode {int(spec, 16):#x}"
    try:
        path = path_lookup(prog, spec)
    except FaultError:
        raise  # the dump lacks a dentry or inode on the way: missing
    except Exception as e:  # drgn raises plain Exception for a missing path
        raise PagewalkError(f"{spec}: {str(e).splitlines()[0] if str(e) else 'not found'}") \
            from None
    return path.dentry.d_inode.i_mapping, spec


def cmd_rmap(prog: Any, args: argparse.Namespace) -> List[Any]:
    """Who maps a file's pages (walk_page_mapping()) or one page (rmap_walk())."""
    from .args import parse_number
    from ..target.drgn_target import get_target
    from ..ops.rmap import RMAP_COLUMNS, rmap_mapping, rmap_pfn

    PagewalkError, UsageError = _errors()
    target = get_target(prog)
    if args.pfn is not None:
        if args.file is not None:
            raise UsageError("give a FILE or --pfn, not both")
        pfn = parse_number(args.pfn, "PFN")
        rows, info = rmap_pfn(target, pfn)
        if not info.get("valid"):
            raise PagewalkError(f"PFN {pfn:#x} has no struct page: beyond memory or "
                                "in a hole (pfn_valid() is false)")
        report = Report(f"PFN {pfn:#x}", RMAP_COLUMNS, key="mappings")
        report.rows = [list(r) for r in rows]
        what = f"slab page of {info['slab']}" if info.get("slab") is not None else \
            "anon" if info.get("anon") else (info.get("file") or "no mapping")
        report.notes.append(f"page {info['address']:#x} mapcount {info.get('mapcount')} "
                            f"{what}; {len(rows)} mapping(s) found")
        if info.get("note"):
            report.notes.append(info["note"])
        report.meta = {"file": None, "first": None, "nr": None, "pfn": pfn, "page": info}
        return [report]
    if args.file is None:
        raise UsageError("give a FILE, an inode address (0x...), or --pfn PFN")
    mapping, desc = _mapping_of(prog, args.file)
    if not mapping.i_mmap.rb_root.rb_node.value_():
        raise PagewalkError(f"{desc} is not mapped by any process")
    first = parse_number(args.first, "page index") if args.first else 0
    if args.nr:
        nr = parse_number(args.nr, "number of pages")
    else:
        shift = target.arch.page_shift  # DIV_ROUND_UP(i_size, PAGE_SIZE)
        nr = max(1, ((mapping.host.i_size.value_() + (1 << shift) - 1) >> shift) - first)
    if nr <= 0:
        raise UsageError(f"empty range: {nr} pages")
    rows, problems = rmap_mapping(target, mapping, first, nr)
    report = Report(f"{desc} pages {first:#x}-{first + nr - 1:#x}", RMAP_COLUMNS,
                    key="mappings", meta={"file": desc, "first": first, "nr": nr,
                                          "pfn": None, "page": None})
    report.rows = [list(r) for r in rows]
    report.notes.append(f"{len(rows)} mapping(s)")
    report.notes.extend(f"DAMAGE {p}" for p in problems)
    return [report]


# -- walk (trace) ---------------------------------------------------------------

TRACE_OPS = ("pgd", "p4d", "pud", "pmd", "pte", "hole", "hugetlb", "test", "pre_vma",
             "post_vma")


def cmd_walk(prog: Any, args: argparse.Namespace) -> List[Any]:
    """A trace of the walker's raw callbacks over a process's range."""
    from ..target.missing import guarded, reading
    from .args import parse_addr
    from .tasks import _task_desc, find_task_obj
    from ..target.drgn_target import get_target
    from ..walker.walk import MmWalk, MmWalkOps, walk_page_range

    PagewalkError, UsageError = _errors()
    target = get_target(prog)
    task = find_task_obj(prog, args.task)
    mm = None
    with reading(prog, _task_desc(task), "its walk"):
        mm = target.mm(task.mm)
        target.vmas(mm)  # lost parts of the tree are named; the walk stops at one
    if mm is None:
        return []
    page = 1 << target.arch.page_shift
    # walk_page_range(): start >= end is -EINVAL.  The range given is
    # checked before it is widened to whole pages: a reversed range inside
    # one page (0x2000-0x1000 with 16 KiB pages) would become that page
    given_start = parse_addr(args.start) if args.start else 0
    given_end = parse_addr(args.end) if args.end else target.arch.task_size
    if given_start >= given_end:
        raise UsageError(f"empty range {given_start:#x}-{given_end:#x}")
    start = given_start & ~(page - 1)
    end = (given_end + page - 1) & ~(page - 1) if args.end else given_end
    wanted = set(args.ops.split(",")) if args.ops else set(TRACE_OPS) - {"test"}
    unknown = wanted - set(TRACE_OPS)
    if unknown:
        raise UsageError(f"unknown callback {sorted(unknown)[0]!r} "
                         f"(choose from {','.join(TRACE_OPS)})")
    buf: List[Tuple[Any, ...]] = []

    def entry_cb(name: str):  # type: ignore[no-untyped-def]
        def cb(entry: Any, addr: int, next: int, walk: MmWalk) -> int:
            buf.append((name, addr, next, entry.level_name, None,
                        None if entry.synthesized else entry.phys, entry.val,
                        "synthesized" if entry.synthesized else None))
            return 0
        return cb

    def hole(addr: int, next: int, depth: int, walk: MmWalk) -> int:
        buf.append(("pte_hole", addr, next, None, depth, None, None, None))
        return 0

    def hugetlb(entry: Any, hmask: int, addr: int, next: int, walk: MmWalk) -> int:
        buf.append(("hugetlb_entry", addr, next, entry.level_name, None, entry.phys,
                    entry.val, f"hmask {hmask:#x}"))
        return 0

    def test(addr: int, next: int, walk: MmWalk) -> int:
        buf.append(("test_walk", addr, next, None, None, None, None,
                    f"vma {walk.vma.vm_start:#x}-{walk.vma.vm_end:#x}"))
        return 0

    def pre(addr: int, next: int, walk: MmWalk) -> int:
        buf.append(("pre_vma", addr, next, None, None, None, None,
                    f"vma {walk.vma.vm_start:#x}-{walk.vma.vm_end:#x}"))
        return 0

    def post(walk: MmWalk) -> None:
        buf.append(("post_vma", walk.vma.vm_start, walk.vma.vm_end, None, None, None,
                    None, None))

    ops = MmWalkOps(
        pgd_entry=entry_cb("pgd_entry") if "pgd" in wanted else None,
        p4d_entry=entry_cb("p4d_entry") if "p4d" in wanted else None,
        pud_entry=entry_cb("pud_entry") if "pud" in wanted else None,
        pmd_entry=entry_cb("pmd_entry") if "pmd" in wanted else None,
        pte_entry=entry_cb("pte_entry") if "pte" in wanted else None,
        pte_hole=hole if "hole" in wanted else None,
        hugetlb_entry=hugetlb if "hugetlb" in wanted else None,
        test_walk=test if "test" in wanted else None,
        pre_vma=pre if "pre_vma" in wanted else None,
        post_vma=post if "post_vma" in wanted else None)
    notes: List[str] = []

    def rows() -> Iterator[Tuple[Any, ...]]:
        # one vma-sized slice at a time, so the trace streams
        problems: list = []
        a = start
        while a < end:
            vma = target.find_vma(mm, a)
            b = end if vma is None else (min(end, vma.vm_start) if a < vma.vm_start
                                         else min(end, vma.vm_end))
            walk_page_range(mm, a, b, ops, None, problems)
            yield from buf
            buf.clear()
            a = b
        notes.extend(f"DAMAGE {p}" for p in problems)

    columns = ["callback", "addr", "next", "level", "depth", "entry_phys", "value", "note"]
    return [StreamReport(f"{_task_desc(task)} walk_page_range {start:#x}-{end:#x}",
                         columns, [13, 18, 18, 5, 5, 14, 18, 20],
                         guarded(prog, _task_desc(task), "the rest of its walk", rows()),
                         notes, meta=dict(task_keys(task), start=start, end=end),
                         key="callbacks")]


# -- ptdump ---------------------------------------------------------------------

def cmd_ptdump(prog: Any, args: argparse.Namespace) -> List[Any]:
    """The kernel's ptdump of init_mm (or a process), and the W+X check."""
    from .tasks import find_task_obj
    from ..ops import ptdump

    from ..target.drgn_target import get_target

    PagewalkError, UsageError = _errors()
    arch = get_target(prog).arch.name
    if arch not in ("x86_64", "arm64"):
        raise PagewalkError(f"ptdump: the kernel's page-table dumper is ported for x86-64 "
                            f"and arm64 only, not for {arch}")
    if args.user and args.pid is None:
        raise UsageError("--user needs --pid")
    if arch == "arm64" and args.pid is not None:
        # arch/arm64/mm/ptdump.c dumps the kernel's table (init_mm) only
        raise UsageError("ptdump: arm64 has only the kernel page table (init_mm): "
                         "--pid and --user are x86's current_kernel/current_user")
    task = find_task_obj(prog, args.pid) if args.pid is not None else None
    if args.checkwx:
        result = ptdump.checkwx(prog)
        if args.format == "proc":
            text = "".join(line + "\n" for line in result["lines"])
        else:
            report = Report("W+X check", ["start", "end", "size", "level", "flags"],
                            key="ranges", data=result["wx_ranges"])
            for r in result["wx_ranges"]:
                report.rows.append([r.get("start"), r.get("end"), r.get("size"),
                                    r.get("level"), r.get("flags")])
            report.notes.extend(result["lines"])
            report.meta = {"passed": result["passed"], "lines": result["lines"]}
            text = report  # type: ignore[assignment]
        if not result["passed"]:
            raise _WxFound(text)
        return [text]
    if args.format == "proc":
        return [ptdump.ptdump_text(prog, task, args.user)]
    ranges = ptdump.ptdump_ranges(prog, task, args.user)
    columns = ["start", "end", "size", "level", "marker", "flags", "user", "rw", "nx"]
    report = Report("kernel page tables" if task is None else
                    f"page tables of PID {task.pid.value_()}"
                    + (" (user pgd)" if args.user else ""), columns, key="ranges",
                    data=ranges, meta={"pid": None if task is None else task.pid.value_(),
                                       "user": bool(args.user)})
    for r in ranges:
        report.rows.append([r.get("start"), r.get("end"), r.get("size"), r.get("level"),
                            r.get("marker"), r.get("flags"), r.get("user"), r.get("rw"),
                            r.get("nx")])
    return [report]


class _WxFound(Exception):
    """A check found what it looks for (--checkwx: W+X mappings; ptcheck:
    damage): print the result, then exit with status 1 and ``message``."""

    def __init__(self, result: Any, message: str = "W+X mappings found") -> None:
        super().__init__(message)
        self.result = result
        self.message = message


# -- ptcheck ------------------------------------------------------------------

PTCHECK_COLUMNS = ["pid", "level", "start", "end", "entry_phys", "value", "what"]


def cmd_ptcheck(prog: Any, args: argparse.Namespace) -> List[Any]:
    """Damaged page tables: the kernel's own tests on every entry of a
    process (or all, or init_mm), table pages, the kernel pgd half, the
    rss counters.  Exit status 1 when anything is found."""
    from ..target.missing import reading
    from .tasks import _task_desc, selected_tasks
    from ..ops.ptcheck import damage_record, ptcheck_kernel, ptcheck_task

    PagewalkError, UsageError = _errors()
    if args.kernel and (args.task is not None or args.all):
        raise UsageError("give a PID, --all or --kernel")
    found: List[Tuple[Optional[int], Any]] = []
    if args.kernel:
        found = [(None, d) for d in ptcheck_kernel(prog)]
        checked = "init_mm"
    else:
        done = 0
        for task in selected_tasks(prog, args):
            pid = task.pid.value_()
            with reading(prog, _task_desc(task), "its check"):
                found.extend((pid, d) for d in ptcheck_task(task))
                done += 1
        checked = f"{done} process(es)"
    from ..target.drgn_target import get_target

    get_target(prog).take_problems()  # they are this command's output
    summary = f"{len(found)} problem(s) found in {checked}" if found else \
        f"no damage found in {checked}"
    if args.format == "proc":
        result: Any = "".join(d.line("kernel" if pid is None else f"PID {pid}") + "\n"
                              for pid, d in found) + summary + "\n"
    else:
        result = Report("page-table check", PTCHECK_COLUMNS, key="damage",
                        meta={"checked": checked})
        for pid, d in found:
            r = damage_record(d, pid)
            result.rows.append([r[c] for c in PTCHECK_COLUMNS])
        result.notes.append(summary)
        result.data = [damage_record(d, pid) for pid, d in found]
    if found:
        raise _WxFound(result, summary)
    return [result]


def add_page_subcommands(sub: Any, task_cmd: Any, add_format_option: Any) -> None:
    """The argparse declarations of the page commands."""
    p = sub.add_parser("vtop", help="every level's entry for an address",
                       description="Translate ADDR through every page-table level: "
                       "entries, flags, the page or swap entry behind it.")
    p.add_argument("addr", metavar="ADDR", help="virtual address (hex)")
    p.add_argument("task", nargs="?", metavar="PID",
                   help="process whose page tables to walk (PID or task address)")
    p.add_argument("--kernel", "-k", action="store_true",
                   help="walk init_mm (kernel address)")
    p.add_argument("--user-pgd", action="store_true",
                   help="walk the PTI user copy of the pgd")
    add_format_option(p, sub=True)
    p = task_cmd("vm", "vmas of a process; -p: every page of every vma")
    p.add_argument("-p", "--pages", action="store_true",
                   help="every page: physical address, swap entry or not mapped")
    p.add_argument("--fold", action="store_true",
                   help="with -p: one line per run of contiguous pages")
    p = sub.add_parser("rmap", help="who maps a file's pages, or a physical page",
                       description="walk_page_mapping() over FILE's i_mmap, or "
                       "rmap_walk() of the page at --pfn.")
    p.add_argument("file", nargs="?", metavar="FILE|INODE",
                   help="a path in the dump, or an inode address (0x...)")
    p.add_argument("first", nargs="?", metavar="FIRST", help="first page index")
    p.add_argument("nr", nargs="?", metavar="NR", help="number of pages")
    p.add_argument("--pfn", metavar="PFN", help="the page at this PFN instead")
    add_format_option(p, sub=True)
    p = sub.add_parser("walk", help="trace of the walker's callbacks",
                       description="walk_page_range() over a process with "
                       "tracing callbacks: one line per callback.")
    p.add_argument("task", metavar="PID", help="PID or task_struct address")
    p.add_argument("start", nargs="?", metavar="START", help="first address (hex)")
    p.add_argument("end", nargs="?", metavar="END", help="end address (hex)")
    p.add_argument("--ops", metavar="LIST",
                   help=f"callbacks to trace, from {','.join(TRACE_OPS)} "
                   "(default all but test)")
    add_format_option(p, sub=True)
    p = sub.add_parser("ptdump", help="kernel page tables (mm/ptdump.c), W+X check",
                       description="What /sys/kernel/debug/page_tables/kernel "
                       "prints; --checkwx: the boot-time W+X check, exit 1 if any.")
    p.add_argument("--pid", metavar="PID", help="a process's page tables "
                   "(current_kernel / current_user)")
    p.add_argument("--user", action="store_true", help="with --pid: the PTI user pgd")
    p.add_argument("--checkwx", action="store_true",
                   help="check for writable and executable mappings")
    add_format_option(p, sub=True)
    p = task_cmd("ptcheck", "damaged page tables: entries, table pages, rss counters")
    p.add_argument("--kernel", "-k", action="store_true",
                   help="check init_mm's (the kernel's) page tables")


PAGE_COMMANDS = {"vtop": cmd_vtop, "vm": cmd_vm, "rmap": cmd_rmap, "walk": cmd_walk,
                 "ptdump": cmd_ptdump, "ptcheck": cmd_ptcheck}
