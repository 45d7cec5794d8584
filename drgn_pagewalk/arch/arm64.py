"""arm64 page tables: arch/arm64/include/asm/pgtable*.h of Linux 6.1 and 6.12,
for the 4, 16 and 64 KiB granules (PAGE_SHIFT 12, 14, 16).

What the dump decides (never a build-time choice here):

- the granule (VMCOREINFO's PAGESIZE): every level resolves PAGE_SHIFT - 3
  bits (pgtable-hwdef.h's ARM64_HW_PGTABLE_LEVELS() and
  ARM64_HW_PGTABLE_LEVEL_SHIFT()), the contiguous runs are
  CONFIG_ARM64_CONT_PTE_SHIFT / CONT_PMD_SHIFT of the granule (4 KiB: 16 x
  4 KiB and 16 x 2 MiB; 16 KiB: 128 x 16 KiB and 32 x 32 MiB; 64 KiB: 32 x
  64 KiB and 32 x 512 MiB);
- the configured levels (``CONFIG_PGTABLE_LEVELS``: with 4 KiB pages 3 for
  39-bit, 4 for 48-bit, 5 for 52-bit ``VA_BITS``; with 16 KiB pages 3 for
  47-bit, 4 for 48- and 52-bit) and the levels in use: a 52-bit kernel
  (6.12 with LPA2) runs with one level less when the CPU lacks FEAT_LPA2
  (``vabits_actual`` VA_BITS_MIN: 48 with 4 KiB pages, 47 with 16 KiB).
  Then ``pgtable_l5_enabled()`` (4 KiB) or ``pgtable_l4_enabled()`` (16
  KiB) is false: that level's none/bad tests are 0 and its offset is
  ``pgd_to_folded_p4d()`` / ``p4d_to_folded_pud()``: the same table page,
  indexed by the lower level's index (see :meth:`Arm64.folded_in_place`);
- where a descriptor keeps output address bits [51:48] (52-bit PAs): in bits
  [15:12] with 64 KiB pages, in bits [9:8] with LPA2 on 4 KiB pages, nowhere
  otherwise (``__pte_to_phys()``);
- the kernel's software bits, which changed in 6.10: 6.1 marks PROT_NONE
  with ``PTE_PROT_NONE`` (bit 58) and present-invalid pmds with
  ``PMD_PRESENT_INVALID`` (bit 59), and keeps the swap type in bits [7:3];
  6.12 has one ``PTE_PRESENT_INVALID`` (nG, bit 11, valid bit clear), the
  swap type in bits [10:6], the offset from bit 12, and uffd-wp (bit 58,
  swap bit 3).  Kernels between 6.1 and 6.12 take the variant of the
  nearest proven side by release (6.10 on: 6.12's); only 6.1 and 6.12 are
  proven.
"""

from __future__ import annotations

import array

from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .base import MASK64, P4D, PGD, PMD, PTE, PUD, Arch, SwapTypes, swap_type_layout

# pgtable-hwdef.h: descriptor bits
PTE_VALID = 1 << 0
PTE_TABLE_BIT = 1 << 1
PTE_TYPE_MASK = 3
PTE_TYPE_PAGE = 3
PMD_TYPE_TABLE = 3
PMD_TYPE_SECT = 1
PTE_USER = 1 << 6  # AP[1]
PTE_RDONLY = 1 << 7  # AP[2]
PTE_SHARED = 3 << 8  # SH[1:0]
PTE_AF = 1 << 10
PTE_NG = 1 << 11
PTE_GP = 1 << 50
PTE_DBM = 1 << 51
PTE_CONT = 1 << 52
PTE_PXN = 1 << 53
PTE_UXN = 1 << 54
PTE_ATTRINDX_MASK = 7 << 2
PMD_TABLE_PXN = 1 << 59
# pgtable-prot.h: software bits
PTE_WRITE = PTE_DBM
PTE_SWP_EXCLUSIVE = 1 << 2
PTE_DIRTY = 1 << 55
PTE_SPECIAL = 1 << 56
PTE_DEVMAP = 1 << 57
PTE_PROT_NONE = 1 << 58  # up to 6.9, only when !PTE_VALID
PMD_PRESENT_INVALID = 1 << 59  # up to 6.9, only when !PMD_SECT_VALID
PTE_PRESENT_INVALID = PTE_NG  # 6.10 on, only when !PTE_VALID
PTE_UFFD_WP = 1 << 58  # 6.10 on (CONFIG_HAVE_ARCH_USERFAULTFD_WP)
PTE_SWP_UFFD_WP = 1 << 3  # 6.10 on
PTE_PO_IDX_SHIFT = 60  # 6.12: POE overlay index, bits [62:60]

#: CONFIG_ARM64_CONT_PTE_SHIFT and CONFIG_ARM64_CONT_PMD_SHIFT by PAGE_SHIFT
#: (arch/arm64/Kconfig)
CONT_SHIFTS = {12: (4, 4), 14: (7, 5), 16: (5, 5)}
#: VA_BITS a granule can be configured with (arch/arm64/Kconfig)
GRANULE_VA_BITS = {12: (39, 48, 52), 14: (36, 47, 48, 52), 16: (42, 48, 52)}

_NAMES: List[Tuple[int, str]] = [
    (PTE_VALID, "VALID"), (PTE_USER, "USER"), (PTE_RDONLY, "RDONLY"),
    (PTE_AF, "AF"), (PTE_NG, "nG"), (PTE_GP, "GP"), (PTE_DBM, "DBM"),
    (PTE_CONT, "CONT"), (PTE_PXN, "PXN"), (PTE_UXN, "UXN"),
]
_SW_NAMES: List[Tuple[int, str]] = [
    (PTE_DIRTY, "DIRTY"), (PTE_SPECIAL, "SPECIAL"), (PTE_DEVMAP, "DEVMAP"),
]


def va_bits_min(va_bits: int, page_shift: int) -> int:
    """VA_BITS_MIN (asm/memory.h): on a 52-bit kernel 47 with 16 KiB pages
    and 48 with the others (the VA bits it runs with on a CPU without LPA2
    or LVA), else VA_BITS."""
    if va_bits > 48:
        return 47 if page_shift == 14 else 48
    return va_bits


class Arm64(Arch):
    """arm64 with a 4, 16 or 64 KiB granule and 2 to 5 levels."""

    name = "arm64"
    #: CONFIG_ARCH_PKEY_BITS (6.12, POE)
    pkey_bits = 3
    #: huge_pte_offset()/huge_ptep_get() of arch/arm64/mm/hugetlbpage.c
    contiguous_hugetlb = True

    def __init__(self, va_bits: int = 48, vabits_actual: Optional[int] = None,
                 pa_bits_52: bool = False,
                 kernel_version: Tuple[int, int] = (6, 12),
                 memory_failure: Optional[bool] = None,
                 page_shift: int = 12) -> None:
        """``va_bits``: CONFIG_ARM64_VA_BITS (VMCOREINFO's NUMBER(VA_BITS));
        ``vabits_actual``: the VA bits in use (64 - TCR_EL1.T1SZ; default
        ``va_bits``); ``pa_bits_52``: CONFIG_ARM64_PA_BITS_52 (with 4 and
        16 KiB pages the address bits [51:50] are kept in [9:8] when LPA2
        is on, with 64 KiB pages [51:48] in [15:12]); ``page_shift``:
        PAGE_SHIFT (VMCOREINFO's PAGESIZE).
        """
        if page_shift not in GRANULE_VA_BITS:
            raise ValueError(f"arm64 has 4, 16 or 64 KiB pages, not {1 << page_shift} bytes")
        if va_bits not in GRANULE_VA_BITS[page_shift]:
            raise ValueError(f"arm64 with {(1 << page_shift) >> 10} KiB pages has "
                             f"{', '.join(map(str, GRANULE_VA_BITS[page_shift]))} VA bits, "
                             f"not {va_bits}")
        self.page_shift = page_shift
        self.va_bits = va_bits
        self.vabits_actual = vabits_actual or va_bits
        #: bits resolved per level: PAGE_SHIFT - 3
        bits = page_shift - 3
        #: CONFIG_PGTABLE_LEVELS: ARM64_HW_PGTABLE_LEVELS(VA_BITS)
        self.config_levels = hw_pgtable_levels(va_bits, page_shift)
        #: the levels in use: ARM64_HW_PGTABLE_LEVELS(vabits_actual) (a
        #: 52-bit kernel on a CPU without LPA2 runs with one level less:
        #: pgtable_l5_enabled() or pgtable_l4_enabled() false)
        self.levels = hw_pgtable_levels(self.vabits_actual, page_shift)
        self.l5 = self.levels == 5
        #: lpa2_is_enabled(): 52-bit VA in use with 4 or 16 KiB pages needs LPA2
        self.lpa2 = self.vabits_actual == 52 and page_shift != 16
        self.kernel_version = kernel_version
        #: 6.10 on: PTE_PRESENT_INVALID, new swap layout, uffd-wp
        self.present_invalid = kernel_version >= (6, 10)
        self.set_swap_types(SwapTypes(*swap_type_layout(kernel_version, memory_failure)))
        if self.present_invalid:
            self.swp_type_shift, self.swp_offset_shift = 6, 12
        else:
            self.swp_type_shift, self.swp_offset_shift = 3, 8
        # ARM64_HW_PGTABLE_LEVEL_SHIFT(n) = (PAGE_SHIFT - 3) * (4 - n) + 3:
        # PMD_SHIFT is n = 2, PUD_SHIFT 1, P4D_SHIFT 0, PGDIR_SHIFT
        # 4 - CONFIG_PGTABLE_LEVELS; PTRS_PER_PGD 1 << (VA_BITS - PGDIR_SHIFT)
        # (n = 4 - CONFIG_PGTABLE_LEVELS is -1 with 5 levels: PGDIR_SHIFT 48
        # with 4 KiB pages, not a list's last item)
        per = 1 << bits

        def level_shift(n: int) -> int:
            return bits * (4 - n) + 3

        pgdir_shift = level_shift(4 - self.config_levels)
        ptrs_per_pgd = 1 << (va_bits - pgdir_shift)
        if self.config_levels == 5:
            self.ptrs_per = (ptrs_per_pgd, per, per, per, per)
            self.shifts = (pgdir_shift, level_shift(0), level_shift(1), level_shift(2),
                           page_shift)
        elif self.config_levels == 4:
            self.ptrs_per = (ptrs_per_pgd, 1, per, per, per)
            self.shifts = (pgdir_shift, pgdir_shift, level_shift(1), level_shift(2), page_shift)
        elif self.config_levels == 3:
            self.ptrs_per = (ptrs_per_pgd, 1, 1, per, per)
            self.shifts = (pgdir_shift, pgdir_shift, pgdir_shift, level_shift(2), page_shift)
        else:
            self.ptrs_per = (ptrs_per_pgd, 1, 1, 1, per)
            self.shifts = (pgdir_shift, pgdir_shift, pgdir_shift, pgdir_shift, page_shift)
        #: TASK_SIZE_64: 1 << vabits_actual
        self.task_size = 1 << self.vabits_actual
        #: MAX_PHYSMEM_BITS: 52 with CONFIG_ARM64_PA_BITS_52, else 48
        self.max_physmem_bits = 52 if pa_bits_52 else 48
        # PTE_ADDR_LOW: bits [49:PAGE_SHIFT] with 52-bit PAs, else [47:PAGE_SHIFT]
        self.addr_low = ((1 << ((50 if pa_bits_52 else 48) - page_shift)) - 1) << page_shift
        if pa_bits_52 and page_shift == 16:
            self.addr_high, self.addr_high_shift = 0xf << 12, 36
        elif pa_bits_52 and self.lpa2:
            self.addr_high, self.addr_high_shift = 3 << 8, 42
        else:
            self.addr_high, self.addr_high_shift = 0, 0
        self.young_dirty = PTE_AF | PTE_DIRTY | PTE_WRITE | PTE_RDONLY
        #: CONFIG_ARM64_CONTPTE (6.9 on, default y): ptep_get() folds
        self.contpte = kernel_version >= (6, 9)
        cont_pte_shift, cont_pmd_shift = CONT_SHIFTS[page_shift]
        #: CONT_PTES, CONT_PMDS
        self.cont_ptes = 1 << cont_pte_shift
        self.cont_pmds = 1 << cont_pmd_shift
        #: CONT_PTE_SIZE, CONT_PMD_SIZE
        self.cont_pte_size = self.cont_ptes << page_shift
        self.cont_pmd_size = self.cont_pmds << self.shifts[PMD]

    def __repr__(self) -> str:
        return (f"Arm64(va_bits={self.va_bits}, vabits_actual={self.vabits_actual}, "
                f"page_shift={self.page_shift})")

    def vm_flag_mnemonics(self) -> Dict[int, str]:
        """show_smap_vma_flags() on arm64 (Debian: CONFIG_ARM64_BTI,
        CONFIG_ARM64_MTE; 6.12 also CONFIG_ARM64_POE, 3 pkey bits):
        VM_ARM64_BTI is VM_ARCH_1 ("bt" over the generic "ar"), VM_MTE "mt"
        and VM_MTE_ALLOWED "" (VM_HIGH_ARCH_0/1 in 6.1, _4/_5 from 6.10 on,
        when the pkey bits took 0..2)."""
        if self.kernel_version >= (6, 10):
            return {24: "bt", 36: "mt", 37: "", 32: "", 33: "", 34: ""}
        return {24: "bt", 32: "mt", 33: ""}

    def folded_in_place(self, level: int) -> bool:
        """pgd_to_folded_p4d() (6.9 on, 4 KiB pages, 52-bit kernels on
        48-bit CPUs) and p4d_to_folded_pud() (16 KiB pages, 52-bit kernels
        on 47-bit CPUs): the p4d or pud "table" is the pgd's own page,
        indexed by p4d_index() or pud_index()."""
        if level == P4D:
            return self.config_levels == 5 and self.levels == 4
        return level == PUD and self.config_levels == 4 and self.levels == 3

    @property
    def l4_enabled(self) -> bool:
        """pgtable_l4_enabled(): true unless a 4-level LPA2 kernel runs with
        3 levels (16 KiB pages, vabits_actual 47)."""
        return self.config_levels > 4 or self.levels >= 4

    #: user pgds (TTBR0) map no kernel addresses: those are swapper_pg_dir's
    kernel_half_in_user_pgd = False

    @property
    def kernel_start(self) -> int:
        """TTBR1's range: the top vabits_actual bits of the address space."""
        return (1 << 64) - (1 << self.vabits_actual)

    def table_entries(self, level: int) -> int:
        """A pgd whose p4d is folded in place is read as the p4d table it
        is: PTRS_PER_P4D entries, not PTRS_PER_PGD."""
        if level == PGD and self.folded_in_place(P4D):
            return self.ptrs_per[P4D]
        if level == PGD and self.folded_in_place(PUD):
            return self.ptrs_per[PUD]
        return self.ptrs_per[level]

    def is_canonical(self, addr: int) -> bool:
        """TTBR0 (user) or TTBR1 (kernel) range of vabits_actual bits."""
        bits = self.vabits_actual
        return addr < (1 << bits) or addr >= (1 << 64) - (1 << bits)

    # where entries point: __pte_to_phys()
    def _phys(self, val: int) -> int:
        if self.addr_high:
            return (val & self.addr_low) | ((val & self.addr_high) << self.addr_high_shift)
        return val & self.addr_low

    def table_paddr(self, level: int, val: int) -> int:
        return self._phys(val)

    def pte_pfn(self, val: int) -> int:
        return self._phys(val) >> self.page_shift

    def pmd_pfn(self, val: int) -> int:
        return (self._phys(val) & ~((1 << self.shifts[PMD]) - 1)) >> self.page_shift

    def pud_pfn(self, val: int) -> int:
        return (self._phys(val) & ~((1 << self.shifts[PUD]) - 1)) >> self.page_shift

    def leaf_pfn(self, level: int, val: int) -> int:
        if level == PMD:
            return self.pmd_pfn(val)
        if level == PUD:
            return self.pud_pfn(val)
        return self.pte_pfn(val)

    # pgd (5 levels) and p4d (4 or 5 levels)
    def pgd_none(self, val: int) -> bool:
        return self.l5 and val == 0

    def pgd_bad(self, val: int) -> bool:
        return self.l5 and not val & PTE_TABLE_BIT

    def pgd_present(self, val: int) -> bool:
        return not self.pgd_none(val)

    def p4d_none(self, val: int) -> bool:
        return self.config_levels >= 4 and self.l4_enabled and val == 0

    def p4d_bad(self, val: int) -> bool:
        return self.config_levels >= 4 and self.l4_enabled and not val & PTE_TABLE_BIT

    def p4d_present(self, val: int) -> bool:
        return not self.p4d_none(val)

    # pte
    def pte_none(self, val: int) -> bool:
        return val == 0

    def pte_present(self, val: int) -> bool:
        """pte_valid() || pte_present_invalid() (6.10 on), or the valid or
        PTE_PROT_NONE bit (6.1)."""
        if self.present_invalid:
            return bool(val & PTE_VALID) or val & (PTE_VALID | PTE_PRESENT_INVALID) \
                == PTE_PRESENT_INVALID
        return bool(val & (PTE_VALID | PTE_PROT_NONE))

    def pte_protnone(self, val: int) -> bool:
        if self.present_invalid:
            return (val & (PTE_VALID | PTE_PRESENT_INVALID) == PTE_PRESENT_INVALID
                    and not val & PTE_USER and bool(val & PTE_UXN))
        return val & (PTE_VALID | PTE_PROT_NONE) == PTE_PROT_NONE

    # pud
    def pud_none(self, val: int) -> bool:
        return val == 0

    def pud_bad(self, val: int) -> bool:
        return val & PTE_TYPE_MASK != PMD_TYPE_TABLE

    def pud_present(self, val: int) -> bool:
        return self.pte_present(val)

    def pud_leaf(self, val: int) -> bool:
        """pud_leaf() (6.1: pud_huge(); same for present entries)."""
        return self.pud_present(val) and val & PTE_TYPE_MASK != PMD_TYPE_TABLE

    # pmd
    def pmd_none(self, val: int) -> bool:
        return val == 0

    def pmd_present(self, val: int) -> bool:
        if self.present_invalid:
            return self.pte_present(val)
        return self.pte_present(val) or bool(val & PMD_PRESENT_INVALID)

    def pmd_leaf(self, val: int) -> bool:
        return self.pmd_present(val) and val & PTE_TYPE_MASK != PMD_TYPE_TABLE

    def pmd_bad(self, val: int) -> bool:
        return val & PTE_TYPE_MASK != PMD_TYPE_TABLE

    def pmd_trans_huge(self, val: int) -> bool:
        if not val or not self.pmd_present(val):
            return False
        if self.present_invalid:
            return (val | PTE_VALID) & PTE_TYPE_MASK != PMD_TYPE_TABLE
        return not val & PTE_TABLE_BIT

    def pmd_devmap(self, val: int) -> bool:
        return bool(val & PTE_DEVMAP)

    def is_pmd_migration_entry(self, val: int) -> bool:
        if not self.is_swap_pmd(val):
            return False
        swp_type = self.swp_type_offset(val)[0]
        return self.swap.is_migration_entry(swp_type)

    def pmd_populate_val(self, table_phys: int) -> int:
        """__pmd_populate(..., PMD_TYPE_TABLE | PMD_TABLE_PXN) of a user table."""
        return self._phys_to_val(table_phys) | PMD_TYPE_TABLE | PMD_TABLE_PXN

    def _phys_to_val(self, phys: int) -> int:
        """__phys_to_pte_val()."""
        if self.addr_high:
            return (phys | (phys >> self.addr_high_shift)) & (self.addr_low | self.addr_high)
        return phys & self.addr_low

    def synthetic_table_phys(self, n: int) -> int:
        top = self.addr_low & ~(self.addr_low >> 1)
        return top + (n << self.page_shift)

    # flags the callers read
    @staticmethod
    def pte_write(val: int) -> bool:
        return bool(val & PTE_WRITE)

    @staticmethod
    def pte_dirty(val: int) -> bool:
        """pte_sw_dirty() || pte_hw_dirty() (writable and not read-only:
        the CPU cleared PTE_RDONLY through DBM)."""
        return bool(val & PTE_DIRTY) or (bool(val & PTE_WRITE) and not val & PTE_RDONLY)

    @staticmethod
    def pte_young(val: int) -> bool:
        return bool(val & PTE_AF)

    @staticmethod
    def pte_soft_dirty(val: int) -> bool:
        """No CONFIG_HAVE_ARCH_SOFT_DIRTY on arm64: asm-generic's 0."""
        return False

    def pte_uffd_wp(self, val: int) -> bool:
        return self.present_invalid and bool(val & PTE_UFFD_WP)

    @staticmethod
    def pte_special(val: int) -> bool:
        return bool(val & PTE_SPECIAL)

    @staticmethod
    def pte_cont(val: int) -> bool:
        return bool(val & PTE_CONT)

    @staticmethod
    def pte_pkey(val: int) -> int:
        """pte_po_index() (6.12, CONFIG_ARM64_POE)."""
        return (val >> PTE_PO_IDX_SHIFT) & 7

    def ptep_get_table(self, vals: Sequence[int]) -> Sequence[int]:
        """ptep_get() of every entry (6.9 on, CONFIG_ARM64_CONTPTE): a valid
        entry with the contiguous bit gets the young and dirty bits of every
        entry of its CONT_PTES-aligned block (contpte_ptep_get()), since the
        CPU sets them on whichever entry it used.  Tables without such
        entries (most) are given back as they are."""
        if not self.contpte:
            return vals
        mask = PTE_VALID | PTE_CONT
        if not any(map(mask.__eq__, map(mask.__and__, vals))):
            return vals
        out = array.array("Q", vals)
        for base in range(0, len(vals), self.cont_ptes):
            block = vals[base:base + self.cont_ptes]
            if not any(map(mask.__eq__, map(mask.__and__, block))):
                continue
            dirty = any(map(self.pte_dirty, block))
            young = any(v & PTE_AF for v in block)
            for i, v in enumerate(block):
                if v & mask == mask:
                    if dirty:
                        v = self.pte_mkdirty(v)
                    if young:
                        v = self.pte_mkyoung(v)
                    out[base + i] = v
        return out

    def normal_pte_bits(self) -> Optional[Tuple[int, int, int]]:
        """Arch.normal_pte_bits(): PTE_VALID set (pte_valid(): present) and
        PTE_SPECIAL clear; the PFN from the low address bits, where the
        kernel keeps no address bits elsewhere (LPA2's 52-bit PAs do:
        none then)."""
        if self.addr_high:
            return None
        return PTE_VALID | PTE_SPECIAL, PTE_VALID, self.addr_low

    def young_dirty_mask(self) -> int:
        return self.young_dirty

    def pagemap_bits_mask(self) -> int:
        """pte_soft_dirty() reads nothing; pte_uffd_wp() PTE_UFFD_WP."""
        return PTE_UFFD_WP

    @staticmethod
    def pte_mkdirty(val: int) -> int:
        val |= PTE_DIRTY
        if val & PTE_WRITE:
            val &= ~PTE_RDONLY
        return val

    @staticmethod
    def pte_mkyoung(val: int) -> int:
        return val | PTE_AF

    # swap entries
    def is_swap_pte(self, val: int) -> bool:
        return not self.pte_none(val) and not self.pte_present(val)

    @staticmethod
    def pte_swp_soft_dirty(val: int) -> bool:
        return False

    def pte_swp_uffd_wp(self, val: int) -> bool:
        return self.present_invalid and bool(val & PTE_SWP_UFFD_WP)

    @staticmethod
    def pte_swp_exclusive(val: int) -> bool:
        return bool(val & PTE_SWP_EXCLUSIVE)

    def swp_type_offset(self, val: int) -> Tuple[int, int]:
        """__swp_type() and __swp_offset() of __pte_to_swp_entry(): the
        flag bits (exclusive, uffd-wp) lie outside both fields."""
        return ((val >> self.swp_type_shift) & 31,
                (val >> self.swp_offset_shift) & ((1 << 50) - 1))

    def swp_entry_to_pte(self, swp_type: int, offset: int) -> int:
        return (swp_type << self.swp_type_shift) | (offset << self.swp_offset_shift)

    # hugetlb: arch/arm64/mm/hugetlbpage.c
    def num_contig_ptes(self, size: int) -> Tuple[int, int]:
        """num_contig_ptes(): (entries, size of each) of a huge page."""
        if size == self.cont_pmd_size:
            return self.cont_pmds, 1 << self.shifts[PMD]
        if size == self.cont_pte_size:
            return self.cont_ptes, self.page_size
        return 1, size

    def split_huge_pmd_ptes(self, val: int, vma_flags: int, page_prot: int,
                            zero_pfn: int, huge_zero: bool) -> List[int]:
        """The HPAGE_PMD_NR PTEs __split_huge_pmd_locked() makes of an anonymous pmd:
        mk_pte(page + i, vm_page_prot), maybe_mkwrite() (pte_mkwrite clears
        PTE_RDONLY when dirty), pte_wrprotect() if the pmd was not writable,
        pte_mkold() if not young, dirty and uffd-wp copied."""
        if huge_zero:
            pte = self.pfn_pte(zero_pfn, (page_prot & ~PTE_WRITE) | PTE_RDONLY) | PTE_SPECIAL
            return [pte] * self.ptrs_per[PTE]
        if not self.pmd_present(val):
            swp_type, offset = self.swp_type_offset(val)
            flags = val & (PTE_SWP_UFFD_WP if self.present_invalid else 0)
            return [self.swp_entry_to_pte(swp_type, offset + i) | flags
                    for i in range(self.ptrs_per[PTE])]
        prot = page_prot
        if self.pte_dirty(val):
            prot = self.pte_mkdirty(prot)
        if vma_flags & 0x2 and val & PTE_WRITE:
            prot |= PTE_WRITE
            if prot & PTE_DIRTY:
                prot &= ~PTE_RDONLY
        else:
            prot = (prot & ~PTE_WRITE) | PTE_RDONLY
        prot = prot | PTE_AF if val & PTE_AF else prot & ~PTE_AF
        if self.present_invalid and val & PTE_UFFD_WP:
            prot |= PTE_UFFD_WP
        pfn = self.pmd_pfn(val)
        return [self.pfn_pte(pfn + i, prot) for i in range(self.ptrs_per[PTE])]

    def pfn_pte(self, pfn: int, prot: int) -> int:
        return self._phys_to_val(pfn << self.page_shift) | (prot & ~(self.addr_low | self.addr_high) & MASK64)

    # names, for vtop and reports
    def entry_flag_names(self, level: int, val: int) -> List[str]:
        """The descriptor's bits by name (the Arm ARM's and pgtable-hwdef.h's),
        then the kernel's software bits, ATTRINDX=n on leaves."""
        table = level != PTE and val & PTE_TYPE_MASK == PMD_TYPE_TABLE
        names = [name for bit, name in _NAMES if val & bit]
        if val & PTE_VALID:
            # the descriptor type: bits [1:0]
            names.insert(1, "TABLE" if table else "PAGE" if level == PTE else "BLOCK")
        if table:
            # the hierarchical attributes of a table descriptor
            return names + [name for bit, name in ((1 << 59, "PXNTable"), (1 << 60, "UXNTable"),
                                                   (1 << 61, "APTable0"), (1 << 62, "APTable1"),
                                                   (1 << 63, "NSTable")) if val & bit]
        names.append(f"SH={(val >> 8) & 3}" if not self.lpa2 else "")
        names = [n for n in names if n]
        names.append(f"ATTRINDX={(val & PTE_ATTRINDX_MASK) >> 2}")
        names += [name for bit, name in _SW_NAMES if val & bit]
        if not val & PTE_VALID and self.pte_present(val):
            names.append("PROT_NONE" if self.pte_protnone(val) else "PRESENT_INVALID")
        if self.present_invalid and val & PTE_UFFD_WP:
            names.append("UFFD_WP")
        return names

    def swap_flag_names(self, val: int) -> List[str]:
        names = ["SWP_EXCLUSIVE"] if val & PTE_SWP_EXCLUSIVE else []
        if self.pte_swp_uffd_wp(val):
            names.append("SWP_UFFD_WP")
        return names

    def describe(self, level: int, val: int) -> str:
        if val and not self.pte_present(val) and not (level == PGD or level == P4D):
            swp_type, offset = self.swp_type_offset(val)
            return f"SWAP type {swp_type} offset {offset:#x}"
        return "|".join(self.entry_flag_names(level, val)) or "(none)"


# -- the MMU's registers: finding a kernel without VMCOREINFO --------------------
#
# What openers/rawkernel.py reads from a stopped vCPU (QEMU's gdbstub names
# them SCTLR, VBAR, TCR_EL1, TTBR1_EL1) to walk TTBR1's tables as the MMU
# does, before anything is known of the kernel's own layout.

# sysreg.h
SCTLR_ELx_M = 1 << 0  # the stage 1 MMU is on
SCTLR_ELx_ENIA = 1 << 31  # pointer authentication of instruction addresses (key A)
TCR_T1SZ_OFFSET = 16
TCR_TxSZ_WIDTH = 6
TCR_EPD1 = 1 << 23  # TTBR1 walks disabled
TCR_TG1_SHIFT = 30
TCR_TG1_MASK = 3 << TCR_TG1_SHIFT
TCR_TG1_16K = 1 << TCR_TG1_SHIFT
TCR_TG1_4K = 2 << TCR_TG1_SHIFT
TCR_TG1_64K = 3 << TCR_TG1_SHIFT
TCR_DS = 1 << 59  # LPA2: 52-bit output addresses with 4 KiB (and 16 KiB) pages
TTBR_BADDR_MASK_52 = ((1 << 48) - 1) & ~3  # GENMASK_ULL(47, 2)
TTBR_ASID_MASK = 0xFFFF << 48


def tcr_el1_t1sz(tcr: int) -> int:
    """get_tcr_el1_t1sz(): TCR_EL1.T1SZ, 64 minus the kernel's VA bits in use
    (what VMCOREINFO's NUMBER(TCR_EL1_T1SZ) says)."""
    return (tcr >> TCR_T1SZ_OFFSET) & ((1 << TCR_TxSZ_WIDTH) - 1)


def tcr_el1_granule(tcr: int) -> int:
    """The page size of TTBR1's tables, from TCR_EL1.TG1 (0 if reserved)."""
    return {TCR_TG1_4K: 4096, TCR_TG1_16K: 16384,
            TCR_TG1_64K: 65536}.get(tcr & TCR_TG1_MASK, 0)


def ttbr_to_phys(ttbr: int) -> int:
    """The table a TTBRn_EL1 points to: the inverse of phys_to_ttbr() (with
    52-bit PAs, address bits [51:48] sit in the register's bits [5:2]; the
    ASID in [63:48] and CnP in bit 0 are dropped)."""
    baddr = ttbr & TTBR_BADDR_MASK_52
    return (baddr & ~0x3F) | ((baddr >> 2) & 0xF) << 48


def hw_pgtable_levels(va_bits: int, page_shift: int = 12) -> int:
    """ARM64_HW_PGTABLE_LEVELS(va_bits): with 4 KiB pages 3 for 39 bits, 4
    for 48, 5 for 52; with 16 KiB pages 3 for 47 bits, 4 for 48 and 52."""
    return (va_bits - 4) // (page_shift - 3)


def mmu_translate(read_entry: Callable[[int], int], table: int, va_bits: int,
                  lpa2: bool, virt: int, page_shift: int = 12) -> Optional[Tuple[int, int]]:
    """(physical address, mapping size) of a TTBR1 address, walked as the
    MMU walks the tables at ``table`` with pages of 1 << ``page_shift``
    bytes (4 or 16 KiB: TCR_EL1.TG1; va_bits from TCR_EL1.T1SZ, ``lpa2``:
    TCR_EL1.DS); None if it is not mapped.  ``read_entry(phys)`` reads one
    64-bit descriptor.  Table and page descriptors are type 3, block
    descriptors type 1 (__pte_to_phys() for the output address: bits
    [51:50] in [9:8] with LPA2)."""
    if virt >> va_bits != (1 << (64 - va_bits)) - 1:
        return None  # not in TTBR1's range
    bits = page_shift - 3  # resolved per level
    levels = hw_pgtable_levels(va_bits, page_shift)
    low = ((1 << (50 if lpa2 else 48)) - 1) & ~((1 << page_shift) - 1)
    for level in range(levels):
        shift = page_shift + bits * (levels - 1 - level)
        index = (virt >> shift) & ((1 << (va_bits - shift if level == 0 else bits)) - 1)
        entry = read_entry(table + 8 * index)
        out = entry & low
        if lpa2:
            out |= ((entry >> 8) & 3) << 50
        kind = entry & PTE_TYPE_MASK
        if level == levels - 1:
            page = 1 << page_shift
            return (out | (virt & (page - 1)), page) if kind == PTE_TYPE_PAGE else None
        if kind == PMD_TYPE_SECT and level > 0:
            size = 1 << shift
            return (out & ~(size - 1)) | (virt & (size - 1)), size
        if kind != PMD_TYPE_TABLE:
            return None
        table = out
    return None
