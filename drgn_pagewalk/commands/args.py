"""Argument parsing shared by the commands and the front ends: argparse
that raises one-line UsageErrors, and the PID, number and address
arguments."""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from ..errors import PagewalkError, UsageError
from ..output.report import FORMATS


class _Parser(argparse.ArgumentParser):
    """argparse that raises one-line UsageErrors, with this (sub)parser's
    usage line, instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message, usage=usage_line(self))


def usage_line(parser: argparse.ArgumentParser) -> str:
    """A parser's usage on one line, without "usage: "."""
    text = " ".join(parser.format_usage().split())
    return text[len("usage: "):] if text.startswith("usage: ") else text


def _subparser(parser: argparse.ArgumentParser, name: str) -> Optional[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(name)
    return None


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """parse_args(), with COMMAND required unless --version is given; an
    argument no parser knows is the subcommand's error."""
    args, extra = parser.parse_known_args(list(argv))
    if extra:
        sub = _subparser(parser, args.command) if args.command else None
        (sub or parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None and not args.version:
        parser.error("the following arguments are required: COMMAND")
    return args


def add_usage(parser: argparse.ArgumentParser, args: Optional[argparse.Namespace],
              e: PagewalkError) -> PagewalkError:
    """A UsageError a command raised gets its subcommand's usage line."""
    if isinstance(e, UsageError) and e.usage is None:
        sub = _subparser(parser, args.command) if args and args.command else None
        e.usage = usage_line(sub or parser)
    return e


def parse_task_spec(spec: str) -> int:
    """A PID (decimal) or a task_struct address (hex, 0x...)."""
    try:
        return int(spec, 0)
    except ValueError:
        raise UsageError(f"not a PID or task address: {spec!r}") from None


def parse_number(text: str, what: str) -> int:
    """A number argument (decimal, or hex with 0x): a PFN, a page index."""
    try:
        return int(text, 0)
    except ValueError:
        raise UsageError(f"not a {what}: {text!r}") from None


def parse_addr(text: str) -> int:
    try:
        value = int(text, 16) if not text.startswith(("0x", "0X")) else int(text, 0)
    except ValueError:
        raise UsageError(f"not a hexadecimal address: {text!r}") from None
    if not 0 <= value < 1 << 64:
        raise UsageError(f"address out of range: {text!r}")
    return value


def add_format_option(parser: argparse.ArgumentParser, sub: bool = False) -> None:
    """--format; on a subcommand it only overrides a format given before it."""
    parser.add_argument("--format", "-f", choices=FORMATS,
                        default=argparse.SUPPRESS if sub else "table",
                        help="table (default), json, or proc: exactly what "
                        "the kernel prints in /proc")
