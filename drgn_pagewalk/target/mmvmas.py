"""The vmas of an mm as a dump holds them.

for_each_vma() (mm.h) walks mm->mm_mt, the maple tree (6.1 and later), or
the mm->mmap list (before 6.1).  A dump may lack some of the slab pages
that tree is made of: makedumpfile 1.7.2 takes 6.12's slab pages whose
``mapping`` word has bit 0 set for user pages and leaves them out, and sid's
makedumpfile does the same on 7.2.  :func:`mm_vmas` walks the tree as
mt_for_each() does and passes over what is not there:

- a maple node the dump lacks loses only the range under it: its parent's
  pivots bound that range (the root's is the whole address space);
- a vm_area_struct the dump lacks loses only itself: the leaf's pivots give
  its range.

The vmas under a lost node are then looked for among the objects of the
vm_area_struct slab cache: allocated, ``vm_mm`` this mm, attached (not
``detached``; ``vm_refcnt`` not 0 from 6.15), wholly inside a lost range
and overlapping nothing else.  Where mm->map_count says that every vma of
the mm is then accounted for, nothing under the lost node is unknown.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from drgn import FaultError, Object, Program, offsetof

MAPLE_NODE_MASK = 255
MAPLE_NODE_TYPE_SHIFT = 3
MAPLE_NODE_TYPE_MASK = 0xF
MAPLE_LEAF_64 = 1
MAPLE_RANGE_64 = 2
MAPLE_ARANGE_64 = 3
XA_ZERO_ENTRY = (257 << 2) | 2  # xa_mk_internal(257)


@dataclass(frozen=True)
class LostVmas:
    """Part of an mm's vma tree the dump lacks.  ``kind``: "vma" (a
    vm_area_struct the tree points at: [start, end) is that vma's range) or
    "node" (a maple node, or the mm->mmap list from a vma on: every vma in
    [start, end) that was not found another way).  ``address`` is the
    object that could not be read (the reports name the first byte of it
    the dump lacks: drgn_target.missing_address()), ``error`` the
    FaultError."""

    kind: str
    start: int
    end: int
    address: int
    error: Any
    #: kind "node": the vmas found in the slab cache inside [start, end)
    found: Tuple[Tuple[int, int], ...] = ()
    #: kind "node": mm->map_count says no other vma is in [start, end)
    complete: bool = False

    def left_out(self) -> str:
        """What the output lacks, for the "missing:" line: the range, and
        the vmas found in the slab cache inside it."""
        if self.kind == "vma":
            return f"the vma {self.start:#x}-{self.end:#x}"
        span = ("of the mm" if self.start == 0 and self.end == 1 << 64
                else f"in {self.start:#x}-{self.end:#x}")
        if not self.found:
            return f"every vma {span}"
        found = ", ".join(f"{s:#x}-{e:#x}" for s, e in sorted(self.found))
        if self.complete:
            return (f"no vma (the {len(self.found)} vmas {span}, under a maple node the "
                    f"dump lacks, were found in the vm_area_struct slab cache and "
                    f"mm->map_count agrees: {found})")
        return (f"every vma {span} but the {len(self.found)} found in the "
                f"vm_area_struct slab cache ({found})")


@dataclass
class MmVmas:
    """An mm's vmas as the dump holds them: ``vmas`` (``struct
    vm_area_struct *``, in address order, those found in the slab cache
    among them), ``lost`` what the tree lacks."""

    vmas: List[Object]
    lost: List[LostVmas] = field(default_factory=list)
    #: addresses of the vmas found in the slab cache, not through the tree
    recovered: Dict[int, str] = field(default_factory=dict)


def mm_vmas(mm: Object) -> MmVmas:
    """Every vma of ``mm`` (``struct mm_struct *``) the dump holds.  Raises
    FaultError only when the mm_struct itself (its tree's root) is not
    there."""
    prog = mm.prog_
    if hasattr(mm, "mm_mt"):
        tree_vmas, lost = _maple_vmas(prog, mm)
    else:
        tree_vmas, lost = _list_vmas(prog, mm)
    if not lost:
        return MmVmas([Object(prog, "struct vm_area_struct *", v) for _, _, v in tree_vmas])
    return _recover(prog, mm, tree_vmas, lost)


# -- mt_for_each() ---------------------------------------------------------------

class _MapleLayout:
    """Offsets in struct maple_node (maple_tree.h): the pivots and slots
    of maple_range_64 and maple_arange_64 nodes, and meta.end."""

    def __init__(self, prog: Program) -> None:
        node = prog.type("struct maple_node")
        self.size = node.size
        r64 = prog.type("struct maple_range_64")
        a64 = prog.type("struct maple_arange_64")
        base = offsetof(node, "mr64")
        self.range = (base + offsetof(r64, "pivot"), r64.member("pivot").type.length,
                      base + offsetof(r64, "slot"), base + offsetof(r64, "meta.end"))
        base = offsetof(node, "ma64")
        self.arange = (base + offsetof(a64, "pivot"), a64.member("pivot").type.length,
                       base + offsetof(a64, "slot"), base + offsetof(a64, "meta.end"))


def _maple_node(layout: _MapleLayout, data: bytes, kind: int, max_: int
                ) -> Tuple[Tuple[int, ...], Tuple[int, ...], int]:
    """mte_to_node(), ma_data_end(): (pivots, slots, end) of a node."""
    if kind == MAPLE_ARANGE_64:
        pivot_off, nr, slot_off, end_off = layout.arange
        pivots = struct.unpack_from(f"<{nr}Q", data, pivot_off)
        return pivots, struct.unpack_from(f"<{nr + 1}Q", data, slot_off), data[end_off]
    if kind not in (MAPLE_RANGE_64, MAPLE_LEAF_64):
        raise ValueError(f"unknown maple_type {kind}")
    pivot_off, nr, slot_off, end_off = layout.range
    pivots = struct.unpack_from(f"<{nr}Q", data, pivot_off)
    slots = struct.unpack_from(f"<{nr + 1}Q", data, slot_off)
    last = pivots[nr - 1]
    if not last:
        end = data[end_off]
    elif last == max_:
        end = nr - 1
    else:
        end = nr
    return pivots, slots, end


def _maple_vmas(prog: Program, mm: Object) -> Tuple[List[Tuple[int, int, int]], List[LostVmas]]:
    """mt_for_each(&mm->mm_mt) in index order: ([(first, last + 1, vma)],
    lost).  DUMP: a node the dump lacks is passed over with its range."""
    vma_size = prog.type("struct vm_area_struct").size
    root = mm.mm_mt.ma_root.value_()
    ulong_max = (1 << 64) - 1
    found: List[Tuple[int, int, int]] = []
    lost: List[LostVmas] = []
    if not root:
        return found, lost
    if root & 3 != 2 or root <= 4096:  # not a node: one entry at index 0
        return [(0, 1, root)], lost
    layout = _MapleLayout(prog)
    stack = [(root, 0, ulong_max)]
    while stack:
        entry, min_, max_ = stack.pop()
        addr = entry & ~MAPLE_NODE_MASK
        kind = (entry >> MAPLE_NODE_TYPE_SHIFT) & MAPLE_NODE_TYPE_MASK
        try:
            data = prog.read(addr, layout.size)
        except FaultError as e:
            lost.append(LostVmas("node", min_, _end(max_), addr, e))
            continue
        try:
            pivots, slots, end = _maple_node(layout, data, kind, max_)
        except ValueError as e:
            # DUMP: a node of no type the tree has: its range is lost too
            lost.append(LostVmas("node", min_, _end(max_), addr, FaultError(str(e), addr)))
            continue
        ranges = []
        prev = min_
        for offset in range(end + 1):
            last = pivots[offset] if offset < end else max_
            ranges.append((prev, last, slots[offset]))
            prev = last + 1
        if kind != MAPLE_LEAF_64:
            stack.extend((slot, lo, hi) for lo, hi, slot in reversed(ranges))
            continue
        for lo, hi, slot in ranges:
            if not slot or slot == XA_ZERO_ENTRY:
                continue
            try:
                prog.read(slot, vma_size)
            except FaultError as e:
                lost.append(LostVmas("vma", lo, _end(hi), slot, e))
                continue
            found.append((lo, _end(hi), slot))
    return found, lost


def _end(last: int) -> int:
    return min(last + 1, 1 << 64)


def _list_vmas(prog: Program, mm: Object) -> Tuple[List[Tuple[int, int, int]], List[LostVmas]]:
    """The mm->mmap list (before 6.1).  DUMP: a vma the dump lacks ends the
    list: the rest of the address space, from the last vma read, is lost."""
    found: List[Tuple[int, int, int]] = []
    vma = mm.mmap.read_()
    prev_end = 0
    while vma.value_():
        try:
            start, end = vma.vm_start.value_(), vma.vm_end.value_()
            nxt = vma.vm_next.read_()
        except FaultError as e:
            return found, [LostVmas("node", prev_end, 1 << 64, vma.value_(), e)]
        found.append((start, end, vma.value_()))
        prev_end = end
        vma = nxt
    return found, []


# -- the vm_area_struct slab cache --------------------------------------------------

def _recover(prog: Program, mm: Object, tree_vmas: List[Tuple[int, int, int]],
             lost: List[LostVmas]) -> MmVmas:
    """Find the vmas under lost nodes among the vm_area_struct slab cache's
    objects; say for each lost node what was found and whether
    mm->map_count leaves any vma unknown.  (The ranges of the tree, lost or
    not, do not overlap: each test is a bisection, so a tree of 100 k vmas
    costs what sorting them costs.)"""
    nodes = sorted((lo.start, lo.end) for lo in lost if lo.kind == "node")
    node_starts = [n[0] for n in nodes]
    candidates: List[Tuple[int, int, int]] = []
    if nodes:
        for start, end, addr in vm_area_objects(prog, mm.value_()):
            i = bisect.bisect_right(node_starts, start) - 1
            if i >= 0 and end <= nodes[i][1]:
                candidates.append((start, end, addr))
    taken = [(s, e) for s, e, _ in tree_vmas] + [(lo.start, lo.end) for lo in lost
                                                   if lo.kind == "vma"]
    ok = alone(candidates, taken)
    known = len(tree_vmas) + sum(1 for lo in lost if lo.kind == "vma") + len(ok)
    try:
        complete = mm.map_count.value_() == known
    except FaultError:
        complete = False
    ok_starts = [o[0] for o in ok]
    out_lost = []
    for lo in lost:
        if lo.kind == "node":
            first = bisect.bisect_left(ok_starts, lo.start)
            last = bisect.bisect_left(ok_starts, lo.end)
            inside = tuple((s, e) for s, e, _ in ok[first:last])
            lo = LostVmas(lo.kind, lo.start, lo.end, lo.address, lo.error, inside, complete)
        out_lost.append(lo)
    every = sorted(tree_vmas + ok)
    return MmVmas([Object(prog, "struct vm_area_struct *", v) for _, _, v in every],
                  out_lost, {a: "the vm_area_struct slab cache" for _, _, a in ok})


def alone(candidates: List[Tuple[int, int, int]], taken: List[Tuple[int, int]]
          ) -> List[Tuple[int, int, int]]:
    """The (start, end, address) ``candidates`` that overlap neither a range
    of ``taken`` (which do not overlap each other) nor another candidate,
    in address order: every vma the dump shows in a lost range must overlap
    nothing else; two that overlap (one freed and not yet detached?) are
    both dropped."""
    candidates = sorted(candidates)
    taken = sorted(taken)
    taken_starts = [t[0] for t in taken]
    ok = []
    reach = 0  # the highest end of the candidates before this one
    for i, (start, end, addr) in enumerate(candidates):
        j = bisect.bisect_left(taken_starts, end) - 1
        clash = (j >= 0 and taken[j][1] > start) or reach > start or (
            i + 1 < len(candidates) and end > candidates[i + 1][0])
        reach = max(reach, end)
        if not clash:
            ok.append((start, end, addr))
    return ok


def vm_area_objects(prog: Program, mm_addr: int) -> List[Tuple[int, int, int]]:
    """(vm_start, vm_end, address) of every allocated, attached object of
    the vm_area_struct slab cache whose vm_mm is ``mm_addr``."""
    from drgn.helpers.linux.slab import slab_object_info

    cache = _vm_area_cache(prog)
    if cache is None:
        return []
    vma_type = prog.type("struct vm_area_struct")
    off_mm = offsetof(vma_type, "vm_mm")
    off_start = offsetof(vma_type, "vm_start")
    off_end = offsetof(vma_type, "vm_end")
    out = []
    for obj_addr, data in _cache_objects(prog, cache):
        (vm_mm,) = struct.unpack_from("<Q", data, off_mm)
        if vm_mm != mm_addr:
            continue
        (start,) = struct.unpack_from("<Q", data, off_start)
        (end,) = struct.unpack_from("<Q", data, off_end)
        if start >= end or (start | end) & 0xFFF:
            continue
        info = slab_object_info(prog, obj_addr)
        if info is None or info.allocated is not True:
            continue
        vma = Object(prog, vma_type, address=obj_addr)
        if _detached(vma):
            continue
        out.append((start, end, obj_addr))
    return out


def _detached(vma: Object) -> bool:
    """A vma taken out of the tree and not yet freed: vma_is_attached()
    (6.15 on: vm_refcnt 0) or vma->detached (6.4 to 6.14, with
    CONFIG_PER_VMA_LOCK)."""
    try:
        return vma.vm_refcnt.refs.counter.value_() == 0
    except AttributeError:
        pass
    try:
        return bool(vma.detached.value_())
    except AttributeError:
        return False


def _vm_area_cache(prog: Program) -> Optional[Object]:
    try:
        cache = prog["vm_area_cachep"]
        if cache.value_():
            return cache
    except LookupError:
        pass
    from drgn.helpers.linux.slab import find_slab_cache

    return find_slab_cache(prog, "vm_area_struct")


def _cache_objects(prog: Program, cache: Object) -> List[Tuple[int, bytes]]:
    """(address, bytes) of every object slot of every slab of ``cache``
    whose page the dump holds, found by reading the struct page array 4096
    struct pages at a time (kept per cache in prog.cache, but on a running
    kernel)."""
    from drgn import ProgramFlags

    if prog.flags & ProgramFlags.IS_LIVE:  # a running kernel changes
        return list(_scan_cache(prog, cache))
    key = ("drgn_pagewalk_cache_objects", cache.value_())
    cached = prog.cache.get(key)
    if cached is None:
        cached = prog.cache[key] = list(_scan_cache(prog, cache))
    return cached


def _scan_cache(prog: Program, cache: Object) -> Any:
    from drgn import cast
    from drgn.helpers.linux.mm import PageSlab, pfn_to_page, pfn_to_virt

    vmemmap = pfn_to_page(prog, 0).value_()
    page_type = prog.type("struct page")
    page_size = page_type.size
    try:
        slab_type = prog.type("struct slab")  # 5.17 and later
    except LookupError:
        slab_type = page_type
    off_cache = offsetof(slab_type, "slab_cache")
    needle = struct.pack("<Q", cache.value_())
    obj_size = cache.size.value_()
    red_left = cache.red_left_pad.value_() if hasattr(cache, "red_left_pad") else 0
    max_pfn = prog["max_pfn"].value_()
    chunk = 4096  # struct pages per read
    for first in range(0, max_pfn, chunk):
        nr = min(chunk, max_pfn - first)
        base = vmemmap + first * page_size
        try:
            data = prog.read(base, nr * page_size)
        except FaultError:
            data = _read_pieces(prog, base, nr * page_size)
        pos = data.find(needle)
        while pos >= 0:
            if pos % page_size == off_cache:
                pfn = first + pos // page_size
                page = Object(prog, "struct page *", vmemmap + pfn * page_size)
                try:
                    if PageSlab(page):
                        slab = cast(prog.pointer_type(slab_type), page)
                        objects = slab.objects.value_()
                        start = pfn_to_virt(prog, pfn).value_() + red_left
                        yield from _slab_objects(prog, start, objects, obj_size)
                except FaultError:
                    pass
            pos = data.find(needle, pos + 1)


def _read_pieces(prog: Program, base: int, size: int) -> bytes:
    """The bytes at [base, base + size), 4 KiB at a time; what the dump
    lacks reads as zeros (no struct page there matches a cache)."""
    out = bytearray(size)
    for off in range(0, size, 4096):
        n = min(4096, size - off)
        try:
            out[off:off + n] = prog.read(base + off, n)
        except FaultError:
            pass
    return bytes(out)


def _slab_objects(prog: Program, start: int, objects: int, obj_size: int) -> Any:
    for i in range(objects):
        addr = start + i * obj_size
        try:
            yield addr, prog.read(addr, obj_size)
        except FaultError:
            continue
