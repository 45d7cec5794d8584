"""x86-64 page tables: arch/x86/include/asm/pgtable*.h of Linux 6.1 and 6.12.

4- or 5-level paging is a property of the running kernel
(``__pgtable_l5_enabled``), so it is a constructor argument decided from the
dump, never a build-time choice.  With 4 levels the p4d is folded at run time
exactly as the kernel does it: ``pgd_none()``/``pgd_bad()`` are 0,
``p4d_offset()`` returns the pgd slot and ``PTRS_PER_P4D`` is 1.
"""

from __future__ import annotations

import operator
from itertools import compress
from typing import Dict, List, Optional, Sequence, Tuple

from .base import MASK64, PMD, PTE, PUD, Arch, SwapTypes, swap_type_layout

# arch/x86/include/asm/page_64_types.h: where the kernel image is mapped
START_KERNEL_MAP = 0xFFFFFFFF80000000  # __START_KERNEL_map

# arch/x86/include/asm/pgtable_types.h
_PAGE_BIT_PRESENT = 0
_PAGE_PRESENT = 1 << 0
_PAGE_RW = 1 << 1
_PAGE_USER = 1 << 2
_PAGE_PWT = 1 << 3
_PAGE_PCD = 1 << 4
_PAGE_ACCESSED = 1 << 5
_PAGE_DIRTY = 1 << 6
_PAGE_PSE = 1 << 7
_PAGE_PAT = 1 << 7
_PAGE_GLOBAL = 1 << 8
_PAGE_SOFTW1 = 1 << 9
_PAGE_SOFTW2 = 1 << 10
_PAGE_SOFTW3 = 1 << 11
_PAGE_PAT_LARGE = 1 << 12
_PAGE_SOFTW4 = 1 << 57
_PAGE_SOFTW5 = 1 << 58
_PAGE_NX = 1 << 63

_PAGE_PROTNONE = _PAGE_GLOBAL  # only when _PAGE_PRESENT is clear
_PAGE_SPECIAL = _PAGE_SOFTW1
_PAGE_UFFD_WP = _PAGE_SOFTW2
_PAGE_SOFT_DIRTY = _PAGE_SOFTW3
_PAGE_DEVMAP = _PAGE_SOFTW4
_PAGE_SAVED_DIRTY = _PAGE_SOFTW5  # 6.6+, X86_USER_SHADOW_STACK, 64-bit
_PAGE_PKEY_SHIFT = 59
_PAGE_KNL_ERRATUM_MASK = _PAGE_DIRTY | _PAGE_ACCESSED
_KERNPG_TABLE = _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY

# Swap PTEs (pgtable_64.h, pgtable_types.h)
_PAGE_SWP_SOFT_DIRTY = _PAGE_RW
_PAGE_SWP_UFFD_WP = _PAGE_USER
_PAGE_SWP_EXCLUSIVE = _PAGE_PWT
SWP_TYPE_BITS = 5
SWP_OFFSET_FIRST_BIT = 9  # _PAGE_BIT_PROTNONE + 1
SWP_OFFSET_SHIFT = SWP_OFFSET_FIRST_BIT + SWP_TYPE_BITS

FLAG_NAMES: List[Tuple[int, str]] = [
    (_PAGE_PRESENT, "PRESENT"),
    (_PAGE_RW, "RW"),
    (_PAGE_USER, "USER"),
    (_PAGE_PWT, "PWT"),
    (_PAGE_PCD, "PCD"),
    (_PAGE_ACCESSED, "ACCESSED"),
    (_PAGE_DIRTY, "DIRTY"),
    (_PAGE_PSE, "PSE"),
    (_PAGE_GLOBAL, "GLOBAL"),
    (_PAGE_SOFTW1, "SPECIAL"),
    (_PAGE_SOFTW2, "UFFD_WP"),
    (_PAGE_SOFTW3, "SOFT_DIRTY"),
    (_PAGE_SOFTW4, "DEVMAP"),
    (_PAGE_NX, "NX"),
]


_HW_FLAGS: List[Tuple[int, str]] = [
    (_PAGE_PRESENT, "P"), (_PAGE_RW, "RW"), (_PAGE_USER, "US"), (_PAGE_PWT, "PWT"),
    (_PAGE_PCD, "PCD"), (_PAGE_ACCESSED, "A"), (_PAGE_DIRTY, "D"), (_PAGE_PSE, "PSE"),
]
_SW_FLAGS: List[Tuple[int, str]] = [
    (_PAGE_SPECIAL, "SPECIAL"), (_PAGE_UFFD_WP, "UFFD_WP"),
    (_PAGE_SOFT_DIRTY, "SOFT_DIRTY"), (_PAGE_DEVMAP, "DEVMAP"),
]


class X86_64(Arch):
    """x86-64 with 4- or 5-level paging."""

    name = "x86_64"

    def __init__(self, levels: int = 4, pti: bool = True,
                 physical_mask_shift: int = 52,
                 kernel_version: Tuple[int, int] = (6, 6),
                 pti_config: Optional[bool] = None,
                 memory_failure: Optional[bool] = None) -> None:
        """``pti``: PTI is on at run time (boot_cpu_has(X86_FEATURE_PTI)),
        which makes user pgds come in pairs.  ``pti_config``: the kernel
        was built with CONFIG_(MITIGATION_)PAGE_TABLE_ISOLATION, which is
        what pgd_bad()/p4d_bad() test (default: as ``pti``).
        ``memory_failure``: CONFIG_MEMORY_FAILURE (swap_type_layout())."""
        if levels not in (4, 5):
            raise ValueError(f"x86-64 has 4 or 5 paging levels, not {levels}")
        self.levels = levels
        #: MAX_PHYSMEM_BITS: 52 with 5-level paging, 46 without
        self.max_physmem_bits = 52 if levels == 5 else 46
        self.l5 = levels == 5
        self.pti = pti
        self.pti_config = pti if pti_config is None else pti_config
        self.kernel_version = kernel_version
        self.set_swap_types(SwapTypes(*swap_type_layout(kernel_version, memory_failure)))
        # pgtable_64_types.h: pgdir_shift, ptrs_per_p4d, TASK_SIZE_MAX
        self.ptrs_per = (512, 512 if self.l5 else 1, 512, 512, 512)
        self.shifts = (48 if self.l5 else 39, 39, 30, 21, 12)
        self.task_size = (1 << (56 if self.l5 else 47)) - (1 << 12)
        physical_mask = (1 << physical_mask_shift) - 1
        # PTE_PFN_MASK, PHYSICAL_PMD_PAGE_MASK, PHYSICAL_PUD_PAGE_MASK
        self.pte_pfn_mask = physical_mask & ~0xFFF
        self.pmd_page_mask = physical_mask & ~((1 << 21) - 1)
        self.dirty_bits = _PAGE_DIRTY | (
            _PAGE_SAVED_DIRTY if kernel_version >= (6, 6) else 0)
        self.pud_page_mask = physical_mask & ~((1 << 30) - 1)

    def __repr__(self) -> str:
        return f"X86_64(levels={self.levels}, pti={self.pti})"

    def vm_flag_mnemonics(self) -> Dict[int, str]:
        """show_smap_vma_flags() on x86-64: VM_PAT is VM_ARCH_1 ("ar", the
        generic name), the four pkey bits print nothing, and from 6.6
        VM_SHADOW_STACK (VM_HIGH_ARCH_5) is "ss" (CONFIG_X86_USER_SHADOW_STACK,
        set by Debian)."""
        names = {32: "", 33: "", 34: "", 35: ""}
        if self.kernel_version >= (6, 6):
            names[37] = "ss"
        return names

    def is_canonical(self, addr: int) -> bool:
        """__is_canonical_address() with __VIRTUAL_MASK_SHIFT 47 or 56."""
        bits = 57 if self.l5 else 48
        top = addr >> (bits - 1)
        return top == 0 or top == (1 << (65 - bits)) - 1

    # pgd / p4d: runtime folding when !pgtable_l5_enabled()
    def pgd_none(self, val: int) -> bool:
        return self.l5 and val == 0

    def pgd_bad(self, val: int) -> bool:
        if not self.l5:
            return False
        # CONFIG_PAGE_TABLE_ISOLATION (6.1) / CONFIG_MITIGATION_PAGE_TABLE_
        # ISOLATION (6.12): the user pgd entries carry NX.
        ignore = _PAGE_USER | (_PAGE_NX if self.pti_config else 0)
        return self._flags(val) & ~ignore != _KERNPG_TABLE

    def pgd_present(self, val: int) -> bool:
        return not self.l5 or bool(val & _PAGE_PRESENT)

    def p4d_none(self, val: int) -> bool:
        return val & ~_PAGE_KNL_ERRATUM_MASK == 0

    def p4d_bad(self, val: int) -> bool:
        ignore = _KERNPG_TABLE | _PAGE_USER | (_PAGE_NX if self.pti_config else 0)
        return (self._flags(val) & ~ignore) != 0

    def p4d_present(self, val: int) -> bool:
        return bool(val & _PAGE_PRESENT)

    # pud
    def pud_none(self, val: int) -> bool:
        return val & ~_PAGE_KNL_ERRATUM_MASK == 0

    def pud_present(self, val: int) -> bool:
        return bool(val & _PAGE_PRESENT)

    def pud_leaf(self, val: int) -> bool:
        if self.kernel_version >= (6, 9):
            return bool(val & _PAGE_PSE)
        # 6.1 .. 6.8: pud_large()
        return val & (_PAGE_PSE | _PAGE_PRESENT) == _PAGE_PSE | _PAGE_PRESENT

    def pud_trans_huge(self, val: int) -> bool:
        return val & (_PAGE_PSE | _PAGE_DEVMAP) == _PAGE_PSE

    def pud_devmap(self, val: int) -> bool:
        return bool(val & _PAGE_DEVMAP)

    # pmd
    def pmd_none(self, val: int) -> bool:
        return val & ~_PAGE_KNL_ERRATUM_MASK == 0

    def pmd_present(self, val: int) -> bool:
        return bool(val & (_PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_PSE))

    def pmd_leaf(self, val: int) -> bool:
        return bool(val & _PAGE_PSE)

    def pmd_bad(self, val: int) -> bool:
        return (self._flags(val) & ~(_PAGE_USER | _PAGE_ACCESSED)
                != _KERNPG_TABLE & ~_PAGE_ACCESSED)

    def pmd_trans_huge(self, val: int) -> bool:
        return val & (_PAGE_PSE | _PAGE_DEVMAP) == _PAGE_PSE

    def pmd_devmap(self, val: int) -> bool:
        return bool(val & _PAGE_DEVMAP)

    def is_pmd_migration_entry(self, val: int) -> bool:
        """is_pmd_migration_entry(): a swap pmd whose swap type is one of
        the three migration types.  THP migration is the only swap pmd the
        kernel writes on x86-64; any other non-present value is garbage."""
        if not self.is_swap_pmd(val):
            return False
        swp_type = self.swp_type_offset(val)[0]
        return self.swap.is_migration_entry(swp_type)

    def pmd_populate_val(self, table_phys: int) -> int:
        """pmd_populate(): _PAGE_TABLE | the table's physical address."""
        return (table_phys & self.pte_pfn_mask) | _KERNPG_TABLE | _PAGE_USER

    def synthetic_table_phys(self, n: int) -> int:
        top = self.pte_pfn_mask & ~(self.pte_pfn_mask >> 1)
        return top + (n << 12)

    # pte
    def pte_none(self, val: int) -> bool:
        return val & ~_PAGE_KNL_ERRATUM_MASK == 0

    def pte_present(self, val: int) -> bool:
        return bool(val & (_PAGE_PRESENT | _PAGE_PROTNONE))

    def _flags(self, val: int) -> int:
        """pte_flags(): everything outside the PFN field."""
        return val & ~self.pte_pfn_mask & MASK64

    # where entries point
    @staticmethod
    def protnone_mask(val: int) -> int:
        """pgtable-invert.h: L1TF inverts the PFN of non-present entries."""
        return MASK64 if val and not val & _PAGE_PRESENT else 0

    def table_paddr(self, level: int, val: int) -> int:
        # pgd_page_vaddr/p4d_pgtable/pud_pgtable/pmd_page_vaddr all mask with
        # the PFN mask of a non-huge entry: PTE_PFN_MASK.
        return val & self.pte_pfn_mask

    def pte_pfn(self, val: int) -> int:
        return ((val ^ self.protnone_mask(val)) & self.pte_pfn_mask) >> 12

    def present_pfns(self, vals: Sequence[int], indexes: Sequence[int]) -> List[int]:
        """Arch.present_pfns() for a million PTEs: _PAGE_PRESENT set means no
        L1TF inversion, so the PFN is the masked value (PROT_NONE entries
        are left out; they are read when met)."""
        mask = self.pte_pfn_mask
        return [(vals[i] & mask) >> 12 for i in indexes if vals[i] & _PAGE_PRESENT]

    def normal_ptes(self, vals: Sequence[int], indexes: Sequence[int]
                    ) -> Tuple[List[int], List[int], List[int]]:
        """Arch.normal_ptes() in C for a million PTEs: _PAGE_PRESENT set and
        _PAGE_SPECIAL clear (a PROT_NONE entry goes with the others: its
        PFN is inverted)."""
        uv = list(map(vals.__getitem__, indexes))
        sel = list(map(_PAGE_PRESENT.__eq__, map((_PAGE_PRESENT | _PAGE_SPECIAL).__and__, uv)))
        pfns = list(map((12).__rrshift__, map(self.pte_pfn_mask.__and__, compress(uv, sel))))
        return (list(compress(indexes, sel)), pfns,
                list(compress(indexes, map(operator.not_, sel))))

    def normal_pte_bits(self) -> Optional[Tuple[int, int, int]]:
        """Arch.normal_pte_bits(): _PAGE_PRESENT set, _PAGE_SPECIAL clear
        (as normal_ptes()); a present entry is never L1TF-inverted."""
        return _PAGE_PRESENT | _PAGE_SPECIAL, _PAGE_PRESENT, self.pte_pfn_mask

    def young_dirty_mask(self) -> int:
        return _PAGE_ACCESSED | self.dirty_bits

    def pagemap_bits_mask(self) -> int:
        return _PAGE_SOFT_DIRTY | _PAGE_UFFD_WP

    def pmd_pfn(self, val: int) -> int:
        mask = self.pmd_page_mask if val & _PAGE_PSE else self.pte_pfn_mask
        return ((val ^ self.protnone_mask(val)) & mask) >> 12

    def pud_pfn(self, val: int) -> int:
        mask = self.pud_page_mask if val & _PAGE_PSE else self.pte_pfn_mask
        return ((val ^ self.protnone_mask(val)) & mask) >> 12

    def leaf_pfn(self, level: int, val: int) -> int:
        """The PFN a leaf of ``level`` maps (pte_pfn/pmd_pfn/pud_pfn)."""
        if level == PMD:
            return self.pmd_pfn(val)
        if level == PUD:
            return self.pud_pfn(val)
        return self.pte_pfn(val)

    # flag tests used by callers (pte_write() etc.); they apply to any level
    @staticmethod
    def pte_write(val: int) -> bool:
        return bool(val & _PAGE_RW)

    def pte_dirty(self, val: int) -> bool:
        """pte_dirty(): from 6.6 on (shadow stacks, Debian sets
        CONFIG_X86_USER_SHADOW_STACK) a write-protected dirty entry keeps its
        dirtiness in _PAGE_SAVED_DIRTY: _PAGE_DIRTY_BITS covers both."""
        return bool(val & self.dirty_bits)

    @staticmethod
    def pte_young(val: int) -> bool:
        return bool(val & _PAGE_ACCESSED)

    @staticmethod
    def pte_mkdirty(val: int) -> int:
        """pte_mkdirty(): _PAGE_DIRTY | _PAGE_SOFT_DIRTY."""
        return val | _PAGE_DIRTY | _PAGE_SOFT_DIRTY

    @staticmethod
    def pte_mkyoung(val: int) -> int:
        return val | _PAGE_ACCESSED

    @staticmethod
    def pte_soft_dirty(val: int) -> bool:
        return bool(val & _PAGE_SOFT_DIRTY)

    @staticmethod
    def pte_uffd_wp(val: int) -> bool:
        return bool(val & _PAGE_UFFD_WP)

    @staticmethod
    def pte_special(val: int) -> bool:
        return bool(val & _PAGE_SPECIAL)

    @staticmethod
    def pte_protnone(val: int) -> bool:
        return val & (_PAGE_PROTNONE | _PAGE_PRESENT) == _PAGE_PROTNONE

    @staticmethod
    def pte_pkey(val: int) -> int:
        return (val >> _PAGE_PKEY_SHIFT) & 0xF

    # swap entries
    def is_swap_pte(self, val: int) -> bool:
        """is_swap_pte(): !pte_none && !pte_present."""
        return not self.pte_none(val) and not self.pte_present(val)

    @staticmethod
    def pte_swp_soft_dirty(val: int) -> bool:
        return bool(val & _PAGE_SWP_SOFT_DIRTY)

    @staticmethod
    def pte_swp_uffd_wp(val: int) -> bool:
        return bool(val & _PAGE_SWP_UFFD_WP)

    @staticmethod
    def pte_swp_exclusive(val: int) -> bool:
        return bool(val & _PAGE_SWP_EXCLUSIVE)

    @staticmethod
    def swp_type_offset(val: int) -> Tuple[int, int]:
        """pte_to_swp_entry(): (swp_type, swp_offset) of a swap PTE or PMD.

        pte_swp_clear_flags() first drops the software bits that share the
        low byte (soft-dirty, uffd-wp, exclusive); __swp_type/__swp_offset
        then decode the inverted offset.
        """
        val &= ~(_PAGE_SWP_SOFT_DIRTY | _PAGE_SWP_UFFD_WP | _PAGE_SWP_EXCLUSIVE)
        swp_type = val >> (64 - SWP_TYPE_BITS)
        offset = ((~val << SWP_TYPE_BITS) & MASK64) >> SWP_OFFSET_SHIFT
        return swp_type, offset

    @staticmethod
    def swp_entry_to_pte(swp_type: int, offset: int) -> int:
        """__swp_entry() + swp_entry_to_pte()."""
        return (((~offset << SWP_OFFSET_SHIFT) & MASK64) >> SWP_TYPE_BITS) | (
            swp_type << (64 - SWP_TYPE_BITS))

    def pfn_pte(self, pfn: int, prot: int) -> int:
        """pfn_pte(): build a PTE, inverting the PFN for PROT_NONE (L1TF)."""
        phys = (pfn << 12) ^ self.protnone_mask(prot)
        return (phys & self.pte_pfn_mask) | (prot & ~self.pte_pfn_mask & MASK64)

    def split_huge_pmd_ptes(self, val: int, vma_flags: int, page_prot: int,
                            zero_pfn: int, huge_zero: bool) -> List[int]:
        """The 512 PTEs __split_huge_pmd_locked() makes of an anonymous pmd.

        Present THP: mk_pte(page + i, vm_page_prot), maybe_mkwrite(), then
        pte_wrprotect() if the pmd was not writable, pte_mkold() if not young,
        soft-dirty and uffd-wp copied; dirty is copied too (6.1 moves it to
        the folio flag, 6.12 onto every PTE: both say "dirty").  A migration
        pmd becomes 512 migration entries with consecutive offsets.  The huge
        zero page becomes read-only special PTEs of the small zero page
        (__split_huge_zero_page_pmd()).
        """
        if huge_zero:
            pte = self.pfn_pte(zero_pfn, page_prot & ~_PAGE_RW) | _PAGE_SPECIAL
            return [pte] * 512
        if not self.pmd_present(val):
            swp_type, offset = self.swp_type_offset(val)
            flags = val & (_PAGE_SWP_SOFT_DIRTY | _PAGE_SWP_UFFD_WP)
            return [self.swp_entry_to_pte(swp_type, offset + i) | flags
                    for i in range(512)]
        pfn = self.pmd_pfn(val)
        prot = page_prot
        if vma_flags & 0x2 and val & _PAGE_RW:  # maybe_mkwrite(), VM_WRITE
            prot |= _PAGE_RW
        else:
            prot &= ~_PAGE_RW
        if val & _PAGE_ACCESSED:
            prot |= _PAGE_ACCESSED
        else:
            prot &= ~_PAGE_ACCESSED
        for bit in (_PAGE_SOFT_DIRTY, _PAGE_UFFD_WP, _PAGE_DIRTY):
            prot = prot | bit if val & bit else prot & ~bit
        if prot & _PAGE_PRESENT:
            # no L1TF inversion: consecutive PFNs are consecutive values
            first = self.pfn_pte(pfn, prot)
            return list(range(first, first + (512 << 12), 1 << 12))
        return [self.pfn_pte(pfn + i, prot) for i in range(512)]

    def entry_flag_names(self, level: int, val: int) -> List[str]:
        """The flags of a present (or PROT_NONE) entry by name, as the SDM
        and pgtable_types.h call them: P RW US PWT PCD A D PSE/PAT G NX,
        then the software bits the kernel uses (SPECIAL, UFFD_WP,
        SOFT_DIRTY, DEVMAP, SAVED_DIRTY from 6.6) and PKEY=n on leaves."""
        leaf = level == PTE or (level in (PMD, PUD) and val & _PAGE_PSE)
        names = []
        for bit, name in _HW_FLAGS:
            if val & bit:
                if bit == _PAGE_PSE and level == PTE:
                    name = "PAT"
                names.append(name)
        if leaf and level != PTE and val & _PAGE_PAT_LARGE:
            names.append("PAT")
        if not val & _PAGE_PRESENT and val & _PAGE_PROTNONE and leaf:
            names.append("PROTNONE")
        elif val & _PAGE_GLOBAL:
            names.append("G")
        if leaf:
            for bit, name in _SW_FLAGS:
                if val & bit:
                    names.append(name)
            if self.kernel_version >= (6, 6) and val & _PAGE_SAVED_DIRTY:
                names.append("SAVED_DIRTY")
            pkey = self.pte_pkey(val)
            if pkey:
                names.append(f"PKEY={pkey}")
        if val & _PAGE_NX:
            names.append("NX")
        return names

    @staticmethod
    def swap_flag_names(val: int) -> List[str]:
        """The software bits a swap entry keeps (pgtable_64_types.h)."""
        return [name for bit, name in ((_PAGE_SWP_SOFT_DIRTY, "SWP_SOFT_DIRTY"),
                                       (_PAGE_SWP_UFFD_WP, "SWP_UFFD_WP"),
                                       (_PAGE_SWP_EXCLUSIVE, "SWP_EXCLUSIVE"))
                if val & bit]

    def describe(self, level: int, val: int) -> str:
        if val and not val & _PAGE_PRESENT and not (
                level >= PMD and val & (_PAGE_PROTNONE | _PAGE_PSE)):
            swp_type, offset = self.swp_type_offset(val)
            return f"SWAP type {swp_type} offset {offset:#x}"
        names = [name for bit, name in FLAG_NAMES if val & bit]
        return "|".join(names) if names else "(none)"
