"""The walker's Target over a drgn.Program: a vmcore, a live QEMU guest, or
/proc/kcore.  Everything drgn-specific lives here."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, TypeVar

import drgn
from drgn import FaultError, Object, Program
from drgn.helpers.linux.rbtree import rbtree_inorder_for_each_entry

from ..arch.arm64 import GRANULE_VA_BITS, Arm64, va_bits_min
from ..arch.base import MASK64, Arch
from ..arch.x86_64 import START_KERNEL_MAP, X86_64
from .kernel import KernelFeatures
from .kernel import probe as probe_kernel
from .mmvmas import LostVmas, MmVmas, mm_vmas
from .base import (
    Hstate,
    Missing,
    Mm,
    TableReadError,
    Target,
    TargetError,
    Vma,
    VmaTreeLost,
    decode_table,
)

T = TypeVar("T")

X86_FEATURE_PTI = 7 * 32 + 11
X86_FEATURE_OSPKE = 16 * 32 + 4
RWSEM_WRITER_LOCKED = 1
#: include/linux/rwbase_rt.h: WRITER_BIAS (1U << 30)
RWBASE_WRITER_BIAS = 1 << 30


def _kernel_version(release: str) -> Tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", release)
    if not m:
        raise TargetError(f"cannot parse kernel release {release!r}")
    return int(m.group(1)), int(m.group(2))


def _vmcoreinfo_number(prog: Program, name: str) -> Optional[int]:
    """NUMBER(name) of the kernel's own VMCOREINFO (vmcoreinfo_data)."""
    try:
        info = prog["vmcoreinfo_data"].string_()
    except (LookupError, FaultError):
        return None
    m = re.search(rb"NUMBER\(" + re.escape(name.encode()) + rb"\)=(-?\w+)", info)
    return int(m.group(1), 0) if m else None


def _pgtable_levels(prog: Program) -> int:
    """4 or 5: __pgtable_l5_enabled, else vmcoreinfo's pgtable_l5_enabled."""
    try:
        return 5 if int(prog["__pgtable_l5_enabled"]) else 4
    except LookupError:
        pass
    return 5 if _vmcoreinfo_number(prog, "pgtable_l5_enabled") else 4


def _boot_cpu_has(prog: Program, feature: int) -> bool:
    """boot_cpu_has(X86_FEATURE_...)."""
    caps = prog["boot_cpu_data"].x86_capability
    word, bit = divmod(feature, 32)
    return bool(int(caps[word]) & (1 << bit))


class X86_64Memory:
    """__va()/__pa() of arch/x86/include/asm/page_64.h and the struct page
    array (vmemmap_base), all randomized by KASLR and read from the dump."""

    def __init__(self, prog: Program) -> None:
        self.page_offset_base = int(prog["page_offset_base"])
        # phys_base is defined in assembly: a symbol without a type.
        self.phys_base = prog.read_u64(prog.symbol("phys_base").address)
        self.vmemmap = prog["vmemmap_base"].value_()

    def phys_to_virt(self, phys: int) -> int:
        return phys + self.page_offset_base

    def virt_to_phys(self, addr: int) -> int:
        """__pa(): direct map or kernel image (START_KERNEL_MAP)."""
        if addr >= START_KERNEL_MAP:
            # phys_base is a u64 that may "wrap" (kernel loaded below its
            # link address): the kernel's unsigned arithmetic, masked.
            return (addr - START_KERNEL_MAP + self.phys_base) & MASK64
        return addr - self.page_offset_base


class Arm64Memory:
    """__phys_to_virt()/__virt_to_phys() of arch/arm64/include/asm/memory.h
    (6.1, 6.12; no KASAN: PAGE_END is _PAGE_END(VA_BITS_MIN)): the linear
    map from PAGE_OFFSET, the kernel image at kimage_voffset; vmemmap is
    VMEMMAP_START - (memstart_addr >> PAGE_SHIFT)."""

    def __init__(self, prog: Program, va_bits: int, page_shift: int = 12) -> None:
        self.page_offset = -(1 << va_bits) & MASK64
        self.page_end = -(1 << (va_bits_min(va_bits, page_shift) - 1)) & MASK64
        phys_offset = _vmcoreinfo_number(prog, "PHYS_OFFSET")
        self.phys_offset = int(prog["memstart_addr"]) if phys_offset is None else phys_offset
        voffset = _vmcoreinfo_number(prog, "kimage_voffset")
        self.kimage_voffset = int(prog["kimage_voffset"]) if voffset is None else voffset
        self.vmemmap = prog["vmemmap"].value_()

    def phys_to_virt(self, phys: int) -> int:
        return ((phys - self.phys_offset) | self.page_offset) & MASK64

    def virt_to_phys(self, addr: int) -> int:
        """__is_lm_address(addr) ? __lm_to_phys(addr) : __kimg_to_phys(addr)."""
        if (addr - self.page_offset) & MASK64 < (self.page_end - self.page_offset) & MASK64:
            return (addr - self.page_offset + self.phys_offset) & MASK64
        return (addr - self.kimage_voffset) & MASK64


def _has_symbol(prog: Program, name: str) -> bool:
    """Whether the kernel has ``name``: how a config option shows in a dump
    without the kernel's .config (pti_init: CONFIG_(MITIGATION_)PAGE_TABLE_
    ISOLATION; memory_failure: CONFIG_MEMORY_FAILURE)."""
    try:
        prog.symbol(name)
    except LookupError:
        return False
    return True


def _x86_64(prog: Program, version: Tuple[int, int]) -> Tuple[Arch, Any]:
    """The x86-64 page-table format and memory model of the dump's kernel."""
    try:
        physical_mask = int(prog["physical_mask"])
        shift = physical_mask.bit_length()
    except LookupError:
        shift = 52
    arch = X86_64(levels=_pgtable_levels(prog), pti=_boot_cpu_has(prog, X86_FEATURE_PTI),
                  physical_mask_shift=shift, kernel_version=version,
                  pti_config=_has_symbol(prog, "pti_init"),
                  memory_failure=_has_symbol(prog, "memory_failure"))
    # arch_pkeys_enabled(): boot_cpu_has(X86_FEATURE_OSPKE)
    arch.pkeys_enabled = _boot_cpu_has(prog, X86_FEATURE_OSPKE)
    return arch, X86_64Memory(prog)


def _arm64(prog: Program, version: Tuple[int, int]) -> Tuple[Arch, Any]:
    """The arm64 page-table format and memory model of the dump's kernel,
    from its VMCOREINFO: VA_BITS (configured), TCR_EL1_T1SZ (the VA bits in
    use: 64 - T1SZ), MAX_PHYSMEM_BITS (52: CONFIG_ARM64_PA_BITS_52),
    PAGESIZE (the granule)."""
    page_size = int(prog["PAGE_SIZE"])  # VMCOREINFO's PAGESIZE=, a plain key
    page_shift = page_size.bit_length() - 1
    if page_shift not in GRANULE_VA_BITS or page_size != 1 << page_shift:
        raise TargetError(f"arm64 with {page_size} byte pages is not supported "
                          "(4, 16 or 64 KiB pages)")
    va_bits = _vmcoreinfo_number(prog, "VA_BITS")
    if va_bits is None:
        raise TargetError("arm64 dump without NUMBER(VA_BITS) in its VMCOREINFO")
    t1sz = _vmcoreinfo_number(prog, "TCR_EL1_T1SZ")
    vabits_actual = 64 - t1sz if t1sz else va_bits
    pa_bits = _vmcoreinfo_number(prog, "MAX_PHYSMEM_BITS")
    arch = Arm64(va_bits=va_bits, vabits_actual=vabits_actual,
                 pa_bits_52=pa_bits == 52, kernel_version=version,
                 memory_failure=_has_symbol(prog, "memory_failure"), page_shift=page_shift)
    arch.pkeys_enabled = _arm64_has_cap(prog, "ARM64_HAS_S1POE")
    return arch, Arm64Memory(prog, va_bits, page_shift)


def _arm64_has_cap(prog: Program, cap: str) -> bool:
    """cpus_have_final_cap(cap): its bit in system_cpucaps (6.x), false
    on a kernel without that capability."""
    try:
        n = int(prog[cap])
        caps = prog["system_cpucaps"]
    except LookupError:
        return False
    word = int(caps[n // 64])
    return bool(word & (1 << (n % 64)))


#: drgn's architecture -> the setup of its page-table format and memory model
ARCHES = {
    drgn.Architecture.X86_64: _x86_64,
    drgn.Architecture.AARCH64: _arm64,
}


#: note_at()'s default context: the command's own (Target.context)
OWN_CONTEXT: Any = object()


@dataclass
class VmaTree:
    """An mm's vmas as DrgnTarget keeps them: mm_vmas()'s answer
    (``found``: what the dump lacks, the vmas found in the slab cache),
    the walker's Vmas in address order with their starts and ends, and the
    lost parts that may hide a vma (by address, with their ends)."""

    found: MmVmas
    vmas: List[Vma]
    starts: List[int] = field(init=False)
    ends: List[int] = field(init=False)
    hiding: List[LostVmas] = field(init=False)
    hiding_ends: List[int] = field(init=False)

    def __post_init__(self) -> None:
        self.starts = [v.vm_start for v in self.vmas]
        self.ends = [v.vm_end for v in self.vmas]
        self.hiding = sorted((lo for lo in self.found.lost if not lo.complete),
                             key=lambda lo: lo.start)
        self.hiding_ends = [lo.end for lo in self.hiding]


class DrgnTarget(Target):
    """Target over a drgn Program.  One per Program: see :func:`get_target`."""

    def __init__(self, prog: Program) -> None:
        self.prog = prog
        setup = ARCHES.get(prog.platform.arch) if prog.platform is not None else None
        if setup is None:
            arch = prog.platform.arch.name if prog.platform else "unknown"
            raise TargetError(f"unsupported architecture {arch}: x86-64 and arm64 only")
        try:
            release = prog["UTS_RELEASE"].string_().decode()
        except LookupError:
            release = prog["init_uts_ns"].name.release.string_().decode()
        self.release = release
        version = _kernel_version(release)
        self.arch, self.memory = setup(prog, version)
        #: what the kernel has (kernel.py): the ops' variants are chosen by it
        self.kernel: KernelFeatures = probe_kernel(prog, version)
        self.arch.set_swap_types(self.kernel.swap_types)
        #: the struct page array: pfn_to_page(pfn) is vmemmap + pfn * size
        self.vmemmap: int = self.memory.vmemmap
        #: A running kernel: page tables may change under a walk.  The
        #: bytes of every table page read are kept so that
        #: :meth:`changed_tables` can say which changed.
        self.live = bool(prog.flags & drgn.ProgramFlags.IS_LIVE)
        self._seen: Dict[int, bytes] = {}
        self._vmas: Dict[int, VmaTree] = {}
        #: the error of the last vma each_vma() left out
        self.last_vma_fault: Any = None
        self._mms: Dict[int, Mm] = {}
        self._init_mm_addr = prog["init_mm"].address_

    # -- memory ------------------------------------------------------------
    def read_table(self, phys: int, nr: int) -> Any:
        try:
            data = self.prog.read(phys, nr * 8, True)
        except (FaultError, OverflowError, ValueError) as e:
            raise TableReadError(phys, "not in the dump's memory") from e
        if self.live:
            self._seen.setdefault(phys, data)
        return decode_table(data)

    def begin_command(self) -> None:
        """A running kernel changes between commands: forget what the last
        one read (vmas, mms, table pages)."""
        super().begin_command()
        self.__dict__["_lost_noted"] = set()
        if self.live:
            self._seen.clear()
            self._vmas.clear()
            self._mms.clear()

    def changed_tables(self) -> List[int]:
        """Live kernels: the physical addresses of the table pages read so
        far whose contents differ now (entries changed under the walk)."""
        changed = []
        for phys, data in self._seen.items():
            try:
                now = self.prog.read(phys, len(data), True)
            except FaultError:
                now = b""
            if now != data:
                changed.append(phys)
        return changed

    def phys_to_virt(self, phys: int) -> int:
        return self.memory.phys_to_virt(phys)

    def virt_to_phys(self, addr: int) -> int:
        """__pa(): the arch's memory model."""
        return self.memory.virt_to_phys(addr)

    # -- mm and vma --------------------------------------------------------
    def mm(self, obj: Object) -> Mm:
        """The walker's Mm for a ``struct mm_struct *`` (or struct)."""
        if obj.type_.kind != drgn.TypeKind.POINTER:
            obj = obj.address_of_()
        address = obj.value_()
        if not address:
            raise TargetError("NULL mm_struct (a kernel thread has no mm)")
        mm = self._mms.get(address)
        if mm is None:
            pgd = self.virt_to_phys(obj.pgd.value_())
            mm = Mm(self, obj, pgd, address == self._init_mm_addr, address)
            self._mms[address] = mm
        return mm

    def vma(self, obj: Object) -> Vma:
        """The walker's Vma for a ``struct vm_area_struct *``."""
        mm = self.mm(obj.vm_mm)
        tree = self._vma_tree(mm)
        i = bisect.bisect_left(tree.starts, obj.vm_start.value_())
        if i < len(tree.vmas) and tree.vmas[i].address == obj.value_():
            return tree.vmas[i]
        return self._make_vma(mm, obj)

    def _make_vma(self, mm: Mm, obj: Object) -> Vma:
        return Vma(
            mm=mm,
            obj=obj,
            vm_start=obj.vm_start.value_(),
            vm_end=obj.vm_end.value_(),
            vm_flags=obj.vm_flags.value_(),
            vm_pgoff=obj.vm_pgoff.value_(),
            vm_page_prot=obj.vm_page_prot.pgprot.value_(),
            anonymous=not obj.vm_ops.value_(),
            address=obj.value_(),
        )

    def _vma_tree(self, mm: Mm) -> "VmaTree":
        """What the target keeps of mm's vmas (mm_vmas(): those the dump
        holds); what the dump lacks is noted as missing once per process
        and command, in the command's context."""
        tree = self._vmas.get(mm.address)
        if tree is None:
            found = mm_vmas(mm.obj)
            tree = self._vmas[mm.address] = VmaTree(
                found, [self._make_vma(mm, v) for v in found.vmas])
        noted = self.__dict__.setdefault("_lost_noted", set())
        if (mm.address, self.context) not in noted:
            noted.add((mm.address, self.context))
            for lost in tree.found.lost:
                self.note_lost(lost)
        return tree

    def note_at(self, left_out: str, address: Optional[int], context: Any = OWN_CONTEXT,
                unknown: str = "kernel memory") -> None:
        """``left_out`` is not printed: the dump lacks memory at ``address``
        (named by the first byte it lacks from there, and what holds it;
        ``unknown`` when there is no address).  ``context``: the command's
        own (reading()) unless given (None: no process)."""
        if address is not None:
            address = missing_address(self.prog, address)
        what = describe_address(self.prog, address) if address is not None else unknown
        self.note_missing(Missing(self.context if context is OWN_CONTEXT else context,
                                  left_out, what, address))

    def note_fault(self, left_out: str, error: Any, context: Any = OWN_CONTEXT) -> None:
        """``left_out`` is not printed: reading it faulted with ``error`` (a
        FaultError, or VmaTreeLost)."""
        if isinstance(error, VmaTreeLost):
            error = error.error
        self.note_at(left_out, getattr(error, "address", None), context)

    def each_vma(self, vmas: List[Vma], fn: Callable[[Vma], T]) -> Iterator[T]:
        """fn(vma) for each vma.  DUMP: a vma whose reading faults (its
        file, its name, a page table the dump lacks) is left out and named;
        the others are reported as the full dump reports them."""
        for vma in vmas:
            try:
                value = fn(vma)
            except (FaultError, VmaTreeLost) as e:
                self.note_fault(f"the vma {vma.vm_start:#x}-{vma.vm_end:#x}", e)
                self.last_vma_fault = e.error if isinstance(e, VmaTreeLost) else e
                continue
            yield value

    def found_notes(self, mm: Mm, vmas: List[Vma]) -> List[str]:
        """For a report's notes: each of ``vmas`` found other than through
        mm's vma tree (a part of the tree is not in the dump), and where."""
        how = self._vma_tree(mm).found.recovered
        return [f"vma {v.vm_start:#x}-{v.vm_end:#x}: found in {how[v.address]}, not "
                "through the mm's vma tree (a part of it is not in the dump)"
                for v in vmas if v.address in how]

    def vma_tree_lost(self, mm: Mm) -> bool:
        """Whether the dump lacks a part of mm's vma tree that may hold a
        vma (what is lost is noted as missing)."""
        return bool(self._vma_tree(mm).hiding)

    def lost_error(self, mm: Mm) -> Any:
        """The error of the first part of mm's vma tree the dump lacks."""
        return self._vma_tree(mm).hiding[0].error

    def note_partial(self, mm: Mm, what: str, read: int, listed: int) -> None:
        """``what`` (a total over the vmas) covers only the ``read`` vmas
        the dump holds: say so, as a missing record, when parts of mm's vma
        tree are lost or ``read`` < ``listed`` vmas could be read."""
        hiding = self._vma_tree(mm).hiding
        if not hiding and read == listed:
            return
        cover = f"it covers the {read} vmas read"
        try:
            cover += f" of {mm.obj.map_count.value_()}, mm->map_count"
        except FaultError:
            pass
        self.note_at(f"from {what}, the pages of the vmas not read ({cover})",
                     hiding[0].address if hiding else
                     getattr(self.last_vma_fault, "address", None),
                     unknown="a part of a vma")

    def note_lost(self, lost: LostVmas) -> None:
        """A part of a vma tree the dump lacks, as a missing record."""
        self.note_at(lost.left_out(), lost.address)

    def vmas(self, mm: Mm) -> List[Vma]:
        """Every vma of mm in address order (for_each_vma()), those the dump
        lacks left out (and noted as missing)."""
        return list(self._vma_tree(mm).vmas)

    def find_vma(self, mm: Mm, addr: int) -> Optional[Vma]:
        tree = self._vma_tree(mm)
        i = bisect.bisect_right(tree.ends, addr)
        vma = tree.vmas[i] if i < len(tree.vmas) else None
        if vma is not None and vma.vm_start <= addr:
            return vma  # addr is in it: no other vma can come first
        # DUMP: a lost vma, or a lost node that may hold one, between addr
        # and the vma found: the kernel's answer is not known (the lost
        # parts do not overlap: the first that ends after addr decides)
        hiding = tree.hiding
        if hiding:
            j = bisect.bisect_right(tree.hiding_ends, addr)
            if j < len(hiding) and (vma is None or hiding[j].start < vma.vm_start):
                self.note_lost(hiding[j])
                raise VmaTreeLost(hiding[j].error)
        return vma

    def hstate_vma(self, vma: Vma) -> Hstate:
        """hstate_vma() -> hstate_inode(file_inode(vma->vm_file))."""
        inode = vma.obj.vm_file.f_inode
        sbinfo = drgn.cast("struct hugetlbfs_sb_info *", inode.i_sb.s_fs_info)
        return Hstate(order=sbinfo.hstate.order.value_(),
                      page_shift=self.arch.page_shift)

    def vma_interval_tree_foreach(self, mapping: Any, first: int,
                                  last: int) -> Iterator[Vma]:
        """vma_interval_tree_foreach(): in-order walk of mapping->i_mmap,
        yielding the vmas whose [vm_pgoff, vm_pgoff + pages - 1] overlaps
        [first, last] (the same vmas in the same order as the kernel)."""
        page_shift = self.arch.page_shift
        for obj in rbtree_inorder_for_each_entry(
                "struct vm_area_struct", mapping.i_mmap.rb_root.address_of_(),
                "shared.rb"):
            start = obj.vm_pgoff.value_()
            end = start + ((obj.vm_end.value_() - obj.vm_start.value_()) >> page_shift) - 1
            if start > last:
                break
            if end >= first:
                yield self.vma(obj)

    def huge_zero_pfn(self) -> Optional[int]:
        prog = self.prog
        try:
            pfn = int(prog["huge_zero_pfn"])  # 6.1+: ~0UL when unset
            return None if pfn == (1 << 64) - 1 else pfn
        except LookupError:
            pass
        try:
            page = prog["huge_zero_page"]
        except LookupError:
            return None
        if not page.value_():
            return None
        from drgn.helpers.linux.mm import page_to_pfn

        return page_to_pfn(page).value_()

    def zero_pfn(self) -> int:
        """my_zero_pfn() (x86-64, arm64: zero_pfn(0)): the variable
        (KernelFeatures.zero_pfn_variable)."""
        return int(self.prog[self.kernel.zero_pfn_variable])

    def mmap_write_locked(self, mm: Mm) -> bool:
        """rwsem_is_write_locked(): the count's writer bit; on PREEMPT_RT
        (struct rw_semaphore is a struct rwbase_rt) rw_base_is_write_locked():
        readers == WRITER_BIAS."""
        lock = mm.obj.mmap_lock
        if self.kernel.rwsem_rt:
            return (lock.rwbase.readers.counter.value_() & 0xFFFFFFFF) == RWBASE_WRITER_BIAS
        return bool(lock.count.counter.value_() & RWSEM_WRITER_LOCKED)


def missing_address(prog: Program, addr: int) -> int:
    """The first byte from ``addr`` on that the dump lacks.  DUMP: drgn's
    FaultError gives the address a read began at; a read that crosses from
    a page the dump holds into one it lacks faults at a byte it can read.
    The read faulted, so the first page it lacks is the one to name (it
    belongs to the object that was being read)."""
    page = addr
    for _ in range(64):
        try:
            prog.read(page, 1)
        except (FaultError, ValueError, OverflowError):
            return page
        page = (page | 0xFFF) + 1
    return addr


def describe_address(prog: Program, addr: int) -> str:
    """What the kernel memory at ``addr`` holds, to name it when the dump
    lacks it: a slab object by its cache ("a maple_node object", from the
    struct slab, which filtered dumps keep), a struct page by its PFN, else
    "kernel memory"."""
    from drgn.helpers.linux.slab import slab_object_info

    try:
        info = slab_object_info(prog, addr)
        if info is not None:
            name = info.slab_cache.name.string_().decode(errors='replace')
            return f"{'an' if name[:1] in 'aeiou' else 'a'} {name} object"
    except (FaultError, LookupError, ValueError, OverflowError):
        pass
    try:
        base = get_target(prog).vmemmap
        size = prog.type("struct page").size
        pfn = (addr - base) // size
        if 0 <= pfn <= prog["max_pfn"].value_():
            return f"the struct page of PFN {pfn:#x}"
    except (FaultError, LookupError, TargetError):
        pass
    return "kernel memory"


def get_target(prog: Program) -> DrgnTarget:
    """The DrgnTarget of a Program, made once and kept in prog.cache."""
    target = prog.cache.get("drgn_pagewalk_target")
    if target is None:
        target = DrgnTarget(prog)
        prog.cache["drgn_pagewalk_target"] = target
    return target


def as_mm(obj: Any) -> Mm:
    """Accept a walker Mm or a drgn ``struct mm_struct *``."""
    if isinstance(obj, Mm):
        return obj
    return get_target(obj.prog_).mm(obj)


def as_vma(obj: Any) -> Vma:
    """Accept a walker Vma or a drgn ``struct vm_area_struct *``."""
    if isinstance(obj, Vma):
        return obj
    return get_target(obj.prog_).vma(obj)
