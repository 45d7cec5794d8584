"""Per-vma page counts from one walk: what each vma has mapped, swapped or
left empty, and at which page sizes.  The walker's own report: the quickest
way to see a process's memory through the port."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import compress
from typing import Any, Dict, List

from ..target.base import Vma, WalkProblem
from ..walker.walk import (
    ACTION_AGAIN,
    ACTION_CONTINUE,
    MmWalk,
    MmWalkOps,
    pte_offset_map,
    walk_page_vma,
)
from .page import pmd_trans_huge_lock


@dataclass
class VmaPages:
    """Page counts (in 4 KiB pages) of one vma."""

    vma: Vma
    present: int = 0
    swap: int = 0
    none: int = 0
    holes: int = 0
    thp: int = 0
    hugetlb: int = 0
    problems: List[WalkProblem] = field(default_factory=list)


def _pmd_entry(pmd: Any, addr: int, next: int, walk: MmWalk) -> int:
    """A THP is counted whole; a PTE table is counted here in one pass over
    its non-zero entries (no pte_entry: nothing to split, no per-PTE call);
    a migration pmd is HPAGE_PMD_NR swapped pages."""
    arch = walk.arch
    stats: VmaPages = walk.private
    val = pmd.val
    pages = (next - addr) >> walk.arch.page_shift
    walk.action = ACTION_CONTINUE
    if pmd_trans_huge_lock(walk, pmd, addr):  # clears a garbage swap pmd
        if arch.is_swap_pmd(val):
            stats.swap += pages  # a THP migration entry
        else:
            stats.thp += pages
            stats.present += pages
        return 0
    pte = pte_offset_map(walk, pmd, addr)
    if pte is None:
        # none was handled by the walker; a bad pmd is now cleared: ask
        # again, and the walker reports the range as a hole
        walk.action = ACTION_AGAIN
        return 0
    vals = pte.table.vals
    first = pte.index
    last = first + pages
    present = swap = 0
    for v in compress(vals[first:last], vals[first:last]):
        if arch.pte_present(v):
            present += 1
        elif not arch.pte_none(v):
            swap += 1
    stats.present += present
    stats.swap += swap
    stats.none += pages - present - swap
    return 0


def _hugetlb_entry(pte: Any, hmask: int, addr: int, next: int, walk: MmWalk) -> int:
    arch = walk.arch
    pages = (next - addr) >> walk.arch.page_shift
    if arch.pte_present(pte.val):
        walk.private.hugetlb += pages
        walk.private.present += pages
    elif arch.pte_none(pte.val):
        walk.private.none += pages
    else:
        walk.private.swap += pages
    return 0


def _pte_hole(addr: int, next: int, depth: int, walk: MmWalk) -> int:
    walk.private.holes += (next - addr) >> walk.arch.page_shift
    return 0


VMA_PAGES_OPS = MmWalkOps(pmd_entry=_pmd_entry, hugetlb_entry=_hugetlb_entry,
                          pte_hole=_pte_hole)


def vma_pages(vmas: List[Vma]) -> List[VmaPages]:
    """Walk each vma with walk_page_vma() and count its pages."""
    out = []
    for vma in vmas:
        stats = VmaPages(vma)
        walk_page_vma(vma, VMA_PAGES_OPS, stats, problems=stats.problems)
        out.append(stats)
    return out


def totals(stats: List[VmaPages]) -> Dict[str, int]:
    keys = ("present", "swap", "none", "holes", "thp", "hugetlb")
    return {k: sum(getattr(s, k) for s in stats) for k in keys}

