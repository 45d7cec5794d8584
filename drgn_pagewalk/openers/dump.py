"""drgn-pagewalk: the command line for post-mortem scripts.

    drgn-pagewalk -c VMCORE [-s VMLINUX ...] [--format table|json|proc] COMMAND ...
    drgn-pagewalk --qmp SOCKET [--no-stop] [-s VMLINUX ...] COMMAND ...
    drgn-pagewalk [-s VMLINUX ...] COMMAND ...       # the running kernel

Every failure is one line on stderr: exit status 2 for usage errors, 1 for
data errors (missing or truncated vmcore, vmlinux from another kernel, no such
PID, ...).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, List, Optional, Sequence, Tuple

from .commands import (
    EXIT_MISSING,
    PagewalkError,
    UsageError,
    _Parser,
    add_format_option,
    add_subcommands,
    add_usage,
    error_line,
    no_debug_info,
    one_line,
    require_debug_info,
    parse_args,
    run,
    version_lines,
)

NAME = "drgn-pagewalk"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=NAME,
        description="The kernel's page-table walker (mm/pagewalk.c) over a "
        "crash dump, a live QEMU guest or the running kernel: /proc/PID/smaps, "
        "pagemap, vtop and more, as the kernel would have printed them.")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("-c", "--core", metavar="VMCORE",
                        help="the crash dump (ELF or kdump-compressed; a QEMU "
                        "x86-64 ELF dump may lack VMCOREINFO)")
    target.add_argument("--qmp", metavar="SOCKET",
                        help="a live QEMU guest's QMP socket (QEMU run with "
                        "-qmp unix:SOCKET,server=on,wait=off and -device vmcoreinfo)")
    parser.add_argument("--no-stop", action="store_true",
                        help="with --qmp: walk the guest while it runs (entries "
                        "that change under the walk are reported)")
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
    require_debug_info(prog, _with_none(core, symbols), NAME)
    _check_release(prog, core)
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
    require_debug_info(prog, _with_none(where, symbols), NAME)
    _check_release(prog, where)


def open_local_kernel(symbols: Sequence[str]):  # type: ignore[no-untyped-def]
    """The running kernel through /proc/kcore, as drgn opens it by default."""
    import logging

    import drgn

    release = os.uname().release
    if not os.path.exists("/proc/kcore"):
        raise PagewalkError("this kernel has no /proc/kcore (CONFIG_PROC_KCORE): "
                            "give a dump with -c or a QEMU guest with --qmp")
    if os.geteuid() != 0:
        raise PagewalkError("reading the running kernel needs root (/proc/kcore)")
    logging.getLogger("drgn").setLevel(logging.CRITICAL)
    prog = drgn.Program()
    try:
        prog.set_kernel()
    except (OSError, ValueError) as e:
        raise PagewalkError(f"cannot open the running kernel: {one_line(e)}") from None
    if not symbols:
        candidates = [f"/usr/lib/debug/boot/vmlinux-{release}",
                      f"/usr/lib/debug/lib/modules/{release}/vmlinux",
                      f"/lib/modules/{release}/build/vmlinux"]
        found = [c for c in candidates if os.path.exists(c)]
        if not found:
            raise no_debug_info(release, "this machine")
        symbols = found[:1]
    _load_symbols(prog, symbols, f"the running kernel {release}")
    return prog


class QmpGuest:
    """A live QEMU guest over QMP: stopped for the walk (unless --no-stop),
    attached with drgn's set_qemu_qmp(), resumed when done."""

    def __init__(self, path: str, stop: bool) -> None:
        self.path = path
        self.stop = stop
        self.resume = False

    def _command(self, name: str) -> dict:
        """One QMP command on a connection of its own (QEMU serves one client
        at a time, and drgn holds the socket while it is attached)."""
        import json
        import socket

        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        try:
            s.connect(self.path)
        except FileNotFoundError:
            raise PagewalkError(f"QMP socket not found: {self.path} (run QEMU with "
                                f"-qmp unix:{self.path},server=on,wait=off)") from None
        except OSError as e:
            raise PagewalkError(f"cannot connect to QMP socket {self.path}: "
                                f"{e.strerror or e}") from None
        f = s.makefile("rwb")
        try:
            def read() -> dict:
                while True:
                    line = f.readline()
                    if not line:
                        raise PagewalkError(f"QMP socket {self.path} closed the connection")
                    msg = json.loads(line)
                    if "event" not in msg:
                        return msg
            greeting = read()
            if "QMP" not in greeting:
                raise PagewalkError(f"{self.path} is not a QMP socket")
            for cmd in ("qmp_capabilities", name):
                f.write(json.dumps({"execute": cmd}).encode() + b"\n")
                f.flush()
                reply = read()
                if "error" in reply:
                    raise PagewalkError(f"QMP {cmd}: {reply['error'].get('desc')}")
            return reply.get("return", {})
        except socket.timeout:
            raise PagewalkError(f"QMP socket {self.path} does not answer: another "
                                "client (a drgn session?) may be connected") from None
        except ValueError:
            raise PagewalkError(f"{self.path} is not a QMP socket") from None
        finally:
            f.close()
            s.close()

    def open(self, symbols: Sequence[str]):  # type: ignore[no-untyped-def]
        import logging

        import drgn

        if not os.path.exists(self.path):
            raise PagewalkError(f"QMP socket not found: {self.path} (run QEMU with "
                                f"-qmp unix:{self.path},server=on,wait=off)")
        if self.stop:
            status = self._command("query-status")
            if status.get("running"):
                self._command("stop")
                self.resume = True
        logging.getLogger("drgn").setLevel(logging.CRITICAL)
        prog = drgn.Program()
        try:
            prog.set_qemu_qmp(self.path)
        except Exception as e:  # drgn raises plain Exception for guest errors
            raise PagewalkError(
                f"cannot attach to the guest on {self.path}: {one_line(e)} "
                "(is it a Linux guest run with -device vmcoreinfo, with "
                "qemu_fw_cfg loaded?)") from None
        _load_symbols(prog, symbols, f"the guest on {self.path}")
        return prog

    def close(self) -> None:
        """Resume the guest if this run stopped it (drgn must be detached)."""
        if self.resume:
            import gc

            gc.collect()
            self._command("cont")
            self.resume = False


def script_program(parser: argparse.ArgumentParser, script_globals: dict
                   ) -> Tuple[Any, argparse.Namespace]:
    """``(prog, args)`` for a post-mortem script, run either way:

    - ``drgn -c VMCORE -s VMLINUX script.py ARGS``: drgn opened the dump
      and defined ``prog`` among the script's globals;
    - ``python script.py -c VMCORE [-s VMLINUX] ARGS``: the dump is opened
      here with open_program() (what drgn-pagewalk -c opens).

    ``parser`` holds the script's own arguments; -c/-s are added to it in
    the second case.  An error opening the dump is one line, and exits."""
    prog = script_globals.get("prog")
    if prog is None:
        parser.add_argument("-c", "--core", metavar="VMCORE", required=True,
                            help="the crash dump")
        parser.add_argument("-s", "--symbols", metavar="VMLINUX", action="append",
                            default=[], help="vmlinux with debug info (repeatable)")
    args = parser.parse_args()
    if prog is None:
        try:
            prog = open_program(args.core, args.symbols)
        except PagewalkError as e:
            parser.exit(e.status, error_line(parser.prog, e) + "\n")
    return prog, args


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    guest: Optional[QmpGuest] = None
    held: dict = {}  # the Program, dropped before the guest is resumed
    parser = build_parser()
    args = None
    try:
        args = parse_args(parser, argv)
        if args.no_stop and not args.qmp:
            parser.error("--no-stop goes with --qmp")
        if args.version:
            # the dump's kernel too when one is given
            prog = open_program(args.core, args.symbols) if args.core else None
            print("\n".join(version_lines(prog, args.core)))
            return 0
        if args.core:
            held["prog"] = open_program(args.core, args.symbols)
            note = held["prog"].cache.get("drgn_pagewalk_note")
            if note:
                print(f"{NAME}: note: {note}", file=sys.stderr)
        elif args.qmp:
            guest = QmpGuest(args.qmp, stop=not args.no_stop)
            held["prog"] = guest.open(args.symbols)
        else:
            held["prog"] = open_local_kernel(args.symbols)
        status = run(held["prog"], args, sys.stdout, NAME)
    except PagewalkError as e:
        print(error_line(NAME, add_usage(parser, args, e)), file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        print(f"{NAME}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # a damaged dump can fail anywhere: still one line
        if os.environ.get("DRGN_PAGEWALK_DEBUG"):
            raise
        address = getattr(e, "address", None)
        if type(e).__name__ == "FaultError" and address is not None and "prog" in held:
            from .drgn_target import describe_address

            print(f"{NAME}: error: {describe_address(held['prog'], address)} at "
                  f"{address:#x} is not in the dump: {one_line(e)}", file=sys.stderr)
            return EXIT_MISSING
        print(f"{NAME}: error: {type(e).__name__}: {one_line(e)} "
              "(DRGN_PAGEWALK_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1
    finally:
        held.clear()
        if guest is not None:
            try:
                guest.close()
            except PagewalkError as e:
                print(f"{NAME}: error: cannot resume the guest: {e}", file=sys.stderr)
    return status


__all__ = ["main", "open_program", "script_program", "UsageError"]

if __name__ == "__main__":
    sys.exit(main())
