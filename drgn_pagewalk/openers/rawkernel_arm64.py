"""Find an arm64 Linux kernel (4 or 16 KiB pages) in raw guest physical memory,
without a VMCOREINFO, from the stopped vCPU's system registers: TCR_EL1
(granule, VA bits in use, LPA2), TTBR1_EL1 (swapper_pg_dir, walked as the
MMU walks it: arch/arm64.py's mmu_translate()) and VBAR_EL1 (the exception
vectors: the KASLR offset); then kimage_voffset, PHYS_OFFSET and VA_BITS
as the kernel defines them, and the VMCOREINFO drgn's AArch64 support reads.

The arm64 half of rawkernel.py (its reader, banner check, FoundKernel and
Program are shared), as ops/ptdump_arm64.py is ptdump.py's.  Nothing here
imports gdb.

    prog = program_from_memory_arm64(read_phys, mem_size, ttbr1, tcr, vbar, "vmlinux")

Every failure is a :class:`RawKernelError`, one line.
"""

from __future__ import annotations

import struct
from typing import Any, Optional

from ..arch import arm64 as _arm64
from ..arch.base import MASK64
from .rawkernel import (
    PAGE_SIZE,
    PMD_SIZE,
    FoundKernel,
    RawKernelError,
    ReadPhys,
    VmlinuxSymbols,
    _guest_release,
    _read,
    program_for_kernel,
    read_link_common,
    read_translated,
)

# -- arm64: the kernel from TTBR1_EL1, TCR_EL1 and VBAR_EL1 ---------------------

#: The symbols VBAR_EL1 may point at once the kernel runs: ``vectors``, or
#: with the Spectre-BHB mitigations one 2 KiB slot of
#: ``__bp_harden_el1_vectors`` (this_cpu_set_vectors()).
_ARM64_VECTORS = (("vectors", 1), ("__bp_harden_el1_vectors", 4))
#: The VA sizes arm64 Linux is built with, by granule (arch/arm64/Kconfig)
_ARM64_VA_BITS = {4096: (39, 48, 52), 16384: (36, 47, 48, 52)}
_ARM64_SECTION_SIZE_BITS = 27  # arch/arm64/include/asm/sparsemem.h: 4 and 16 KiB pages (64 KiB: 29)


class _LinkArm64:
    """The link-time facts of an arm64 vmlinux that locate_kernel_arm64()
    uses."""

    def __init__(self, vmlinux: str) -> None:
        syms = VmlinuxSymbols(vmlinux, "arm64")
        try:
            found = syms.lookup(["_text", "_stext", "linux_banner", "swapper_pg_dir",
                                 "memstart_addr", "__per_cpu_offset", "__per_cpu_start",
                                 "vmcoreinfo_data", "vmcoreinfo_size", "mem_section",
                                 "page_ext_init", "page_ext_size"]
                                + [name for name, _ in _ARM64_VECTORS])
            for name in ("_text", "linux_banner", "swapper_pg_dir", "memstart_addr",
                         "__per_cpu_offset", "__per_cpu_start"):
                if name not in found:
                    raise RawKernelError(f"vmlinux has no symbol {name}: is {vmlinux} "
                                         "an arm64 Linux kernel's vmlinux?")
            self.text = found["_text"][0]
            self.stext = found.get("_stext", found["_text"])[0]
            self.pgt = found["swapper_pg_dir"][0]
            self.memstart_addr = found["memstart_addr"][0]
            self.per_cpu_offset = found["__per_cpu_offset"][0]
            self.per_cpu_start = found["__per_cpu_start"][0]
            self.vectors = [found[name][0] + 0x800 * slot for name, slots in _ARM64_VECTORS
                            if name in found for slot in range(slots)]
            read_link_common(self, syms, found)
        finally:
            syms.close()


def locate_kernel_arm64(read_phys: ReadPhys, ttbr1: int, tcr: int, vbar: int,
                        vmlinux: str, sctlr: Optional[int] = None,
                        subject: str = "the guest") -> FoundKernel:
    """The arm64 kernel the CPU runs, which must be the kernel of ``vmlinux``,
    from the CPU's own registers (no VMCOREINFO):

    - TCR_EL1: the granule (TG1: 4 or 16 KiB pages), the VA bits in use
      (64 - T1SZ: with 4 KiB pages 48 or 52, hence 4 or 5 levels; with 16
      KiB pages 47 or 52, 3 or 4) and LPA2 (DS);
    - TTBR1_EL1: swapper_pg_dir, walked as the MMU walks it;
    - VBAR_EL1: the exception vectors (``vectors``, or a slot of
      ``__bp_harden_el1_vectors``); its address minus vmlinux's is the KASLR
      offset, kaslr_offset() = kimage_vaddr - KIMAGE_VADDR.  The guest's
      linux_banner there must equal vmlinux's, byte for byte.

    Then the values the kernel defines in arch/arm64/kernel/vmcore_info.c:
    kimage_voffset (head.S: the image's virtual minus physical address),
    PHYS_OFFSET (memstart_addr, read from the guest), VA_BITS (the
    configured one: PAGE_OFFSET = -(1 << VA_BITS), from a linear-map
    address, cpu 0's per-cpu area, and its physical address, as
    __phys_to_virt() makes it) and TCR_EL1_T1SZ.  ``sctlr`` (SCTLR_EL1) is
    optional: only to say "the MMU is off" rather than "no kernel"."""
    live = subject == "the guest"
    cpu = "the guest CPU" if live else f"the CPU in {subject}"
    if sctlr is not None and not sctlr & _arm64.SCTLR_ELx_M:
        raise RawKernelError(f"{cpu} has paging off: it is not running a Linux "
                             "kernel (yet)")
    granule = _arm64.tcr_el1_granule(tcr)
    if granule not in _ARM64_VA_BITS:
        what = f"{granule >> 10} KiB pages" if granule else "a reserved granule"
        raise RawKernelError(f"{cpu} runs with {what} (TCR_EL1.TG1 of "
                             f"TCR_EL1={tcr:#x}): only 4 and 16 KiB pages are supported")
    page_shift = granule.bit_length() - 1
    if tcr & _arm64.TCR_EPD1:
        raise RawKernelError(f"{cpu} has TTBR1_EL1 walks disabled (TCR_EL1.EPD1): "
                             "it is not running a Linux kernel (yet)")
    t1sz = _arm64.tcr_el1_t1sz(tcr)
    vabits_actual = 64 - t1sz
    if vabits_actual not in _ARM64_VA_BITS[granule]:
        sizes = ", ".join(map(str, _ARM64_VA_BITS[granule]))
        raise RawKernelError(f"{cpu} has {vabits_actual}-bit kernel addresses "
                             f"(TCR_EL1.T1SZ {t1sz}): not an arm64 Linux kernel with "
                             f"{granule >> 10} KiB pages ({sizes} bits)")
    lpa2 = bool(tcr & _arm64.TCR_DS)
    table = _arm64.ttbr_to_phys(ttbr1)
    levels = _arm64.hw_pgtable_levels(vabits_actual, page_shift)
    link = _LinkArm64(vmlinux)

    def read_entry(phys: int) -> int:
        return struct.unpack("<Q", _read(read_phys, phys, 8))[0]

    def virt_to_phys(virt: int) -> Optional[int]:
        try:
            found = _arm64.mmu_translate(read_entry, table, vabits_actual, lpa2, virt,
                                         page_shift)
        except RawKernelError:  # tables pointing outside memory
            return None
        return None if found is None else found[0]

    def read_virt(virt: int, size: int) -> Optional[bytes]:
        return read_translated(read_phys, virt_to_phys, virt, size, granule)

    offset = None
    for vectors in link.vectors:
        candidate = (vbar - vectors) & MASK64
        if candidate % PAGE_SIZE == 0 and read_virt(
                (link.banner_addr + candidate) & MASK64, len(link.banner)) == link.banner:
            offset = candidate
            break
    if offset is None:
        vbar_phys = virt_to_phys(vbar)
        if vbar_phys is None:
            raise RawKernelError(f"{subject} is not {'running' if live else 'of'} a Linux "
                                 f"kernel: VBAR_EL1 {vbar:#x} is not mapped by "
                                 f"TTBR1_EL1's tables (TTBR1_EL1={ttbr1:#x})")
        runs = "runs" if live else "is of"
        guest = _guest_release(read_phys, [(vbar, vbar_phys & ~(PMD_SIZE - 1), 96 << 20)])
        if guest is None:
            raise RawKernelError(f"vmlinux is for {link.release} but {subject} does not "
                                 "run it (no matching linux_banner; no Linux banner "
                                 f"found in the kernel image of {subject})")
        raise RawKernelError(f"vmlinux is for {link.release} but {subject} {runs} {guest}"
                             if guest != link.release else
                             f"vmlinux is for {link.release} but {subject} {runs} another "
                             f"build of {guest} (linux_banner differs)")

    def read_u64(link_addr: int, what: str) -> int:
        data = read_virt((link_addr + offset) & MASK64, 8)
        if data is None:
            raise RawKernelError(f"{what} of {subject} is not mapped at "
                                 f"{(link_addr + offset) & MASK64:#x}")
        return struct.unpack("<Q", data)[0]

    # map_kernel() maps the image from _stext: the header before it is not
    text_virt = (link.text + offset) & MASK64
    stext_phys = virt_to_phys((link.stext + offset) & MASK64)
    if stext_phys is None:
        raise RawKernelError(f"_stext of {subject} is not mapped at "
                             f"{(link.stext + offset) & MASK64:#x}")
    text_phys = stext_phys - (link.stext - link.text)
    kimage_voffset = (text_virt - text_phys) & MASK64
    phys_offset = read_u64(link.memstart_addr, "memstart_addr")
    # a linear-map address and its physical address: __phys_to_virt(x) is
    # ((x) - PHYS_OFFSET) | PAGE_OFFSET, and PAGE_OFFSET is -(1 << VA_BITS)
    percpu = (read_u64(link.per_cpu_offset, "__per_cpu_offset[0]")
              + link.per_cpu_start + offset) & MASK64
    percpu_phys = virt_to_phys(percpu)
    page_offset = None if percpu_phys is None else \
        (percpu - ((percpu_phys - phys_offset) & MASK64)) & MASK64
    va_bits = next((bits for bits in _ARM64_VA_BITS[granule]
                    if page_offset == (1 << 64) - (1 << bits)), None)
    if va_bits is None or va_bits < vabits_actual:
        raise RawKernelError(f"cannot tell the VA_BITS {subject}'s kernel was built with "
                             f"(cpu 0's per-cpu area at {percpu:#x} is not in a linear map "
                             f"of PHYS_OFFSET {phys_offset:#x})")
    # arch/arm64/kernel/vmcore_info.c (6.12; crash_core.c in 6.1), and the
    # generic keys drgn reads (kernel/vmcore_info.c)
    info = (f"OSRELEASE={link.release}\n"
            f"PAGESIZE={granule}\n"
            f"SYMBOL(swapper_pg_dir)={(link.pgt + offset) & MASK64:x}\n"
            f"SYMBOL(_stext)={(link.stext + offset) & MASK64:x}\n"
            f"NUMBER(VA_BITS)={va_bits}\n"
            f"NUMBER(kimage_voffset)={kimage_voffset:#x}\n"
            f"NUMBER(PHYS_OFFSET)={phys_offset:#x}\n"
            f"NUMBER(TCR_EL1_T1SZ)={t1sz:#x}\n"
            f"KERNELOFFSET={offset:x}\n")
    if link.sparsemem:
        # drgn finds vmemmap through mem_section[LENGTH(mem_section)].
        # MAX_PHYSMEM_BITS with 4 and 16 KiB pages: 52 when LPA2 is in use
        # (lpa2_is_enabled(): TCR_EL1.DS; a 52-bit 6.12 on a CPU without
        # LPA2 says 48), else 48; SECTION_SIZE_BITS 27 (5.12 on, 4 and 16
        # KiB pages); NR_SECTION_ROOTS of SPARSEMEM_EXTREME follows
        # MAX_PHYSMEM_BITS, SECTIONS_PER_ROOT is PAGE_SIZE / sizeof(struct
        # mem_section)
        max_physmem_bits = 52 if lpa2 else 48
        roots = (1 << max_physmem_bits - _ARM64_SECTION_SIZE_BITS) // (
            granule // link.sizeof_mem_section)
        info += (f"LENGTH(mem_section)={roots}\n"
                 f"NUMBER(SECTION_SIZE_BITS)={_ARM64_SECTION_SIZE_BITS}\n"
                 f"NUMBER(MAX_PHYSMEM_BITS)={max_physmem_bits}\n")
    if sctlr is not None and sctlr & _arm64.SCTLR_ELx_ENIA:
        # system_supports_address_auth(): ptrauth_kernel_pac_mask()
        info += f"NUMBER(KERNELPACMASK)={MASK64 & ~((1 << vabits_actual) - 1):#x}\n"
    desc = (f"Linux {link.release}, {levels}-level paging ({vabits_actual}-bit VA of "
            f"VA_BITS {va_bits}), KASLR offset {offset:#x}, _text at {text_virt:#x} "
            f"(physical {text_phys:#x}), kimage_voffset {kimage_voffset:#x}, "
            f"PHYS_OFFSET {phys_offset:#x}")
    own = None if link.vmcoreinfo_vars is None else (
        (link.vmcoreinfo_vars[0] + offset) & MASK64,
        (link.vmcoreinfo_vars[1] + offset) & MASK64)
    return FoundKernel(info.encode(), desc, link.release, levels, offset, None,
                       "VBAR_EL1 (the exception vectors)", own, arch="arm64",
                       kimage_voffset=kimage_voffset, phys_offset=phys_offset,
                       va_bits=va_bits)


def program_from_memory_arm64(read_phys: ReadPhys, mem_size: int, ttbr1: int, tcr: int,
                              vbar: int, vmlinux: str, is_live: bool = True,
                              sctlr: Optional[int] = None,
                              prog_name: str = "lx-pagewalk") -> Any:
    """program_from_memory() for an arm64 guest: the kernel found by
    locate_kernel_arm64() from the vCPU's TTBR1_EL1, TCR_EL1 and VBAR_EL1."""
    found = locate_kernel_arm64(read_phys, ttbr1, tcr, vbar, vmlinux, sctlr=sctlr)

    def read_fn(address: int, count: int, offset: int, physical: bool) -> bytes:
        return read_phys(address, count)

    return program_for_kernel(found, [(0, mem_size, read_fn)], [vmlinux], is_live,
                              "the guest's memory", prog_name)


__all__ = ["locate_kernel_arm64", "program_from_memory_arm64"]
