"""The architecture interface of the walker: constants and entry predicates.

Every method mirrors a kernel macro of the same name and takes the raw entry
value (``pXd_val()``) as an int.  Folded levels follow asm-generic's
pgtable-nop4d.h / nopud.h / nopmd.h: when ``PTRS_PER_X == 1`` the level X
is folded into the one above, ``X_offset()`` returns the parent's slot, and
the parent's none/bad/present answers are the constants 0/0/1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

PGD, P4D, PUD, PMD, PTE = range(5)
LEVEL_NAMES = ("pgd", "p4d", "pud", "pmd", "pte")
MASK64 = 0xFFFFFFFFFFFFFFFF


def swap_type_layout(kernel_version: Tuple[int, int],
                     memory_failure: Optional[bool] = None) -> Tuple[int, int]:
    """(MAX_SWAPFILES, SWP_HWPOISON_NUM) of include/linux/swap.h, when the
    dump cannot tell (a synthetic arch): Debian's 6.x layout.

    32 types (MAX_SWAPFILES_SHIFT 5) less SWP_DEVICE_NUM (0: no
    CONFIG_DEVICE_PRIVATE), SWP_MIGRATION_NUM (3), SWP_HWPOISON_NUM (1 with
    CONFIG_MEMORY_FAILURE) and SWP_PTE_MARKER_NUM (1).  ``memory_failure``:
    whether the kernel has CONFIG_MEMORY_FAILURE (its memory_failure()
    symbol); unknown means Debian's choice, set from 6.12 on and not in 6.1.
    A dump's own layout is SwapTypes, probed by kernel.py."""
    if memory_failure is None:
        memory_failure = kernel_version >= (6, 12)
    hwpoison = 1 if memory_failure else 0
    return 32 - 3 - hwpoison - 1, hwpoison


@dataclass(frozen=True)
class SwapTypes:
    """The swap entry types of include/linux/swap.h (MAX_SWAPFILES_SHIFT 5:
    32 types): real swap files 0..MAX_SWAPFILES-1, then SWP_HWPOISON
    (SWP_HWPOISON_NUM: CONFIG_MEMORY_FAILURE), the migration types
    (SWP_MIGRATION_NUM: READ, READ_EXCLUSIVE (5.19 on), WRITE), the device
    types (SWP_DEVICE_NUM: CONFIG_DEVICE_PRIVATE; 4 up to 6.13: WRITE, READ,
    EXCLUSIVE_WRITE, EXCLUSIVE_READ; 3 from 6.14: WRITE, READ, EXCLUSIVE),
    then SWP_PTE_MARKER (SWP_PTE_MARKER_NUM: CONFIG_PTE_MARKER, 5.19 on).
    Debian: 5.10 30 swap files, migration 30-31; 6.1 27 (+ SWP_SWAPIN_ERROR
    31, 6.1-6.4); 6.12 27, hwpoison 27; 7.2 (DEVICE_PRIVATE) 24, hwpoison
    24, migration 25-27, device 28-30, marker 31."""

    max_swapfiles: int
    hwpoison_num: int = 0
    migration_num: int = 3
    device_num: int = 0
    pte_marker_num: int = 1

    @property
    def migration_read(self) -> int:
        """SWP_MIGRATION_READ, the first migration type."""
        return self.max_swapfiles + self.hwpoison_num

    @property
    def device_first(self) -> int:
        """SWP_DEVICE_WRITE, the first device type."""
        return self.migration_read + self.migration_num

    @property
    def pte_marker(self) -> Optional[int]:
        """SWP_PTE_MARKER (None without CONFIG_PTE_MARKER)."""
        return self.device_first + self.device_num if self.pte_marker_num else None

    def non_swap_entry(self, swp_type: int) -> bool:
        """non_swap_entry(): a type past MAX_SWAPFILES."""
        return swp_type >= self.max_swapfiles

    def is_migration_entry(self, swp_type: int) -> bool:
        """is_migration_entry() (7.x: softleaf_is_migration())."""
        return self.migration_read <= swp_type < self.device_first

    def is_device_private_entry(self, swp_type: int) -> bool:
        """is_device_private_entry() (7.x: softleaf_is_device_private()):
        SWP_DEVICE_WRITE and _READ."""
        return self.device_num > 0 and self.device_first <= swp_type < self.device_first + 2

    def is_pfn_swap_entry(self, swp_type: int) -> bool:
        """is_pfn_swap_entry() (7.x: softleaf_has_pfn()): migration, device
        private and exclusive, and hwpoison entries: every type from
        MAX_SWAPFILES up to the PTE marker."""
        return self.max_swapfiles <= swp_type < self.device_first + self.device_num

    def is_pte_marker_entry(self, swp_type: int) -> bool:
        """is_pte_marker_entry() (7.x: softleaf_is_marker())."""
        return self.pte_marker_num > 0 and swp_type == self.pte_marker


class Arch:
    """A page-table format.  Subclasses set the constants and predicates."""

    name = "generic"
    page_shift = 12
    #: PTRS_PER_PGD, PTRS_PER_P4D, PTRS_PER_PUD, PTRS_PER_PMD, PTRS_PER_PTE
    ptrs_per: Tuple[int, int, int, int, int] = (512, 1, 512, 512, 512)
    #: PGDIR_SHIFT, P4D_SHIFT, PUD_SHIFT, PMD_SHIFT, PAGE_SHIFT
    shifts: Tuple[int, int, int, int, int] = (39, 39, 30, 21, 12)
    #: TASK_SIZE (TASK_SIZE_MAX): user addresses are below it.
    task_size = (1 << 47) - (1 << 12)
    #: MAX_PHYSMEM_BITS (swp_offset_pfn()'s SWP_PFN_BITS is it - PAGE_SHIFT)
    max_physmem_bits = 46
    #: Bytes per entry.
    entry_size = 8
    #: The arch has its own huge_pte_offset()/huge_ptep_get() for huge
    #: pages of contiguous entries (arm64); else mm/hugetlb.c's generic one.
    contiguous_hugetlb = False
    #: x86-64's page table isolation: each user pgd has a user copy one
    #: page above it (set by the target from the dump)
    pti = False
    #: Every user pgd holds the kernel half, copied from init_mm's by
    #: pgd_ctor() (x86-64); false where the kernel has its own table
    #: (arm64's TTBR1: swapper_pg_dir).
    kernel_half_in_user_pgd = True
    #: arch_pkeys_enabled(), decided from the dump by the target
    pkeys_enabled = False
    #: CONFIG_ARCH_PKEY_BITS: vma_pkey() is that many vm_flags bits from 32
    pkey_bits = 4
    #: the kernel's swap entry types (set_swap_types(); Debian 6.12's here)
    swap: SwapTypes = SwapTypes(max_swapfiles=27, hwpoison_num=1)

    @property
    def page_size(self) -> int:
        return 1 << self.page_shift

    def set_swap_types(self, swap: SwapTypes) -> None:
        """The kernel's swap entry types (the target's, probed from the
        dump; the constructor's default is swap_type_layout())."""
        self.swap = swap

    @property
    def max_swapfiles(self) -> int:
        """MAX_SWAPFILES: swap types below it are real swap files."""
        return self.swap.max_swapfiles

    @property
    def swp_hwpoison_num(self) -> int:
        """SWP_HWPOISON_NUM."""
        return self.swap.hwpoison_num

    @property
    def swp_migration_read(self) -> int:
        """SWP_MIGRATION_READ: the first of the migration types."""
        return self.swap.migration_read

    def folded(self, level: int) -> bool:
        """True if ``level`` is folded into the level above (PTRS_PER_X == 1)."""
        return level > PGD and self.ptrs_per[level] == 1

    def vm_flag_mnemonics(self) -> Dict[int, str]:
        """The arch's entries of show_smap_vma_flags()'s table (bit -> name;
        "" prints nothing), over the generic ones."""
        return {}

    @property
    def kernel_start(self) -> int:
        """The lowest kernel address: the upper half of the top table (the
        sign-extended half of the address space)."""
        return (1 << 64) - (1 << (self.shifts[PGD] + 8))

    def table_entries(self, level: int) -> int:
        """Entries to read for a table of ``level``: PTRS_PER_X."""
        return self.ptrs_per[level]

    def folded_in_place(self, level: int) -> bool:
        """True if ``level`` is folded at run time into its parent's table
        page, which it indexes with its own index (arm64's
        pgd_to_folded_p4d()); x86 folds by returning the parent's slot."""
        return False

    def has_tables(self, level: int) -> bool:
        """Whether ``level`` has table pages of its own (what the kernel's
        pXd_alloc() allocates and mm_inc_nr_pXds() counts): not folded into
        the level above, neither by PTRS_PER_X == 1 nor at run time."""
        return not self.folded(level) and not self.folded_in_place(level)

    def ptep_get_table(self, vals: Sequence[int]) -> Sequence[int]:
        """A PTE table's entries as ptep_get() reads each: the values
        themselves (asm-generic's READ_ONCE)."""
        return vals

    def num_contig_ptes(self, size: int) -> Tuple[int, int]:
        """(entries, bytes each) of a huge page of ``size``: one entry."""
        return 1, size

    def pte_cont(self, val: int) -> bool:
        """The contiguous hint (arm64's PTE_CONT); none elsewhere."""
        return False

    def index(self, level: int, addr: int) -> int:
        """pgd_index() / p4d_index() / pud_index() / pmd_index() / pte_index()."""
        return (addr >> self.shifts[level]) & (self.ptrs_per[level] - 1)

    def addr_end(self, level: int, addr: int, end: int) -> int:
        """pgd_addr_end() and friends, with the kernel's unsigned wrap-around."""
        size = 1 << self.shifts[level]
        boundary = (addr + size) & ~(size - 1) & MASK64
        return boundary if (boundary - 1) & MASK64 < (end - 1) & MASK64 else end

    # Entry predicates.  The defaults describe a folded level (constants).
    def pgd_none(self, val: int) -> bool:
        return False

    def pgd_bad(self, val: int) -> bool:
        return False

    def pgd_present(self, val: int) -> bool:
        return True

    def p4d_none(self, val: int) -> bool:
        return False

    def p4d_bad(self, val: int) -> bool:
        return False

    def p4d_present(self, val: int) -> bool:
        return True

    def pud_none(self, val: int) -> bool:
        return False

    def pud_present(self, val: int) -> bool:
        return True

    def pud_leaf(self, val: int) -> bool:
        return False

    def pud_trans_huge(self, val: int) -> bool:
        return False

    def pud_devmap(self, val: int) -> bool:
        return False

    def pmd_none(self, val: int) -> bool:
        raise NotImplementedError

    def pmd_present(self, val: int) -> bool:
        raise NotImplementedError

    def pmd_leaf(self, val: int) -> bool:
        raise NotImplementedError

    def pmd_bad(self, val: int) -> bool:
        raise NotImplementedError

    def pmd_trans_huge(self, val: int) -> bool:
        return False

    def pmd_devmap(self, val: int) -> bool:
        return False

    def is_swap_pmd(self, val: int) -> bool:
        """is_swap_pmd(): !pmd_none && !pmd_present."""
        return not self.pmd_none(val) and not self.pmd_present(val)

    def is_pmd_migration_entry(self, val: int) -> bool:
        return False

    def pmd_populate_val(self, table_phys: int) -> int:
        """The value pmd_populate() writes: a pmd pointing to a PTE table."""
        raise NotImplementedError

    def synthetic_table_phys(self, n: int) -> int:
        """A physical address no real memory has, for the ``n``-th table a
        walk makes up (a virtual THP split): the top of the PFN field."""
        raise NotImplementedError

    def pte_none(self, val: int) -> bool:
        raise NotImplementedError

    def pte_present(self, val: int) -> bool:
        raise NotImplementedError

    def table_paddr(self, level: int, val: int) -> int:
        """Physical address of the table an entry of ``level`` points to.

        pgd_page_vaddr(), p4d_pgtable(), pud_pgtable(), pmd_page_vaddr(),
        given back as a physical address (the walker reads physical memory).
        """
        raise NotImplementedError

    # Huge page directories (CONFIG_ARCH_HAS_HUGEPD); none on x86-64.
    def is_hugepd(self, val: int) -> bool:
        return False

    def hugepd_shift(self, val: int) -> int:
        raise NotImplementedError

    def hugepd_paddr(self, val: int) -> int:
        """hugepd_page(): physical address of the hugepte table."""
        raise NotImplementedError

    # The virtual THP split (see walk.split_huge_pmd).
    def split_huge_pmd_ptes(self, val: int, vma_flags: int, page_prot: int,
                            zero_pfn: int, huge_zero: bool) -> Sequence[int]:
        """The PTEs that __split_huge_pmd_locked() would write for ``val``."""
        raise NotImplementedError

    # Decoding helpers for callbacks.
    def present_pfns(self, vals: Sequence[int], indexes: Sequence[int]) -> List[int]:
        """The PFNs of the present entries among ``vals[i]`` for i in
        ``indexes`` (a PTE table's; for reading their struct pages ahead)."""
        return [self.pte_pfn(vals[i]) for i in indexes if self.pte_present(vals[i])]

    def normal_ptes(self, vals: Sequence[int], indexes: Sequence[int]
                    ) -> Tuple[List[int], List[int], List[int]]:
        """Split ``indexes`` of a PTE table: (the present, not special
        entries: vm_normal_page() names the page of their PFN unless the PFN
        is out of range; their PFNs; the others, in order)."""
        normal: List[int] = []
        others: List[int] = []
        for i in indexes:
            v = vals[i]
            if self.pte_present(v) and not self.pte_special(v):
                normal.append(i)
            else:
                others.append(i)
        return normal, [self.pte_pfn(vals[i]) for i in normal], others

    def normal_pte_bits(self) -> Optional[Tuple[int, int, int]]:
        """(mask, value, pfn_mask) where an entry ``v`` is one that
        normal_ptes() counts as normal iff ``v & mask == value``, its PFN
        then ``(v & pfn_mask) >> 12``: for testing a whole table at once
        (ops.page.order0_runs()).  None: no such test (normal_ptes() only)."""
        return None

    def young_dirty_mask(self) -> int:
        """Bits of an entry that pte_young() and pte_dirty() read (all of
        them unless the arch says fewer): entries equal under this mask are
        equally young and dirty."""
        return MASK64

    def pagemap_bits_mask(self) -> int:
        """Bits of a present entry that pte_soft_dirty() and pte_uffd_wp()
        read (all of them unless the arch says fewer): entries equal under
        this mask give pagemap the same PM_SOFT_DIRTY and PM_UFFD_WP."""
        return MASK64

    def pte_pfn(self, val: int) -> int:
        raise NotImplementedError

    def is_canonical(self, addr: int) -> bool:
        """An address the MMU can translate at all."""
        return True

    def entry_flag_names(self, level: int, val: int) -> List[str]:
        """The bits of an entry by name, for vtop."""
        return []

    def swap_flag_names(self, val: int) -> List[str]:
        """The software bits a swap entry keeps, by name."""
        return []

    def describe(self, level: int, val: int) -> str:
        """A short flag string for an entry, for reports."""
        return f"{val:#x}"

    # -- what the walker's users read from entries (the complete contract:
    # tests/test_arch_contract.py checks that nothing outside arch/ uses
    # more).  Defaults are asm-generic's where the kernel has one.
    #: the running kernel's paging levels (4 or 5 here)
    levels = 4
    #: (major, minor) of the dump's kernel release
    kernel_version: Tuple[int, int] = (0, 0)
    #: CONT_PTE_SIZE, CONT_PMD_SIZE (contiguous_hugetlb only)
    cont_pte_size = 0
    cont_pmd_size = 0

    def leaf_pfn(self, level: int, val: int) -> int:
        """pte_pfn()/pmd_pfn()/pud_pfn() of a leaf of ``level``."""
        raise NotImplementedError

    def pmd_pfn(self, val: int) -> int:
        raise NotImplementedError

    def pud_pfn(self, val: int) -> int:
        raise NotImplementedError

    def pte_write(self, val: int) -> bool:
        raise NotImplementedError

    def pte_dirty(self, val: int) -> bool:
        raise NotImplementedError

    def pte_young(self, val: int) -> bool:
        raise NotImplementedError

    def pte_mkdirty(self, val: int) -> int:
        raise NotImplementedError

    def pte_mkyoung(self, val: int) -> int:
        raise NotImplementedError

    def pte_special(self, val: int) -> bool:
        raise NotImplementedError

    def pte_protnone(self, val: int) -> bool:
        """pte_protnone(): asm-generic's 0 without NUMA balancing."""
        return False

    def pte_soft_dirty(self, val: int) -> bool:
        """asm-generic's 0 without CONFIG_HAVE_ARCH_SOFT_DIRTY."""
        return False

    def pte_uffd_wp(self, val: int) -> bool:
        """asm-generic's 0 without CONFIG_HAVE_ARCH_USERFAULTFD_WP."""
        return False

    def pte_swp_soft_dirty(self, val: int) -> bool:
        return False

    def pte_swp_uffd_wp(self, val: int) -> bool:
        return False

    def is_swap_pte(self, val: int) -> bool:
        """is_swap_pte(): !pte_none && !pte_present."""
        return not self.pte_none(val) and not self.pte_present(val)

    def swp_type_offset(self, val: int) -> Tuple[int, int]:
        """__swp_type() and __swp_offset() of pte_to_swp_entry()."""
        raise NotImplementedError

