"""vm: the vmas of a process, and with ``-p`` every page of every vma, as
crash's ``vm`` / ``vm -p`` show them, from walks of the port of
mm/pagewalk.c.

Unlike /proc/PID/pagemap (whose walk skips VM_PFNMAP vmas through
walk_page_test()), ``vm -p`` walks every vma, /dev/mem-style PFN maps
included, through a ``test_walk`` that says "walk it": a kernel engineer
wants to see those PFNs.  A transparent huge page and a hugetlb page are one
row at their page size; everything else is one row per 4 KiB page, except
that a run of unmapped pages with no file offset to show is one row whose
size is the run's (a sparse address space costs its tables, not its span).
"""

from __future__ import annotations

import json
from itertools import compress, repeat
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ..output.report import stream_json_line, stream_table_line
from ..target.base import (
    VM_ACCOUNT,
    VM_DONTCOPY,
    VM_DONTDUMP,
    VM_DONTEXPAND,
    VM_EXEC,
    VM_GROWSDOWN,
    VM_HUGEPAGE,
    VM_HUGETLB,
    VM_IO,
    VM_LOCKED,
    VM_LOCKONFAULT,
    VM_MAYEXEC,
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_MERGEABLE,
    VM_MIXEDMAP,
    VM_NOHUGEPAGE,
    VM_NORESERVE,
    VM_PFNMAP,
    VM_RAND_READ,
    VM_READ,
    VM_SEQ_READ,
    VM_SHARED,
    VM_SOFTDIRTY,
    VM_WIPEONFORK,
    VM_WRITE,
    Vma,
)
from ..walker.walk import ACTION_CONTINUE, MmWalk, MmWalkOps, pmd_clear_bad, pte_offset_map, walk_page_range_vma
from .page import PageAnon, PageCache, int_words, normal_frames
from .pagemap import is_migration_entry, swp_offset_pfn

VM_FLAG_NAMES: List[Tuple[int, str]] = [
    (VM_READ, "READ"), (VM_WRITE, "WRITE"), (VM_EXEC, "EXEC"), (VM_SHARED, "SHARED"),
    (VM_MAYREAD, "MAYREAD"), (VM_MAYWRITE, "MAYWRITE"), (VM_MAYEXEC, "MAYEXEC"),
    (VM_MAYSHARE, "MAYSHARE"), (VM_GROWSDOWN, "GROWSDOWN"), (VM_PFNMAP, "PFNMAP"),
    (VM_LOCKED, "LOCKED"), (VM_IO, "IO"), (VM_SEQ_READ, "SEQ_READ"),
    (VM_RAND_READ, "RAND_READ"), (VM_DONTCOPY, "DONTCOPY"), (VM_DONTEXPAND, "DONTEXPAND"),
    (VM_LOCKONFAULT, "LOCKONFAULT"), (VM_ACCOUNT, "ACCOUNT"), (VM_NORESERVE, "NORESERVE"),
    (VM_HUGETLB, "HUGETLB"), (VM_WIPEONFORK, "WIPEONFORK"), (VM_DONTDUMP, "DONTDUMP"),
    (VM_SOFTDIRTY, "SOFTDIRTY"), (VM_MIXEDMAP, "MIXEDMAP"), (VM_HUGEPAGE, "HUGEPAGE"),
    (VM_NOHUGEPAGE, "NOHUGEPAGE"), (VM_MERGEABLE, "MERGEABLE"),
]

#: Pages are walked in chunks of this many bytes, so a huge vma never holds
#: more than a chunk's rows in memory.
CHUNK = 64 << 20

PAGE_COLUMNS = ["vaddr", "state", "phys", "size", "swap_type", "swap_offset",
                "file", "file_offset"]
PAGE_WIDTHS = [18, 9, 14, 10, 9, 11, 24, 11]


#: the cells after SIZE of a page with no swap entry and no file, as
#: write_table_stream() pads them
_NO_SWAP_NO_FILE = "  " + "  ".join(
    ["-".ljust(w) for w in PAGE_WIDTHS[4:-1]] + ["-"])
_NO_SWAP = "  " + "  ".join("-".ljust(w) for w in PAGE_WIDTHS[4:6]) + "  "
_JSON_FILES: Dict[str, str] = {}


def vm_page_table_line(row: Tuple[Any, ...]) -> str:
    """One vm -p row as report.stream_table_line() makes it with
    PAGE_COLUMNS/PAGE_WIDTHS, in one step for the rows of a million pages
    (a present page, anonymous or of a file); others the generic way."""
    addr, state, phys, size, stype, _, file, foff = row
    if phys is not None and stype is None:
        if file is None:
            return f"{addr:<#18x}  {state:<9}  {phys:<#14x}  {size:<10}{_NO_SWAP_NO_FILE}"
        if foff is not None:
            return (f"{addr:<#18x}  {state:<9}  {phys:<#14x}  {size:<10}{_NO_SWAP}"
                    f"{file:<24}  {foff:#x}")
    return stream_table_line(PAGE_COLUMNS, PAGE_WIDTHS, row)


def vm_page_json_line(row: Tuple[Any, ...]) -> str:
    """One vm -p row as report.stream_json_line() makes it, in one step for
    present pages (states are plain words; file names are escaped once)."""
    addr, state, phys, size, stype, _, file, foff = row
    if phys is not None and stype is None:
        head = (f'{{"vaddr": {addr}, "state": "{state}", "phys": {phys}, '
                f'"size": {size}, "swap_type": null, "swap_offset": null, ')
        if file is None:
            return head + '"file": null, "file_offset": null}'
        if foff is not None:
            name = _JSON_FILES.get(file)
            if name is None:
                name = _JSON_FILES[file] = json.dumps(file)
            return head + f'"file": {name}, "file_offset": {foff}}}'
    return stream_json_line(PAGE_COLUMNS, row)

def vm_flag_names(vm_flags: int) -> str:
    """vm_flags by name (include/linux/mm.h), as crash's vm prints them."""
    return "|".join(name for bit, name in VM_FLAG_NAMES if vm_flags & bit)


def vma_kind(vma: Vma, shmem_aops: int) -> str:
    """hugetlb, pfnmap, shmem, file, anon or special (vm_ops, no file:
    [vdso], [vvar])."""
    if vma.vm_flags & VM_HUGETLB:
        return "hugetlb"
    if vma.vm_flags & (VM_PFNMAP | VM_MIXEDMAP):
        return "pfnmap"
    file = vma.obj.vm_file
    if file.value_():
        if file.f_mapping.a_ops.value_() == shmem_aops:
            return "shmem"
        return "file"
    return "anon" if vma.anonymous else "special"


class VmPages:
    """The walk's private data: rows of the current chunk, and what every
    row of a vma shares (its file and offset base)."""

    def __init__(self, prog: Any, arch: Any, pages: PageCache) -> None:
        self.arch = arch
        #: PAGE_SHIFT and PAGE_SIZE of the dump's kernel
        self.page_shift = arch.page_shift
        self.page_size = arch.page_size
        self.pages = pages
        self.rows: List[Tuple[Any, ...]] = []
        self.max_swapfiles = arch.max_swapfiles
        self.swap_types = arch.swap
        self.file: Optional[str] = None
        self.file_base = 0  # vm_pgoff * PAGE_SIZE - vm_start
        self.private_file = False

    def _file(self, addr: int, pfn: Optional[int]) -> Tuple[Optional[str], Optional[int]]:
        """The file and offset a page of the vma stands for; a private
        file mapping's anonymous (copied-on-write) page has none."""
        if self.file is None:
            return None, None
        if pfn is not None and self.private_file:
            try:
                if PageAnon(self.pages, self.pages.page(pfn)):
                    return None, None
            except Exception:  # struct page not in the dump
                pass
        return self.file, self.file_base + addr

    def present(self, addr: int, pfn: int, size: int, state: str = "present") -> None:
        file, off = self._file(addr, pfn)
        self.rows.append((addr, state, pfn << self.page_shift, size, None, None, file, off))

    def swap(self, addr: int, val: int, size: int) -> None:
        swp_type, offset = self.arch.swp_type_offset(val)
        state = "swap"
        if is_migration_entry(self.swap_types, swp_type):
            state, offset = "migration", swp_offset_pfn(self.arch, offset)
        elif swp_type >= self.max_swapfiles:
            state = "marker"
        file, off = self._file(addr, None)
        self.rows.append((addr, state, None, size, swp_type, offset, file, off))

    def none(self, addr: int, end: int, size: int = 0, state: str = "none") -> None:
        """Rows of not-present pages of ``size`` (default PAGE_SIZE; a run
        of them one row where no file offset tells them apart)."""
        rows = self.rows
        size = size or self.page_size
        if self.file is None and size == self.page_size and addr < end:
            last = rows[-1] if rows else None
            if last is not None and last[1] == state and last[2] is None \
                    and last[4] is None and last[6] is None \
                    and last[0] + last[3] == addr:
                rows[-1] = last[:3] + (last[3] + end - addr,) + last[4:]
            else:
                rows.append((addr, state, None, end - addr, None, None, None, None))
            return
        while addr < end:
            file, off = self._file(addr, None)
            rows.append((addr, state, None, size, None, None, file, off))
            addr += size


def _pte(vp: VmPages, addr: int, val: int) -> None:
    arch = vp.arch
    size = vp.page_size
    if arch.pte_none(val):
        vp.none(addr, addr + size)
    elif arch.pte_present(val):
        vp.present(addr, arch.pte_pfn(val), size,
                   "protnone" if arch.pte_protnone(val) else "present")
    else:
        vp.swap(addr, val, size)


def vm_pmd_entry(pmd: Any, addr: int, next: int, walk: MmWalk) -> int:
    """A huge or migration pmd is one row; a table's PTEs are read here in
    one loop (no pte_entry: the walker need not split anything)."""
    vp: VmPages = walk.private
    arch = walk.arch
    val = pmd.val
    walk.action = ACTION_CONTINUE
    # swap first, as pmd_trans_huge_lock() tests: a swap pmd's offset bits
    # may look like _PAGE_DEVMAP
    if arch.is_swap_pmd(val):
        if not arch.is_pmd_migration_entry(val):
            # garbage, not a THP migration entry: cleared as pmd_bad()
            pmd_clear_bad(walk, pmd, addr)
            vp.none(addr, next, state="bad")
            return 0
        vp.swap(addr & ~((1 << arch.shifts[3]) - 1), val, 1 << arch.shifts[3])
        return 0
    if arch.pmd_trans_huge(val) or arch.pmd_devmap(val):
        size = 1 << arch.shifts[3]
        base = addr & ~(size - 1)
        vp.present(base, arch.pmd_pfn(val), size,
                   "protnone" if arch.pte_protnone(val) else "present")
        return 0
    pte = pte_offset_map(walk, pmd, addr)
    if pte is None:  # a bad pmd, reported by the walker
        vp.none(addr, next, state="bad")
        return 0
    vals = pte.table.vals
    first = pte.index
    shift, size = vp.page_shift, vp.page_size
    last = first + ((next - addr) >> shift)
    if not vp.private_file:
        found = normal_frames(arch, vals, first, last)
        if found is not None:
            # every PTE present, not special: the rows made in C (a private
            # file mapping's pages are looked up one by one, in _file())
            file, offsets = None, repeat(None)
            if vp.file is not None:
                file, offsets = vp.file, range(vp.file_base + addr, vp.file_base + next, size)
            vp.rows.extend(zip(range(addr, next, size), repeat("present"),
                               int_words(found[1], last - first), repeat(size),
                               repeat(None), repeat(None), repeat(file), offsets))
            return 0
    at = first
    # the non-zero PTEs (found in C); the zero ones between them as runs
    for i in compress(range(first, last), vals[first:last]):
        if i > at:
            vp.none(addr + ((at - first) << shift), addr + ((i - first) << shift))
        _pte(vp, addr + ((i - first) << shift), vals[i])
        at = i + 1
    if last > at:
        vp.none(addr + ((at - first) << shift), next)
    return 0


def vm_pte_hole(addr: int, next: int, depth: int, walk: MmWalk) -> int:
    vp: VmPages = walk.private
    if walk.vma is not None and walk.vma.vm_flags & VM_HUGETLB:
        h = walk.target.hstate_vma(walk.vma)
        vp.none(addr, next, h.huge_page_size())
    else:
        vp.none(addr, next)
    return 0


def vm_hugetlb_entry(pte: Any, hmask: int, addr: int, next: int,
                     walk: MmWalk) -> int:
    vp: VmPages = walk.private
    arch = walk.arch
    size = ((~hmask) & 0xFFFFFFFFFFFFFFFF) + 1
    val = pte.val
    base = addr & hmask
    if arch.pte_none(val):
        vp.none(addr, next, size)
    elif arch.pte_present(val):
        vp.present(base, arch.leaf_pfn(pte.level, val), size)
    else:
        vp.swap(base, val, size)
    return 0


def vm_test_walk(start: int, end: int, walk: MmWalk) -> int:
    """Walk every vma, VM_PFNMAP ones included."""
    return 0


VM_PAGE_OPS = MmWalkOps(pmd_entry=vm_pmd_entry, pte_hole=vm_pte_hole,
                        hugetlb_entry=vm_hugetlb_entry, test_walk=vm_test_walk)


def vma_page_rows(vp: VmPages, vma: Vma, name: str,
                  problems: Optional[list] = None) -> Iterator[Tuple[Any, ...]]:
    """Every page of one vma, chunk by chunk."""
    vp.file = name if vma.obj.vm_file.value_() else None
    vp.file_base = (vma.vm_pgoff << vp.page_shift) - vma.vm_start
    vp.private_file = vp.file is not None and not vma.vm_flags & VM_SHARED
    chunk = CHUNK
    if vma.vm_flags & VM_HUGETLB:
        # whole huge pages per chunk: hugetlb_entry sees each page once
        chunk = max(chunk, vma.mm.target.hstate_vma(vma).huge_page_size())
    start = vma.vm_start
    while start < vma.vm_end:
        end = min(vma.vm_end, (start + chunk) & ~(chunk - 1))
        vp.rows = []
        walk_page_range_vma(vma, start, end, VM_PAGE_OPS, vp, problems=problems)
        yield from vp.rows
        start = end


def fold_rows(rows: Iterator[Tuple[Any, ...]]) -> Iterator[Tuple[Any, ...]]:
    """--fold: runs of pages with the same state, size and file whose
    physical addresses, swap offsets and file offsets continue each other,
    as one row (vaddr, end, pages, state, phys, size, swap_type,
    swap_offset, file, file_offset)."""
    cur: Optional[List[Any]] = None
    for r in rows:
        addr, state, phys, size, stype, soff, file, foff = r
        if cur is not None:
            n = cur[2]
            span = addr - cur[0]
            if (addr == cur[1] and state == cur[3] and size == cur[5]
                    and stype == cur[6] and file == cur[8]
                    and (phys is None) == (cur[4] is None)
                    and (phys is None or phys == cur[4] + span)
                    and (soff is None or soff == cur[7] + n)
                    and (foff is None or foff == cur[9] + span)):
                cur[1] = addr + size
                cur[2] = n + 1
                continue
            yield tuple(cur)
        cur = [addr, addr + size, 1, state, phys, size, stype, soff, file, foff]
    if cur is not None:
        yield tuple(cur)


FOLD_COLUMNS = ["vaddr", "end", "pages", "state", "phys", "size", "swap_type",
                "swap_offset", "file", "file_offset"]
FOLD_WIDTHS = [18, 18, 7, 9, 14, 10, 9, 11, 24, 11]
