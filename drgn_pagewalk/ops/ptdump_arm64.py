"""The kernel's page-table dumper on arm64: arch/arm64/mm/ptdump.c of Linux
6.1 (Debian 6.1.192) and 6.12 (Debian 6.12.117), with mm/ptdump.c's walk
callbacks of :mod:`.ptdump` (shared with x86-64), run over a dump.

``ptdump_walk()`` is what /sys/kernel/debug/kernel_page_tables prints
(CONFIG_PTDUMP_DEBUGFS; Debian's kernels do not build it, but build the
walk: CONFIG_PTDUMP_CORE); ``ptdump_check_wx()`` is the boot-time W+X check
of CONFIG_DEBUG_WX.  Each function mirrors the kernel function of the same
name; the format strings are the kernel's.  Where a dump forces a
difference, a ``DUMP:`` comment says so:

* seq_printf() and printk() write into Python lists (see :class:`Arm64Kernel`).
* WARN_ONCE()'s ``%p`` hashes the pointer with a boot-time key a dump does
  not keep: the address is printed unhashed in %p's width.

What 6.12 changed, and what the version picks (:func:`_variant`):

* ``address_markers``: 6.1 initializes them at build time (VMEMMAP below the
  PCI I/O and fixmap areas) and patches PAGE_END in ptdump_init(); 6.12 builds
  them in ptdump_init() (vmemmap above vmalloc, then PCI I/O, then the whole
  fixmap FIXADDR_TOT_START, and the vmemmap of the VA bits in use).
* ``note_page()``: 6.12 turns the levels folded at run time (``st->mm`` with
  mm_p4d_folded()/mm_pud_folded()) into level 0, and flushes with
  ``note_page_flush()`` at ``st->end_address``; 6.1 names level 2 "PGD" on
  3-level kernels instead.
* ``ptdump_check_wx()``: 6.1 walks from PAGE_OFFSET and returns nothing,
  6.12 from _PAGE_OFFSET(vabits_actual) and returns whether it passed.
* mm/ptdump.c's ``ptdump_hole`` of each version (see :mod:`.ptdump`).

The kernel table only: arm64's user page tables (TTBR0) map no kernel
addresses, and there is no PTI pgd pair.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from ..arch.arm64 import (
    PTE_AF,
    PTE_ATTRINDX_MASK,
    PTE_CONT,
    PTE_GP,
    PTE_NG,
    PTE_PXN,
    PTE_RDONLY,
    PTE_SHARED,
    PTE_TABLE_BIT,
    PTE_USER,
    PTE_UXN,
    PTE_VALID,
    va_bits_min,
)
from ..arch.base import MASK64
from ..target.drgn_target import get_target
from ..target.base import TargetError, WalkProblem
from .ptdump_core import AddrMarker, KernelLog, PtdumpState, ptdump_hole_v6_1, ptdump_hole_v6_12, ptdump_walk_pgd

ULONG_MAX = MASK64
SZ_8M = 8 << 20
SZ_16M = 16 << 20
SZ_32M = 32 << 20
SZ_128M = 128 << 20
SZ_256M = 256 << 20
SZ_1G = 1 << 30
SZ_2G = 2 << 30
#: asm/memory.h: PCI_IO_SIZE
PCI_IO_SIZE = SZ_16M
# asm/memory.h: the memory types (MAIR_EL1 indices)
MT_NORMAL = 0
MT_NORMAL_TAGGED = 1
MT_NORMAL_NC = 2
MT_DEVICE_nGnRnE = 3
MT_DEVICE_nGnRE = 4


def PTE_ATTRINDX(t: int) -> int:
    """PTE_ATTRINDX() of pgtable-hwdef.h."""
    return t << 2


def _PAGE_OFFSET(va: int) -> int:
    """_PAGE_OFFSET(va): -(1 << va)."""
    return -(1 << va) & MASK64


def _PAGE_END(va: int) -> int:
    """_PAGE_END(va): -(1 << (va - 1))."""
    return -(1 << (va - 1)) & MASK64


def order_base_2(n: int) -> int:
    """order_base_2()."""
    return (n - 1).bit_length() if n > 1 else 0


# -- the kernel's view -------------------------------------------------------

class Arm64Kernel(KernelLog):
    """What arch/arm64/mm/ptdump.c reads from the running kernel, read once
    from the dump, and where its printk() output goes.

    DUMP: ``log`` collects what printk() would have written; ``warned`` holds
    the WARN_ONCE() once-flags (one per call site), for this run only.  The
    attributes ``hole`` and ``problems`` are what :func:`.ptdump_core.ptdump_walk_pgd`
    uses.
    """

    def __init__(self, prog: Any) -> None:
        self.prog = prog
        self.target = get_target(prog)
        self.arch = self.target.arch
        self.version: Tuple[int, int] = self.arch.kernel_version
        #: sizeof(struct page)
        self.sizeof_page = prog.type("struct page").size
        self.init_mm = self.target.mm(prog["init_mm"].address_of_())
        self.log = ""
        self.warned: Dict[str, bool] = {}
        self.problems: List[WalkProblem] = []
        self.hole, self.address_markers_fn, self.pg_level_names = _variant(self.version)
        self.pg_level = kernel_pg_levels(self)
        self.address_markers = self.address_markers_fn(self)

    # memory.h: the VA layout constants of the dump's kernel
    @property
    def VA_BITS(self) -> int:
        """CONFIG_ARM64_VA_BITS (VMCOREINFO's NUMBER(VA_BITS))."""
        return int(self.arch.va_bits)

    @property
    def VA_BITS_MIN(self) -> int:
        """VA_BITS_MIN (arch.arm64.va_bits_min())."""
        return va_bits_min(self.VA_BITS, self.PAGE_SHIFT)

    @property
    def PAGE_SHIFT(self) -> int:
        """PAGE_SHIFT (VMCOREINFO's PAGESIZE)."""
        return int(self.arch.page_shift)

    @property
    def vabits_actual(self) -> int:
        """vabits_actual: 64 - TCR_EL1.T1SZ (VMCOREINFO), VA_BITS up to 48."""
        return int(self.arch.vabits_actual)

    @property
    def PAGE_OFFSET(self) -> int:
        return _PAGE_OFFSET(self.VA_BITS)

    def pr_warn(self, text: str) -> None:
        """pr_warn(): printk(KERN_WARNING ...)."""
        self.printk(text)

    def warn_once(self, site: str, text: str) -> None:
        """WARN_ONCE(1, ...): DUMP: the message line only, once per site."""
        if not self.warned.get(site):
            self.warned[site] = True
            self.printk(text)


# -- address_markers ---------------------------------------------------------

def _no_kasan(k: Arm64Kernel) -> None:
    """The KASAN markers are compiled in with CONFIG_KASAN_GENERIC/SW_TAGS:
    6.1's ``enum address_markers_idx`` then has KASAN_START_NR.  Not ported
    (Debian's kernels have no KASAN)."""
    try:
        enum = k.prog.type("enum address_markers_idx")
    except LookupError:
        return
    if any(e.name == "KASAN_START_NR" for e in enum.enumerators):
        raise TargetError("ptdump: a KASAN kernel's address markers are not ported")


def address_markers_v6_1(k: Arm64Kernel) -> List[AddrMarker]:
    """``address_markers[]`` of 6.1 as ptdump_init() leaves it: the build-time
    initializer with ``[PAGE_END_NR]`` patched to PAGE_END (memory.h of 6.1:
    VMEMMAP_SHIFT from STRUCT_PAGE_MAX_SHIFT, MODULES_VSIZE 128 MiB,
    VMALLOC_END 256 MiB below the vmemmap, PCI I/O and fixmap below it)."""
    _no_kasan(k)
    page_offset = k.PAGE_OFFSET
    page_end = _PAGE_END(k.VA_BITS_MIN)
    vmemmap_shift = k.PAGE_SHIFT - order_base_2(k.sizeof_page)
    vmemmap_start = -(1 << (k.VA_BITS - vmemmap_shift)) & MASK64
    vmemmap_size = ((page_end - page_offset) & MASK64) >> vmemmap_shift
    modules_vaddr = _PAGE_END(k.VA_BITS_MIN)
    modules_end = modules_vaddr + SZ_128M
    pci_io_end = vmemmap_start - SZ_8M
    fixaddr_top = vmemmap_start - SZ_32M
    fixaddr_size = int(k.prog.constant("__end_of_permanent_fixed_addresses")) << k.PAGE_SHIFT
    return [
        AddrMarker(page_offset, "Linear Mapping start"),
        AddrMarker(page_end, "Linear Mapping end"),
        AddrMarker(modules_vaddr, "Modules start"),
        AddrMarker(modules_end, "Modules end"),
        AddrMarker(modules_end, "vmalloc() area"),  # VMALLOC_START
        AddrMarker(vmemmap_start - SZ_256M, "vmalloc() end"),
        AddrMarker(fixaddr_top - fixaddr_size, "Fixmap start"),
        AddrMarker(fixaddr_top, "Fixmap end"),
        AddrMarker(pci_io_end - PCI_IO_SIZE, "PCI I/O start"),
        AddrMarker(pci_io_end, "PCI I/O end"),
        AddrMarker(vmemmap_start, "vmemmap start"),
        AddrMarker(vmemmap_start + vmemmap_size, "vmemmap end"),
        AddrMarker(ULONG_MAX, None),
    ]


def address_markers_v6_12(k: Arm64Kernel) -> List[AddrMarker]:
    """The ``m[]`` ptdump_init() of 6.12 copies into its static
    ``address_markers`` (memory.h/pgtable.h/fixmap.h of 6.12: VMEMMAP_END
    at -1 GiB, MODULES_VSIZE 2 GiB, VMALLOC_END below the vmemmap of the VA
    bits in use, PCI I/O above the vmemmap, FIXADDR_TOT_START)."""
    _no_kasan(k)
    page_offset_va = k.PAGE_OFFSET  # PAGE_OFFSET: _PAGE_OFFSET(VA_BITS)
    page_offset = _PAGE_OFFSET(k.vabits_actual)  # the local page_offset
    page_end = _PAGE_END(k.VA_BITS_MIN)
    vmemmap_end = -SZ_1G & MASK64
    vmemmap_size = (((page_end - page_offset_va) & MASK64) >> k.PAGE_SHIFT) * k.sizeof_page
    vmemmap_start = vmemmap_end - vmemmap_size
    if k.VA_BITS == k.VA_BITS_MIN:
        vmalloc_end = vmemmap_start - SZ_8M
    else:
        unused = ((page_offset - page_offset_va) & MASK64) >> k.PAGE_SHIFT
        vmalloc_end = vmemmap_start + unused * k.sizeof_page - SZ_8M
    # virt_to_page((void *)page_offset), !CONFIG_DEBUG_VIRTUAL
    vmemmap_first = vmemmap_start + (((page_offset - page_offset_va) & MASK64)
                                     >> k.PAGE_SHIFT) * k.sizeof_page
    modules_vaddr = page_end
    modules_end = modules_vaddr + SZ_2G
    pci_io_start = vmemmap_end + SZ_8M
    fixaddr_top = -SZ_8M & MASK64
    fixaddr_tot_size = int(k.prog.constant("__end_of_fixed_addresses")) << k.PAGE_SHIFT
    return [
        AddrMarker(page_offset_va, "Linear Mapping start"),
        AddrMarker(page_end, "Linear Mapping end"),
        AddrMarker(modules_vaddr, "Modules start"),
        AddrMarker(modules_end, "Modules end"),
        AddrMarker(modules_end, "vmalloc() area"),  # VMALLOC_START
        AddrMarker(vmalloc_end, "vmalloc() end"),
        AddrMarker(vmemmap_first, "vmemmap start"),
        AddrMarker(vmemmap_end, "vmemmap end"),
        AddrMarker(pci_io_start, "PCI I/O start"),
        AddrMarker(pci_io_start + PCI_IO_SIZE, "PCI I/O end"),
        AddrMarker(fixaddr_top - fixaddr_tot_size, "Fixmap start"),
        AddrMarker(fixaddr_top, "Fixmap end"),
        AddrMarker(ULONG_MAX, None),
    ]


def kernel_base_addr(k: Arm64Kernel) -> int:
    """kernel_ptdump_info.base_addr: 6.1 PAGE_OFFSET, 6.12 the page_offset
    of ptdump_init(), _PAGE_OFFSET(vabits_actual).  Also the start of
    ptdump_check_wx()'s range in each version."""
    if k.version >= (6, 12):
        return _PAGE_OFFSET(k.vabits_actual)
    return k.PAGE_OFFSET


# -- pte_bits and pg_level ---------------------------------------------------

class ProtBits:
    """struct prot_bits (6.1) / struct ptdump_prot_bits (6.12)."""

    __slots__ = ("mask", "val", "set", "clear")

    def __init__(self, mask: int, val: int, set: Optional[str],
                 clear: Optional[str] = None) -> None:
        self.mask = mask
        self.val = val
        self.set = set
        self.clear = clear


#: static const struct prot_bits pte_bits[] (6.1 and 6.12 alike)
pte_bits: Tuple[ProtBits, ...] = (
    ProtBits(PTE_VALID, PTE_VALID, " ", "F"),
    ProtBits(PTE_USER, PTE_USER, "USR", "   "),
    ProtBits(PTE_RDONLY, PTE_RDONLY, "ro", "RW"),
    ProtBits(PTE_PXN, PTE_PXN, "NX", "x "),
    ProtBits(PTE_SHARED, PTE_SHARED, "SHD", "   "),
    ProtBits(PTE_AF, PTE_AF, "AF", "  "),
    ProtBits(PTE_NG, PTE_NG, "NG", "  "),
    ProtBits(PTE_CONT, PTE_CONT, "CON", "   "),
    ProtBits(PTE_TABLE_BIT, PTE_TABLE_BIT, "   ", "BLK"),
    ProtBits(PTE_UXN, PTE_UXN, "UXN", "   "),
    ProtBits(PTE_GP, PTE_GP, "GP", "  "),
    ProtBits(PTE_ATTRINDX_MASK, PTE_ATTRINDX(MT_DEVICE_nGnRnE), "DEVICE/nGnRnE"),
    ProtBits(PTE_ATTRINDX_MASK, PTE_ATTRINDX(MT_DEVICE_nGnRE), "DEVICE/nGnRE"),
    ProtBits(PTE_ATTRINDX_MASK, PTE_ATTRINDX(MT_NORMAL_NC), "MEM/NORMAL-NC"),
    ProtBits(PTE_ATTRINDX_MASK, PTE_ATTRINDX(MT_NORMAL), "MEM/NORMAL"),
    ProtBits(PTE_ATTRINDX_MASK, PTE_ATTRINDX(MT_NORMAL_TAGGED), "MEM/NORMAL-TAGGED"),
)


class PgLevel:
    """struct pg_level (6.1) / struct ptdump_pg_level (6.12)."""

    __slots__ = ("bits", "name", "num", "mask")

    def __init__(self, bits: Tuple[ProtBits, ...], name: str) -> None:
        self.bits = bits
        self.name = name
        self.num = len(bits)
        self.mask = 0


def pg_level_names_v6_1(config_levels: int) -> Tuple[str, ...]:
    """pg_level[] names of 6.1: the pud is "PGD" with 3 levels or fewer,
    the pmd with 2."""
    return ("PGD", "P4D", "PUD" if config_levels > 3 else "PGD",
            "PMD" if config_levels > 2 else "PGD", "PTE")


def pg_level_names_v6_12(config_levels: int) -> Tuple[str, ...]:
    """kernel_pg_levels[] names of 6.12 (folding is note_page()'s business)."""
    return ("PGD", "P4D", "PUD", "PMD", "PTE")


def kernel_pg_levels(k: Arm64Kernel) -> List[PgLevel]:
    """pg_level[] (6.1) / kernel_pg_levels[] (6.12), after
    ptdump_initialize()."""
    levels = [PgLevel(pte_bits, name) for name in k.pg_level_names(k.arch.config_levels)]
    ptdump_initialize(levels)
    return levels


def ptdump_initialize(levels: List[PgLevel]) -> None:
    """ptdump_initialize(): each level's mask is the union of its bits'."""
    for level in levels:
        if level.bits:
            for bits in level.bits:
                level.mask |= bits.mask


# -- the state ---------------------------------------------------------------

class PgState(PtdumpState):
    """struct pg_state (6.1) / struct ptdump_pg_state (6.12), embedding
    struct ptdump_state.  ``seq`` is the seq_file: a list of strings, or None.

    DUMP: ``ranges`` and ``flagged`` record each finished range and each
    note_prot_wx()/note_prot_uxn() count for :func:`ptdump_ranges` and
    :func:`checkwx`.
    """

    def __init__(self, kernel: Arm64Kernel, seq: Optional[List[str]],
                 marker: List[AddrMarker], mm: Any, end_address: int,
                 check_wx: bool, ranges: List[Tuple[int, int]]) -> None:
        self.note_page = note_page
        self.note_page_flush = (note_page_flush if kernel.version >= (6, 12)
                                else note_page_flush_v6_1)
        self.effective_prot = None
        self.range = ranges
        self.kernel = kernel
        self.seq = seq
        self.markers = marker
        self.marker = 0  # index into markers: st->marker
        self.mm = mm
        self.pg_level = kernel.pg_level
        self.end_address = end_address
        self.start_address = 0
        self.level = -1
        self.current_prot = 0
        self.check_wx = check_wx
        self.wx_pages = 0
        self.uxn_pages = 0
        self.ranges: List[Dict[str, Any]] = []
        self.flagged: List[Dict[str, Any]] = []


def pt_dump_seq_printf(st: PgState, text: str) -> None:
    """pt_dump_seq_printf() and pt_dump_seq_puts(): seq_printf() if there is
    a seq_file.  DUMP: a list."""
    if st.seq is not None:
        st.seq.append(text)


def dump_prot_fields(current_prot: int, bits: Tuple[ProtBits, ...]) -> List[str]:
    """The strings dump_prot() prints, each after a space."""
    out = []
    for b in bits:
        s = b.set if current_prot & b.mask == b.val else b.clear
        if s:
            out.append(s)
    return out


def dump_prot(st: PgState, bits: Tuple[ProtBits, ...], num: int) -> None:
    """dump_prot()."""
    for s in dump_prot_fields(st.current_prot, bits[:num]):
        pt_dump_seq_printf(st, " %s" % s)


def _flag(st: PgState, addr: int, kind: str, pages: int) -> None:
    """DUMP: keep what note_prot_wx()/note_prot_uxn() counted."""
    st.flagged.append({"start": st.start_address, "end": addr,
                       "size": (addr - st.start_address) & MASK64, "pages": pages,
                       "level": st.pg_level[st.level].name, "kind": kind,
                       "flags": _flags(st.current_prot, st.pg_level[st.level])})


def note_prot_uxn(st: PgState, addr: int) -> None:
    """note_prot_uxn(): a kernel mapping user space may execute."""
    if not st.check_wx:
        return

    if (st.current_prot & PTE_UXN) == PTE_UXN:
        return

    # DUMP: %p unhashed
    st.kernel.warn_once("uxn", "arm64/mm: Found non-UXN mapping at address %016x/%s\n"
                        % (st.start_address, st.kernel.sprint_symbol(st.start_address)))

    pages = ((addr - st.start_address) & MASK64) >> st.kernel.PAGE_SHIFT
    st.uxn_pages += pages
    _flag(st, addr, "non-UXN", pages)


def note_prot_wx(st: PgState, addr: int) -> None:
    """note_prot_wx(): writable (not PTE_RDONLY) and executable (not PXN)."""
    if not st.check_wx:
        return
    if (st.current_prot & PTE_RDONLY) == PTE_RDONLY:
        return
    if (st.current_prot & PTE_PXN) == PTE_PXN:
        return

    # DUMP: %p unhashed
    st.kernel.warn_once("wx", "arm64/mm: Found insecure W+X mapping at address %016x/%s\n"
                        % (st.start_address, st.kernel.sprint_symbol(st.start_address)))

    pages = ((addr - st.start_address) & MASK64) >> st.kernel.PAGE_SHIFT
    st.wx_pages += pages
    _flag(st, addr, "W+X", pages)


def mm_p4d_folded(k: Arm64Kernel) -> bool:
    """mm_p4d_folded() of 6.12: !pgtable_l5_enabled() on a 5-level kernel,
    else __PAGETABLE_P4D_FOLDED (true)."""
    return not k.arch.l5


def mm_pud_folded(k: Arm64Kernel) -> bool:
    """mm_pud_folded() of 6.12: !pgtable_l4_enabled() on a kernel of 4 levels
    or more (LPA2 folds the pud only at 4 levels with 16 KiB pages on a
    47-bit CPU); __PAGETABLE_PUD_FOLDED with 3 levels."""
    return k.arch.config_levels < 4 or not k.arch.l4_enabled


UNITS = "KMGTPE"


def note_page(st: PgState, addr: int, level: int, val: int) -> None:
    """note_page(): called on every entry; on a "break" in the series
    (protections, level or address marker change) prints what was collected.

    6.12's note_page_pte/pmd/pud/p4d/pgd(st, addr, x) are
    note_page(st, addr, LEVEL, x); 6.12 also folds the levels folded at
    run time into level 0 when ``st->mm`` is set (the debugfs walk, not the
    W+X check).
    """
    k = st.kernel
    pg_level = st.pg_level
    markers = st.markers
    prot = 0

    # check if the current level has been folded dynamically (6.12)
    if k.version >= (6, 12) and st.mm is not None and (
            (level == 1 and mm_p4d_folded(k)) or (level == 2 and mm_pud_folded(k))):
        level = 0

    if level >= 0:
        prot = val & pg_level[level].mask

    if st.level == -1:
        st.level = level
        st.current_prot = prot
        st.start_address = addr
        pt_dump_seq_printf(st, "---[ %s ]---\n" % _name(markers[st.marker]))
    elif (prot != st.current_prot or level != st.level
          or addr >= markers[st.marker + 1].start_address):
        if st.current_prot:
            note_prot_uxn(st, addr)
            note_prot_wx(st, addr)

        pt_dump_seq_printf(st, "0x%016x-0x%016x   " % (st.start_address, addr))

        delta = ((addr - st.start_address) & MASK64) >> 10
        unit = 0
        while not delta & 1023 and unit + 1 < len(UNITS):
            delta >>= 10
            unit += 1
        pt_dump_seq_printf(st, "%9u%c %s" % (delta, UNITS[unit], pg_level[st.level].name))
        if st.current_prot and pg_level[st.level].bits:
            dump_prot(st, pg_level[st.level].bits, pg_level[st.level].num)
        pt_dump_seq_printf(st, "\n")
        _record(st, addr)

        if addr >= markers[st.marker + 1].start_address:
            st.marker += 1
            pt_dump_seq_printf(st, "---[ %s ]---\n" % _name(markers[st.marker]))

        st.start_address = addr
        st.current_prot = prot
        st.level = level

    if addr >= markers[st.marker + 1].start_address:
        st.marker += 1
        pt_dump_seq_printf(st, "---[ %s ]---\n" % _name(markers[st.marker]))


def note_page_flush(st: PgState) -> None:
    """note_page_flush() of 6.12: a zero entry of level -1 at the exclusive
    end of the range (ULONG_MAX: the wraparound 0)."""
    end = st.end_address
    if end == ULONG_MAX:
        end = 0
    note_page(st, end, -1, 0)


def note_page_flush_v6_1(st: PgState) -> None:
    """6.1's ptdump_walk_pgd() flushes with st->note_page(st, 0, -1, 0)."""
    note_page(st, 0, -1, 0)


def _name(marker: AddrMarker) -> str:
    """%s of the marker name: vsprintf prints a NULL string as "(null)"."""
    return "(null)" if marker.name is None else marker.name


def _flags(prot: int, level: PgLevel) -> str:
    """The attribute columns dump_prot() prints, as one string."""
    if not prot or not level.bits:
        return ""
    return " ".join(dump_prot_fields(prot, level.bits)).strip()


def _record(st: PgState, addr: int) -> None:
    """DUMP: keep the finished range for ptdump_ranges()."""
    prot = st.current_prot
    level = st.pg_level[st.level]
    marker = st.markers[st.marker].name
    st.ranges.append({
        "start": st.start_address,
        "end": addr,
        "size": (addr - st.start_address) & MASK64,
        "level": level.name,
        "marker": marker,
        "flags": _flags(prot, level),
        "present": bool(prot & PTE_VALID),
        "user": bool(prot & PTE_USER),
        "rw": not prot & PTE_RDONLY,
        "nx": bool(prot & PTE_PXN),
        "uxn": bool(prot & PTE_UXN),
        "prot": prot,
        # arm64's ptdump has no effective_prot: the entry's own bits
        "effective_prot": prot,
        "printed": True,
    })


# -- the walks ---------------------------------------------------------------

def ptdump_walk(k: Arm64Kernel, s: Optional[List[str]], markers: List[AddrMarker],
                mm: Any, base_addr: int) -> PgState:
    """ptdump_walk() of a struct ptdump_info {mm, markers, base_addr}.
    DUMP: returns the pg_state, for its recorded ranges."""
    end = ULONG_MAX
    if base_addr < k.arch.task_size:  # TASK_SIZE_64
        end = k.arch.task_size

    st = PgState(k, s, markers, mm, end, False, [(base_addr, end), (0, 0)])

    ptdump_walk_pgd(st, mm, None)
    return st


def ptdump_check_wx(k: Arm64Kernel) -> Tuple[bool, PgState]:
    """ptdump_check_wx(): 6.1 returns nothing, 6.12 whether it passed; both
    print the same.  DUMP: the pg_state is returned too."""
    st = PgState(k, None, [AddrMarker(0, None), AddrMarker(ULONG_MAX, None)],
                 None, ULONG_MAX, True, [(kernel_base_addr(k), ULONG_MAX), (0, 0)])

    ptdump_walk_pgd(st, k.init_mm, None)

    if st.wx_pages or st.uxn_pages:
        k.pr_warn("Checked W+X mappings: FAILED, %u W+X pages found, %u non-UXN pages found\n"
                  % (st.wx_pages, st.uxn_pages))
        return False, st
    k.pr_info("Checked W+X mappings: passed, no W+X pages found\n")
    return True, st


def _variant(version: Tuple[int, int]) -> Tuple[Callable[..., int],
                                                 Callable[[Arm64Kernel], List[AddrMarker]],
                                                 Callable[[int], Tuple[str, ...]]]:
    """The one place where the kernel version picks the variants:
    (ptdump_hole, address_markers, pg_level names).  Proven on 6.1 and 6.12;
    before 6.12 a kernel gets 6.1's, from 6.12 on 6.12's (unproven)."""
    if version >= (6, 12):
        return ptdump_hole_v6_12, address_markers_v6_12, pg_level_names_v6_12
    return ptdump_hole_v6_1, address_markers_v6_1, pg_level_names_v6_1


# -- the API (called through ops/ptdump.py) ----------------------------------

def _kernel_walk(prog: Any, pid_task: Any, user: bool,
                 seq: Optional[List[str]]) -> PgState:
    """ptdump_walk(s, &kernel_ptdump_info): init_mm from base_addr."""
    if pid_task is not None or user:
        raise TargetError("ptdump: arm64 has only the kernel page table (init_mm): "
                          "no --pid or --user (those are x86's current_kernel/current_user)")
    k = Arm64Kernel(prog)
    return ptdump_walk(k, seq, k.address_markers, k.init_mm, kernel_base_addr(k))


def ptdump_text(prog: Any, pid_task: Any = None, user: bool = False) -> str:
    """What /sys/kernel/debug/kernel_page_tables would print."""
    seq: List[str] = []
    _kernel_walk(prog, pid_task, user, seq)
    return "".join(seq)


def ptdump_ranges(prog: Any, pid_task: Any = None, user: bool = False,
                  all_ranges: bool = False) -> List[Dict[str, Any]]:
    """The ranges ptdump_text() prints, one dict each (see
    :func:`.ptdump.ptdump_ranges`; arm64 adds ``uxn``; ``rw`` is "not
    PTE_RDONLY", ``nx`` PXN; every range is printed)."""
    return _kernel_walk(prog, pid_task, user, None).ranges


def checkwx(prog: Any) -> Dict[str, Any]:
    """What the boot-time check (mark_rodata_ro() -> debug_checkwx() ->
    ptdump_check_wx()) prints, run over the dump now: ``lines``,
    ``wx_ranges`` (each range note_prot_wx() or note_prot_uxn() counted,
    ``kind`` "W+X" or "non-UXN", ``pgd`` "kernel"), ``passed``,
    ``wx_pages``, ``uxn_pages``."""
    k = Arm64Kernel(prog)
    passed, st = ptdump_check_wx(k)
    return {"lines": k.lines, "wx_ranges": [dict(r, pgd="kernel") for r in st.flagged],
            "passed": passed, "wx_pages": st.wx_pages, "uxn_pages": st.uxn_pages,
            "problems": [str(p) for p in k.problems]}


def address_markers(prog: Any) -> List[AddrMarker]:
    """The dump's kernel's address markers (see :func:`_variant`)."""
    return Arm64Kernel(prog).address_markers


__all__ = ["ptdump_text", "ptdump_ranges", "checkwx", "address_markers"]
