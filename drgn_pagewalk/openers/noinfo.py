"""QEMU x86-64 ELF dumps without VMCOREINFO.

QEMU's ``dump-guest-memory`` writes the guest's VMCOREINFO note only when the
guest gave it one (``-device vmcoreinfo`` and the guest's ``qemu_fw_cfg``
module).  Without it drgn 0.3.0 refuses the dump ("unrecognized QEMU memory
dump").  What the dump still has is enough: QEMU's CPU-state note of each CPU
(CR0, CR3, CR4 and the IDT base), and memory.  Gate 0 of the IDT, read through
CR3's page tables, points at ``asm_exc_divide_error``: minus vmlinux's address,
that is the KASLR offset (rawkernel.locate_kernel(), shared with the gdb front
end; the kernel image mapping is the fallback); ``phys_base`` follows from
where ``_text`` is mapped, the paging levels from CR4.LA57, the release from
``linux_banner`` (which must equal vmlinux's, byte for byte).  The Program is
then made with one physical memory segment per PT_LOAD and
``set_linux_kernel_custom``, and everything else works unchanged.

    prog = open_noinfo_dump("vmcore", ["vmlinux"])
    prog.cache["drgn_pagewalk_note"]      # one line: what was found, and how
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import PagewalkError, no_debug_info
from .elf import map_elf64
from .rawkernel import (
    FoundKernel,
    RawKernelError,
    Segment,
    _guest_release,
    _pgd_candidates,
    kernel_image_mappings,
    locate_kernel,
    program_for_kernel,
)

EM_X86_64 = 62
PT_LOAD = 1
PT_NOTE = 4
# QEMU's x86 CPU-state note (target/i386/arch_dump.c, QEMUCPUState): u32
# version, u32 size, 18 u64 registers (rax..r15, rip, rflags), 10 segments of
# 24 bytes (cs ds es fs gs ss ldt tr gdt idt: u32 selector, limit, flags, pad,
# u64 base), then cr[0..4].
_IDT_BASE = 8 + 18 * 8 + 9 * 24 + 16
_CR0 = 8 + 18 * 8 + 10 * 24
_CR3 = _CR0 + 3 * 8
_CR4 = _CR0 + 4 * 8


@dataclass(frozen=True)
class CpuState:
    """The registers of one CPU that find the kernel."""

    cpu: int
    cr0: int
    cr3: int
    cr4: int
    idt_base: int


class ElfDump:
    """An ELF core dump read directly: its PT_LOAD segments (guest physical
    memory) and its notes."""

    def __init__(self, path: str) -> None:
        self.path = path
        m = self._map = map_elf64(path, "vmcore")
        self.machine, = struct.unpack_from("<H", m, 18)
        phoff, = struct.unpack_from("<Q", m, 32)
        phentsize, phnum = struct.unpack_from("<HH", m, 54)
        # (physical address, size in the file, file offset)
        self.loads: List[Tuple[int, int, int]] = []
        self.notes: List[Tuple[str, int, bytes]] = []
        for i in range(phnum):
            p_type, _flags, p_offset, _vaddr, p_paddr, p_filesz = struct.unpack_from(
                "<IIQQQQ", m, phoff + i * phentsize)
            if p_offset + p_filesz > len(m):
                raise PagewalkError(f"vmcore is truncated: {path}")
            if p_type == PT_LOAD and p_filesz:
                self.loads.append((p_paddr, p_filesz, p_offset))
            elif p_type == PT_NOTE:
                self.notes.extend(_parse_notes(m[p_offset:p_offset + p_filesz]))
        self.loads.sort()

    def has_note(self, name: str) -> bool:
        return any(n == name for n, _type, _desc in self.notes)

    def cpu_states(self) -> List[CpuState]:
        """QEMU's x86 CPU state of each CPU, in the dump's order."""
        out = []
        for name, ntype, desc in self.notes:
            if name == "QEMU" and ntype == 0 and len(desc) >= _CR4 + 8:
                cr0, = struct.unpack_from("<Q", desc, _CR0)
                cr3, = struct.unpack_from("<Q", desc, _CR3)
                cr4, = struct.unpack_from("<Q", desc, _CR4)
                idt, = struct.unpack_from("<Q", desc, _IDT_BASE)
                out.append(CpuState(len(out), cr0, cr3, cr4, idt))
        return out

    def read_phys(self, address: int, size: int) -> bytes:
        """Guest physical memory; an address no PT_LOAD holds is an error."""
        out = b""
        while size > 0:
            for paddr, filesz, offset in self.loads:
                if paddr <= address < paddr + filesz:
                    n = min(size, paddr + filesz - address)
                    start = offset + address - paddr
                    out += self._map[start:start + n]
                    address += n
                    size -= n
                    break
            else:
                raise RawKernelError(f"the dump has no memory at physical "
                                     f"address {address:#x}")
        return out

    def segments(self) -> List[Segment]:
        """(start, size, read_fn) of each PT_LOAD, for drgn's add_memory_segment."""
        m = self._map

        def reader(base: int) -> Any:
            def read_fn(address: int, count: int, offset: int, physical: bool) -> bytes:
                return m[base + offset:base + offset + count]
            return read_fn

        return [(paddr, filesz, reader(offset)) for paddr, filesz, offset in self.loads]


def _parse_notes(data: bytes) -> List[Tuple[str, int, bytes]]:
    out = []
    pos = 0
    while pos + 12 <= len(data):
        namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
        name_at = pos + 12
        desc_at = name_at + (namesz + 3 & ~3)
        name = bytes(data[name_at:name_at + namesz]).rstrip(b"\0").decode(errors="replace")
        out.append((name, ntype, bytes(data[desc_at:desc_at + descsz])))
        pos = desc_at + (descsz + 3 & ~3)
    return out


def _default_vmlinux(dump: ElfDump, state: CpuState) -> str:
    """No -s: the release from the guest's banner, then Debian's and the
    kernel build's usual places for its vmlinux."""
    levels = 5 if state.cr4 & (1 << 12) else 4
    release = None
    try:
        for pgd in _pgd_candidates(state.cr3):
            maps = kernel_image_mappings(dump.read_phys, pgd, levels)
            if maps:
                release = _guest_release(dump.read_phys, maps)
                break
    except RawKernelError:
        pass
    if release is None:
        raise PagewalkError("the dump has no VMCOREINFO: give the kernel's vmlinux "
                            "with -s")
    candidates = [f"/usr/lib/debug/boot/vmlinux-{release}",
                  f"/usr/lib/debug/lib/modules/{release}/vmlinux",
                  f"/lib/modules/{release}/build/vmlinux"]
    for path in candidates:
        if os.path.exists(path):
            return path
    raise no_debug_info(release, f"{dump.path} (a dump without VMCOREINFO)")


def find_dump_kernel(dump: ElfDump, vmlinux: Optional[str]) -> Tuple[FoundKernel, str]:
    """(the kernel found, the vmlinux used) from the CPU state of the first
    CPU that gives one."""
    if dump.machine != EM_X86_64:
        raise PagewalkError(f"cannot open vmcore {dump.path}: it has no VMCOREINFO, "
                            "and only x86-64 QEMU dumps can do without it")
    states = dump.cpu_states()
    if not states:
        raise PagewalkError(f"cannot open vmcore {dump.path}: it has neither VMCOREINFO "
                            "nor QEMU's CPU state")
    paging = [s for s in states if s.cr0 & (1 << 31)]
    if vmlinux is None:
        vmlinux = _default_vmlinux(dump, (paging or states)[0])
    first: Optional[RawKernelError] = None
    for state in paging or states:
        try:
            found = locate_kernel(dump.read_phys, state.cr3, state.cr4, vmlinux,
                                  cr0=state.cr0, idt_base=state.idt_base,
                                  subject="the dump")
            return found, vmlinux
        except RawKernelError as e:
            first = first or e
    assert first is not None
    raise first


def open_noinfo_dump(path: str, symbols: Sequence[str]) -> Any:
    """A drgn Program for a QEMU x86-64 ELF dump without VMCOREINFO, or a
    one-line PagewalkError.  The note on what was found is kept in
    prog.cache["drgn_pagewalk_note"], the FoundKernel in
    prog.cache["drgn_pagewalk_noinfo"]."""
    dump = ElfDump(path)
    found, vmlinux = find_dump_kernel(dump, symbols[0] if symbols else None)
    prog = program_for_kernel(found, dump.segments(), list(symbols) or [vmlinux],
                              is_live=False, subject="the dump")
    prog.cache["drgn_pagewalk_elfdump"] = dump  # its mmap lives as long as prog
    prog.cache["drgn_pagewalk_noinfo"] = found
    prog.cache["drgn_pagewalk_note"] = (
        f"no VMCOREINFO in the dump: KASLR offset {found.kaslr_offset:#x} found from "
        f"{found.method}; phys_base {found.phys_base:#x}; Linux {found.release}, "
        f"{found.levels}-level paging"
        + ("; the kernel's own VMCOREINFO read from its vmcoreinfo_data"
           if prog.cache.get("drgn_pagewalk_own_vmcoreinfo") else ""))
    return prog


def vmcoreinfo_of(dump: ElfDump) -> Dict[str, str]:
    """The dump's VMCOREINFO note as {key: value} (empty if it has none)."""
    for name, _type, desc in dump.notes:
        if name == "VMCOREINFO":
            return dict(line.split("=", 1) for line in
                        desc.decode(errors="replace").splitlines() if "=" in line)
    return {}


__all__ = ["CpuState", "ElfDump", "find_dump_kernel", "open_noinfo_dump", "vmcoreinfo_of"]
