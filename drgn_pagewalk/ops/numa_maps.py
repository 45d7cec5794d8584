"""/proc/PID/numa_maps: show_numa_map() of fs/proc/task_mmu.c (6.1, 6.12)
with its walk (pmd_entry = gather_pte_stats, hugetlb_entry =
gather_hugetlb_stats)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import compress
from typing import Any, Dict, List, Optional

from drgn import NULL, Object, container_of, sizeof
from drgn.helpers.linux.nodemask import for_each_node_state

from ..arch.base import PMD
from ..target.drgn_target import get_target
from ..target.base import VM_HUGETLB, TargetError, Vma
from ..walker.walk import MmWalk, MmWalkOps, huge_ptep_get, walk_page_vma
from .maps import file_path
from .page import (
    PAGE_MAPPING_ANON,
    PageCache,
    PageInfo,
    entry_page,
    folio_precise_page_mapcount,
    page_mapcount,
    pmd_trans_huge_lock,
    pte_offset_map_lock,
    normal_fields,
    large_class,
    nodes_pgshift,
    order0_classes,
    order0_runs,
    page_mapcount_is_type,
    vm_normal_page,
)

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
        self.pages = PageCache(prog)
        #: the kernel's features (kernel.py)
        self.k = self.target.kernel
        self.memory_nodes = list(for_each_node_state(prog, prog["N_MEMORY"]))
        #: page_to_nid(): the node field of page->flags
        self.nid_shift, self.nid_mask = nodes_pgshift(prog)
        pc = self.pages
        self.m = {name: 1 << pc.bit(name) for name in (
            "PG_head", "PG_dirty", "PG_swapbacked", "PG_swapcache", "PG_active",
            "PG_unevictable", "PG_writeback", "PG_reserved")}
        #: the flags _gather_order0_bulk() tells pages apart by, and the
        #: node field: pages of one class are on one node
        self.m_order0_flags = sum(self.m.values()) | self.nid_mask << self.nid_shift

    def page_to_nid(self, flags: int) -> int:
        """page_to_nid() / folio_nid() of the page whose flags are
        ``flags``: (page->flags >> NODES_PGSHIFT) & NODES_MASK."""
        return flags >> self.nid_shift & self.nid_mask


def gather_stats(ctx: NumaContext, page: PageInfo, md: NumaMaps, pte_dirty: bool,
                 nr_pages: int) -> None:
    """gather_stats()."""
    pc = ctx.pages
    head = pc.head(page)
    if ctx.k.large_mapcount:
        count = folio_precise_page_mapcount(pc, head, page)
    else:
        count = page_mapcount(pc, page)
    _gather_folio(ctx, md, head.flags, head.mapping, count, ctx.page_to_nid(head.flags),
                  pte_dirty, nr_pages)


def _gather_folio(ctx: NumaContext, md: NumaMaps, flags: int, mapping: int, count: int,
                  nid: int, pte_dirty: bool, nr_pages: int) -> None:
    """gather_stats() once the folio's flags and mapping (its head page's),
    the page's mapcount and the node are known."""
    m = ctx.m
    md.pages += nr_pages
    if pte_dirty or flags & m["PG_dirty"]:
        md.dirty += nr_pages
    # PageSwapCache(): swap-backed and PG_swapcache
    if flags & m["PG_swapbacked"] and flags & m["PG_swapcache"]:
        md.swapcache += nr_pages
    if flags & m["PG_active"] or flags & m["PG_unevictable"]:
        md.active += nr_pages
    if flags & m["PG_writeback"]:
        md.writeback += nr_pages
    if mapping & PAGE_MAPPING_ANON:
        md.anon += nr_pages
    if count > md.mapcount_max:
        md.mapcount_max = count
    md.node[nid] = md.node.get(nid, 0) + nr_pages


def _gather_classes(walk: MmWalk, classes: "Counter[tuple]") -> bool:
    """gather_stats() of the order-0 pages of ``classes`` (order0_classes()
    with the node index and the PTE's dirty bit), each class once, after
    can_gather_numa_stats()'s tests; True if a class is of pages of large
    folios (left for the caller, page by page)."""
    ctx, md = walk.private
    arch = walk.arch
    large = False
    for (flags, mapping, mapcount, _, tail, bits), n in classes.items():
        if tail or flags & ctx.m["PG_head"]:
            large = True
            continue
        # can_gather_numa_stats()
        nid = ctx.page_to_nid(flags)
        if flags & ctx.m["PG_reserved"] or nid not in ctx.memory_nodes:
            continue
        count = mapcount + 1  # page_mapcount() of a page that is its own folio
        if ctx.k.page_type_enum and page_mapcount_is_type(count):
            count = 0
        _gather_folio(ctx, md, flags, mapping, count, nid, arch.pte_dirty(bits), n)
    return large


def _gather_order0_bulk(walk: MmWalk, vals: Any, normal: List[int],
                        pfns: List[int], addr: int, first: int) -> bool:
    """The loop of gather_pte_stats() over the present, not special PTEs
    ``normal`` of one table (PFNs ``pfns``), without per-page Python: pages
    of one class (order0_classes(), with the node and the PTE's dirty bit)
    add the same, so each class is gathered once.  Pages of large folios
    go through can_gather_numa_stats() and gather_stats() one by one.
    Returns False, having done nothing, where the per-entry loop must run
    (a PFN without a struct page read: it reports it)."""
    ctx, md = walk.private
    pages = ctx.pages
    raws = normal_fields(pages, pfns)
    if raws is None:
        return False
    arch = walk.arch
    classes = order0_classes(pages, raws, ctx.m_order0_flags,
                             map(arch.young_dirty_mask().__and__,
                                 map(vals.__getitem__, normal)))
    if _gather_classes(walk, classes):
        for i, pfn, raw in zip(normal, pfns, raws):
            page = pages.decode(pfn, raw)  # read above
            if page.head_pfn != page.pfn or page.flags & ctx.m["PG_head"]:
                page = can_gather_numa_stats(ctx, vals[i], walk.vma, walk,
                                             addr + ((i - first) << arch.page_shift))
                if page is not None:
                    gather_stats(ctx, page, md, arch.pte_dirty(vals[i]), 1)
    return True


def can_gather_numa_stats(ctx: NumaContext, pte: int, vma: Vma, walk: MmWalk,
                          addr: int) -> Optional[PageInfo]:
    """can_gather_numa_stats() (and _pmd(): same tests on the head page)."""
    if not ctx.arch.pte_present(pte):
        return None
    page = vm_normal_page(ctx.pages, ctx.arch, vma, pte, walk, addr)
    if page is None or ctx.pages.test(page, "PG_reserved"):
        return None
    if ctx.page_to_nid(page.flags) not in ctx.memory_nodes:
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
                        and ctx.page_to_nid(page.flags) in ctx.memory_nodes:
                    # HPAGE_PMD_NR pages
                    gather_stats(ctx, page, md, arch.pte_dirty(val),
                                 1 << (arch.shifts[PMD] - arch.page_shift))
        return 0
    pte = pte_offset_map_lock(walk, pmd, addr)
    if pte is None:
        return 0
    vals, first = pte.table.vals, pte.index
    # do { ... } while (pte++, addr += PAGE_SIZE, addr != end): a zero PTE
    # is not present, so only the others are visited (found in C), and
    # only adding follows, so the order of the visits does not change the
    # sums: order-0 pages are gathered by class first.
    last = first + ((end - addr) >> arch.page_shift)
    runs = order0_runs(ctx.pages, arch, vals, first, last, ctx.m_order0_flags,
                       arch.young_dirty_mask())
    if runs is not None and not large_class(runs[0], ctx.m["PG_head"]):
        # every PTE normal, PFNs in runs, no large folio: by class
        _gather_classes(walk, runs[0])
        return 0
    normal, pfns, others = arch.normal_ptes(
        vals, list(compress(range(first, last), vals[first:last])))
    if normal and not _gather_order0_bulk(walk, vals, normal, pfns, addr, first):
        others = sorted(others + normal)
    for i in others:
        page = can_gather_numa_stats(ctx, vals[i], walk.vma, walk,
                                     addr + ((i - first) << arch.page_shift))
        if page is not None:
            gather_stats(ctx, page, md, arch.pte_dirty(vals[i]), 1)
    return 0


def gather_hugetlb_stats(pte: Any, hmask: int, addr: int, end: int,
                         walk: MmWalk) -> int:
    """gather_hugetlb_stats()."""
    ctx, md = walk.private
    arch = walk.arch
    huge_pte = huge_ptep_get(walk, pte, hmask)
    if not arch.pte_present(huge_pte):
        return 0
    page = entry_page(ctx.pages, arch.leaf_pfn(pte.level, huge_pte), walk,
                      pte.level_name, addr, huge_pte)
    if page is None:
        return 0
    gather_stats(ctx, page, md, arch.pte_dirty(huge_pte), 1)
    return 0


SHOW_NUMA_OPS = MmWalkOps(hugetlb_entry=gather_hugetlb_stats,
                          pmd_entry=gather_pte_stats)


#: include/uapi/linux/mempolicy.h: the modes (an ABI: the same numbers on
#: every kernel) and the mode flags mpol_to_str() prints
MPOL_DEFAULT, MPOL_PREFERRED, MPOL_BIND, MPOL_INTERLEAVE, MPOL_LOCAL = range(5)
MPOL_PREFERRED_MANY, MPOL_WEIGHTED_INTERLEAVE = 5, 6
MPOL_F_STATIC_NODES = 1 << 15
MPOL_F_RELATIVE_NODES = 1 << 14
MPOL_F_NUMA_BALANCING = 1 << 13
MPOL_MODE_FLAGS = MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING
_MODES_WITH_NODES = (MPOL_PREFERRED, MPOL_PREFERRED_MANY, MPOL_BIND, MPOL_INTERLEAVE,
                     MPOL_WEIGHTED_INTERLEAVE)


def _policy_modes(prog: Any) -> List[str]:
    """mm/mempolicy.c's policy_modes[], read from the kernel: its names of
    the modes it has (5.10: up to "local"; 6.1: "prefer (many)"; 6.9 on:
    "weighted interleave")."""
    modes = prog.cache.get("drgn_pagewalk_policy_modes")
    if modes is None:
        table = prog["policy_modes"]
        modes = [table[i].string_().decode() if table[i].value_() else ""
                 for i in range(len(table))]
        prog.cache["drgn_pagewalk_policy_modes"] = modes
    return modes


def _static_policy(pol: Object) -> bool:
    """pol == &default_policy, or one of &preferred_node_policy[]: the
    policies mpol_to_str() prints as "default"."""
    prog = pol.prog_
    addr = pol.value_()
    if addr == prog["default_policy"].address_:
        return True
    table = prog["preferred_node_policy"]
    first = table.address_
    return first <= addr <= first + (len(table) - 1) * sizeof(table[0])


def mpol_to_str(pol: Object) -> str:
    """mpol_to_str() (the same from 6.1, which has MPOL_F_NUMA_BALANCING's
    "balancing", to 7.x; 5.10 has no such flag to print)."""
    mode, flags = MPOL_DEFAULT, 0
    if pol.value_() and not _static_policy(pol):
        mode = pol.mode.value_()
        flags = pol.flags.value_()
    modes = _policy_modes(pol.prog_)
    nodes: List[int] = []
    if mode in (MPOL_DEFAULT, MPOL_LOCAL):
        pass
    elif mode in _MODES_WITH_NODES and mode < len(modes):
        from drgn.helpers.linux.nodemask import for_each_node_mask

        nodes = list(for_each_node_mask(pol.nodes))
    else:
        return "unknown"  # the kernel's WARN_ON_ONCE() branch
    text = modes[mode]
    if flags & MPOL_MODE_FLAGS:
        text += "="
        # Static and relative are mutually exclusive.
        if flags & MPOL_F_STATIC_NODES:
            text += "static"
        elif flags & MPOL_F_RELATIVE_NODES:
            text += "relative"
        if flags & MPOL_F_NUMA_BALANCING:
            mode_flags = flags & MPOL_MODE_FLAGS
            if mode_flags & (mode_flags - 1):  # !is_power_of_2()
                text += "|"
            text += "balancing"
    if nodes:
        text += ":" + _nodelist(nodes)
    return text


def get_task_policy(task: Object) -> Object:
    """get_task_policy(): the task's own policy, else (DUMP: the reader's
    numa_node_id() means nothing in a dump) &default_policy; the
    preferred_node_policy[] entry the kernel may take instead prints as
    "default" just the same (mpol_to_str())."""
    pol = task.mempolicy
    if pol.value_():
        return pol
    return task.prog_["default_policy"].address_of_()


def sp_lookup(sp: Object, start: int, end: int) -> Optional[Object]:
    """sp_lookup(): the first sp_node of a shared policy tree that overlaps
    [start, end)."""
    from drgn.helpers.linux.rbtree import rb_prev

    n = sp.root.rb_node
    while n.value_():
        p = container_of(n, "struct sp_node", "nd")
        if start >= p.end.value_():
            n = n.rb_right
        elif end <= p.start.value_():
            n = n.rb_left
        else:
            break
    if not n.value_():
        return None
    while True:
        prev = rb_prev(n)
        if not prev.value_():
            break
        w = container_of(prev, "struct sp_node", "nd")
        if w.end.value_() <= start:
            break
        n = prev
    return container_of(n, "struct sp_node", "nd")


def mpol_shared_policy_lookup(sp: Object, idx: int) -> Object:
    """mpol_shared_policy_lookup(): the policy of page ``idx`` of a shared
    policy tree (shmem's), or NULL."""
    if not sp.root.rb_node.value_():
        return NULL(sp.prog_, "struct mempolicy *")
    sn = sp_lookup(sp, idx, idx + 1)
    return sn.policy if sn is not None else NULL(sp.prog_, "struct mempolicy *")


def shmem_get_policy(vma: Object, addr: int) -> Object:
    """shmem_get_policy() (6.1; 6.12 on also gives an interleave index,
    which numa_maps does not use): the inode's shared policy at the page
    of ``addr``."""
    inode = vma.vm_file.f_inode
    page_shift = get_target(vma.prog_).arch.page_shift
    index = ((addr - vma.vm_start.value_()) >> page_shift) + vma.vm_pgoff.value_()
    info = container_of(inode, "struct shmem_inode_info", "vfs_inode")
    return mpol_shared_policy_lookup(info.policy, index)


#: vm_operations_struct.get_policy functions ported, by symbol name
GET_POLICY = {"shmem_get_policy": shmem_get_policy}


def get_vma_policy(vma: Vma, addr: int) -> Object:
    """__get_vma_policy(): vma->vm_ops->get_policy() where the vma has one
    (shmem and memfd files: their shared policy), else vma->vm_policy."""
    obj = vma.obj
    ops = obj.vm_ops
    if ops.value_() and ops.get_policy.value_():
        try:
            name = obj.prog_.symbol(ops.get_policy.value_()).name
        except LookupError:
            name = f"{ops.get_policy.value_():#x}"
        get_policy = GET_POLICY.get(name)
        if get_policy is None:
            raise TargetError(f"numa_maps: the vma at {vma.vm_start:#x} has vm_ops->"
                              f"get_policy {name}, which is not ported")
        return get_policy(obj, addr)
    return obj.vm_policy


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
    pol = get_vma_policy(vma, vma.vm_start)
    if not pol.value_():
        pol = get_task_policy(task)  # proc_priv->task_mempolicy
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
        size = ctx.target.hstate_vma(vma).huge_page_size() if huge \
            else ctx.arch.page_size
        s += f" kernelpagesize_kB={size >> 10}"
    return s + "\n"


def show_numa_maps(task: Any) -> str:
    """/proc/PID/numa_maps."""
    ctx = NumaContext(task.prog_)
    mm = ctx.target.mm(task.mm)
    return "".join(ctx.target.each_vma(ctx.target.vmas(mm),
                                       lambda vma: show_numa_map(ctx, task, vma)))
