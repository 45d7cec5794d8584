"""mm/ptdump.c of Linux 6.1 and 6.12 (include/linux/ptdump.h's structures):
the walk every architecture's page-table dumper runs, with the callbacks
that feed the architecture's ``note_page()``.  ops/ptdump.py (x86-64's
arch/x86/mm/dump_pagetables.c) and ops/ptdump_arm64.py
(arch/arm64/mm/ptdump.c) build on it, as the kernel's do."""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple

from ..walker.walk import ACTION_CONTINUE, MmWalk, MmWalkOps, walk_page_range_novma

class KernelLog:
    """Where a dumper's printk() output goes, and %pS: DUMP: ``log`` holds
    what printk() would have written to the kernel log in this run.  The
    x86 and arm64 dumpers' kernels (ptdump.Kernel, ptdump_arm64.Arm64Kernel)
    set ``prog`` and ``log = ""``."""

    prog: Any
    log: str

    def printk(self, text: str, cont: bool = False) -> None:
        """printk(): DUMP: appended to :attr:`log`; a message that is not
        KERN_CONT starts a new line."""
        if not cont and self.log and not self.log.endswith("\n"):
            self.log += "\n"
        self.log += text

    def pr_info(self, text: str) -> None:
        """pr_info(): printk(KERN_INFO ...)."""
        self.printk(text)

    @property
    def lines(self) -> List[str]:
        """The log as lines, without their newlines."""
        return self.log.splitlines()

    def sprint_symbol(self, addr: int) -> str:
        """%pS: ``symbol+offset/size``, or the raw address when no symbol."""
        try:
            sym = self.prog.symbol(addr)
        except LookupError:
            return f"0x{addr:x}"
        return f"{sym.name}+{addr - sym.address:#x}/{sym.size:#x}"


class PtdumpState:
    """struct ptdump_state (include/linux/ptdump.h).

    6.1 has ``note_page(st, addr, level, val)``; 6.12 has one
    ``note_page_<level>(st, addr, pXd)`` per level plus ``note_page_flush``,
    which x86 implements as that same ``note_page()`` call (see the module
    docstring): the callbacks here make the 6.1 call for both.
    ``note_page_flush`` is 6.12's flush, and 6.1's ``note_page(st, 0, -1,
    0)`` call for 6.1 (where an arch's flush differs from that: arm64).
    """

    note_page: Callable[[Any, int, int, int], None]
    note_page_flush: Callable[[Any], None]
    effective_prot: Optional[Callable[[Any, int, int], None]]
    range: List[Tuple[int, int]]


class AddrMarker:
    """struct addr_marker."""

    __slots__ = ("start_address", "name", "max_lines")

    def __init__(self, start_address: int, name: Optional[str],
                 max_lines: int = 0) -> None:
        self.start_address = start_address
        self.name = name
        self.max_lines = max_lines

    def __repr__(self) -> str:
        return f"AddrMarker({self.start_address:#x}, {self.name!r}, {self.max_lines})"




# -- mm/ptdump.c -------------------------------------------------------------
# CONFIG_KASAN_GENERIC/SW_TAGS is off in Debian's kernels, so the
# note_kasan_page_table() short-cuts are compiled out (address_markers()
# refuses a KASAN kernel).

def ptdump_pgd_entry(pgd: Any, addr: int, next: int, walk: MmWalk) -> int:
    """ptdump_pgd_entry(), 6.1 and 6.12."""
    st: Any = walk.private
    val = pgd.get()  # READ_ONCE(*pgd)

    if st.effective_prot:
        st.effective_prot(st, 0, val)

    if pgd_leaf(val):
        st.note_page(st, addr, 0, val)
        walk.action = ACTION_CONTINUE

    return 0


def ptdump_p4d_entry(p4d: Any, addr: int, next: int, walk: MmWalk) -> int:
    """ptdump_p4d_entry(), 6.1 and 6.12."""
    st: Any = walk.private
    val = p4d.get()

    if st.effective_prot:
        st.effective_prot(st, 1, val)

    if p4d_leaf(val):
        st.note_page(st, addr, 1, val)
        walk.action = ACTION_CONTINUE

    return 0


def ptdump_pud_entry(pud: Any, addr: int, next: int, walk: MmWalk) -> int:
    """ptdump_pud_entry(), 6.1 and 6.12."""
    st: Any = walk.private
    val = pud.get()

    if st.effective_prot:
        st.effective_prot(st, 2, val)

    if walk.arch.pud_leaf(val):
        st.note_page(st, addr, 2, val)
        walk.action = ACTION_CONTINUE

    return 0


def ptdump_pmd_entry(pmd: Any, addr: int, next: int, walk: MmWalk) -> int:
    """ptdump_pmd_entry(), 6.1 and 6.12."""
    st: Any = walk.private
    val = pmd.get()

    if st.effective_prot:
        st.effective_prot(st, 3, val)
    if walk.arch.pmd_leaf(val):
        st.note_page(st, addr, 3, val)
        walk.action = ACTION_CONTINUE

    return 0


def ptdump_pte_entry(pte: Any, addr: int, next: int, walk: MmWalk) -> int:
    """ptdump_pte_entry(): 6.1 reads ptep_get(), 6.12 ptep_get_lockless().

    The walker made this Entry just before the call: its ``val`` is what
    either read returns.
    """
    st: Any = walk.private
    val = pte.val

    if st.effective_prot:
        st.effective_prot(st, 4, val)

    st.note_page(st, addr, 4, val)

    return 0


def ptdump_hole_v6_1(addr: int, next: int, depth: int, walk: MmWalk) -> int:
    """ptdump_hole(), 6.1: a zero entry at level ``depth``, whatever it is."""
    st: Any = walk.private

    st.note_page(st, addr, depth, 0)

    return 0


def ptdump_hole_v6_12(addr: int, next: int, depth: int, walk: MmWalk) -> int:
    """ptdump_hole(), 6.12: note_page_pte/pmd/pud/p4d/pgd of a zero entry for
    depth 4..0; any other depth notes nothing."""
    st: Any = walk.private

    if 0 <= depth <= 4:
        st.note_page(st, addr, depth, 0)

    return 0


def pgd_leaf(val: int) -> bool:
    """pgd_leaf(): x86 has no pgd leaves (asm-generic's 0)."""
    return False


def p4d_leaf(val: int) -> bool:
    """p4d_leaf() (6.1: p4d_large()): x86 has no 512 GiB pages."""
    return False


def ptdump_ops(hole: Callable[[int, int, int, MmWalk], int]) -> MmWalkOps:
    """static const struct mm_walk_ops ptdump_ops."""
    return MmWalkOps(pgd_entry=ptdump_pgd_entry, p4d_entry=ptdump_p4d_entry,
                     pud_entry=ptdump_pud_entry, pmd_entry=ptdump_pmd_entry,
                     pte_entry=ptdump_pte_entry, pte_hole=hole)


def ptdump_walk_pgd(st: Any, mm: Any, pgd: Optional[int]) -> None:
    """ptdump_walk_pgd(): ``pgd`` is the physical address of the pgd to walk
    (None: mm->pgd)."""
    k = st.kernel
    ops = ptdump_ops(k.hole)

    # DUMP: get_online_mems(), mmap_write_lock(mm) and init_mm's lock have
    # nothing to hold off in a dump.
    for start, end in st.range:
        if start == end:
            break
        # 6.12: walk_page_range_debug(), the same walk as
        # walk_page_range_novma() once the lock assertions are gone.
        walk_page_range_novma(mm, start, end, ops, pgd=pgd, private=st,
                              problems=k.problems)

    # Flush out the last page: 6.1 st->note_page(st, 0, -1, 0), 6.12
    # st->note_page_flush(st)
    st.note_page_flush(st)


# -- arch/x86/mm/dump_pagetables.c -------------------------------------------
