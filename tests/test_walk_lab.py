"""The walker on real kernels: every lab dump, against the guest's own
/proc/PID/pagemap and /proc/PID/smaps and against drgn's follow_phys."""

from __future__ import annotations

from typing import Dict, List, Tuple

import pytest
from drgn import FaultError
from drgn.helpers.linux.mm import follow_phys, for_each_vma, for_each_vmap_area, pfn_to_page
from drgn.helpers.linux.pid import find_task

from drgn_pagewalk import (
    ACTION_CONTINUE,
    MmWalkOps,
    walk_page_mapping,
    walk_page_range,
    walk_page_range_novma,
)
from drgn_pagewalk.arch.base import PMD, PTE, PUD
from drgn_pagewalk.target.drgn_target import get_target
from drgn_pagewalk.ops.numa_maps import show_numa_maps
from drgn_pagewalk.ops.smaps import show_smaps
from drgn_pagewalk.ops.status import status_fields
from drgn_pagewalk.target.base import VM_HUGETLB, VM_PFNMAP

from .counts import count
from .labcache import root_level
from .test_proc_lab import same

PM_PRESENT = 1 << 63
PM_SWAP = 1 << 62
PM_PFN_MASK = (1 << 55) - 1


class Leaves:
    """Ops recording leaves (per base page: the arch's PAGE_SIZE) and holes
    of a whole-mm walk."""

    def __init__(self, arch) -> None:
        self.arch = arch
        self.page = arch.page_size
        self.pages: Dict[int, Tuple[str, int]] = {}  # addr -> ("pfn"|"swap"|"none", x)
        self.spans: List[Tuple[int, int]] = []
        self.holes: List[Tuple[int, int, int]] = []
        self.hugetlb: List[Tuple[int, int, int, int]] = []
        self.ops = MmWalkOps(pte_entry=self.pte_entry, pte_hole=self.pte_hole,
                             hugetlb_entry=self.hugetlb_entry)

    def _leaf(self, addr: int, level: int, val: int, size: int) -> None:
        arch = self.arch
        if arch.pte_none(val):
            kind = ("none", 0)
            for off in range(0, size, self.page):
                self.pages[addr + off] = kind
        elif arch.pte_present(val) if level == PTE else arch.pmd_present(val):
            pfn = arch.leaf_pfn(level, val)
            for i, off in enumerate(range(0, size, self.page)):
                self.pages[addr + off] = ("pfn", pfn + i)
        else:
            swp = arch.swp_type_offset(val)
            for off in range(0, size, self.page):
                self.pages[addr + off] = ("swap", swp)

    def pte_entry(self, pte, addr, next, walk):
        self.spans.append((addr, next))
        self._leaf(addr, PTE, pte.val, next - addr)
        return 0

    def hugetlb_entry(self, pte, hmask, addr, next, walk):
        self.spans.append((addr, next))
        self.hugetlb.append((walk.vma.vm_start, hmask, addr, next))
        # the huge entry maps [addr & hmask, + size); this call covers
        # [addr, next) of it
        base = addr & hmask
        val = pte.val
        page, shift = self.page, self.arch.page_shift
        if self.arch.pte_none(val):
            for a in range(addr, next, page):
                self.pages[a] = ("none", 0)
        elif self.arch.pte_present(val):
            pfn = self.arch.leaf_pfn(pte.level, val)
            for a in range(addr, next, page):
                self.pages[a] = ("pfn", pfn + ((a - base) >> shift))
        else:
            for a in range(addr, next, page):
                self.pages[a] = ("swap", self.arch.swp_type_offset(val))
        return 0

    def pte_hole(self, addr, next, depth, walk):
        self.spans.append((addr, next))
        self.holes.append((addr, next, depth))
        return 0


def _mm(prog, pid: int):
    task = find_task(prog, pid)
    assert task, f"pid {pid} not in the dump"
    assert task.mm, f"pid {pid} has no mm"
    return task.mm


def _walk_all(prog, pid: int) -> Leaves:
    target = get_target(prog)
    rec = Leaves(target.arch)
    assert walk_page_range(_mm(prog, pid), 0, target.arch.task_size, rec.ops) == 0
    return rec


def test_paging_levels_match_lab(lab, prog):
    assert get_target(prog).arch.levels == lab.levels


def test_leaves_match_pagemap(lab, prog):
    """Every page of every vma: the PFN the walk finds is the PFN pagemap
    showed; swap entries give the same type and offset; no leaf where the
    kernel showed nothing."""
    for role, pid in lab.pids.items():
        truth = lab.pagemap(pid)
        rec = _walk_all(prog, pid)
        present = swapped = empty = 0
        for addr, entry in truth.items():
            got = rec.pages.get(addr, ("none", 0))
            if entry & PM_PRESENT:
                assert got == ("pfn", entry & PM_PFN_MASK), f"{role} {addr:#x}"
                present += 1
            elif entry & PM_SWAP:
                swp = (entry & 0x1F, (entry & PM_PFN_MASK) >> 5)
                assert got == ("swap", swp), f"{role} {addr:#x}"
                swapped += 1
            else:
                assert got[0] == "none", f"{role} {addr:#x}: {got}"
                empty += 1
        count("walker pages compared with pagemap", present + swapped + empty)
        count("walker present pages", present)
        count("walker swap entries", swapped)
    assert any(lab.pagemap(pid) for pid in lab.pids.values())


def test_holes_and_leaves_tile_the_address_space(lab, prog):
    target = get_target(prog)
    root = root_level(lab, prog)
    all_depths = set()
    for pid in lab.pids.values():
        rec = _walk_all(prog, pid)
        spans = rec.spans
        assert spans[0][0] == 0 and spans[-1][1] == target.arch.task_size
        for (a0, b0), (a1, b1) in zip(spans, spans[1:]):
            assert b0 == a1 and a1 < b1
        depths = {d for _, _, d in rec.holes}
        # the top table's holes: pgd (depth 0), or p4d (1) in 5-level mode
        # and on arm64's 52-bit kernels folded to 4 levels at run time, or
        # pud (2) on arm64's 16 KiB-page 52-bit kernel folded to 3 levels
        # (p4d_none() is false without pgtable_l4_enabled(); real_depth()
        # keeps the pud's depth: PTRS_PER_PUD is not 1)
        if lab.levels == 3:
            assert depths <= {-1, 2, 3} and not depths & {0, 1}
        elif lab.levels == 4 and root == "PGD":
            assert depths <= {-1, 0, 2, 3} and 1 not in depths
        elif lab.levels == 4:
            assert depths <= {-1, 1, 2, 3} and 0 not in depths
        else:
            assert depths <= {-1, 0, 1, 2, 3}
        all_depths |= depths
    # the workload's half-touched THP region has empty pmds
    assert {-1, 3} <= all_depths
    # without vmas, the empty top-level areas of the user half are p4d
    # holes (depth 1) in 5-level mode (and arm64's folded p4d) and pgd
    # holes (depth 0) in 4-level, pud holes (depth 2) in 3-level
    rec = Leaves(target.arch)
    mm = _mm(prog, lab.pids["workload"])
    assert walk_page_range_novma(mm, 0, target.arch.task_size, rec.ops) == 0
    novma_depths = {d for _, _, d in rec.holes}
    if lab.levels == 3:
        assert 2 in novma_depths
    assert (1 in novma_depths) == (lab.levels == 5 or root == "P4D")
    assert (0 in novma_depths) == (lab.levels == 4 and root == "PGD") or lab.levels == 5


def test_hugetlb_vmas_use_hugetlb_entry(lab, prog):
    """hugetlb vmas go through hugetlb_entry with hmask = ~(KernelPageSize-1),
    as the guest's smaps reports the page size."""
    target = get_target(prog)
    pid = lab.pids["workload"]
    smaps = _smaps_page_sizes(lab.truth_text(pid, "smaps"))
    rec = _walk_all(prog, pid)
    seen = {}
    for vm_start, hmask, addr, next in rec.hugetlb:
        seen.setdefault(vm_start, set()).add(hmask)
    hugetlb_vmas = [v for v in target.vmas(target.mm(_mm(prog, pid)))
                    if v.vm_flags & VM_HUGETLB]
    assert len(hugetlb_vmas) >= 2
    sizes = set()
    for vma in hugetlb_vmas:
        size = smaps[vma.vm_start]
        sizes.add(size)
        assert seen[vma.vm_start] == {~(size - 1) & (2**64 - 1)}
    # 2 MiB: a PMD of 4 KiB pages, contiguous PTEs of 16 KiB ones; 1 GiB: a
    # PUD of 4 KiB pages, contiguous PMDs of 16 KiB ones
    assert 2 << 20 in sizes
    if lab.meta.get("hugetlb_1g", True):
        assert 1 << 30 in sizes
    if lab.arch == "arm64":
        # 32 MiB (contiguous PMDs, or a PMD of 16 KiB pages) on every arm64
        # lab; 64 KiB (contiguous PTEs) with 4 KiB pages only
        assert 32 << 20 in sizes
        assert (64 << 10 in sizes) == (lab.page_size == 4096)
    # and no pte_entry inside them
    for vma in hugetlb_vmas:
        assert not [h for h in rec.holes if vma.vm_start <= h[0] < vma.vm_end
                    and h[2] != -1]


def _smaps_page_sizes(text: str) -> Dict[int, int]:
    sizes = {}
    start = None
    for line in text.splitlines():
        if "-" in line.split(" ")[0] and not line.endswith(":"):
            head = line.split(" ")[0]
            if all(c in "0123456789abcdef-" for c in head):
                start = int(head.split("-")[0], 16)
        if line.startswith("KernelPageSize:"):
            sizes[start] = int(line.split()[1]) * 1024
    return sizes


def test_pfnmap_vma_is_one_hole(lab, prog):
    target = get_target(prog)
    pid = lab.pids["workload"]
    vmas = [v for v in target.vmas(target.mm(_mm(prog, pid)))
            if v.vm_flags & VM_PFNMAP]
    assert vmas, "the lab has a /dev/mem VM_PFNMAP mapping"
    rec = _walk_all(prog, pid)
    for vma in vmas:
        inside = [s for s in rec.spans if vma.vm_start <= s[0] < vma.vm_end]
        assert inside == [(vma.vm_start, vma.vm_end)]
        assert (vma.vm_start, vma.vm_end, -1) in rec.holes


def test_test_walk_skip_continue_and_errors(lab, prog):
    pid = lab.pids["workload"]
    mm = _mm(prog, pid)
    end = get_target(prog).arch.task_size
    calls = []
    skip = MmWalkOps(test_walk=lambda s, e, w: 1,
                     pte_entry=lambda *a: calls.append(a),
                     pte_hole=lambda s, e, d, w: calls.append(d))
    assert walk_page_range(mm, 0, end, skip) == 0
    assert set(calls) == {-1}  # only the gaps between vmas

    def pmd_entry(pmd, addr, next, walk):
        walk.action = ACTION_CONTINUE
        return 0

    ptes = []
    cont = MmWalkOps(pmd_entry=pmd_entry, pte_entry=lambda *a: ptes.append(a))
    assert walk_page_range(mm, 0, end, cont) == 0
    assert ptes == []

    seen = []

    def failing(pte, addr, next, walk):
        seen.append(addr)
        return -14 if len(seen) == 3 else 0

    assert walk_page_range(mm, 0, end, MmWalkOps(pte_entry=failing)) == -14
    assert len(seen) == 3


class KernelLeaves:
    """Ops recording kernel leaves at any level for a novma walk."""

    def __init__(self, arch) -> None:
        self.arch = arch
        self.leaves: Dict[int, Tuple[int, int, int]] = {}  # start -> (size, level, val)
        self.ops = MmWalkOps(pud_entry=self.pud_entry, pmd_entry=self.pmd_entry,
                             pte_entry=self.pte_entry)

    def pud_entry(self, pud, addr, next, walk):
        if self.arch.pud_leaf(pud.val) and self.arch.pud_present(pud.val):
            self.leaves[addr] = (next - addr, PUD, pud.val)
        return 0

    def pmd_entry(self, pmd, addr, next, walk):
        if self.arch.pmd_leaf(pmd.val) and self.arch.pmd_present(pmd.val):
            self.leaves[addr] = (next - addr, PMD, pmd.val)
        return 0

    def pte_entry(self, pte, addr, next, walk):
        if self.arch.pte_present(pte.val):
            self.leaves[addr] = (self.arch.page_size, PTE, pte.val)
        return 0

    def phys(self, addr: int) -> int:
        # a leaf PTE, PMD or PUD: PAGE_SIZE, PMD_SIZE, PUD_SIZE
        arch = self.arch
        for size in (arch.page_size, 1 << arch.shifts[PMD], 1 << arch.shifts[PUD]):
            base = addr & ~(size - 1)
            leaf = self.leaves.get(base)
            if leaf and leaf[0] == size:
                return (arch.leaf_pfn(leaf[1], leaf[2]) << arch.page_shift) + (addr - base)
        raise KeyError(hex(addr))


def _direct_map_start(prog) -> int:
    """The direct map's address of the first RAM (memblock's first region):
    x86-64's page_offset_base + 0x1000, arm64's PAGE_OFFSET."""
    ram = prog["memblock"].memory.regions[0].base.value_()
    return get_target(prog).phys_to_virt(ram)


def _kernel_samples(prog) -> Dict[str, List[int]]:
    start = _direct_map_start(prog)
    ram_pfn = prog["memblock"].memory.regions[0].base.value_() >> \
        get_target(prog).arch.page_shift
    samples = {
        "text": [prog.symbol("_text").address, prog.symbol("schedule").address],
        "data": [prog["jiffies"].address_, prog["init_mm"].address_],
        "direct map": [start + off for off in (0x1000, 0x100000, 0x1234000, 0x7000000)],
        "vmemmap": [pfn_to_page(prog, ram_pfn + pfn).value_() for pfn in (1, 0x1000, 0x10000)],
        "vmalloc": [],
    }
    for va in for_each_vmap_area(prog):
        if va.vm and len(samples["vmalloc"]) < 20:
            samples["vmalloc"].append(va.va_start.value_())
    return samples


def _kernel_walk(prog, pgd=None) -> KernelLeaves:
    target = get_target(prog)
    rec = KernelLeaves(target.arch)
    init_mm = prog["init_mm"].address_of_()
    page = target.arch.page_size
    start = _direct_map_start(prog) & ~(page - 1)
    # up to the last page of the address space
    assert walk_page_range_novma(init_mm, start, (1 << 64) - page, rec.ops,
                                 pgd=pgd) == 0
    return rec


def test_novma_init_mm_matches_follow_phys(lab, prog):
    rec = _kernel_walk(prog)
    init_mm = prog["init_mm"].address_of_()
    compared = 0
    for kind, addrs in _kernel_samples(prog).items():
        checked = 0
        for addr in addrs:
            try:
                expected = follow_phys(init_mm, addr).value_()
            except FaultError:
                continue  # an unmapped vmalloc guard page, say
            assert rec.phys(addr) == expected, f"{kind} {addr:#x}"
            checked += 1
        assert checked, f"no {kind} address was mapped"
        compared += checked
    count("kernel addresses compared with follow_phys", compared)


@pytest.mark.x86_only
def test_pgd_override_gives_the_same_kernel_half(lab, prog):
    """walk->pgd = a process's pgd: its kernel half is init_mm's."""
    pid = lab.pids["workload"]
    mm = _mm(prog, pid)
    assert _kernel_walk(prog, pgd=mm.pgd).leaves == _kernel_walk(prog).leaves


def _file_vmas(lab, pid: int, path: str):
    return [m for m in lab.maps(pid) if m.name == path]


def test_walk_page_mapping_finds_every_mapper(lab, prog):
    """walk_page_mapping() on the shared tmpfs file finds exactly the
    (process, address) pairs that /proc/PID/maps and pagemap imply."""
    path = lab.meta["tmpfs_file"]
    expected = set()
    mapping = None
    for role, pid in lab.pids.items():
        truth = lab.pagemap(pid)
        for m in _file_vmas(lab, pid, path):
            for addr in range(m.start, m.end, lab.page_size):
                if truth.get(addr, 0) & PM_PRESENT:
                    expected.add((pid, addr))
            if mapping is None:
                task = find_task(prog, pid)
                for vma_obj in for_each_vma(task.mm):
                    if vma_obj.vm_start.value_() == m.start:
                        mapping = vma_obj.vm_file.f_mapping
    assert mapping is not None and expected
    target = get_target(prog)
    pid_of_mm = {}
    for pid in lab.pids.values():
        pid_of_mm[_mm(prog, pid).value_()] = pid
    found = set()

    def pte_entry(pte, addr, next, walk):
        if target.arch.pte_present(pte.val):
            found.add((pid_of_mm.get(walk.mm.address, -1), addr))
        return 0

    # the file's pages: DIV_ROUND_UP(i_size, PAGE_SIZE)
    page = target.arch.page_size
    nr = (int(mapping.host.i_size) + page - 1) // page
    assert walk_page_mapping(mapping, 0, nr, MmWalkOps(pte_entry=pte_entry)) == 0
    assert found == expected
    count("walk_page_mapping (process, address) pairs", len(found))


@pytest.mark.x86_only
def test_pti_user_half_of_the_pgd_pair(lab, prog):
    """With PTI (pti=on in the lab) each process has a pgd pair: walking the
    user copy (pgd + PAGE_SIZE) through walk->pgd gives the same user pages as
    the kernel copy, and maps only a sliver of the kernel (entry trampoline,
    cpu_entry_area)."""
    target = get_target(prog)
    assert target.arch.pti
    pid = lab.pids["workload"]
    mm = _mm(prog, pid)
    kernel_pgd = target.mm(mm).pgd
    user_pgd = kernel_pgd + target.arch.page_size  # kernel_to_user_pgdp(): | BIT(PAGE_SHIFT)

    def user_leaves(pgd):
        rec = Leaves(target.arch)
        assert walk_page_range_novma(mm, 0, target.arch.task_size, rec.ops,
                                     pgd=pgd) == 0
        return {a: v for a, v in rec.pages.items() if v[0] != "none"}

    kernel_copy = user_leaves(kernel_pgd)
    assert kernel_copy and user_leaves(user_pgd) == kernel_copy
    # the ESPfix area (CONFIG_X86_ESPFIX64: Debian's generic and rt
    # flavours, not cloud) is mapped in both halves: a PTE for each of its
    # stack slots, 64 Ki of them; the sliver is what is left
    from drgn_pagewalk.ops.ptdump import address_markers

    espfix = [m.start_address for m in address_markers(prog, target) if m.name == "ESPfix Area"]

    def outside_espfix(leaves):
        return {a: v for a, v in leaves.items()
                if not any(e <= a < e + (1 << 39) for e in espfix)}

    full = _kernel_walk(prog).leaves
    sliver = _kernel_walk(prog, pgd=user_pgd).leaves
    assert sliver and len(outside_espfix(sliver)) < len(outside_espfix(full)) / 10
    for addr, leaf in sliver.items():
        size, level, val = leaf
        assert addr in full or any(
            a <= addr < a + s for a, (s, _, _) in full.items() if s > size), hex(addr)


# -- the ops' bulk paths against their per-entry loops ------------------------------

def _status_walk(task) -> str:
    return repr(status_fields(task))


def _pagemap_items(task) -> str:
    """Every item pagemap_chunks() gives (runs of holes as runs: what the
    table and JSON forms print), one per line."""
    from drgn_pagewalk.ops.pagemap import pagemap_chunks

    return "".join(f"{a:x} {e:016x} {n}\n" for chunk in pagemap_chunks(task)
                   for a, e, n in chunk)


@pytest.mark.parametrize("report", ["smaps", "numa_maps", "status", "pagemap"])
def test_bulk_equals_per_entry(lab, prog, monkeypatch, report):
    """smaps_pte_range(), gather_pte_stats() and the rss walk of status add
    the order-0 pages of a PTE table by class (order0_runs() where the
    table allows, else _smaps_order0_bulk(), _gather_order0_bulk(),
    _rss_order0_bulk()); pagemap makes the entries of a table's order-0
    pages by class (_pagemap_entries_runs(), _pagemap_entries_bulk()) and those
    of a PMD-mapped THP or a hugetlb page as a range (_huge_entries_bulk(),
    _hugetlb_entries_bulk(): the three fast paths make disjoint entries, so
    they are turned off together).  Visiting every entry one by one, as the
    kernel does, gives the same output for every process (pagemap: every
    item, runs included)."""
    from drgn_pagewalk.target.drgn_target import get_target
    from drgn_pagewalk.ops import numa_maps, pagemap, smaps, status

    module, bulk_names, show = {
        "smaps": (smaps, ["_smaps_order0_bulk", "order0_runs"], show_smaps),
        "numa_maps": (numa_maps, ["_gather_order0_bulk", "order0_runs"], show_numa_maps),
        "status": (status, ["_rss_order0_bulk", "order0_runs"], _status_walk),
        "pagemap": (pagemap, ["_pagemap_entries_bulk", "_pagemap_entries_runs",
                              "_huge_entries_bulk", "_hugetlb_entries_bulk"], _pagemap_items),
    }[report]
    bulk = {pid: show(find_task(prog, pid)) for pid in lab.pids.values()}
    calls: dict = {name: 0 for name in bulk_names}

    def per_entry(name):  # type: ignore[no-untyped-def]
        def fallback(*args):  # type: ignore[no-untyped-def]
            calls[name] += 1
            # the caller then visits every entry
            return None if name in ("_pagemap_entries_bulk", "_pagemap_entries_runs",
                                    "order0_runs") else False
        return fallback

    for name in bulk_names:
        monkeypatch.setattr(module, name, per_entry(name))
    for role, pid in lab.pids.items():
        same(bulk[pid], show(find_task(prog, pid)), f"{role} {report} per entry")
    # (a kernel without THP, PREEMPT_RT's, maps no PMD of a process)
    never = [n for n, c in calls.items()
             if not c and not (n == "_huge_entries_bulk" and not get_target(prog).kernel.thp)]
    assert not never, f"never offered a table: {never}"
    count(f"{report} lines: bulk == per entry",
          sum(len(t.splitlines()) for t in bulk.values()))


def test_order0_runs_equal_order0_classes(lab, prog):
    """order0_runs() (the classes of a table's order-0 pages found by
    comparing the table and struct page bytes as big ints) counts what
    order0_classes() counts over each page's fields, on every PTE table of
    every process it takes: with every struct page bit told apart (the
    node field of page->flags among them) and with the PTE bits."""
    from itertools import compress

    from drgn_pagewalk.ops.page import PageCache, normal_fields, order0_classes, order0_runs
    from drgn_pagewalk.walker.walk import MmWalkOps, pte_offset_map, walk_page_range

    target = get_target(prog)
    arch = target.arch
    pc = PageCache(prog)
    every_bit = (1 << 64) - 1
    pte_mask = arch.young_dirty_mask() | arch.pagemap_bits_mask()
    seen = {"tables": 0, "taken": 0, "stretches": 0, "pages": 0}

    def pmd_entry(pmd, addr, end, walk):  # type: ignore[no-untyped-def]
        if not arch.pmd_present(pmd.val) or arch.pmd_leaf(pmd.val):
            return 0
        pte = pte_offset_map(walk, pmd, addr)
        if pte is None:
            return 0
        vals, first = pte.table.vals, pte.index
        last = first + ((end - addr) >> arch.page_shift)
        seen["tables"] += 1
        normal, pfns, _ = arch.normal_ptes(vals, list(compress(range(first, last),
                                                                vals[first:last])))
        for mask in (0, pte_mask):
            got = order0_runs(pc, arch, vals, first, last, every_bit, mask)
            if got is None:
                continue
            raws = normal_fields(pc, pfns)
            assert raws is not None and len(normal) == last - first
            assert got[1] == pfns
            columns = []
            if mask:
                columns.append(map(mask.__and__, map(vals.__getitem__, normal)))
            want = order0_classes(pc, raws, every_bit, *columns)
            assert got[0] == want, hex(addr)
            seen["taken"] += 1
            seen["stretches"] += len(got[0])
            seen["pages"] += last - first
        return 0

    ops = MmWalkOps(pmd_entry=pmd_entry)
    for pid in lab.pids.values():
        task = find_task(prog, pid)
        mm = target.mm(task.mm)
        walk_page_range(mm, 0, arch.task_size, ops, None)
    if arch.normal_pte_bits() is None:  # arm64 with LPA2: the per-entry way only
        assert not seen["taken"], seen
    else:
        assert seen["taken"] and seen["stretches"] > seen["taken"], seen
    count("PTE tables: order0_runs() == order0_classes()", seen["taken"])


def test_page_to_nid_is_the_node_field_of_page_flags(lab, prog):
    """numa_maps' page_to_nid() reads the node field of page->flags
    (NODES_PGSHIFT from node_data[]'s length, as the kernel lays it out),
    not the node spans: on every page the guest's pagemap shows present,
    the field names the node whose span holds the page, a node with
    memory (N_MEMORY); on a lab of several nodes, pages of each node are
    mapped."""
    from drgn.helpers.linux.mmzone import NODE_DATA

    from drgn_pagewalk.ops.numa_maps import NumaContext

    ctx = NumaContext(prog)
    spans = []
    for nid in ctx.memory_nodes:
        start = NODE_DATA(prog, nid).node_start_pfn.value_()
        spans.append((start, start + NODE_DATA(prog, nid).node_spanned_pages.value_(), nid))
    seen: Dict[int, int] = {}
    for pid in lab.pids.values():
        for entry in lab.pagemap(pid).values():
            if not entry & PM_PRESENT:
                continue
            pfn = entry & PM_PFN_MASK
            if pfn > ctx.pages.highest_memmap_pfn:
                continue  # a PFNMAP page: no struct page
            nid = ctx.page_to_nid(ctx.pages.page(pfn).flags)
            assert [n for s, e, n in spans if s <= pfn < e] == [nid], hex(pfn)
            seen[nid] = seen.get(nid, 0) + 1
    assert set(seen) <= set(ctx.memory_nodes)
    if lab.meta.get("numa_nodes", 1) > 1:
        assert set(seen) == set(ctx.memory_nodes), seen
    count("pages: page_to_nid() from page->flags == node span", sum(seen.values()))
