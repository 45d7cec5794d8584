"""Missing parts: what a command leaves out because the dump lacks it, noted
on the program's Target (note_missing(), reading(), guarded()), and what is
refused before any command runs (require_debug_info(), require_page_size()).
These catch drgn's FaultError and record on the drgn Target, so they sit in
the target layer, the lowest one that has both.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Optional

from ..errors import PagewalkError, no_debug_info
from ..output.schema import kernel_release


def require_debug_info(prog: Any, subject: str, prog_name: str) -> None:
    """A Program without the kernel's types (drgn started without its
    vmlinux) is refused before any command runs."""
    try:
        prog.type("struct mm_struct")
    except LookupError:
        raise no_debug_info(kernel_release(prog), subject, prog_name) from None


def require_page_size(prog: Any) -> None:
    """A kernel whose page size the tool does not handle is refused before
    anything is printed: PAGE_SIZE is drgn's, from VMCOREINFO's PAGESIZE=
    (a plain key, not NUMBER()); the page-table formats of arch/ say which
    they handle (x86-64: 4 KiB; arm64: 4, 16 and 64 KiB)."""
    import drgn

    from ..arch.arm64 import GRANULE_VA_BITS

    page_size = int(prog["PAGE_SIZE"])
    arch = prog.platform.arch if prog.platform is not None else None
    if arch == drgn.Architecture.AARCH64:
        sizes = [1 << shift for shift in GRANULE_VA_BITS]
    else:
        sizes = [4096]
    if page_size not in sizes:
        raise PagewalkError(f"this kernel has {page_size // 1024} KiB pages: not supported "
                            f"({' or '.join(str(n >> 10) for n in sizes)} KiB pages only)")


def note_missing(prog: Any, context: Optional[str], left_out: str, error: Any) -> None:
    """Record that ``left_out`` (for ``context``) is not printed because
    reading it faulted with ``error`` (a drgn FaultError)."""
    from .drgn_target import get_target

    get_target(prog).note_fault(left_out, error, context)


@contextmanager
def reading(prog: Any, context: Optional[str], left_out: str) -> Iterator[None]:
    """Run the block; if the dump lacks memory it reads (drgn FaultError, or
    a part of a vma tree: VmaTreeLost), note what is left out
    (note_missing()) and go on after the block.  What the target itself
    finds missing in the block (a lost part of a vma tree) is noted with
    the same context."""
    from drgn import FaultError

    from .base import VmaTreeLost

    target = _target_or_none(prog) if prog is not None else None
    outer = target.context if target is not None else None
    if target is not None and context is not None:
        target.context = context
    try:
        yield
    except FaultError as e:
        note_missing(prog, context, left_out, e)
    except VmaTreeLost as e:
        note_missing(prog, context, left_out, e.error)
    finally:
        if target is not None:
            target.context = outer


def guarded(prog: Any, context: Optional[str], left_out: str,
            items: Iterable[Any]) -> Iterator[Any]:
    """``items`` as they come, until one cannot be read from the dump: the
    rest is noted as left out (streamed output is produced while it is
    written, after the command's own loop)."""
    with reading(prog, context, left_out):
        yield from items


def _target_or_none(prog: Any) -> Any:
    """The program's walker Target, or None where there is none (another
    architecture: the command says so itself)."""
    from .drgn_target import get_target
    from .base import TargetError

    try:
        return get_target(prog)
    except (TargetError, LookupError):
        return None
