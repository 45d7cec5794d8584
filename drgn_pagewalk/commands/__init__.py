"""The commands: the ``%pagewalk`` drgn command (registered here, through
the "drgn.plugins" entry point) and the ``drgn-pagewalk`` CLI share them.
args.py parses, tasks.py finds the tasks of a possibly damaged dump,
proc.py holds the /proc report commands and page.py the page-table ones
(vtop, vm, rmap, walk, ptdump, ptcheck), registry.py names them all,
run.py runs one and writes its output; drgn_code.py prints a command as
Python instead.

Each subcommand turns a report from ops/ into text in one of three formats:
``table`` (tabulate, for people), ``json`` (for scripts) and ``proc`` (exactly
what the kernel prints in /proc).  Errors are :class:`PagewalkError`: one
line, exit status 2 for usage and 1 for data.  When the dump lacks memory a
command needs (a filtered dump), the command prints what it can read, names
what it left out ("missing: ..." lines on stderr, a ``missing`` list in
JSON) and exits with status 3 (EXIT_MISSING).
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

from .registry import build_parser
from .run import run_argv


def _register_drgn_command() -> None:
    """``%pagewalk SUBCOMMAND ...`` in the drgn REPL and run_command()."""
    try:
        from drgn.commands import custom_command, parse_shell_command
    except ImportError:  # drgn without the command framework
        return

    @custom_command(
        name="pagewalk",
        description="the kernel's page-table walker: smaps, pagemap, vmas ...",
        usage="**pagewalk** *COMMAND* [*ARGS*]",
        long_description=build_parser().format_help(),
        parse=parse_shell_command,
    )
    def _cmd_pagewalk(prog: Any, name: str, args: Sequence[str], **kwargs: Any) -> None:
        # Errors are printed as one line by run_argv(); the REPL goes on.
        run_argv(prog, args, sys.stdout, prog_name="pagewalk")


_register_drgn_command()
