"""What the walker needs from a kernel, independent of how memory is read.

The walker core (walk.py) sees a kernel only through this module: a
:class:`Target` reads page-table pages and answers the few questions about
mm_struct and vm_area_struct that mm/pagewalk.c asks.  Backends implement it
over drgn (drgn_target.py) or gdb (gdb_scripts/).  Nothing here imports drgn.
"""

from __future__ import annotations

import array
import logging
import sys
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional

from ..arch.base import PMD, Arch

log = logging.getLogger("drgn_pagewalk")

# include/linux/mm.h vm_flags bits (identical in 6.1 and 6.12).
VM_READ = 0x00000001
VM_WRITE = 0x00000002
VM_EXEC = 0x00000004
VM_SHARED = 0x00000008
VM_MAYREAD = 0x00000010
VM_MAYWRITE = 0x00000020
VM_MAYEXEC = 0x00000040
VM_MAYSHARE = 0x00000080
VM_GROWSDOWN = 0x00000100
VM_UFFD_MISSING = 0x00000200
VM_PFNMAP = 0x00000400
VM_UFFD_WP = 0x00001000
VM_LOCKED = 0x00002000
VM_IO = 0x00004000
VM_SEQ_READ = 0x00008000
VM_RAND_READ = 0x00010000
VM_DONTCOPY = 0x00020000
VM_DONTEXPAND = 0x00040000
VM_LOCKONFAULT = 0x00080000
VM_ACCOUNT = 0x00100000
VM_NORESERVE = 0x00200000
VM_HUGETLB = 0x00400000
VM_SYNC = 0x00800000
VM_ARCH_1 = 0x01000000
VM_WIPEONFORK = 0x02000000
VM_DONTDUMP = 0x04000000
VM_SOFTDIRTY = 0x08000000
VM_MIXEDMAP = 0x10000000
VM_HUGEPAGE = 0x20000000
VM_NOHUGEPAGE = 0x40000000
VM_MERGEABLE = 0x80000000


class TargetError(Exception):
    """A target cannot answer (bad vmcore, unknown symbol, ...)."""


class VmaTreeLost(TargetError):
    """find_vma() cannot answer: the part of the mm's vma tree that holds
    the answer is not in the dump.  ``error`` is the target's own error for
    the memory it lacks (a drgn FaultError), raised by who needs the vma."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class TableReadError(TargetError):
    """A page-table page could not be read (outside memory, not in the dump)."""

    def __init__(self, phys: int, reason: str) -> None:
        super().__init__(f"cannot read page table at physical {phys:#x}: {reason}")
        self.phys = phys
        self.reason = reason


@dataclass(eq=False)
class Mm:
    """A struct mm_struct as the walker sees it."""

    target: "Target"
    #: The backend's own object (a drgn ``struct mm_struct *``), for callbacks.
    obj: Any
    #: Physical address of mm->pgd.
    pgd: int
    #: True for &init_mm (walk_pte_range's no_vma branch tests it).
    is_init_mm: bool = False
    #: Kernel virtual address of the mm_struct, for messages.
    address: int = 0

    def __repr__(self) -> str:
        return f"Mm({self.address:#x}, pgd={self.pgd:#x})"


@dataclass(eq=False)
class Vma:
    """A struct vm_area_struct as the walker sees it."""

    mm: Mm
    obj: Any
    vm_start: int
    vm_end: int
    vm_flags: int
    vm_pgoff: int = 0
    #: pgprot_val(vma->vm_page_prot), used by the virtual THP split.
    vm_page_prot: int = 0
    #: vma_is_anonymous(): vma->vm_ops == NULL.
    anonymous: bool = True
    address: int = 0

    @property
    def vm_mm(self) -> Mm:
        return self.mm

    def __repr__(self) -> str:
        return f"Vma({self.vm_start:#x}-{self.vm_end:#x}, flags={self.vm_flags:#x})"


@dataclass
class Hstate:
    """struct hstate, reduced to what the walker uses."""

    order: int
    page_shift: int = 12

    def huge_page_size(self) -> int:
        return 1 << (self.order + self.page_shift)

    def huge_page_mask(self) -> int:
        return ~(self.huge_page_size() - 1) & 0xFFFFFFFFFFFFFFFF


def decode_table(data: bytes) -> "array.array[int]":
    """Decode a page-table page into native u64 entries (little-endian source)."""
    table = array.array("Q", data)
    if sys.byteorder != "little":
        table.byteswap()
    return table


class Target:
    """The kernel as the walker reads it.  Backends override every method."""

    arch: Arch

    @property
    def reported(self) -> "set[Any]":
        """Problems already logged during the current command: a damaged
        entry is named once on stderr, however many walks meet it."""
        seen = self.__dict__.get("_reported_problems")
        if seen is None:
            seen = self.__dict__["_reported_problems"] = set()
        return seen

    def begin_command(self) -> None:
        """A command starts: problems are kept until :meth:`end_command`,
        which sums them up, and an entry met before is named again."""
        self.reported.clear()
        self.__dict__["_deferred"] = []
        self.__dict__["_missing"] = []
        self.__dict__["_missing_seen"] = set()
        self.__dict__["walked"] = [0, 0]

    @property
    def walked(self) -> List[int]:
        """[ranges, bytes of address space] walked in this command, for the
        progress line (note_walked())."""
        walked = self.__dict__.get("walked")
        if walked is None:
            walked = self.__dict__["walked"] = [0, 0]
        return walked

    def note_walked(self, start: int, end: int) -> None:
        """A vma (or a range without vmas) is about to be walked."""
        walked = self.walked
        walked[0] += 1
        walked[1] += end - start

    def note_problem(self, problem: "WalkProblem") -> None:
        """A problem seen for the first time in this command: kept for
        end_command(), or logged now outside a command (API use)."""
        deferred = self.__dict__.get("_deferred")
        if deferred is None:
            log.warning("%s", problem)
        else:
            deferred.append(problem)

    @property
    def missing(self) -> List["Missing"]:
        """What the current command could not read (note_missing())."""
        missing = self.__dict__.get("_missing")
        if missing is None:
            missing = self.__dict__["_missing"] = []
        return missing

    def note_missing(self, record: "Missing") -> None:
        """Part of a command's output was left out: the dump lacks memory it
        needed (a filtered dump, or a makedumpfile older than the kernel).
        The same record twice (a lost part of a vma tree met by two lookups)
        is kept once."""
        seen = self.__dict__.setdefault("_missing_seen", set())
        key = (record.context, record.left_out, record.what, record.address)
        if key not in seen:
            seen.add(key)
            self.missing.append(record)

    #: What the command is reading for (a process: "PID 1 (init)"), for the
    #: records of what the target itself finds missing (commands.reading()).
    context: Optional[str] = None

    def take_problems(self) -> None:
        """Drop what the command met so far: it reports it itself (ptcheck)."""
        if self.__dict__.get("_deferred") is not None:
            self.__dict__["_deferred"] = []

    def end_command(self) -> List[str]:
        """The problems of the command that ends, one line per damaged
        entry or table (summarize_problems())."""
        deferred = self.__dict__.pop("_deferred", None) or []
        return summarize_problems(deferred, self.arch.page_shift, self.arch.shifts[PMD]) \
            + summarize_missing(self.missing)

    def read_table(self, phys: int, nr: int) -> "array.array[int]":
        """Read ``nr`` u64 entries of the page-table page at ``phys`` in one read."""
        raise NotImplementedError

    def phys_to_virt(self, phys: int) -> int:
        """__va(): the direct-map address of a physical address."""
        raise NotImplementedError

    def virt_to_phys(self, addr: int) -> int:
        """__pa(): the physical address of a kernel virtual address."""
        raise NotImplementedError

    def find_vma(self, mm: Mm, addr: int) -> Optional[Vma]:
        """find_vma(): the first vma with vm_end > addr, or None.  Raises
        VmaTreeLost when the dump lacks the part of the tree that answers."""
        raise NotImplementedError

    def hstate_vma(self, vma: Vma) -> Hstate:
        """hstate_vma(): the huge page size of a hugetlb vma."""
        raise NotImplementedError

    def vma_interval_tree_foreach(
        self, mapping: Any, first: int, last: int
    ) -> Iterator[Vma]:
        """vma_interval_tree_foreach() over mapping->i_mmap, in tree order."""
        raise NotImplementedError

    def huge_zero_pfn(self) -> Optional[int]:
        """PFN of the huge zero page (is_huge_zero_pmd()), or None if unset."""
        return None

    def zero_pfn(self) -> int:
        """my_zero_pfn(): PFN of the 4 KiB zero page."""
        raise NotImplementedError

    def mmap_write_locked(self, mm: Mm) -> bool:
        """True if the dump shows mm->mmap_lock held for writing."""
        return False


@dataclass
class WalkProblem:
    """Something the kernel would have printed, fixed or retried, seen in a walk.

    ``kind`` is one of ``bad`` (pXd_ERROR; the kernel would clear the entry),
    ``unreadable`` (the entry points outside readable memory), ``cycle`` (the
    entry points to a page-table page already used at another level),
    ``again`` (ACTION_AGAIN did not converge) or ``locked``.
    """

    kind: str
    level: str
    addr: int
    entry_phys: int
    val: int
    message: str

    def __str__(self) -> str:
        where = f" at phys {self.entry_phys:#x}" if self.entry_phys >= 0 else ""
        return (
            f"{self.kind}: {self.level} entry {self.val:#018x}{where} "
            f"(address {self.addr:#x}): {self.message}"
        )


ProblemList = List[WalkProblem]


@dataclass
class Missing:
    """Memory a command needed and the dump does not hold: ``left_out`` is
    what the command could not print (for ``context``, a process, or None),
    ``what`` what it was reading (e.g. "a maple_node object") at
    ``address``."""

    context: Optional[str]
    left_out: str
    what: str
    address: Optional[int]

    def record(self) -> Dict[str, Any]:
        """For JSON output."""
        return {"context": self.context, "left_out": self.left_out,
                "what": self.what, "address": self.address}

    def __str__(self) -> str:
        where = f" at {self.address:#x}" if self.address is not None else ""
        context = f"{self.context}: " if self.context else ""
        return (f"missing: {context}{self.left_out} left out "
                f"({self.what}{where} is not in the dump)")


def summarize_missing(missing: List[Missing]) -> List[str]:
    """One line per Missing, except that the same thing left out for the
    same reason many times (a PID table whose pid objects are gone) is one
    line with how many and the first address."""
    groups: Dict[Any, List[Missing]] = {}
    for m in missing:
        groups.setdefault((m.context, m.left_out, m.what), []).append(m)
    lines = []
    for group in groups.values():
        first = group[0]
        if len(group) == 1:
            lines.append(str(first))
        else:
            context = f"{first.context}: " if first.context else ""
            where = f", the first at {first.address:#x}" if first.address is not None else ""
            lines.append(f"missing: {context}{first.left_out} left out {len(group)} times "
                         f"({first.what}{where}: not in the dump)")
    return lines


def summarize_problems(problems: List[WalkProblem], page_shift: int = 12,
                       pmd_shift: int = 21) -> List[str]:
    """One line per damaged entry, except that bad entries of one table (a
    table overwritten with garbage has hundreds) are one line: how many,
    where, and the first one.  Entries are grouped by the table page they
    sit in (of 1 << ``page_shift`` bytes), or, for PTEs known only by value,
    by what a PTE table maps (1 << ``pmd_shift``: 2 MiB with 4 KiB pages)."""
    groups: Dict[Any, List[WalkProblem]] = {}
    for p in problems:
        key: Any = id(p)
        if p.kind == "bad":
            if p.entry_phys >= 0:
                key = (p.level, "table", p.entry_phys >> page_shift)
            elif p.level == "pte":
                key = (p.level, "range", p.addr >> pmd_shift)
        groups.setdefault(key, []).append(p)
    lines = []
    for group in groups.values():
        first = group[0]
        if len(group) == 1:
            lines.append(str(first))
            continue
        if first.entry_phys >= 0:
            where = f"of the table at phys {first.entry_phys >> page_shift << page_shift:#x}"
        else:
            start = first.addr >> pmd_shift << pmd_shift
            where = f"in {start:#x}-{start + (1 << pmd_shift):#x} (one PTE table)"
        lines.append(f"bad: {len(group)} {first.level} entries {where}; "
                     f"the first: {str(first)[len('bad: '):]}")
    return lines
