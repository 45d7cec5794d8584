"""ptdump (mm/ptdump.c + arch/x86/mm/dump_pagetables.c) on every lab dump,
against QEMU's own view of the CPU's page tables at dump time and the
guest's boot log.

QEMU's views (truth/qemu_info_*), taken with the guest stopped, of the pgd in
CR3 (the kernel pgd of the last user mm the idle CPU ran):

* ``info tlb``: one line per present leaf, ``vaddr: paddr XGPDACTUW``
  (target/i386/monitor.c print_pte(): NX, global, PSE, dirty, accessed, PCD,
  PWT, user, RW of the leaf entry; PSE is masked off at the PTE level, where
  bit 7 is PAT).
* ``info mem``: present ranges with the effective user/write permission of all
  levels (``prot = pte & pde & pdpe & pml4e``), merged by permission.
  QEMU 7.2's mem_info_la57() tests ``pdpe & PG_PRESENT_MASK`` and
  ``pde & PG_PRESENT_MASK`` the wrong way round (it skips present entries),
  so under LA57 it prints nothing: the 5-level labs have an empty file and
  their effective permissions cannot be checked against QEMU.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Tuple

from drgn.helpers.linux.pid import for_each_task

from drgn_pagewalk.target.drgn_target import get_target
from drgn_pagewalk.ops import ptdump

from .counts import count

MASK64 = (1 << 64) - 1
LEAF_SIZE = {"pte": 1 << 12, "pmd": 1 << 21, "pud": 1 << 30}
# x86 entry bits, in QEMU's info tlb letter order: X G P D A C T U W
TLB_BITS = [("X", 1 << 63), ("G", 1 << 8), ("P", 1 << 7), ("D", 1 << 6),
            ("A", 1 << 5), ("C", 1 << 4), ("T", 1 << 3), ("U", 1 << 2),
            ("W", 1 << 1)]
CR4_LA57 = 1 << 12

_cache: Dict[Tuple[str, str], Any] = {}


# -- QEMU's views ------------------------------------------------------------

def kernel_half(levels: int) -> int:
    """The first kernel address: the sign-extended top half of the VA space."""
    return 0xFF00000000000000 if levels == 5 else 0xFFFF800000000000


def registers(lab) -> Dict[str, int]:
    text = (lab.truth / "qemu_info_registers").read_text()
    regs = {}
    for name in ("CR3", "CR4"):
        m = re.search(rf"\b{name}=([0-9a-f]+)", text)
        assert m, f"{name} not in qemu_info_registers"
        regs[name] = int(m.group(1), 16)
    return regs


def info_mem(lab) -> List[Tuple[int, int, bool, bool]]:
    """(start, end, user, write) of every line of QEMU's info mem."""
    out = []
    for line in (lab.truth / "qemu_info_mem").read_text().splitlines():
        m = re.fullmatch(r"([0-9a-f]{16})-([0-9a-f]{16}) ([0-9a-f]{16}) ([u-])r([w-])",
                         line.strip())
        assert m, f"unexpected info mem line {line!r}"
        start, end, size = (int(m.group(i), 16) for i in (1, 2, 3))
        assert (end - start) & MASK64 == size
        out.append((start, end, m.group(4) == "u", m.group(5) == "w"))
    return out


def info_tlb(lab) -> Dict[int, str]:
    """vaddr -> the XGPDACTUW flag letters of every leaf of QEMU's info tlb."""
    out = {}
    for line in (lab.truth / "qemu_info_tlb").read_text().splitlines():
        m = re.fullmatch(r"([0-9a-f]{16}): ([0-9a-f]{16}) ([X-][G-][P-][D-][A-][C-][T-][U-][W-])",
                         line.strip())
        assert m, f"unexpected info tlb line {line!r}"
        vaddr = int(m.group(1), 16)
        assert vaddr not in out
        out[vaddr] = m.group(3)
    return out


def boot_log_wx_lines(lab) -> List[str]:
    """The W+X check's lines of the guest's dmesg, without timestamps."""
    out = []
    for line in (lab.truth / "dmesg").read_text().splitlines():
        text = re.sub(r"^\[\s*\d+\.\d+\]\s", "", line)
        if "W+X" in text or text.startswith("x86/mm: Checking user space page tables"):
            out.append(text)
    return out


# -- our side ----------------------------------------------------------------

def cr3_task(lab, prog):
    """The task whose mm->pgd is the pgd in CR3 (the thread group leader)."""
    target = get_target(prog)
    cr3 = registers(lab)["CR3"] & 0x000FFFFFFFFFF000
    found = None
    for task in for_each_task(prog):
        if not task.mm.value_():
            continue
        if target.mm(task.mm).pgd == cr3 and (
                found is None or task.pid.value_() < found.pid.value_()):
            found = task
    assert found is not None, f"no process has its pgd at CR3 {cr3:#x}"
    return found


def ranges(lab, prog, which: str) -> List[Dict[str, Any]]:
    """All ranges note_page() finished (printed or not), per lab, cached:
    ``kernel`` (init_mm), ``current_kernel`` and ``current_user`` of the task
    in CR3."""
    key = (lab.name, which)
    if key not in _cache:
        if which == "kernel":
            _cache[key] = ptdump.ptdump_ranges(prog, all_ranges=True)
        else:
            task = cr3_task(lab, prog)
            _cache[key] = ptdump.ptdump_ranges(prog, task, which == "current_user",
                                               all_ranges=True)
    return _cache[key]


def in_half(rs: List[Dict[str, Any]], lo: int, hi: int) -> List[Dict[str, Any]]:
    """The present ranges inside [lo, hi) (the last range ends at 0: 2**64)."""
    out = []
    for r in rs:
        end = r["end"] or 1 << 64
        if r["present"] and lo <= r["start"] and end <= hi:
            out.append(r)
        elif r["present"]:
            assert end <= lo or r["start"] >= hi, f"range straddles {lo:#x}: {r}"
    return out


def merge(items: List[Tuple[int, int, Any]]) -> List[Tuple[int, int, Any]]:
    """Merge adjacent ranges with equal values."""
    out: List[Tuple[int, int, Any]] = []
    for start, end, value in items:
        if out and out[-1][1] == start and out[-1][2] == value:
            out[-1] = (out[-1][0], end, value)
        else:
            out.append((start, end, value))
    return out


def leaves(present: List[Dict[str, Any]]) -> Dict[int, Tuple[Dict[str, Any], int]]:
    """vaddr -> (range, leaf size) for every present leaf of the ranges."""
    out = {}
    for r in present:
        size = LEAF_SIZE[r["level"]]
        end = r["end"] or 1 << 64
        assert r["start"] % size == 0 and (end - r["start"]) % size == 0, r
        for vaddr in range(r["start"], end, size):
            out[vaddr] = (r, size)
    return out


def expected_tlb_flags(r: Dict[str, Any]) -> str:
    """What print_pte() shows for an entry with the range's protections."""
    prot = r["prot"]
    letters = []
    for letter, bit in TLB_BITS:
        if letter == "P" and r["level"] == "pte":
            letters.append("-")  # print_pte(pte & ~PG_PSE_MASK)
        else:
            letters.append(letter if prot & bit else "-")
    return "".join(letters)


def compare_with_qemu(lab, rs: List[Dict[str, Any]], lo: int, hi: int,
                      what: str, effective: bool = True) -> None:
    """The present pages of ``rs`` in [lo, hi) against info tlb (every leaf,
    its flags, NX range by range) and, where QEMU prints it, info mem
    (effective user/write, range by range)."""
    present = in_half(rs, lo, hi)
    mine = leaves(present)
    tlb = {v: f for v, f in info_tlb(lab).items() if lo <= v < hi}
    assert tlb, f"QEMU shows no leaf in {what}"

    # every leaf at the same address, with the same size and flags
    missing = sorted(set(tlb) - set(mine))[:5]
    extra = sorted(set(mine) - set(tlb))[:5]
    assert not missing and not extra, (
        f"{what}: leaves QEMU has and ptdump lacks: {[hex(a) for a in missing]}; "
        f"ptdump has and QEMU lacks: {[hex(a) for a in extra]}")
    for vaddr, flags in tlb.items():
        r, _ = mine[vaddr]
        assert expected_tlb_flags(r) == flags, (
            f"{what}: leaf {vaddr:#x}: QEMU {flags}, ptdump {r['flags']!r} "
            f"({expected_tlb_flags(r)}) in {r['start']:#x}-{r['end']:#x}")
    count(f"ptdump leaves vs QEMU info tlb, XGPDACTUW each ({what})", len(tlb))

    # NX, range by range
    ours_nx = merge([(r["start"], r["end"] or 1 << 64, r["nx"]) for r in present])
    qemu_nx = merge([(v, v + mine[v][1], tlb[v][0] == "X") for v in sorted(tlb)])
    assert ours_nx == qemu_nx, f"{what}: NX ranges differ"
    count(f"merged NX ranges vs QEMU info tlb ({what})", len(qemu_nx))

    # effective user/write, range by range
    mem = [(s, e, (u, w)) for s, e, u, w in info_mem(lab) if lo <= s and e <= hi]
    if lab.levels == 5:
        # QEMU 7.2's mem_info_la57() bug (module docstring): no output at all.
        assert registers(lab)["CR4"] & CR4_LA57
        assert info_mem(lab) == []
        count(f"5-level: info mem empty (QEMU 7.2 mem_info_la57 bug), "
              f"effective u/w unchecked ({what})", 1)
        return
    assert mem, f"QEMU's info mem shows nothing in {what}"
    ours = merge([(r["start"], r["end"] or 1 << 64,
                   (r["effective_user"], r["effective_rw"])) for r in present])
    qemu = merge(mem)
    if effective:
        assert ours == qemu, f"{what}: effective user/rw ranges differ: " + _first_diff(ours, qemu)
        count(f"merged effective user/rw ranges vs QEMU info mem ({what})", len(qemu))


def _first_diff(ours, qemu) -> str:
    for i, (a, b) in enumerate(zip(ours, qemu)):
        if a != b:
            return (f"#{i}: ptdump {a[0]:#x}-{a[1]:#x} {a[2]}, "
                    f"QEMU {b[0]:#x}-{b[1]:#x} {b[2]}")
    return f"lengths {len(ours)} vs {len(qemu)}"


# -- the tests ---------------------------------------------------------------

def test_kernel_half_matches_qemu(lab, prog):
    """(1) The kernel half of the pgd in CR3 (current_kernel), and of init_mm
    (the kernel file), against QEMU's info tlb and info mem."""
    lo = kernel_half(lab.levels)
    compare_with_qemu(lab, ranges(lab, prog, "current_kernel"), lo, 1 << 64,
                      "kernel half, pgd in CR3")
    compare_with_qemu(lab, ranges(lab, prog, "kernel"), lo, 1 << 64,
                      "kernel half, init_mm")


def test_checkwx_matches_boot_log(lab, prog):
    """(2) checkwx() prints what the kernel printed at boot."""
    expected = boot_log_wx_lines(lab)
    assert expected, "no W+X check in the boot log"
    result = ptdump.checkwx(prog)
    assert result["lines"] == expected
    assert result["passed"] == all("FAILED" not in line for line in expected)
    assert (result["wx_ranges"] == []) == result["passed"]
    assert result["problems"] == []
    count("W+X check lines identical to the boot log", len(expected))


def test_user_half_matches_qemu(lab, prog):
    """(3) The user half of the process in CR3: current_kernel (the very pgd
    QEMU walked) and current_user (the PTI user pgd, whose tables below the
    pgd are the same), against info tlb and info mem."""
    lo, hi = 0, 1 << (56 if lab.levels == 5 else 47)
    kernel_side = ranges(lab, prog, "current_kernel")
    user_side = ranges(lab, prog, "current_user")
    compare_with_qemu(lab, kernel_side, lo, hi, "user half, pgd in CR3")
    compare_with_qemu(lab, user_side, lo, hi, "user half, PTI user pgd")
    target = get_target(prog)
    assert target.arch.pti
    # pti_set_user_pgtbl() sets NX on the kernel pgd's user entries: the
    # kernel never executes user code; the user pgd keeps the leaf's NX.
    kp = in_half(kernel_side, lo, hi)
    up = in_half(user_side, lo, hi)
    assert kp and all(r["effective_nx"] for r in kp)
    assert any(not r["effective_nx"] for r in up)
    assert all(r["effective_nx"] == r["nx"] for r in up)
    count("user ranges: effective NX of PTI kernel/user pgds", len(kp) + len(up))


def test_markers_are_the_kernels(lab, prog):
    """address_markers() equals the array pt_dump_init() left in the dump."""
    ours = ptdump.address_markers(prog, get_target(prog))
    theirs = prog["address_markers"]
    assert len(ours) == len(theirs)
    for mine, m in zip(ours, theirs):
        name = m.name.string_().decode() if m.name.value_() else None
        assert (mine.start_address, mine.name, mine.max_lines) == (
            m.start_address.value_(), name, m.max_lines.value_())
    count("address markers identical to the dump's address_markers[]", len(ours))


LINE = re.compile(r"0x([0-9a-f]{16})-0x([0-9a-f]{16})   ([ \d]{9,})([BKMGTPE]) (.*) (pgd|p4d|pud|pmd|pte)")


def test_text_is_the_ranges(lab, prog):
    """ptdump_text() prints the printed ranges, each line as the kernel's
    format strings make it, under the right markers, ending with the flush
    to address 0."""
    text = ptdump.ptdump_text(prog)
    rs = ptdump.ptdump_ranges(prog)
    unprinted = [r for r in ptdump.ptdump_ranges(prog, all_ranges=True) if not r["printed"]]
    markers = [m.name for m in ptdump.address_markers(prog, get_target(prog))]
    lines = text.splitlines()
    assert lines[0] == "---[ User Space ]---"
    seen_markers = []
    i = 0
    units = "BKMGTPE"
    for line in lines:
        m = re.fullmatch(r"---\[ (.*) \]---", line)
        if m:
            seen_markers.append(m.group(1))
            continue
        m = re.fullmatch(r"\.\.\. (\d+) entr(y|ies) skipped \.\.\. ", line)
        if m:  # a marker's max_lines (the ESPfix area, X86_ESPFIX64)
            skipped = [r for r in unprinted if r["marker"] == seen_markers[-1]]
            assert int(m.group(1)) == len(skipped) > 0
            assert m.group(2) == ("y" if len(skipped) == 1 else "ies")
            continue
        m = LINE.fullmatch(line)
        assert m, f"line not in the kernel's format: {line!r}"
        r = rs[i]
        i += 1
        assert (int(m.group(1), 16), int(m.group(2), 16), r["level"]) == (
            r["start"], r["end"], m.group(6))
        assert m.group(5).strip() == r["flags"]
        assert len(m.group(5) + " ") == 30  # printk_prot()'s columns
        assert r["marker"] == seen_markers[-1]
        assert int(m.group(3)) << (10 * units.index(m.group(4))) == r["size"]
    assert i == len(rs) > 50
    assert seen_markers == markers[:-1]  # every marker but END_OF_SPACE
    assert rs[-1]["end"] == 0  # note_page(st, 0, -1, 0) flushes to address 0
    count("ptdump text lines checked against the ranges", len(lines))


def test_ends_on_garbage_tables(lab, prog):
    """A pgd that is not a page table (kernel text, a string, a task_struct)
    gives a finished dump and reported problems, never a hang or a crash."""
    k = ptdump.Kernel(prog)
    for sym in ("_text", "linux_banner", "init_task"):
        phys = k.target.virt_to_phys(prog.symbol(sym).address) & ~0xFFF
        seq: List[str] = []
        ok, st = ptdump.ptdump_walk_pgd_level_core(k, seq, k.init_mm, phys, True, False)
        text = "".join(seq)
        assert text.startswith("---[ User Space ]---\n"), sym
        assert st.ranges and st.ranges[-1]["end"] == 0, sym
        assert k.problems, f"{sym}: garbage entries went unreported"
        assert ok == (st.wx_pages == 0)
        count("garbage pgds dumped to the end with problems reported", 1)
        k.problems.clear()
