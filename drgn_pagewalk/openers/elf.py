"""The one ELF reader of the openers: a 64-bit little-endian ELF file
mapped read-only, for noinfo.ElfDump (a dump's program headers and notes)
and rawkernel.VmlinuxSymbols (a vmlinux's sections and symbols)."""

from __future__ import annotations

import mmap
from typing import Type

from ..errors import PagewalkError


def map_elf64(path: str, what: str, error: Type[PagewalkError] = PagewalkError) -> mmap.mmap:
    """``path`` mapped read-only, checked to be a 64-bit little-endian ELF
    file; ``error`` (one line, naming ``what``: "vmcore", "vmlinux") if it
    cannot be read or is not one."""
    try:
        with open(path, "rb") as f:
            m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as e:
        raise error(f"cannot read {what} {path}: {e}") from None
    if m[:4] != b"\x7fELF" or m[4] != 2 or m[5] != 1:
        m.close()
        raise error(f"not a 64-bit little-endian ELF {'dump' if what == 'vmcore' else 'file'}: {path}")
    return m
