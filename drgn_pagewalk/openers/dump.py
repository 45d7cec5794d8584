"""Opening a crash dump (ELF or kdump-compressed) and its vmlinux as a drgn
Program, with every failure one line: a missing or truncated vmcore, a
vmlinux from another kernel, no debug info.  QEMU's x86-64 ELF dumps without
VMCOREINFO go to noinfo.py.  live.py and qmp.py load their symbols the same
way (_load_symbols())."""

from __future__ import annotations

import os
from typing import Sequence

from ..errors import PagewalkError, one_line
from ..target.missing import require_debug_info

#: The CLI's name, in the errors its openers raise (errors.GIVE_VMLINUX).
NAME = "drgn-pagewalk"


def _check_file(path: str, what: str) -> None:
    if not os.path.exists(path):
        raise PagewalkError(f"{what} not found: {path}")
    if not os.path.isfile(path):
        raise PagewalkError(f"{what} is not a file: {path}")
    if not os.access(path, os.R_OK):
        raise PagewalkError(f"{what} is not readable: {path}")


def _check_elf_complete(path: str) -> None:
    """An ELF vmcore must hold every byte its program headers promise:
    a dump cut short (disk full, interrupted copy) is refused up front."""
    import struct

    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:  # ELFCLASS64 only
            return
        size = os.fstat(f.fileno()).st_size
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    if len(table) < phentsize * phnum:
        raise PagewalkError(f"vmcore is truncated: {path} ({size} bytes)")
    need = 0
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", table, i * phentsize)
        if p_type in (1, 4):  # PT_LOAD, PT_NOTE
            need = max(need, p_offset + p_filesz)
    if size < need:
        raise PagewalkError(f"vmcore is truncated: {path} has {size} of {need} bytes")


def _x86_64_platform():  # type: ignore[no-untyped-def]
    from drgn import Architecture, Platform, PlatformFlags

    return Platform(Architecture.X86_64,
                    PlatformFlags.IS_64_BIT | PlatformFlags.IS_LITTLE_ENDIAN)


def open_program(core: str, symbols: Sequence[str]):  # type: ignore[no-untyped-def]
    """A drgn Program for a vmcore and its vmlinux, or a one-line error.

    QEMU's kdump-compressed dumps carry no architecture name; drgn then needs
    the platform given explicitly, so we retry as x86-64.  QEMU's x86-64 ELF
    dumps without VMCOREINFO, which drgn refuses, are opened by
    noinfo.open_noinfo_dump(); what it found is one line in
    prog.cache["drgn_pagewalk_note"], which main() prints as a note.
    """
    import logging

    import drgn

    _check_file(core, "vmcore")
    for path in symbols:
        _check_file(path, "vmlinux")
    _check_elf_complete(core)
    # drgn logs its own warnings (a vmlinux that matches nothing, say); the
    # checks below turn what matters into one error line.
    logging.getLogger("drgn").setLevel(logging.CRITICAL)
    prog = drgn.Program()
    try:
        prog.set_core_dump(core)
    except Exception as e:  # drgn raises plain Exception for libkdumpfile errors
        if "unrecognized QEMU memory dump" in str(e):
            # No VMCOREINFO (no -device vmcoreinfo or no qemu_fw_cfg in the
            # guest): found from QEMU's CPU state instead.
            from .noinfo import open_noinfo_dump

            prog = open_noinfo_dump(core, symbols)
            _check_release(prog, core)
            return prog
        if "ARCH_NAME" not in str(e):
            raise PagewalkError(f"cannot open vmcore {core}: {one_line(e)}") from None
        prog = drgn.Program(_x86_64_platform())
        try:
            prog.set_core_dump(core)
        except Exception as e2:
            raise PagewalkError(f"cannot open vmcore {core}: {one_line(e2)}") from None
    if not prog.flags & drgn.ProgramFlags.IS_LINUX_KERNEL:
        raise PagewalkError(f"cannot open vmcore {core}: not a Linux kernel's dump "
                            "(no VMCOREINFO and no QEMU CPU state; a process's core?)")
    _load_symbols(prog, symbols, core)
    return prog


def _with_none(subject: str, symbols: Sequence[str]) -> str:
    """What lacks debug info, as no_debug_info() names it: the dump, and
    the vmlinux given, if any."""
    return f"{subject} ({symbols[0]} has none)" if symbols else subject


def _check_release(prog, core: str) -> None:  # type: ignore[no-untyped-def]
    """The vmlinux must be the dump's kernel: compare the vmcoreinfo
    OSRELEASE with the release in the debug info's init_uts_ns and check
    that the symbols work at all."""
    import drgn

    try:
        release = prog["UTS_RELEASE"].string_().decode()
    except (KeyError, LookupError):
        raise PagewalkError("the vmlinux has no UTS_RELEASE: is it the kernel's vmlinux?") \
            from None
    try:
        live = prog["init_uts_ns"].name.release.string_().decode()
    except (KeyError, LookupError, drgn.FaultError):
        raise PagewalkError(
            f"no debug info matches {core}: give the vmlinux of {release} with -s") from None
    if live != release:
        raise PagewalkError(
            f"vmlinux is for {release} but the dump is of {live or 'an unknown kernel'}")
    try:
        prog["init_task"].comm.string_()
    except drgn.FaultError:
        raise PagewalkError(f"vmlinux does not match {core}: init_task unreadable") \
            from None


def _load_symbols(prog, symbols: Sequence[str], where: str) -> None:  # type: ignore[no-untyped-def]
    import drgn

    for path in symbols:
        _check_file(path, "vmlinux")
    try:
        if symbols:
            prog.load_debug_info(list(symbols))
        else:
            prog.load_default_debug_info()
    except drgn.MissingDebugInfoError:
        pass  # said just below
    except (ValueError, OSError) as e:
        raise PagewalkError(f"cannot load debug info: {one_line(e)}") from None
    # the release is VMCOREINFO's OSRELEASE: drgn reads it without debug info
    require_debug_info(prog, _with_none(where, symbols), NAME)
    _check_release(prog, where)
