"""A tiny in-memory kernel for fault-injection tests of the walker.

Page tables are built as bytes in a dict of pages (the arch's page size), behind a Target
that reads them the way the drgn target reads a vmcore.  These tests add
cases a real dump never has (loops, damaged entries, folded levels, hugepd);
real behaviour is proven on the lab dumps.
"""

from __future__ import annotations

import struct
from typing import Any, Dict, Iterator, List, Optional

from drgn_pagewalk.arch.base import PGD, PTE, Arch
from drgn_pagewalk.target.base import Hstate, Mm, TableReadError, Target, Vma, decode_table

TABLE = 0x67  # _KERNPG_TABLE | _PAGE_USER
DIRECT_MAP = 0xFFFF888000000000


class MemTarget(Target):
    """A Target over page tables kept in a dict."""

    def __init__(self, arch: Arch, mem_size: int = 1 << 30, table: int = TABLE) -> None:
        self.arch = arch
        #: the flag bits of an entry pointing to a table (x86's by default)
        self.table = table
        self.mem_size = mem_size
        self.pages: Dict[int, bytearray] = {}
        self._next = 0x100000
        self._vmas: Dict[int, List[Vma]] = {}
        self.reads = 0

    # building
    def alloc_table(self) -> int:
        size = self.arch.page_size
        phys = -(-self._next // size) * size
        self._next = phys + size
        self.pages[phys] = bytearray(size)
        return phys

    def set(self, table: int, index: int, val: int) -> None:
        struct.pack_into("<Q", self.pages[table], index * 8, val)

    def get(self, table: int, index: int) -> int:
        return struct.unpack_from("<Q", self.pages[table], index * 8)[0]

    def new_mm(self) -> Mm:
        return Mm(self, None, self.alloc_table(), False, 0x1000 + len(self._vmas))

    def map(self, pgd: int, addr: int, val: int, leaf: int = PTE) -> int:
        """Put ``val`` in the ``leaf``-level slot for ``addr``, creating the
        tables above it; returns the slot's table."""
        arch = self.arch
        table = pgd
        while arch.folded(leaf):  # a folded level's slot is the one above's
            leaf -= 1
        levels = [level for level in range(PGD, leaf + 1) if not arch.folded(level)]
        for level, below in zip(levels, levels[1:] + [None]):
            idx = arch.index(level, addr)
            if level == leaf:
                self.set(table, idx, val)
                return table
            if below is not None and arch.folded_in_place(below):
                continue  # the level below keeps its slots in this table (arm64)
            cur = self.get(table, idx)
            if cur == 0:
                cur = self.alloc_table() | self.table
                self.set(table, idx, cur)
            table = arch.table_paddr(level, cur)
        raise AssertionError("leaf level not reached")

    def add_vma(self, mm: Mm, start: int, end: int, flags: int = 0x73,
                pgoff: int = 0, anonymous: bool = True,
                hstate_order: int = 0) -> Vma:
        vma = Vma(mm, {"order": hstate_order}, start, end, flags, pgoff,
                  0x8000000000000025, anonymous, start)
        self._vmas.setdefault(mm.address, []).append(vma)
        self._vmas[mm.address].sort(key=lambda v: v.vm_start)
        return vma

    # Target
    def read_table(self, phys: int, nr: int) -> Any:
        self.reads += 1
        if phys >= self.mem_size or phys not in self.pages:
            raise TableReadError(phys, "not in the dump's memory")
        return decode_table(bytes(self.pages[phys][: nr * 8]))

    def phys_to_virt(self, phys: int) -> int:
        return DIRECT_MAP + phys

    def virt_to_phys(self, addr: int) -> int:
        return addr - DIRECT_MAP

    def find_vma(self, mm: Mm, addr: int) -> Optional[Vma]:
        for vma in self._vmas.get(mm.address, []):
            if vma.vm_end > addr:
                return vma
        return None

    def hstate_vma(self, vma: Vma) -> Hstate:
        return Hstate(vma.obj["order"])

    def vma_interval_tree_foreach(self, mapping: Any, first: int,
                                  last: int) -> Iterator[Vma]:
        for vma in sorted(mapping, key=lambda v: v.vm_pgoff):
            pages = (vma.vm_end - vma.vm_start) >> 12
            if vma.vm_pgoff <= last and vma.vm_pgoff + pages - 1 >= first:
                yield vma

    def zero_pfn(self) -> int:
        return 0x1234


class FoldedArch(Arch):
    """A generic format with folded levels, like asm-generic's nopmd/nopud.

    ``levels`` is 2 (pgd -> pte) or 3 (pgd -> pmd -> pte).  Entries: bit 0
    present, bit 7 leaf, bit 62 "bad", bit 61 "hugepd" with the huge page
    shift in bits 52..57 (for walk_hugepd_range()).
    """

    name = "folded"

    def __init__(self, levels: int) -> None:
        self.levels = levels
        if levels == 2:
            self.ptrs_per = (512, 1, 1, 1, 512)
            self.shifts = (21, 21, 21, 21, 12)
        elif levels == 3:
            self.ptrs_per = (512, 1, 1, 512, 512)
            self.shifts = (30, 30, 30, 21, 12)
        else:
            raise ValueError(levels)
        self.task_size = 1 << (self.shifts[0] + 9)

    # pgd and p4d are always folded away here (base class constants); the
    # pud holds the real entries of a 3-level table (pgtable-nopud.h).
    def pud_none(self, val: int) -> bool:
        return self.levels == 3 and val == 0

    def pud_present(self, val: int) -> bool:
        return self.levels != 3 or bool(val & 1)

    def pud_leaf(self, val: int) -> bool:
        return self.levels == 3 and bool(val & 0x80)

    def pmd_none(self, val: int) -> bool:
        return val == 0

    def pmd_present(self, val: int) -> bool:
        return bool(val & 1)

    def pmd_leaf(self, val: int) -> bool:
        return bool(val & 0x80)

    def pmd_bad(self, val: int) -> bool:
        return bool(val & (1 << 62))

    def pte_none(self, val: int) -> bool:
        return val == 0

    def pte_present(self, val: int) -> bool:
        return bool(val & 1)

    def table_paddr(self, level: int, val: int) -> int:
        return val & 0x000FFFFFFFFFF000

    def pte_pfn(self, val: int) -> int:
        return (val & 0x000FFFFFFFFFF000) >> 12

    def is_hugepd(self, val: int) -> bool:
        return bool(val & (1 << 61))

    def hugepd_shift(self, val: int) -> int:
        return (val >> 52) & 0x3F

    def hugepd_paddr(self, val: int) -> int:
        return val & 0x000FFFFFFFFFF000
