"""/proc/PID/pagemap: pagemap_read()'s walk in fs/proc/task_mmu.c, 6.1 and
6.12 (chosen by the dump's kernel version), read as root (PFNs shown).

The ops are the kernel's: pmd_entry = pagemap_pmd_range, pte_hole =
pagemap_pte_hole, hugetlb_entry = pagemap_hugetlb_range.
"""

from __future__ import annotations

import operator
import sys
from array import array
from itertools import chain, compress, repeat
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from ..arch.base import PMD
from ..target.drgn_target import get_target
from ..target.base import VM_SOFTDIRTY
from ..walker.walk import MmWalk, MmWalkOps, walk_page_range
from .page import (
    PAGE_MAPPING_ANON,
    PageAnon,
    entry_page,
    PageCache,
    PageInfo,
    folio_likely_mapped_shared,
    folio_precise_page_mapcount,
    folio_test_large,
    hugetlb_pmd_shared,
    normal_fields,
    order0_stretches,
    page_mapcount,
    page_mapcount_is_type,
    pmd_trans_huge_lock,
    pte_offset_map_lock,
    vm_normal_page,
)

PM_PFRAME_BITS = 55
PM_PFRAME_MASK = (1 << PM_PFRAME_BITS) - 1
PM_SOFT_DIRTY = 1 << 55
PM_MMAP_EXCLUSIVE = 1 << 56
PM_UFFD_WP = 1 << 57
PM_GUARD_REGION = 1 << 58  # 6.15 on (KernelFeatures.pagemap_guard_region)
PM_FILE = 1 << 61
PM_SWAP = 1 << 62
PM_PRESENT = 1 << 63
MAX_SWAPFILES_SHIFT = 5
#: the PTE marker bits in a marker entry's offset (include/linux/swapops.h;
#: 7.x leafops.h): uffd-wp (5.19 on), poisoned (6.6 on), guard (6.13 on)
PTE_MARKER_UFFD_WP = 1 << 0
PTE_MARKER_GUARD = 1 << 2


class PagemapRead:
    """struct pagemapread: the entries gathered so far."""

    def __init__(self, prog: Any, arch: Any) -> None:
        #: (vaddr, entry, pages): ``pages`` equal entries from vaddr on
        self.buffer: List[Tuple[int, int, int]] = []
        self.show_pfn = True  # read as root (CAP_SYS_ADMIN)
        self.arch = arch
        #: PAGE_SHIFT, PAGE_SIZE and HPAGE_PMD_SIZE of the dump's kernel
        self.page_shift = arch.page_shift
        self.page_size = arch.page_size
        self.hpage_pmd_size = 1 << arch.shifts[PMD]
        #: the folio-based pagemap of 6.12 on (kernel.py: large_mapcount):
        #: folio_precise_page_mapcount(), pfn swap pmds
        self.folio_mapcounts = get_target(prog).kernel.large_mapcount
        self.max_swapfiles = arch.max_swapfiles
        self.swap = arch.swap
        k = get_target(prog).kernel
        #: PM_GUARD_REGION for guard markers (kernel.py)
        self.guard_region = k.pagemap_guard_region
        #: a PMD-mapped THP's PM_MMAP_EXCLUSIVE from its first page (7.x)
        self.pmd_exclusive_first_page = k.pagemap_pmd_exclusive_first_page
        self.pages = PageCache(prog)
        #: PG_head: a page of a large folio (with compound_head's tail bit)
        self.m_head = 1 << self.pages.bit("PG_head")


def make_pme(frame: int, flags: int) -> int:
    """make_pme()."""
    return (frame & PM_PFRAME_MASK) | flags


def add_to_pagemap(addr: int, pme: int, pm: PagemapRead) -> int:
    """add_to_pagemap(): DUMP: no user buffer to fill, so never "full"."""
    pm.buffer.append((addr, pme, 1))
    return 0


def add_run_to_pagemap(addr: int, pme: int, pages: int, pm: PagemapRead) -> int:
    """``pages`` calls of add_to_pagemap() with the same entry at
    consecutive addresses (a hole), kept as one item: DUMP: what the kernel
    copies to the reader page by page is expanded only when written, so a
    sparse address space costs its tables, not its span."""
    if not pages:
        return 0
    buffer = pm.buffer
    if buffer:
        a, e, n = buffer[-1]
        if e == pme and a + (n << pm.page_shift) == addr:  # the same hole goes on
            buffer[-1] = (a, e, n + pages)
            return 0
    buffer.append((addr, pme, pages))
    return 0


def pagemap_pte_hole(start: int, end: int, depth: int, walk: MmWalk) -> int:
    """pagemap_pte_hole(): an empty entry per page, soft-dirty inside a
    VM_SOFTDIRTY vma (each stretch added as one run)."""
    pm: PagemapRead = walk.private
    addr = start
    target = walk.target
    shift = pm.page_shift
    while addr < end:
        vma = target.find_vma(walk.mm, addr)
        pme = make_pme(0, 0)
        hole_end = min(end, vma.vm_start) if vma else end
        if addr < hole_end:
            add_run_to_pagemap(addr, pme, (hole_end - addr) >> shift, pm)
            addr = hole_end
        if not vma:
            break
        if vma.vm_flags & VM_SOFTDIRTY:
            pme = make_pme(0, PM_SOFT_DIRTY)
        stop = min(end, vma.vm_end)
        if addr < stop:
            add_run_to_pagemap(addr, pme, (stop - addr) >> shift, pm)
            addr = stop
    return 0


def is_migration_entry(swap: Any, swp_type: int) -> bool:
    """is_migration_entry() (7.x softleaf_is_migration()): the migration
    types after SWP_HWPOISON (arch.base.SwapTypes)."""
    return swap.is_migration_entry(swp_type)


def is_pfn_swap_entry(swap: Any, swp_type: int) -> bool:
    """is_pfn_swap_entry() (7.x softleaf_has_pfn()): migration, device
    private/exclusive and hwpoison entries (arch.base.SwapTypes)."""
    return swap.is_pfn_swap_entry(swp_type)


def swp_offset_pfn(arch: Any, offset: int) -> int:
    """swp_offset_pfn(): the PFN of a pfn swap entry, without the migration
    entry's young/dirty bits above SWP_PFN_BITS (MAX_PHYSMEM_BITS -
    PAGE_SHIFT; Arch.max_physmem_bits)."""
    bits = arch.max_physmem_bits - arch.page_shift
    return offset & ((1 << bits) - 1)


def _is_migration(pm: PagemapRead, swp_type: int) -> bool:
    return is_migration_entry(pm.swap, swp_type)


def pte_to_pagemap_entry(pm: PagemapRead, vma: Any, addr: int, pte: int,
                         walk: Optional[MmWalk] = None) -> int:
    """pte_to_pagemap_entry().  ``walk``: where bad entries are reported."""
    arch = pm.arch
    frame = flags = 0
    page: Optional[PageInfo] = None
    migration = False
    if arch.pte_present(pte):
        if pm.show_pfn:
            frame = arch.pte_pfn(pte)
        flags |= PM_PRESENT
        page = vm_normal_page(pm.pages, arch, vma, pte, walk, addr)
        if arch.pte_soft_dirty(pte):
            flags |= PM_SOFT_DIRTY
        if arch.pte_uffd_wp(pte):
            flags |= PM_UFFD_WP
    elif arch.is_swap_pte(pte):
        if arch.pte_swp_soft_dirty(pte):
            flags |= PM_SOFT_DIRTY
        if arch.pte_swp_uffd_wp(pte):
            flags |= PM_UFFD_WP
        swp_type, offset = arch.swp_type_offset(pte)
        pfn_entry = is_pfn_swap_entry(pm.swap, swp_type)
        if pfn_entry:
            offset = swp_offset_pfn(arch, offset)
        if pm.show_pfn:
            frame = swp_type | (offset << MAX_SWAPFILES_SHIFT)
        flags |= PM_SWAP
        migration = _is_migration(pm, swp_type)
        if pfn_entry:
            page = entry_page(pm.pages, offset, walk, "pte", addr, pte)
        if pm.swap.is_pte_marker_entry(swp_type):
            if offset & PTE_MARKER_UFFD_WP:  # pte_marker_entry_uffd_wp()
                flags |= PM_UFFD_WP
            if pm.guard_region and offset & PTE_MARKER_GUARD:  # softleaf_is_guard_marker()
                flags |= PM_GUARD_REGION
    if page is not None:
        if not PageAnon(pm.pages, page):
            flags |= PM_FILE
        if pm.folio_mapcounts:
            folio = pm.pages.head(page)
            if flags & PM_PRESENT and folio_precise_page_mapcount(pm.pages, folio, page) == 1:
                flags |= PM_MMAP_EXCLUSIVE
        elif not migration and page_mapcount(pm.pages, page) == 1:
            flags |= PM_MMAP_EXCLUSIVE
    if vma.vm_flags & VM_SOFTDIRTY:
        flags |= PM_SOFT_DIRTY
    return make_pme(frame, flags)


def pagemap_pmd_range(pmdp: Any, addr: int, end: int, walk: MmWalk) -> int:
    """pagemap_pmd_range()."""
    vma = walk.vma
    pm: PagemapRead = walk.private
    pmd = pmdp.val
    # pmd_trans_huge_lock(): a huge or migration pmd is handled here.
    if pmd_trans_huge_lock(walk, pmdp, addr):
        return _pagemap_huge_pmd(pm, vma, pmd, addr, end, walk)
    pte = pte_offset_map_lock(walk, pmdp, addr)
    if pte is None:
        return 0
    vals = pte.table.vals
    first = pte.index
    shift = pm.page_shift
    last = first + ((end - addr) >> shift)
    # for (; addr < end; pte++, addr += PAGE_SIZE): a zero PTE gives the
    # same entry as the others of the vma (soft-dirty or not), so runs of
    # them are added at once and only the others decoded.
    none = make_pme(0, PM_SOFT_DIRTY if vma.vm_flags & VM_SOFTDIRTY else 0)
    used = list(compress(range(first, last), vals[first:last]))
    entries = None
    if len(used) == last - first:
        entries = _pagemap_entries_runs(pm, vma, vals, first, last)
    if entries is None and used:
        entries = _pagemap_entries_bulk(pm, vma, vals, used, first, addr, walk)
    if entries is None:
        # the per-entry path: each entry by pte_to_pagemap_entry()
        at = first
        pm.pages.prefetch(pm.arch.present_pfns(vals, used))  # as used_ptes() does
        for i in used:
            add_run_to_pagemap(addr + ((at - first) << shift), none, i - at, pm)
            a = addr + ((i - first) << shift)
            add_to_pagemap(a, pte_to_pagemap_entry(pm, vma, a, vals[i], walk), pm)
            at = i + 1
        add_run_to_pagemap(addr + ((at - first) << shift), none, last - at, pm)
        return 0
    # the same items as the loop above: a run of zero PTEs before each
    # stretch of used ones, then one item per used PTE (added in C)
    at = first
    base = addr - (first << shift)
    breaks = list(compress(range(1, len(used)),
                           map(operator.ne, used[1:], map((1).__add__, used))))
    lo = 0
    for hi in breaks + [len(used)]:
        i = used[lo]
        add_run_to_pagemap(base + (at << shift), none, i - at, pm)
        j = used[hi - 1] + 1
        pm.buffer.extend(zip(range(base + (i << shift), base + (j << shift), pm.page_size),
                             entries[lo:hi], repeat(1)))
        at = j
        lo = hi
    add_run_to_pagemap(base + (at << shift), none, last - at, pm)
    return 0


def _order0_pme_flags(pm: PagemapRead, vma_flags: int, anon: int, mapcount: int,
                      bits: int) -> int:
    """pte_to_pagemap_entry()'s flags for a present PTE (its soft-dirty
    and uffd-wp bits ``bits``) of an order-0 page (mapping bit 0 ``anon``,
    raw _mapcount ``mapcount``) in a vma with ``vma_flags``."""
    arch = pm.arch
    flags = PM_PRESENT | vma_flags
    if arch.pte_soft_dirty(bits):
        flags |= PM_SOFT_DIRTY
    if arch.pte_uffd_wp(bits):
        flags |= PM_UFFD_WP
    if not anon:
        flags |= PM_FILE
    # folio_precise_page_mapcount() (6.12 on) and page_mapcount()
    # (6.1) of an order-0 page: _mapcount + 1, 0 for a page type
    mapcount += 1
    if pm.folio_mapcounts and page_mapcount_is_type(mapcount):
        mapcount = 0
    if mapcount == 1:
        flags |= PM_MMAP_EXCLUSIVE
    return flags


def _pagemap_entries_runs(pm: PagemapRead, vma: Any, vals: Any, first: int,
                          last: int) -> Optional[List[int]]:
    """_pagemap_entries_bulk() where every PTE of [first, last) is normal
    and maps an order-0 page, their PFNs in runs (order0_stretches()): the
    flags made once per stretch of one class and or'ed into the PFNs in
    C.  None, having done nothing, where that does not hold."""
    found = order0_stretches(pm.pages, pm.arch, vals, first, last, pm.m_head,
                             pm.arch.pagemap_bits_mask())
    if found is None:
        return None
    at, keys, pfns = found
    vma_flags = PM_SOFT_DIRTY if vma.vm_flags & VM_SOFTDIRTY else 0
    flags = array("Q")
    for (head, mapping, mapcount, _, tail, bits), a, b in zip(keys, at, at[1:] + [last - first]):
        if head or tail:
            return None  # a page of a large folio: the caller's way
        flags.extend(array("Q", [_order0_pme_flags(pm, vma_flags, mapping & PAGE_MAPPING_ANON,
                                                   mapcount, bits)]) * (b - a))
    return list(map(operator.or_, pfns, flags))


def _pagemap_entries_bulk(pm: PagemapRead, vma: Any, vals: Any, used: List[int],
                          first: int, addr: int, walk: MmWalk) -> Optional[List[int]]:
    """pte_to_pagemap_entry() of the used (not zero) PTEs ``used`` of one
    table, in their order, without per-entry Python for the present, not
    special PTEs of order-0 pages: such an entry is its PFN or'ed with
    flags that depend only on the page's mapping bit 0 (PM_FILE), its
    _mapcount (PM_MMAP_EXCLUSIVE), the PTE's soft-dirty and uffd-wp bits
    and the vma's VM_SOFTDIRTY, so the flags are made once per class of
    equal values (found in C) and or'ed in C.  Pages of large folios and
    the other entries (swap, special, PROT_NONE ...) go through
    pte_to_pagemap_entry().  None, having done nothing, when a PFN has no
    struct page read (above highest_memmap_pfn, or not in the dump): the
    caller then takes the per-entry path, which reports them."""
    arch = pm.arch
    pages = pm.pages
    normal, pfns, others = arch.normal_ptes(vals, used)
    if not normal:
        return None
    raws = normal_fields(pages, pfns)
    if raws is None:
        return None
    f = pages.field
    bits_mask = arch.pagemap_bits_mask()
    keys = list(zip(map(pm.m_head.__and__, map(f["flags"], raws)),
                    map((1).__and__, map(f["compound_head"], raws)),
                    map(PAGE_MAPPING_ANON.__and__, map(f["mapping"], raws)),
                    map(f["_mapcount"], raws),
                    map(bits_mask.__and__, map(vals.__getitem__, normal))))
    vma_flags = PM_SOFT_DIRTY if vma.vm_flags & VM_SOFTDIRTY else 0
    classes: Dict[tuple, int] = {}
    large = False
    for key in set(keys):
        head, tail, anon, mapcount, bits = key
        if head or tail:
            large = True
            classes[key] = -1
            continue
        classes[key] = _order0_pme_flags(pm, vma_flags, anon, mapcount, bits)
    by_index = dict(zip(normal, map(operator.or_, pfns, map(classes.__getitem__, keys))))
    if large:
        others = sorted(others + [i for i, k in zip(normal, keys) if classes[k] < 0])
    if others:
        pages.prefetch(arch.present_pfns(vals, others))
        for i in others:
            a = addr + ((i - first) << pm.page_shift)
            by_index[i] = pte_to_pagemap_entry(pm, vma, a, vals[i], walk)
    return list(map(by_index.__getitem__, used))


def _pagemap_huge_pmd(pm: PagemapRead, vma: Any, pmd: int, addr: int,
                      end: int, walk: MmWalk) -> int:
    """The pmd_trans_huge_lock() branch of pagemap_pmd_range()."""
    arch = pm.arch
    flags = frame = 0
    page = None
    migration = False
    idx = (addr & (pm.hpage_pmd_size - 1)) >> pm.page_shift
    if vma.vm_flags & VM_SOFTDIRTY:
        flags |= PM_SOFT_DIRTY
    if arch.pmd_present(pmd):
        # pmd_page(): the head
        page = entry_page(pm.pages, arch.pmd_pfn(pmd), walk, "pmd", addr, pmd)
        flags |= PM_PRESENT
        if arch.pte_soft_dirty(pmd):
            flags |= PM_SOFT_DIRTY
        if arch.pte_uffd_wp(pmd):
            flags |= PM_UFFD_WP
        if pm.show_pfn:
            frame = arch.pmd_pfn(pmd) + idx
    elif not pm.folio_mapcounts and not arch.is_swap_pmd(pmd):
        pass
    else:
        swp_type, offset = arch.swp_type_offset(pmd)
        if is_pfn_swap_entry(pm.swap, swp_type):
            offset = swp_offset_pfn(arch, offset)
        if pm.show_pfn:
            frame = swp_type | ((offset + idx) << MAX_SWAPFILES_SHIFT)
        flags |= PM_SWAP
        if arch.pte_swp_soft_dirty(pmd):
            flags |= PM_SOFT_DIRTY
        if arch.pte_swp_uffd_wp(pmd):
            flags |= PM_UFFD_WP
        migration = _is_migration(pm, swp_type)
        page = entry_page(pm.pages, offset, walk, "pmd", addr, pmd)
    per_page = False
    if page is not None:
        if not PageAnon(pm.pages, page):
            flags |= PM_FILE
        if pm.folio_mapcounts:
            # 6.12 on: each entry's own page decides (present pmds only)
            per_page = bool(flags & PM_PRESENT)
            if per_page:
                # the folio's HPAGE_PMD_NR struct pages, read at once
                # (page() decodes them)
                pm.pages.read(page.pfn, pm.hpage_pmd_size >> pm.page_shift)
        elif not migration and page_mapcount(pm.pages, page) == 1:
            flags |= PM_MMAP_EXCLUSIVE
    if _huge_entries_bulk(pm, page, frame, flags, per_page, addr, end, idx):
        return 0
    while addr != end:
        cur = flags
        if per_page:
            # 7.x: __folio_page_mapped_exclusively(folio, page), the first
            # page for every entry; 6.12: page + idx
            sub = pm.pages.page(page.pfn + (0 if pm.pmd_exclusive_first_page else idx))
            if folio_precise_page_mapcount(pm.pages, page, sub) == 1:
                cur |= PM_MMAP_EXCLUSIVE
        add_to_pagemap(addr, make_pme(frame, cur), pm)
        if pm.show_pfn:
            if flags & PM_PRESENT:
                frame += 1
            elif flags & PM_SWAP:
                frame += 1 << MAX_SWAPFILES_SHIFT
        addr += pm.page_size
        idx += 1
    return 0


def _huge_entries_bulk(pm: PagemapRead, page: Optional[PageInfo], frame: int, flags: int,
                       per_page: bool, addr: int, end: int, idx: int) -> bool:
    """The loop of _pagemap_huge_pmd() in C: the frame goes up by one page
    (present) or one swap offset (swap) per entry, so the entries are a
    range; PM_MMAP_EXCLUSIVE per page (per_page) from the folio's
    mapcounts.  False, having done nothing, when a frame would pass
    PM_PFRAME_MASK (make_pme() masks it): the loop then makes them."""
    nr = (end - addr) >> pm.page_shift
    step = 0
    if pm.show_pfn:
        if flags & PM_PRESENT:
            step = 1
        elif flags & PM_SWAP:
            step = 1 << MAX_SWAPFILES_SHIFT
    entries = _entry_range(frame, flags, nr, step)
    if entries is None:
        return False
    if per_page:
        assert page is not None
        if pm.pmd_exclusive_first_page:
            # 7.x: the first page's mapcount for every entry
            if folio_precise_page_mapcount(pm.pages, page, pm.pages.page(page.pfn)) == 1:
                entries = map(PM_MMAP_EXCLUSIVE.__or__, entries)
        else:
            entries = map(operator.or_, entries, _exclusive_subpages(pm, page, idx, nr))
    pm.buffer.extend(zip(range(addr, end, pm.page_size), entries, repeat(1)))
    return True


def _entry_range(frame: int, flags: int, nr: int, step: int) -> Optional[Iterable[int]]:
    """make_pme(frame + k * step, flags) for k in range(nr), as a range;
    None when a frame would pass PM_PFRAME_MASK (make_pme() masks it)."""
    if not step:
        return repeat(make_pme(frame, flags), nr)
    if 0 <= frame and frame + (nr - 1) * step <= PM_PFRAME_MASK:
        first = frame | flags
        return range(first, first + nr * step, step)
    return None


def _exclusive_subpages(pm: PagemapRead, head: PageInfo, idx: int, nr: int) -> Iterator[int]:
    """PM_MMAP_EXCLUSIVE or 0 for the pages [idx, idx + nr) of the large
    folio ``head`` (read above): folio_precise_page_mapcount() == 1, i.e.
    the page's _mapcount + 1 (0 for a page type) plus the folio's entire
    mapcount, in C."""
    pages = pm.pages
    raws = map(pages.raw.__getitem__, range(head.pfn + idx, head.pfn + idx + nr))
    mapcounts = list(map((1).__add__, map(pages.field["_mapcount"], raws)))
    if page_mapcount_is_type(min(mapcounts)):  # one of them is a page type
        mapcounts = [0 if page_mapcount_is_type(m) else m for m in mapcounts]
    entire = pages.folio_entire_mapcount(head) if folio_test_large(pages, head) else 0
    return map({1 - entire: PM_MMAP_EXCLUSIVE}.get, mapcounts, repeat(0))


def pagemap_hugetlb_range(ptep: Any, hmask: int, addr: int, end: int,
                          walk: MmWalk) -> int:
    """pagemap_hugetlb_range()."""
    pm: PagemapRead = walk.private
    vma = walk.vma
    arch = walk.arch
    flags = frame = 0
    if vma.vm_flags & VM_SOFTDIRTY:
        flags |= PM_SOFT_DIRTY
    pte = ptep.val
    if arch.pte_present(pte):
        page = entry_page(pm.pages, arch.leaf_pfn(ptep.level, pte), walk,
                          ptep.level_name, addr, pte)
        if page is None:
            pass  # DUMP: no struct page (reported): no page flags
        elif not PageAnon(pm.pages, page):
            flags |= PM_FILE
        if page is None:
            pass
        elif pm.folio_mapcounts:
            folio = pm.pages.head(page)
            if (not folio_likely_mapped_shared(pm.pages, folio)
                    and not hugetlb_pmd_shared(pm.pages, ptep.phys)):
                flags |= PM_MMAP_EXCLUSIVE
        elif page_mapcount(pm.pages, page) == 1:
            flags |= PM_MMAP_EXCLUSIVE
        if arch.pte_uffd_wp(pte):
            flags |= PM_UFFD_WP
        flags |= PM_PRESENT
        if pm.show_pfn:
            frame = arch.leaf_pfn(ptep.level, pte) + ((addr & ~hmask) >> pm.page_shift)
    elif arch.is_swap_pte(pte) and arch.pte_swp_uffd_wp(pte):
        flags |= PM_UFFD_WP  # pte_swp_uffd_wp_any()
    if _hugetlb_entries_bulk(pm, frame, flags, addr, end):
        return 0
    while addr != end:
        add_to_pagemap(addr, make_pme(frame, flags), pm)
        if pm.show_pfn and flags & PM_PRESENT:
            frame += 1
        addr += pm.page_size
    return 0


def _hugetlb_entries_bulk(pm: PagemapRead, frame: int, flags: int, addr: int,
                          end: int) -> bool:
    """The loop of pagemap_hugetlb_range() in C: the frame goes up by one
    per entry when present, so the entries are a range.  False, having
    done nothing, when a frame would pass PM_PFRAME_MASK."""
    step = 1 if pm.show_pfn and flags & PM_PRESENT else 0
    entries = _entry_range(frame, flags, (end - addr) >> pm.page_shift, step)
    if entries is None:
        return False
    pm.buffer.extend(zip(range(addr, end, pm.page_size), entries, repeat(1)))
    return True


PAGEMAP_OPS = MmWalkOps(pmd_entry=pagemap_pmd_range, pte_hole=pagemap_pte_hole,
                        hugetlb_entry=pagemap_hugetlb_range)


#: Addresses walked per chunk by pagemap_chunks(): bounded memory per chunk.
CHUNK = 64 << 20


def pagemap_chunks(task: Any, start: Optional[int] = None,
                   end: Optional[int] = None) -> Iterator[List[Tuple[int, int, int]]]:
    """The /proc/PID/pagemap entries of [start, end), as pagemap_read()
    fills its buffer: a list of (vaddr, entry, pages) per chunk of at most
    CHUNK bytes of address space (``pages`` > 1: that many pages with the
    same entry, a hole), so that a caller writing them out never holds
    more than one chunk.

    By default every page of every vma, vma by vma (the pages a reader of
    pagemap would look at); with a range, every page in it, holes included.
    """
    prog = task.prog_
    target = get_target(prog)
    mm = target.mm(task.mm)
    task_size = mm.obj.task_size.value_()
    page_mask = target.arch.page_size - 1
    if start is None and end is None:
        ranges = [(vma.vm_start, vma.vm_end) for vma in target.vmas(mm)
                  if vma.vm_start < task_size]
    else:
        start = (start or 0) & ~page_mask
        end = task_size if end is None else min((end + page_mask) & ~page_mask, task_size)
        ranges = [(start, end)] if start < end else []
    pm = PagemapRead(prog, target.arch)
    for lo, hi in ranges:
        # pagemap_read() also walks in pieces aligned to PAGEMAP_WALK_SIZE.
        addr = lo
        while addr < hi:
            next = min((addr + CHUNK) & ~(CHUNK - 1), hi)
            walk_page_range(mm, addr, next, PAGEMAP_OPS, pm)
            if pm.buffer:
                yield pm.buffer
                pm.buffer = []
            addr = next


def pagemap(task: Any, start: Optional[int] = None,
            end: Optional[int] = None) -> List[Tuple[int, int]]:
    """Every entry of pagemap_chunks() in one list, page by page."""
    shift = get_target(task.prog_).arch.page_shift
    out: List[Tuple[int, int]] = []
    for chunk in pagemap_chunks(task, start, end):
        for a, e, n in chunk:
            if n == 1:
                out.append((a, e))
            else:
                out.extend((a + (i << shift), e) for i in range(n))
    return out


#: the low six hex digits of the 4096 page addresses of a 16 MiB block
_LOWS = [f"{i << 12:06x}" for i in range(4096)]


def _run_lines(addr: int, entry: int, pages: int, page_shift: int = 12) -> str:
    """``pages`` lines ``VADDR ENTRY`` from addr on, all with ``entry``:
    with 4 KiB pages whole 16 MiB blocks are one str.join of precomputed
    address tails; other page sizes a line per page."""
    tail = f" {entry:016x}\n"
    end = addr + (pages << page_shift)
    if page_shift != 12:
        return "".join(map(f"{{:x}}{tail}".format, range(addr, end, 1 << page_shift)))
    parts = []
    while addr < end:
        block = addr >> 24
        if block and not addr & 0xFFFFFF and addr + (1 << 24) <= end:
            head = f"{block:x}"
            parts.append(head + (tail + head).join(_LOWS) + tail)
            addr += 1 << 24
        else:
            parts.append(f"{addr:x}{tail}")
            addr += 1 << 12
    return "".join(parts)


def format_pagemap(entries: List[Tuple[int, int, int]], page_shift: int = 12) -> str:
    """One ``VADDR ENTRY`` line per page (of 1 << ``page_shift`` bytes),
    the lab's ground-truth format: runs of equal entries by _run_lines(),
    the stretches of one-page items between them by _page_lines()."""
    runs = list(compress(range(len(entries)), map((1).__ne__, map(_PAGES, entries))))
    parts = []
    lo = 0
    for k in runs + [len(entries)]:
        if k > lo:
            parts.append(_page_lines(entries[lo:k]))
        if k < len(entries):
            parts.append(_run_lines(*entries[k], page_shift))
        lo = k + 1
    return "".join(parts)


_ADDR = operator.itemgetter(0)
_ENTRY = operator.itemgetter(1)
_PAGES = operator.itemgetter(2)


def _page_lines(items: List[Tuple[int, int, int]]) -> str:
    """The lines of one-page items, in C: the entries as one hex string of
    big-endian words split at each word; the addresses, where they are
    consecutive pages (pagemap_chunks() gives them so), as a 16 MiB block's
    head digits and its precomputed low six (_LOWS)."""
    words = array("Q", map(_ENTRY, items))
    if sys.byteorder == "little":
        words.byteswap()
    hexes = words.tobytes().hex(" ", 8).split(" ")
    first = items[0][0]
    if items[-1][0] != first + ((len(items) - 1) << 12) or first & 0xFFF:
        return "".join(map("{:x} {}\n".format, map(_ADDR, items), hexes))
    addrs = _addr_texts(first, len(items))
    return "".join(chain.from_iterable(zip(addrs, repeat(" "), hexes, repeat("\n"))))


def _addr_texts(first: int, n: int) -> List[str]:
    """The ``n`` page addresses from ``first`` on (page aligned) in hex,
    without "0x": a 16 MiB block's head digits and the precomputed low six
    of each page (_LOWS)."""
    addrs: List[str] = []
    addr, end = first, first + (n << 12)
    while addr < end:
        block = addr >> 24
        stop = min(end, (block + 1) << 24)
        lo, hi = (addr & 0xFFFFFF) >> 12, ((stop - 1) & 0xFFFFFF) >> 12
        if block:
            addrs.extend(map(f"{block:x}".__add__, _LOWS[lo:hi + 1]))
        else:
            addrs.extend(map("{:x}".format, range(addr, stop, 4096)))
        addr = stop
    return addrs


def pagemap_text_chunks(task: Any, start: Optional[int] = None,
                        end: Optional[int] = None) -> Iterator[str]:
    """pagemap_chunks() as text, a chunk at a time: format_pagemap()."""
    shift = get_target(task.prog_).arch.page_shift
    return (format_pagemap(c, shift) for c in pagemap_chunks(task, start, end))


def show_pagemap(task: Any, start: Optional[int] = None,
                 end: Optional[int] = None) -> str:
    """pagemap() as text: format_pagemap()."""
    return "".join(pagemap_text_chunks(task, start, end))


def _entry_texts(entry: int, yes: str, no: str, none: str) -> Tuple[str, ...]:
    """decode_pagemap_entry() as the texts of one output line: booleans as
    ``yes``/``no``, fields that do not apply as ``none``."""
    frame = entry & PM_PFRAME_MASK
    if entry & PM_SWAP:
        swap, swp_type = yes, str(frame & ((1 << MAX_SWAPFILES_SHIFT) - 1))
        swp_offset = str(frame >> MAX_SWAPFILES_SHIFT)
    else:
        swap, swp_type, swp_offset = no, none, none
    present, pfn = (yes, str(frame)) if entry & PM_PRESENT else (no, none)
    return (present, swap, pfn, swp_type, swp_offset,
            yes if entry & PM_SOFT_DIRTY else no,
            yes if entry & PM_MMAP_EXCLUSIVE else no,
            yes if entry & PM_FILE else no)


def _pagemap_table_line(item: Tuple[int, int, int]) -> str:
    vaddr, entry, pages = item
    present, swap, pfn, swp_type, swp_offset, sd, ex, file = \
        _entry_texts(entry, "yes", "no", "-")
    return (f"{vaddr:<#18x}  {pages:<9}  {entry:<#18x}  {present:<7}  {swap:<4}  "
            f"{pfn:<17}  {swp_type:<9}  {swp_offset:<11}  {sd:<10}  {ex:<9}  {file}")


def _pagemap_json_line(item: Tuple[int, int, int]) -> str:
    vaddr, entry, pages = item
    present, swap, pfn, swp_type, swp_offset, sd, ex, file = \
        _entry_texts(entry, "true", "false", "null")
    return (f'{{"vaddr": {vaddr}, "pages": {pages}, "entry": {entry}, '
            f'"present": {present}, "swap": {swap}, "pfn": {pfn}, '
            f'"swap_type": {swp_type}, "swap_offset": {swp_offset}, '
            f'"soft_dirty": {sd}, "exclusive": {ex}, "file": {file}}}')


#: flag bits (entry >> 55) -> the text of a line before and after its PFN
#: field, for entries that are not swap entries (only the PFN varies)
_TABLE_PARTS: Dict[int, Tuple[str, str]] = {}
_JSON_PARTS: Dict[int, Tuple[str, str]] = {}
#: flag bits -> the %-format of a one-page present row: vaddr, entry, PFN
#: (one % of three numbers costs about 60% of an f-string with three
#: padded fields, and these are most rows)
_TABLE_PAGE_FORMATS: Dict[int, str] = {}


def _table_parts(entry: int) -> Tuple[str, str]:
    flags = entry >> PM_PFRAME_BITS
    parts = _TABLE_PARTS.get(flags)
    if parts is None:
        present, swap, _, swp_type, swp_offset, sd, ex, file = \
            _entry_texts(entry, "yes", "no", "-")
        parts = _TABLE_PARTS[flags] = (
            f"  {present:<7}  {swap:<4}  ",
            f"  {swp_type:<9}  {swp_offset:<11}  {sd:<10}  {ex:<9}  {file}")
        _TABLE_PAGE_FORMATS[flags] = ("%-#18x  1          %-#18x" + parts[0].replace("%", "%%")
                                      + "%-17d" + parts[1].replace("%", "%%"))
    return parts


def pagemap_table_line(item: Tuple[int, int, int]) -> str:
    """One (vaddr, entry, pages) as the table line report.write_table_stream()
    would make of [vaddr, pages, entry, *decode_pagemap_entry(entry)] with
    the widths of commands.PAGEMAP_WIDTHS, in one step (millions of rows):
    the text around the numbers is made once per set of flag bits."""
    vaddr, entry, pages = item
    if entry & PM_SWAP:
        return _pagemap_table_line(item)
    if pages == 1 and entry & PM_PRESENT:  # most rows: one present page
        fmt = _TABLE_PAGE_FORMATS.get(entry >> PM_PFRAME_BITS)
        if fmt is None:
            _table_parts(entry)
            fmt = _TABLE_PAGE_FORMATS[entry >> PM_PFRAME_BITS]
        return fmt % (vaddr, entry, entry & PM_PFRAME_MASK)
    parts = _table_parts(entry)
    pfn = entry & PM_PFRAME_MASK if entry & PM_PRESENT else "-"
    return f"{vaddr:<#18x}  {pages:<9}  {entry:<#18x}{parts[0]}{pfn:<17}{parts[1]}"


def pagemap_json_line(item: Tuple[int, int, int]) -> str:
    """One (vaddr, entry, pages) as the JSON object write_json_stream()
    would write for it (json.dumps of the row's dict), in one step."""
    vaddr, entry, pages = item
    if entry & PM_SWAP:
        return _pagemap_json_line(item)
    parts = _json_parts(entry)
    pfn = entry & PM_PFRAME_MASK if entry & PM_PRESENT else "null"
    return f'{{"vaddr": {vaddr}, "pages": {pages}, "entry": {entry}{parts[0]}{pfn}{parts[1]}'


def _json_parts(entry: int) -> Tuple[str, str]:
    """A JSON row's text before and after its PFN, for entries that are not
    swap entries, made once per set of flag bits."""
    flags = entry >> PM_PFRAME_BITS
    parts = _JSON_PARTS.get(flags)
    if parts is None:
        present, swap, _, swp_type, swp_offset, sd, ex, file = \
            _entry_texts(entry, "true", "false", "null")
        parts = _JSON_PARTS[flags] = (
            f', "present": {present}, "swap": {swap}, "pfn": ',
            f', "swap_type": {swp_type}, "swap_offset": {swp_offset}, '
            f'"soft_dirty": {sd}, "exclusive": {ex}, "file": {file}}}')
    return parts


def _page_formats(items: List[Tuple[int, int, int]], sep: str, line: Any,
                  parts: Any, block: Any) -> str:
    """The lines of ``items`` by ``line`` (pagemap_table_line() or
    pagemap_json_line()) joined by ``sep``, made in C for each stretch of
    one-page present entries with the same flags by ``block`` (the
    stretch's items and entries, the parts of a line around its PFN made
    by ``parts``, ``sep``: their text)."""
    entries = list(map(_ENTRY, items))
    n = len(entries)
    if not n:
        return ""
    flags = list(map(PM_PFRAME_BITS.__rrshift__, entries))
    cuts = list(compress(range(1, n), map(operator.ne, flags[1:], flags)))
    out: List[str] = []
    for a, b in zip([0] + cuts, cuts + [n]):
        if flags[a] << PM_PFRAME_BITS & (PM_PRESENT | PM_SWAP) != PM_PRESENT \
                or set(map(_PAGES, items[a:b])) != {1}:
            out.extend(map(line, items[a:b]))
        else:
            out.append(block(items[a:b], entries[a:b], parts(entries[a]), sep))
    return sep.join(out)


def _consecutive(items: List[Tuple[int, int, int]]) -> bool:
    """Whether the items are of consecutive pages (page aligned)."""
    vaddr = items[0][0]
    return items[-1][0] == vaddr + ((len(items) - 1) << 12) and not vaddr & 0xFFF


def _table_page_percent(items: List[Tuple[int, int, int]], entries: List[int],
                        sep: str) -> str:
    """The table lines of one-page present entries with the same flags by
    the %-format pagemap_table_line() uses (made by _table_parts())."""
    fmt = _TABLE_PAGE_FORMATS[entries[0] >> PM_PFRAME_BITS]
    return sep.join(map(fmt.__mod__, zip(map(_ADDR, items), entries,
                                         map(PM_PFRAME_MASK.__and__, entries))))


def _table_page_block(items: List[Tuple[int, int, int]], entries: List[int],
                      parts: Tuple[str, str], sep: str) -> str:
    """The table lines of one-page present entries with the same flags at
    consecutive pages, as one text, without a format per line: the
    addresses as _page_lines() makes them; each entry, bit 63 set, is "0x"
    and 16 hex digits (18: no padding); the PFNs in decimal, padded once
    where they have the same number of digits.  Where the PFNs' widths
    differ or the pages are not consecutive, a %-format per line (the
    one pagemap_table_line() uses)."""
    if not _consecutive(items):
        return _table_page_percent(items, entries, sep)
    pfns = list(map(PM_PFRAME_MASK.__and__, entries))
    width = len(str(min(pfns)))
    if width != len(str(max(pfns))) or width > 17:
        return _table_page_percent(items, entries, sep)
    addrs = _addr_texts(items[0][0], len(items))
    pad = 18 - 2 - len(addrs[0])
    if pad < 0 or len(addrs[-1]) != len(addrs[0]):
        return _table_page_percent(items, entries, sep)
    words = array("Q", entries)
    if sys.byteorder == "little":
        words.byteswap()
    hexes = words.tobytes().hex(" ", 8).split(" ")
    mid = " " * pad + "  " + "1".ljust(9) + "  0x"
    tail = " " * (17 - width) + parts[1] + sep
    return "".join(chain.from_iterable(zip(
        repeat("0x"), addrs, repeat(mid), hexes, repeat(parts[0]), map(str, pfns),
        repeat(tail))))[:-len(sep)]


def _json_page_block(items: List[Tuple[int, int, int]], entries: List[int],
                     parts: Tuple[str, str], sep: str) -> str:
    """The JSON objects of one-page present entries with the same flags,
    as one text, without a format per object: the numbers by str() in C."""
    tail = parts[1] + sep
    return "".join(chain.from_iterable(zip(
        repeat('{"vaddr": '), map(str, map(_ADDR, items)), repeat(', "pages": 1, "entry": '),
        map(str, entries), repeat(parts[0]), map(str, map(PM_PFRAME_MASK.__and__, entries)),
        repeat(tail))))[:-len(sep)]


def pagemap_table_text(items: List[Tuple[int, int, int]]) -> str:
    """pagemap_table_line() of each item, joined by newlines: a batch at a
    time (report.py's StreamReport.table_text)."""
    return _page_formats(items, "\n", pagemap_table_line, _table_parts, _table_page_block)


def pagemap_json_text(items: List[Tuple[int, int, int]], sep: str) -> str:
    """pagemap_json_line() of each item, joined by ``sep``: a batch at a time."""
    return _page_formats(items, sep, pagemap_json_line, _json_parts, _json_page_block)


def decode_pagemap_entry(entry: int) -> List[Any]:
    """present, swap, pfn, swap type, swap offset, soft-dirty, exclusive,
    file (Documentation/admin-guide/mm/pagemap.rst); None where a field
    does not apply."""
    present = bool(entry & PM_PRESENT)
    swap = bool(entry & PM_SWAP)
    frame = entry & PM_PFRAME_MASK
    return [present, swap,
            frame if present else None,
            frame & ((1 << MAX_SWAPFILES_SHIFT) - 1) if swap else None,
            frame >> MAX_SWAPFILES_SHIFT if swap else None,
            bool(entry & PM_SOFT_DIRTY), bool(entry & PM_MMAP_EXCLUSIVE),
            bool(entry & PM_FILE)]
