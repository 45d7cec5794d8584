"""The kernel's page-table dumper: mm/ptdump.c and arch/x86/mm/dump_pagetables.c
of Linux 6.1 (Debian 6.1.192) and 6.12 (Debian 6.12.117), run over a dump.

``ptdump_walk_pgd()`` is a ``walk_page_range_novma()`` of each ``ptdump_range``
with the callbacks of mm/ptdump.c; they feed x86's ``note_page()``, which merges
entries with equal protections into the lines of
``/sys/kernel/debug/page_tables/{kernel,current_kernel,current_user}`` and
counts W+X pages for ``ptdump_walk_pgd_level_checkwx()``.  Each function
mirrors the kernel function of the same name; the format strings are the
kernel's.  Where a dump forces a difference, a ``DUMP:`` comment says so:

* seq_printf() and printk() write into Python lists: the debugfs text is
  :func:`ptdump_text`, the log lines (pr_info, WARN_ONCE's message) are
  :func:`checkwx`'s ``lines``.
* get_online_mems() and the mmap write locks of ptdump_walk_pgd() protect
  against nothing in a frozen image.
* The walker reports damaged tables (walk.py) instead of clearing them.

Where 6.1 and 6.12 differ in behaviour there is one function per behaviour,
picked in :func:`_variant` from the dump's kernel version:

* ``ptdump_hole``: 6.1 notes a zero entry of level ``depth`` for any depth;
  6.12 only for depths 0..4 (it builds a zero pXd_t per level).  A novma walk
  only gives depths 0..4, so both print the same.
* ``ptdump_walk_pgd_level_checkwx``: 6.12 returns early (no walk, no message)
  when the CPU has no NX; 6.1 walks and prints anyway.

6.12's other changes are not behavioural: ``st->note_page_pgd(st, addr, val)``
and its siblings are x86 wrappers calling ``note_page(st, addr, LEVEL, val)``,
``note_page_flush()`` is ``note_page(st, 0, -1, 0)``,
``walk_page_range_debug()`` is ``walk_page_range_novma()`` with the lock
assertions moved, ``ptep_get_lockless()`` reads what ``ptep_get()`` reads, and
``ptdump_walk_pgd_level_core()`` returns whether no W+X page was found.

The dumper proper is x86-64's dump_pagetables.c: the address markers, the
attribute columns and the PTI user pgd are x86's.  The mm/ptdump.c part
(the callbacks and ptdump_walk_pgd()) is shared with arm64's
arch/arm64/mm/ptdump.c in :mod:`.ptdump_arm64`, and the entry points
(:func:`ptdump_text`, :func:`ptdump_ranges`, :func:`checkwx`) hand an arm64
dump to it.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from ..arch.base import MASK64
from ..arch.x86_64 import (
    _PAGE_GLOBAL,
    _PAGE_NX,
    _PAGE_PAT,
    _PAGE_PAT_LARGE,
    _PAGE_PCD,
    _PAGE_PRESENT,
    _PAGE_PSE,
    _PAGE_PWT,
    _PAGE_RW,
    _PAGE_USER,
    START_KERNEL_MAP,
)
from ..target.drgn_target import get_target
from ..target.base import TargetError, WalkProblem
from .ptdump_core import (  # mm/ptdump.c, shared with ptdump_arm64
    AddrMarker,
    KernelLog,
    PtdumpState,
    ptdump_hole_v6_1,
    ptdump_hole_v6_12,
    ptdump_walk_pgd,
)

PAGE_SIZE = 4096
PAGE_SHIFT = 12

# arch/x86/include/asm/page_64_types.h, pgtable_64_types.h, fixmap.h
#: KERNEL_IMAGE_SIZE with CONFIG_RANDOMIZE_BASE (set in Debian's kernels;
#: 512 MiB without it).
KERNEL_IMAGE_SIZE = 1024 * 1024 * 1024
MODULES_VADDR = START_KERNEL_MAP + KERNEL_IMAGE_SIZE
#: MODULES_END without CONFIG_DEBUG_KMAP_LOCAL_FORCE_MAP.
MODULES_END = 0xFFFFFFFFFF000000
P4D_SHIFT = 39
PMD_SHIFT = 21
ESPFIX_BASE_ADDR = (-2 << P4D_SHIFT) & MASK64
CPU_ENTRY_AREA_BASE = (-4 << P4D_SHIFT) & MASK64
EFI_VA_END = (-68 * (1 << 30)) & MASK64
VSYSCALL_ADDR = (-10 << 20) & MASK64
#: FIXADDR_TOP: round_up(VSYSCALL_ADDR + PAGE_SIZE, 1 << PMD_SHIFT) - PAGE_SIZE
FIXADDR_TOP = (((VSYSCALL_ADDR + PAGE_SIZE + (1 << PMD_SHIFT) - 1)
                & ~((1 << PMD_SHIFT) - 1)) - PAGE_SIZE) & MASK64
GUARD_HOLE_PGD_ENTRY = -256
LDT_PGD_ENTRY = -240


class Kernel(KernelLog):
    """What dump_pagetables.c reads from the running kernel, read once from
    the dump, and where its printk() output goes.

    DUMP: ``log`` collects what printk() would have written to the kernel log;
    ``warned`` is WARN_ONCE()'s once-flag, for this run only.
    """

    def __init__(self, prog: Any) -> None:
        self.prog = prog
        self.target = get_target(prog)
        self.arch = self.target.arch
        self.version = self.arch.kernel_version
        self.supported_pte_mask = int(prog["__supported_pte_mask"])
        #: boot_cpu_has(X86_FEATURE_PTI), probed by the target.
        self.pti = self.arch.pti
        #: PTE_FLAGS_MASK: ~PTE_PFN_MASK.
        self.pte_flags_mask = ~self.arch.pte_pfn_mask & MASK64
        self.address_markers = address_markers(prog, self.target)
        self.init_mm = self.target.mm(prog["init_mm"].address_of_())
        #: INIT_PGD (init_top_pgt) as a physical address.
        self.init_pgd = self.target.virt_to_phys(prog.symbol("init_top_pgt").address)
        self.log = ""
        self.warned = False
        self.problems: List[WalkProblem] = []
        self.hole, self.checkwx = _variant(self.version)



# -- arch/x86/mm/dump_pagetables.c: the address markers ----------------------

def address_markers(prog: Any, target: Any) -> List[AddrMarker]:
    """address_markers[] as pt_dump_init() leaves it (CONFIG_X86_64).

    Which markers exist depends on the kernel's configuration
    (CONFIG_MODIFY_LDT_SYSCALL, CONFIG_KASAN, CONFIG_X86_ESPFIX64,
    CONFIG_EFI): the dump's own ``enum address_markers_idx`` says which.  The
    KASLR-dependent starts are the dump's page_offset_base, vmalloc_base and
    vmemmap_base; LDT_BASE_ADDR follows the runtime PGDIR_SHIFT.
    """
    arch = target.arch
    pgdir_shift = arch.shifts[0]
    fixaddr_size = int(prog.constant("__end_of_permanent_fixed_addresses")) << PAGE_SHIFT
    # the initializer, then pt_dump_init()
    known: Dict[str, AddrMarker] = {
        "USER_SPACE_NR": AddrMarker(0, "User Space"),
        "KERNEL_SPACE_NR": AddrMarker(1 << 63, "Kernel Space"),
        "LOW_KERNEL_NR": AddrMarker(int(prog["page_offset_base"]), "Low Kernel Mapping"),
        "VMALLOC_START_NR": AddrMarker(int(prog["vmalloc_base"]), "vmalloc() Area"),
        "VMEMMAP_START_NR": AddrMarker(int(prog["vmemmap_base"]), "Vmemmap"),
        "LDT_NR": AddrMarker((LDT_PGD_ENTRY << pgdir_shift) & MASK64, "LDT remap"),
        "CPU_ENTRY_AREA_NR": AddrMarker(CPU_ENTRY_AREA_BASE, "CPU entry Area"),
        "ESPFIX_START_NR": AddrMarker(ESPFIX_BASE_ADDR, "ESPfix Area", 16),
        "EFI_END_NR": AddrMarker(EFI_VA_END, "EFI Runtime Services"),
        "HIGH_KERNEL_NR": AddrMarker(START_KERNEL_MAP, "High Kernel Mapping"),
        "MODULES_VADDR_NR": AddrMarker(MODULES_VADDR, "Modules"),
        "MODULES_END_NR": AddrMarker(MODULES_END, "End Modules"),
        "FIXADDR_START_NR": AddrMarker(FIXADDR_TOP - fixaddr_size, "Fixmap Area"),
        "END_OF_SPACE_NR": AddrMarker(MASK64, None),
    }
    try:
        enum = prog.type("enum address_markers_idx")
        order = sorted(enum.enumerators, key=lambda e: e.value)
        names = [e.name for e in order]
    except LookupError:
        # No debug info for dump_pagetables.c: Debian's configuration.
        names = ["USER_SPACE_NR", "KERNEL_SPACE_NR", "LDT_NR", "LOW_KERNEL_NR",
                 "VMALLOC_START_NR", "VMEMMAP_START_NR", "CPU_ENTRY_AREA_NR",
                 "EFI_END_NR", "HIGH_KERNEL_NR", "MODULES_VADDR_NR",
                 "MODULES_END_NR", "FIXADDR_START_NR", "END_OF_SPACE_NR"]
    unknown = [n for n in names if n not in known]
    if unknown:
        # KASAN_SHADOW_START_NR/KASAN_SHADOW_END_NR: a KASAN kernel also
        # short-cuts the walk (note_kasan_page_table()); not ported.
        raise TargetError(f"ptdump: address markers {', '.join(unknown)} of a "
                          "kernel configuration this port does not cover (KASAN?)")
    return [known[n] for n in names]


class PgState(PtdumpState):
    """struct pg_state, which embeds struct ptdump_state (container_of() is
    the identity here).  ``seq`` is the seq_file: a list of strings, or None.

    DUMP: ``ranges`` and ``wx`` record each finished range and each note_wx()
    for :func:`ptdump_ranges` and :func:`checkwx`.
    """

    def __init__(self, kernel: Kernel, seq: Optional[List[str]], check_wx: bool,
                 to_dmesg: bool, ranges: List[Tuple[int, int]]) -> None:
        self.note_page = note_page
        self.note_page_flush = note_page_flush
        self.effective_prot = effective_prot
        self.range = ranges
        self.level = -1
        self.current_prot = 0
        self.effective_prot_val = 0  # st->effective_prot
        self.prot_levels = [0, 0, 0, 0, 0]
        self.start_address = 0
        self.marker = 0  # index into address_markers
        self.lines = 0
        self.to_dmesg = to_dmesg
        self.check_wx = check_wx
        self.wx_pages = 0
        self.seq = seq
        self.kernel = kernel
        self.markers = kernel.address_markers
        self.flags_mask = kernel.pte_flags_mask
        self.ranges: List[Dict[str, Any]] = []
        self.wx: List[Dict[str, Any]] = []


def pt_dump_seq_printf(st: PgState, text: str) -> None:
    """pt_dump_seq_printf(): printk(KERN_INFO) with to_dmesg, else
    seq_printf() if there is a seq_file.  DUMP: both go to lists."""
    if st.to_dmesg:
        st.kernel.printk(text)
    elif st.seq is not None:
        st.seq.append(text)


def pt_dump_cont_printf(st: PgState, text: str) -> None:
    """pt_dump_cont_printf(): printk(KERN_CONT) or seq_printf()."""
    if st.to_dmesg:
        st.kernel.printk(text, cont=True)
    elif st.seq is not None:
        st.seq.append(text)


LEVEL_NAME = ("pgd", "p4d", "pud", "pmd", "pte")


def prot_fields(pr: int, level: int) -> List[str]:
    """The columns printk_prot() prints for ``pr`` at ``level``, in order."""
    if not pr & _PAGE_PRESENT:
        # Not present
        return ["                              "]
    return [
        "USR " if pr & _PAGE_USER else "    ",
        "RW " if pr & _PAGE_RW else "ro ",
        "PWT " if pr & _PAGE_PWT else "    ",
        "PCD " if pr & _PAGE_PCD else "    ",
        # Bit 7 has a different meaning on level 3 vs 4
        "PSE " if level <= 3 and pr & _PAGE_PSE else "    ",
        "PAT " if ((level == 4 and pr & _PAGE_PAT)
                   or ((level == 3 or level == 2) and pr & _PAGE_PAT_LARGE)) else "    ",
        "GLB " if pr & _PAGE_GLOBAL else "    ",
        "NX " if pr & _PAGE_NX else "x  ",
    ]


def printk_prot(st: PgState, pr: int, level: int) -> None:
    """printk_prot(): a readable form of a pgprot_t."""
    for field in prot_fields(pr, level):
        pt_dump_cont_printf(st, field)
    pt_dump_cont_printf(st, "%s\n" % LEVEL_NAME[level])


def note_wx(st: PgState, addr: int) -> None:
    """note_wx(): count the W+X pages of the finished range.

    CONFIG_PCI_BIOS (the PCI BIOS exception) is x86-32 only.
    """
    k = st.kernel
    npages = ((addr - st.start_address) & MASK64) // PAGE_SIZE

    # Account the WX pages
    st.wx_pages += npages
    st.wx.append({"start": st.start_address, "end": addr,
                  "size": (addr - st.start_address) & MASK64, "pages": npages,
                  "level": LEVEL_NAME[st.level] if 0 <= st.level <= 4 else None,
                  "flags": "".join(prot_fields(st.current_prot, st.level)).strip(),
                  "marker": st.markers[st.marker].name})
    # WARN_ONCE(__supported_pte_mask & _PAGE_NX, ...): DUMP: the message line
    # only (not the "cut here" banner or the backtrace), once per run.
    if k.supported_pte_mask & _PAGE_NX and not k.warned:
        k.warned = True
        k.printk("x86/mm: Found insecure W+X mapping at address %s\n"
                 % k.sprint_symbol(st.start_address))


def effective_prot(st: PgState, level: int, val: int) -> None:
    """effective_prot(): USER and RW must be set at every level, NX at any."""
    prot = val & st.flags_mask

    if level > 0:
        higher_prot = st.prot_levels[level - 1]

        effective = ((higher_prot & prot & (_PAGE_USER | _PAGE_RW))
                     | ((higher_prot | prot) & _PAGE_NX))
    else:
        effective = prot

    st.prot_levels[level] = effective


UNITS = "BKMGTPE"


def note_page(st: PgState, addr: int, level: int, val: int) -> None:
    """note_page(): called on every entry; on a "break" in the series
    (protections, level or address marker change) prints what was collected.

    6.12's note_page_pte/pmd/pud/p4d/pgd(st, addr, x) are
    note_page(st, addr, LEVEL, x) and note_page_flush() is
    note_page(st, 0, -1, 0).
    """
    new_prot = val & st.flags_mask
    if not val:
        new_eff = 0
    else:
        new_eff = st.prot_levels[level]

    # If we have a "break" in the series, we need to flush the state that
    # we have now. "break" is either changing perms, levels or address
    # space marker.
    cur = st.current_prot
    eff = st.effective_prot_val
    markers = st.markers

    if st.level == -1:
        # First entry
        st.current_prot = new_prot
        st.effective_prot_val = new_eff
        st.level = level
        st.marker = 0
        st.lines = 0
        pt_dump_seq_printf(st, "---[ %s ]---\n" % _name(markers[st.marker]))
    elif (new_prot != cur or new_eff != eff or level != st.level
          or addr >= markers[st.marker + 1].start_address):
        marker = markers[st.marker]
        width = 8 * 2  # sizeof(unsigned long) * 2

        if st.check_wx and (eff & _PAGE_RW) and not (eff & _PAGE_NX):
            note_wx(st, addr)

        # Now print the actual finished series
        printed = not marker.max_lines or st.lines < marker.max_lines
        if printed:
            pt_dump_seq_printf(st, "0x%0*x-0x%0*x   " % (width, st.start_address,
                                                         width, addr))
            delta = (addr - st.start_address) & MASK64
            unit = 0
            while not delta & 1023 and unit + 1 < len(UNITS):
                delta >>= 10
                unit += 1
            pt_dump_cont_printf(st, "%9u%c " % (delta, UNITS[unit]))
            printk_prot(st, st.current_prot, st.level)
        st.lines += 1
        _record(st, addr, cur, eff, printed, marker.name)

        # We print markers for special areas of address space, such as the
        # start of vmalloc space etc.  This helps in the interpretation.
        if addr >= markers[st.marker + 1].start_address:
            if marker.max_lines and st.lines > marker.max_lines:
                nskip = st.lines - marker.max_lines
                pt_dump_seq_printf(st, "... %u entr%s skipped ... \n"
                                   % (nskip, "y" if nskip == 1 else "ies"))
            st.marker += 1
            st.lines = 0
            pt_dump_seq_printf(st, "---[ %s ]---\n" % _name(markers[st.marker]))

        st.start_address = addr
        st.current_prot = new_prot
        st.effective_prot_val = new_eff
        st.level = level


def note_page_flush(st: PgState) -> None:
    """note_page_flush() of x86 (6.12), and 6.1's flush call:
    note_page(st, 0, -1, 0)."""
    note_page(st, 0, -1, 0)


def _name(marker: AddrMarker) -> str:
    """%s of the marker name: vsprintf prints a NULL string as "(null)"."""
    return "(null)" if marker.name is None else marker.name


def _record(st: PgState, addr: int, prot: int, eff: int, printed: bool,
            marker: Optional[str]) -> None:
    """DUMP: keep the finished range for ptdump_ranges()."""
    level = st.level
    size = (addr - st.start_address) & MASK64
    st.ranges.append({
        "start": st.start_address,
        "end": addr,
        "size": size,
        "level": LEVEL_NAME[level],
        "marker": marker,
        "flags": "".join(prot_fields(prot, level)).strip(),
        "present": bool(prot & _PAGE_PRESENT),
        "user": bool(prot & _PAGE_USER),
        "rw": bool(prot & _PAGE_RW),
        "nx": bool(prot & _PAGE_NX),
        "pwt": bool(prot & _PAGE_PWT),
        "pcd": bool(prot & _PAGE_PCD),
        "pse": level <= 3 and bool(prot & _PAGE_PSE),
        "glb": bool(prot & _PAGE_GLOBAL),
        "effective_user": bool(eff & _PAGE_USER),
        "effective_rw": bool(eff & _PAGE_RW),
        "effective_nx": bool(eff & _PAGE_NX),
        "prot": prot,
        "effective_prot": eff,
        "printed": printed,
    })


def ptdump_walk_pgd_level_core(k: Kernel, m: Optional[List[str]], mm: Any,
                               pgd: Optional[int], checkwx: bool,
                               dmesg: bool) -> Tuple[bool, PgState]:
    """ptdump_walk_pgd_level_core(): 6.1 returns nothing, 6.12 whether no
    W+X page was found; both print the same.  DUMP: the pg_state is returned
    too, for its recorded ranges."""
    arch = k.arch
    # PTRS_PER_PGD * PGD_LEVEL_MULT / 2 and GUARD_HOLE_END_ADDR
    pgd_level_mult = arch.ptrs_per[1] << 39
    pgdir_shift = arch.shifts[0]
    guard_hole_end = ((GUARD_HOLE_PGD_ENTRY << pgdir_shift)
                      + (16 << pgdir_shift)) & MASK64
    ranges = [
        (0, arch.ptrs_per[0] * pgd_level_mult // 2),
        (guard_hole_end, MASK64),
        (0, 0),
    ]

    st = PgState(k, m, checkwx, dmesg, ranges)

    ptdump_walk_pgd(st, mm, pgd)

    if not checkwx:
        return True, st
    if st.wx_pages:
        k.pr_info("x86/mm: Checked W+X mappings: FAILED, %u W+X pages found.\n"
                  % st.wx_pages)
        return False, st
    k.pr_info("x86/mm: Checked W+X mappings: passed, no W+X pages found.\n")
    return True, st


def kernel_to_user_pgdp(pgd: int) -> int:
    """kernel_to_user_pgdp(): the PTI user copy is the next page
    (PTI_PGTABLE_SWITCH_BIT is PAGE_SHIFT), here as a physical address."""
    return pgd | (1 << PAGE_SHIFT)


def ptdump_walk_pgd_level_debugfs(k: Kernel, m: List[str], mm: Any,
                                  user: bool) -> PgState:
    """ptdump_walk_pgd_level_debugfs(): the debugfs files."""
    pgd = mm.pgd
    if user and k.pti:
        pgd = kernel_to_user_pgdp(pgd)
    return ptdump_walk_pgd_level_core(k, m, mm, pgd, False, False)[1]


def ptdump_walk_user_pgd_level_checkwx(k: Kernel) -> List[PgState]:
    """ptdump_walk_user_pgd_level_checkwx(), 6.1 and 6.12
    (CONFIG_PAGE_TABLE_ISOLATION / CONFIG_MITIGATION_PAGE_TABLE_ISOLATION)."""
    pgd = k.init_pgd

    if not k.supported_pte_mask & _PAGE_NX or not k.pti:
        return []

    k.pr_info("x86/mm: Checking user space page tables\n")
    pgd = kernel_to_user_pgdp(pgd)
    return [ptdump_walk_pgd_level_core(k, None, k.init_mm, pgd, True, False)[1]]


def ptdump_walk_pgd_level_checkwx_v6_1(k: Kernel) -> List[PgState]:
    """ptdump_walk_pgd_level_checkwx(), 6.1: always walks and reports."""
    return [ptdump_walk_pgd_level_core(k, None, k.init_mm, k.init_pgd, True, False)[1]]


def ptdump_walk_pgd_level_checkwx_v6_12(k: Kernel) -> List[PgState]:
    """ptdump_walk_pgd_level_checkwx(), 6.12 (ptdump_check_wx()): nothing
    to check, and nothing printed, without NX."""
    if not k.supported_pte_mask & _PAGE_NX:
        return []

    return [ptdump_walk_pgd_level_core(k, None, k.init_mm, k.init_pgd, True, False)[1]]


def _variant(version: Tuple[int, int]) -> Tuple[Callable[..., int], Callable[..., List[PgState]]]:
    """The one place where the kernel version picks the variants:
    (ptdump_hole, ptdump_walk_pgd_level_checkwx).  Proven on 6.1 and 6.12;
    any other version is unproven (before 6.12 it gets 6.1's variants, from
    6.12 on 6.12's)."""
    if version >= (6, 12):
        return ptdump_hole_v6_12, ptdump_walk_pgd_level_checkwx_v6_12
    return ptdump_hole_v6_1, ptdump_walk_pgd_level_checkwx_v6_1


# -- the API -----------------------------------------------------------------

def _arm64(prog: Any) -> Any:
    """arch/arm64/mm/ptdump.c's port for an arm64 dump, else None."""
    if get_target(prog).arch.name == "arm64":
        from . import ptdump_arm64
        return ptdump_arm64
    return None


def _kernel(prog: Any) -> Kernel:
    """A fresh Kernel (its log and once-flags belong to one run)."""
    return Kernel(prog)


def _debugfs(prog: Any, pid_task: Any, user: bool,
             seq: Optional[List[str]]) -> PgState:
    """The debugfs show functions of arch/x86/mm/debug_pagetables.c:
    ptdump_show() (kernel: init_mm), ptdump_curknl_show() (current_kernel)
    and ptdump_curusr_show() (current_user), with ``pid_task`` as current."""
    k = _kernel(prog)
    if pid_task is None:
        if user:
            raise TargetError("the user pgd is per process: give a task")
        mm = k.init_mm
    else:
        mm_obj = pid_task.mm
        if not mm_obj.value_():
            # current->mm->pgd would oops: a kernel thread has no mm.
            raise TargetError(f"task {pid_task.pid.value_()} has no mm "
                              "(a kernel thread)")
        mm = k.target.mm(mm_obj)
    return ptdump_walk_pgd_level_debugfs(k, seq, mm, user)


def ptdump_text(prog: Any, pid_task: Any = None, user: bool = False) -> str:
    """What /sys/kernel/debug/page_tables/kernel prints, or current_kernel
    (``pid_task`` as current) or current_user (``user=True``).  On arm64:
    what /sys/kernel/debug/kernel_page_tables prints (init_mm only)."""
    arm64 = _arm64(prog)
    if arm64:
        return str(arm64.ptdump_text(prog, pid_task, user))
    seq: List[str] = []
    _debugfs(prog, pid_task, user, seq)
    return "".join(seq)


def ptdump_ranges(prog: Any, pid_task: Any = None, user: bool = False,
                  all_ranges: bool = False) -> List[Dict[str, Any]]:
    """The ranges ptdump_text() prints, one dict each: start, end, size
    (bytes), level, marker (the section it is printed under), flags (the
    printed attribute columns), present/user/rw/nx/pwt/pcd/pse/glb of the
    entries, and effective_user/effective_rw/effective_nx (st->effective_prot:
    what all levels together allow).  With ``all_ranges``, also the ranges a
    marker's max_lines keeps from being printed (``printed`` False).
    On arm64, :func:`.ptdump_arm64.ptdump_ranges`."""
    arm64 = _arm64(prog)
    if arm64:
        return list(arm64.ptdump_ranges(prog, pid_task, user, all_ranges))
    st = _debugfs(prog, pid_task, user, None)
    if all_ranges:
        return st.ranges
    return [r for r in st.ranges if r["printed"]]


def checkwx(prog: Any) -> Dict[str, Any]:
    """What the boot-time W+X check prints (mark_rodata_ro()/mark_readonly()
    -> ptdump_walk_pgd_level_checkwx(), then pti_finalize() ->
    ptdump_walk_user_pgd_level_checkwx()), run over the dump now.

    ``lines``: the log lines (pr_info, and WARN_ONCE's message line);
    ``wx_ranges``: each W+X range note_wx() counted, with ``pgd`` "kernel"
    or "user"; ``passed``: no W+X page in any walk.  On arm64,
    ptdump_check_wx() (:func:`.ptdump_arm64.checkwx`).
    """
    arm64 = _arm64(prog)
    if arm64:
        return dict(arm64.checkwx(prog))
    k = _kernel(prog)
    states = [("kernel", st) for st in k.checkwx(k)]
    states += [("user", st) for st in ptdump_walk_user_pgd_level_checkwx(k)]
    wx_ranges = []
    for pgd, st in states:
        for r in st.wx:
            wx_ranges.append(dict(r, pgd=pgd))
    return {"lines": k.lines, "wx_ranges": wx_ranges,
            "passed": not any(st.wx_pages for _, st in states),
            "problems": [str(p) for p in k.problems]}


__all__ = ["ptdump_text", "ptdump_ranges", "checkwx", "address_markers"]
