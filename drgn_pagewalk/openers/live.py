"""Opening the running kernel through /proc/kcore, as drgn opens it by
default, with the vmlinux of its release."""

from __future__ import annotations

import os
from typing import Sequence

from ..errors import PagewalkError, no_debug_info, one_line
from .dump import _load_symbols


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
