"""struct page / struct folio state that fs/proc/task_mmu.c reads, for 6.1
and 6.12: anon, mapcounts, refcount, flags, hugetlb.

A dump's struct pages never change, so a :class:`PageCache` reads each one
once, as raw bytes (one read for the 512 struct pages of a THP), and decodes
the few fields the reports need at offsets drgn gives once.  Each function
below mirrors the kernel helper of the same name.
"""

from __future__ import annotations

import functools
import operator
import struct
import sys
from bisect import bisect_right
from collections import Counter
from itertools import compress
from typing import Any, Dict, Iterable, List, Optional, Tuple

from drgn import FaultError, offsetof

from ..target.drgn_target import get_target
from ..target.base import VM_MIXEDMAP, VM_PFNMAP, TargetError

PAGE_MAPPING_ANON = 0x1


class PageInfo:
    """The fields of one struct page that the reports read."""

    __slots__ = ("pfn", "flags", "head_pfn", "mapping", "mapcount", "refcount")

    def __init__(self, pfn: int, flags: int, head_pfn: int, mapping: int,
                 mapcount: int, refcount: int) -> None:
        self.pfn = pfn
        self.flags = flags
        self.head_pfn = head_pfn
        self.mapping = mapping
        #: the raw 32-bit _mapcount (page_type in 6.12), as a signed int
        self.mapcount = mapcount
        self.refcount = refcount


#: struct pages kept per command before the cache starts over (~25 MiB).
PAGE_CACHE_MAX = 1 << 17


class PageCache:
    """Struct pages of one dump, read once and decoded in bulk."""

    def __init__(self, prog: Any) -> None:
        self.prog = prog
        target = get_target(prog)
        #: the kernel's features (kernel.py)
        self.k = target.kernel
        self.vmemmap = target.vmemmap
        #: PAGE_SHIFT of the dump's kernel
        self.page_shift = target.arch.page_shift
        page = prog.type("struct page")
        self.size = page.sizeof() if hasattr(page, "sizeof") else page.size
        # "compound_head": the tail page's pointer to its head, compound_info
        # from 7.1 on (compound_info_has_mask(): then a mask of its address)
        self.off = {f: offsetof(page, f) for f in ("flags", "mapping", "_mapcount", "_refcount")}
        self.off["compound_head"] = offsetof(
            page, "compound_info" if self.k.compound_info else "compound_head")
        self.head_mask = self.k.compound_info_mask
        if self.k.large_mapcount:
            folio = prog.type("struct folio")
            self.entire_off = offsetof(folio, "_entire_mapcount")
            self.large_off = offsetof(folio, "_large_mapcount")
            self.order_off = offsetof(folio, "_flags_1")
        else:
            self.entire_off = self.size + offsetof(page, "compound_mapcount")
            self.order_off = self.size + offsetof(page, "compound_order")
            self.dtor_off = self.size + offsetof(page, "compound_dtor")
            self.hugetlb_dtor = prog.constant("HUGETLB_PAGE_DTOR").value_()
        if self.k.page_type_enum:
            self.pgty_hugetlb = prog.constant("PGTY_hugetlb").value_()
        self.highest_memmap_pfn = prog["highest_memmap_pfn"].value_()
        #: the fields of each struct page read, in offset order (see _struct)
        self.raw: Dict[int, tuple] = {}
        self._pages: Dict[int, PageInfo] = {}
        self._bits: Dict[str, int] = {}
        self._head_extra: Dict[int, bytes] = {}
        # One struct.Struct for the fields read, at their offsets: a struct
        # page decodes in one call, a run of them with iter_unpack().
        fields = sorted((self.off[f], f) for f in self.off)
        fmt, at = "<", 0
        for offset, name in fields:
            fmt += "x" * (offset - at) + ("i" if name.startswith("_") else "Q")
            at = offset + (4 if name.startswith("_") else 8)
        fmt += "x" * (self.size - at)
        self._struct = struct.Struct(fmt)
        order = [name for _, name in fields]
        self._pick = operator.itemgetter(*(order.index(f) for f in (
            "flags", "compound_head", "mapping", "_mapcount", "_refcount")))
        #: an itemgetter per field name, for the tuples in ``raw``
        self.field = {f: operator.itemgetter(order.index(f)) for f in order}
        self._masks: Dict[str, int] = {}
        self._record_masks: Dict[int, int] = {}
        #: the 64-bit words of a struct page that hold those bits
        self.record_words = sorted({self.off[f] // 8 for f in self.off})

    def record_mask(self, flag_mask: int) -> int:
        """One struct page's bits that order0_classes() reads, as an int of
        the struct's size (little-endian): flags under ``flag_mask``,
        mapping's low two bits, _mapcount, _refcount, compound_head's bit 0."""
        m = self._record_masks.get(flag_mask)
        if m is None:
            m = ((flag_mask << 8 * self.off["flags"])
                 | (3 << 8 * self.off["mapping"])
                 | (0xFFFFFFFF << 8 * self.off["_mapcount"])
                 | (0xFFFFFFFF << 8 * self.off["_refcount"])
                 | (1 << 8 * self.off["compound_head"]))
            self._record_masks[flag_mask] = m
        return m

    def address(self, pfn: int) -> int:
        """pfn_to_page() with SPARSEMEM_VMEMMAP."""
        return self.vmemmap + pfn * self.size

    def read(self, pfn: int, nr: int = 1) -> None:
        """Read the struct pages of [pfn, pfn + nr) in one read and keep
        their fields, undecoded (one tuple each, made in C), in ``raw``."""
        data = self.prog.read(self.address(pfn), self.size * nr)
        if len(self.raw) > PAGE_CACHE_MAX:
            # bounded memory: what is needed again is read again
            self.raw.clear()
            self._pages.clear()
        self.raw.update(zip(range(pfn, pfn + nr), self._struct.iter_unpack(data)))

    def prefetch(self, pfns: List[int]) -> None:
        """Read the struct pages of ``pfns`` (a PTE table's worth) in runs of
        consecutive PFNs, one read per run.  PFNs without a readable struct
        page are left for page()/entry_page() to report."""
        todo = sorted(set(pfns).difference(self.raw))
        if not todo:
            return
        if todo[-1] > self.highest_memmap_pfn:
            todo = todo[:bisect_right(todo, self.highest_memmap_pfn)]
        # where a run of consecutive PFNs ends: found in C, one read per run
        breaks = list(compress(range(1, len(todo)),
                               map(operator.ne, todo[1:], map((1).__add__, todo))))
        start = 0
        for stop in breaks + [len(todo)]:
            if stop > start:
                try:
                    self.read(todo[start], stop - start)
                except FaultError:
                    pass
            start = stop

    def fields_of(self, pfns: List[int]) -> List[Optional[tuple]]:
        """The struct page fields (``raw``'s tuples) of ``pfns``, in their
        order; None for a PFN without a readable struct page.  PFNs that
        follow each other (a freshly faulted range often does) are read in
        one go and not kept; the others go through prefetch() and ``raw``."""
        n = len(pfns)
        first = pfns[0]
        if (pfns[-1] - first == n - 1 and pfns[-1] <= self.highest_memmap_pfn
                and pfns == list(range(first, first + n))):
            try:
                data = self.prog.read(self.address(first), self.size * n)
            except FaultError:
                pass
            else:
                return list(self._struct.iter_unpack(data))
        self.prefetch(pfns)
        return list(map(self.raw.get, pfns))

    def decode(self, pfn: int, values: tuple) -> PageInfo:
        """A PageInfo from the fields read() kept for ``pfn``."""
        flags, head, mapping, mapcount, refcount = self._pick(values)
        # compound_head's bit 0: a tail page; _compound_head(): head + 1, or
        # (7.1 on, compound_info_has_mask()) a mask of the page's address
        if not head & 1:
            head_pfn = pfn
        elif self.head_mask:
            head_pfn = ((self.address(pfn) & head) - self.vmemmap) // self.size
        else:
            head_pfn = (head - 1 - self.vmemmap) // self.size
        info = self._pages[pfn] = PageInfo(pfn, flags, head_pfn, mapping, mapcount, refcount)
        return info

    def get(self, pfn: int) -> Optional[PageInfo]:
        """The struct page of ``pfn`` if it was read, else None."""
        info = self._pages.get(pfn)
        if info is None:
            values = self.raw.get(pfn)
            if values is not None:
                info = self.decode(pfn, values)
        return info

    def page(self, pfn: int) -> PageInfo:
        info = self.get(pfn)
        if info is None:
            self.read(pfn)
            info = self.decode(pfn, self.raw[pfn])
        return info

    def head(self, page: PageInfo) -> PageInfo:
        """compound_head() / page_folio()."""
        return page if page.head_pfn == page.pfn else self.page(page.head_pfn)

    def bit(self, name: str) -> int:
        bit = self._bits.get(name)
        if bit is None:
            bit = self.prog.constant(name).value_()
            self._bits[name] = bit
        return bit

    def test(self, page: PageInfo, name: str) -> bool:
        """test_bit(PG_name, &page->flags)."""
        mask = self._masks.get(name)
        if mask is None:
            mask = self._masks[name] = 1 << self.bit(name)
        return bool(page.flags & mask)

    def _extra(self, head: PageInfo) -> bytes:
        """The head page and its first tail page (where a folio's order and
        mapcounts live), read once."""
        data = self._head_extra.get(head.pfn)
        if data is None:
            data = self.prog.read(self.address(head.pfn), 2 * self.size)
            self._head_extra[head.pfn] = data
        return data

    def _u32(self, head: PageInfo, offset: int) -> int:
        return struct.unpack_from("<i", self._extra(head), offset)[0]

    def folio_order(self, head: PageInfo) -> int:
        """folio_order() / compound_order(): 0 unless a large folio."""
        if not self.test(head, "PG_head"):
            return 0
        return self._extra(head)[self.order_off]

    def folio_entire_mapcount(self, head: PageInfo) -> int:
        """folio_entire_mapcount() (6.1: compound_mapcount())."""
        return self._u32(head, self.entire_off) + 1

    def folio_large_mapcount(self, head: PageInfo) -> int:
        """folio_large_mapcount() (6.12)."""
        return self._u32(head, self.large_off) + 1


def nodes_pgshift(prog: Any) -> Tuple[int, int]:
    """NODES_PGSHIFT and NODES_MASK (include/linux/page-flags-layout.h,
    include/linux/mm.h) for page_to_nid(): the node is a field of
    page->flags.  With SPARSEMEM_VMEMMAP (every kernel the tool reads:
    PageCache's vmemmap) SECTIONS_WIDTH is 0, so the field is the top
    NODES_SHIFT bits, NODES_SHIFT being log2(MAX_NUMNODES), the length of
    node_data[] (x86-64 and arm64 from 5.10; mm/numa.c from 6.13).  No
    node_data[] (!CONFIG_NUMA): NODES_SHIFT 0, every page on node 0.  A
    kernel whose node does not fit in the flags (NODE_NOT_IN_PAGE_FLAGS:
    ZONES_WIDTH + NODES_SHIFT > BITS_PER_LONG - NR_PAGEFLAGS, the node then
    in section_to_node_table[]) is refused."""
    try:
        max_numnodes = prog["node_data"].type_.length
    except KeyError:
        return 0, 0
    nodes_shift = max_numnodes.bit_length() - 1
    if max_numnodes != 1 << nodes_shift:
        raise TargetError(f"node_data[] has {max_numnodes} entries, not a power of two: "
                          "page_to_nid() of this kernel is not ported")
    max_nr_zones = prog.constant("__MAX_NR_ZONES").value_()
    zones_shift = next(s for s in range(4) if max_nr_zones <= 1 << s)
    if zones_shift + nodes_shift > 64 - prog.constant("__NR_PAGEFLAGS").value_():
        raise TargetError("this kernel keeps the node out of page->flags "
                          "(NODE_NOT_IN_PAGE_FLAGS): page_to_nid() is not ported")
    return 64 - nodes_shift, max_numnodes - 1


def PageAnon(pc: PageCache, page: PageInfo) -> bool:
    """PageAnon() / folio_test_anon(): the folio's mapping has bit 0 set."""
    return bool(pc.head(page).mapping & PAGE_MAPPING_ANON)


def folio_test_ksm(pc: PageCache, page: PageInfo) -> bool:
    """folio_test_ksm(): mapping has both PAGE_MAPPING_ANON and _MOVABLE."""
    return pc.head(page).mapping & 3 == 3


def PageCompound(pc: PageCache, page: PageInfo) -> bool:
    return pc.test(page, "PG_head") or page.head_pfn != page.pfn


def folio_test_large(pc: PageCache, head: PageInfo) -> bool:
    return pc.test(head, "PG_head")


def PageHuge(pc: PageCache, page: PageInfo) -> bool:
    """PageHuge() / folio_test_hugetlb()."""
    head = pc.head(page)
    if not pc.test(head, "PG_head"):
        return False
    if pc.k.page_type_enum:
        # 6.12: a page type in the top byte of the folio's page_type
        return (head.mapcount >> 24) & 0xFF == pc.pgty_hugetlb
    return pc._extra(head)[pc.dtor_off] == pc.hugetlb_dtor


def page_count(pc: PageCache, page: PageInfo) -> int:
    """page_count() / folio_ref_count(): the head page's _refcount."""
    return pc.head(page).refcount


def page_mapcount_is_type(mapcount: int) -> bool:
    """page_mapcount_is_type() (6.12): page_type_has_type(mapcount - 1),
    i.e. (int)page_type < (PGTY_mapcount_underflow << 24)."""
    return mapcount - 1 < -(1 << 24)


def page_mapcount(pc: PageCache, page: PageInfo) -> int:
    """page_mapcount() of 6.1 (with __page_mapcount() for compound pages)."""
    ret = page.mapcount + 1
    if not PageCompound(pc, page):
        return ret
    if not PageAnon(pc, page) and not PageHuge(pc, page):
        return ret
    head = pc.head(page)
    ret += pc.folio_entire_mapcount(head)
    # PageDoubleMap(): PG_double_map (PG_workingset) on the first tail page
    tail_flags, = struct.unpack_from("<Q", pc._extra(head), pc.size + pc.off["flags"])
    if tail_flags >> pc.bit("PG_workingset") & 1:
        ret -= 1
    return ret


def folio_precise_page_mapcount(pc: PageCache, head: PageInfo,
                                page: PageInfo) -> int:
    """folio_precise_page_mapcount() (6.12, fs/proc/internal.h)."""
    mapcount = page.mapcount + 1
    if page_mapcount_is_type(mapcount):
        mapcount = 0
    if folio_test_large(pc, head):
        mapcount += pc.folio_entire_mapcount(head)
    return mapcount


def used_ptes(pc: PageCache, arch: Any, vals: Any, first: int, last: int) -> List[int]:
    """The indexes in [first, last) of a PTE table whose entries are not
    zero, found in C (compress()), after reading the struct pages of the
    present ones in runs (PageCache.prefetch()).  For the loops whose kernel
    body does nothing for a zero (none) PTE: a sparse table then costs what
    its mapped entries cost."""
    used = list(compress(range(first, last), vals[first:last]))
    pc.prefetch(arch.present_pfns(vals, used))
    return used


def normal_fields(pc: PageCache, pfns: List[int]) -> Optional[List[tuple]]:
    """The struct page fields of the pages ``pfns`` (present, not special
    PTEs: vm_normal_page() names them), in order; None if one has no struct
    page read (out of range, or not in the dump): the caller then visits
    the entries one by one, the way that reports them."""
    if max(pfns) > pc.highest_memmap_pfn:
        return None
    raws = pc.fields_of(pfns)
    return None if None in raws else raws


def order0_classes(pc: PageCache, raws: List[tuple], flag_mask: int,
                   *columns: Iterable[int]) -> "Counter[tuple]":
    """Pages counted by class, in C: how many of the pages ``raws`` have
    each (flags & ``flag_mask``, mapping & 3, _mapcount, _refcount, the
    tail bit of compound_head, and one value per further column).  For the
    kernel loops that only add per page (smaps_account(), gather_stats()):
    pages of one class add the same, so each class is added once, times
    its count.  ``flag_mask`` must hold PG_head (with the tail bit: is the
    page part of a large folio?)."""
    f = pc.field
    return Counter(zip(map(flag_mask.__and__, map(f["flags"], raws)),
                       map((3).__and__, map(f["mapping"], raws)),
                       map(f["_mapcount"], raws),
                       map(f["_refcount"], raws),
                       map((1).__and__, map(f["compound_head"], raws)),
                       *columns))


@functools.lru_cache(maxsize=64)
def _ones(bits: int, n: int) -> int:
    """1 in each of ``n`` fields of ``bits`` bits, as one int."""
    return ((1 << (bits * n)) - 1) // ((1 << bits) - 1)


@functools.lru_cache(maxsize=256)
def _repeat(pattern: int, bits: int, n: int) -> int:
    """``pattern`` in each of ``n`` fields of ``bits`` bits, as one int:
    an and/or with it acts on every field at once, in C."""
    return pattern * _ones(bits, n)


@functools.lru_cache(maxsize=16)
def _ramp(n: int, page_shift: int = 12) -> int:
    """The PFN fields (bits PAGE_SHIFT up of 64) 0, 1, ..., n - 1 as one int."""
    return sum(i << (64 * i + page_shift) for i in range(n))


def _changes(diff: int, nbytes: int, n: int, step: int, words: Iterable[int]) -> Any:
    """Where ``diff`` (records of ``step`` 64-bit words, each the xor of a
    record with the next) is not zero in any of ``words``: the fields
    or'ed into each record's first word by shifts, read as a strided
    array.  An iterator of record indexes below n - 1."""
    fold = diff
    for w in words:
        if w:
            fold |= diff >> (64 * w)
    column = memoryview(fold.to_bytes(nbytes, "little")).cast("Q")[::step]
    return compress(range(n - 1), column)


def normal_frames(arch: Any, vals: Any, first: int, last: int) -> Optional[Tuple[int, int]]:
    """Where every PTE of [first, last) of a table is present and not
    special (Arch.normal_pte_bits(), tested on the whole table at once):
    (the entries as one int, the entry i - first in bits 64 * (i - first)
    up; their physical frame addresses, PFN << PAGE_SHIFT, likewise).  None where
    one is not, or the arch has no such test."""
    bits = arch.normal_pte_bits()
    if bits is None or last <= first:
        return None
    mask, value, pfn_mask = bits
    n = last - first
    try:
        x = int.from_bytes(memoryview(vals)[first:last], sys.byteorder)
    except TypeError:
        return None  # not an array of u64 (a table no target reads so)
    if x & _repeat(mask, 64, n) != _repeat(value, 64, n):
        return None  # one is not present, or special
    return x, x & _repeat(pfn_mask, 64, n)


def int_words(x: int, n: int) -> List[int]:
    """The ``n`` 64-bit fields of ``x``, lowest first (made in C)."""
    return memoryview(x.to_bytes(8 * n, sys.byteorder)).cast("Q").tolist()


def order0_stretches(pc: PageCache, arch: Any, vals: Any, first: int, last: int,
                     flag_mask: int, pte_mask: int = 0,
                     ) -> Optional[Tuple[List[int], List[tuple], List[int]]]:
    """order0_classes() of the PTEs [first, last) of a table, without a
    Python step per page, where they are all present and not special
    (vm_normal_page() names each one's page) and map runs of consecutive
    PFNs, as a faulted range mostly does: their struct pages are read a
    run at a time, in the table's order, and the table and struct page
    bytes compared as big ints (each entry a field of it), so that the
    stretches of pages of one class are found in C and each counted once.

    Returns (where each stretch of entries of one class starts, from 0 at
    ``first``; each stretch's class as order0_classes() makes it, then,
    if given, the PTE bits under ``pte_mask``; the PFN of each entry), or None,
    having done nothing, where that does not hold: an entry is not normal,
    a PFN is past highest_memmap_pfn or its struct page is not in the
    dump, or the PFNs are scattered (then the caller's order0_classes()
    over fields_of() costs the same); the caller then goes on as before."""
    n = last - first
    found = normal_frames(arch, vals, first, last)
    if found is None or n < 2:
        return None
    x, frames = found
    shift = arch.page_shift
    pfns = int_words(frames >> shift, n)
    p0 = pfns[0]
    if frames == _ramp(n, shift) + (p0 << shift) * _ones(64, n):
        starts = [0]  # one run: a freshly faulted range
    else:
        starts = [0] + list(compress(range(1, n), map(operator.ne, pfns[1:],
                                                      map((1).__add__, pfns))))
        if len(starts) > n // 8:
            return None
    size = pc.size
    pieces = []
    cuts = set()
    for a, b in zip(starts, starts[1:] + [n]):
        q = pfns[a]
        if q + b - a - 1 > pc.highest_memmap_pfn:
            return None
        try:
            pieces.append(pc.prog.read(pc.address(q), size * (b - a)))
        except FaultError:
            return None
        if a:
            cuts.add(a - 1)
    data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
    # the fields the classes are made of, masked, in every struct page
    z = int.from_bytes(data, "little") & _repeat(pc.record_mask(flag_mask), size * 8, n)
    cuts.update(_changes(z ^ (z >> (size * 8)), size * n, n, size // 8, pc.record_words))
    if pte_mask:
        p = x & _repeat(pte_mask, 64, n)
        cuts.update(_changes(p ^ (p >> 64), 8 * n, n, 1, ()))
    pick = pc._pick
    unpack = pc._struct.unpack_from
    at = [0] + sorted(c + 1 for c in cuts)
    keys = []
    for a in at:
        flags, head, mapping, mapcount, refcount = pick(unpack(data, a * size))
        key: tuple = (flags & flag_mask, mapping & 3, mapcount, refcount, head & 1)
        if pte_mask:
            key += (vals[first + a] & pte_mask,)
        keys.append(key)
    return at, keys, pfns


def order0_runs(pc: PageCache, arch: Any, vals: Any, first: int, last: int,
                flag_mask: int, pte_mask: int = 0,
                ) -> Optional[Tuple["Counter[tuple]", List[int]]]:
    """order0_stretches() counted by class: (the classes as
    order0_classes() counts them, with its further columns; the PFN of
    each entry), or None where order0_stretches() gives None."""
    found = order0_stretches(pc, arch, vals, first, last, flag_mask, pte_mask)
    if found is None:
        return None
    at, keys, pfns = found
    classes: "Counter[tuple]" = Counter()
    for key, a, b in zip(keys, at, at[1:] + [last - first]):
        classes[key] += b - a
    return classes, pfns


def large_class(classes: Iterable[tuple], m_head: int) -> bool:
    """Whether a class of order0_classes() / order0_runs() is of pages of
    large folios (a tail page, or PG_head in ``m_head``)."""
    return any(k[4] or k[0] & m_head for k in classes)


def subpage_mapcounts(pc: PageCache, head: PageInfo, page: PageInfo,
                      nr: int) -> Dict[int, int]:
    """{mapcount: how many pages} over the ``nr`` pages of a folio from
    ``page``: page_mapcount() (6.1) or folio_precise_page_mapcount() (6.12)
    of each, from one read of their struct pages, with no per-page objects.

    Each is the page's own _mapcount + 1 plus what the folio adds (the same
    for every page: see the two functions above), so the raw _mapcount
    fields are read as one strided array and counted."""
    data = pc.prog.read(pc.address(page.pfn), pc.size * nr)
    step = pc.size // 4
    raws = memoryview(data).cast("i")[pc.off["_mapcount"] // 4::step]
    counts = Counter(raws)  # counted in C
    out: Dict[int, int] = {}
    for raw, n in counts.items():
        # the folio's share, computed as for a tail page of it (nr > 1:
        # a large folio) with this _mapcount
        sub = PageInfo(head.pfn + 1, 0, head.pfn, 0, raw, 0)
        if pc.k.large_mapcount:
            m = folio_precise_page_mapcount(pc, head, sub)
        else:
            m = page_mapcount(pc, sub)
        out[m] = out.get(m, 0) + n
    return out


def folio_mapcount(pc: PageCache, head: PageInfo) -> int:
    """folio_mapcount() (6.12)."""
    if not folio_test_large(pc, head):
        mapcount = head.mapcount + 1
        return 0 if page_mapcount_is_type(mapcount) else mapcount
    return pc.folio_large_mapcount(head)


def folio_likely_mapped_shared(pc: PageCache, head: PageInfo) -> bool:
    """folio_likely_mapped_shared() (6.12)."""
    mapcount = folio_mapcount(pc, head)
    if not folio_test_large(pc, head) or PageHuge(pc, head):
        return mapcount > 1
    if mapcount <= 1:
        return False
    if pc.folio_entire_mapcount(head) or mapcount > 1 << pc.folio_order(head):
        return True
    return head.mapcount > 0


def hugetlb_pmd_shared(pc: PageCache, table_phys: int) -> bool:
    """hugetlb_pmd_shared(ptep) (6.12): the ptdesc of the table holding the
    entry has a non-zero pt_share_count."""
    from drgn import Object

    ptdesc = Object(pc.prog, "struct ptdesc *", pc.address(table_phys >> pc.page_shift))
    try:
        return bool(ptdesc.pt_share_count.counter.value_())
    except (AttributeError, LookupError):
        return False


def pmd_trans_huge_lock(walk: Any, pmd: Any, addr: int) -> bool:
    """pmd_trans_huge_lock() without the lock: a pmd that a pmd_entry handles
    whole (is_swap_pmd(), pmd_trans_huge() or pmd_devmap()).

    DUMP: the kernel takes any swap pmd for a THP migration entry (and
    VM_BUG_ONs if it is not one).  A swap pmd whose type is not a migration
    type is garbage: it is reported, virtually cleared as pmd_clear_bad()
    would, and not handled as huge, so the walk sees a hole there."""
    from ..walker.walk import pmd_clear_bad

    arch = walk.arch
    val = pmd.val
    if arch.is_swap_pmd(val):
        if arch.is_pmd_migration_entry(val):
            return True
        pmd_clear_bad(walk, pmd, addr)
        return False
    return arch.pmd_trans_huge(val) or arch.pmd_devmap(val)


def pte_offset_map_lock(walk: Any, pmd: Any, addr: int) -> Any:
    """pte_offset_map_lock() in a pmd_entry, without the lock.  None: no PTE
    table to map; callers from 6.5 on then ask for ACTION_AGAIN, 6.1's
    (pmd_trans_unstable()) just return 0."""
    from ..walker.walk import ACTION_AGAIN, pte_offset_map

    pte = pte_offset_map(walk, pmd, addr)
    if pte is None and (walk.target.kernel.pte_offset_map_may_fail or pmd.get() == 0):
        # DUMP: 6.1 returns 0 when pmd_trans_unstable() clears a bad pmd, and
        # that range then has no entries at all (pagemap's buffer would
        # shift).  Asking again makes the walker see the cleared pmd as none
        # and report the range as a hole, as any later walk would.
        walk.action = ACTION_AGAIN
    return pte


def vm_normal_page(pc: PageCache, arch: Any, vma: Any, pte: int,
                   walk: Any = None, addr: int = 0) -> Optional[PageInfo]:
    """vm_normal_page() with CONFIG_ARCH_HAS_PTE_SPECIAL (x86-64): special
    entries (pfnmap, mixedmap, the zero page, devmap) have no normal page; a
    PFN above highest_memmap_pfn is print_bad_pte()ed and has none either.
    DUMP: print_bad_pte() is a problem reported on ``walk``; a struct page
    the dump cannot read is reported the same way."""
    pfn = arch.pte_pfn(pte)
    if arch.pte_special(pte):
        if vma is None or vma.vm_flags & (VM_PFNMAP | VM_MIXEDMAP):
            return None
        if walk is None or pfn == walk.target.zero_pfn() or arch.pmd_devmap(pte):
            return None  # is_zero_pfn(), pte_devmap()
        walk.report_value("bad", "pte", addr, -1, pte,
                          "print_bad_pte(): a special PTE in a vma that is "
                          "neither VM_PFNMAP nor VM_MIXEDMAP")
        return None
    if pfn > pc.highest_memmap_pfn:
        if walk is not None:
            walk.report_value("bad", "pte", addr, -1, pte,
                              f"print_bad_pte(): PFN {pfn:#x} is above "
                              f"highest_memmap_pfn {pc.highest_memmap_pfn:#x}")
        return None
    return entry_page(pc, pfn, walk, "pte", addr, pte)


def entry_page(pc: PageCache, pfn: int, walk: Any, level: str, addr: int,
               val: int) -> Optional[PageInfo]:
    """pfn_to_page() of the PFN in a page-table entry (pmd_page(),
    pfn_swap_entry_to_page(), ...).

    DUMP: the kernel trusts the entry.  A PFN whose struct page is not in
    the dump (beyond highest_memmap_pfn, or in an unreadable memmap) is
    reported on ``walk`` and has no page: nothing is invented for it."""
    info = pc.get(pfn)
    if info is not None:
        return info
    if pfn <= pc.highest_memmap_pfn:
        try:
            return pc.page(pfn)
        except FaultError:
            why = f"the struct page of PFN {pfn:#x} is not in the dump"
    else:
        why = f"PFN {pfn:#x} is above highest_memmap_pfn {pc.highest_memmap_pfn:#x}"
    if walk is not None:
        walk.report_value("bad", level, addr, -1, val, f"{why}: no page")
    return None


def pfn_valid(pc: PageCache, pfn: int) -> bool:
    """pfn_valid() of SPARSEMEM (include/linux/mmzone.h): the pfn's section
    exists and has a memmap, and (outside early sections) its subsection is
    populated."""
    from drgn import FaultError

    prog = pc.prog
    try:
        section_size_bits = prog.constant("SECTION_SIZE_BITS").value_()
    except LookupError:
        section_size_bits = 27  # x86-64
    pfn_section_shift = section_size_bits - pc.page_shift
    nr = pfn >> pfn_section_shift
    try:
        ms = prog["mem_section"]
        # SECTIONS_PER_ROOT: PAGE_SIZE / sizeof(struct mem_section)
        per_root = (1 << pc.page_shift) // prog.type("struct mem_section").size
        if nr >= prog.constant("NR_MEM_SECTIONS").value_() if _has(prog, "NR_MEM_SECTIONS") \
                else nr >= (1 << (46 - section_size_bits)) * 64:
            return False
        root = ms[nr // per_root]
        if not root.value_():
            return False
        section = root[nr % per_root]
        mem_map = section.section_mem_map.value_()
        if not mem_map & 0x2:  # SECTION_HAS_MEM_MAP
            return False
        if mem_map & 0x8:  # SECTION_IS_EARLY
            return True
        usage = section.usage
        sub_shift = 21 - pc.page_shift  # SUBSECTION_SHIFT - PAGE_SHIFT
        idx = (pfn & ((1 << pfn_section_shift) - 1)) >> sub_shift
        word = usage.subsection_map[idx // 64].value_()
        return bool(word >> (idx % 64) & 1)
    except (FaultError, LookupError, AttributeError, IndexError):
        return False


def _has(prog: Any, name: str) -> bool:
    try:
        prog.constant(name)
        return True
    except LookupError:
        return False


def page_summary(pc: PageCache, pfn: int) -> Dict[str, Any]:
    """What vtop and rmap show of the struct page behind a PFN: its
    address, flags by name, refcount, mapcount, mapping (anon, or file and
    index) and folio order.  None-valued fields could not be read."""
    from drgn import Object

    prog = pc.prog
    out: Dict[str, Any] = {"pfn": pfn, "address": pc.address(pfn)}
    if not pfn_valid(pc, pfn):
        out["valid"] = False
        return out
    out["valid"] = True
    try:
        page = pc.page(pfn)
        head = pc.head(page)
    except FaultError as e:
        out["error"] = str(e)
        return out
    nr_flags = prog["__NR_PAGEFLAGS"].value_() if _has_object(prog, "__NR_PAGEFLAGS") \
        else prog.constant("__NR_PAGEFLAGS").value_()
    flags = head.flags & ((1 << nr_flags) - 1)
    out["flags"] = page.flags
    out["folio_flags"] = head.flags
    out["flag_names"] = page_flag_names(prog, flags)
    out["refcount"] = page_count(pc, page)
    if pc.k.large_mapcount:
        out["mapcount"] = folio_precise_page_mapcount(pc, head, page)
        out["folio_mapcount"] = folio_mapcount(pc, head)
    else:
        out["mapcount"] = page_mapcount(pc, page)
        out["folio_mapcount"] = None
    out["head_pfn"] = head.pfn
    out["folio_order"] = pc.folio_order(head)
    out["hugetlb"] = PageHuge(pc, page)
    mapping = head.mapping
    out["mapping"] = mapping
    out["slab"] = _slab_cache_name(pc, head)
    if out["slab"] is not None:
        # struct slab overlays struct page: no mapping, index or file
        out.update(anon=False, ksm=False, index=None, file=None)
        return out
    out["anon"] = bool(mapping & PAGE_MAPPING_ANON)
    out["ksm"] = mapping & 3 == 3
    index_off = offsetof(prog.type("struct page"), pc.k.page_index_member)
    index, = struct.unpack_from("<Q", prog.read(pc.address(head.pfn) + index_off, 8))
    out["index"] = index + (pfn - head.pfn)
    out["file"] = None
    if mapping and not mapping & 3:
        try:
            from drgn.helpers.linux.fs import inode_path

            host = Object(prog, "struct address_space *", mapping).host
            path = inode_path(host)
            out["file"] = path.decode(errors="replace") if path else \
                f"inode {host.value_():#x}"
        except (FaultError, LookupError, ValueError):
            out["file"] = None
    return out


def _slab_cache_name(pc: PageCache, head: PageInfo) -> Optional[str]:
    """The slab cache of a slab page (folio_test_slab(): 5.10, 6.1 PG_slab,
    6.12 the PGTY_slab page type), or None for any other page.  The cache
    is struct slab's slab_cache (5.17 on), before it struct page's."""
    from drgn import Object

    if pc.k.page_type_enum:
        if (head.mapcount >> 24) & 0xFF != pc.prog.constant("PGTY_slab").value_():
            return None
    elif not pc.test(head, "PG_slab"):
        return None
    try:
        kind = "struct slab *" if pc.k.struct_slab else "struct page *"
        slab = Object(pc.prog, kind, pc.address(head.pfn))
        return slab.slab_cache.name.string_().decode(errors="replace")
    except FaultError:
        return "?"


def page_flag_names(prog: Any, flags: int) -> str:
    """The PG_* bits set in ``flags``, by their first name in enum pageflags
    (aliases such as PG_reported = PG_uptodate are left out)."""
    seen = set()
    names = []
    for name, bit in prog.type("enum pageflags").enumerators:
        if bit in seen or name.startswith("__"):
            continue
        seen.add(bit)
        if flags >> bit & 1:
            names.append(name)
    return "|".join(names)


def _has_object(prog: Any, name: str) -> bool:
    try:
        prog.object(name)
        return True
    except LookupError:
        return False
