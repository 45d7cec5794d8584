"""Damaged page tables: copies of real lab dumps with table bytes changed on
purpose (tests/damage.py says what and where).  ptcheck must name exactly
that damage; every other command must finish, print what is intact exactly
as on the clean dump, and name the damage on stderr.

The clean dumps themselves are checked against the guests' /proc by the
other tests; here the clean dump's output is the reference outside the
damaged ranges, and ptcheck must find nothing on any clean lab."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from drgn_pagewalk import MmWalkOps, walk_page_range
from drgn_pagewalk.target.drgn_target import get_target
from vmcores.lab import LAB_NAMES

from .counts import count
from .damage import DamagedLab, damaged_copy
from .labcache import get_lab, program

TOOL = str(Path(sys.executable).parent / "drgn-pagewalk")
DAMAGED_LABS = ["6.1-4level", "6.12-5level"]
PM_PRESENT = 1 << 63
PM_SWAP = 1 << 62
_copies: Dict[str, DamagedLab] = {}


def tool(core: Path, vmlinux: Path, *args: str) -> subprocess.CompletedProcess:
    """The CLI; every run must end in bounded time."""
    return subprocess.run([TOOL, "-c", str(core), "-s", str(vmlinux), *args],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module", params=DAMAGED_LABS)
def damaged(request: Any) -> DamagedLab:
    name = request.param
    if name not in _copies:
        lab = get_lab(name)
        _copies[name] = damaged_copy(lab, program(lab))
    return _copies[name]


@pytest.mark.parametrize("name", LAB_NAMES)
def test_ptcheck_finds_nothing_on_clean_labs(name: str) -> None:
    lab = get_lab(name)
    for args in (["ptcheck", "--all"], ["ptcheck", "--kernel"]):
        p = tool(lab.vmcore, lab.vmlinux, "--format", "proc", *args)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr
        assert p.stdout.startswith("no damage found"), p.stdout
        # A dump without VMCOREINFO: one note says how the kernel was found.
        notes = 1 if lab.meta["dump_format"] == "elf-noinfo" else 0
        assert [l for l in p.stderr.splitlines()
                if not l.startswith("drgn-pagewalk: note: no VMCOREINFO")] == [], p.stderr
        assert len(p.stderr.splitlines()) == notes, p.stderr
    count("clean dumps checked by ptcheck (all processes and init_mm)")


def _findings(d: DamagedLab) -> List[Dict[str, Any]]:
    p = tool(d.vmcore, d.vmlinux, "--format", "json", "ptcheck", "--all")
    assert p.returncode == 1, p.stderr
    assert p.stderr.strip().endswith("problem(s) found in 4 process(es)"), p.stderr
    return json.loads(p.stdout)["results"][0]["damage"]


def _match(d: DamagedLab, f: Dict[str, Any]) -> str:
    """The kind of damage made that a finding names, or "" if none."""
    phys = f["entry_phys"]
    for dmg in d.damage:
        if f["pid"] != dmg["pid"]:
            continue
        kind = dmg["kind"]
        if kind == "pgd_random":
            if phys is not None and dmg["phys"] <= phys < dmg["phys"] + 4096 \
                    and f["level"] in ("pgd", "p4d"):
                return kind
        elif kind == "pte_random":
            if f["level"] == "pte" and phys is not None \
                    and dmg["phys"] <= phys < dmg["phys"] + 4096:
                return kind
        elif kind == "free_table":
            if f["level"] == "pte" and "free page" in f["what"] \
                    and f["start"] == dmg["start"] and f["end"] == dmg["end"]:
                return kind
        elif kind == "rss_counter":
            if f["level"] == "mm" and "MM_ANONPAGES" in f["what"]:
                return kind
        elif phys == dmg["phys"] and f["level"] == dmg["level"] \
                and f["start"] <= dmg["start"] and dmg["end"] <= f["end"]:
            return kind
    return ""


def test_ptcheck_names_exactly_the_damage(damaged: DamagedLab) -> None:
    """Every finding is one of the changes made (address and level), and
    every change is found."""
    findings = _findings(damaged)
    kinds: Dict[str, int] = {}
    for f in findings:
        kind = _match(damaged, f)
        assert kind, f"ptcheck reports damage that was not made: {f}"
        kinds[kind] = kinds.get(kind, 0) + 1
    made = {dmg["kind"] for dmg in damaged.damage}
    assert set(kinds) == made, f"not found: {made - set(kinds)}"
    # The random PTE table: every entry that is not none is bad (a random
    # value passes the kernel's checks with negligible probability).
    prog = damaged.program()
    table = damaged.of("pte_random")["phys"]
    data = prog.read(table, 4096, True)
    vals = [int.from_bytes(data[i:i + 8], "little") for i in range(0, 4096, 8)]
    not_none = sum(1 for v in vals if v & ~0x60)
    assert not_none - 2 <= kinds["pte_random"] <= not_none
    count("damaged entries ptcheck named, each matched to the change made",
          len(findings))


def _ranges(d: DamagedLab, pid: int) -> List[Tuple[int, int]]:
    return [(x["start"], x["end"]) for x in d.damage
            if x["pid"] == pid and x["end"] > x["start"]]


def _outside(addr: int, ranges: List[Tuple[int, int]]) -> bool:
    return all(not s <= addr < e for s, e in ranges)


def _pagemap(text: str) -> Dict[int, int]:
    out = {}
    for line in text.splitlines():
        a, e = line.split()
        out[int(a, 16)] = int(e, 16)
    return out


def _blocks(text: str) -> Dict[str, str]:
    """smaps text -> {"start-end": the vma's block}."""
    out: Dict[str, str] = {}
    key = ""
    for line in text.splitlines(keepends=True):
        head = line.split(" ", 1)[0]
        if "-" in head and ":" not in head:
            key = head
            out[key] = ""
        out[key] += line
    return out


def _overlaps(key: str, ranges: List[Tuple[int, int]]) -> bool:
    s, e = (int(x, 16) for x in key.split()[0].split("-"))
    return any(s < re and rs < e for rs, re in ranges)


def test_commands_go_on_and_agree_outside_the_damage(damaged: DamagedLab) -> None:
    """vmas, smaps, smaps-rollup, pagemap, numa-maps, status and vm -p
    finish with exit 0 on the damaged copy, name the damage on stderr, and
    print what the clean dump prints everywhere the damage is not; vtop of
    each damaged address gives an answer."""
    lab = damaged.lab
    wl = lab.pids["workload"]
    ranges = _ranges(damaged, wl)
    lines = 0
    for pid in (wl, lab.pids["child"], lab.pids["init"]):
        vmas = _blocks(tool(lab.vmcore, lab.vmlinux, "--format", "proc", "smaps",
                            str(pid)).stdout)
        vma_of = {int(k.split("-")[0], 16): k for k in vmas}
        for args in (["--format", "proc", "smaps"], ["--format", "proc", "smaps-rollup"],
                     ["--format", "proc", "pagemap"], ["--format", "proc", "numa-maps"],
                     ["--format", "proc", "status"], ["vmas"], ["status", "--walk"],
                     ["vm", "-p"]):
            bad = tool(damaged.vmcore, damaged.vmlinux, *args, str(pid))
            assert bad.returncode == 0, f"{args} {pid}: {bad.stderr}"
            assert "Traceback" not in bad.stderr
            clean = tool(lab.vmcore, lab.vmlinux, *args, str(pid))
            assert clean.returncode == 0 and clean.stderr == ""
            walks = args != ["--format", "proc", "status"]  # that reads counters only
            if pid == lab.pids["child"]:
                # intact tables: only the changed counter shows
                if "status" not in args:
                    assert bad.stdout == clean.stdout, args
                    lines += clean.stdout.count("\n")
                assert bad.stderr == "", args
                continue
            if pid == lab.pids["init"]:
                if walks:
                    assert "p4d_bad()" in bad.stderr or "pgd_bad()" in bad.stderr, args
                continue
            for line in bad.stderr.splitlines():
                assert line.split(":")[0] in ("bad", "unreadable", "cycle"), line
            if walks:
                assert "pmd_bad()" in bad.stderr, args  # the garbage swap pmd
            if args[-1] == "pagemap":
                b, c = _pagemap(bad.stdout), _pagemap(clean.stdout)
                assert list(b) == list(c)  # every address once, damaged or not
                for a, e in c.items():
                    if _outside(a, ranges):
                        assert b[a] == e, hex(a)
                lost = damaged.of("pud_beyond")
                for a in range(lost["start"], lost["end"], 4096):
                    if a in b:
                        assert not b[a] & (PM_PRESENT | PM_SWAP), hex(a)
                lines += len(b)
            elif args[-1] == "smaps":
                b, c = _blocks(bad.stdout), _blocks(clean.stdout)
                assert list(b) == list(c)
                for k, v in c.items():
                    if not _overlaps(k, ranges):
                        assert b[k] == v, k
                        lines += v.count("\n")
            elif args[-1] == "numa-maps":
                b = {x.split()[0]: x for x in bad.stdout.splitlines()}
                c = {x.split()[0]: x for x in clean.stdout.splitlines()}
                assert list(b) == list(c)
                for k, v in c.items():
                    if not _overlaps(vma_of[int(k, 16)], ranges):
                        assert b[k] == v, k
                        lines += 1
    for dmg in damaged.damage:
        if dmg["pid"] == wl and dmg["end"] > dmg["start"]:
            addr = min(max(dmg["start"], v["start"]) for v in lab.meta["vmas"].values()
                       if v["pid"] == wl and v["start"] < dmg["end"] and dmg["start"] < v["end"])
            p = tool(damaged.vmcore, damaged.vmlinux, "vtop", hex(addr), str(wl))
            assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
            assert "RESULT" in p.stdout
            p = tool(damaged.vmcore, damaged.vmlinux, "walk", str(wl), hex(dmg["start"]),
                     hex(dmg["end"]))
            assert p.returncode == 0 and p.stdout and "Traceback" not in p.stderr, p.stderr
    for args in (["ptdump", "--pid", str(wl)], ["rmap", lab.meta["tmpfs_file"]],
                 ["ptdump", "--pid", str(lab.pids["init"])]):
        p = tool(damaged.vmcore, damaged.vmlinux, *args)
        assert p.returncode == 0 and p.stdout and "Traceback" not in p.stderr, \
            f"{args}: {p.stderr}"
    count("lines and pagemap entries of damaged dumps equal to the clean dumps", lines)


def test_walk_tiles_the_range_over_damage(damaged: DamagedLab) -> None:
    """Every address of [0, TASK_SIZE) reaches exactly one of pte_entry,
    pte_hole or hugetlb_entry, on the damaged tables as on intact ones."""
    from drgn.helpers.linux.pid import find_task

    prog = damaged.program()
    target = get_target(prog)
    for pid in damaged.lab.pids.values():
        mm = target.mm(find_task(prog, pid).mm)
        spans: List[Tuple[int, int]] = []

        def pte_entry(pte: Any, addr: int, next: int, walk: Any) -> int:
            spans.append((addr, next))
            return 0

        def pte_hole(addr: int, next: int, depth: int, walk: Any) -> int:
            spans.append((addr, next))
            return 0

        def hugetlb_entry(pte: Any, hmask: int, addr: int, next: int, walk: Any) -> int:
            spans.append((addr, next))
            return 0

        ops = MmWalkOps(pte_entry=pte_entry, pte_hole=pte_hole,
                        hugetlb_entry=hugetlb_entry)
        problems: List[Any] = []
        assert walk_page_range(mm, 0, target.arch.task_size, ops,
                               problems=problems) == 0
        at = 0
        for s, e in spans:
            assert s == at, f"PID {pid}: gap or overlap at {at:#x} (next span {s:#x})"
            at = e
        assert at == target.arch.task_size
        if pid != damaged.lab.pids["child"]:
            assert problems, f"PID {pid}: the damage was not reported"
    count("damaged address spaces tiled exactly by the walk's callbacks",
          len(damaged.lab.pids))
