"""``--drgn``: instead of running a subcommand, print the Python code that
does the same with the public API (drgn helpers, drgn_pagewalk's walker and
ops), as drgn's crash-compatible commands do.  The code runs in a drgn
session (``prog`` defined); with ``--format proc`` it prints what the
command prints, otherwise it leaves the data the JSON form holds in a
variable and prints it row by row."""

from __future__ import annotations

import argparse
from typing import Dict, List, Optional, Set

from ..errors import UsageError
from .args import parse_addr, parse_number


class _Code:
    """Lines of code and their imports (deduplicated, sorted first)."""

    def __init__(self) -> None:
        self.imports: Dict[str, Set[str]] = {}
        self.lines: List[str] = []

    def need(self, module: str, *names: str) -> None:
        self.imports.setdefault(module, set()).update(names)

    def add(self, text: str) -> None:
        self.lines.extend(text.rstrip("\n").split("\n"))

    def text(self) -> str:
        head = [f"from {m} import {', '.join(sorted(n))}"
                for m, n in sorted(self.imports.items())]
        return "\n".join(head + [""] + self.lines) + "\n"


def _indent(text: str) -> str:
    return "\n".join("    " + line if line else line for line in text.split("\n"))


def _tasks(code: _Code, args: argparse.Namespace, body: str) -> None:
    """``body`` run with ``task`` set to the PID asked, or to every process
    with an mm (--all, by PID)."""
    if getattr(args, "all", False):
        code.need("drgn.helpers.linux.pid", "for_each_task")
        code.add("tasks = sorted((t for t in for_each_task(prog)\n"
                 "                if t.mm and t.pid == t.tgid), key=lambda t: t.pid.value_())\n"
                 "for task in tasks:\n" + _indent(body))
        return
    code.add(_task_line(code, args.task) + body)


def _task_line(code: _Code, spec: Optional[str]) -> str:
    from .args import parse_task_spec

    if spec is None:
        raise UsageError("a PID (or task_struct address) or --all is needed")
    value = parse_task_spec(spec)
    if value >= 1 << 32:
        code.need("drgn", "Object")
        return f'task = Object(prog, "struct task_struct *", {value:#x})\n'
    code.need("drgn.helpers.linux.pid", "find_task")
    return f"task = find_task(prog, {value})\n"


def _target(code: _Code) -> str:
    code.need("drgn_pagewalk.target.drgn_target", "get_target")
    return "target = get_target(prog)  # the walker's view of the kernel\n"


def drgn_code(args: argparse.Namespace) -> str:
    """The Python code equivalent to a parsed command line."""
    code = _Code()
    proc = args.format == "proc"
    name = args.command
    if name == "ps":
        code.need("drgn.helpers.linux.mm", "task_rss")
        code.need("drgn.helpers.linux.pid", "for_each_task")
        code.add("for task in sorted((t for t in for_each_task(prog) if t.mm and "
                 "t.pid == t.tgid),\n                   key=lambda t: t.pid.value_()):\n"
                 "    rss_kb = task_rss(prog, task).total << (prog['PAGE_SHIFT'].value_() - 10)\n"
                 "    vmas = task.mm.map_count.value_()\n"
                 "    print(task.pid.value_(), task.comm.string_().decode(), rss_kb, vmas)")
    elif name == "vmas":
        code.need("drgn_pagewalk.ops.vmas", "vma_pages")
        code.add(_target(code))
        _tasks(code, args, "for s in vma_pages(target.vmas(target.mm(task.mm))):\n"
               "    kb = target.arch.page_shift - 10  # base pages in kB\n"
               "    print(hex(s.vma.vm_start), hex(s.vma.vm_end), 'present', s.present << kb,\n"
               "          'swap', s.swap << kb, 'thp', s.thp << kb, 'hugetlb', s.hugetlb << kb)")
    elif name == "smaps":
        addr = f", {parse_addr(args.addr):#x}" if args.addr else ""
        _text_or_data(code, args, proc, "smaps", f"show_smaps(task{addr})", "smaps_records",
                      "records = smaps_records(task)  # a dict per vma\n"
                      "for r in records:\n    print(r)")
    elif name == "smaps-rollup":
        _text_or_data(code, args, proc, "smaps", "show_smaps_rollup(task)",
                      "smaps_rollup_record",
                      "fields = smaps_rollup_record(task)  # {field: kB}\nprint(fields)")
    elif name == "pagemap":
        rng = "".join(f", {parse_addr(a):#x}" for a in (args.start, args.end) if a)
        if args.start and not args.end:
            rng += ", None"
        if proc:
            code.need("drgn_pagewalk.ops.pagemap", "pagemap_text_chunks")
            body = (f"for text in pagemap_text_chunks(task{rng}):  # a chunk's lines\n"
                    '    print(text, end="")')
        else:
            code.need("drgn_pagewalk.ops.pagemap", "decode_pagemap_entry", "pagemap_chunks")
            body = (f"for chunk in pagemap_chunks(task{rng}):\n"
                    "    for vaddr, entry, pages in chunk:  # pages: a run of equal entries\n"
                    "        print(hex(vaddr), pages, hex(entry), decode_pagemap_entry(entry))")
        _tasks(code, args, body)
    elif name == "numa-maps":
        _text_or_data(code, args, True, "numa_maps", "show_numa_maps(task)", "", "")
    elif name == "status":
        _text_or_data(code, args, proc, "status", "show_status_mem(task)", "status_fields",
                      f"fields = status_fields(task, walk={bool(args.walk)})\n"
                      "for name, f in fields.items():  # counters, pending, walk, agree\n"
                      "    print(name, f)")
    elif name == "vtop":
        _vtop(code, args)
    elif name == "vm":
        _vm(code, args)
    elif name == "rmap":
        _rmap(code, args)
    elif name == "walk":
        _walk(code, args)
    elif name == "ptdump":
        _ptdump(code, args, proc)
    elif name == "ptcheck":
        _ptcheck(code, args)
    else:  # pragma: no cover - every command has its code
        raise ValueError(name)
    return code.text()


def _text_or_data(code: _Code, args: argparse.Namespace, proc: bool, module: str,
                  show: str, data_function: str, data_code: str) -> None:
    """A /proc file of each task asked: its text (``show``, a call of a
    function of ops/``module``), or its data (``data_code``, which calls
    ``data_function``)."""
    if proc:
        code.need(f"drgn_pagewalk.ops.{module}", show.split("(")[0])
        _tasks(code, args, f'print({show}, end="")')
    else:
        code.need(f"drgn_pagewalk.ops.{module}", data_function)
        _tasks(code, args, data_code)


def _vtop(code: _Code, args: argparse.Namespace) -> None:
    from .args import parse_addr

    addr = parse_addr(args.addr)
    code.need("drgn_pagewalk.ops.vtop", "vtop", "vtop_record")
    code.add(_target(code))
    if args.task is not None and not args.kernel:
        code.add(_task_line(code, args.task) + "mm = target.mm(task.mm)")
    else:
        code.add('mm = target.mm(prog["init_mm"].address_of_())')
    pgd = ", mm.pgd + 4096  # the PTI user copy of the pgd" if args.user_pgd else ""
    code.add(f"v = vtop(target, mm, {addr:#x}{pgd})\n"
             "record = vtop_record(v)  # levels, physical, page, swap, stop ...\n"
             "for level in record['levels']:\n    print(level)\n"
             "print(record['stop'], record['physical'])")


def _vm(code: _Code, args: argparse.Namespace) -> None:
    code.add(_target(code))
    code.need("drgn_pagewalk.ops.maps", "vma_name")
    head = ("mm = target.mm(task.mm)\n"
            "vmas = [v for v in target.vmas(mm) if v.vm_start < mm.obj.task_size]\n")
    if not args.pages:
        code.need("drgn_pagewalk.ops.maps", "vma_perms")
        code.need("drgn_pagewalk.ops.vm", "vm_flag_names", "vma_kind")
        _tasks(code, args, head + "for v in vmas:\n"
               "    print(hex(v.address), hex(v.vm_start), hex(v.vm_end), "
               "vma_perms(v.vm_flags),\n"
               "          vm_flag_names(v.vm_flags), "
               'vma_kind(v, prog["shmem_aops"].address_),\n'
               "          vma_name(task, v.obj))")
        return
    code.need("drgn_pagewalk.ops.page", "PageCache")
    code.need("drgn_pagewalk.ops.vm", "VmPages", "vma_page_rows")
    rows = "rows"
    if args.fold:
        code.need("drgn_pagewalk.ops.vm", "fold_rows")
        rows = "fold_rows(rows)"
    _tasks(code, args, head + "vp = VmPages(prog, target.arch, "
           "PageCache(prog))\n"
           "problems = []  # damaged entries met\n"
           "rows = (row for v in vmas  # (vaddr, state, phys, size, swap_type, ...)\n"
           "        for row in vma_page_rows(vp, v, vma_name(task, v.obj), problems))\n"
           f"for row in {rows}:\n    print(row)")


def _rmap(code: _Code, args: argparse.Namespace) -> None:
    code.add(_target(code))
    if args.pfn is not None:
        code.need("drgn_pagewalk.ops.rmap", "rmap_pfn")
        code.add(f"rows, page = rmap_pfn(target, {parse_number(args.pfn, 'PFN'):#x})  "
                 "# (pid, comm, vaddr, pfn, level, write, dirty, young, maps)\n"
                 "for row in rows:\n    print(row)\nprint(page)")
        return
    if args.file is None:
        raise UsageError("give a FILE, an inode address (0x...), or --pfn PFN")
    code.need("drgn_pagewalk.ops.rmap", "rmap_mapping")
    if args.file.startswith(("0x", "0X")):
        code.need("drgn", "Object")
        code.add(f'mapping = Object(prog, "struct inode *", {parse_addr(args.file):#x})'
                 '.i_mapping')
    else:
        code.need("drgn.helpers.linux.fs", "path_lookup")
        code.add(f"mapping = path_lookup(prog, {args.file!r}).dentry.d_inode.i_mapping")
    first = parse_number(args.first, "page index") if args.first else 0
    nr = (f"{parse_number(args.nr, 'number of pages')}" if args.nr else
          "max(1, -(-mapping.host.i_size.value_() // target.arch.page_size)"
          f" - {first})")
    code.add(f"rows, problems = rmap_mapping(target, mapping, {first}, {nr})\n"
             "for row in rows:  # (pid, comm, vaddr, pfn, level, write, dirty, young, maps)\n"
             "    print(row)")


def _walk(code: _Code, args: argparse.Namespace) -> None:
    from .args import parse_addr

    code.need("drgn_pagewalk", "MmWalkOps", "walk_page_range")
    start = parse_addr(args.start) if args.start else 0
    end = f"{parse_addr(args.end):#x}" if args.end else "TASK_SIZE"
    if not args.end:
        code.add(_target(code) + "TASK_SIZE = target.arch.task_size")
    code.add(_task_line(code, args.task) + "\n"
             "def entry(entry, addr, next, walk):\n"
             "    print(entry.level_name, hex(addr), hex(next), hex(entry.val))\n"
             "    return 0\n\n"
             "def hole(addr, next, depth, walk):\n"
             "    print('hole', hex(addr), hex(next), depth)\n"
             "    return 0\n\n"
             "ops = MmWalkOps(pgd_entry=entry, p4d_entry=entry, pud_entry=entry,\n"
             "                pmd_entry=entry, pte_entry=entry, pte_hole=hole)\n"
             f"walk_page_range(task.mm, {start:#x}, {end}, ops)")


def _ptdump(code: _Code, args: argparse.Namespace, proc: bool) -> None:
    if args.checkwx:
        code.need("drgn_pagewalk.ops.ptdump", "checkwx")
        code.add("result = checkwx(prog)  # passed, lines, wx_ranges\n"
                 'print("\\n".join(result["lines"]))')
        return
    task = "None"
    if args.pid is not None:
        code.add(_task_line(code, args.pid).rstrip("\n"))
        task = "task"
    if proc:
        code.need("drgn_pagewalk.ops.ptdump", "ptdump_text")
        code.add(f'print(ptdump_text(prog, {task}, {bool(args.user)}), end="")')
    else:
        code.need("drgn_pagewalk.ops.ptdump", "ptdump_ranges")
        code.add(f"for r in ptdump_ranges(prog, {task}, {bool(args.user)}):\n    print(r)")


def _ptcheck(code: _Code, args: argparse.Namespace) -> None:
    if args.kernel:
        code.need("drgn_pagewalk.ops.ptcheck", "ptcheck_kernel")
        code.add('for d in ptcheck_kernel(prog):\n    print(d.line("kernel"))')
        return
    code.need("drgn_pagewalk.ops.ptcheck", "ptcheck_task")
    _tasks(code, args, "for d in ptcheck_task(task):\n"
           '    print(d.line(f"PID {task.pid.value_()}"))')
