"""The errors every layer may raise, at the bottom of the package: it
imports nothing from it.

An error is a :class:`PagewalkError`: one line (error_line()), exit status 2
for usage (:class:`UsageError`) and 1 for data.  When the dump lacks memory
a command needs, the command prints what it can read, names what it left out
(target/missing.py) and exits with status 3 (EXIT_MISSING); when it can read
nothing of what was asked, it raises :class:`MissingError`.
"""

from __future__ import annotations

from typing import Optional


class PagewalkError(Exception):
    """A one-line error for the user; ``status`` is the exit code.
    ``usage``: the usage line of the (sub)command that failed, shown after
    the message (error_line())."""

    status = 1

    def __init__(self, message: str = "", usage: Optional[str] = None) -> None:
        super().__init__(message)
        self.usage = usage


def error_line(prog_name: str, e: PagewalkError) -> str:
    """``PROG: error: MESSAGE (usage: PROG SUBCOMMAND ...)``: the one line
    every front end prints for an error."""
    line = f"{prog_name}: error: {e}"
    return f"{line} (usage: {e.usage})" if e.usage else line


class UsageError(PagewalkError):
    status = 2


#: How each front end is given a kernel's debug info (no_debug_info()).
GIVE_VMLINUX = {
    "drgn-pagewalk": "give its vmlinux with -s",
    "pagewalk": "load its vmlinux (drgn -s VMLINUX, or prog.load_debug_info([VMLINUX]))",
    "lx-pagewalk": "give its vmlinux (gdb VMLINUX, or lx-pagewalk --vmlinux VMLINUX)",
}


def no_debug_info(release: Optional[str], subject: str,
                  prog_name: str = "drgn-pagewalk") -> PagewalkError:
    """The error for a kernel whose debug info is not there: which kernel
    (its release, from VMCOREINFO's OSRELEASE, which needs no debug info)
    and what to install or give."""
    give = GIVE_VMLINUX.get(prog_name, GIVE_VMLINUX["drgn-pagewalk"])
    if not release:
        return PagewalkError(f"no debug info for {subject}: {give}")
    return PagewalkError(f"no debug info for {release}, the kernel of {subject}: install "
                         f"linux-image-{release}-dbg (Debian) or {give}")


#: Exit status when parts of the output were left out: the dump lacks
#: memory they needed (each part is named on stderr and in JSON).
EXIT_MISSING = 3


class MissingError(PagewalkError):
    """Nothing of what was asked could be read from the dump."""

    status = EXIT_MISSING


def one_line(e: BaseException) -> str:
    """The first line of an exception's message (its type if it has none),
    for one-line errors."""
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__
