"""Find a Linux kernel in raw guest physical memory, without a VMCOREINFO,
check the vmlinux against the guest (``linux_banner``, byte for byte) and
write the VMCOREINFO drgn needs:

- x86-64: from the CPU's CR3 and CR4, walk the kernel half of the page
  tables to the kernel image mapping (or the IDT's gate 0), work out the
  KASLR offset and phys_base;
- arm64 (4 and 16 KiB pages): from TCR_EL1 (granule, VA bits in use, LPA2),
  TTBR1_EL1 (swapper_pg_dir, walked as the MMU does) and VBAR_EL1 (the
  exception vectors: the KASLR offset), work out kimage_voffset,
  PHYS_OFFSET and VA_BITS as the kernel defines them (rawkernel_arm64.py,
  on this module's reader, checks and Program).

Once the kernel is found, its own VMCOREINFO (``vmcoreinfo_data``) is
used if it agrees with what was derived (:func:`kernel_vmcoreinfo`).

Transport-neutral: memory comes from ``read_phys(address, size) -> bytes``,
which may be QEMU's gdbstub (gdb_scripts/pagewalk.py), a QEMU ELF dump
without VMCOREINFO (CR3/CR4 from its QEMU note) or anything else.  Nothing
here imports gdb.

    info, description = find_kernel(read_phys, cr3, cr4, "vmlinux")
    prog = program_from_memory(read_phys, mem_size, cr3, cr4, "vmlinux")
    prog = rawkernel_arm64.program_from_memory_arm64(read_phys, mem_size, ttbr1, tcr,
                                                     vbar, "vmlinux")

Every failure is a :class:`RawKernelError`, one line.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from ..arch.x86_64 import _PAGE_PRESENT, _PAGE_PSE, START_KERNEL_MAP
from ..errors import PagewalkError, one_line
from .elf import map_elf64
from ..target.missing import require_debug_info

ReadPhys = Callable[[int, int], bytes]

PAGE_SIZE = 4096
PMD_SIZE = 1 << 21
PUD_SIZE = 1 << 30
X86_CR0_PG = 1 << 31
X86_CR4_PAE = 1 << 5
X86_CR4_LA57 = 1 << 12
SECTION_SIZE_BITS = 27  # x86-64's memory section: 128 MiB
_ADDR_MASK = 0x000FFFFFFFFFF000  # bits 12-51: the frame of a table or page
_BANNER_RE = re.compile(rb"Linux version (\d[^\s\x00]*) \(")
_EM_MACHINE = {"x86_64": 62, "arm64": 183}  # EM_X86_64, EM_AARCH64
_ARCH_NAME = {"x86_64": "x86-64", "arm64": "arm64"}


class RawKernelError(PagewalkError):
    """One line: why the kernel could not be found or does not match."""


# -- the vmlinux: an ELF symbol table, read without debug info ----------------

class VmlinuxSymbols:
    """The few link-time facts find_kernel() needs from a vmlinux: symbol
    addresses and sizes from .symtab and the bytes of allocated sections."""

    def __init__(self, path: str, arch: str = "x86_64") -> None:
        self.path = path
        m = self._map = map_elf64(path, "vmlinux", RawKernelError)
        e_machine, = struct.unpack_from("<H", m, 18)
        if e_machine != _EM_MACHINE[arch]:
            self._map.close()
            raise RawKernelError(f"not an {_ARCH_NAME[arch]} vmlinux: {path}")
        shoff, = struct.unpack_from("<Q", m, 40)
        shentsize, shnum = struct.unpack_from("<HH", m, 58)
        # (name, type, flags, addr, offset, size, link)
        self.sections: List[Tuple[int, int, int, int, int, int, int]] = []
        for i in range(shnum):
            (name, stype, flags, addr, offset, size, link, _info, _align,
             _entsize) = struct.unpack_from("<IIQQQQIIQQ", m, shoff + i * shentsize)
            self.sections.append((name, stype, flags, addr, offset, size, link))
        self._symtab = next((s for s in self.sections if s[1] == 2), None)  # SHT_SYMTAB
        if self._symtab is None:
            raise RawKernelError(f"vmlinux has no symbol table: {path}")
        self._cache: Dict[str, Optional[Tuple[int, int]]] = {}

    def close(self) -> None:
        self._map.close()

    def lookup(self, names: Iterable[str]) -> Dict[str, Tuple[int, int]]:
        """{name: (address, size)} of the global or local symbols found."""
        want = [n for n in names if n not in self._cache]
        if want:
            strtab = self.sections[self._symtab[6]]
            str_start, str_size = strtab[4], strtab[5]
            m = self._map
            # Offsets in .strtab where each name starts (tail-merged string
            # tables may hold a name inside a longer one).
            offsets: Dict[int, str] = {}
            for name in want:
                key = name.encode() + b"\0"
                pos = m.find(key, str_start, str_start + str_size)
                while pos != -1:
                    offsets[pos - str_start] = name
                    pos = m.find(key, pos + 1, str_start + str_size)
            found: Dict[str, Tuple[int, int]] = {}
            sym_off, sym_size = self._symtab[4], self._symtab[5]
            for st_name, st_info, _other, st_shndx, st_value, st_size in \
                    struct.iter_unpack("<IBBHQQ", m[sym_off:sym_off + sym_size]):
                name = offsets.get(st_name)
                if name is not None and st_shndx != 0 and name not in found \
                        and st_info & 0xF != 4:  # not STT_FILE
                    found[name] = (st_value, st_size)
            for name in want:
                self._cache[name] = found.get(name)
        return {n: v for n in names if (v := self._cache.get(n)) is not None}

    def read(self, address: int, size: int) -> bytes:
        """Bytes at a link-time address, from the section that holds it."""
        for _name, stype, flags, addr, offset, sec_size, _link in self.sections:
            if flags & 2 and stype == 1 and addr <= address and \
                    address + size <= addr + sec_size:  # SHF_ALLOC, PROGBITS
                start = offset + address - addr
                return bytes(self._map[start:start + size])
        raise RawKernelError(f"vmlinux has no contents at {address:#x}: {self.path}")


def vmlinux_release(banner: bytes) -> str:
    m = _BANNER_RE.match(banner)
    return m.group(1).decode(errors="replace") if m else "an unknown release"


# -- the page tables -----------------------------------------------------------

def _entries(read_phys: ReadPhys, table: int) -> Tuple[int, ...]:
    return struct.unpack("<512Q", _read(read_phys, table, PAGE_SIZE))


def _read(read_phys: ReadPhys, address: int, size: int) -> bytes:
    try:
        data = read_phys(address, size)
    except RawKernelError:
        raise
    except Exception as e:  # the transport's own error type
        raise RawKernelError(f"cannot read guest physical memory at {address:#x}: "
                             f"{one_line(e)}") from None
    if len(data) != size:
        raise RawKernelError(f"short read of guest physical memory at {address:#x}")
    return bytes(data)


def kernel_image_mappings(read_phys: ReadPhys, pgd: int,
                          levels: int) -> List[Tuple[int, int, int]]:
    """(virtual, physical, size) of each present mapping in the 1 GiB from
    __START_KERNEL_map (the kernel image's 2 MiB pages, or 4 KiB ones where a
    2 MiB page was split), in address order."""
    table = pgd
    idx = [(START_KERNEL_MAP >> s) & 511 for s in (48, 39, 30)]
    walk = idx if levels == 5 else idx[1:]
    for i, index in enumerate(walk):
        entry = _entries(read_phys, table)[index]
        if not entry & _PAGE_PRESENT:
            return []
        if entry & _PAGE_PSE and i == len(walk) - 1:  # a 1 GiB page (pud)
            return [(START_KERNEL_MAP, entry & _ADDR_MASK & ~(PUD_SIZE - 1), PUD_SIZE)]
        table = entry & _ADDR_MASK
    out = []
    for i, pmd in enumerate(_entries(read_phys, table)):
        if not pmd & _PAGE_PRESENT:
            continue
        virt = START_KERNEL_MAP + i * PMD_SIZE
        if pmd & _PAGE_PSE:
            out.append((virt, pmd & _ADDR_MASK & ~(PMD_SIZE - 1), PMD_SIZE))
            continue
        for j, pte in enumerate(_entries(read_phys, pmd & _ADDR_MASK)):
            if pte & _PAGE_PRESENT:
                out.append((virt + j * PAGE_SIZE, pte & _ADDR_MASK, PAGE_SIZE))
    return out


def _virt_to_phys(maps: List[Tuple[int, int, int]], virt: int) -> Optional[int]:
    for v, p, size in maps:
        if v <= virt < v + size:
            return p + virt - v
    return None


def _guest_release(read_phys: ReadPhys, maps: List[Tuple[int, int, int]],
                   limit: int = 96 << 20) -> Optional[str]:
    """The release in the guest's own ``Linux version ...`` banner, searched
    for in the kernel image's memory (an error path only: a few seconds)."""
    tail = b""
    scanned = 0
    chunk = 1 << 20
    for _virt, phys, size in _merge(maps):
        for off in range(0, size, chunk):
            try:
                data = tail + read_phys(phys + off, min(chunk, size - off))
            except Exception:
                return None
            m = _BANNER_RE.search(data)
            if m:
                return m.group(1).decode(errors="replace")
            tail = data[-256:]
            scanned += chunk
            if scanned >= limit:
                return None
        tail = b""
    return None


def _merge(maps: List[Tuple[int, int, int]]) -> List[Tuple[int, int, int]]:
    """Physically and virtually contiguous mappings joined."""
    out: List[Tuple[int, int, int]] = []
    for v, p, size in maps:
        if out and out[-1][0] + out[-1][2] == v and out[-1][1] + out[-1][2] == p:
            out[-1] = (out[-1][0], out[-1][1], out[-1][2] + size)
        else:
            out.append((v, p, size))
    return out


def _pgd_candidates(cr3: int) -> List[int]:
    """The kernel pgd from CR3: without the PCID bits; with PTI a CPU stopped
    in user mode has the user copy loaded, the kernel one 4 KiB below it."""
    base = cr3 & _ADDR_MASK
    return [base] if not base & PAGE_SIZE else [base & ~PAGE_SIZE, base]


# -- putting it together -------------------------------------------------------

def translate(read_phys: ReadPhys, pgd: int, levels: int, virt: int) -> Optional[int]:
    """The physical address of a virtual one through the page tables at pgd
    (as the MMU walks them: 1 GiB and 2 MiB leaves), None if not mapped."""
    table = pgd
    shifts = (48, 39, 30, 21, 12)[5 - levels:]
    for shift in shifts:
        entry, = struct.unpack("<Q", _read(read_phys, table + ((virt >> shift) & 511) * 8, 8))
        if not entry & _PAGE_PRESENT:
            return None
        if shift == 12 or (shift in (21, 30) and entry & _PAGE_PSE):
            size = 1 << shift
            return (entry & _ADDR_MASK & ~(size - 1)) | (virt & (size - 1))
        table = entry & _ADDR_MASK
    return None


def read_translated(read_phys: ReadPhys, virt_to_phys: Callable[[int], Optional[int]],
                    virt: int, size: int, page_size: int = PAGE_SIZE) -> Optional[bytes]:
    """size bytes at a virtual address, translated page by page (pages of
    ``page_size``) by ``virt_to_phys``; None if any is unmapped."""
    out = b""
    while size > 0:
        phys = virt_to_phys(virt)
        if phys is None:
            return None
        n = min(size, page_size - (virt & (page_size - 1)))
        out += _read(read_phys, phys, n)
        virt += n
        size -= n
    return out


def _read_virt(read_phys: ReadPhys, pgd: int, levels: int, virt: int,
               size: int) -> Optional[bytes]:
    """size bytes at a virtual address of x86-64's tables at ``pgd``."""
    return read_translated(read_phys, lambda v: translate(read_phys, pgd, levels, v),
                           virt, size)


def idt_gate_target(read_phys: ReadPhys, pgd: int, levels: int,
                    idt_base: int, vector: int = 0) -> Optional[int]:
    """Where IDT gate ``vector`` points (a present 64-bit interrupt or trap
    gate, read through the page tables), None if it is not one."""
    gate = _read_virt(read_phys, pgd, levels, idt_base + 16 * vector, 16)
    if gate is None:
        return None
    low, _sel, _ist, type_attr, mid, high = struct.unpack_from("<HHBBHI", gate)
    if not type_attr & 0x80 or type_attr & 0x0E != 0x0E:  # P, type 0xE/0xF
        return None
    return low | mid << 16 | high << 32


@dataclass(frozen=True)
class FoundKernel:
    """The kernel find_kernel() found in guest memory."""

    vmcoreinfo: bytes     # for drgn's set_linux_kernel_custom()
    description: str      # one line
    release: str
    levels: int
    kaslr_offset: int     # KERNELOFFSET
    phys_base: Optional[int]  # NUMBER(phys_base) (x86-64; None on arm64)
    method: str           # how the offset was found, for a one-line note
    #: where the kernel keeps its own VMCOREINFO text (vmcoreinfo_data, a
    #: char *, and vmcoreinfo_size), relocated; None without CRASH_CORE
    vmcoreinfo_vars: Optional[Tuple[int, int]] = None
    arch: str = "x86_64"
    #: arm64: NUMBER(kimage_voffset), NUMBER(PHYS_OFFSET), NUMBER(VA_BITS)
    kimage_voffset: Optional[int] = None
    phys_offset: Optional[int] = None
    va_bits: Optional[int] = None


class _Link:
    """The link-time facts of a vmlinux that locate_kernel() uses."""

    def __init__(self, vmlinux: str) -> None:
        syms = VmlinuxSymbols(vmlinux)
        try:
            found = syms.lookup(["_text", "_stext", "linux_banner", "init_top_pgt",
                                 "swapper_pg_dir", "asm_exc_divide_error",
                                 "mem_section", "page_ext_init", "page_ext_size",
                                 "vmcoreinfo_data", "vmcoreinfo_size"])
            for name in ("_text", "linux_banner"):
                if name not in found:
                    raise RawKernelError(f"vmlinux has no symbol {name}: is {vmlinux} "
                                         "a Linux kernel's vmlinux?")
            pgt = found.get("init_top_pgt") or found.get("swapper_pg_dir")
            if pgt is None:
                raise RawKernelError(f"vmlinux has no init_top_pgt: not an x86-64 "
                                     f"kernel? ({vmlinux})")
            self.pgt = pgt[0]
            self.text = found["_text"][0]
            self.stext = found.get("_stext", found["_text"])[0]
            self.divide_error = found.get("asm_exc_divide_error", (None, 0))[0]
            read_link_common(self, syms, found)
        finally:
            syms.close()


def read_link_common(link: Any, syms: "VmlinuxSymbols", found: Dict[str, Tuple[int, int]]
                     ) -> None:
    """What every architecture's link facts read alike from vmlinux's
    symbols ``found``: vmcoreinfo_data/_size (the kernel's own VMCOREINFO),
    SPARSEMEM and sizeof(struct mem_section), linux_banner and the release
    in it."""
    link.vmcoreinfo_vars = (found["vmcoreinfo_data"][0], found["vmcoreinfo_size"][0]) \
        if "vmcoreinfo_data" in found and "vmcoreinfo_size" in found else None
    link.sparsemem = "mem_section" in found
    # sizeof(struct mem_section): section_mem_map and usage, plus
    # page_ext and a pad with CONFIG_PAGE_EXTENSION.
    link.sizeof_mem_section = 32 if ("page_ext_init" in found or
                                     "page_ext_size" in found) else 16
    link.banner_addr, banner_size = found["linux_banner"]
    banner = syms.read(link.banner_addr, banner_size or 256)
    if banner_size == 0:
        banner = banner.split(b"\0")[0] + b"\0"
    link.banner = banner
    link.release = vmlinux_release(banner)


def _found(link: _Link, levels: int, offset: int, text_phys: int,
           method: str) -> FoundKernel:
    text_virt = link.text + offset
    # __pa_symbol(x) = x - __START_KERNEL_map + phys_base
    phys_base = text_phys - (text_virt - START_KERNEL_MAP)
    info = (f"OSRELEASE={link.release}\n"
            f"PAGESIZE={PAGE_SIZE}\n"
            f"KERNELOFFSET={offset & (1 << 64) - 1:x}\n"
            f"SYMBOL(_stext)={link.stext + offset & (1 << 64) - 1:x}\n"
            f"SYMBOL(swapper_pg_dir)={link.pgt + offset & (1 << 64) - 1:x}\n"
            f"SYMBOL(init_top_pgt)={link.pgt + offset & (1 << 64) - 1:x}\n"
            f"NUMBER(phys_base)={phys_base}\n"
            f"NUMBER(pgtable_l5_enabled)={1 if levels == 5 else 0}\n")
    if link.sparsemem:
        # arch/x86/include/asm/sparsemem.h; NR_SECTION_ROOTS of SPARSEMEM_EXTREME
        max_physmem_bits = 52 if levels == 5 else 46
        roots = (1 << max_physmem_bits - SECTION_SIZE_BITS) // (
            PAGE_SIZE // link.sizeof_mem_section)
        info += (f"LENGTH(mem_section)={roots}\n"
                 f"NUMBER(SECTION_SIZE_BITS)={SECTION_SIZE_BITS}\n"
                 f"NUMBER(MAX_PHYSMEM_BITS)={max_physmem_bits}\n")
    desc = (f"Linux {link.release}, {levels}-level paging, KASLR offset {offset:#x}, "
            f"_text at {text_virt:#x} (physical {text_phys:#x})")
    own = None if link.vmcoreinfo_vars is None else (
        link.vmcoreinfo_vars[0] + offset, link.vmcoreinfo_vars[1] + offset)
    return FoundKernel(info.encode(), desc, link.release, levels, offset, phys_base,
                       method, own)


def locate_kernel(read_phys: ReadPhys, cr3: int, cr4: int, vmlinux: str,
                  cr0: Optional[int] = None, idt_base: Optional[int] = None,
                  subject: str = "the guest") -> FoundKernel:
    """The kernel the CPU runs, which must be the kernel of ``vmlinux``.

    read_phys(address, size) -> bytes reads guest physical memory; cr0 is
    optional (only to say "paging is off" rather than "no kernel").  With
    the IDT base (a QEMU dump's CPU state), gate 0 gives the KASLR offset
    (it points at asm_exc_divide_error); otherwise, or if that fails, the
    kernel image mapping at __START_KERNEL_map does (its first page is
    _text).  Either way the guest's linux_banner must equal vmlinux's, byte
    for byte.  ``subject`` names the guest in errors ("the dump")."""
    live = subject == "the guest"
    cpu = "the guest CPU" if live else f"the CPU in {subject}"
    if cr0 is not None and not cr0 & X86_CR0_PG:
        raise RawKernelError(f"{cpu} has paging off: it is not running a Linux "
                             "kernel (yet)")
    if not cr4 & X86_CR4_PAE:
        raise RawKernelError(f"{cpu} is not in 4- or 5-level paging "
                             f"(CR4={cr4:#x}): not an x86-64 Linux kernel")
    levels = 5 if cr4 & X86_CR4_LA57 else 4
    link = _Link(vmlinux)

    def banner_matches(pgd: int, offset: int) -> bool:
        return _read_virt(read_phys, pgd, levels, link.banner_addr + offset,
                          len(link.banner)) == link.banner

    if idt_base is not None and link.divide_error is not None:
        for pgd in _pgd_candidates(cr3):
            try:
                handler = idt_gate_target(read_phys, pgd, levels, idt_base)
                if handler is None:
                    continue
                offset = handler - link.divide_error
                text_phys = translate(read_phys, pgd, levels, link.text + offset)
                if text_phys is not None and banner_matches(pgd, offset):
                    return _found(link, levels, offset, text_phys,
                                  "the IDT (QEMU CPU state)")
            except RawKernelError:  # tables pointing outside memory: try on
                continue

    first_maps: Optional[List[Tuple[int, int, int]]] = None
    for pgd in _pgd_candidates(cr3):
        maps = kernel_image_mappings(read_phys, pgd, levels)
        if not maps:
            continue
        if first_maps is None:
            first_maps = maps
        text_virt, text_phys, _ = maps[0]
        offset = text_virt - link.text
        if banner_matches(pgd, offset):
            return _found(link, levels, offset, text_phys,
                          f"the kernel image mapping at {START_KERNEL_MAP:#x}")

    release = link.release
    if first_maps is None:
        raise RawKernelError(f"{subject} is not {'running' if live else 'of'} a Linux "
                             f"kernel: nothing is mapped at {START_KERNEL_MAP:#x} "
                             f"(CR3={cr3:#x})")
    runs = "runs" if live else "is of"
    guest = _guest_release(read_phys, first_maps)
    if guest is None:
        raise RawKernelError(f"vmlinux is for {release} but {subject} does not run it "
                             "(no matching linux_banner; no Linux banner found in "
                             f"the kernel image of {subject})")
    raise RawKernelError(f"vmlinux is for {release} but {subject} {runs} {guest}"
                         if guest != release else
                         f"vmlinux is for {release} but {subject} {runs} another "
                         f"build of {guest} (linux_banner differs)")


def find_kernel(read_phys: ReadPhys, cr3: int, cr4: int, vmlinux: str,
                cr0: Optional[int] = None) -> Tuple[bytes, str]:
    """(VMCOREINFO for drgn's set_linux_kernel_custom(), one-line description)
    of the kernel the guest runs: see locate_kernel()."""
    found = locate_kernel(read_phys, cr3, cr4, vmlinux, cr0=cr0)
    return found.vmcoreinfo, found.description


def x86_64_platform() -> Any:
    import drgn

    return drgn.Platform(drgn.Architecture.X86_64,
                         drgn.PlatformFlags.IS_64_BIT | drgn.PlatformFlags.IS_LITTLE_ENDIAN)


def platform(arch: str) -> Any:
    """drgn's Platform of a FoundKernel's architecture."""
    import drgn

    if arch == "x86_64":
        return x86_64_platform()
    return drgn.Platform(drgn.Architecture.AARCH64,
                         drgn.PlatformFlags.IS_64_BIT | drgn.PlatformFlags.IS_LITTLE_ENDIAN)


def program_from_memory(read_phys: ReadPhys, mem_size: int, cr3: int, cr4: int,
                        vmlinux: str, is_live: bool = True,
                        cr0: Optional[int] = None, prog_name: str = "lx-pagewalk") -> Any:
    """A drgn Program over guest physical memory [0, mem_size) read with
    read_phys, the kernel found by find_kernel() and vmlinux's debug info.

    read_phys may raise drgn.FaultError for addresses it cannot read (holes
    in the physical address space): drgn passes it on to the reader.
    find_kernel()'s description is kept in prog.cache["drgn_pagewalk_rawkernel"]."""
    found = locate_kernel(read_phys, cr3, cr4, vmlinux, cr0=cr0)

    def read_fn(address: int, count: int, offset: int, physical: bool) -> bytes:
        return read_phys(address, count)

    return program_for_kernel(found, [(0, mem_size, read_fn)], [vmlinux], is_live,
                              "the guest's memory", prog_name)


Segment = Tuple[int, int, Callable[[int, int, int, bool], bytes]]


def program_for_kernel(found: FoundKernel, segments: Iterable[Segment],
                       symbols: Sequence[str], is_live: bool,
                       subject: str = "the guest's memory",
                       prog_name: str = "drgn-pagewalk") -> Any:
    """A drgn Program over physical memory segments (start, size, drgn
    read_fn), with the VMCOREINFO of ``found`` and the debug info of
    ``symbols`` (the first is the vmlinux); ``prog_name``, the front end,
    says how to give another vmlinux (no_debug_info())."""
    import logging

    import drgn

    logging.getLogger("drgn").setLevel(logging.CRITICAL)
    segments = list(segments)
    own = kernel_vmcoreinfo(found, segments, is_live)
    prog = drgn.Program(platform(found.arch))
    for start, size, read_fn in segments:
        prog.add_memory_segment(start, size, read_fn, physical=True)
    prog.set_linux_kernel_custom(own or found.vmcoreinfo, is_live)
    prog.cache["drgn_pagewalk_own_vmcoreinfo"] = own is not None
    prog.cache["drgn_pagewalk_derived_vmcoreinfo"] = found.vmcoreinfo
    try:
        prog.load_debug_info(list(symbols))
    except drgn.MissingDebugInfoError:
        pass  # said just below
    except (ValueError, OSError) as e:
        raise RawKernelError(f"cannot load debug info: {one_line(e)}") from None
    # a vmlinux with symbols but no DWARF loads without an error
    require_debug_info(prog, f"{subject} ({symbols[0]} has none)", prog_name)
    try:
        prog["init_task"].comm.string_()
    except (LookupError, drgn.FaultError) as e:
        raise RawKernelError(f"vmlinux {symbols[0]} does not work on {subject}: "
                             f"{one_line(e)}") from None
    prog.cache["drgn_pagewalk_rawkernel"] = found.description
    return prog


def kernel_vmcoreinfo(found: FoundKernel, segments: List[Segment],
                      is_live: bool) -> Optional[bytes]:
    """The kernel's own VMCOREINFO text, as it wrote it at boot into
    vmcoreinfo_data (what kdump would put in the dump's note), read through
    the derived VMCOREINFO's page tables; None if the kernel has none or it
    does not name the same release and KASLR offset.  It has everything
    drgn's helpers look for (page flag and page type values ...), where the
    derived one has only what locating the kernel gives."""
    import drgn

    if found.vmcoreinfo_vars is None:
        return None
    prog = drgn.Program(platform(found.arch))
    for start, size, read_fn in segments:
        prog.add_memory_segment(start, size, read_fn, physical=True)
    try:
        prog.set_linux_kernel_custom(found.vmcoreinfo, is_live)
        data_ptr, size_addr = found.vmcoreinfo_vars
        addr = prog.read_u64(data_ptr)
        size = prog.read_u64(size_addr)
        if not addr or not 0 < size <= PAGE_SIZE:
            return None
        text = prog.read(addr, size)
    except (drgn.FaultError, ValueError, OverflowError):
        return None
    lines = set(text.decode(errors="replace").splitlines())
    if (f"OSRELEASE={found.release}" not in lines
            or f"KERNELOFFSET={found.kaslr_offset & (1 << 64) - 1:x}" not in lines):
        return None
    if found.arch == "arm64":
        # every value derived from the MMU must be the kernel's own
        derived = set(found.vmcoreinfo.decode().splitlines())
        if not derived <= lines:
            return None
    return text


def system_ram(prog: Any) -> List[Tuple[int, int]]:
    """[start, end) of the top-level "System RAM" resources (/proc/iomem)."""
    out = []
    res = prog["iomem_resource"].child
    while res:
        name = res.name.string_() if res.name else b""
        if name == b"System RAM":
            out.append((res.start.value_(), res.end.value_() + 1))
        res = res.sibling
    return out


__all__ = ["RawKernelError", "FoundKernel", "find_kernel", "locate_kernel",
           "program_for_kernel", "program_from_memory", "system_ram", "translate",
           "VmlinuxSymbols"]
