"""ptdump on arm64 (mm/ptdump.c + arch/arm64/mm/ptdump.c) on the booted arm64
labs, against the real kernels.

Debian's arm64 kernels build the walk (CONFIG_PTDUMP_CORE, CONFIG_DEBUG_WX)
but not /sys/kernel/debug/kernel_page_tables, so the truth is:

1. the kernel's own ``address_markers``: 6.12's ptdump_init() copies them into
   its static array (symbol ``address_markers.N``), read from the dump, names
   and addresses.  6.1's static array is optimized out of Debian's build (no
   PTDUMP_DEBUGFS: nothing reads it): its size comes from the DWARF type and
   its addresses from what the 6.1 kernel publishes in its VMCOREINFO
   (VA_BITS, MODULES_*, VMALLOC_*, VMEMMAP_*).
2. the guest's boot log: ptdump_check_wx()'s "Checked W+X mappings" line.
3. the walker (walk_page_range_novma() of init_mm): every entry lies in one
   printed line with its level and the columns dump_prot() makes of it, and
   the lines tile [base, 2^64) in order under the right markers.
"""

from __future__ import annotations

import bisect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from drgn import Object

from drgn_pagewalk.target.drgn_target import get_target
from drgn_pagewalk.ops import ptdump, ptdump_arm64
from drgn_pagewalk import PMD, PUD, MmWalkOps, walk_page_range_novma

from .counts import count
from .labcache import kernel_vmcoreinfo_number

MASK64 = (1 << 64) - 1
TOOL = str(Path(sys.executable).with_name("drgn-pagewalk"))

# arch/arm64/mm/ptdump.c's pte_bits[] (mask, val, set, clear), written out
# from the kernel source with the bit numbers of pgtable-hwdef.h and the
# MT_* indices of memory.h, independently of the port.
PTE_BITS: List[Tuple[int, int, str, Optional[str]]] = [
    (1 << 0, 1 << 0, " ", "F"),
    (1 << 6, 1 << 6, "USR", "   "),
    (1 << 7, 1 << 7, "ro", "RW"),
    (1 << 53, 1 << 53, "NX", "x "),
    (3 << 8, 3 << 8, "SHD", "   "),
    (1 << 10, 1 << 10, "AF", "  "),
    (1 << 11, 1 << 11, "NG", "  "),
    (1 << 52, 1 << 52, "CON", "   "),
    (1 << 1, 1 << 1, "   ", "BLK"),
    (1 << 54, 1 << 54, "UXN", "   "),
    (1 << 50, 1 << 50, "GP", "  "),
    (7 << 2, 3 << 2, "DEVICE/nGnRnE", None),
    (7 << 2, 4 << 2, "DEVICE/nGnRE", None),
    (7 << 2, 2 << 2, "MEM/NORMAL-NC", None),
    (7 << 2, 0 << 2, "MEM/NORMAL", None),
    (7 << 2, 1 << 2, "MEM/NORMAL-TAGGED", None),
]
PROT_MASK = 0
for _mask, _val, _set, _clear in PTE_BITS:
    PROT_MASK |= _mask

LINE = re.compile(r"0x([0-9a-f]{16})-0x([0-9a-f]{16})   ([ \d]{9}\d?)([KMGTPE]) "
                  r"(PGD|P4D|PUD|PMD|PTE)(.*)")
UNIT_SHIFT = {"K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60}

_cache: Dict[str, Any] = {}


def columns(val: int) -> str:
    """What dump_prot() prints after the level name for an entry ``val``
    (nothing when the masked bits are 0)."""
    prot = val & PROT_MASK
    if not prot:
        return ""
    out = ""
    for mask, v, set_, clear in PTE_BITS:
        s = set_ if prot & mask == v else clear
        if s is not None:
            out += " " + s
    return out


def text(lab, prog) -> str:
    if lab.name not in _cache:
        _cache[lab.name] = ptdump.ptdump_text(prog)
    return _cache[lab.name]


def parse(txt: str) -> Tuple[List[Tuple[int, int, str, str, int]], List[Tuple[int, str]]]:
    """(start, end, level, columns, marker index) of each line, and
    (index of the next line, name) of each marker header."""
    lines, headers = [], []
    for row in txt.splitlines():
        m = re.fullmatch(r"---\[ (.*) \]---", row)
        if m:
            headers.append((len(lines), m.group(1)))
            continue
        m = LINE.fullmatch(row)
        assert m, f"unexpected ptdump line {row!r}"
        start, end = int(m.group(1), 16), int(m.group(2), 16)
        size = int(m.group(3)) << UNIT_SHIFT[m.group(4)]
        assert (end - start) & MASK64 == size & MASK64 or (end == 0 and size == (1 << 64) - start), row
        lines.append((start, end, m.group(5), m.group(6), len(headers) - 1))
    return lines, headers


# -- 1. the markers ------------------------------------------------------------

def kernel_markers(prog) -> List[Tuple[int, Optional[str]]]:
    """6.12: ptdump_init()'s static address_markers, as the dump holds it."""
    syms = [s for s in prog.symbols() if s.name.split(".")[0] == "address_markers"]
    assert len(syms) == 1, syms
    t = prog.type("struct addr_marker")
    arr = Object(prog, prog.array_type(t, syms[0].size // t.size), address=syms[0].address)
    return [(m.start_address.value_(),
             m.name.string_().decode() if m.name.value_() else None) for m in arr]


def test_address_markers_are_the_kernels(lab, prog):
    ours = [(m.start_address, m.name) for m in ptdump_arm64.address_markers(prog)]
    version = get_target(prog).arch.kernel_version
    if version >= (6, 12):
        assert ours == kernel_markers(prog)
        count("arm64 ptdump markers compared with the kernel's address_markers",
              len(ours))
    else:
        var = prog.variable("address_markers")
        assert var.absent_  # optimized out of Debian's 6.1 (no PTDUMP_DEBUGFS)
        assert len(ours) == len(var)  # struct addr_marker [13]
        enum = prog.type("enum address_markers_idx")
        assert [e.name for e in enum.enumerators] == ["PAGE_OFFSET_NR", "PAGE_END_NR"]
    # what the kernel publishes in VMCOREINFO (arch_crash_save_vmcoreinfo())
    by_name = dict((name, addr) for addr, name in ours)
    va_bits = kernel_vmcoreinfo_number(prog, "VA_BITS")
    published = {
        "Linear Mapping start": -(1 << va_bits) & MASK64,
        "Modules start": "MODULES_VADDR", "Modules end": "MODULES_END",
        "vmalloc() area": "VMALLOC_START", "vmalloc() end": "VMALLOC_END",
    }
    if version < (6, 12):
        # 6.12's marker is the vmemmap of the VA bits in use, not VMEMMAP_START
        published.update({"vmemmap start": "VMEMMAP_START", "vmemmap end": "VMEMMAP_END"})
    for name, what in published.items():
        want = what if isinstance(what, int) else kernel_vmcoreinfo_number(prog, what) & MASK64
        assert by_name[name] == want, name
    count("arm64 ptdump markers compared with the kernel's VMCOREINFO", len(published))


# -- 2. the boot log -----------------------------------------------------------

def boot_log_wx_lines(lab) -> List[str]:
    out = []
    for line in (lab.truth / "dmesg").read_text().splitlines():
        t = re.sub(r"^\[\s*\d+\.\d+\]\s", "", line)
        if "W+X" in t or "non-UXN" in t:
            out.append(t)
    return out


def test_checkwx_matches_the_boot_log(lab, prog):
    result = ptdump.checkwx(prog)
    expected = boot_log_wx_lines(lab)
    assert expected and result["lines"] == expected
    assert result["passed"] == ("passed" in expected[-1]) and result["problems"] == []
    count("arm64 W+X check messages compared with the boot log")


# -- 3. the walker ---------------------------------------------------------------

LEVELS = ("PGD", "P4D", "PUD", "PMD", "PTE")


class Entries:
    """Every leaf a novma walk of init_mm visits: pud and pmd leaves, every
    pte (none or not: ptdump notes them all), and the holes, named as the
    kernel names a zero entry of that depth: 6.12's note_page() calls a level
    folded at run time "PGD" (a 52-bit kernel on a 48-bit CPU: its p4d with
    4 KiB pages, its pud with 16 KiB pages on a 47-bit CPU)."""

    def __init__(self, arch, p4d_folded_at_run_time: bool,
                 pud_folded_at_run_time: bool = False) -> None:
        self.arch = arch
        self.names = list(LEVELS)
        if p4d_folded_at_run_time:
            self.names[1] = "PGD"
        if pud_folded_at_run_time:
            self.names[2] = "PGD"
        self.entries: List[Tuple[int, int, str, int]] = []  # addr, size, level, val
        self.ops = MmWalkOps(pud_entry=self.pud_entry, pmd_entry=self.pmd_entry,
                             pte_entry=self.pte_entry, pte_hole=self.pte_hole)

    def pte_hole(self, addr, next, depth, walk):
        assert 0 <= depth <= 4
        self.entries.append((addr, (next - addr) & MASK64, self.names[depth], 0))
        return 0

    def pud_entry(self, pud, addr, next, walk):
        if self.arch.pud_leaf(pud.val):
            self.entries.append((addr, 1 << self.arch.shifts[PUD], "PUD", pud.val))
        return 0

    def pmd_entry(self, pmd, addr, next, walk):
        if self.arch.pmd_leaf(pmd.val):
            self.entries.append((addr, 1 << self.arch.shifts[PMD], "PMD", pmd.val))
        return 0

    def pte_entry(self, pte, addr, next, walk):
        self.entries.append((addr, self.arch.page_size, "PTE", pte.val))
        return 0


def test_lines_cover_the_walk(lab, prog):
    target = get_target(prog)
    markers = ptdump_arm64.address_markers(prog)
    base = ptdump_arm64.kernel_base_addr(ptdump_arm64.Arm64Kernel(prog))
    assert base == (1 << 64) - (1 << target.arch.vabits_actual)  # the TTBR1 range
    lines, headers = parse(text(lab, prog))

    # the lines tile [base, 2^64) in address order
    assert lines[0][0] == base and lines[-1][1] == 0
    for a, b in zip(lines, lines[1:]):
        assert a[1] == b[0] and a[0] < a[1], (hex(a[0]), hex(b[0]))

    # every marker once, in order; a line lies under the last marker at or
    # below its start (the first header: whatever the walk starts in)
    assert [name for _, name in headers] == [m.name for m in markers[:-1]]
    for start, end, level, cols, h in lines:
        assert h >= 0
        if h > 0:
            assert start >= markers[h].start_address, (hex(start), headers[h])
        assert start < markers[h + 1].start_address, (hex(start), headers[h])

    # every entry of the walk lies in one line, with its level and columns
    va_bits = kernel_vmcoreinfo_number(prog, "VA_BITS")
    vabits_actual = 64 - kernel_vmcoreinfo_number(prog, "TCR_EL1_T1SZ")
    new = target.arch.kernel_version >= (6, 12)
    rec = Entries(target.arch,
                  new and va_bits == 52 and vabits_actual == 48,  # 4 KiB pages: the p4d
                  new and va_bits == 52 and vabits_actual == 47)  # 16 KiB pages: the pud
    assert walk_page_range_novma(prog["init_mm"].address_of_(), base, MASK64, rec.ops) == 0
    starts = [line[0] for line in lines]
    leaves = 0
    for addr, size, level, val in rec.entries:
        i = bisect.bisect_right(starts, addr) - 1
        start, end, lvl, cols, _ = lines[i]
        assert start <= addr and ((addr + size) & MASK64 <= end or end == 0), hex(addr)
        assert (lvl, cols) == (level, columns(val)), (hex(addr), hex(val))
        leaves += val != 0
    assert leaves > 1000
    count("arm64 ptdump lines checked against the walker", len(lines))
    count("arm64 page-table entries and holes found in their ptdump line",
          len(rec.entries))


def test_ranges_are_the_lines(lab, prog):
    """ptdump_ranges() (the table and JSON) is what the text prints."""
    lines, _ = parse(text(lab, prog))
    ranges = ptdump.ptdump_ranges(prog)
    assert [(r["start"], r["end"], r["level"]) for r in ranges] == \
        [(s, e, lvl) for s, e, lvl, _, _ in lines]
    assert [" ".join(r["flags"].split()) for r in ranges] == \
        [" ".join(cols.split()) for _, _, _, cols, _ in lines]


def test_no_process_tables(lab, prog):
    """arm64 has the kernel table only: --pid is refused in one line."""
    init = prog["init_task"]
    try:
        ptdump.ptdump_text(prog, init)
    except Exception as e:  # TargetError
        assert "only the kernel page table" in str(e)
    else:
        raise AssertionError("ptdump of a task on arm64")


# -- the CLI -----------------------------------------------------------------------

def _run(lab, args: List[str]) -> Tuple[int, str, str]:
    p = subprocess.run([TOOL, "-c", str(lab.vmcore), "-s", str(lab.vmlinux)] + args,
                       capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def test_cli(lab, prog):
    code, out, err = _run(lab, ["ptdump", "--format", "proc"])
    assert code == 0 and out == text(lab, prog), err
    code, out, err = _run(lab, ["ptdump", "--checkwx", "--format", "proc"])
    assert code == 0 and out.splitlines() == ptdump.checkwx(prog)["lines"], err
    code, out, err = _run(lab, ["ptdump"])
    assert code == 0 and out and not err
    code, out, err = _run(lab, ["ptdump", "--pid", "1"])
    assert code == 2 and "only the kernel page table" in err and len(err.splitlines()) == 1
