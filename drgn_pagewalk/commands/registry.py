"""The registry: every subcommand's function (COMMANDS) and its arguments
(build_parser()), the /proc report commands of proc.py beside the
page-table commands of page.py."""

from __future__ import annotations

import argparse
from typing import Any, Callable, Dict, List

from .args import _Parser, add_format_option
from .page import PAGE_COMMANDS, add_page_subcommands
from .proc import (
    cmd_numa_maps,
    cmd_pagemap,
    cmd_ps,
    cmd_smaps,
    cmd_smaps_rollup,
    cmd_status,
    cmd_vmas,
)


CommandFunc = Callable[[Any, argparse.Namespace], List[Any]]
COMMANDS: Dict[str, CommandFunc] = {
    "ps": cmd_ps,
    "vmas": cmd_vmas,
    "smaps": cmd_smaps,
    "smaps-rollup": cmd_smaps_rollup,
    "pagemap": cmd_pagemap,
    "numa-maps": cmd_numa_maps,
    "status": cmd_status,
}
COMMANDS.update(PAGE_COMMANDS)


def add_subcommands(parser: argparse.ArgumentParser) -> None:
    """The subcommands, and --version; each subcommand's usage reads
    "PROG SUBCOMMAND ..." (COMMAND is required by parse_args())."""
    parser.add_argument("--version", action="store_true",
                        help="print the versions of drgn-pagewalk, drgn, Python "
                        "and the kernel of the dump, and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", prog=parser.prog)

    def task_cmd(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("task", nargs="?", metavar="PID",
                       help="PID, or task_struct address (0x...)")
        p.add_argument("--all", "-a", action="store_true",
                       help="every process with an mm")
        add_format_option(p, sub=True)
        return p

    p = sub.add_parser("ps", help="processes with an mm")
    add_format_option(p, sub=True)
    task_cmd("vmas", "per-vma page counts from the page-table walk")
    p = task_cmd("smaps", "/proc/PID/smaps")
    p.add_argument("addr", nargs="?", metavar="ADDR",
                   help="only the vma containing this address (hex)")
    task_cmd("smaps-rollup", "/proc/PID/smaps_rollup")
    p = task_cmd("pagemap", "/proc/PID/pagemap entries")
    p.add_argument("start", nargs="?", metavar="START", help="first address (hex)")
    p.add_argument("end", nargs="?", metavar="END", help="end address (hex)")
    task_cmd("numa-maps", "/proc/PID/numa_maps")
    p = task_cmd("status", "memory lines of /proc/PID/status; --walk: counters vs "
                 "the page tables")
    p.add_argument("--walk", action="store_true",
                   help="also recompute RSS, swap and page-table pages from a walk "
                   "(table and JSON)")
    add_page_subcommands(sub, task_cmd, add_format_option)
    for p in sub.choices.values():
        p.add_argument("--drgn", action="store_true",
                       help="print the equivalent Python code (drgn and drgn_pagewalk's "
                       "API) instead of running the command")


def build_parser(prog_name: str = "pagewalk") -> argparse.ArgumentParser:
    parser = _Parser(prog=prog_name,
                     description="the kernel's page-table walker over a dump")
    add_format_option(parser)
    add_subcommands(parser)
    return parser
