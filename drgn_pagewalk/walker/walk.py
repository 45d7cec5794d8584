"""A faithful port of the kernel's mm/pagewalk.c (the seed revision in
shared/seed/pagewalk.c, the walker of Linux 6.6-6.11).

Read it side by side with the C: every function of pagewalk.c is here with the
same name, the same control flow (``goto again`` is a ``while True`` loop
around the loop body) and the same order of callbacks.  The differences come
from walking a frozen, read-only kernel image, and each is marked with a
``DUMP:`` comment where it happens:

* Locks (mmap_lock, page-table spinlocks, the hugetlb vma lock) are not
  taken: nothing runs in a dump.  ``walk_lock`` is kept in the ops.
* ``pXd_clear_bad()`` reports the bad entry instead of printing pXd_ERROR and
  clearing it; the walk then treats the entry as none, as the kernel would
  after clearing.  Entries that point outside readable memory or back into a
  page-table page used at another level are reported and treated the same way.
* ``split_huge_pmd()``/``split_huge_pud()`` are virtual: the walk presents
  the PTEs that __split_huge_pmd_locked() would have written, marked as
  synthesized, and changes nothing in the dump.
* ``ACTION_AGAIN`` retries are bounded (:data:`MAX_AGAIN`); an entry that
  never converges is reported and skipped, so the walk ends on any input.

Nothing in this module imports drgn: the kernel is reached through
:class:`~drgn_pagewalk.target.base.Target`, so gdb_scripts/ reuses it.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from itertools import compress
from typing import Any, Callable, Dict, List, Optional

from ..arch.base import LEVEL_NAMES, MASK64, P4D, PGD, PMD, PTE, PUD, Arch
from ..target.base import (
    VM_HUGETLB,
    VM_PFNMAP,
    Mm,
    TableReadError,
    Target,
    Vma,
    VmaTreeLost,
    WalkProblem,
)

log = logging.getLogger("drgn_pagewalk")

EINVAL = 22
#: How many times one entry may be retried for ACTION_AGAIN before the walk
#: gives up on it.  The kernel's own retries converge after one: the entry
#: was split, cleared or repopulated by then.  In a dump nothing else
#: changes it, so a retry that still asks again can only repeat itself.
MAX_AGAIN = 2


class Action(enum.IntEnum):
    """enum page_walk_action."""

    SUBTREE = 0
    CONTINUE = 1
    AGAIN = 2


ACTION_SUBTREE = Action.SUBTREE
ACTION_CONTINUE = Action.CONTINUE
ACTION_AGAIN = Action.AGAIN


class PageWalkLock(enum.IntEnum):
    """enum page_walk_lock."""

    PGWALK_RDLOCK = 0
    PGWALK_WRLOCK = 1
    PGWALK_WRLOCK_VERIFY = 2


PGWALK_RDLOCK = PageWalkLock.PGWALK_RDLOCK
PGWALK_WRLOCK = PageWalkLock.PGWALK_WRLOCK
PGWALK_WRLOCK_VERIFY = PageWalkLock.PGWALK_WRLOCK_VERIFY

EntryCallback = Callable[["Entry", int, int, "MmWalk"], int]


@dataclass
class MmWalkOps:
    """struct mm_walk_ops: the callbacks, called as in the kernel.

    ``pXd_entry(entry, addr, next, walk)``, ``pte_hole(addr, next, depth,
    walk)``, ``hugetlb_entry(entry, hmask, addr, next, walk)``,
    ``test_walk(addr, next, walk)``, ``pre_vma(start, end, walk)``,
    ``post_vma(walk)``.  A callback returning a non-zero int stops the walk and
    the walk returns it; ``None`` counts as 0.
    """

    pgd_entry: Optional[EntryCallback] = None
    p4d_entry: Optional[EntryCallback] = None
    pud_entry: Optional[EntryCallback] = None
    pmd_entry: Optional[EntryCallback] = None
    pte_entry: Optional[EntryCallback] = None
    pte_hole: Optional[Callable[[int, int, int, "MmWalk"], int]] = None
    hugetlb_entry: Optional[Callable[["Entry", int, int, int, "MmWalk"], int]] = None
    test_walk: Optional[Callable[[int, int, "MmWalk"], int]] = None
    pre_vma: Optional[Callable[[int, int, "MmWalk"], int]] = None
    post_vma: Optional[Callable[["MmWalk"], None]] = None
    walk_lock: PageWalkLock = PGWALK_RDLOCK


class TablePage:
    """One page-table page, read in one go and decoded to u64 entries.

    ``vals`` is this walk's private copy: a virtual clear (see module doc)
    writes 0 into it and changes nothing in the dump.
    """

    __slots__ = ("phys", "virt", "level", "vals", "synthesized")

    def __init__(self, phys: int, virt: int, level: int, vals: Any,
                 synthesized: bool = False) -> None:
        self.phys = phys
        self.virt = virt
        self.level = level
        self.vals = vals
        self.synthesized = synthesized


class Entry:
    """What the kernel passes as ``pte_t *``/``pmd_t *``...: one table slot.

    ``val`` is the raw entry (``pte_val(*pte)``), ``level`` its level (0 = pgd
    .. 4 = pte; a folded level shares its parent's slot), ``addr`` and
    ``phys`` the slot's kernel virtual and physical addresses.  Synthesized
    entries (a virtual THP split) have no address in the dump.
    """

    __slots__ = ("table", "index", "level", "val")

    def __init__(self, table: TablePage, index: int, level: int) -> None:
        self.table = table
        self.index = index
        self.level = level
        self.val = table.vals[index]

    def get(self) -> int:
        """``*pte`` / ``pmdp_get()``: read the slot again (it may be cleared)."""
        self.val = self.table.vals[self.index]
        return self.val

    def next(self) -> "Entry":
        """``pte++``: the next slot of the same table."""
        return Entry(self.table, self.index + 1, self.level)

    @property
    def phys(self) -> int:
        return self.table.phys + self.index * 8

    @property
    def addr(self) -> int:
        return self.table.virt + self.index * 8

    @property
    def synthesized(self) -> bool:
        return self.table.synthesized

    @property
    def level_name(self) -> str:
        return LEVEL_NAMES[self.level]

    def __repr__(self) -> str:
        where = "synthesized" if self.synthesized else f"phys={self.phys:#x}"
        return f"Entry({self.level_name}, {where}, val={self.val:#018x})"


class MmWalk:
    """struct mm_walk, plus the per-walk state a dump needs (table cache,
    virtual clears and splits, problems seen)."""

    __slots__ = ("ops", "mm", "pgd", "vma", "action", "no_vma", "private",
                 "target", "arch", "problems", "_tables", "_levels", "_split",
                 "_reported", "_pte_tables")

    def __init__(self, ops: MmWalkOps, mm: Optional[Mm], private: Any = None,
                 pgd: Optional[int] = None, vma: Optional[Vma] = None,
                 no_vma: bool = False, target: Optional[Target] = None,
                 problems: Optional[List[WalkProblem]] = None) -> None:
        self.ops = ops
        self.mm = mm
        #: walk->pgd: physical address of a pgd to walk instead of mm->pgd.
        self.pgd = pgd
        self.vma = vma
        self.action = ACTION_SUBTREE
        self.no_vma = no_vma
        self.private = private
        if target is None:
            assert mm is not None
            target = mm.target
        self.target = target
        self.arch: Arch = target.arch
        self.problems: List[WalkProblem] = [] if problems is None else problems
        self._tables: Dict[int, TablePage] = {}
        #: PTE tables read from the dump: not kept (a walk of a big process
        #: reads tens of thousands, and fresh memory for each costs more
        #: than reading one again), only remembered for the cycle check
        self._pte_tables: set = set()
        self._levels: Dict[int, int] = {}
        self._split: Dict[int, TablePage] = {}
        self._reported: set = set()

    # -- reading tables -------------------------------------------------
    def table(self, phys: int, level: int) -> TablePage:
        """Read (or take from this walk's cache) the table page at ``phys``.

        Raises TableReadError when the page cannot be read, or when it was
        already used as a table of another level in this walk (a loop).
        """
        table = self._tables.get(phys)
        if table is not None:
            if table.level != level:
                raise TableReadError(
                    phys, f"already used as a {LEVEL_NAMES[table.level]} "
                    f"table: page tables form a cycle")
            return table
        if level != PTE and phys in self._pte_tables:
            raise TableReadError(phys, "already used as a pte table: page tables form a cycle")
        nr = self.arch.table_entries(level)
        vals = self.target.read_table(phys, nr)
        if level == PTE:
            # what ptep_get() gives the callbacks (arm64's CONTPTE folds
            # the young and dirty bits of a contiguous block)
            vals = self.arch.ptep_get_table(vals)
        table = TablePage(phys, self.target.phys_to_virt(phys), level, vals)
        if level == PTE:
            self._pte_tables.add(phys)
        else:
            self._tables[phys] = table
        return table

    def report(self, kind: str, entry: Entry, addr: int, message: str) -> None:
        """Record what the kernel would have printed (pXd_ERROR and the like)."""
        self.report_value(kind, entry.level_name, addr,
                          -1 if entry.synthesized else entry.phys, entry.val, message)

    def report_value(self, kind: str, level: str, addr: int, phys: int, val: int,
                     message: str) -> None:
        """Record a problem with an entry known by its value (and the physical
        address of its slot, -1 if unknown).  The same entry is recorded once
        per walk and logged once per command (Target.reported), however
        many walks of one command meet it."""
        key = (kind, level, val, phys if phys >= 0 else addr)
        seen = self.target.reported
        if key in self._reported:
            return
        self._reported.add(key)
        problem = WalkProblem(kind, level, addr, phys, val, message)
        self.problems.append(problem)
        if key not in seen:
            seen.add(key)
            self.target.note_problem(problem)

    def clear(self, entry: Entry) -> None:
        """DUMP: pXd_clear(), in this walk's copy of the table only."""
        entry.table.vals[entry.index] = 0
        entry.val = 0


def _cb(ret: Optional[int]) -> int:
    """A callback's return value as the C int it stands for."""
    return 0 if ret is None else int(ret)


def _lost_table_hole(addr: int, end: int, depth: int, walk: MmWalk) -> int:
    """DUMP: the table under an entry could not be read (or was a loop).
    The entry was reported and virtually cleared; the kernel would have
    found it none (after pXd_clear_bad()) and reported [addr, end) through
    ->pte_hole() at the entry's depth, so do that: every address of a walk
    is seen exactly once, damaged or not."""
    if walk.ops.pte_hole:
        return _cb(walk.ops.pte_hole(addr, end, depth, walk))
    return 0


# -- offsets: pgd_offset(), p4d_offset(), ... -----------------------------

def _offset(walk: MmWalk, parent: Entry, level: int, addr: int) -> Optional[Entry]:
    """pXd_offset(parent, addr): the slot for ``addr`` one level down.

    A folded level returns the parent's own slot (asm-generic and x86's
    runtime p4d folding).  DUMP: if the child table cannot be read, the
    parent entry is reported, virtually cleared and None returned.
    """
    arch = walk.arch
    if arch.folded(level):
        return Entry(parent.table, parent.index, level)
    if arch.folded_in_place(level):
        # arm64's pgd_to_folded_p4d(): PTR_ALIGN_DOWN(pgdp, PAGE_SIZE) +
        # p4d_index(addr), the parent's own table page
        return Entry(parent.table, arch.index(level, addr), level)
    phys = arch.table_paddr(parent.level, parent.val)
    try:
        table = walk.table(phys, level)
    except TableReadError as e:
        walk.report("cycle" if "cycle" in e.reason else "unreadable",
                    parent, addr, str(e))
        walk.clear(parent)
        return None
    return Entry(table, arch.index(level, addr), level)


def pgd_offset(walk: MmWalk, addr: int) -> Optional[Entry]:
    """pgd_offset(walk->mm, addr), or walk->pgd + pgd_index(addr)."""
    assert walk.mm is not None
    phys = walk.pgd if walk.pgd is not None else walk.mm.pgd
    try:
        table = walk.table(phys, PGD)
    except TableReadError as e:
        walk.report_value("unreadable", "pgd", addr, phys, 0, str(e))
        return None
    return Entry(table, walk.arch.index(PGD, addr), PGD)


def pte_offset_kernel(walk: MmWalk, pmd: Entry, addr: int) -> Optional[Entry]:
    """pte_offset_kernel(): no checks, the pmd is a table."""
    return _offset(walk, pmd, PTE, addr)


def pte_offset_map(walk: MmWalk, pmd: Entry, addr: int) -> Optional[Entry]:
    """__pte_offset_map(): NULL for a none, migration, huge or bad pmd.

    A pmd that split_huge_pmd() virtually split points to the synthesized
    table (in this walk's copy), which _offset() finds in the walk's cache.
    """
    arch = walk.arch
    pmdval = pmd.get()
    if arch.pmd_none(pmdval) or arch.is_pmd_migration_entry(pmdval):
        return None
    if arch.pmd_trans_huge(pmdval) or arch.pmd_devmap(pmdval):
        return None
    if arch.pmd_bad(pmdval):
        pmd_clear_bad(walk, pmd, addr)
        return None
    return _offset(walk, pmd, PTE, addr)


def pmd_clear_bad(walk: MmWalk, pmd: Entry, addr: int) -> None:
    """pmd_clear_bad(): DUMP: report instead of pmd_ERROR, clear virtually."""
    walk.report("bad", pmd, addr, "pmd_bad(): the kernel would clear it")
    walk.clear(pmd)


def pgd_none_or_clear_bad(walk: MmWalk, pgd: Entry, addr: int) -> bool:
    """pgd_none_or_clear_bad(): DUMP: a bad entry is reported, not cleared."""
    val = pgd.get()
    if walk.arch.pgd_none(val):
        return True
    if walk.arch.pgd_bad(val):
        walk.report("bad", pgd, addr, "pgd_bad(): the kernel would clear it")
        walk.clear(pgd)
        return True
    return False


def p4d_none_or_clear_bad(walk: MmWalk, p4d: Entry, addr: int) -> bool:
    """p4d_none_or_clear_bad(): DUMP: a bad entry is reported, not cleared."""
    val = p4d.get()
    if walk.arch.p4d_none(val):
        return True
    if walk.arch.p4d_bad(val):
        walk.report("bad", p4d, addr, "p4d_bad(): the kernel would clear it")
        walk.clear(p4d)
        return True
    return False


# -- the walker -----------------------------------------------------------

def real_depth(arch: Arch, depth: int) -> int:
    """real_depth(): the level of an entry, ignoring folded levels."""
    if depth == 3 and arch.ptrs_per[PMD] == 1:
        depth = 2
    if depth == 2 and arch.ptrs_per[PUD] == 1:
        depth = 1
    if depth == 1 and arch.ptrs_per[P4D] == 1:
        depth = 0
    return depth


def walk_pte_range_inner(pte: Entry, addr: int, end: int, walk: MmWalk) -> int:
    """walk_pte_range_inner()."""
    pte_entry = walk.ops.pte_entry
    assert pte_entry is not None
    page_size = walk.arch.page_size
    last = end - page_size  # the hot loop: "end - PAGE_SIZE" computed once
    table, index = pte.table, pte.index
    err = 0
    while True:
        ret = pte_entry(pte, addr, addr + page_size, walk)
        if ret:
            err = int(ret)
            break
        if addr >= last:
            break
        addr += page_size
        index += 1
        pte = Entry(table, index, PTE)  # pte++
    return err


def walk_pte_range(pmd: Entry, addr: int, end: int, walk: MmWalk) -> int:
    """walk_pte_range()."""
    err = 0
    assert walk.mm is not None
    if walk.no_vma:
        # pte_offset_map() might apply user-specific validation: kernel
        # tables (init_mm or above TASK_SIZE) are mapped without checks.
        if walk.mm.is_init_mm or addr >= walk.arch.task_size:
            pte = pte_offset_kernel(walk, pmd, addr)
        else:
            pte = pte_offset_map(walk, pmd, addr)
        if pte is not None:
            err = walk_pte_range_inner(pte, addr, end, walk)
            # DUMP: pte_unmap() has nothing to undo.
    else:
        # DUMP: pte_offset_map_lock() without the lock.
        pte = pte_offset_map(walk, pmd, addr)
        if pte is not None:
            err = walk_pte_range_inner(pte, addr, end, walk)
    if pte is None:
        walk.action = ACTION_AGAIN
    return err


def walk_hugepd_range(phpd: Entry, addr: int, end: int, walk: MmWalk,
                      pdshift: int) -> int:
    """walk_hugepd_range() (CONFIG_ARCH_HAS_HUGEPD; never on x86-64)."""
    err = 0
    ops = walk.ops
    arch = walk.arch
    shift = arch.hugepd_shift(phpd.val)
    page_size = 1 << shift

    if ops.pte_entry is None:
        return 0

    if addr & (page_size - 1):
        return 0

    table_phys = arch.hugepd_paddr(phpd.val)
    try:
        table = walk.table(table_phys, PTE)
    except TableReadError as e:
        walk.report("unreadable", phpd, addr, str(e))
        # DUMP: the hugepd's range becomes a hole at the hugepd's level.
        return _lost_table_hole(addr, end, real_depth(arch, phpd.level), walk)
    while True:
        # DUMP: spin_lock(&walk->mm->page_table_lock) not taken.
        # hugepte_offset(): index of addr inside the pdshift-sized area.
        idx = (addr & ((1 << pdshift) - 1)) >> shift
        if idx >= len(table.vals):
            walk.report("bad", phpd, addr, "hugepd index beyond its table")
            # DUMP: what is left of the range is a hole.
            return _lost_table_hole(addr, end, real_depth(arch, phpd.level), walk)
        pte = Entry(table, idx, PTE)
        err = _cb(ops.pte_entry(pte, addr, addr + page_size, walk))
        if err:
            break
        if addr >= end - page_size:
            break
        addr += page_size
    return err


def split_huge_pmd(walk: MmWalk, vma: Vma, pmd: Entry, addr: int) -> None:
    """split_huge_pmd(): DUMP: a virtual split, the dump is not changed.

    Like the kernel, act only on a trans-huge, devmap or swap (migration)
    pmd.  An anonymous THP becomes the 512 PTEs that
    __split_huge_pmd_locked() would write, in a synthesized table; the pmd
    (in this walk's copy) then points to it as pmd_populate() would make it,
    so a retried pmd_entry sees a table and pte_offset_map() maps the new
    PTEs.  For a file or shmem THP the kernel only zaps the pmd (the pages
    are refaulted later): the walk clears it virtually, so the retry after
    ACTION_AGAIN finds pmd_none().
    """
    arch = walk.arch
    val = pmd.get()
    if arch.is_swap_pmd(val) and not arch.is_pmd_migration_entry(val):
        # DUMP: __split_huge_pmd_locked() VM_BUG_ONs on a swap pmd that is
        # not a migration entry: it is garbage, cleared as pmd_bad().
        pmd_clear_bad(walk, pmd, addr)
        return
    if not (arch.is_swap_pmd(val) or arch.pmd_trans_huge(val)
            or arch.pmd_devmap(val)):
        return
    if pmd.phys in walk._split:
        return
    if not vma.anonymous:
        walk.clear(pmd)
        return
    huge_zero_pfn = walk.target.huge_zero_pfn()
    huge_zero = (arch.pmd_present(val) and huge_zero_pfn is not None
                 and arch.pmd_pfn(val) == huge_zero_pfn)
    zero_pfn = walk.target.zero_pfn() if huge_zero else 0
    ptes = arch.split_huge_pmd_ptes(val, vma.vm_flags, vma.vm_page_prot,
                                    zero_pfn, huge_zero)
    phys = arch.synthetic_table_phys(len(walk._split))
    table = TablePage(phys, 0, PTE, list(ptes), synthesized=True)
    walk._tables[phys] = table
    walk._split[pmd.phys] = table
    # pmd_populate(): the pmd now points to the new table.
    pmd.table.vals[pmd.index] = arch.pmd_populate_val(phys)
    pmd.val = pmd.table.vals[pmd.index]


def split_huge_pud(walk: MmWalk, vma: Vma, pud: Entry, addr: int) -> None:
    """split_huge_pud(): DUMP: virtual.  __split_huge_pud_locked() only zaps
    the pud (PUD THPs are DAX or special mappings), so clear it virtually."""
    arch = walk.arch
    val = pud.get()
    if arch.pud_trans_huge(val) or arch.pud_devmap(val):
        walk.clear(pud)


def _again_exhausted(walk: MmWalk, entry: Entry, addr: int, tries: int) -> bool:
    """DUMP: bound ACTION_AGAIN; report the entry once the bound is reached."""
    if tries <= MAX_AGAIN:
        return False
    walk.report("again", entry, addr,
                f"ACTION_AGAIN did not converge after {MAX_AGAIN} retries; skipped")
    return True


def _next_used_slot(entry: Entry, addr: int, end: int, arch: Arch) -> "tuple[int, Optional[Entry]]":
    """``pmd++, addr = next`` repeated over the slots that hold 0, for a loop
    without ``pte_hole``: its body does nothing for a none entry, so going
    straight to the next slot that holds anything (or to ``end``) visits
    the same entries with the same arguments.  ``addr`` is the address of
    the slot after ``entry``.  DUMP: speed only; a sparse 1 TiB mapping
    then costs its few tables, not its 2^19 empty pmd slots."""
    level = entry.level
    if arch.ptrs_per[level] == 1:  # a folded level: one slot
        return addr, entry.next()
    vals = entry.table.vals
    first = entry.index + 1
    last = first + ((end - 1 - addr) >> arch.shifts[level]) + 1
    for k in compress(range(first, last), vals[first:last]):
        return addr + ((k - first) << arch.shifts[level]), Entry(entry.table, k, level)
    return end, None


def walk_pmd_range(pud: Entry, addr: int, end: int, walk: MmWalk) -> int:
    """walk_pmd_range()."""
    ops = walk.ops
    arch = walk.arch
    err = 0
    depth = real_depth(arch, 3)

    pmd = _offset(walk, pud, PMD, addr)
    if pmd is None:
        return _lost_table_hole(addr, end, real_depth(arch, 2), walk)
    while True:
        tries = 0
        while True:  # again:
            tries += 1
            next = arch.addr_end(PMD, addr, end)
            if arch.pmd_none(pmd.get()):
                if ops.pte_hole:
                    err = _cb(ops.pte_hole(addr, next, depth, walk))
                break  # if (err) break; continue;

            walk.action = ACTION_SUBTREE

            # This implies that each ->pmd_entry() handler needs to know
            # about pmd_trans_huge() pmds.
            if ops.pmd_entry:
                err = _cb(ops.pmd_entry(pmd, addr, next, walk))
            if err:
                break

            if walk.action == ACTION_AGAIN:
                if _again_exhausted(walk, pmd, addr, tries):
                    break
                continue

            # Check this here so we only break down trans_huge pages when
            # we _need_ to.
            val = pmd.get()
            if ((not walk.vma and (arch.pmd_leaf(val) or not arch.pmd_present(val)))
                    or walk.action == ACTION_CONTINUE
                    or not ops.pte_entry):
                break

            if walk.vma:
                split_huge_pmd(walk, walk.vma, pmd, addr)

            if arch.is_hugepd(pmd.get()):
                err = walk_hugepd_range(pmd, addr, next, walk, arch.shifts[PMD])
            else:
                err = walk_pte_range(pmd, addr, next, walk)
            if err:
                break

            if walk.action == ACTION_AGAIN:
                if _again_exhausted(walk, pmd, addr, tries):
                    break
                continue
            break
        if err:
            break
        addr = next
        if addr == end:
            break
        if not ops.pte_hole:
            addr, pmd = _next_used_slot(pmd, addr, end, arch)
            if pmd is None:  # only none slots left: addr == end
                break
            continue
        pmd = pmd.next()
    return err


def walk_pud_range(p4d: Entry, addr: int, end: int, walk: MmWalk) -> int:
    """walk_pud_range()."""
    ops = walk.ops
    arch = walk.arch
    err = 0
    depth = real_depth(arch, 2)

    pud = _offset(walk, p4d, PUD, addr)
    if pud is None:
        return _lost_table_hole(addr, end, real_depth(arch, 1), walk)
    while True:
        tries = 0
        while True:  # again:
            tries += 1
            next = arch.addr_end(PUD, addr, end)
            if arch.pud_none(pud.get()):
                if ops.pte_hole:
                    err = _cb(ops.pte_hole(addr, next, depth, walk))
                break

            walk.action = ACTION_SUBTREE

            if ops.pud_entry:
                err = _cb(ops.pud_entry(pud, addr, next, walk))
            if err:
                break

            if walk.action == ACTION_AGAIN:
                if _again_exhausted(walk, pud, addr, tries):
                    break
                continue

            val = pud.get()
            if ((not walk.vma and (arch.pud_leaf(val) or not arch.pud_present(val)))
                    or walk.action == ACTION_CONTINUE
                    or not (ops.pmd_entry or ops.pte_entry)):
                break

            if walk.vma:
                split_huge_pud(walk, walk.vma, pud, addr)
            if arch.pud_none(pud.get()):
                if _again_exhausted(walk, pud, addr, tries):
                    break
                continue  # goto again

            if arch.is_hugepd(pud.get()):
                err = walk_hugepd_range(pud, addr, next, walk, arch.shifts[PUD])
            else:
                err = walk_pmd_range(pud, addr, next, walk)
            break
        if err:
            break
        addr = next
        if addr == end:
            break
        if not ops.pte_hole:
            addr, pud = _next_used_slot(pud, addr, end, arch)
            if pud is None:  # only none slots left: addr == end
                break
            continue
        pud = pud.next()
    return err


def walk_p4d_range(pgd: Entry, addr: int, end: int, walk: MmWalk) -> int:
    """walk_p4d_range()."""
    ops = walk.ops
    arch = walk.arch
    err = 0
    depth = real_depth(arch, 1)

    p4d = _offset(walk, pgd, P4D, addr)
    if p4d is None:
        return _lost_table_hole(addr, end, 0, walk)
    while True:
        next = arch.addr_end(P4D, addr, end)
        if p4d_none_or_clear_bad(walk, p4d, addr):
            if ops.pte_hole:
                err = _cb(ops.pte_hole(addr, next, depth, walk))
        else:
            if ops.p4d_entry:
                err = _cb(ops.p4d_entry(p4d, addr, next, walk))
            if not err:
                if arch.is_hugepd(p4d.val):
                    err = walk_hugepd_range(p4d, addr, next, walk, arch.shifts[P4D])
                elif ops.pud_entry or ops.pmd_entry or ops.pte_entry:
                    err = walk_pud_range(p4d, addr, next, walk)
        if err:
            break
        addr = next
        if addr == end:
            break
        p4d = p4d.next()
    return err


def walk_pgd_range(addr: int, end: int, walk: MmWalk) -> int:
    """walk_pgd_range(), with the walk->pgd override."""
    ops = walk.ops
    arch = walk.arch
    err = 0

    pgd = pgd_offset(walk, addr)
    if pgd is None:
        return _lost_table_hole(addr, end, 0, walk)
    while True:
        next = arch.addr_end(PGD, addr, end)
        if pgd_none_or_clear_bad(walk, pgd, addr):
            if ops.pte_hole:
                err = _cb(ops.pte_hole(addr, next, 0, walk))
        else:
            if ops.pgd_entry:
                err = _cb(ops.pgd_entry(pgd, addr, next, walk))
            if not err:
                if arch.is_hugepd(pgd.val):
                    err = walk_hugepd_range(pgd, addr, next, walk, arch.shifts[PGD])
                elif (ops.p4d_entry or ops.pud_entry or ops.pmd_entry
                      or ops.pte_entry):
                    err = walk_p4d_range(pgd, addr, next, walk)
        if err:
            break
        addr = next
        if addr == end:
            break
        pgd = pgd.next()
    return err


def hugetlb_entry_end(hmask: int, size: int, addr: int, end: int) -> int:
    """hugetlb_entry_end(), given huge_page_mask(h) and huge_page_size(h)."""
    boundary = (addr & hmask) + size
    return boundary if boundary < end else end


def _huge_pud_offset(walk: MmWalk, addr: int) -> Optional[Entry]:
    """The first steps of both huge_pte_offset()s (generic and arm64):
    pgd_offset() and p4d_offset(), each present, then pud_offset()."""
    arch = walk.arch
    pgd = pgd_offset(walk, addr)
    if pgd is None or not arch.pgd_present(pgd.get()):
        return None
    p4d = _offset(walk, pgd, P4D, addr)
    if p4d is None or not arch.p4d_present(p4d.get()):
        return None
    return _offset(walk, p4d, PUD, addr)


def hugetlb_walk(walk: MmWalk, vma: Vma, addr: int, sz: int) -> Optional[Entry]:
    """hugetlb_walk() -> huge_pte_offset(): the generic version of
    mm/hugetlb.c, or arm64's (:func:`huge_pte_offset_arm64`) where the arch
    has its own (``Arch.contiguous_hugetlb``).

    Returns the pud for a PUD-sized page and the pmd otherwise, even when
    that entry is none: callers see none hugetlb entries, as in the kernel.
    """
    arch = walk.arch
    if arch.contiguous_hugetlb:
        return huge_pte_offset_arm64(walk, addr, sz)
    pud = _huge_pud_offset(walk, addr)
    if pud is None:
        return None
    if sz == 1 << arch.shifts[PUD]:
        # must be pud huge, non-present or none
        return pud
    if not arch.pud_present(pud.get()):
        return None
    # must be pmd huge, non-present or none
    return _offset(walk, pud, PMD, addr)


def huge_pte_offset_arm64(walk: MmWalk, addr: int, sz: int) -> Optional[Entry]:
    """huge_pte_offset() of arch/arm64/mm/hugetlbpage.c (6.1: pud_huge()/
    pmd_huge() where 6.12 has pud_leaf()/pmd_leaf(): the same for the
    entries a hugetlb vma holds): the pud or pmd of a block mapping, the
    first pmd of a contiguous-PMD page (CONT_PMD_SIZE) or the first PTE of
    a contiguous-PTE page (CONT_PTE_SIZE)."""
    arch = walk.arch
    pmd_size = 1 << arch.shifts[PMD]
    cont_pmd_size = arch.cont_pmd_size
    cont_pte_size = arch.cont_pte_size
    pud = _huge_pud_offset(walk, addr)
    if pud is None:
        return None
    pudval = pud.get()
    if sz != 1 << arch.shifts[PUD] and arch.pud_none(pudval):
        return None
    # hugepage or swap?
    if arch.pud_leaf(pudval) or not arch.pud_present(pudval):
        return pud
    # table; check the next level
    if sz == cont_pmd_size:
        addr &= ~(cont_pmd_size - 1)
    pmd = _offset(walk, pud, PMD, addr)
    if pmd is None:
        return None
    pmdval = pmd.get()
    if not (sz == pmd_size or sz == cont_pmd_size) and arch.pmd_none(pmdval):
        return None
    if arch.pmd_leaf(pmdval) or not arch.pmd_present(pmdval):
        return pmd
    if sz == cont_pte_size:
        return _offset(walk, pmd, PTE, addr & ~(cont_pte_size - 1))
    return None


def huge_ptep_get(walk: MmWalk, pte: Entry, hmask: int) -> int:
    """huge_ptep_get(): the entry's value; arm64 (``contiguous_hugetlb``)
    folds the dirty and young bits of every entry of a contiguous huge page
    into the first one's, as the CPU may set them on any of them."""
    val = pte.get()
    arch = walk.arch
    if not arch.contiguous_hugetlb or not arch.pte_present(val) or not arch.pte_cont(val):
        return val
    ncontig, _ = arch.num_contig_ptes((~hmask & MASK64) + 1)
    for i in range(ncontig):
        v = pte.table.vals[pte.index + i]
        if arch.pte_dirty(v):
            val = arch.pte_mkdirty(val)
        if arch.pte_young(v):
            val = arch.pte_mkyoung(val)
    return val


def walk_hugetlb_range(addr: int, end: int, walk: MmWalk) -> int:
    """walk_hugetlb_range()."""
    vma = walk.vma
    assert vma is not None
    h = walk.target.hstate_vma(vma)
    hmask = h.huge_page_mask()
    sz = h.huge_page_size()
    ops = walk.ops
    err = 0

    # DUMP: hugetlb_vma_lock_read() not taken.
    while True:
        next = hugetlb_entry_end(hmask, sz, addr, end)
        pte = hugetlb_walk(walk, vma, addr & hmask, sz)
        if pte is not None:
            assert ops.hugetlb_entry is not None
            err = _cb(ops.hugetlb_entry(pte, hmask, addr, next, walk))
        elif ops.pte_hole:
            err = _cb(ops.pte_hole(addr, next, -1, walk))
        if err:
            break
        addr = next
        if addr == end:
            break
    return err


def is_vm_hugetlb_page(vma: Vma) -> bool:
    """is_vm_hugetlb_page()."""
    return bool(vma.vm_flags & VM_HUGETLB)


def walk_page_test(start: int, end: int, walk: MmWalk) -> int:
    """walk_page_test(): 0 to walk the vma, 1 to skip it, <0 on error."""
    vma = walk.vma
    assert vma is not None
    ops = walk.ops

    if ops.test_walk:
        return _cb(ops.test_walk(start, end, walk))

    # vma(VM_PFNMAP) doesn't have any valid struct pages behind VM_PFNMAP
    # range, so we don't walk over it as we do for normal vmas.  Callers
    # that want every range see it through ->pte_hole(start, end, -1).
    if vma.vm_flags & VM_PFNMAP:
        err = 1
        if ops.pte_hole:
            err = _cb(ops.pte_hole(start, end, -1, walk))
        return err if err else 1
    return 0


def __walk_page_range(start: int, end: int, walk: MmWalk) -> int:
    """__walk_page_range()."""
    err = 0
    vma = walk.vma
    assert vma is not None
    ops = walk.ops
    walk.target.note_walked(start, end)  # DUMP: for the progress line only

    if ops.pre_vma:
        err = _cb(ops.pre_vma(start, end, walk))
        if err:
            return err

    if is_vm_hugetlb_page(vma):
        if ops.hugetlb_entry:
            err = walk_hugetlb_range(start, end, walk)
    else:
        err = walk_pgd_range(start, end, walk)

    if ops.post_vma:
        ops.post_vma(walk)

    return err


def process_mm_walk_lock(walk: MmWalk, mm: Mm, walk_lock: PageWalkLock) -> None:
    """process_mm_walk_lock(): DUMP: nothing to assert.  If the dump shows
    mmap_lock held for writing, the tables may be mid-update: say so."""
    if walk.target.mmap_write_locked(mm):
        walk.report_value("locked", "mm", mm.address, -1, 0,
                          "mmap_lock is write-held in the dump: page tables "
                          "may be mid-update")


def process_vma_walk_lock(vma: Vma, walk_lock: PageWalkLock) -> None:
    """process_vma_walk_lock(): DUMP: vma_start_write() has nothing to lock."""


def walk_page_range(mm: Mm, start: int, end: int, ops: MmWalkOps,
                    private: Any = None,
                    problems: Optional[List[WalkProblem]] = None) -> int:
    """walk_page_range(): walk [start, end) of mm, vma by vma."""
    err = 0
    if start >= end:
        return -EINVAL
    if mm is None:
        return -EINVAL
    walk = MmWalk(ops, mm, private, problems=problems)

    process_mm_walk_lock(walk, walk.mm, ops.walk_lock)

    target = mm.target
    vma: Any = target.find_vma(mm, start)
    while True:
        if isinstance(vma, VmaTreeLost):
            # DUMP: the walk goes past a vma into a part of the vma tree
            # the dump lacks: what is there is not known
            raise vma.error
        if vma is None:  # after the last vma
            walk.vma = None
            next = end
            if ops.pte_hole:
                err = _cb(ops.pte_hole(start, next, -1, walk))
        elif start < vma.vm_start:  # outside vma
            walk.vma = None
            next = min(end, vma.vm_start)
            if ops.pte_hole:
                err = _cb(ops.pte_hole(start, next, -1, walk))
        else:  # inside vma
            process_vma_walk_lock(vma, ops.walk_lock)
            walk.vma = vma
            next = min(end, vma.vm_end)
            try:
                vma = target.find_vma(mm, vma.vm_end)
            except VmaTreeLost as e:
                # DUMP: the next vma is in a part of the tree the dump
                # lacks; this vma is walked all the same (raised above if
                # the walk goes on past it)
                vma = e

            err = walk_page_test(start, next, walk)
            if err > 0:
                # positive return values are purely for controlling the
                # pagewalk, so should never be passed to the callers.
                err = 0
                start = next
                if start < end:
                    continue
                break
            if err < 0:
                break
            err = __walk_page_range(start, next, walk)
        if err:
            break
        start = next
        if not start < end:
            break
    return err


def walk_page_range_novma(mm: Mm, start: int, end: int, ops: MmWalkOps,
                          pgd: Optional[int] = None, private: Any = None,
                          problems: Optional[List[WalkProblem]] = None) -> int:
    """walk_page_range_novma(): walk page tables not backed by vmas.

    ``pgd`` is the physical address of a pgd to walk instead of mm->pgd
    (e.g. the user half of a PTI pgd pair).
    """
    if start >= end or mm is None:
        return -EINVAL
    walk = MmWalk(ops, mm, private, pgd=pgd, no_vma=True, problems=problems)
    # DUMP: mmap_assert_locked()/mmap_assert_write_locked() have no lock to
    # check.
    walk.target.note_walked(start, end)  # DUMP: for the progress line only
    return walk_pgd_range(start, end, walk)


def walk_page_range_vma(vma: Vma, start: int, end: int, ops: MmWalkOps,
                        private: Any = None,
                        problems: Optional[List[WalkProblem]] = None) -> int:
    """walk_page_range_vma(): walk [start, end) inside one vma."""
    mm = vma.vm_mm
    if start >= end or mm is None:
        return -EINVAL
    if start < vma.vm_start or end > vma.vm_end:
        return -EINVAL
    walk = MmWalk(ops, mm, private, vma=vma, problems=problems)
    process_mm_walk_lock(walk, mm, ops.walk_lock)
    process_vma_walk_lock(vma, ops.walk_lock)
    return __walk_page_range(start, end, walk)


def walk_page_vma(vma: Vma, ops: MmWalkOps, private: Any = None,
                  problems: Optional[List[WalkProblem]] = None) -> int:
    """walk_page_vma(): walk one whole vma."""
    mm = vma.vm_mm
    if mm is None:
        return -EINVAL
    walk = MmWalk(ops, mm, private, vma=vma, problems=problems)
    process_mm_walk_lock(walk, mm, ops.walk_lock)
    process_vma_walk_lock(vma, ops.walk_lock)
    return __walk_page_range(vma.vm_start, vma.vm_end, walk)


def vma_pages(vma: Vma) -> int:
    """vma_pages()."""
    return (vma.vm_end - vma.vm_start) >> vma.mm.target.arch.page_shift


def walk_page_mapping(target: Target, mapping: Any, first_index: int, nr: int,
                      ops: MmWalkOps, private: Any = None,
                      problems: Optional[List[WalkProblem]] = None) -> int:
    """walk_page_mapping(): walk every vma that maps pages of ``mapping``.

    The kernel's quirk is kept: the loop *stops* at the first vma that
    walk_page_test() says to skip (walk_page_range() skips and goes on).
    """
    walk = MmWalk(ops, None, private, target=target, problems=problems)
    page_shift = target.arch.page_shift
    err = 0

    # DUMP: lockdep_assert_held(&mapping->i_mmap_rwsem) has no lock to check.
    for vma in target.vma_interval_tree_foreach(mapping, first_index,
                                                first_index + nr - 1):
        # Clip to the vma
        vba = vma.vm_pgoff
        vea = vba + vma_pages(vma)
        cba = first_index
        cba = max(cba, vba)
        cea = first_index + nr
        cea = min(cea, vea)

        start_addr = ((cba - vba) << page_shift) + vma.vm_start
        end_addr = ((cea - vba) << page_shift) + vma.vm_start
        if start_addr >= end_addr:
            continue

        walk.vma = vma
        walk.mm = vma.vm_mm

        err = walk_page_test(vma.vm_start, vma.vm_end, walk)
        if err > 0:
            err = 0
            break
        elif err < 0:
            break

        err = __walk_page_range(start_addr, end_addr, walk)
        if err:
            break

    return err
