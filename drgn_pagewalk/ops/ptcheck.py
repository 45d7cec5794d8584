"""ptcheck: damaged page tables in a dump, found with the kernel's own tests.

The kernel meets damaged tables one entry at a time and prints what it finds:
pXd_ERROR() from pXd_clear_bad(), print_bad_pte() from vm_normal_page(),
"Bad swap file entry" from _swap_info_get(), "Bad rss-counter state" from
check_mm().  ptcheck walks a whole address space with the walker
(walk_page_range_novma(), so entries outside any vma are seen too) and
applies each of those tests to every entry, plus what only a dump can
check: that every table page is an allocated page (not a free buddy page),
that PTE and PMD tables are page-table pages, and that the kernel half of a
process's pgd is init_mm's.

Each finding is a :class:`Damage`: the level, the range of user or kernel
addresses it covers, the entry (physical address and value) and what is
wrong, in the kernel's words where the kernel has words for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import compress
from typing import Any, Dict, List, Optional, Tuple

from ..target.drgn_target import get_target
from ..target.base import VM_IO, VM_MIXEDMAP, VM_PFNMAP, VmaTreeLost, WalkProblem
from ..walker.walk import (
    ACTION_AGAIN,
    ACTION_CONTINUE,
    Entry,
    MmWalk,
    MmWalkOps,
    pmd_clear_bad,
    pte_offset_kernel,
    pte_offset_map,
    walk_page_range_novma,
)
from .page import PageCache
from .pagemap import is_pfn_swap_entry, swp_offset_pfn
from .smaps import SmapsContext, _swap_info_get

#: vma_at()'s answer where the dump lacks the part of the vma tree that
#: would give it
LOST_VMA = object()

#: pagetype values of 6.1 (include/linux/page-flags.h): page_type holds
#: PAGE_TYPE_BASE with the type's bit cleared.
PAGE_TYPE_BASE = 0xF0000000
PG_BUDDY_61 = 0x00000080
PG_TABLE_61 = 0x00000200
PG_TABLE_510 = 0x00000400  # after PG_kmemcg (0x200), 5.10
#: arch/x86/include/asm/pgtable_64_types.h: the pgd slot of the PTI LDT
#: remap, per mm (LDT_PGD_ENTRY_L4 / _L5).
LDT_PGD_ENTRY = {4: -240, 5: -112}
#: The counters of an mm (status lines: the counter behind each).
RSS_COUNTERS = {"RssAnon": "MM_ANONPAGES", "RssFile": "MM_FILEPAGES",
                "RssShmem": "MM_SHMEMPAGES", "VmSwap": "MM_SWAPENTS",
                "VmPTE": "pgtables_bytes"}


@dataclass
class Damage:
    """One damaged entry, table page or counter."""

    level: str
    start: int
    end: int
    entry_phys: int
    value: int
    what: str

    def line(self, who: str) -> str:
        where = f" at phys {self.entry_phys:#x}" if self.entry_phys >= 0 else ""
        return (f"{who}: {self.level} {self.start:#x}-{self.end:#x}: entry "
                f"{self.value:#018x}{where}: {self.what}")


def _level_span(arch: Any, level: str) -> int:
    return 1 << arch.shifts[("pgd", "p4d", "pud", "pmd", "pte").index(level)]


def _from_problem(arch: Any, p: WalkProblem) -> Damage:
    size = _level_span(arch, p.level) if p.level in ("pgd", "p4d", "pud", "pmd", "pte") \
        else 0
    start = p.addr & ~(size - 1) if size else p.addr
    return Damage(p.level, start, start + size, p.entry_phys, p.val,
                  f"{p.kind}: {p.message}")


class _Checker:
    """The walk's private data: what the callbacks found."""

    def __init__(self, prog: Any, mm: Any, user: bool) -> None:
        self.target = get_target(prog)
        self.arch = self.target.arch
        self.mm = mm
        self.user = user
        self.pages = PageCache(prog)
        self.smaps = SmapsContext(prog) if user else None
        self.found: List[Damage] = []
        #: physical address of every table page reached -> (level name,
        #: an address it maps)
        self.tables: Dict[int, Tuple[str, int]] = {}
        self._vma: Optional[Any] = None
        self.zero_pfn = self.target.zero_pfn()

    def vma_at(self, addr: int) -> Optional[Any]:
        """The vma covering addr, or None (the last one is kept: entries
        come in address order)."""
        vma = self._vma
        if vma is not None and vma.vm_start <= addr < vma.vm_end:
            return vma
        try:
            vma = self.target.find_vma(self.mm, addr)
        except VmaTreeLost:
            # DUMP: the vma tree's part that holds addr is not in the dump
            # (named as missing): the checks that need the vma are not made
            return LOST_VMA
        if vma is None or vma.vm_start > addr:
            return None
        self._vma = vma
        return vma

    def add(self, entry: Any, addr: int, size: int, what: str) -> None:
        phys = -1 if entry.synthesized else entry.phys
        self.found.append(Damage(entry.level_name, addr, addr + size, phys,
                                 entry.val, what))

    def leaf(self, entry: Any, addr: int, size: int, pfn: int) -> None:
        """A present leaf of a process: outside any vma; vm_normal_page()'s
        print_bad_pte() cases (a PFN above highest_memmap_pfn, a special
        entry in a vma that has no special mappings); a PFN with no struct
        page where the vma maps only pages with one (not VM_PFNMAP,
        VM_MIXEDMAP or VM_IO).  Kernel leaves may map any PFN (ioremap)."""
        if not self.user:
            return
        vma = self.vma_at(addr)
        if vma is None:
            self.add(entry, addr, size, "a mapping outside any vma")
            return
        if vma is LOST_VMA:
            return
        arch = self.arch
        val = entry.val
        raw_pfn = vma.vm_flags & (VM_PFNMAP | VM_MIXEDMAP | VM_IO)
        last = pfn + (size >> arch.page_shift) - 1
        if arch.pte_special(val):
            if not vma.vm_flags & (VM_PFNMAP | VM_MIXEDMAP) \
                    and pfn != self.zero_pfn and not arch.pmd_devmap(val):
                self.add(entry, addr, size, "print_bad_pte(): a special entry in a "
                         "vma that is neither VM_PFNMAP nor VM_MIXEDMAP")
            elif not raw_pfn and last > self.pages.highest_memmap_pfn:
                self.add(entry, addr, size, f"PFN {pfn:#x} has no struct page "
                         f"(above highest_memmap_pfn)")
        elif last > self.pages.highest_memmap_pfn and not raw_pfn:
            self.add(entry, addr, size, f"print_bad_pte(): PFN {pfn:#x} is above "
                     f"highest_memmap_pfn {self.pages.highest_memmap_pfn:#x}")

    def swap(self, entry: Any, addr: int, size: int) -> None:
        """A swap entry: its device and offset, or the page a migration or
        hwpoison entry names."""
        arch = self.arch
        if self.vma_at(addr) is None:
            self.add(entry, addr, size, "a swap entry outside any vma")
        swp_type, offset = arch.swp_type_offset(entry.val)
        if swp_type < arch.max_swapfiles:
            assert self.smaps is not None
            why = _swap_info_get(self.smaps, swp_type, offset)
            if why:
                self.add(entry, addr, size, f"{why} {entry.val:#018x}")
        elif is_pfn_swap_entry(arch.swap, swp_type):
            pfn = swp_offset_pfn(arch, offset)
            if pfn > self.pages.highest_memmap_pfn:
                self.add(entry, addr, size, f"swap type {swp_type} names PFN {pfn:#x}, "
                         f"above highest_memmap_pfn")
        elif arch.swap.is_pte_marker_entry(swp_type):
            if offset & ~0x7:
                self.add(entry, addr, size, f"PTE marker with unknown bits {offset:#x}")
        else:
            self.add(entry, addr, size, f"swap type {swp_type} is not used by this kernel")


def _pud_entry(pud: Any, addr: int, next: int, walk: MmWalk) -> int:
    c: _Checker = walk.private
    arch = c.arch
    c.tables.setdefault(pud.table.phys, (pud.level_name, addr))
    val = pud.val
    if arch.pud_present(val) and arch.pud_leaf(val):
        c.leaf(pud, addr, next - addr, arch.pud_pfn(val))
    return 0


def _pmd_entry(pmd: Any, addr: int, next: int, walk: MmWalk) -> int:
    c: _Checker = walk.private
    arch = c.arch
    c.tables.setdefault(pmd.table.phys, (pmd.level_name, addr))
    val = pmd.val
    if arch.is_swap_pmd(val) and c.user:
        if arch.is_pmd_migration_entry(val):
            c.swap(pmd, addr, next - addr)
        else:
            pmd_clear_bad(walk, pmd, addr)  # reported by the walk
        walk.action = ACTION_CONTINUE
    elif arch.pmd_leaf(val):
        c.leaf(pmd, addr, next - addr, arch.pmd_pfn(val))
    elif arch.pmd_present(val):
        # walk_pmd_range() of a novma walk goes down to the PTEs of a
        # present table only
        _check_pte_table(c, pmd, addr, next, walk)
    return 0


def _check_pte_table(c: _Checker, pmd: Any, addr: int, next: int, walk: MmWalk) -> None:
    """walk_pte_range() with _pte_entry() for every PTE, without visiting
    the entries that cannot be damaged: zero PTEs (pte_none()), and present,
    not special ones of a vma that covers the whole table's range when no
    PFN is above highest_memmap_pfn (found in C).  The others go through
    _pte_entry() one by one."""
    # walk_pte_range() of a novma walk: kernel tables (init_mm, or above
    # TASK_SIZE) through pte_offset_kernel(), without pte_offset_map()'s
    # checks (the ESPfix area's pmds are read-only tables: pmd_bad())
    if walk.mm.is_init_mm or addr >= c.arch.task_size:
        pte = pte_offset_kernel(walk, pmd, addr)
    else:
        pte = pte_offset_map(walk, pmd, addr)
    if pte is None:
        walk.action = ACTION_AGAIN  # a bad pmd, reported and now cleared: a hole
        return
    arch = c.arch
    vals, first = pte.table.vals, pte.index
    shift = arch.page_shift
    last = first + ((next - addr) >> shift)
    normal, pfns, others = arch.normal_ptes(
        vals, list(compress(range(first, last), vals[first:last])))
    if normal:
        c.tables.setdefault(pte.table.phys, ("pte", addr))
        if c.user:
            vma = c.vma_at(addr)
            if vma is None or vma is LOST_VMA or vma.vm_end < next or max(pfns) > c.pages.highest_memmap_pfn:
                others = sorted(others + normal)
    for i in others:
        _pte_entry(Entry(pte.table, i, pte.level), addr + ((i - first) << shift),
                   addr + ((i - first + 1) << shift), walk)


def _pte_entry(pte: Any, addr: int, next: int, walk: MmWalk) -> int:
    c: _Checker = walk.private
    arch = c.arch
    val = pte.val
    if arch.pte_none(val):
        return 0
    c.tables.setdefault(pte.table.phys, ("pte", addr))
    if arch.pte_present(val):
        c.leaf(pte, addr, arch.page_size, arch.pte_pfn(val))
    elif c.user:  # kernel PTEs that are not present are not swap entries
        c.swap(pte, addr, arch.page_size)
    return 0


def _p4d_entry(p4d: Any, addr: int, next: int, walk: MmWalk) -> int:
    c: _Checker = walk.private
    c.tables.setdefault(p4d.table.phys, (p4d.level_name, addr))
    return 0


#: PTEs are checked by _pmd_entry() (_check_pte_table()), table by table.
CHECK_OPS = MmWalkOps(p4d_entry=_p4d_entry, pud_entry=_pud_entry,
                      pmd_entry=_pmd_entry)


def _page_type(pc: PageCache, raw: int) -> Tuple[bool, bool]:
    """(PageBuddy, PageTable) of a page's page_type (_mapcount's slot)."""
    t = raw & 0xFFFFFFFF
    if pc.k.page_type_enum:
        top = t >> 24
        return top == pc.prog.constant("PGTY_buddy").value_(), \
            top == pc.prog.constant("PGTY_table").value_()
    pg_table = PG_TABLE_510 if pc.k.pg_kmemcg_type else PG_TABLE_61
    return ((t & (PAGE_TYPE_BASE | PG_BUDDY_61)) == PAGE_TYPE_BASE,
            (t & (PAGE_TYPE_BASE | pg_table)) == PAGE_TYPE_BASE)


def check_table_pages(c: _Checker) -> None:
    """Every table page reached must be allocated (not on a free list, a
    reference held); user PTE and PMD tables must be page-table pages
    (pagetable_pte_ctor()/pagetable_pmd_ctor() set the type)."""
    for phys, (level, addr) in sorted(c.tables.items()):
        pfn = phys >> c.arch.page_shift
        if pfn > c.pages.highest_memmap_pfn:
            continue  # a synthesized table of a virtual split
        page = c.pages.page(pfn)
        buddy, table = _page_type(c.pages, page.mapcount)
        what = ""
        if buddy or (c.user and page.refcount <= 0):
            what = (f"the {level} table is a free page (PFN {pfn:#x}, refcount "
                    f"{page.refcount}{', PageBuddy' if buddy else ''})")
        elif c.user and level in ("pte", "pmd") and not table:
            what = f"the {level} table page (PFN {pfn:#x}) is not a page-table page"
        if what:
            # what the table maps: its entries' span times PTRS_PER_PTE
            span = _level_span(c.arch, level) * c.arch.ptrs_per[4]
            start = addr & ~(span - 1) & ((1 << 64) - 1)
            c.found.append(Damage(level, start, (start + span) & ((1 << 64) - 1),
                                  phys, 0, what))


def check_kernel_half(c: _Checker, pgd_phys: int, init_pgd_phys: int) -> None:
    """pgd_ctor() copies init_mm's kernel entries into every pgd and x86-64
    never changes them after boot (they are preallocated), except the PTI
    LDT slot of an mm that has an LDT."""
    arch = c.arch
    mine = c.target.read_table(pgd_phys, 512)
    ref = c.target.read_table(init_pgd_phys, 512)
    ldt = 512 + LDT_PGD_ENTRY[arch.levels]
    span = 1 << arch.shifts[0]
    for i in range(256, 512):
        if i != ldt and mine[i] != ref[i]:
            start = ((i << arch.shifts[0]) | (~0 << (arch.shifts[0] + 9))) & ((1 << 64) - 1)
            c.found.append(Damage("pgd", start, (start + span) & ((1 << 64) - 1),
                                  pgd_phys + i * 8, mine[i],
                                  f"kernel pgd entry differs from init_mm's "
                                  f"({ref[i]:#018x})"))


def check_rss(task: Any) -> List[Damage]:
    """check_mm()'s "Bad rss-counter state", before the mm is gone: each
    counter (with 6.1's per-thread caches) against what the tables map."""
    from .status import status_fields

    out = []
    mm = int(task.mm.value_())
    for name, f in status_fields(task).items():
        if f["agree"] is False and name in RSS_COUNTERS:
            pending = f["pending"] or 0
            out.append(Damage("mm", 0, 0, -1, 0,
                              f"mm_struct {mm:#x}: counter {RSS_COUNTERS[name]} "
                              f"({name}) says {f['counters'] + pending} kB, the page "
                              f"tables map {f['walk']} kB"))
    return out


def ptcheck_task(task: Any) -> List[Damage]:
    """Every check of one process's address space."""
    prog = task.prog_
    target = get_target(prog)
    mm = target.mm(task.mm)
    c = _Checker(prog, mm, True)
    problems: List[WalkProblem] = []
    c.tables[mm.pgd] = ("pgd", 0)
    walk_page_range_novma(mm, 0, target.arch.task_size, CHECK_OPS, private=c,
                          problems=problems)
    found = [_from_problem(c.arch, p) for p in problems] + c.found
    c.found = []
    check_table_pages(c)
    if target.arch.kernel_half_in_user_pgd:
        init_mm = target.mm(prog["init_mm"].address_of_())
        check_kernel_half(c, mm.pgd, init_mm.pgd)
    found += c.found
    # The counters can only be checked against intact tables.
    return found if found else check_rss(task)


def ptcheck_kernel(prog: Any) -> List[Damage]:
    """init_mm's tables: the walker's tests on every entry, and every table
    page allocated.  Kernel leaves may map any PFN (ioremap), so their PFNs
    are not checked."""
    target = get_target(prog)
    mm = target.mm(prog["init_mm"].address_of_())
    c = _Checker(prog, mm, False)
    c.tables[mm.pgd] = ("pgd", 0)
    problems: List[WalkProblem] = []
    start = target.arch.kernel_start
    walk_page_range_novma(mm, start, 1 << 64, CHECK_OPS, private=c, problems=problems)
    found = [_from_problem(c.arch, p) for p in problems] + c.found
    c.found = []
    check_table_pages(c)
    return found + c.found


def damage_record(d: Damage, pid: Optional[int]) -> Dict[str, Any]:
    return {"pid": pid, "level": d.level, "start": d.start, "end": d.end,
            "entry_phys": d.entry_phys if d.entry_phys >= 0 else None,
            "value": d.value, "what": d.what}
