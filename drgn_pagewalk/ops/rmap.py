"""rmap: who maps a file's pages, or one physical page.

``rmap FILE [FIRST [NR]]`` is walk_page_mapping() over the file's
``i_mmap`` (as mm/mapping_dirty_helpers.c uses it): every vma mapping a page
index in the range, walked with pte and pmd callbacks.  Each present entry
is a row: process, user address, PFN, the PTE's write/dirty/young bits and
whether it maps the file's own page (the page cache's PFN at that index) or
a private copy made by copy-on-write.

``rmap --pfn PFN`` is the kernel's rmap_walk() for one page:
rmap_walk_anon() over the anon_vma's interval tree of anon_vma_chains, or
rmap_walk_file() over ``mapping->i_mmap``, each candidate vma checked with a
walk of the one address vma_address() gives (page_vma_mapped_walk()).
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Tuple

from ..arch.base import PMD
from ..target.drgn_target import DrgnTarget
from ..target.base import Vma
from ..walker.walk import (
    ACTION_CONTINUE,
    MmWalk,
    MmWalkOps,
    walk_page_mapping,
    walk_page_range_vma,
)
from .page import PAGE_MAPPING_ANON, PageCache

RMAP_COLUMNS = ["pid", "comm", "vaddr", "pfn", "level", "write", "dirty", "young",
                "maps"]


def mm_owners(prog: Any) -> Dict[int, List[Tuple[int, str]]]:
    """mm_struct address -> [(pid, comm)] of the thread-group leaders using it."""
    from drgn.helpers.linux.pid import for_each_task

    owners: Dict[int, List[Tuple[int, str]]] = {}
    for t in for_each_task(prog):
        mm = t.mm.value_()
        if mm and t.pid.value_() == t.tgid.value_():
            owners.setdefault(mm, []).append(
                (t.pid.value_(), t.comm.string_().decode(errors="replace")))
    return owners


def page_cache_pfn(prog: Any, mapping: Any, index: int) -> Optional[int]:
    """The PFN of the page cache page at ``index`` (filemap_get_entry()),
    or None for a hole or a shadow/swap value entry.  A large folio's
    entry is its head: the index's page is that many pages after it."""
    from drgn import cast
    from drgn.helpers.linux.mm import page_index, page_to_pfn
    from drgn.helpers.linux.xarray import xa_is_value, xa_load

    entry = xa_load(mapping.i_pages.address_of_(), index)
    if not entry.value_() or xa_is_value(entry):
        return None
    page = cast("struct page *", entry)
    return page_to_pfn(page).value_() + (index - page_index(page).value_())


class _MappingWalk:
    def __init__(self, target: DrgnTarget, mapping: Any,
                 owners: Dict[int, List[Tuple[int, str]]]) -> None:
        self.target = target
        self.mapping = mapping
        self.owners = owners
        self.rows: List[Tuple[Any, ...]] = []
        self._cache: Dict[int, Optional[int]] = {}

    def file_pfn(self, vma: Vma, addr: int) -> Optional[int]:
        index = vma.vm_pgoff + ((addr - vma.vm_start) >> self.target.arch.page_shift)
        if index not in self._cache:
            self._cache[index] = page_cache_pfn(self.target.prog, self.mapping, index)
        return self._cache[index]

    def add(self, walk: MmWalk, addr: int, val: int, pfn: int, level: str) -> None:
        arch = self.target.arch
        file_pfn = self.file_pfn(walk.vma, addr)
        maps = "file page" if file_pfn == pfn else "private copy"
        for pid, comm in self.owners.get(walk.mm.address, [(None, "?")]):
            self.rows.append((pid, comm, addr, pfn, level, arch.pte_write(val),
                              arch.pte_dirty(val), arch.pte_young(val), maps))


def _mapping_pte_entry(pte: Any, addr: int, next: int, walk: MmWalk) -> int:
    mw: _MappingWalk = walk.private
    arch = walk.arch
    val = pte.val
    if arch.pte_present(val):
        mw.add(walk, addr, val, arch.pte_pfn(val), "pte")
    return 0


def _mapping_pmd_entry(pmd: Any, addr: int, next: int, walk: MmWalk) -> int:
    """A pmd-mapped file THP: one row per page it maps, not split."""
    mw: _MappingWalk = walk.private
    arch = walk.arch
    val = pmd.val
    if arch.pmd_trans_huge(val):
        base = addr & ~((1 << arch.shifts[PMD]) - 1)
        pfn = arch.pmd_pfn(val)
        while addr < next:
            mw.add(walk, addr, val, pfn + ((addr - base) >> arch.page_shift), "pmd")
            addr += arch.page_size
        walk.action = ACTION_CONTINUE
    return 0


RMAP_MAPPING_OPS = MmWalkOps(pte_entry=_mapping_pte_entry, pmd_entry=_mapping_pmd_entry)


def rmap_mapping(target: DrgnTarget, mapping: Any, first: int,
                 nr: int) -> Tuple[List[Tuple[Any, ...]], list]:
    """walk_page_mapping(mapping, first, nr): a row per present entry."""
    mw = _MappingWalk(target, mapping, mm_owners(target.prog))
    problems: list = []
    walk_page_mapping(target, mapping, first, nr, RMAP_MAPPING_OPS, mw, problems)
    mw.rows.sort(key=lambda r: (r[0] if r[0] is not None else -1, r[2]))
    return mw.rows, problems


# -- one page: rmap_walk() ------------------------------------------------

class _PageCheck:
    """page_vma_mapped_walk() for one address: does the entry map pfn?"""

    def __init__(self, pfn: int) -> None:
        self.pfn = pfn
        self.hit: Optional[Tuple[str, int]] = None


def _check_pte(pte: Any, addr: int, next: int, walk: MmWalk) -> int:
    pc: _PageCheck = walk.private
    arch = walk.arch
    if arch.pte_present(pte.val) and arch.pte_pfn(pte.val) == pc.pfn:
        pc.hit = ("pte", pte.val)
    return 0


def _check_pmd(pmd: Any, addr: int, next: int, walk: MmWalk) -> int:
    pc: _PageCheck = walk.private
    arch = walk.arch
    val = pmd.val
    if arch.pmd_trans_huge(val):
        base = addr & ~((1 << arch.shifts[PMD]) - 1)
        if arch.pmd_pfn(val) + ((addr - base) >> arch.page_shift) == pc.pfn:
            pc.hit = ("pmd", val)
        walk.action = ACTION_CONTINUE
    return 0


def _check_hugetlb(pte: Any, hmask: int, addr: int, next: int, walk: MmWalk) -> int:
    pc: _PageCheck = walk.private
    arch = walk.arch
    if arch.pte_present(pte.val):
        base = addr & hmask
        if arch.leaf_pfn(pte.level, pte.val) + ((addr - base) >> arch.page_shift) == pc.pfn:
            pc.hit = ("pud" if pte.level == 2 else "pmd", pte.val)
    return 0


CHECK_OPS = MmWalkOps(pte_entry=_check_pte, pmd_entry=_check_pmd,
                      hugetlb_entry=_check_hugetlb)


def _anon_vmas(prog: Any, anon_vma_addr: int, pgoff: int, page_shift: int) -> Iterator[Any]:
    """anon_vma_interval_tree_foreach(avc, &anon_vma->rb_root, pgoff, pgoff)."""
    from drgn import Object
    from drgn.helpers.linux.rbtree import rbtree_inorder_for_each_entry

    anon_vma = Object(prog, "struct anon_vma *", anon_vma_addr)
    for avc in rbtree_inorder_for_each_entry(
            "struct anon_vma_chain", anon_vma.rb_root.rb_root.address_of_(), "rb"):
        vma = avc.vma
        start = vma.vm_pgoff.value_()
        end = start + ((vma.vm_end.value_() - vma.vm_start.value_()) >> page_shift) - 1
        if start <= pgoff <= end:
            yield vma


def rmap_pfn(target: DrgnTarget, pfn: int) -> Tuple[List[Tuple[Any, ...]], Dict[str, Any]]:
    """rmap_walk() of the page at ``pfn``: a row per (process, address)
    whose page tables map it, and what the page is."""
    from drgn import Object

    from .page import page_summary

    prog = target.prog
    pc = PageCache(prog)
    info = page_summary(pc, pfn)
    rows: List[Tuple[Any, ...]] = []
    if not info.get("valid") or "mapping" not in info:
        return rows, info
    if info["slab"] is not None:
        info["note"] = f"a slab page ({info['slab']}): not mapped by any process"
        return rows, info
    mapping = info["mapping"]
    pgoff = info["index"]
    if info["ksm"]:
        info["note"] = "a KSM page: its stable-tree rmap is not walked"
        return rows, info
    mapcount = info["folio_mapcount"] if info["folio_mapcount"] is not None \
        else info["mapcount"]
    if not mapping or mapcount <= 0:
        # rmap_walk() is for mapped folios: a slab or page-table page (its
        # mapping word is no address_space) or an unmapped page has none
        info["note"] = "not mapped by any process (mapcount 0): no rmap to walk"
        return rows, info
    if mapping & PAGE_MAPPING_ANON:
        candidates = list(_anon_vmas(prog, mapping & ~3, pgoff, target.arch.page_shift))
    else:
        m = Object(prog, "struct address_space *", mapping)
        candidates = [v.obj for v in target.vma_interval_tree_foreach(m, pgoff, pgoff)]
    owners = mm_owners(prog)
    seen = set()
    for obj in candidates:
        vma = target.vma(obj)
        addr = vma.vm_start + ((pgoff - vma.vm_pgoff) << target.arch.page_shift)  # vma_address()
        if not vma.vm_start <= addr < vma.vm_end or (vma.address, addr) in seen:
            continue
        seen.add((vma.address, addr))
        check = _PageCheck(pfn)
        walk_page_range_vma(vma, addr, addr + target.arch.page_size, CHECK_OPS, check)
        if check.hit is None:
            continue
        level, val = check.hit
        arch = target.arch
        for pid, comm in owners.get(vma.mm.address, [(None, "?")]):
            rows.append((pid, comm, addr, pfn, level, arch.pte_write(val),
                         arch.pte_dirty(val), arch.pte_young(val),
                         "anon" if mapping & PAGE_MAPPING_ANON else "file page"))
    rows.sort(key=lambda r: (r[0] if r[0] is not None else -1, r[2]))
    return rows, info
