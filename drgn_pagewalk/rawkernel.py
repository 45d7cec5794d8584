"""Find an x86-64 Linux kernel in raw guest physical memory, without a
VMCOREINFO: from the CPU's CR3 and CR4, walk the kernel half of the page
tables to the kernel image mapping, work out the KASLR offset and phys_base,
check the vmlinux against the guest (``linux_banner``, byte for byte) and
write the VMCOREINFO drgn needs.

Transport-neutral: memory comes from ``read_phys(address, size) -> bytes``,
which may be QEMU's gdbstub (gdb_scripts/pagewalk.py), a QEMU ELF dump
without VMCOREINFO (CR3/CR4 from its QEMU note) or anything else.  Nothing
here imports gdb.

    info, description = find_kernel(read_phys, cr3, cr4, "vmlinux")
    prog = program_from_memory(read_phys, mem_size, cr3, cr4, "vmlinux")

Every failure is a :class:`RawKernelError`, one line.
"""

from __future__ import annotations

import mmap
import re
import struct
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from .arch.x86_64 import _PAGE_PRESENT, _PAGE_PSE, START_KERNEL_MAP
from .commands import PagewalkError, one_line

ReadPhys = Callable[[int, int], bytes]

PAGE_SIZE = 4096
PMD_SIZE = 1 << 21
PUD_SIZE = 1 << 30
X86_CR0_PG = 1 << 31
X86_CR4_PAE = 1 << 5
X86_CR4_LA57 = 1 << 12
_ADDR_MASK = 0x000FFFFFFFFFF000  # bits 12-51: the frame of a table or page
_BANNER_RE = re.compile(rb"Linux version (\d[^\s\x00]*) \(")


class RawKernelError(PagewalkError):
    """One line: why the kernel could not be found or does not match."""


# -- the vmlinux: an ELF symbol table, read without debug info ----------------

class VmlinuxSymbols:
    """The few link-time facts find_kernel() needs from a vmlinux: symbol
    addresses and sizes from .symtab and the bytes of allocated sections."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            with open(path, "rb") as f:
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as e:
            raise RawKernelError(f"cannot read vmlinux {path}: {e}") from None
        m = self._map
        if m[:4] != b"\x7fELF" or m[4] != 2 or m[5] != 1:
            raise RawKernelError(f"not a 64-bit little-endian ELF file: {path}")
        e_machine, = struct.unpack_from("<H", m, 18)
        if e_machine != 62:  # EM_X86_64
            raise RawKernelError(f"not an x86-64 vmlinux: {path}")
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

def find_kernel(read_phys: ReadPhys, cr3: int, cr4: int, vmlinux: str,
                cr0: Optional[int] = None) -> Tuple[bytes, str]:
    """(VMCOREINFO for drgn's set_linux_kernel_custom(), one-line description)
    of the kernel the guest runs, which must be the kernel of ``vmlinux``.

    read_phys(address, size) -> bytes reads guest physical memory; cr0 is
    optional (only to say "paging is off" rather than "no kernel")."""
    if cr0 is not None and not cr0 & X86_CR0_PG:
        raise RawKernelError("the guest CPU has paging off: it is not running "
                             "a Linux kernel (yet)")
    if not cr4 & X86_CR4_PAE:
        raise RawKernelError(f"the guest CPU is not in 4- or 5-level paging "
                             f"(CR4={cr4:#x}): not an x86-64 Linux kernel")
    levels = 5 if cr4 & X86_CR4_LA57 else 4
    syms = VmlinuxSymbols(vmlinux)
    try:
        found = syms.lookup(["_text", "linux_banner", "init_top_pgt", "swapper_pg_dir"])
        for name in ("_text", "linux_banner"):
            if name not in found:
                raise RawKernelError(f"vmlinux has no symbol {name}: is {vmlinux} "
                                     "a Linux kernel's vmlinux?")
        pgt = found.get("init_top_pgt") or found.get("swapper_pg_dir")
        if pgt is None:
            raise RawKernelError(f"vmlinux has no init_top_pgt: not an x86-64 "
                                 f"kernel? ({vmlinux})")
        text_link = found["_text"][0]
        banner_link, banner_size = found["linux_banner"]
        banner = syms.read(banner_link, banner_size or 256)
        if banner_size == 0:
            banner = banner.split(b"\0")[0] + b"\0"
    finally:
        syms.close()
    release = vmlinux_release(banner)

    first_maps: Optional[List[Tuple[int, int, int]]] = None
    for pgd in _pgd_candidates(cr3):
        maps = kernel_image_mappings(read_phys, pgd, levels)
        if not maps:
            continue
        if first_maps is None:
            first_maps = maps
        text_virt, text_phys, _ = maps[0]
        offset = text_virt - text_link
        # __pa_symbol(x) = x - __START_KERNEL_map + phys_base
        phys_base = text_phys - (text_virt - START_KERNEL_MAP)
        banner_phys = _virt_to_phys(maps, banner_link + offset)
        if banner_phys is None:
            continue
        if _read(read_phys, banner_phys, len(banner)) != banner:
            continue
        info = (f"OSRELEASE={release}\n"
                f"PAGESIZE={PAGE_SIZE}\n"
                f"KERNELOFFSET={offset & (1 << 64) - 1:x}\n"
                f"SYMBOL(swapper_pg_dir)={pgt[0] + offset:x}\n"
                f"NUMBER(phys_base)={phys_base}\n"
                f"NUMBER(pgtable_l5_enabled)={1 if levels == 5 else 0}\n").encode()
        desc = (f"Linux {release}, {levels}-level paging, KASLR offset {offset:#x}, "
                f"_text at {text_virt:#x} (physical {text_phys:#x})")
        return info, desc

    if first_maps is None:
        raise RawKernelError(f"the guest is not running a Linux kernel: nothing is "
                             f"mapped at {START_KERNEL_MAP:#x} (CR3={cr3:#x})")
    guest = _guest_release(read_phys, first_maps)
    if guest is None:
        raise RawKernelError(f"vmlinux is for {release} but the guest does not run it "
                             "(no matching linux_banner; no Linux banner found in "
                             "the guest's kernel image)")
    raise RawKernelError(f"vmlinux is for {release} but the guest runs {guest}"
                         if guest != release else
                         f"vmlinux is for {release} but the guest runs another "
                         f"build of {guest} (linux_banner differs)")


def x86_64_platform() -> Any:
    import drgn

    return drgn.Platform(drgn.Architecture.X86_64,
                         drgn.PlatformFlags.IS_64_BIT | drgn.PlatformFlags.IS_LITTLE_ENDIAN)


def program_from_memory(read_phys: ReadPhys, mem_size: int, cr3: int, cr4: int,
                        vmlinux: str, is_live: bool = True,
                        cr0: Optional[int] = None) -> Any:
    """A drgn Program over guest physical memory [0, mem_size) read with
    read_phys, the kernel found by find_kernel() and vmlinux's debug info.

    read_phys may raise drgn.FaultError for addresses it cannot read (holes
    in the physical address space): drgn passes it on to the reader.
    find_kernel()'s description is kept in prog.cache["drgn_pagewalk_rawkernel"]."""
    import logging

    import drgn

    info, description = find_kernel(read_phys, cr3, cr4, vmlinux, cr0=cr0)

    def read_fn(address: int, count: int, offset: int, physical: bool) -> bytes:
        return read_phys(address, count)

    logging.getLogger("drgn").setLevel(logging.CRITICAL)
    prog = drgn.Program(x86_64_platform())
    prog.add_memory_segment(0, mem_size, read_fn, physical=True)
    prog.set_linux_kernel_custom(info, is_live)
    try:
        prog.load_debug_info([vmlinux])
    except drgn.MissingDebugInfoError as e:
        raise RawKernelError(f"no usable debug info in {vmlinux}: {one_line(e)}") \
            from None
    except (ValueError, OSError) as e:
        raise RawKernelError(f"cannot load debug info: {one_line(e)}") from None
    try:
        prog["init_task"].comm.string_()
    except (LookupError, drgn.FaultError) as e:
        raise RawKernelError(f"vmlinux {vmlinux} does not work on the guest's memory: "
                             f"{one_line(e)}") from None
    prog.cache["drgn_pagewalk_rawkernel"] = description
    return prog


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


__all__ = ["RawKernelError", "find_kernel", "program_from_memory", "system_ram",
           "VmlinuxSymbols"]
