"""drgn-pagewalk: the kernel's page-table walker (mm/pagewalk.c) over drgn.

One folder per layer, each importing only from the ones below it: the
front ends (cli.py; commands/__init__.py, the drgn plugin; this API) and
openers/ (dumps, QMP guests, the running kernel) beside them; commands/;
ops/; walker/; target/; arch/; then output/ and, at the bottom, errors.py
(tests/test_layout.py checks it).

The entry points take drgn objects, as the kernel's take pointers::

    from drgn_pagewalk import MmWalkOps, walk_page_range

    def pte_entry(pte, addr, next, walk):
        if pte.val & 1:
            walk.private.append(addr)
        return 0

    present = []
    walk_page_range(task.mm, 0, 1 << 47, MmWalkOps(pte_entry=pte_entry), present)

They also accept the walker's own :class:`~.target.base.Mm`/:class:`~.target.base.Vma`
(what ``walk.mm``/``walk.vma`` are inside callbacks).  The walker core in
:mod:`drgn_pagewalk.walker.walk` does not import drgn; this module imports it only
when it converts a drgn object.
"""

from __future__ import annotations

from typing import Any, List, Optional

from .arch.base import P4D, PGD, PMD, PTE, PUD
from .walker import walk as _walk
from .target.base import Mm, Vma, WalkProblem
from .walker.walk import (
    ACTION_AGAIN,
    ACTION_CONTINUE,
    ACTION_SUBTREE,
    PGWALK_RDLOCK,
    PGWALK_WRLOCK,
    PGWALK_WRLOCK_VERIFY,
    Action,
    Entry,
    MmWalk,
    MmWalkOps,
    PageWalkLock,
)

__all__ = [
    "ACTION_AGAIN", "ACTION_CONTINUE", "ACTION_SUBTREE", "Action", "Entry",
    "Mm", "MmWalk", "MmWalkOps", "P4D", "PGD", "PMD", "PTE", "PUD", "PGWALK_RDLOCK", "PGWALK_WRLOCK",
    "PGWALK_WRLOCK_VERIFY", "PageWalkLock", "Vma", "WalkProblem",
    "walk_page_mapping", "walk_page_range", "walk_page_range_novma",
    "walk_page_range_vma", "walk_page_vma",
]


def _mm(obj: Any) -> Mm:
    if isinstance(obj, Mm):
        return obj
    from .target.drgn_target import as_mm

    return as_mm(obj)


def _vma(obj: Any) -> Vma:
    if isinstance(obj, Vma):
        return obj
    from .target.drgn_target import as_vma

    return as_vma(obj)


def _pgd(mm: Mm, pgd: Any) -> Optional[int]:
    """walk->pgd as a physical address: an int is taken as physical, a drgn
    ``pgd_t *`` is translated with __pa()."""
    if pgd is None or isinstance(pgd, int):
        return pgd
    return mm.target.virt_to_phys(pgd.value_())  # type: ignore[attr-defined]


def walk_page_range(mm: Any, start: int, end: int, ops: MmWalkOps,
                    private: Any = None,
                    problems: Optional[List[WalkProblem]] = None) -> int:
    """walk_page_range(mm, start, end, ops, private)."""
    return _walk.walk_page_range(_mm(mm), start, end, ops, private, problems)


def walk_page_range_novma(mm: Any, start: int, end: int, ops: MmWalkOps,
                          pgd: Any = None, private: Any = None,
                          problems: Optional[List[WalkProblem]] = None) -> int:
    """walk_page_range_novma(mm, start, end, ops, pgd, private)."""
    m = _mm(mm)
    return _walk.walk_page_range_novma(m, start, end, ops, _pgd(m, pgd),
                                       private, problems)


def walk_page_range_vma(vma: Any, start: int, end: int, ops: MmWalkOps,
                        private: Any = None,
                        problems: Optional[List[WalkProblem]] = None) -> int:
    """walk_page_range_vma(vma, start, end, ops, private)."""
    return _walk.walk_page_range_vma(_vma(vma), start, end, ops, private, problems)


def walk_page_vma(vma: Any, ops: MmWalkOps, private: Any = None,
                  problems: Optional[List[WalkProblem]] = None) -> int:
    """walk_page_vma(vma, ops, private)."""
    return _walk.walk_page_vma(_vma(vma), ops, private, problems)


def walk_page_mapping(mapping: Any, first_index: int, nr: int, ops: MmWalkOps,
                      private: Any = None,
                      problems: Optional[List[WalkProblem]] = None) -> int:
    """walk_page_mapping(mapping, first_index, nr, ops, private); ``mapping``
    is a drgn ``struct address_space *``."""
    from .target.drgn_target import get_target

    return _walk.walk_page_mapping(get_target(mapping.prog_), mapping,
                                   first_index, nr, ops, private, problems)
