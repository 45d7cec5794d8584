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
from typing import Any, List, Optional, Tuple

from .commands.args import _Parser, add_format_option, add_usage, parse_args
from .commands.registry import add_subcommands
from .commands.run import run, version_lines
from .errors import EXIT_MISSING, PagewalkError, UsageError, error_line, one_line
from .openers.dump import NAME, open_program
from .openers.live import open_local_kernel
from .openers.qmp import QmpGuest


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
            from .target.drgn_target import describe_address

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
