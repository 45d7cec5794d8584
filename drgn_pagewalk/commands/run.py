"""Running a command: parse (run_argv()), run (run()), write its results
in one of three formats (write_results()), show progress on a terminal
(Progress) and note what changed under a walk of a running kernel."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, TextIO

from ..errors import EXIT_MISSING, PagewalkError, error_line
from ..output.report import (
    StreamReport,
    TextStream,
    render_table,
    write_json_document,
    write_table_stream,
)
from ..output.schema import command_form, header, kernel_release, tool_version
from ..target.missing import _target_or_none, note_missing, require_debug_info, require_page_size
from .args import add_usage, parse_args
from .page import _WxFound
from .registry import COMMANDS, build_parser


def write_result(result: Any, fmt: str, out: TextIO) -> None:
    """One result in the table or proc format: /proc text as it is, a
    Report rendered, a StreamReport written row by row (JSON:
    write_json_document())."""
    if isinstance(result, StreamReport):
        write_table_stream(result, out)
    elif isinstance(result, str):
        out.write(result if fmt == "proc" else result.rstrip("\n") + "\n")
    elif isinstance(result, TextStream):
        for piece in result.pieces:
            out.write(piece)
    else:
        out.write(render_table(result) + "\n")


def write_results(prog: Any, args: argparse.Namespace, results: List[Any], out: TextIO,
                  missing: Callable[[], List[Dict[str, Any]]]) -> None:
    """Every result of a command: in JSON one document (schema.py: the
    envelope, then one object per result, then what is missing), else one
    after another."""
    if args.format == "json":
        write_json_document(header(prog, command_form(args)), results, out, missing)
        return
    for i, r in enumerate(results):
        if i and args.format != "proc":
            out.write("\n")
        write_result(r, args.format, out)


def run(prog: Any, args: argparse.Namespace, out: TextIO,
        prog_name: str = "pagewalk") -> int:
    """Run a parsed command and write its output (several results: tables
    one after another, JSON one document); on a running kernel, then note the
    table pages that changed under it (report_live_changes()).  Returns the
    exit status: 0, or EXIT_MISSING when parts were left out because the
    dump lacks them."""
    if args.version:
        out.write("".join(line + "\n" for line in version_lines(prog)))
        return 0
    if getattr(args, "drgn", False):
        from .drgn_code import drgn_code

        out.write(drgn_code(args))
        return 0
    if prog is not None:
        require_debug_info(prog, "this program", prog_name)
        require_page_size(prog)
    target = _target_or_none(prog)
    missing: Callable[[], List[Dict[str, Any]]] = list
    if target is not None:
        target.begin_command()
        missing = lambda: [m.record() for m in target.missing]  # noqa: E731
    progress = Progress(target, f"{prog_name}: {args.command}",
                        float(os.environ.get("DRGN_PAGEWALK_PROGRESS_DELAY", "1"))) \
        if target is not None and _is_tty(sys.stderr) else None
    try:
        from drgn import FaultError

        from ..target.base import VmaTreeLost

        try:
            results = COMMANDS[args.command](prog, args)
        except _WxFound as e:
            write_results(prog, args, [e.result], out, missing)
            raise PagewalkError(e.message) from None
        except (FaultError, VmaTreeLost) as e:
            if target is None:
                raise
            # outside the commands' own guards (reading()): the whole output
            note_missing(prog, None, f"the output of {args.command}",
                         e.error if isinstance(e, VmaTreeLost) else e)
            results = []
        write_results(prog, args, results, out, missing)
    finally:
        if progress is not None:
            progress.stop()
        if target is not None:
            # the damage the walks met, one line each, after the output
            out.flush()
            for line in target.end_command():
                print(line, file=sys.stderr)
    report_live_changes(prog, prog_name)
    return EXIT_MISSING if target is not None and target.missing else 0


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """A progress line on stderr (a terminal) for a command that runs over a
    second: the vmas and address space walked so far, rewritten in place
    every half second and erased at the end.  Silent when stderr is not a
    terminal, and for commands that end within the second."""

    def __init__(self, target: Any, label: str, delay: float = 1.0) -> None:
        import threading

        self.target = target
        self.label = label
        self.shown = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(delay,), daemon=True)
        self._thread.start()

    def _run(self, delay: float) -> None:
        if self._done.wait(delay):
            return
        while not self._done.is_set():
            ranges, size = self.target.walked
            sys.stderr.write(f"\r{self.label}: {ranges} vma(s), "
                             f"{size / (1 << 30):.1f} GiB of address space walked ")
            sys.stderr.flush()
            self.shown = True
            self._done.wait(0.5)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def report_live_changes(prog: Any, prog_name: str) -> None:
    """After a walk of a running kernel: say on stderr which table pages
    changed under it (a note, not an error)."""
    target = prog.cache.get("drgn_pagewalk_target")
    if target is None or not target.live:
        return
    changed = target.changed_tables()
    if changed:
        shown = ", ".join(f"{p:#x}" for p in changed[:8])
        more = f" and {len(changed) - 8} more" if len(changed) > 8 else ""
        print(f"{prog_name}: note: the kernel was running: {len(changed)} page-table "
              f"page(s) changed during the walk (physical {shown}{more}); "
              "entries there may be older or newer than the rest",
              file=sys.stderr)


def run_argv(prog: Any, argv: Sequence[str], out: TextIO = sys.stdout,
             prog_name: str = "pagewalk") -> int:
    """Parse and run; print a one-line error (error_line()) and return its
    status on failure."""
    parser = build_parser(prog_name)
    args = None
    try:
        args = parse_args(parser, argv)
        return run(prog, args, out, prog_name)
    except PagewalkError as e:
        print(error_line(prog_name, add_usage(parser, args, e)), file=sys.stderr)
        return e.status


def version_lines(prog: Any = None, where: Optional[str] = None) -> List[str]:
    """``drgn-pagewalk VERSION (drgn VERSION, Python X.Y.Z)``, then, with a
    Program, ``kernel RELEASE`` (`` (WHERE)``: the dump's path)."""
    import platform

    import drgn

    lines = [f"drgn-pagewalk {tool_version()} (drgn {drgn.__version__}, "
             f"Python {platform.python_version()})"]
    if prog is not None:
        lines.append(f"kernel {kernel_release(prog)}" + (f" ({where})" if where else ""))
    return lines
