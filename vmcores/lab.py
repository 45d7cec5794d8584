"""The lab dumps as the tests see them.

    from vmcores.lab import LAB_NAMES, ensure_lab
    lab = ensure_lab("6.1-4level")     # builds it if missing or outdated
    prog = lab.program()
    lab.truth_text(lab.pids["workload"], "smaps")
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List

from .build import (
    TWINS,
    LabError,
    build_lab,
    cache_dir,
    filtered_names,
    filtered_twins,
    lab_current,
    lab_names,
    manifest,
    over_filtered_names,
)

LAB_NAMES: List[str] = lab_names()
# makedumpfile's dumps of the labs (tests/test_filtered_lab.py); those of the
# newest makedumpfile hold every page the reports need.
FILTERED_NAMES: List[str] = filtered_names(newest_only=True)
# The filtered twins whose makedumpfile left out kernel pages the reports
# read (tests/test_filtered_lab.py: what can be read is printed, the rest named).
OVER_FILTERED_NAMES: List[str] = over_filtered_names()
# The arm64 labs and twins (not yet run by the tests: drgn_pagewalk reads
# x86-64 dumps only).
ARM64_LAB_NAMES: List[str] = lab_names("arm64")


@dataclass(frozen=True)
class MapsLine:
    """One parsed line of /proc/PID/maps."""

    start: int
    end: int
    perms: str
    offset: int
    dev: str
    inode: int
    name: str


class Lab:
    """One built lab: a dump, its vmlinux and the guest's ground truth."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.meta: Dict[str, Any] = json.loads((path / "lab.json").read_text())
        self.name: str = self.meta["name"]
        self.vmcore = path / "vmcore"
        self.vmlinux = Path(self.meta["vmlinux"])
        self.kernel_release: str = self.meta["kernel_release"]
        self.levels: int = self.meta["levels"]
        self.arch: str = self.meta.get("arch", "x86_64")
        self.pids: Dict[str, int] = dict(self.meta["pids"])
        # the guest kernel's page size, as the workload read it (sysconf);
        # labs built before it was recorded are all of 4 KiB pages
        self.page_size: int = self.meta.get("page_size", 4096)
        self.truth = path / "truth"

    def __repr__(self) -> str:
        return f"Lab({self.name})"

    def truth_text(self, pid: int, name: str) -> str:
        return (self.truth / str(pid) / name).read_text()

    def truth_global(self, name: str) -> str:
        return (self.truth / name).read_text()

    def pagemap(self, pid: int) -> Dict[int, int]:
        """vaddr -> the 64-bit /proc/PID/pagemap entry, every page of every
        vma (one entry per page of the lab's page size)."""
        return _pagemap(self.truth / str(pid) / "pagemap", self.page_size)

    def pagemap_lines(self, pid: int) -> str:
        """The pagemap as one ``VADDR ENTRY`` line per page, in vma order."""
        return "".join(f"{a:x} {e:016x}\n" for a, e in self.pagemap(pid).items())

    def maps(self, pid: int) -> List[MapsLine]:
        out = []
        for line in self.truth_text(pid, "maps").splitlines():
            fields = line.split(None, 5)
            start, end = (int(x, 16) for x in fields[0].split("-"))
            out.append(MapsLine(start, end, fields[1], int(fields[2], 16), fields[3],
                                int(fields[4]), fields[5] if len(fields) > 5 else ""))
        return out

    def program(self) -> Any:
        """A drgn Program on the dump with the vmlinux loaded.

        QEMU's kdump-compressed dumps have no architecture name in their
        header, so an x86-64 kdump lab's Program is made with x86-64 given
        (an arm64 lab's kdump twin is makedumpfile's, which names it).  A
        dump without VMCOREINFO ("elf-noinfo"), which drgn refuses, is opened
        by the tool's own opener (drgn_pagewalk.cli.open_program)."""
        import drgn

        if self.meta.get("dump_format") == "elf-noinfo":
            from drgn_pagewalk.cli import open_program

            return open_program(str(self.vmcore), [str(self.vmlinux)])
        if self.meta.get("dump_format") == "kdump" and self.arch == "x86_64":
            prog = drgn.Program(drgn.Platform(
                drgn.Architecture.X86_64,
                drgn.PlatformFlags.IS_64_BIT | drgn.PlatformFlags.IS_LITTLE_ENDIAN))
        else:
            prog = drgn.Program()
        prog.set_core_dump(str(self.vmcore))
        prog.load_debug_info([str(self.vmlinux)])
        return prog


@lru_cache(maxsize=None)
def _pagemap(path: Path, page_size: int = 4096) -> Dict[int, int]:
    out: Dict[int, int] = {}
    for line in path.read_text().splitlines():
        _, addr, count, entry, step = line.split()
        a, n, e, s = int(addr, 16), int(count, 16), int(entry, 16), int(step)
        for i in range(n):
            out[a + i * page_size] = e + i * s
    return out


def lab_path(name: str) -> Path:
    return cache_dir() / "labs" / name


def _config_of(name: str) -> str:
    if name in filtered_twins():
        return filtered_twins()[name][0]
    for config, spec in manifest()["labs"].items():
        if name == config or name in (spec.get(t) for t in TWINS):
            return config
    raise LabError(f"unknown lab {name}")


def ensure_lab(name: str) -> Lab:
    """The lab ``name``, built first if it is missing or from an older recipe."""
    if not lab_current(name):
        build_lab(_config_of(name))
    return Lab(lab_path(name))
