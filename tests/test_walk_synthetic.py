"""The walker on hand-made page tables: folded levels, hugepd, damaged and
looping tables, callbacks' control of the walk.  Real behaviour is proven on
the lab dumps (test_walk_lab.py); these add what no real dump has."""

from __future__ import annotations

from typing import List, Tuple

import pytest

from drgn_pagewalk.arch.base import PMD, PUD
from drgn_pagewalk.arch.x86_64 import X86_64
from drgn_pagewalk.target.base import VM_PFNMAP
from drgn_pagewalk.walker.walk import (
    ACTION_AGAIN,
    ACTION_CONTINUE,
    EINVAL,
    MAX_AGAIN,
    MmWalkOps,
    walk_page_mapping,
    walk_page_range,
    walk_page_range_novma,
    walk_page_range_vma,
    walk_page_vma,
)

from .synthetic import FoldedArch, MemTarget

PTE_RW_USER = 0x67  # present, rw, user, accessed, dirty
PSE = 0x80
GB = 1 << 30
MB2 = 1 << 21


class Recorder:
    """Ops that record every callback as (kind, start, end, extra)."""

    def __init__(self, with_pmd: bool = False, with_pte: bool = True,
                 with_hugetlb: bool = True) -> None:
        self.events: List[Tuple[str, int, int, object]] = []
        kw = {}
        if with_pte:
            kw["pte_entry"] = self.pte_entry
        if with_pmd:
            kw["pmd_entry"] = self.pmd_entry
        if with_hugetlb:
            kw["hugetlb_entry"] = self.hugetlb_entry
        self.ops = MmWalkOps(pte_hole=self.pte_hole, **kw)

    def pte_entry(self, pte, addr, next, walk):
        self.events.append(("pte", addr, next, pte))
        return 0

    def pmd_entry(self, pmd, addr, next, walk):
        self.events.append(("pmd", addr, next, pmd))
        return 0

    def hugetlb_entry(self, pte, hmask, addr, next, walk):
        self.events.append(("hugetlb", addr, next, (pte, hmask)))
        return 0

    def pte_hole(self, addr, next, depth, walk):
        self.events.append(("hole", addr, next, depth))
        return 0

    def tiles(self, start: int, end: int) -> None:
        """Holes and leaves cover [start, end) exactly, in order."""
        spans = [(a, b) for kind, a, b, _ in self.events if kind != "pmd"]
        assert spans[0][0] == start
        assert spans[-1][1] == end
        for (a0, b0), (a1, b1) in zip(spans, spans[1:]):
            assert b0 == a1, f"gap or overlap at {b0:#x}/{a1:#x}"

    def leaves(self):
        return [(a, e) for kind, a, b, e in self.events if kind == "pte"]


def x86(levels: int = 4) -> Tuple[MemTarget, object]:
    target = MemTarget(X86_64(levels=levels))
    return target, target.new_mm()


@pytest.mark.parametrize("levels", [4, 5])
def test_x86_ptes_holes_and_depths(levels: int) -> None:
    target, mm = x86(levels)
    base = 0x7F0000000000
    for i in (0, 1, 5):
        target.map(mm.pgd, base + i * 4096, ((0x5000 + i) << 12) | PTE_RW_USER)
    target.add_vma(mm, base, base + 16 * 4096)
    rec = Recorder()
    assert walk_page_range(mm, base - GB, base + GB, rec.ops) == 0
    rec.tiles(base - GB, base + GB)
    ptes = rec.leaves()
    assert len(ptes) == 16  # every PTE slot inside the vma, none or not
    present = {a: e.val for a, e in ptes if e.val}
    assert present == {base + i * 4096: ((0x5000 + i) << 12) | PTE_RW_USER
                       for i in (0, 1, 5)}
    # outside the vma: holes at depth -1 (no vma)
    holes = [(a, b, d) for kind, a, b, d in rec.events if kind == "hole"]
    assert (base - GB, base, -1) in holes
    assert (base + 16 * 4096, base + GB, -1) in holes


@pytest.mark.parametrize("levels,p4d_depth", [(4, 0), (5, 1)])
def test_x86_real_depth_of_holes(levels: int, p4d_depth: int) -> None:
    """An empty top-level slot is a hole at depth 0 in 4-level mode (p4d is
    folded) and at depth 1 in 5-level mode; pud and pmd holes at 2 and 3."""
    target, mm = x86(levels)
    addr = 0x7F0000000000
    target.map(mm.pgd, addr, (0x77 << 12) | PTE_RW_USER)
    rec = Recorder()
    arch = target.arch
    end = addr + (1 << arch.shifts[1])  # one p4d-sized area
    walk_page_range_novma(mm, addr, end, rec.ops)
    depths = {d for kind, a, b, d in rec.events if kind == "hole"}
    assert depths == {2, 3}
    # a p4d-aligned empty area next to it
    rec2 = Recorder()
    walk_page_range_novma(mm, end, end + (1 << arch.shifts[1]), rec2.ops)
    assert [d for kind, a, b, d in rec2.events] == [p4d_depth]


def test_anon_thp_virtual_split() -> None:
    target, mm = x86()
    base = 0x7F0000000000
    pmd = (0x40000 << 12) | PTE_RW_USER | PSE | (1 << 11)  # soft-dirty
    table = target.map(mm.pgd, base, pmd, leaf=PMD)
    before = bytes(target.pages[table])
    vma = target.add_vma(mm, base, base + MB2)
    rec = Recorder()
    assert walk_page_vma(vma, rec.ops) == 0
    ptes = rec.leaves()
    assert len(ptes) == 512
    arch = target.arch
    for i, (addr, entry) in enumerate(ptes):
        assert addr == base + i * 4096
        assert entry.synthesized
        assert arch.pte_pfn(entry.val) == 0x40000 + i
        assert arch.pte_soft_dirty(entry.val) and arch.pte_write(entry.val)
    assert bytes(target.pages[table]) == before  # nothing written


def test_file_thp_split_zaps_to_hole() -> None:
    """__split_huge_pmd_locked() only zaps a file THP: the retry sees none."""
    target, mm = x86()
    base = 0x7F0000000000
    target.map(mm.pgd, base, (0x40000 << 12) | PTE_RW_USER | PSE, leaf=PMD)
    vma = target.add_vma(mm, base, base + MB2, anonymous=False)
    rec = Recorder()
    assert walk_page_vma(vma, rec.ops) == 0
    assert rec.events == [("hole", base, base + MB2, 3)]


def test_pmd_entry_sees_thp_without_split() -> None:
    target, mm = x86()
    base = 0x7F0000000000
    target.map(mm.pgd, base, (0x40000 << 12) | PTE_RW_USER | PSE, leaf=PMD)
    vma = target.add_vma(mm, base, base + MB2)
    rec = Recorder(with_pmd=True, with_pte=False)
    walk_page_vma(vma, rec.ops)
    [(kind, a, b, e)] = rec.events
    assert kind == "pmd" and e.level == PMD and target.arch.pmd_leaf(e.val)


def test_novma_does_not_descend_into_leaves() -> None:
    target, mm = x86()
    target.map(mm.pgd, 0, (0x40000 << 12) | 0x63 | PSE, leaf=PUD)
    rec = Recorder(with_pmd=True)
    walk_page_range_novma(mm, 0, GB, rec.ops)
    assert rec.events == []  # pud leaf: no pmd_entry, no ptes


def test_action_continue_prevents_descent() -> None:
    target, mm = x86()
    base = 0x7F0000000000
    target.map(mm.pgd, base, (0x99 << 12) | PTE_RW_USER)
    target.add_vma(mm, base, base + MB2)

    def pmd_entry(pmd, addr, next, walk):
        walk.action = ACTION_CONTINUE
        return 0

    seen = []
    ops = MmWalkOps(pmd_entry=pmd_entry, pte_entry=lambda *a: seen.append(a))
    assert walk_page_range(mm, base, base + MB2, ops) == 0
    assert seen == []


def test_action_again_that_never_converges_ends() -> None:
    target, mm = x86()
    base = 0x7F0000000000
    target.map(mm.pgd, base, (0x99 << 12) | PTE_RW_USER)
    target.add_vma(mm, base, base + 2 * MB2)
    calls = []

    def pmd_entry(pmd, addr, next, walk):
        calls.append(addr)
        walk.action = ACTION_AGAIN
        return 0

    problems: list = []
    ops = MmWalkOps(pmd_entry=pmd_entry, pte_entry=lambda *a: 0)
    assert walk_page_range(mm, base, base + 2 * MB2, ops, problems=problems) == 0
    assert calls.count(base) == MAX_AGAIN + 1
    assert [p.kind for p in problems] == ["again"]


def test_callback_error_stops_and_propagates() -> None:
    target, mm = x86()
    base = 0x7F0000000000
    for i in range(4):
        target.map(mm.pgd, base + i * 4096, ((0x10 + i) << 12) | PTE_RW_USER)
    target.add_vma(mm, base, base + 4 * 4096)
    seen = []

    def pte_entry(pte, addr, next, walk):
        seen.append(addr)
        return -5 if addr == base + 4096 else 0

    assert walk_page_range(mm, base, base + 4 * 4096, MmWalkOps(pte_entry=pte_entry)) == -5
    assert seen == [base, base + 4096]


def test_test_walk_skips_and_pfnmap_is_one_hole() -> None:
    target, mm = x86()
    a, b = 0x7F0000000000, 0x7F0000100000
    target.map(mm.pgd, a, (0x10 << 12) | PTE_RW_USER)
    target.map(mm.pgd, b, (0x11 << 12) | PTE_RW_USER)
    target.add_vma(mm, a, a + 4096)
    target.add_vma(mm, b, b + 4096, flags=0x73 | VM_PFNMAP)
    rec = Recorder()
    walk_page_range(mm, a, b + 4096, rec.ops)
    assert ("hole", b, b + 4096, -1) in rec.events
    assert [x for x in rec.leaves() if x[0] == b] == []
    rec2 = Recorder()
    rec2.ops.test_walk = lambda start, end, walk: 1
    walk_page_range(mm, a, b + 4096, rec2.ops)
    assert [k for k, *_ in rec2.events] == ["hole"]  # only the gap between


def test_einval() -> None:
    target, mm = x86()
    vma = target.add_vma(mm, 0x1000, 0x3000)
    ops = MmWalkOps(pte_entry=lambda *a: 0)
    assert walk_page_range(mm, 0x2000, 0x1000, ops) == -EINVAL
    assert walk_page_range_novma(mm, 0x2000, 0x2000, ops) == -EINVAL
    assert walk_page_range_vma(vma, 0x0, 0x2000, ops) == -EINVAL
    assert walk_page_range_vma(vma, 0x1000, 0x4000, ops) == -EINVAL


def test_hugetlb_vma_goes_through_hugetlb_entry() -> None:
    target, mm = x86()
    base = 0x7F0000000000
    target.map(mm.pgd, base, (0x40000 << 12) | PTE_RW_USER | PSE, leaf=PMD)
    vma = target.add_vma(mm, base, base + 2 * MB2, flags=0x73 | 0x00400000,
                         hstate_order=9)
    rec = Recorder()
    walk_page_vma(vma, rec.ops)
    kinds = [(k, a, b) for k, a, b, _ in rec.events]
    assert kinds == [("hugetlb", base, base + MB2), ("hugetlb", base + MB2, base + 2 * MB2)]
    (pte, hmask) = rec.events[0][3]
    assert hmask == ~(MB2 - 1) & (2**64 - 1) and pte.level == PMD and pte.val
    assert rec.events[1][3][0].val == 0  # none entries are passed too


# -- damaged tables ---------------------------------------------------------

def test_table_pointing_to_itself_is_reported() -> None:
    target, mm = x86()
    target.set(mm.pgd, 0, mm.pgd | 0x67)  # pgd[0] -> the pgd page itself
    problems: list = []
    rec = Recorder()
    assert walk_page_range_novma(mm, 0, 1 << 39, rec.ops, problems=problems) == 0
    assert [p.kind for p in problems] == ["cycle"]


def test_deeper_loop_is_reported() -> None:
    target, mm = x86()
    target.map(mm.pgd, 0, (0x99 << 12) | PTE_RW_USER)
    pud_table = target.arch.table_paddr(0, target.get(mm.pgd, 0))
    pmd_table = target.arch.table_paddr(PUD, target.get(pud_table, 0))
    target.set(pmd_table, 1, pud_table | 0x67)  # a pmd points back up
    problems: list = []
    rec = Recorder()
    walk_page_range_novma(mm, 0, GB, rec.ops, problems=problems)
    assert [p.kind for p in problems] == ["cycle"]
    assert any(k == "pte" and e.val for k, a, b, e in rec.events)
    rec.tiles(0, GB)


def test_entry_beyond_memory_is_reported_and_walk_goes_on() -> None:
    target, mm = x86()
    base = 0x7F0000000000
    target.map(mm.pgd, base, (0x99 << 12) | PTE_RW_USER)
    target.map(mm.pgd, base + MB2, (0x7FFF00000000) | 0x67, leaf=PMD)  # bogus table
    target.add_vma(mm, base, base + 4 * MB2)
    problems: list = []
    rec = Recorder()
    assert walk_page_range(mm, base, base + 4 * MB2, rec.ops, problems=problems) == 0
    assert [p.kind for p in problems] == ["unreadable"]
    assert ("hole", base + MB2, base + 2 * MB2, 3) in rec.events
    rec.tiles(base, base + 4 * MB2)


def test_bad_pmd_is_reported_then_a_hole() -> None:
    target, mm = x86()
    base = 0x7F0000000000
    target.map(mm.pgd, base, (0x99 << 12) | 0x61 | (1 << 63), leaf=PMD)  # NX, no RW
    target.add_vma(mm, base, base + MB2)
    problems: list = []
    rec = Recorder()
    walk_page_range(mm, base, base + MB2, rec.ops, problems=problems)
    assert [p.kind for p in problems] == ["bad"]
    assert rec.events == [("hole", base, base + MB2, 3)]


def test_bad_p4d_in_5level_is_reported() -> None:
    target, mm = x86(5)
    target.set(mm.pgd, 1, 0x5000 | 0x1 | (1 << 9))  # stray flag bits
    problems: list = []
    rec = Recorder()
    walk_page_range_novma(mm, 1 << 48, 2 << 48, rec.ops, problems=problems)
    assert [p.kind for p in problems] == ["bad"]
    assert rec.events == [("hole", 1 << 48, 2 << 48, 0)]


def test_pgd_outside_memory() -> None:
    target, mm = x86()
    problems: list = []
    assert walk_page_range_novma(mm, 0, GB, Recorder().ops, pgd=0x7FFF00000000,
                                 problems=problems) == 0
    assert [p.kind for p in problems] == ["unreadable"]


# -- folded levels and hugepd ----------------------------------------------

@pytest.mark.parametrize("levels", [2, 3])
def test_folded_levels(levels: int) -> None:
    target = MemTarget(FoldedArch(levels))
    mm = target.new_mm()
    arch = target.arch
    top = 1 << arch.shifts[0]
    target.map(mm.pgd, top + 3 * 4096, (0x42 << 12) | 1)
    rec = Recorder()
    assert walk_page_range_novma(mm, 0, 4 * top, rec.ops) == 0
    rec.tiles(0, 4 * top)
    holes = [(a, b, d) for k, a, b, d in rec.events if k == "hole"]
    # with p4d/pud (and pmd) folded, an empty top-level slot is depth 0
    assert holes[0] == (0, top, 0)
    leaves = [(a, e.val) for a, e in rec.leaves() if e.val]
    assert leaves == [(top + 3 * 4096, (0x42 << 12) | 1)]
    if levels == 3:
        # a missing pmd inside a present pud is depth 3
        assert (top + MB2, top + 2 * MB2, 3) in holes


def test_hugepd() -> None:
    target = MemTarget(FoldedArch(3))
    mm = target.new_mm()
    hpd_table = target.alloc_table()
    shift = 16  # 64 KiB huge pages inside a 2 MiB pmd area
    for i in range(32):
        target.set(hpd_table, i, ((0x100 + i * 16) << 12) | 1)
    target.map(mm.pgd, GB, hpd_table | (1 << 61) | (shift << 52) | 1, leaf=PMD)
    rec = Recorder()
    walk_page_range_novma(mm, GB, GB + MB2, rec.ops)
    leaves = rec.leaves()
    assert [a for a, _ in leaves] == [GB + i * (1 << shift) for i in range(32)]
    assert [e.val for _, e in leaves] == [((0x100 + i * 16) << 12) | 1 for i in range(32)]
    rec.tiles(GB, GB + MB2)


def test_hugepd_unaligned_start_is_skipped() -> None:
    target = MemTarget(FoldedArch(3))
    mm = target.new_mm()
    hpd_table = target.alloc_table()
    target.map(mm.pgd, GB, hpd_table | (1 << 61) | (16 << 52) | 1, leaf=PMD)
    rec = Recorder()
    walk_page_range_novma(mm, GB + 4096, GB + MB2, rec.ops)
    assert rec.leaves() == []


def test_walk_page_mapping_clips_and_stops_at_skip() -> None:
    target, mm = x86()
    a, b, c = 0x10000000, 0x20000000, 0x30000000
    va = target.add_vma(mm, a, a + 16 * 4096, pgoff=0)
    vb = target.add_vma(mm, b, b + 16 * 4096, pgoff=4, flags=0x73 | VM_PFNMAP)
    vc = target.add_vma(mm, c, c + 16 * 4096, pgoff=0)
    ranges = []
    ops = MmWalkOps(pre_vma=lambda s, e, w: ranges.append((s, e)) or 0,
                    pte_entry=lambda *x: 0)
    # [2, 10) of the file: va maps it at a+2.., vb (pgoff 4) at b.., vc at c+2..
    assert walk_page_mapping(target, [va, vb, vc], 2, 8, ops) == 0
    # tree order is by pgoff: va (0), vc (0), then vb (4): vb is PFNMAP, the
    # kernel's loop breaks there.
    assert ranges == [(a + 2 * 4096, a + 10 * 4096), (c + 2 * 4096, c + 10 * 4096)]
    ranges.clear()
    assert walk_page_mapping(target, [vb, va], 0, 16, ops) == 0
    assert ranges == [(a, a + 16 * 4096)]


def test_table_pages_read_once_per_walk() -> None:
    target, mm = x86()
    base = 0x7F0000000000
    for i in range(512):
        target.map(mm.pgd, base + i * 4096, ((0x1000 + i) << 12) | PTE_RW_USER)
    target.add_vma(mm, base, base + MB2)
    target.reads = 0
    walk_page_range(mm, base, base + MB2, Recorder().ops)
    assert target.reads == 4  # pgd, pud, pmd, pte: one read each, 512 PTEs


def test_retried_pmd_entry_sees_the_split_table() -> None:
    """After the virtual split, ACTION_AGAIN's retry of pmd_entry sees a pmd
    pointing to a PTE table (pmd_populate()), not the huge value; and the
    retry converges: pmd_entry is called twice, the 512 PTEs once."""
    target, mm = x86()
    arch = target.arch
    base = 0x7F0000000000
    target.map(mm.pgd, base, (0x40000 << 12) | PTE_RW_USER | PSE, leaf=PMD)
    vma = target.add_vma(mm, base, base + MB2)
    seen = []
    ptes = []

    def pmd_entry(pmd, addr, next, walk):
        seen.append(pmd.val)
        if len(seen) == 1:
            return 0  # SUBTREE: the walker splits, then walks the PTEs
        return 0

    def pte_entry(pte, addr, next, walk):
        ptes.append(addr)
        if addr == base and len(seen) == 1:
            walk.action = ACTION_AGAIN
        return 0

    ops = MmWalkOps(pmd_entry=pmd_entry, pte_entry=pte_entry)
    problems = []
    assert walk_page_vma(vma, ops, problems=problems) == 0
    assert len(seen) == 2
    assert arch.pmd_trans_huge(seen[0])
    assert not arch.pmd_trans_huge(seen[1]) and not arch.pmd_bad(seen[1])
    assert len(ptes) == 1024 and problems == []


def test_garbage_swap_pmd_is_bad_not_migration() -> None:
    """A non-present pmd whose swap type is not a migration type is cleared
    as pmd_bad() and seen as a hole; a migration pmd is split into 512
    migration PTEs."""
    target, mm = x86()
    arch = target.arch
    base = 0x7F0000000000
    garbage = arch.swp_entry_to_pte(5, 0x1234)
    assert arch.is_swap_pmd(garbage) and not arch.is_pmd_migration_entry(garbage)
    target.map(mm.pgd, base, garbage, leaf=PMD)
    vma = target.add_vma(mm, base, base + MB2)
    rec = Recorder()
    problems = []
    assert walk_page_vma(vma, rec.ops, problems=problems) == 0
    assert rec.events == [("hole", base, base + MB2, 3)]
    assert [(p.kind, p.level) for p in problems] == [("bad", "pmd")]
    migration = arch.swp_entry_to_pte(arch.swp_migration_read + 2, 0x4000)
    assert arch.is_pmd_migration_entry(migration)
    target2, mm2 = x86()
    target2.map(mm2.pgd, base, migration, leaf=PMD)
    vma2 = target2.add_vma(mm2, base, base + MB2)
    rec2 = Recorder()
    assert walk_page_vma(vma2, rec2.ops) == 0
    leaves = rec2.leaves()
    assert len(leaves) == 512
    assert arch.swp_type_offset(leaves[7][1].val) == (arch.swp_migration_read + 2, 0x4007)


@pytest.mark.parametrize("level", [PUD, PMD])
def test_unreadable_table_is_a_hole_at_its_parents_depth(level: int) -> None:
    """An entry pointing outside memory is reported and its range is one
    hole at the entry's depth: the callbacks still tile the range."""
    target, mm = x86()
    base = 0x7F0000000000
    target.map(mm.pgd, base, (0x5000 << 12) | PTE_RW_USER)
    span = 1 << target.arch.shifts[level]
    table_val = (0x7FFFFF000 << 12) | PTE_RW_USER  # no such page
    target.map(mm.pgd, base, table_val, leaf=level)
    rec = Recorder()
    problems = []
    assert walk_page_range_novma(mm, base - span, base + 2 * span, rec.ops,
                                 problems=problems) == 0
    rec.tiles(base - span, base + 2 * span)
    assert ("hole", base, base + span, level) in rec.events
    assert [p.kind for p in problems] == ["unreadable"]


def test_null_mm_is_einval() -> None:
    """walk_page_range*() with a NULL mm return -EINVAL, as in C."""
    rec = Recorder()
    assert walk_page_range(None, 0, 4096, rec.ops) == -22
    assert walk_page_range_novma(None, 0, 4096, rec.ops) == -22


# arm64 descriptors: valid page (AF, user, not global) and table
ARM64_PAGE = 0x3 | (1 << 10) | (1 << 6) | (1 << 11)
ARM64_BLOCK = 0x1 | (1 << 10) | (1 << 6) | (1 << 11)


@pytest.mark.parametrize("page_shift,va_bits,vabits_actual,pa52", [
    (12, 48, 48, False), (12, 52, 48, True), (12, 52, 52, True),
    (14, 52, 52, True), (14, 52, 47, True), (14, 48, 48, False), (14, 47, 47, False),
    (16, 42, 42, False), (16, 48, 48, False), (16, 52, 48, True), (16, 52, 52, True),
])
def test_arm64_granules(page_shift: int, va_bits: int, vabits_actual: int,
                        pa52: bool) -> None:
    """Every arm64 granule and VA size by the same code (arch/arm64.py): the
    PTEs of a vma at their addresses, one per PAGE_SIZE, with their PFNs
    (52-bit PAs where the kernel has them: LPA2's bits [9:8], 64 KiB pages'
    [15:12]); a PMD block (32 MiB with 16 KiB pages, 512 MiB with 64 KiB)
    split virtually into PTRS_PER_PTE PTEs of consecutive PFNs; the levels
    as the kernel folds them (a 4-level LPA2 kernel with 16 KiB pages on a
    47-bit CPU keeps its pud entries in the pgd page).  The 4 and 16 KiB
    granules are proven on real kernels (the arm64 labs); 64 KiB only here."""
    from drgn_pagewalk.arch.arm64 import Arm64

    arch = Arm64(va_bits=va_bits, vabits_actual=vabits_actual, pa_bits_52=pa52,
                 page_shift=page_shift)
    target = MemTarget(arch, mem_size=1 << 40, table=0x3)
    mm = target.new_mm()
    page, pmd_size = 1 << page_shift, 1 << arch.shifts[PMD]
    per = page // 8
    assert arch.ptrs_per[4] == per and pmd_size == per * page
    assert arch.levels == (vabits_actual - 4) // (page_shift - 3)
    base = 1 << (vabits_actual - 2)  # PMD aligned, well inside TASK_SIZE
    # a PFN whose address needs 52 bits where the kernel has 52-bit PAs
    high = (1 << 51) >> page_shift if pa52 and arch.addr_high else 0x1000
    pfns = {0: high + 7, 1: 0x2345, per - 1: 0x77}
    for i, pfn in pfns.items():
        val = arch.pfn_pte(pfn, ARM64_PAGE)
        assert arch.pte_pfn(val) == pfn
        target.map(mm.pgd, base + i * page, val)
    thp_pfn = 0x40 * per  # PMD aligned
    target.map(mm.pgd, base + pmd_size, arch.pfn_pte(thp_pfn, ARM64_BLOCK), leaf=PMD)
    target.add_vma(mm, base, base + 2 * pmd_size)
    if (page_shift, va_bits, vabits_actual) == (14, 52, 47):
        # p4d_to_folded_pud(): the pud entry is the pgd page's pud_index()-th
        # (PUD_SHIFT 36, 2048 entries), pointing to the PMD table
        assert target.get(mm.pgd, (base >> 36) & 2047) & 3 == 3
    rec = Recorder()
    assert walk_page_range(mm, base, base + 2 * pmd_size, rec.ops) == 0
    rec.tiles(base, base + 2 * pmd_size)
    ptes = rec.leaves()
    assert len(ptes) == 2 * per  # every PTE slot, the split block's too
    assert all(b - a == page for kind, a, b, _ in rec.events if kind == "pte")
    present = {(a - base) // page: arch.pte_pfn(e.val) for a, e in ptes[:per] if e.val}
    assert present == pfns
    assert [arch.pte_pfn(e.val) for _, e in ptes[per:]] == list(range(thp_pfn, thp_pfn + per))
    assert [a for a, _ in ptes[per:]] == list(range(base + pmd_size, base + 2 * pmd_size, page))
