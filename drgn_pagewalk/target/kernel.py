"""What the dump's kernel has: one KernelFeatures per dump, probed once from
its debug info (types, members, enum constants, symbols), the release only
where the debug info cannot tell.

The ops test these named features, never version numbers: a kernel function
that changed between supported kernels has one variant per behaviour, and
the variant is chosen from a feature here.  Each feature says which change
of the kernel it stands for and on which kernels the project proved it.
Proven kernels: Debian's 5.10 (5.10.251), 6.1 (6.1.192), 6.12 (6.12.117)
and 7.2 (7.2.13); a kernel between them gets what its debug info says, which
is the kernel's own word for every probe but the release-based ones
(``pte_offset_map_may_fail``), and is unproven.

This module only reads what ``probe()`` is given: a drgn Program, used
through the duck-typed calls below (no drgn import).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Tuple

from ..arch.base import SwapTypes

#: show_smap_vma_flags()'s generic table of 6.1 (bit: name); the arch adds
#: its own (Arch.vm_flag_mnemonics())
_VM_FLAG_NAMES_61 = {
    0: "rd", 1: "wr", 2: "ex", 3: "sh", 4: "mr", 5: "mw", 6: "me", 7: "ms", 8: "gd",
    9: "um", 10: "pf", 12: "uw", 13: "lo", 14: "io", 15: "sr", 16: "rr", 17: "dc",
    18: "de", 20: "ac", 21: "nr", 22: "ht", 23: "sf", 24: "ar", 25: "wf", 26: "dd",
    27: "sd", 28: "mm", 29: "hg", 30: "nh", 31: "mg", 37: "ui"}


def _vm_flag_names(prog: Any, version: Tuple[int, int], folio: bool) -> Tuple[Tuple[int, str], ...]:
    """show_smap_vma_flags()'s generic entries.  The VM_* bits are macros
    (not in the debug info) up to 6.x, so the table is the proven kernel's:
    5.10's (VM_DENYWRITE "dw" at bit 11, removed in 5.15; no VM_UFFD_MINOR,
    added in 5.13) for kernels without struct folio, 6.1's up to 6.11,
    6.12's (VM_UFFD_MINOR moved to 38 for the shadow stack, "lf", "dp",
    "sl") from 6.12.  7.x declares the bits as enum constants (VMA_*_BIT),
    read from the debug info."""
    names = dict(_VM_FLAG_NAMES_61)
    if not folio:
        del names[37]
        names[11] = "dw"
        return tuple(sorted(names.items()))
    if version < (6, 12):
        return tuple(sorted(names.items()))
    del names[37]
    names.update({19: "lf", 38: "ui", 40: "dp", 63: "sl"})
    bits = {"VMA_UFFD_MINOR_BIT": "ui", "VMA_SEALED_BIT": "sl", "VMA_DROPPABLE_BIT": "dp",
            "VMA_MAYBE_GUARD_BIT": "gu", "VMA_LOCKONFAULT_BIT": "lf"}
    if _has_constant(prog, "VMA_SEALED_BIT"):
        for bit in (38, 63, 40, 19):
            names.pop(bit, None)
        for const, name in bits.items():
            if _has_constant(prog, const):
                names[prog.constant(const).value_()] = name
    return tuple(sorted(names.items()))


@dataclass(frozen=True)
class KernelFeatures:
    """The kernel's features that change what the walker's users print."""

    #: (major, minor) of the release, for messages and the few release tests
    version: Tuple[int, int]
    #: struct folio exists (5.16 on; 5.10 has struct page only, a compound
    #: page's mapcount and order in its first tail page)
    folio: bool
    #: folio->_large_mapcount and _entire_mapcount (6.11 on; proven 6.12,
    #: 7.2): the folio mapcount model of task_mmu.c from 6.12 on
    #: (folio_precise_page_mapcount(), smaps_account(..., present),
    #: is_pfn_swap_entry() pmds).  Without it: page_mapcount() with
    #: compound_mapcount and PageDoubleMap (5.10, 6.1).
    large_mapcount: bool
    #: page types in page_type's top byte (enum pagetype, PGTY_*; proven
    #: 6.12, 7.2); before, PG_* bits of page_type and the compound dtor
    page_type_enum: bool
    #: struct page's compound_info (7.1 on) instead of compound_head, and
    #: whether it holds a mask (CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP with a
    #: power-of-two struct page: compound_info_has_mask())
    compound_info: bool
    compound_info_mask: bool
    #: mm->flags is mm_flags_t, a bitmap (7.x); before, an unsigned long
    mm_flags_bitmap: bool
    #: mm->rss_stat is percpu_counter[] (6.2 on); before, atomic_long_t
    #: counts with per-thread caches (SPLIT_RSS_COUNTING)
    percpu_rss: bool
    #: PG_young/PG_idle page flags (CONFIG_PAGE_IDLE_FLAG on 64-bit):
    #: page_is_young() reads PG_young (Debian's 6.12, 7.2)
    page_idle_flag: bool
    #: smaps prints Pss_Dirty (5.19 on: mem_size_stats.pss_dirty)
    smaps_pss_dirty: bool
    #: smaps prints KSM (6.7 on: mem_size_stats.ksm)
    smaps_ksm: bool
    #: smaps counts the swap of shmem holes itself (5.10:
    #: mem_size_stats.check_shmem_swap; later smaps_pte_hole_lookup())
    smaps_check_shmem_swap: bool
    #: CONFIG_TRANSPARENT_HUGEPAGE (transparent_hugepage_flags): Debian's rt
    #: flavour has none; then the THP code is the kernel's stubs (no THP
    #: mapped, THPeligible 0, smaps' THP lines 0)
    thp: bool
    #: struct rw_semaphore is PREEMPT_RT's struct rwbase_rt (rt flavour)
    rwsem_rt: bool
    #: which THPeligible test smaps prints: "transparent_hugepage_active"
    #: (5.10, "%d"), "hugepage_vma_check" (6.1, "%d") or
    #: "thp_vma_allowable_orders" (6.8 on, mTHP, "%8u") or
    #: "thp_vma_allowable_orders_tva" (7.x: enum tva_type; file_thp_enabled()
    #: for regular files, MMF_DISABLE_THP_EXCEPT_ADVISED, shmem's
    #: orders & shmem_allowable_huge_orders(); "%8u")
    thp_eligible: str
    #: struct slab (5.17 on) holds a slab page's cache; before, struct page
    struct_slab: bool
    #: the PG_kmemcg page type (0x200) before PG_table (then 0x400), with
    #: page->mem_cgroup (5.10); from 5.11 (page->memcg_data) PG_table is 0x200
    pg_kmemcg_type: bool
    #: show_smap_vma_flags()'s generic (bit, name) pairs (_vm_flag_names())
    vm_flag_names: Tuple[Tuple[int, str], ...]
    #: pte_offset_map() may fail and pmd_entry callers then ask for
    #: ACTION_AGAIN (6.5 on: __pte_offset_map()); before,
    #: pmd_trans_unstable() and return 0
    pte_offset_map_may_fail: bool
    #: include/linux/swap.h's swap entry types (arch.base.SwapTypes):
    #: MAX_SWAPFILES is the length of swap_info[]; SWP_HWPOISON_NUM 1 with
    #: CONFIG_MEMORY_FAILURE (memory_failure()); SWP_DEVICE_NUM with
    #: CONFIG_DEVICE_PRIVATE (make_device_exclusive(_range)(); Debian's
    #: 7.2: 3, so every special type moves down by 3 from 6.12's);
    #: SWP_PTE_MARKER_NUM with CONFIG_PTE_MARKER (the pte_marker type,
    #: 5.19 on); SWP_MIGRATION_NUM 3 (2 before READ_EXCLUSIVE, 5.19)
    swap_types: SwapTypes
    #: the variable is_zero_pfn() reads: "zero_pfn" up to 6.x,
    #: "zero_page_pfn" in 7.x (where zero_pfn() became a function)
    zero_pfn_variable: str
    #: swap counts live in the clusters' swap tables (7.x, "mm, swap: use
    #: the swap table", swap_cluster_info.table; swp_swapcount() reads the
    #: table entry's count bits); before, si->swap_map[] bytes
    swap_table: bool
    #: struct page's member for folio->index: "index" up to 6.x,
    #: "__folio_index" in 7.x (folio->index aliases it)
    page_index_member: str
    #: PTE guard markers (MADV_GUARD_INSTALL, 6.13 on: madvise_guard_install())
    #: and pagemap's PM_GUARD_REGION bit 58 for them (6.15 on; proven on
    #: 7.2; a 6.13 or 6.14 kernel would show the bit it does not have)
    pagemap_guard_region: bool
    #: pagemap_pmd_range_thp() (7.x, with the softleaf API of leafops.h:
    #: enum softleaf_type) takes PM_MMAP_EXCLUSIVE of all the entries of a
    #: PMD-mapped THP from its first page (__folio_page_mapped_exclusively(
    #: folio, page) with page = pmd_page()); 6.12 asked each subpage
    #: (page + idx).  Proven on 7.2.
    pagemap_pmd_exclusive_first_page: bool


def _has_type(prog: Any, name: str) -> bool:
    try:
        prog.type(name)
    except LookupError:
        return False
    return True


def _has_member(prog: Any, type_name: str, member: str) -> bool:
    try:
        return bool(prog.type(type_name).has_member(member))
    except LookupError:
        return False


def _has_constant(prog: Any, name: str) -> bool:
    try:
        prog.constant(name)
    except LookupError:
        return False
    return True


def _has_symbol(prog: Any, name: str) -> bool:
    try:
        prog.symbol(name)
    except LookupError:
        return False
    return True


def _is_struct(prog: Any, type_name: str, member: str) -> bool:
    """Whether ``type_name.member`` is a struct (through typedefs)."""
    try:
        t = prog.type(type_name).member(member).type
    except LookupError:
        return False
    while t.kind.name == "TYPEDEF":
        t = t.type
    return t.kind.name == "STRUCT"


def _compound_info_has_mask(prog: Any) -> bool:
    """compound_info_has_mask() (7.1 on): CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP
    (its zone->vmemmap_tails) and a power-of-two sizeof(struct page)."""
    size = prog.type("struct page").size
    return size & (size - 1) == 0 and _has_member(prog, "struct zone", "vmemmap_tails")


def _thp_eligible(prog: Any, version: Tuple[int, int]) -> str:
    if not _has_symbol(prog, "transparent_hugepage_flags"):
        # no THP: only show_smap()'s format tells the variants apart, and
        # the stubs leave nothing in the debug info to probe
        return "thp_vma_allowable_orders" if version >= (6, 8) else "hugepage_vma_check"
    if _has_type(prog, "enum tva_type"):
        return "thp_vma_allowable_orders_tva"
    if _has_symbol(prog, "__thp_vma_allowable_orders"):
        return "thp_vma_allowable_orders"
    if _has_symbol(prog, "transparent_hugepage_active"):
        return "transparent_hugepage_active"
    return "hugepage_vma_check"


def _swap_types(prog: Any) -> SwapTypes:
    """The swap entry types of the dump's kernel (KernelFeatures.swap_types):
    32 types (MAX_SWAPFILES_SHIFT 5) shared out, from the debug info."""
    max_swapfiles = prog["swap_info"].type_.length
    hwpoison = 1 if _has_symbol(prog, "memory_failure") else 0
    marker = 1 if _has_type(prog, "pte_marker") else 0
    rest = 32 - max_swapfiles - hwpoison - marker
    if _has_symbol(prog, "make_device_exclusive") or _has_symbol(
            prog, "make_device_exclusive_range"):
        migration = 3
        device = rest - migration
    else:
        # no device types: what is left is migration's (and 6.1-6.4's
        # SWP_SWAPIN_ERROR, the last type)
        migration = min(3, rest)
        device = 0
    return SwapTypes(max_swapfiles=max_swapfiles, hwpoison_num=hwpoison,
                     migration_num=migration, device_num=device,
                     pte_marker_num=marker)


def probe(prog: Any, version: Tuple[int, int]) -> KernelFeatures:
    """The KernelFeatures of the kernel ``prog`` reads (its release's
    ``version``)."""
    compound_info = _has_member(prog, "struct page", "compound_info")
    folio = _has_type(prog, "struct folio")
    return KernelFeatures(
        version=version,
        folio=folio,
        large_mapcount=_has_member(prog, "struct folio", "_large_mapcount"),
        page_type_enum=_has_constant(prog, "PGTY_hugetlb"),
        compound_info=compound_info,
        compound_info_mask=compound_info and _compound_info_has_mask(prog),
        mm_flags_bitmap=_is_struct(prog, "struct mm_struct", "flags"),
        percpu_rss=not _has_type(prog, "struct mm_rss_stat"),
        page_idle_flag=_has_constant(prog, "PG_young"),
        smaps_pss_dirty=_has_member(prog, "struct mem_size_stats", "pss_dirty"),
        smaps_ksm=_has_member(prog, "struct mem_size_stats", "ksm"),
        smaps_check_shmem_swap=_has_member(prog, "struct mem_size_stats", "check_shmem_swap"),
        thp=_has_symbol(prog, "transparent_hugepage_flags"),
        rwsem_rt=_has_member(prog, "struct rw_semaphore", "rwbase"),
        thp_eligible=_thp_eligible(prog, version),
        struct_slab=_has_type(prog, "struct slab"),
        pg_kmemcg_type=_has_member(prog, "struct page", "mem_cgroup"),
        pte_offset_map_may_fail=_has_symbol(prog, "__pte_offset_map"),
        swap_types=_swap_types(prog),
        swap_table=_has_member(prog, "struct swap_cluster_info", "table"),
        pagemap_guard_region=_has_symbol(prog, "madvise_guard_install"),
        pagemap_pmd_exclusive_first_page=_has_type(prog, "enum softleaf_type"),
        page_index_member=("__folio_index" if _has_member(prog, "struct page", "__folio_index")
                           else "index"),
        zero_pfn_variable="zero_page_pfn" if _has_symbol(prog, "zero_page_pfn") else "zero_pfn",
        vm_flag_names=_vm_flag_names(prog, version, folio),
    )
