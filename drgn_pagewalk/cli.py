"""drgn-pagewalk: the command line for post-mortem scripts.

    drgn-pagewalk [-c VMCORE] [-s VMLINUX ...] [--format table|json|proc] COMMAND ...

Every failure is one line on stderr: exit status 2 for usage errors, 1 for
data errors (missing or truncated vmcore, vmlinux from another kernel, no such
PID, ...).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Sequence

from .commands import (
    PagewalkError,
    UsageError,
    _Parser,
    add_format_option,
    add_subcommands,
    run,
)

NAME = "drgn-pagewalk"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=NAME,
        description="The kernel's page-table walker (mm/pagewalk.c) over a "
        "crash dump: /proc/PID/smaps, pagemap and more, as the kernel would "
        "have printed them.")
    parser.add_argument("-c", "--core", metavar="VMCORE", required=True,
                        help="the crash dump (ELF or kdump-compressed)")
    parser.add_argument("-s", "--symbols", metavar="VMLINUX", action="append",
                        default=[], help="vmlinux with debug info (repeatable)")
    add_format_option(parser)
    add_subcommands(parser)
    return parser


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
    the platform given explicitly, so we retry as x86-64.
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
        if "ARCH_NAME" not in str(e):
            raise PagewalkError(f"cannot open vmcore {core}: {_one_line(e)}") from None
        prog = drgn.Program(_x86_64_platform())
        try:
            prog.set_core_dump(core)
        except Exception as e2:
            raise PagewalkError(f"cannot open vmcore {core}: {_one_line(e2)}") from None
    try:
        if symbols:
            prog.load_debug_info(list(symbols))
        else:
            prog.load_default_debug_info()
    except drgn.MissingDebugInfoError as e:
        raise PagewalkError(f"no usable debug info: {_one_line(e)}") from None
    except (ValueError, OSError) as e:
        raise PagewalkError(f"cannot load debug info: {_one_line(e)}") from None
    _check_release(prog, core)
    return prog


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


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


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
        prog = open_program(args.core, args.symbols)
        run(prog, args, sys.stdout)
    except PagewalkError as e:
        print(f"{NAME}: error: {e}", file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        print(f"{NAME}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # a damaged dump can fail anywhere: still one line
        if os.environ.get("DRGN_PAGEWALK_DEBUG"):
            raise
        print(f"{NAME}: error: {type(e).__name__}: {_one_line(e)} "
              "(DRGN_PAGEWALK_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1
    return 0


__all__ = ["main", "open_program", "UsageError"]

if __name__ == "__main__":
    sys.exit(main())
