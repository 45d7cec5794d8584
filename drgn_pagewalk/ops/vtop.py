"""vtop: one address through every level of the page tables, as crash's
``vtop`` shows it, with the walk done by the port of mm/pagewalk.c.

The walk is ``walk_page_range_novma()`` over the one page that holds the
address, with a callback at every level, on the process's pgd (or its PTI
user copy) or on ``init_mm`` for kernel addresses.  A hole callback says at
which level the walk stopped on an empty entry.  For a leaf the struct page
behind it is decoded (ops/page.py), for a swap entry the swap device named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..arch.base import LEVEL_NAMES, P4D, PGD, PMD, PTE, PUD
from ..target.drgn_target import DrgnTarget
from ..target.base import VM_HUGETLB, Mm, TableReadError, WalkProblem
from ..walker.walk import MmWalk, MmWalkOps, walk_page_range_novma
from .page import PageCache, page_summary
from .pagemap import is_migration_entry, swp_offset_pfn


@dataclass
class VtopLevel:
    """One entry on the way down: its level, where it sits, its value."""

    level: str
    entry_virt: Optional[int]
    entry_phys: Optional[int]
    value: int
    flags: List[str]


@dataclass
class Vtop:
    """The translation of one virtual address."""

    virtual: int
    pgd_phys: int
    levels: List[VtopLevel] = field(default_factory=list)
    #: Where and why the walk stopped: level name and one of "leaf",
    #: "none", "not present", "swap entry", "migration entry", "protnone",
    #: "bad entry".
    stop_level: str = ""
    stop_reason: str = ""
    page_size: Optional[int] = None
    pfn: Optional[int] = None
    physical: Optional[int] = None
    page: Optional[Dict[str, Any]] = None
    swap: Optional[Dict[str, Any]] = None
    problems: List[WalkProblem] = field(default_factory=list)


class _Trace:
    """The walk's private data: every entry seen, in order."""

    def __init__(self) -> None:
        self.entries: List[Any] = []
        self.hole_depth: Optional[int] = None


def _record(entry: Any, addr: int, next: int, walk: MmWalk) -> int:
    walk.private.entries.append((entry.level, entry.val,
                                 None if entry.synthesized else entry.phys,
                                 None if entry.synthesized else entry.addr))
    return 0


def _hole(addr: int, next: int, depth: int, walk: MmWalk) -> int:
    walk.private.hole_depth = depth
    return 0


VTOP_OPS = MmWalkOps(pgd_entry=_record, p4d_entry=_record, pud_entry=_record,
                     pmd_entry=_record, pte_entry=_record, pte_hole=_hole)


def _leaf_size(arch: Any, level: int, val: int) -> Optional[int]:
    """The page size an entry maps, or None if it points to a table."""
    if level == PTE:
        return 1 << arch.shifts[PTE]
    if level == PMD and arch.pmd_leaf(val):
        return 1 << arch.shifts[PMD]
    if level == PUD and arch.pud_leaf(val):
        return 1 << arch.shifts[PUD]
    return None


def swap_device(prog: Any, swp_type: int) -> Optional[str]:
    """The path of swap_info[type]->swap_file, or None."""
    from drgn import FaultError
    from drgn.helpers.linux.fs import d_path

    try:
        if swp_type >= prog["nr_swapfiles"].value_():
            return None
        si = prog["swap_info"][swp_type]
        if not si.value_() or not si.swap_file.value_():
            return None
        return d_path(si.swap_file.f_path).decode(errors="replace")
    except (FaultError, LookupError, ValueError):
        return None


def vtop(target: DrgnTarget, mm: Mm, addr: int, pgd: Optional[int] = None) -> Vtop:
    """Translate ``addr`` in ``mm`` (``pgd``: the physical address of another
    pgd to walk, e.g. the PTI user copy), reading every level's entry."""
    arch = target.arch
    page_mask = ~((1 << arch.page_shift) - 1)
    start = addr & page_mask
    trace = _Trace()
    result = Vtop(virtual=addr, pgd_phys=mm.pgd if pgd is None else pgd)
    walk_page_range_novma(mm, start, start + (1 << arch.page_shift), VTOP_OPS,
                          pgd=pgd, private=trace, problems=result.problems)
    last_phys = None
    last_level = PTE
    last_val = 0
    nominal_pgd = arch.folded_in_place(P4D)
    for level, val, phys, virt in trace.entries:
        if phys is not None and phys == last_phys:
            continue  # a folded level: the same slot as the one above
        if level == PGD and nominal_pgd:
            # arm64's pgd_to_folded_p4d(): the pgd level only names the top
            # table page, whose entries are the p4d entries shown next
            continue
        last_phys, last_level, last_val = phys, level, val
        if not val:
            names: List[str] = []
        elif (level == PTE and not arch.pte_present(val)) or (
                level == PMD and arch.is_swap_pmd(val)):
            names = arch.swap_flag_names(val)
        else:
            names = arch.entry_flag_names(level, val)
        result.levels.append(VtopLevel(LEVEL_NAMES[level].upper(), virt, phys, val, names))
    bad = [p for p in result.problems if p.kind in ("bad", "unreadable", "cycle")]
    if trace.hole_depth is not None and not bad:
        # The walker calls pte_hole, not the level's entry callback, for a
        # none entry: read that entry here so that it is shown too.
        _none_entry(target, result, start, trace.hole_depth,
                    last_level if result.levels else None, last_val)
        return result
    if not result.levels:
        result.stop_level, result.stop_reason = "PGD", "unreadable"
        return result
    result.stop_level = LEVEL_NAMES[last_level].upper()
    if bad:
        result.stop_reason = f"bad entry ({bad[0].kind})"
        return result
    if arch.pte_none(last_val):
        result.stop_reason = "none"
        return result
    size = _leaf_size(arch, last_level, last_val)
    if size is None:
        # a non-present pmd/pud: a PMD migration entry, or nothing usable
        if last_level == PMD and arch.is_swap_pmd(last_val):
            _swap(target, result, last_val, 1 << arch.shifts[PMD])
        else:
            result.stop_reason = "not present"
        return result
    if last_level == PTE and not arch.pte_present(last_val):
        _swap(target, result, last_val, size)
        return result
    result.pfn = arch.leaf_pfn(last_level, last_val) + ((addr & (size - 1)) >> arch.page_shift)
    vma = target.find_vma(mm, addr) if not mm.is_init_mm else None
    if vma is not None and vma.vm_start <= addr and vma.vm_flags & VM_HUGETLB:
        # a hugetlb page of contiguous entries (arm64's 64 KiB and 32 MiB):
        # the huge page's size, as smaps' KernelPageSize says
        size = target.hstate_vma(vma).huge_page_size()
    result.page_size = size
    result.physical = (result.pfn << arch.page_shift) | (addr & ~page_mask)
    result.stop_reason = "protnone" if arch.pte_protnone(last_val) else "leaf"
    pc = PageCache(target.prog)
    result.page = page_summary(pc, result.pfn)
    return result


def _none_entry(target: DrgnTarget, result: Vtop, addr: int, depth: int,
                parent_level: Optional[int], parent_val: int) -> None:
    """The none entry a pte_hole of ``depth`` stands for, appended to the
    levels: in the table the last entry shown points to (the pgd if none was
    shown).  A folded level's entry is its parent's slot, shown once."""
    arch = target.arch
    level = depth
    while arch.folded(level):
        level -= 1
    result.stop_level, result.stop_reason = LEVEL_NAMES[level].upper(), "none"
    if parent_level is not None and parent_level >= level:
        return  # already shown (the folded level's own slot)
    table = (result.pgd_phys if parent_level is None
             else arch.table_paddr(parent_level, parent_val))
    phys = table + arch.index(level, addr) * arch.entry_size
    try:
        val = target.read_table(phys, 1)[0]
    except TableReadError:
        return
    names = arch.entry_flag_names(level, val) if val else []
    result.levels.append(VtopLevel(LEVEL_NAMES[level].upper(),
                                   target.phys_to_virt(phys), phys, val, names))


def _swap(target: DrgnTarget, result: Vtop, val: int, size: int) -> None:
    """A swap or migration entry (pte_to_swp_entry())."""
    arch = target.arch
    swp_type, offset = arch.swp_type_offset(val)
    nr_swap = arch.max_swapfiles
    result.page_size = size
    if is_migration_entry(arch.swap, swp_type):
        result.stop_reason = "migration entry"
        pfn = swp_offset_pfn(arch, offset)
        result.swap = {"type": swp_type, "offset": offset, "device": None,
                       "migration_pfn": pfn}
        return
    if swp_type >= nr_swap:
        result.stop_reason = "not present"
        result.swap = {"type": swp_type, "offset": offset, "device": None}
        return
    result.stop_reason = "swap entry"
    result.swap = {"type": swp_type, "offset": offset,
                   "device": swap_device(target.prog, swp_type)}


def vtop_record(v: Vtop) -> Dict[str, Any]:
    """The JSON form: virtual, physical (or None), page_size, levels, ..."""
    return {
        "virtual": v.virtual, "physical": v.physical, "page_size": v.page_size,
        "pfn": v.pfn, "pgd_phys": v.pgd_phys,
        "levels": [{"level": l.level, "entry_virt": l.entry_virt,
                    "entry_phys": l.entry_phys, "value": l.value, "flags": l.flags}
                   for l in v.levels],
        "stop": {"level": v.stop_level, "reason": v.stop_reason},
        "page": v.page, "swap": v.swap,
        "problems": [str(p) for p in v.problems],
    }
