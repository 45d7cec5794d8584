"""Per-vma page counts from one walk: what each vma has mapped, swapped or
left empty, and at which page sizes.  The walker's own report: the quickest
way to see a process's memory through the port."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List

from ..target import Vma, WalkProblem
from ..walk import ACTION_CONTINUE, MmWalk, MmWalkOps, walk_page_vma


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
    arch = walk.arch
    if arch.pmd_trans_huge(pmd.val):
        walk.private.thp += (next - addr) >> 12
        walk.private.present += (next - addr) >> 12
        walk.action = ACTION_CONTINUE  # counted here: no need to split it
    return 0


def _pte_entry(pte: Any, addr: int, next: int, walk: MmWalk) -> int:
    arch = walk.arch
    val = pte.val
    if arch.pte_none(val):
        walk.private.none += 1
    elif arch.pte_present(val):
        walk.private.present += 1
    else:
        walk.private.swap += 1
    return 0


def _hugetlb_entry(pte: Any, hmask: int, addr: int, next: int, walk: MmWalk) -> int:
    arch = walk.arch
    pages = (next - addr) >> 12
    if arch.pte_present(pte.val):
        walk.private.hugetlb += pages
        walk.private.present += pages
    elif arch.pte_none(pte.val):
        walk.private.none += pages
    else:
        walk.private.swap += pages
    return 0


def _pte_hole(addr: int, next: int, depth: int, walk: MmWalk) -> int:
    walk.private.holes += (next - addr) >> 12
    return 0


VMA_PAGES_OPS = MmWalkOps(pmd_entry=_pmd_entry, pte_entry=_pte_entry,
                          hugetlb_entry=_hugetlb_entry, pte_hole=_pte_hole)


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

