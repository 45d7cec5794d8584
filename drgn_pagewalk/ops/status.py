"""The memory lines of /proc/PID/status: task_mem() of fs/proc/task_mmu.c
(6.1, 6.12) from the mm's counters, and the same quantities recomputed from
a walk of the page tables, so that a damaged or racing counter shows."""

from __future__ import annotations

from collections import Counter
from itertools import compress
from typing import Any, Dict, List, Optional

from drgn import Object
from drgn.helpers.linux.percpu import percpu_counter_sum

from ..arch.base import PUD
from ..target.drgn_target import get_target
from ..walker.walk import (
    ACTION_AGAIN,
    ACTION_CONTINUE,
    MmWalk,
    MmWalkOps,
    pte_offset_map,
    walk_page_range,
    walk_page_range_novma,
)
from .page import (
    PAGE_MAPPING_ANON,
    PageAnon,
    PageCache,
    PageHuge,
    PageInfo,
    entry_page,
    pmd_trans_huge_lock,
    normal_fields,
    large_class,
    order0_classes,
    order0_runs,
    vm_normal_page,
)

MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES = 0, 1, 2, 3


def get_mm_counter(mm: Object, member: int, percpu: bool) -> int:
    """get_mm_counter() (5.10, 6.1: the atomic, negative read as 0 under
    SPLIT_RSS_COUNTING) / get_mm_counter_sum() (``percpu``: 6.12, 7.2: the
    percpu sum)."""
    if percpu:
        return max(0, percpu_counter_sum(mm.rss_stat[member]))
    val = mm.rss_stat.count[member].counter.value_()
    return max(0, val)


def _counters(task: Any) -> Dict[str, int]:
    """task_mem()'s values in kB."""
    prog = task.prog_
    mm = task.mm
    percpu = get_target(prog).kernel.percpu_rss
    anon = get_mm_counter(mm, MM_ANONPAGES, percpu)
    file = get_mm_counter(mm, MM_FILEPAGES, percpu)
    shmem = get_mm_counter(mm, MM_SHMEMPAGES, percpu)
    total_vm = mm.total_vm.value_()
    hiwater_vm = max(total_vm, mm.hiwater_vm.value_())
    total_rss = anon + file + shmem
    hiwater_rss = max(total_rss, mm.hiwater_rss.value_())
    shift = get_target(prog).arch.page_shift
    page_size = 1 << shift
    text = (PAGE_ALIGN(mm.end_code.value_(), page_size)
            - (mm.start_code.value_() & ~(page_size - 1)))
    text = min(text, mm.exec_vm.value_() << shift)
    lib = (mm.exec_vm.value_() << shift) - text
    swap = get_mm_counter(mm, MM_SWAPENTS, percpu)
    pinned = mm.pinned_vm.counter.value_()
    kb = shift - 10  # pages << (PAGE_SHIFT - 10): kB
    return {
        "VmPeak": hiwater_vm << kb, "VmSize": total_vm << kb,
        "VmLck": mm.locked_vm.value_() << kb, "VmPin": pinned << kb,
        "VmHWM": hiwater_rss << kb, "VmRSS": total_rss << kb,
        "RssAnon": anon << kb, "RssFile": file << kb, "RssShmem": shmem << kb,
        "VmData": mm.data_vm.value_() << kb, "VmStk": mm.stack_vm.value_() << kb,
        "VmExe": text >> 10, "VmLib": lib >> 10,
        "VmPTE": mm.pgtables_bytes.counter.value_() >> 10,
        "VmSwap": swap << kb,
        "HugetlbPages": mm.hugetlb_usage.counter.value_() << kb,
    }


def PAGE_ALIGN(addr: int, page_size: int) -> int:
    """PAGE_ALIGN()."""
    return (addr + page_size - 1) & ~(page_size - 1)


def show_status_mem(task: Any) -> str:
    """task_mem() + hugetlb_report_usage(): the memory lines of status."""
    c = _counters(task)
    order = ["VmPeak", "VmSize", "VmLck", "VmPin", "VmHWM", "VmRSS", "RssAnon",
             "RssFile", "RssShmem", "VmData", "VmStk", "VmExe", "VmLib",
             "VmPTE", "VmSwap", "HugetlbPages"]
    return "".join(f"{name}:\t{c[name]:>8} kB\n" for name in order)


class _Rss:
    def __init__(self, prog: Any) -> None:
        target = get_target(prog)
        self.arch = target.arch
        self.pages = PageCache(prog)
        self.max_swapfiles = self.arch.max_swapfiles
        self.huge_zero = target.huge_zero_pfn()
        self.counts = {"anon": 0, "file": 0, "shmem": 0, "swap": 0}
        self.m_head = 1 << self.pages.bit("PG_head")
        self.m_swapbacked = 1 << self.pages.bit("PG_swapbacked")

    def account(self, page: PageInfo, nr: int) -> None:
        """mm_counter() of the page's folio."""
        head = self.pages.head(page)
        self.count(head.flags, head.mapping, nr)

    def count(self, flags: int, mapping: int, nr: int) -> None:
        """mm_counter() of a folio with these flags and mapping: anon, shmem
        (swap-backed) or file."""
        if mapping & PAGE_MAPPING_ANON:
            self.counts["anon"] += nr
        elif flags & self.m_swapbacked:
            self.counts["shmem"] += nr
        else:
            self.counts["file"] += nr


def _rss_classes(rss: _Rss, classes: "Counter[tuple]") -> bool:
    """The order-0 pages of ``classes`` (order0_classes()) counted, each
    class once; True if a class is of pages of large folios (left for the
    caller, page by page)."""
    large = False
    for (flags, mapping, _, _, tail), n in classes.items():
        if tail or flags & rss.m_head:
            large = True
        else:
            rss.count(flags, mapping, n)
    return large


def _rss_order0_bulk(rss: _Rss, normal: List[int], pfns: List[int]) -> bool:
    """The present, not special PTEs ``normal`` of one table (PFNs
    ``pfns``) counted without per-page Python: order-0 pages by class
    (order0_classes()), pages of large folios one by one.  False, having
    done nothing, where the per-entry loop must run (it reports PFNs
    without a struct page)."""
    pc = rss.pages
    raws = normal_fields(pc, pfns)
    if raws is None:
        return False
    classes = order0_classes(pc, raws, rss.m_head | rss.m_swapbacked)
    if _rss_classes(rss, classes):
        for pfn, raw in zip(pfns, raws):
            page = pc.decode(pfn, raw)  # read above
            if page.head_pfn != page.pfn or page.flags & rss.m_head:
                rss.account(page, 1)
    return True


def _rss_pmd_entry(pmd: Any, addr: int, next: int, walk: MmWalk) -> int:
    """What the kernel's rss counters count, from the tables: a THP whole;
    a PTE table in one pass over its non-zero entries, their struct pages
    read in runs; swap entries of swap devices."""
    rss: _Rss = walk.private
    arch = walk.arch
    val = pmd.val
    walk.action = ACTION_CONTINUE
    if pmd_trans_huge_lock(walk, pmd, addr):  # clears a garbage swap pmd
        if not arch.pmd_trans_huge(val):
            return 0  # a THP migration entry or devmap: in no rss counter
        pfn = arch.pmd_pfn(val)
        page = entry_page(rss.pages, pfn, walk, "pmd", addr, val) \
            if pfn != rss.huge_zero else None
        if page is not None:
            rss.account(page, (next - addr) >> arch.page_shift)
        return 0
    pte = pte_offset_map(walk, pmd, addr)
    if pte is None:
        walk.action = ACTION_AGAIN  # a bad pmd, now cleared: a hole
        return 0
    vals = pte.table.vals
    first = pte.index
    last = first + ((next - addr) >> arch.page_shift)
    runs = order0_runs(rss.pages, arch, vals, first, last, rss.m_head | rss.m_swapbacked)
    if runs is not None and not large_class(runs[0], rss.m_head):
        _rss_classes(rss, runs[0])  # every PTE normal, PFNs in runs, no large folio
        return 0
    normal, pfns, others = arch.normal_ptes(
        vals, list(compress(range(first, last), vals[first:last])))
    if normal and not _rss_order0_bulk(rss, normal, pfns):
        others = sorted(others + normal)
    for i in others:
        v = vals[i]
        if arch.pte_present(v):
            page = vm_normal_page(rss.pages, arch, walk.vma, v, walk,
                                  addr + ((i - first) << arch.page_shift))
            if page is not None:
                rss.account(page, 1)
        elif arch.is_swap_pte(v):
            swp_type, _ = arch.swp_type_offset(v)
            if swp_type < rss.max_swapfiles:
                rss.counts["swap"] += 1
    return 0


RSS_OPS = MmWalkOps(pmd_entry=_rss_pmd_entry)


def _table_pages(task: Any) -> int:
    """Page-table pages below the pgd that hold user entries: what
    mm->pgtables_bytes counts (pud, pmd and pte tables; not p4d, not pgd),
    plus the PTE table deposited with every anonymous THP and huge zero
    page mapping (pgtable_trans_huge_deposit(), counted by mm_inc_nr_ptes())."""
    target = get_target(task.prog_)
    mm = target.mm(task.mm)
    arch = target.arch
    pages = PageCache(task.prog_)
    huge_zero = target.huge_zero_pfn()
    count = [0]

    # mm_inc_nr_puds() counts nothing where the pud is folded: into the p4d
    # (pgtable-nopud.h) or, at run time, into the pgd page (mm_pud_folded():
    # arm64's 4-level LPA2 kernel on 47 bits)
    pud_tables = arch.has_tables(PUD)

    def p4d_entry(p4d: Any, addr: int, next: int, walk: MmWalk) -> int:
        if pud_tables:
            count[0] += 1  # a present p4d points to a pud table
        return 0

    def pud_entry(pud: Any, addr: int, next: int, walk: MmWalk) -> int:
        if arch.pud_present(pud.val) and not arch.pud_leaf(pud.val):
            count[0] += 1
        return 0

    def pmd_entry(pmd: Any, addr: int, next: int, walk: MmWalk) -> int:
        val = pmd.val
        if arch.pmd_present(val) and not arch.pmd_leaf(val):
            count[0] += 1
        elif arch.pmd_trans_huge(val):
            pfn = arch.pmd_pfn(val)
            page = entry_page(pages, pfn, walk, "pmd", addr, val)
            # hugetlb pmds deposit nothing; anon THPs and the huge zero page do
            if pfn == huge_zero or (page is not None and PageAnon(pages, page)
                                    and not PageHuge(pages, page)):
                count[0] += 1  # the deposited table
        walk.action = ACTION_CONTINUE
        return 0

    ops = MmWalkOps(p4d_entry=p4d_entry, pud_entry=pud_entry, pmd_entry=pmd_entry)
    walk_page_range_novma(mm, 0, arch.task_size, ops)
    return count[0]


def split_rss_pending(task: Any) -> Optional[Dict[str, int]]:
    """6.1 (SPLIT_RSS_COUNTING): counts each thread holds in
    task->rss_stat and has not yet folded into the mm's counters, in kB.
    None on kernels that count per cpu (6.2+), where the sum is exact."""
    if get_target(task.prog_).kernel.percpu_rss:
        return None
    from drgn.helpers.linux.list import list_for_each_entry

    pending = [0, 0, 0, 0]
    leader = task.group_leader
    threads = list(list_for_each_entry("struct task_struct",
                                       leader.signal.thread_head.address_of_(),
                                       "thread_node"))
    for t in threads or [leader]:
        for i in range(4):
            pending[i] += t.rss_stat.count[i].value_()
    kb = get_target(task.prog_).arch.page_shift - 10
    return {"RssFile": pending[MM_FILEPAGES] << kb, "RssAnon": pending[MM_ANONPAGES] << kb,
            "VmSwap": pending[MM_SWAPENTS] << kb, "RssShmem": pending[MM_SHMEMPAGES] << kb,
            "VmRSS": (pending[MM_FILEPAGES] + pending[MM_ANONPAGES]
                      + pending[MM_SHMEMPAGES]) << kb}


def _walk_vmas_read(target: Any, mm: Any, rss: _Rss) -> None:
    """DUMP: parts of the vma tree are lost: the walk is made vma by vma
    over those the dump holds (the same walk as one over the address
    space, less the lost parts); a vma it cannot finish adds nothing; the
    walk column says what it covers (note_partial())."""
    vmas = target.vmas(mm)

    def one(vma: Any) -> None:
        before = dict(rss.counts)
        try:
            walk_page_range(mm, vma.vm_start, vma.vm_end, RSS_OPS, rss)
        except BaseException:
            rss.counts = before
            raise

    read = len(list(target.each_vma(vmas, one)))
    target.note_partial(mm, "the walk column", read, len(vmas))


def status_fields(task: Any, walk: bool = True) -> Dict[str, Dict[str, Optional[Any]]]:
    """Each memory field: {"counters": kB as status prints it, "walk": kB
    from the page tables (None where a walk cannot know it, or with
    ``walk`` False: no walk), "pending": kB not yet folded into the
    counters (6.1 per-thread caches, else None), "agree": walk == counters
    + pending}."""
    prog = task.prog_
    target = get_target(prog)
    counters = _counters(task)
    walked: Dict[str, int] = {}
    partial = False
    if walk:
        rss = _Rss(prog)
        mm = target.mm(task.mm)
        partial = target.vma_tree_lost(mm)
        if not partial:
            walk_page_range(mm, 0, target.arch.task_size, RSS_OPS, rss)
        else:
            _walk_vmas_read(target, mm, rss)
        kb = target.arch.page_shift - 10  # pages << (PAGE_SHIFT - 10): kB
        walked = {
            "RssAnon": rss.counts["anon"] << kb, "RssFile": rss.counts["file"] << kb,
            "RssShmem": rss.counts["shmem"] << kb,
            "VmRSS": (rss.counts["anon"] + rss.counts["file"]
                      + rss.counts["shmem"]) << kb,
            "VmSwap": rss.counts["swap"] << kb, "VmPTE": _table_pages(task) << kb,
        }
    pending = split_rss_pending(task) or {}
    out: Dict[str, Dict[str, Optional[Any]]] = {}
    for name, value in counters.items():
        w = walked.get(name)
        p = pending.get(name)
        out[name] = {"counters": value, "walk": w, "pending": p,
                     # DUMP: a walk over part of the vmas agrees with nothing
                     "agree": None if w is None or partial else w == value + (p or 0)}
    return out
