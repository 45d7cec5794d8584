"""/proc/PID/smaps and smaps_rollup: fs/proc/task_mmu.c of 6.1 and 6.12
(picked by the dump's kernel version) over the walker.

The walk is the kernel's: smaps_walk_ops (pmd_entry = smaps_pte_range,
hugetlb_entry = smaps_hugetlb_range) or smaps_shmem_walk_ops (with
pte_hole = smaps_pte_hole), from smap_gather_stats().
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields
from itertools import compress
from typing import Any, Dict, List, Optional, Tuple

from drgn import Object

from ..arch.base import MASK64, PMD, PUD
from ..target.drgn_target import get_target
from ..target.base import (
    VM_GROWSDOWN,
    VM_HUGEPAGE,
    VM_HUGETLB,
    VM_LOCKED,
    VM_MIXEDMAP,
    VM_NOHUGEPAGE,
    VM_PFNMAP,
    VM_RAND_READ,
    VM_SEQ_READ,
    VM_SHARED,
    VM_WRITE,
    Vma,
)
from ..walker.walk import MmWalk, MmWalkOps, walk_page_vma
from .maps import show_map_vma, show_vma_header_prefix, seq_pad, task_vmas
from .page import (
    PAGE_MAPPING_ANON,
    PageAnon,
    PageCache,
    PageInfo,
    folio_likely_mapped_shared,
    folio_test_ksm,
    entry_page,
    normal_fields,
    large_class,
    order0_classes,
    order0_runs,
    page_count,
    pmd_trans_huge_lock,
    pte_offset_map_lock,
    folio_precise_page_mapcount,
    hugetlb_pmd_shared,
    page_mapcount,
    page_mapcount_is_type,
    subpage_mapcounts,
    vm_normal_page,
)
from .pagemap import is_migration_entry, is_pfn_swap_entry, swp_offset_pfn

PSS_SHIFT = 12
MMF_DISABLE_THP = 24
VM_SPECIAL = 0x00004000 | 0x00040000 | VM_PFNMAP | VM_MIXEDMAP  # IO|DONTEXPAND|...
VM_NO_KHUGEPAGED = VM_SPECIAL | VM_HUGETLB
VM_STACK_INCOMPLETE_SETUP = VM_RAND_READ | VM_SEQ_READ  # VM_STACK_EARLY is 0
SWAP_HAS_CACHE = 0x40
COUNT_CONTINUED = 0x80
S_DAX = 8192


@dataclass
class MemSizeStats:
    """struct mem_size_stats."""

    resident: int = 0
    shared_clean: int = 0
    shared_dirty: int = 0
    private_clean: int = 0
    private_dirty: int = 0
    referenced: int = 0
    anonymous: int = 0
    ksm: int = 0
    lazyfree: int = 0
    anonymous_thp: int = 0
    shmem_thp: int = 0
    file_thp: int = 0
    swap: int = 0
    shared_hugetlb: int = 0
    private_hugetlb: int = 0
    pss: int = 0
    pss_anon: int = 0
    pss_file: int = 0
    pss_shmem: int = 0
    pss_dirty: int = 0
    pss_locked: int = 0
    swap_pss: int = 0


MEM_SIZE_STATS_FIELDS = [f.name for f in fields(MemSizeStats)]


def _gather(ctx: "SmapsContext", vma: Vma) -> MemSizeStats:
    mss = MemSizeStats()
    smap_gather_stats(ctx, vma, mss)
    return mss


class SmapsContext:
    """What one smaps report reads from the dump, read once."""

    def __init__(self, prog: Any) -> None:
        self.prog = prog
        self.target = get_target(prog)
        self.arch = self.target.arch
        #: PAGE_SHIFT, PAGE_SIZE, HPAGE_PMD_SIZE, HPAGE_PMD_ORDER and
        #: HPAGE_PUD_ORDER of the dump's kernel
        self.page_shift = self.arch.page_shift
        self.page_size = self.arch.page_size
        self.hpage_pmd_size = 1 << self.arch.shifts[PMD]
        self.pmd_order = self.arch.shifts[PMD] - self.page_shift
        self.pud_order = self.arch.shifts[PUD] - self.page_shift
        #: the kernel's features (kernel.py)
        self.k = self.target.kernel
        #: the folio-based smaps of 6.12 on (kernel.py: large_mapcount):
        #: smaps_account(..., present), folio_precise_page_mapcount(), pfn
        #: swap pmds, folio_likely_mapped_shared() for hugetlb
        self.folio_mapcounts = self.k.large_mapcount
        self.pages = PageCache(prog)
        self.max_swapfiles = self.arch.max_swapfiles
        self.swap = self.arch.swap
        self.thp_flags = prog["transparent_hugepage_flags"].value_() if self.k.thp else 0
        #: arch_pkeys_enabled(): the ProtectionKey line
        self.pkeys = self.arch.pkeys_enabled
        self.shmem_aops = prog["shmem_aops"].address_
        self._masks: Dict[str, int] = {}
        # the page flags of the order-0 path, looked up once
        self.m_head = self.mask("PG_head")
        self.m_swapbacked = self.mask("PG_swapbacked")
        self.m_dirty = self.mask("PG_dirty")
        self.m_referenced = self.mask("PG_referenced")
        self.m_young = self.mask("PG_young") if self.k.page_idle_flag else 0
        #: the flags _smaps_order0_bulk() tells pages apart by
        self.m_order0_flags = (self.m_head | self.m_swapbacked | self.m_dirty
                               | self.m_referenced | self.m_young)

    def mask(self, name: str) -> int:
        """1 << PG_name (page flags), looked up once."""
        m = self._masks.get(name)
        if m is None:
            try:
                m = 1 << self.pages.bit(name)
            except LookupError:
                m = 0  # a flag this kernel does not have (PG_young in 6.1)
            self._masks[name] = m
        return m

    def thp_bit(self, name: str) -> int:
        return 1 << self.prog.constant(name).value_()


# -- page state --------------------------------------------------------------

def page_is_young(ctx: SmapsContext, page: PageInfo) -> bool:
    """page_is_young() / folio_test_young(): CONFIG_PAGE_IDLE_FLAG is set in
    Debian's 6.12 and 7.2 (PG_young in page flags on 64-bit), not in 5.10
    and 6.1 (always false)."""
    if not ctx.k.page_idle_flag:
        return False
    return ctx.pages.test(ctx.pages.head(page), "PG_young")


def _test(ctx: SmapsContext, page: PageInfo, flag: str) -> bool:
    """A folio flag: tested on the head page."""
    return ctx.pages.test(ctx.pages.head(page), flag)


def smaps_page_accumulate(ctx: SmapsContext, mss: MemSizeStats, folio_flags: int,
                          anon: bool, size: int, pss: int, dirty: bool, locked: bool,
                          private: bool) -> None:
    """smaps_page_accumulate(); the folio is given by its flags (the head
    page's) and folio_test_anon()."""
    mss.pss += pss
    if anon:
        mss.pss_anon += pss
    elif folio_flags & ctx.m_swapbacked:
        mss.pss_shmem += pss
    else:
        mss.pss_file += pss
    if locked:
        mss.pss_locked += pss
    if dirty or folio_flags & ctx.m_dirty:
        mss.pss_dirty += pss
        if private:
            mss.private_dirty += size
        else:
            mss.shared_dirty += size
    else:
        if private:
            mss.private_clean += size
        else:
            mss.shared_clean += size


def smaps_account(ctx: SmapsContext, mss: MemSizeStats, page: PageInfo,
                  compound: bool, young: bool, dirty: bool, locked: bool,
                  migration_or_present: bool) -> None:
    """smaps_account(): 6.1 passes ``migration``, 6.12 ``present``."""
    pc = ctx.pages
    if page.head_pfn == page.pfn and not page.flags & ctx.m_head:
        _smaps_account_order0(ctx, mss, page.flags, page.mapping, page.mapcount,
                              page.refcount, young, dirty, locked,
                              migration_or_present)
        return
    head = pc.head(page)
    nr = 1 << pc.folio_order(head) if compound else 1
    size = nr * ctx.page_size
    anon = PageAnon(pc, page)
    if anon:
        mss.anonymous += size
        if not _test(ctx, page, "PG_swapbacked") and not dirty \
                and not _test(ctx, page, "PG_dirty"):
            mss.lazyfree += size
    if ctx.k.smaps_ksm and folio_test_ksm(pc, page):
        mss.ksm += size
    mss.resident += size
    if young or page_is_young(ctx, page) or _test(ctx, page, "PG_referenced"):
        mss.referenced += size

    if ctx.folio_mapcounts:
        present = migration_or_present
        if page_count(pc, page) == 1 or not present:
            smaps_page_accumulate(ctx, mss, head.flags, anon, size, size << PSS_SHIFT,
                                  dirty, locked, present)
            return
    elif page_count(pc, page) == 1 or migration_or_present:
        smaps_page_accumulate(ctx, mss, head.flags, anon, size, size << PSS_SHIFT,
                              dirty, locked, True)
        return
    if nr == 1:
        mapcount = folio_precise_page_mapcount(pc, head, page) if ctx.folio_mapcounts \
            else page_mapcount(pc, page)
        mapcounts = {mapcount: 1}
    else:
        # for (i = 0; i < nr; i++, page++): every page of the folio differs
        # only in its own _mapcount, and smaps_page_accumulate() only adds,
        # so pages with the same mapcount are accumulated at once: the
        # same sums as page by page.
        mapcounts = subpage_mapcounts(pc, head, page, nr)
    for mapcount, n in mapcounts.items():
        pss = ctx.page_size << PSS_SHIFT
        if mapcount >= 2:
            pss //= mapcount
        smaps_page_accumulate(ctx, mss, head.flags, anon, ctx.page_size * n, pss * n, dirty,
                              locked, mapcount < 2)


def _smaps_account_order0(ctx: SmapsContext, mss: MemSizeStats, flags: int,
                          mapping: int, raw_mapcount: int, refcount: int,
                          young: bool, dirty: bool, locked: bool,
                          migration_or_present: bool, nr: int = 1) -> None:
    """smaps_account() and smaps_page_accumulate() for ``nr`` pages that are
    each their own folio (order 0, the common case: in the kernel one call
    per 4 KiB page) with the same struct page fields and PTE bits, so the
    same sums: smaps_account()'s steps written out on the page's fields
    (the folio is the page, nr is 1, page_mapcount() is _mapcount + 1;
    6.12: 0 for a typed page), sizes multiplied by ``nr``."""
    page_size = ctx.page_size
    size = page_size * nr
    anon = mapping & PAGE_MAPPING_ANON
    if anon:
        mss.anonymous += size
        if not flags & ctx.m_swapbacked and not dirty and not flags & ctx.m_dirty:
            mss.lazyfree += size
    if ctx.k.smaps_ksm and mapping & 3 == 3:  # folio_test_ksm()
        mss.ksm += size
    mss.resident += size
    if young or flags & ctx.m_young or flags & ctx.m_referenced:
        mss.referenced += size
    if ctx.folio_mapcounts:
        private = migration_or_present  # present
        if refcount == 1 or not migration_or_present:
            pss = page_size << PSS_SHIFT
        else:
            mapcount = raw_mapcount + 1
            if page_mapcount_is_type(mapcount):
                mapcount = 0
            pss = page_size << PSS_SHIFT
            if mapcount >= 2:
                pss //= mapcount
            private = mapcount < 2
    elif refcount == 1 or migration_or_present:
        pss, private = page_size << PSS_SHIFT, True
    else:
        mapcount = raw_mapcount + 1
        pss = page_size << PSS_SHIFT
        if mapcount >= 2:
            pss //= mapcount
        private = mapcount < 2
    smaps_page_accumulate(ctx, mss, flags, bool(anon), size, pss * nr, dirty, locked,
                          private)


def swp_swapcount(ctx: SmapsContext, swp_type: int, offset: int,
                  walk: MmWalk, addr: int, val: int) -> int:
    """swp_swapcount(): how many references the swap entry has; the
    kernel's variant is chosen by KernelFeatures.swap_table.

    The device and offset are checked first ("Bad swap file entry",
    "Unused swap file entry", "Bad swap offset entry"): the count is then
    0.  DUMP: those messages are problems reported on the walk."""
    why = _swap_info_get(ctx, swp_type, offset)
    if why:
        walk.report_value("bad", "pte", addr, -1, val, f"{why} {val:#018x}")
        return 0
    if ctx.k.swap_table:
        return swp_swapcount_table(ctx, swp_type, offset)
    return swp_swapcount_map(ctx, swp_type, offset)


def swp_swapcount_map(ctx: SmapsContext, swp_type: int, offset: int) -> int:
    """swp_swapcount() of the swap map (5.10 to 6.x: si->swap_map[offset],
    without SWAP_HAS_CACHE; no continuation pages: COUNT_CONTINUED is
    reported as an error)."""
    si = ctx.prog["swap_info"][swp_type]
    count = si.swap_map[offset].value_() & ~SWAP_HAS_CACHE
    if count & COUNT_CONTINUED:
        raise NotImplementedError("swap count continuation pages")
    return count


#: mm/swap.h, mm/swap_table.h (7.x) on 64-bit: SWAP_CACHE_PFN_BITS is
#: MAX_POSSIBLE_PHYSMEM_BITS (52) - PAGE_SHIFT, so SWP_TB_FLAGS_BITS is 5,
#: the zero flag is inline (SWAP_TABLE_HAS_ZEROFLAG) and the count is the
#: top SWP_TB_COUNT_BITS (4) bits
SWP_TB_COUNT_BITS = 4
SWP_TB_COUNT_SHIFT = 64 - SWP_TB_COUNT_BITS
SWP_TB_COUNT_MAX = (1 << SWP_TB_COUNT_BITS) - 1
SWP_TB_PFN_MARK = 0b10
SWP_TB_PFN_MARK_MASK = 0b11


def swp_tb_get_count(swp_tb: int) -> int:
    """swp_tb_get_count() (mm/swap_table.h, 7.x): the count of a shadow,
    folio or null entry, else -EINVAL."""
    countable = (swp_tb & 1  # swp_tb_is_shadow(): xa_is_value()
                 or swp_tb & SWP_TB_PFN_MARK_MASK == SWP_TB_PFN_MARK  # swp_tb_is_folio()
                 or not swp_tb)  # swp_tb_is_null()
    if countable:
        return swp_tb >> SWP_TB_COUNT_SHIFT
    return -22


def swp_swapcount_table(ctx: SmapsContext, swp_type: int, offset: int) -> int:
    """swp_swapcount() of the swap table (7.x, "mm, swap: use the swap
    table"): the count in the top bits of the cluster's table entry
    (__swap_table_get()), ci->extend_table[] past SWP_TB_COUNT_MAX; a
    negative count is 0."""
    si = ctx.prog["swap_info"][swp_type]
    cluster = 1 << ctx.pmd_order  # SWAPFILE_CLUSTER: HPAGE_PMD_NR (CONFIG_THP_SWAP)
    ci = si.cluster_info[offset // cluster]
    ci_off = offset % cluster
    table = ci.table
    swp_tb = table[ci_off].counter.value_() & MASK64 if table.value_() else 0
    count = swp_tb_get_count(swp_tb)
    if count == SWP_TB_COUNT_MAX:
        count = ci.extend_table[ci_off].value_()
    return 0 if count < 0 else count


def _swap_info_get(ctx: SmapsContext, swp_type: int, offset: int) -> str:
    """The checks made before a swap entry's count is read: "" for a good
    entry, else the kernel's message; the variant is chosen by
    KernelFeatures.swap_table."""
    if ctx.k.swap_table:
        return _get_swap_device(ctx, swp_type, offset)
    return _swap_info_get_map(ctx, swp_type, offset)


def _swap_info_get_map(ctx: SmapsContext, swp_type: int, offset: int) -> str:
    """_swap_info_get()'s checks (mm/swapfile.c, 5.10 to 6.x).  SWP_USED
    is 1 << 0 in 5.10 to 6.12."""
    if swp_type >= ctx.prog["nr_swapfiles"].value_():
        return "Bad swap file entry"
    si = ctx.prog["swap_info"][swp_type]
    if not si.value_() or not si.flags.value_() & 1:
        return "Unused swap file entry"
    if offset >= si.max.value_():
        return "Bad swap offset entry"
    return ""


#: percpu_ref's flags in percpu_count_ptr (include/linux/percpu-refcount.h)
__PERCPU_REF_ATOMIC = 1
__PERCPU_REF_DEAD = 2


def _get_swap_device(ctx: SmapsContext, swp_type: int, offset: int) -> str:
    """get_swap_device()'s checks (mm/swapfile.c, 7.x): swap_info[type]
    must exist ("Bad swap file entry"), percpu_ref_tryget_live(&si->users)
    must succeed (a device being swapped off: no message, the kernel just
    returns NULL: "Unused swap file entry" here) and the offset be below
    si->max ("Bad swap offset entry")."""
    si = ctx.prog["swap_info"][swp_type]
    if not si.value_():
        return "Bad swap file entry"
    ref = si.users
    ptr = ref.percpu_count_ptr.value_()
    if ptr & __PERCPU_REF_DEAD or (
            ptr & __PERCPU_REF_ATOMIC and not ref.data.count.counter.value_()):
        return "Unused swap file entry"
    if offset >= si.max.value_():
        return "Bad swap offset entry"
    return ""


# -- the walk -----------------------------------------------------------------

def shmem_mapping(ctx: SmapsContext, mapping: Object) -> bool:
    """shmem_mapping(): mapping->a_ops == &shmem_aops."""
    return bool(mapping.value_()) and mapping.a_ops.value_() == ctx.shmem_aops


def shmem_partial_swap_usage(ctx: SmapsContext, mapping: Object, start: int,
                             end: int) -> int:
    """shmem_partial_swap_usage(): swap entries (xa values) in [start, end)."""
    from drgn.helpers.linux.xarray import xa_for_each, xa_is_value

    swapped = 0
    for index, entry in xa_for_each(mapping.i_pages.address_of_()):
        if start <= index < end and xa_is_value(entry):
            swapped += 1
    return swapped << ctx.page_shift


def shmem_swap_usage(ctx: SmapsContext, vma: Vma) -> int:
    """shmem_swap_usage()."""
    inode = vma.obj.vm_file.f_inode
    # SHMEM_I(): container_of(inode, struct shmem_inode_info, vfs_inode)
    info = Object(ctx.prog, "struct shmem_inode_info *",
                  inode.value_() - _shmem_vfs_inode_offset(ctx))
    swapped = info.swapped.value_()
    if not swapped:
        return 0
    if not vma.vm_pgoff and vma.vm_end - vma.vm_start >= inode.i_size.value_():
        return swapped << ctx.page_shift
    pages = (vma.vm_end - vma.vm_start) >> ctx.page_shift
    return shmem_partial_swap_usage(ctx, inode.i_mapping, vma.vm_pgoff,
                                    vma.vm_pgoff + pages)


def _shmem_vfs_inode_offset(ctx: SmapsContext) -> int:
    from drgn import offsetof

    return offsetof(ctx.prog.type("struct shmem_inode_info"), "vfs_inode")


def smaps_pte_hole(addr: int, end: int, depth: int, walk: MmWalk) -> int:
    """smaps_pte_hole(): shmem pages swapped out, where the pte is none.

    5.10 (mem_size_stats.check_shmem_swap) passes the virtual addresses
    themselves to shmem_partial_swap_usage() as page-cache indices, a bug
    fixed in 5.16 ("mm/smaps: fix shmem pte hole swap calculation") and
    kept here: that kernel printed what it computed.  Its per-pte lookup
    (xa_load() of a none pte's index) counts what smaps_pte_hole_lookup()
    counts for one page, so only the holes differ."""
    ctx, mss = walk.private
    vma = walk.vma
    if ctx.k.smaps_check_shmem_swap:
        first, last = addr, end
    else:
        first = ((addr - vma.vm_start) >> ctx.page_shift) + vma.vm_pgoff
        last = ((end - vma.vm_start) >> ctx.page_shift) + vma.vm_pgoff
    mss.swap += shmem_partial_swap_usage(ctx, vma.obj.vm_file.f_mapping, first, last)
    return 0


def smaps_pte_hole_lookup(addr: int, walk: MmWalk) -> None:
    """smaps_pte_hole_lookup() (5.10: the same xa_load() inline in
    smaps_pte_entry()): the page-cache entry of a none pte's index."""
    ctx, mss = walk.private
    vma = walk.vma
    index = ((addr - vma.vm_start) >> ctx.page_shift) + vma.vm_pgoff
    mss.swap += shmem_partial_swap_usage(ctx, vma.obj.vm_file.f_mapping, index, index + 1)


def smaps_pte_entry(val: int, addr: int, walk: MmWalk) -> None:
    """smaps_pte_entry()."""
    ctx, mss = walk.private
    arch = walk.arch
    vma = walk.vma
    locked = bool(vma.vm_flags & VM_LOCKED)
    page = None
    young = dirty = False
    flag = False  # 6.1: migration, 6.12: present
    if arch.pte_present(val):
        page = vm_normal_page(ctx.pages, arch, vma, val, walk, addr)
        young = arch.pte_young(val)
        dirty = arch.pte_dirty(val)
        flag = ctx.folio_mapcounts
    elif arch.is_swap_pte(val):
        swp_type, offset = arch.swp_type_offset(val)
        if swp_type < ctx.max_swapfiles:  # !non_swap_entry()
            mss.swap += ctx.page_size
            mapcount = swp_swapcount(ctx, swp_type, offset, walk, addr, val)
            if mapcount >= 2:
                mss.swap_pss += (ctx.page_size << PSS_SHIFT) // mapcount
            else:
                mss.swap_pss += ctx.page_size << PSS_SHIFT
        elif is_pfn_swap_entry(ctx.swap, swp_type):
            if ctx.folio_mapcounts:  # device-private: present
                flag = ctx.swap.is_device_private_entry(swp_type)
            else:
                flag = is_migration_entry(ctx.swap, swp_type)
            page = entry_page(ctx.pages, swp_offset_pfn(arch, offset), walk, "pte",
                              addr, val)
    else:
        if walk.ops.pte_hole:  # smaps_pte_hole_lookup()
            smaps_pte_hole_lookup(addr, walk)
        return
    if page is None:
        return
    smaps_account(ctx, mss, page, False, young, dirty, locked, flag)


def smaps_pmd_entry(pmd: int, addr: int, walk: MmWalk) -> None:
    """smaps_pmd_entry()."""
    ctx, mss = walk.private
    arch = walk.arch
    vma = walk.vma
    locked = bool(vma.vm_flags & VM_LOCKED)
    page = None
    flag = False
    if arch.pmd_none(pmd):
        return
    if arch.pmd_present(pmd):
        pfn = arch.pmd_pfn(pmd)
        # follow_trans_huge_pmd(FOLL_DUMP) / vm_normal_page_pmd(): no page
        # for the huge zero page
        if pfn == walk.target.huge_zero_pfn():
            return
        page = entry_page(ctx.pages, pfn, walk, "pmd", addr, pmd)
        flag = ctx.folio_mapcounts
    else:
        swp_type, offset = arch.swp_type_offset(pmd)
        pfn = swp_offset_pfn(arch, offset)
        if ctx.folio_mapcounts and is_pfn_swap_entry(ctx.swap, swp_type):
            page = entry_page(ctx.pages, pfn, walk, "pmd", addr, pmd)
        elif not ctx.folio_mapcounts and is_migration_entry(ctx.swap, swp_type):
            flag = True
            page = entry_page(ctx.pages, pfn, walk, "pmd", addr, pmd)
    if page is None:
        return
    if PageAnon(ctx.pages, page):
        mss.anonymous_thp += ctx.hpage_pmd_size
    elif _test(ctx, page, "PG_swapbacked"):
        mss.shmem_thp += ctx.hpage_pmd_size
    else:
        mss.file_thp += ctx.hpage_pmd_size
    smaps_account(ctx, mss, page, True, arch.pte_young(pmd), arch.pte_dirty(pmd),
                  locked, flag)


def _smaps_account_classes(walk: MmWalk, classes: "Counter[tuple]") -> bool:
    """smaps_account() of the order-0 pages of ``classes`` (order0_classes()
    with the PTE's young and dirty bits), each class once; True if a
    class is of pages of large folios (left for the caller, page by page)."""
    ctx, mss = walk.private
    arch = walk.arch
    locked = bool(walk.vma.vm_flags & VM_LOCKED)
    large = False
    for (flags, mapping, mapcount, refcount, tail, bits), n in classes.items():
        if tail or flags & ctx.m_head:
            large = True
        else:
            _smaps_account_order0(ctx, mss, flags, mapping, mapcount, refcount,
                                  arch.pte_young(bits), arch.pte_dirty(bits),
                                  locked, ctx.folio_mapcounts, n)
    return large


def _smaps_order0_bulk(walk: MmWalk, vals: Any, normal: List[int],
                       pfns: List[int]) -> bool:
    """smaps_pte_entry() for the present, not special PTEs ``normal`` of one
    table (their PFNs ``pfns``), without per-page
    Python: pages whose struct page fields (the flags and fields the
    accounting reads) and PTE young/dirty bits are equal add the same to
    every sum, so they are counted in C and each class is accounted once
    (_smaps_account_order0(nr=...)).  Pages of large folios go through
    smaps_account() one by one.  Returns False, having done nothing, when a
    PFN has no struct page read (out of range, or not in the dump): the
    caller then visits every entry the per-entry way, which reports them."""
    ctx, mss = walk.private
    pages = ctx.pages
    raws = normal_fields(pages, pfns)
    if raws is None:
        return False
    arch = walk.arch
    classes = order0_classes(pages, raws, ctx.m_order0_flags,
                             map(arch.young_dirty_mask().__and__,
                                 map(vals.__getitem__, normal)))
    locked = bool(walk.vma.vm_flags & VM_LOCKED)
    if _smaps_account_classes(walk, classes):
        for i, pfn, raw in zip(normal, pfns, raws):
            page = pages.decode(pfn, raw)  # read above
            if page.head_pfn != page.pfn or page.flags & ctx.m_head:
                v = vals[i]
                smaps_account(ctx, mss, page, False, arch.pte_young(v),
                              arch.pte_dirty(v), locked, ctx.folio_mapcounts)
    return True


def smaps_pte_range(pmd: Any, addr: int, end: int, walk: MmWalk) -> int:
    """smaps_pte_range()."""
    val = pmd.val
    # pmd_trans_huge_lock(): huge, devmap or a migration entry
    if pmd_trans_huge_lock(walk, pmd, addr):
        smaps_pmd_entry(val, addr, walk)
        return 0
    pte = pte_offset_map_lock(walk, pmd, addr)
    if pte is None:
        return 0
    vals = pte.table.vals
    index = pte.index
    if walk.ops.pte_hole is None:
        # for (; addr != end; pte++, addr += PAGE_SIZE) smaps_pte_entry():
        # a zero PTE adds nothing when there is no shmem hole to look up,
        # so only the others are visited, and only adding follows, so the
        # order of the visits does not change the sums.
        shift = walk.arch.page_shift
        last = index + ((end - addr) >> shift)
        ctx = walk.private[0]
        runs = order0_runs(ctx.pages, walk.arch, vals, index, last, ctx.m_order0_flags,
                           walk.arch.young_dirty_mask())
        if runs is not None and not large_class(runs[0], ctx.m_head):
            # every PTE normal, consecutive PFNs, no large folio: by class
            _smaps_account_classes(walk, runs[0])
            return 0
        normal, pfns, others = walk.arch.normal_ptes(
            vals, list(compress(range(index, last), vals[index:last])))
        if normal and not _smaps_order0_bulk(walk, vals, normal, pfns):
            others = sorted(others + normal)
        for i in others:
            smaps_pte_entry(vals[i], addr + ((i - index) << shift), walk)
        return 0
    page_size = walk.arch.page_size
    while addr != end:
        smaps_pte_entry(vals[index], addr, walk)
        addr += page_size
        index += 1
    return 0


def smaps_hugetlb_range(pte: Any, hmask: int, addr: int, end: int,
                        walk: MmWalk) -> int:
    """smaps_hugetlb_range()."""
    ctx, mss = walk.private
    arch = walk.arch
    vma = walk.vma
    val = pte.val
    page = None
    present = False
    if arch.pte_present(val):
        page = entry_page(ctx.pages, arch.leaf_pfn(pte.level, val), walk,
                          pte.level_name, addr, val)
        present = True
    elif arch.is_swap_pte(val):
        swp_type, offset = arch.swp_type_offset(val)
        if is_pfn_swap_entry(ctx.swap, swp_type):
            page = entry_page(ctx.pages, swp_offset_pfn(arch, offset), walk,
                              pte.level_name, addr, val)
    if page is None:
        return 0
    size = walk.target.hstate_vma(vma).huge_page_size()
    if ctx.folio_mapcounts:
        shared = (not present or folio_likely_mapped_shared(ctx.pages, ctx.pages.head(page))
                  or hugetlb_pmd_shared(ctx.pages, pte.phys))
    else:
        # 6.1 hugetlb_pmd_shared(): page_count(virt_to_page(pte)) > 1
        shared = (page_mapcount(ctx.pages, page) >= 2
                  or page_count(ctx.pages, ctx.pages.page(pte.phys >> ctx.page_shift)) > 1)
    if shared:
        mss.shared_hugetlb += size
    else:
        mss.private_hugetlb += size
    return 0


SMAPS_WALK_OPS = MmWalkOps(pmd_entry=smaps_pte_range,
                           hugetlb_entry=smaps_hugetlb_range)
SMAPS_SHMEM_WALK_OPS = MmWalkOps(pmd_entry=smaps_pte_range,
                                 hugetlb_entry=smaps_hugetlb_range,
                                 pte_hole=smaps_pte_hole)


def smap_gather_stats(ctx: SmapsContext, vma: Vma, mss: MemSizeStats) -> None:
    """smap_gather_stats(vma, mss, 0)."""
    ops = SMAPS_WALK_OPS
    file = vma.obj.vm_file
    if file.value_() and shmem_mapping(ctx, file.f_mapping):
        shmem_swapped = shmem_swap_usage(ctx, vma)
        if (not shmem_swapped or vma.vm_flags & VM_SHARED
                or not vma.vm_flags & VM_WRITE):
            mss.swap += shmem_swapped
        else:
            ops = SMAPS_SHMEM_WALK_OPS
    walk_page_vma(vma, ops, (ctx, mss))


# -- THPeligible -----------------------------------------------------------------

def _vma_is_dax(vma: Vma) -> bool:
    file = vma.obj.vm_file
    return bool(file.value_()) and bool(file.f_inode.i_flags.value_() & S_DAX)


def mm_flags(ctx: SmapsContext, mm: Object) -> int:
    """mm->flags as a word (7.x: mm_flags_t's first word)."""
    if ctx.k.mm_flags_bitmap:
        return mm.flags.__mm_flags[0].value_()
    return mm.flags.value_()


def _thp_disabled(ctx: SmapsContext, vma: Vma, vm_flags: int) -> bool:
    return bool(vm_flags & VM_NOHUGEPAGE) or bool(
        mm_flags(ctx, vma.obj.vm_mm) & (1 << MMF_DISABLE_THP))


def _vma_is_temporary_stack(vma: Vma) -> bool:
    if not vma.vm_flags & VM_GROWSDOWN:
        return False
    return vma.vm_flags & VM_STACK_INCOMPLETE_SETUP == VM_STACK_INCOMPLETE_SETUP


def _shmem_huge_enabled(ctx: SmapsContext, vma: Vma) -> bool:
    """shmem_is_huge() for a vma (SHMEM_HUGE_* of the global knob and of the
    mount), with shmem_huge_force false."""
    prog = ctx.prog
    inode = vma.obj.vm_file.f_inode
    if inode.i_mode.value_() & 0o170000 != 0o100000:
        return False
    if _thp_disabled(ctx, vma, vma.vm_flags):
        return False
    shmem_huge = prog["shmem_huge"].value_()
    if shmem_huge == -2:  # SHMEM_HUGE_FORCE
        return True
    if shmem_huge == -1:  # SHMEM_HUGE_DENY
        return False
    sbinfo = Object(prog, "struct shmem_sb_info *", inode.i_sb.s_fs_info.value_())
    huge = sbinfo.huge.value_()
    if huge == 1:  # ALWAYS
        return True
    if huge == 2:  # WITHIN_SIZE
        # round_up(vma->vm_pgoff + 1, HPAGE_PMD_NR)
        nr = 1 << ctx.pmd_order
        index = -(-(vma.vm_pgoff + 1) // nr) * nr
        if (inode.i_size.value_() + ctx.page_size - 1) >> ctx.page_shift >= index:
            return True
    if huge in (2, 3) and vma.vm_flags & VM_HUGEPAGE:  # ADVISE
        return True
    return False


def _suitable(ctx: SmapsContext, vma: Vma, addr: int, size: int) -> bool:
    """transhuge_vma_suitable() / thp_vma_suitable_order()."""
    if not vma.anonymous:
        shift = ctx.page_shift
        if ((vma.vm_start >> shift) - vma.vm_pgoff) % (size >> shift):
            return False
    # unsigned long arithmetic: vm_end - (PAGE_SIZE << order) below 0 wraps,
    # and so may haddr + hpage_size (to 0: "suitable", as the kernel says of
    # a vma near 0 when a PMD is larger than its end, 32 MiB on 16 KiB pages)
    haddr = addr & MASK64 & ~(size - 1)
    return vma.vm_start <= haddr and (haddr + size) & MASK64 <= vma.vm_end


def hugepage_global_enabled(ctx: SmapsContext) -> bool:
    """hugepage_global_enabled() (6.1: hugepage_flags_enabled()): THP
    "always" or "madvise"."""
    return bool(ctx.thp_flags & (ctx.thp_bit("TRANSPARENT_HUGEPAGE_FLAG")
                                 | ctx.thp_bit("TRANSPARENT_HUGEPAGE_REQ_MADV_FLAG")))


def hugepage_global_always(ctx: SmapsContext) -> bool:
    """hugepage_global_always() (6.1: hugepage_flags_always())."""
    return bool(ctx.thp_flags & ctx.thp_bit("TRANSPARENT_HUGEPAGE_FLAG"))


def hugepage_vma_check(ctx: SmapsContext, vma: Vma) -> bool:
    """hugepage_vma_check(vma, vm_flags, smaps=true, in_pf=false,
    enforce_sysfs=true) of 6.1."""
    vm_flags = vma.vm_flags
    if not vma.obj.vm_mm.value_():
        return False
    if _thp_disabled(ctx, vma, vm_flags):
        return False
    if ctx.thp_flags & ctx.thp_bit("TRANSPARENT_HUGEPAGE_NEVER_DAX"):
        return False
    if _vma_is_dax(vma):
        return False
    if vm_flags & VM_NO_KHUGEPAGED:
        return False
    if not _suitable(ctx, vma, vma.vm_end - ctx.hpage_pmd_size, ctx.hpage_pmd_size):
        return False
    file = vma.obj.vm_file
    if file.value_() and shmem_mapping(ctx, file.f_mapping):
        return _shmem_huge_enabled(ctx, vma)
    if not hugepage_global_enabled(ctx) or (
            not vm_flags & VM_HUGEPAGE and not hugepage_global_always(ctx)):
        return False
    # file_thp_enabled(): CONFIG_READ_ONLY_THP_FOR_FS is not set
    if not vma.anonymous:
        return False
    if _vma_is_temporary_stack(vma):
        return False
    return True  # no anon_vma yet: smaps still says 1


def thp_vma_allowable_orders(ctx: SmapsContext, vma: Vma) -> int:
    """thp_vma_allowable_orders(vma, vm_flags, TVA_SMAPS | TVA_ENFORCE_SYSFS,
    THP_ORDERS_ALL) of 6.12, with __thp_vma_allowable_orders()."""
    prog = ctx.prog
    vm_flags = vma.vm_flags
    anon_orders, special_orders, file_orders = thp_orders(ctx)
    orders = anon_orders | special_orders | file_orders
    always = hugepage_global_always(ctx)
    enabled = hugepage_global_enabled(ctx)
    if vma.anonymous:
        mask = prog["huge_anon_orders_always"].value_()
        if vm_flags & VM_HUGEPAGE:
            mask |= prog["huge_anon_orders_madvise"].value_()
        if always or (vm_flags & VM_HUGEPAGE and enabled):
            mask |= prog["huge_anon_orders_inherit"].value_()
        orders &= mask
        if not orders:
            return 0
    # __thp_vma_allowable_orders()
    file = vma.obj.vm_file
    special = _vma_is_dax(vma) or (bool(file.value_()) and vm_flags & (VM_PFNMAP | VM_MIXEDMAP))
    if vma.anonymous:
        orders &= anon_orders
    elif special:
        orders &= special_orders
    else:
        orders &= file_orders
    if not orders:
        return 0
    if not vma.obj.vm_mm.value_():
        return 0
    if ctx.thp_flags & ctx.thp_bit("TRANSPARENT_HUGEPAGE_UNSUPPORTED") \
            or _thp_disabled(ctx, vma, vm_flags):
        return 0
    if _vma_is_dax(vma):
        return 0
    # smaps: VM_NO_KHUGEPAGED is not checked here
    while orders:
        order = orders.bit_length() - 1
        size = ctx.page_size << order
        if _suitable(ctx, vma, vma.vm_end - size, size):
            break
        orders &= ~(1 << order)
    if not orders:
        return 0
    if file.value_() and shmem_mapping(ctx, file.f_mapping):
        return orders if _shmem_huge_enabled(ctx, vma) else 0
    if not vma.anonymous:
        has_huge_fault = bool(vma.obj.vm_ops.huge_fault.value_())
        bypass = bool(vm_flags & VM_PFNMAP) and has_huge_fault
        allow = always or (enabled and vm_flags & VM_HUGEPAGE)
        if not (bypass or allow):
            return 0
        return orders if has_huge_fault else 0  # file_thp_enabled(): off
    if _vma_is_temporary_stack(vma):
        return 0
    return orders


# 7.x (enum tva_type): mm/huge_memory.c, include/linux/huge_mm.h, mm/shmem.c
#: MMF_DISABLE_THP_EXCEPT_ADVISED (7.x, PR_THP_DISABLE_EXCEPT_ADVISED);
#: MMF_DISABLE_THP_COMPLETELY is the old MMF_DISABLE_THP (24)
MMF_DISABLE_THP_EXCEPT_ADVISED = 23
MMF_DISABLE_THP_COMPLETELY = MMF_DISABLE_THP
#: S_ANON_INODE (include/linux/fs.h, 7.x): IS_ANON_FILE()
S_ANON_INODE = 1 << 19
#: AS_FOLIO_ORDER_MIN/_MAX in mapping->flags (include/linux/pagemap.h)
AS_FOLIO_ORDER_BITS, AS_FOLIO_ORDER_MIN = 5, 16
AS_FOLIO_ORDER_MAX = AS_FOLIO_ORDER_MIN + AS_FOLIO_ORDER_BITS
#: XA_CHUNK_SHIFT * 2 - 1 (include/linux/xarray.h, !CONFIG_BASE_SMALL)
MAX_XAS_ORDER = 11
SHMEM_HUGE_ALWAYS, SHMEM_HUGE_WITHIN_SIZE, SHMEM_HUGE_ADVISE = 1, 2, 3
SHMEM_HUGE_DENY, SHMEM_HUGE_FORCE = -1, -2


def thp_orders(ctx: SmapsContext) -> Tuple[int, int, int]:
    """THP_ORDERS_ALL_ANON, THP_ORDERS_ALL_SPECIAL_DAX (6.12:
    THP_ORDERS_ALL_SPECIAL) and THP_ORDERS_ALL_FILE_DEFAULT
    (include/linux/huge_mm.h, 6.12 and 7.x) of the dump's PMD_ORDER and
    PUD_ORDER, with MAX_PAGECACHE_ORDER = min(MAX_XAS_ORDER,
    PREFERRED_MAX_PAGECACHE_ORDER = HPAGE_PMD_ORDER)."""
    max_pagecache_order = min(MAX_XAS_ORDER, ctx.pmd_order)
    return (((1 << (ctx.pmd_order + 1)) - 1) & ~3,
            (1 << ctx.pmd_order) | (1 << ctx.pud_order),
            ((1 << (max_pagecache_order + 1)) - 1) & ~1)


def vma_thp_disabled(ctx: SmapsContext, vma: Vma, vm_flags: int) -> bool:
    """vma_thp_disabled(vma, vm_flags, forced_collapse=false) of 7.x:
    VM_NOHUGEPAGE, MMF_DISABLE_THP_COMPLETELY, and unless VM_HUGEPAGE,
    MMF_DISABLE_THP_EXCEPT_ADVISED."""
    if vm_flags & VM_NOHUGEPAGE:
        return True
    flags = mm_flags(ctx, vma.obj.vm_mm)
    if flags & (1 << MMF_DISABLE_THP_COMPLETELY):
        return True
    if vm_flags & VM_HUGEPAGE:
        return False
    return bool(flags & (1 << MMF_DISABLE_THP_EXCEPT_ADVISED))


def file_thp_enabled(ctx: SmapsContext, vma: Vma) -> bool:
    """file_thp_enabled() of 7.x (mm/huge_memory.c): no anonymous inode,
    mapping_pmd_folio_support() (the mapping's folio orders cover
    PMD_ORDER) and a regular file; no longer tied to
    CONFIG_READ_ONLY_THP_FOR_FS."""
    file = vma.obj.vm_file
    if not file.value_():
        return False
    inode = file.f_inode
    if inode.i_flags.value_() & S_ANON_INODE:
        return False
    aflags = file.f_mapping.flags.value_()
    mask = (1 << AS_FOLIO_ORDER_BITS) - 1
    min_order = (aflags >> AS_FOLIO_ORDER_MIN) & mask
    max_order = (aflags >> AS_FOLIO_ORDER_MAX) & mask
    if not (min_order <= ctx.pmd_order <= max_order):
        return False
    return inode.i_mode.value_() & 0o170000 == 0o100000


def _highest_orders_fit(orders: int, fits: Any) -> int:
    """The while (orders) { ... order = next_order(&orders, order); } loop:
    drop the highest orders until one fits."""
    while orders:
        order = orders.bit_length() - 1
        if fits(order):
            break
        orders &= ~(1 << order)
    return orders


def shmem_get_orders_within_size(ctx: SmapsContext, inode: Object, orders: int,
                                 index: int) -> int:
    """shmem_get_orders_within_size(inode, orders, index, write_end=0)."""
    i_size = (inode.i_size.value_() + ctx.page_size - 1) & ~(ctx.page_size - 1)
    return _highest_orders_fit(
        orders, lambda order: i_size >> ctx.page_shift
        >= -(-(index + 1) // (1 << order)) * (1 << order))


def shmem_huge_global_enabled(ctx: SmapsContext, inode: Object, index: int,
                              vm_flags: int) -> int:
    """shmem_huge_global_enabled(inode, index, write_end=0, force=false,
    vma, vm_flags) of 7.x."""
    if inode.i_mode.value_() & 0o170000 != 0o100000:
        return 0
    shmem_huge = ctx.prog["shmem_huge"].value_()
    if shmem_huge == SHMEM_HUGE_DENY:
        return 0
    if shmem_huge == SHMEM_HUGE_FORCE:
        return 1 << ctx.pmd_order
    sbinfo = Object(ctx.prog, "struct shmem_sb_info *", inode.i_sb.s_fs_info.value_())
    huge = sbinfo.huge.value_()
    file_orders = thp_orders(ctx)[2]
    if huge == SHMEM_HUGE_ALWAYS:
        return file_orders
    if huge == SHMEM_HUGE_WITHIN_SIZE:
        within = shmem_get_orders_within_size(ctx, inode, file_orders, index)
        if within:
            return within
    if huge in (SHMEM_HUGE_WITHIN_SIZE, SHMEM_HUGE_ADVISE) and vm_flags & VM_HUGEPAGE:
        return file_orders
    return 0


def shmem_allowable_huge_orders(ctx: SmapsContext, inode: Object, vma: Vma,
                                index: int) -> int:
    """shmem_allowable_huge_orders(inode, vma, index, write_end=0,
    shmem_huge_force=false) of 7.x (mm/shmem.c)."""
    prog = ctx.prog
    mask = prog["huge_shmem_orders_always"].value_()
    within_size_orders = prog["huge_shmem_orders_within_size"].value_()
    vm_flags = vma.vm_flags
    if ctx.thp_flags & ctx.thp_bit("TRANSPARENT_HUGEPAGE_UNSUPPORTED") \
            or vma_thp_disabled(ctx, vma, vm_flags):
        return 0
    global_orders = shmem_huge_global_enabled(ctx, inode, index, vm_flags)
    if vma.obj.vm_ops.value_() != prog["shmem_anon_vm_ops"].address_:  # !vma_is_anon_shmem()
        return global_orders
    shmem_huge = prog["shmem_huge"].value_()
    if shmem_huge == SHMEM_HUGE_DENY:
        return 0
    if shmem_huge == SHMEM_HUGE_FORCE:
        return prog["huge_shmem_orders_inherit"].value_()
    mask |= shmem_get_orders_within_size(ctx, inode, within_size_orders, index)
    if vm_flags & VM_HUGEPAGE:
        mask |= prog["huge_shmem_orders_madvise"].value_()
    if global_orders > 0:
        mask |= prog["huge_shmem_orders_inherit"].value_()
    return thp_orders(ctx)[2] & mask


def vma_can_map_huge_file(ctx: SmapsContext, vma: Vma, vm_flags: int) -> bool:
    """vma_can_map_huge_file(vma, vm_flags, TVA_SMAPS) of 7.x: the sysfs
    tuneables (vma_file_check_thp_tuneables()), then a ->huge_fault()
    handler or file_thp_enabled()."""
    has_huge_fault = bool(vma.obj.vm_ops.huge_fault.value_())
    bypass = bool(vm_flags & VM_PFNMAP) and has_huge_fault
    allow = hugepage_global_always(ctx) or (
        hugepage_global_enabled(ctx) and bool(vm_flags & VM_HUGEPAGE))
    if not (bypass or allow):
        return False
    if has_huge_fault:
        return True
    return file_thp_enabled(ctx, vma)


def thp_vma_allowable_orders_tva(ctx: SmapsContext, vma: Vma) -> int:
    """thp_vma_allowable_orders(vma, vm_flags, TVA_SMAPS, THP_ORDERS_ALL)
    of 7.x (enum tva_type), with its __thp_vma_allowable_orders(): vs 6.12,
    vma_thp_disabled() knows MMF_DISABLE_THP_EXCEPT_ADVISED, regular files
    ask file_thp_enabled() (their mapping's folio orders) and shmem
    returns orders & shmem_allowable_huge_orders()."""
    prog = ctx.prog
    vm_flags = vma.vm_flags
    anon_orders, special_orders, file_orders = thp_orders(ctx)
    orders = anon_orders | special_orders | file_orders
    always = hugepage_global_always(ctx)
    if vma.anonymous:
        mask = prog["huge_anon_orders_always"].value_()
        if vm_flags & VM_HUGEPAGE:
            mask |= prog["huge_anon_orders_madvise"].value_()
        if always or (vm_flags & VM_HUGEPAGE and hugepage_global_enabled(ctx)):
            mask |= prog["huge_anon_orders_inherit"].value_()
        orders &= mask
        if not orders:
            return 0
    # __thp_vma_allowable_orders()
    dax = _vma_is_dax(vma)
    if vma.anonymous:
        orders &= anon_orders
    elif dax or vm_flags & (VM_PFNMAP | VM_MIXEDMAP):  # vma_is_special_huge()
        orders &= special_orders
    else:
        orders &= file_orders
    if not orders:
        return 0
    if not vma.obj.vm_mm.value_():
        return 0
    if ctx.thp_flags & ctx.thp_bit("TRANSPARENT_HUGEPAGE_UNSUPPORTED") \
            or vma_thp_disabled(ctx, vma, vm_flags):
        return 0
    if dax:
        return 0  # in_pf only
    # smaps: VM_NO_KHUGEPAGED is not checked
    orders = _highest_orders_fit(orders, lambda order: _suitable(
        ctx, vma, vma.vm_end - (ctx.page_size << order), ctx.page_size << order))
    if not orders:
        return 0
    file = vma.obj.vm_file
    if file.value_() and shmem_mapping(ctx, file.f_mapping):  # shmem_file()
        return orders & shmem_allowable_huge_orders(ctx, file.f_inode, vma, vma.vm_pgoff)
    if not vma.anonymous:
        return orders if vma_can_map_huge_file(ctx, vma, vm_flags) else 0
    if _vma_is_temporary_stack(vma):
        return 0
    return orders  # no anon_vma yet: smaps still says so


def transparent_hugepage_active(ctx: SmapsContext, vma: Vma) -> bool:
    """transparent_hugepage_active() of 5.10 (mm/huge_memory.c): the last
    PMD-aligned range of the vma must fit; anonymous vmas then ask
    __transparent_hugepage_enabled(), shmem ones shmem_huge_enabled()
    (the same answer as 6.1's for the global and mount knobs; its
    within_size rounding differs and is unproven), other files never
    (CONFIG_READ_ONLY_THP_FOR_FS is not set)."""
    addr = (vma.vm_end & ~(ctx.hpage_pmd_size - 1)) - ctx.hpage_pmd_size
    if not _suitable(ctx, vma, addr, ctx.hpage_pmd_size):
        return False
    if vma.anonymous:
        # __transparent_hugepage_enabled()
        if ctx.thp_flags & ctx.thp_bit("TRANSPARENT_HUGEPAGE_NEVER_DAX"):
            return False
        if _thp_disabled(ctx, vma, vma.vm_flags) or _vma_is_temporary_stack(vma):
            return False
        if hugepage_global_always(ctx):
            return True
        if ctx.thp_flags & ctx.thp_bit("TRANSPARENT_HUGEPAGE_REQ_MADV_FLAG"):
            return bool(vma.vm_flags & VM_HUGEPAGE)
        return False
    # vma_is_shmem(): vm_ops == &shmem_vm_ops
    if vma.obj.vm_ops.value_() == ctx.prog["shmem_vm_ops"].address_:
        return _shmem_huge_enabled(ctx, vma)
    return False


def thp_eligible(ctx: SmapsContext, vma: Vma) -> int:
    """THPeligible: the kernel's own test (kernel.py: thp_eligible); 0
    without CONFIG_TRANSPARENT_HUGEPAGE (the stubs' answer)."""
    if not ctx.k.thp:
        return 0
    if ctx.k.thp_eligible == "thp_vma_allowable_orders_tva":
        return 1 if thp_vma_allowable_orders_tva(ctx, vma) else 0
    if ctx.k.thp_eligible == "thp_vma_allowable_orders":
        return 1 if thp_vma_allowable_orders(ctx, vma) else 0
    if ctx.k.thp_eligible == "transparent_hugepage_active":
        return 1 if transparent_hugepage_active(ctx, vma) else 0
    return 1 if hugepage_vma_check(ctx, vma) else 0


# -- output ----------------------------------------------------------------------

def _dec(label: str, value: int, width: int = 8) -> str:
    """seq_put_decimal_ull_width(m, label, value >> 10, width)."""
    return f"{label}{value >> 10:>{width}}"


def _show_smap_fields(ctx: SmapsContext, mss: MemSizeStats, rollup: bool) -> str:
    """__show_smap()."""
    s = _dec("Rss:            ", mss.resident)
    s += _dec(" kB\nPss:            ", mss.pss >> PSS_SHIFT)
    if ctx.k.smaps_pss_dirty:
        s += _dec(" kB\nPss_Dirty:      ", mss.pss_dirty >> PSS_SHIFT)
    if rollup:
        s += _dec(" kB\nPss_Anon:       ", mss.pss_anon >> PSS_SHIFT)
        s += _dec(" kB\nPss_File:       ", mss.pss_file >> PSS_SHIFT)
        s += _dec(" kB\nPss_Shmem:      ", mss.pss_shmem >> PSS_SHIFT)
    s += _dec(" kB\nShared_Clean:   ", mss.shared_clean)
    s += _dec(" kB\nShared_Dirty:   ", mss.shared_dirty)
    s += _dec(" kB\nPrivate_Clean:  ", mss.private_clean)
    s += _dec(" kB\nPrivate_Dirty:  ", mss.private_dirty)
    s += _dec(" kB\nReferenced:     ", mss.referenced)
    s += _dec(" kB\nAnonymous:      ", mss.anonymous)
    if ctx.k.smaps_ksm:
        s += _dec(" kB\nKSM:            ", mss.ksm)
    s += _dec(" kB\nLazyFree:       ", mss.lazyfree)
    s += _dec(" kB\nAnonHugePages:  ", mss.anonymous_thp)
    s += _dec(" kB\nShmemPmdMapped: ", mss.shmem_thp)
    s += _dec(" kB\nFilePmdMapped:  ", mss.file_thp)
    s += _dec(" kB\nShared_Hugetlb: ", mss.shared_hugetlb)
    s += _dec(" kB\nPrivate_Hugetlb: ", mss.private_hugetlb, 7)
    s += _dec(" kB\nSwap:           ", mss.swap)
    s += _dec(" kB\nSwapPss:        ", mss.swap_pss >> PSS_SHIFT)
    s += _dec(" kB\nLocked:         ", mss.pss_locked >> PSS_SHIFT)
    return s + " kB\n"


def _mnemonics(ctx: SmapsContext) -> Dict[int, str]:
    """show_smap_vma_flags()'s table for this kernel (Debian config): the
    generic entries, then the arch's (Arch.vm_flag_mnemonics(): VM_ARCH_1,
    pkeys, MTE, shadow stack), which win where both name a bit, as the
    later designated initializer does.  Bits not in it print as "??"."""
    names = dict(ctx.k.vm_flag_names)
    names.update(ctx.arch.vm_flag_mnemonics())
    return names


def show_smap_vma_flags(ctx: SmapsContext, vm_flags: int) -> List[str]:
    """show_smap_vma_flags(): the VmFlags mnemonics in bit order."""
    names = _mnemonics(ctx)
    out = []
    for i in range(64):
        if vm_flags & (1 << i):
            name = names.get(i, "??")
            if name:
                out.append(name)
    return out


def vma_kernel_pagesize(ctx: SmapsContext, vma: Vma) -> int:
    if vma.vm_flags & VM_HUGETLB:
        return ctx.target.hstate_vma(vma).huge_page_size()
    return ctx.page_size


def vma_pkey(ctx: SmapsContext, vma: Vma) -> int:
    """vma_pkey(): the VM_PKEY_BIT* of vm_flags (VM_PKEY_SHIFT 32)."""
    return (vma.vm_flags >> 32) & ((1 << ctx.arch.pkey_bits) - 1)


def show_smap(ctx: SmapsContext, task: Any, vma: Vma) -> str:
    """show_smap()."""
    mss = MemSizeStats()
    smap_gather_stats(ctx, vma, mss)
    s = show_map_vma(task, vma.obj)
    page = vma_kernel_pagesize(ctx, vma)
    s += _dec("Size:           ", vma.vm_end - vma.vm_start)
    s += _dec(" kB\nKernelPageSize: ", page)
    s += _dec(" kB\nMMUPageSize:    ", page)
    s += " kB\n"
    s += _show_smap_fields(ctx, mss, False)
    if ctx.k.thp_eligible.startswith("thp_vma_allowable_orders"):  # "%8u" from 6.8
        s += f"THPeligible:    {thp_eligible(ctx, vma):>8}\n"
    else:
        s += f"THPeligible:    {thp_eligible(ctx, vma)}\n"
    if ctx.pkeys:
        s += f"ProtectionKey:  {vma_pkey(ctx, vma):>8}\n"
    s += "VmFlags: " + "".join(f + " " for f in show_smap_vma_flags(ctx, vma.vm_flags)) + "\n"
    return s


def _task_vmas(ctx: SmapsContext, task: Any) -> List[Vma]:
    """The vmas of /proc/PID/smaps: the mm's, then the gate vma."""
    return [ctx.target.vma(v) if v.vm_mm.value_() else _gate(ctx, v)
            for v in task_vmas(task)]


def _gate(ctx: SmapsContext, obj: Object) -> Vma:
    return Vma(mm=None, obj=obj, vm_start=obj.vm_start.value_(),  # type: ignore[arg-type]
               vm_end=obj.vm_end.value_(), vm_flags=obj.vm_flags.value_(),
               anonymous=not obj.vm_ops.value_(), address=obj.value_())


def show_smaps(task: Any, addr: Optional[int] = None) -> str:
    """/proc/PID/smaps (with ``addr``: only the vma containing it)."""
    ctx = SmapsContext(task.prog_)
    vmas = [vma for vma in _task_vmas(ctx, task)
            if addr is None or vma.vm_start <= addr < vma.vm_end]
    return "".join(ctx.target.each_vma(vmas, lambda vma: show_smap(ctx, task, vma)))


FIELD_NAMES = [
    ("Rss", "resident", 0), ("Pss", "pss", PSS_SHIFT),
    ("Pss_Dirty", "pss_dirty", PSS_SHIFT), ("Shared_Clean", "shared_clean", 0),
    ("Shared_Dirty", "shared_dirty", 0), ("Private_Clean", "private_clean", 0),
    ("Private_Dirty", "private_dirty", 0), ("Referenced", "referenced", 0),
    ("Anonymous", "anonymous", 0), ("KSM", "ksm", 0), ("LazyFree", "lazyfree", 0),
    ("AnonHugePages", "anonymous_thp", 0), ("ShmemPmdMapped", "shmem_thp", 0),
    ("FilePmdMapped", "file_thp", 0), ("Shared_Hugetlb", "shared_hugetlb", 0),
    ("Private_Hugetlb", "private_hugetlb", 0), ("Swap", "swap", 0),
    ("SwapPss", "swap_pss", PSS_SHIFT), ("Locked", "pss_locked", PSS_SHIFT),
]
ROLLUP_EXTRA = [("Pss_Anon", "pss_anon", PSS_SHIFT), ("Pss_File", "pss_file", PSS_SHIFT),
                ("Pss_Shmem", "pss_shmem", PSS_SHIFT)]


def _kb(mss: MemSizeStats, attr: str, shift: int) -> int:
    return (getattr(mss, attr) >> shift) >> 10


def _printed(ctx: SmapsContext, name: str) -> bool:
    """Whether __show_smap() prints field ``name`` on this kernel: KSM from
    6.7 (smaps_ksm), Pss_Dirty from 5.19 (smaps_pss_dirty), the rest always."""
    if name == "KSM":
        return ctx.k.smaps_ksm
    if name == "Pss_Dirty":
        return ctx.k.smaps_pss_dirty
    return True


def smaps_records(task: Any) -> List[Dict[str, Any]]:
    """One dict per vma (_smaps_record()); a vma the dump lacks parts of
    is left out and named."""
    ctx = SmapsContext(task.prog_)
    return list(ctx.target.each_vma(_task_vmas(ctx, task),
                                    lambda vma: _smaps_record(ctx, task, vma)))


def _smaps_record(ctx: SmapsContext, task: Any, vma: Vma) -> Dict[str, Any]:
    """start, end, perms, name, every field in kB, THPeligible,
    ProtectionKey (if printed) and VmFlags."""
    from .maps import vma_name, vma_perms

    mss = MemSizeStats()
    smap_gather_stats(ctx, vma, mss)
    rec: Dict[str, Any] = {"start": vma.vm_start, "end": vma.vm_end,
                           "perms": vma_perms(vma.vm_flags),
                           "name": vma_name(task, vma.obj),
                           "Size": (vma.vm_end - vma.vm_start) >> 10,
                           "KernelPageSize": vma_kernel_pagesize(ctx, vma) >> 10,
                           "MMUPageSize": vma_kernel_pagesize(ctx, vma) >> 10}
    for name, attr, shift in FIELD_NAMES:
        if not _printed(ctx, name):
            continue
        rec[name] = _kb(mss, attr, shift)
    rec["THPeligible"] = thp_eligible(ctx, vma)
    if ctx.pkeys:
        rec["ProtectionKey"] = vma_pkey(ctx, vma)
    rec["VmFlags"] = show_smap_vma_flags(ctx, vma.vm_flags)
    return rec


def _rollup(task: Any) -> tuple:
    ctx = SmapsContext(task.prog_)
    mss = MemSizeStats()
    vmas = ctx.target.vmas(ctx.target.mm(task.mm))
    # DUMP: each vma gathered apart and added whole, so that one the dump
    # lacks parts of (left out and named) adds nothing
    read = list(ctx.target.each_vma(vmas, lambda vma: _gather(ctx, vma)))
    for one in read:
        for name in MEM_SIZE_STATS_FIELDS:
            setattr(mss, name, getattr(mss, name) + getattr(one, name))
    mm = ctx.target.mm(task.mm)
    if not read and ctx.target.vma_tree_lost(mm):
        # DUMP: no vma of the mm could be read: no total to print
        raise ctx.target.lost_error(mm)
    if not read and vmas:
        raise ctx.target.last_vma_fault  # DUMP: the same, every vma faulted
    ctx.target.note_partial(mm, "the rollup", len(read), len(vmas))
    start = vmas[0].vm_start if vmas else 0
    end = vmas[-1].vm_end if vmas else 0
    return ctx, mss, start, end


def show_smaps_rollup(task: Any) -> str:
    """show_smaps_rollup(): every vma of the mm (not the gate vma)."""
    ctx, mss, start, end = _rollup(task)
    head = seq_pad(show_vma_header_prefix(start, end, 0, 0, 0, 0)) + "[rollup]\n"
    return head + _show_smap_fields(ctx, mss, True)


def smaps_rollup_record(task: Any) -> Dict[str, Any]:
    """The rollup as {field: kB}, in the kernel's order."""
    ctx, mss, start, end = _rollup(task)
    rec: Dict[str, Any] = {"start": start, "end": end}
    for name, attr, shift in FIELD_NAMES[:3] + ROLLUP_EXTRA + FIELD_NAMES[3:]:
        if not _printed(ctx, name):
            continue
        rec[name] = _kb(mss, attr, shift)
    return rec

