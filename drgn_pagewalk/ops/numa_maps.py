"""/proc/PID/numa_maps: show_numa_map() of fs/proc/task_mmu.c (6.1, 6.12)
with its walk (pmd_entry = gather_pte_stats, hugetlb_entry =
gather_hugetlb_stats)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from drgn import Object
from drgn.helpers.linux.mmzone import NODE_DATA
from drgn.helpers.linux.nodemask import for_each_node_state

from ..drgn_target import get_target
from ..target import VM_HUGETLB, Vma
from ..walk import MmWalk, MmWalkOps, walk_page_vma
from .maps import file_path
from .page import (
    PageAnon,
    PageCache,
    PageInfo,
    entry_page,
    folio_precise_page_mapcount,
    page_mapcount,
    pmd_trans_huge_lock,
    pte_offset_map_lock,
    used_ptes,
    vm_normal_page,
)

POLICY_MODES = ["default", "prefer", "bind", "interleave", "local",
                "prefer (many)", "weighted interleave"]


@dataclass
class NumaMaps:
    """struct numa_maps."""

    pages: int = 0
    anon: int = 0
    active: int = 0
    writeback: int = 0
    mapcount_max: int = 0
    dirty: int = 0
    swapcache: int = 0
    node: Dict[int, int] = field(default_factory=dict)


class NumaContext:
    def __init__(self, prog: Any) -> None:
        self.prog = prog
        self.target = get_target(prog)
        self.arch = self.target.arch
        self.pages = PageCache(prog, self.arch.kernel_version)
        self.new = self.arch.kernel_version >= (6, 12)
        self.memory_nodes = list(for_each_node_state(prog, prog["N_MEMORY"]))
        self.node_ranges: List[Tuple[int, int, int]] = []
        for nid in self.memory_nodes:
            pgdat = NODE_DATA(prog, nid)
            start = pgdat.node_start_pfn.value_()
            self.node_ranges.append((start, start + pgdat.node_spanned_pages.value_(), nid))

    def page_to_nid(self, pfn: int) -> int:
        """page_to_nid(): the node whose span holds the pfn."""
        for start, end, nid in self.node_ranges:
            if start <= pfn < end:
                return nid
        return -1


def gather_stats(ctx: NumaContext, page: PageInfo, md: NumaMaps, pte_dirty: bool,
                 nr_pages: int) -> None:
    """gather_stats()."""
    pc = ctx.pages
    head = pc.head(page)
    if ctx.new:
        count = folio_precise_page_mapcount(pc, head, page)
    else:
        count = page_mapcount(pc, page)
    md.pages += nr_pages
    if pte_dirty or pc.test(head, "PG_dirty"):
        md.dirty += nr_pages
    # PageSwapCache(): swap-backed and PG_swapcache
    if pc.test(head, "PG_swapbacked") and pc.test(head, "PG_swapcache"):
        md.swapcache += nr_pages
    if pc.test(head, "PG_active") or pc.test(head, "PG_unevictable"):
        md.active += nr_pages
    if pc.test(head, "PG_writeback"):
        md.writeback += nr_pages
    if PageAnon(pc, page):
        md.anon += nr_pages
    if count > md.mapcount_max:
        md.mapcount_max = count
    nid = ctx.page_to_nid(head.pfn)
    md.node[nid] = md.node.get(nid, 0) + nr_pages


def can_gather_numa_stats(ctx: NumaContext, pte: int, vma: Vma, walk: MmWalk,
                          addr: int) -> Optional[PageInfo]:
    """can_gather_numa_stats() (and _pmd(): same tests on the head page)."""
    if not ctx.arch.pte_present(pte):
        return None
    page = vm_normal_page(ctx.pages, ctx.arch, vma, pte, walk, addr)
    if page is None or ctx.pages.test(page, "PG_reserved"):
        return None
    if ctx.page_to_nid(page.pfn) not in ctx.memory_nodes:
        return None
    return page


def gather_pte_stats(pmd: Any, addr: int, end: int, walk: MmWalk) -> int:
    """gather_pte_stats()."""
    ctx, md = walk.private
    arch = walk.arch
    val = pmd.val
    if pmd_trans_huge_lock(walk, pmd, addr):
        if arch.pmd_present(val):
            pfn = arch.pmd_pfn(val)
            if pfn != walk.target.huge_zero_pfn():  # vm_normal_page_pmd()
                page = entry_page(ctx.pages, pfn, walk, "pmd", addr, val)
                if page is not None and not ctx.pages.test(page, "PG_reserved") \
                        and ctx.page_to_nid(pfn) in ctx.memory_nodes:
                    gather_stats(ctx, page, md, arch.pte_dirty(val), 512)
        return 0
    pte = pte_offset_map_lock(walk, pmd, addr)
    if pte is None:
        return 0
    vals, first = pte.table.vals, pte.index
    # do { ... } while (pte++, addr += PAGE_SIZE, addr != end): a zero PTE
    # is not present, so only the others are visited (found in C), and
    # their struct pages are read in runs first.
    last = first + ((end - addr) >> 12)
    for i in used_ptes(ctx.pages, arch, vals, first, last):
        page = can_gather_numa_stats(ctx, vals[i], walk.vma, walk,
                                     addr + ((i - first) << 12))
        if page is not None:
            gather_stats(ctx, page, md, arch.pte_dirty(vals[i]), 1)
    return 0


def gather_hugetlb_stats(pte: Any, hmask: int, addr: int, end: int,
                         walk: MmWalk) -> int:
    """gather_hugetlb_stats()."""
    ctx, md = walk.private
    arch = walk.arch
    if not arch.pte_present(pte.val):
        return 0
    page = entry_page(ctx.pages, arch.leaf_pfn(pte.level, pte.val), walk,
                      pte.level_name, addr, pte.val)
    if page is None:
        return 0
    gather_stats(ctx, page, md, arch.pte_dirty(pte.val), 1)
    return 0


SHOW_NUMA_OPS = MmWalkOps(hugetlb_entry=gather_hugetlb_stats,
                          pmd_entry=gather_pte_stats)


def mpol_to_str(pol: Object) -> str:
    """mpol_to_str(): "default" for no policy; mode, flags and nodes else."""
    if not pol.value_():
        return "default"
    mode = pol.mode.value_()
    if mode == 0:
        return "default"
    text = POLICY_MODES[mode] if mode < len(POLICY_MODES) else "unknown"
    flags = pol.flags.value_()
    # MPOL_F_STATIC_NODES (1 << 15), MPOL_F_RELATIVE_NODES (1 << 14)
    if flags & ((1 << 15) | (1 << 14)):
        text += "=static" if flags & (1 << 15) else "=relative"
    if mode not in (4,):  # MPOL_LOCAL has no nodes
        from drgn.helpers.linux.nodemask import for_each_node_mask

        nodes = list(for_each_node_mask(pol.nodes))
        if nodes:
            text += ":" + _nodelist(nodes)
    return text


def _nodelist(nodes: List[int]) -> str:
    """%*pbl: ranges of node numbers."""
    parts = []
    start = prev = nodes[0]
    for n in nodes[1:] + [None]:  # type: ignore[list-item]
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ",".join(parts)


def _escape(path: str, chars: str = "\n\t= ") -> str:
    """seq_file_path()'s mangle_path(): the given chars as octal escapes
    (file_path() already turned newlines into \\012)."""
    for c in chars:
        if c != "\n":
            path = path.replace(c, "\\%03o" % ord(c))
    return path


def show_numa_map(ctx: NumaContext, task: Any, vma: Vma) -> str:
    """show_numa_map()."""
    mm = vma.obj.vm_mm
    if not mm.value_():
        return ""
    md = NumaMaps()
    # __get_vma_policy(): shmem's get_policy finds no shared policy in the
    # lab; vma->vm_policy, else the task's mempolicy
    pol = vma.obj.vm_policy
    if not pol.value_():
        pol = task.mempolicy
    s = "%08x %s" % (vma.vm_start, mpol_to_str(pol))
    file = vma.obj.vm_file
    if file.value_():
        s += " file=" + _escape(file_path(file))
    elif vma.vm_start <= mm.brk.value_() and vma.vm_end >= mm.start_brk.value_():
        s += " heap"
    elif vma.vm_start <= mm.start_stack.value_() <= vma.vm_end:
        s += " stack"
    huge = bool(vma.vm_flags & VM_HUGETLB)
    if huge:
        s += " huge"
    walk_page_vma(vma, SHOW_NUMA_OPS, (ctx, md))
    if md.pages:
        if md.anon:
            s += f" anon={md.anon}"
        if md.dirty:
            s += f" dirty={md.dirty}"
        if md.pages != md.anon and md.pages != md.dirty:
            s += f" mapped={md.pages}"
        if md.mapcount_max > 1:
            s += f" mapmax={md.mapcount_max}"
        if md.swapcache:
            s += f" swapcache={md.swapcache}"
        if md.active < md.pages and not huge:
            s += f" active={md.active}"
        if md.writeback:
            s += f" writeback={md.writeback}"
        for nid in ctx.memory_nodes:
            if md.node.get(nid):
                s += f" N{nid}={md.node[nid]}"
        size = ctx.target.hstate_vma(vma).huge_page_size() if huge else 4096
        s += f" kernelpagesize_kB={size >> 10}"
    return s + "\n"


def show_numa_maps(task: Any) -> str:
    """/proc/PID/numa_maps."""
    ctx = NumaContext(task.prog_)
    mm = ctx.target.mm(task.mm)
    return "".join(show_numa_map(ctx, task, vma) for vma in ctx.target.vmas(mm))
