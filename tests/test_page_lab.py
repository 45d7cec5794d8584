"""Page-level commands (vtop, vm -p, rmap, walk) against the guest's own
pagemap, drgn's follow_phys and drgn's struct page helpers, on every lab."""

from __future__ import annotations

import io
import json
from typing import Any, Dict, List

import pytest
from drgn import FaultError, Object
from drgn.helpers.linux.mm import (
    compound_head,
    decode_page_flags,
    follow_phys,
    page_index,
    pfn_to_page,
)
from drgn.helpers.linux.pid import find_task

from drgn_pagewalk.target.drgn_target import get_target

from drgn_pagewalk.commands.run import run_argv

from .counts import count
from .labcache import root_level, user_address_bits
from .test_lab import has_thp

PM_PRESENT = 1 << 63
PM_SWAP = 1 << 62
PFN_MASK = (1 << 55) - 1


def cmd(prog: Any, argv: List[str], capsys: Any) -> Dict[str, Any]:
    """Run a command in JSON and parse it; it must succeed and give one
    result (docs/json.md): that result object."""
    out = io.StringIO()
    status = run_argv(prog, ["--format", "json"] + argv, out)
    err = capsys.readouterr().err
    assert status == 0, err
    doc = json.loads(out.getvalue())
    assert len(doc["results"]) == 1 and doc["missing"] == [], doc["missing"]
    return doc["results"][0]


def cmd_status(prog: Any, argv: List[str], capsys: Any) -> tuple:
    out = io.StringIO()
    status = run_argv(prog, argv, out)
    return status, out.getvalue(), capsys.readouterr().err


# -- vtop -------------------------------------------------------------------

def _sizes(lab) -> tuple:
    """The lab's base page and PMD sizes: 4 KiB and 2 MiB, or 16 KiB and
    32 MiB (a table page of page/8 entries)."""
    page = lab.page_size
    return page, page * (page // 8)


def _samples(lab) -> Dict[str, List[int]]:
    """Addresses of every vma kind of the workload (and the child's COW).
    The workload's regions are in base pages and PMDs; the hugetlb ones in
    their own sizes."""
    v = lab.meta["vmas"]
    page, pmd = _sizes(lab)
    out = {
        "4k anon": [v["anon_partial"]["start"], v["bulk_4k"]["start"] + 77 * page],
        "thp": [v["thp"]["start"] + 5 * page, v["bulk_thp"]["start"] + 3 * pmd + 9 * page],
        # the second in the mprotect()ed middle of the split PMD
        "pte-mapped thp": [v["thp_pte"]["start"] + 7 * page,
                           v["thp_pte"]["start"] + pmd // 2 + 3 * page],
        "hugetlb 2M": [v["hugetlb_2m"]["start"] + 3 * page, v["hugetlb_2m"]["start"] + (1 << 21)],
        "swap": [v["swapped"]["start"] + i * page for i in (0, 5, 31)],
        "protnone": [v["holes"]["start"] + i * page for i in (4, 7)],
        "shared anon": [v["shared_anon"]["start"] + page],
        "tmpfs shared": [v["shmem_shared"]["start"] + 2 * page],
        "cow": [v["cow"]["start"] + i * page for i in (0, 1)],
        "none": [v["holes"]["start"] + 10 * page, v["anon_partial"]["start"] + page],
    }
    if lab.meta["hugetlb_1g"]:
        out["hugetlb 1G"] = [v["hugetlb_1g"]["start"] + 12345 * page]
    # arm64's other hugetlb sizes: 64 KiB (contiguous PTEs) with 4 KiB pages
    # only, 32 MiB (contiguous PMDs of 4 KiB pages, a PMD of 16 KiB ones)
    if lab.arch == "arm64" and page == 4096:
        out["hugetlb 64K"] = [v["hugetlb_64k"]["start"] + 17 * page]
    if lab.arch == "arm64":
        out["hugetlb 32M"] = [v["hugetlb_32m"]["start"] + (5 << 21) + 3 * page]
    if "mthp" in v:
        out["mthp"] = [v["mthp"]["start"] + 35 * page]
    return out


def _check_page(prog: Any, page_json: Dict[str, Any], pfn: int) -> None:
    """vtop's struct page fields against drgn's own helpers."""
    page = pfn_to_page(prog, pfn)
    head = compound_head(page)
    assert page_json["address"] == page.value_()
    assert page_json["anon"] == bool(head.mapping.value_() & 1)  # PageAnon()
    assert page_json["refcount"] == head._refcount.counter.value_()
    # page_to_pgoff(): the head's index plus the page's place in the folio
    assert page_json["index"] == page_index(head).value_() + (page - head).value_()
    names = set(decode_page_flags(head).split("|")) - {""}
    assert set(page_json["flag_names"].split("|")) - {""} <= names
    if page_json["folio_mapcount"] is not None:  # 6.12: folio_mapcount()
        folio = Object(prog, "struct folio *", head.value_())
        if page_json["folio_order"]:
            expected = folio._large_mapcount.counter.value_() + 1
        else:
            expected = head._mapcount.counter.value_() + 1
        assert page_json["folio_mapcount"] == expected


def test_vtop_user_addresses(lab, prog, capsys):
    root = root_level(lab, prog)
    pid = lab.pids["workload"]
    truth = lab.pagemap(pid)
    mm = find_task(prog, pid).mm
    thp = has_thp(lab)
    page, pmd = _sizes(lab)
    shift = page.bit_length() - 1
    checked = 0
    for kind, addrs in _samples(lab).items():
        for addr in addrs:
            addr += 0x123
            j = cmd(prog, ["vtop", hex(addr), str(pid)], capsys)
            entry = truth[addr & ~(page - 1)]
            reason = j["stop"]["reason"]
            if entry & PM_PRESENT:
                assert reason in ("leaf", "protnone"), (kind, j["stop"])
                assert j["physical"] >> shift == entry & PFN_MASK, kind
                assert j["physical"] & (page - 1) == 0x123
                if reason == "leaf":
                    assert j["physical"] == follow_phys(mm, addr).value_(), kind
                else:
                    assert kind == "protnone"
                    with pytest.raises(FaultError):
                        follow_phys(mm, addr)
                _check_page(prog, j["page"], j["pfn"])
                size = {"thp": pmd if thp else page, "hugetlb 2M": 2 << 20,
                        "hugetlb 1G": 1 << 30, "hugetlb 64K": 64 << 10,
                        "hugetlb 32M": 32 << 20}.get(kind, page)
                assert j["page_size"] == size, kind
                if kind == "pte-mapped thp" and thp:  # a base-page PTE into a whole THP
                    # HPAGE_PMD_ORDER: PMD_SHIFT - PAGE_SHIFT (9; 11 with 16 KiB pages)
                    assert j["page"]["folio_order"] == (pmd // page).bit_length() - 1, j["page"]
            elif entry & PM_SWAP:
                assert reason == "swap entry", kind
                frame = entry & PFN_MASK
                assert (j["swap"]["type"], j["swap"]["offset"]) == (frame & 31, frame >> 5)
                assert j["swap"]["device"] == "/dev/zram0"
                assert j["physical"] is None
            else:
                assert reason == "none", (kind, j["stop"])
                assert j["physical"] is None
            levels = [l["level"] for l in j["levels"]]
            assert levels[0] == root and ("P4D" in levels) == (lab.levels == 5 or root == "P4D")
            assert all(l["entry_phys"] is not None for l in j["levels"])
            if lab.levels == 3 and lab.arch == "arm64" and page == 16384:
                # a 4-level kernel on 47 bits: p4d_to_folded_pud(), the pud
                # entry is in the pgd's own page
                pud = levels.index("PUD")
                assert j["levels"][pud]["entry_phys"] & ~(page - 1) == j["pgd_phys"], kind
            checked += 1
    count("vtop user addresses compared with pagemap/follow_phys", checked)


def _kernel_samples(prog: Any, lab) -> Dict[str, int]:
    text = int(lab.truth_global("kallsyms").split()[0], 16)
    init_mm = prog["init_mm"].address_of_()
    ram = prog["memblock"].memory.regions[0].base.value_()
    out = {"text": text + 0x1234, "data": prog["init_task"].address_,
           "direct map": get_target(prog).phys_to_virt(ram + (100 << 20)),
           "vmemmap": pfn_to_page(prog, (ram >> get_target(prog).arch.page_shift)
                                  + 0x1000).value_(),
           "stack (vmalloc)": prog["init_task"].stack.value_() if False else
           find_task(prog, lab.pids["workload"]).stack.value_()}
    assert follow_phys(init_mm, out["text"]).value_()
    return out


def test_vtop_kernel_addresses(lab, prog, capsys):
    init_mm = prog["init_mm"].address_of_()
    for kind, addr in _kernel_samples(prog, lab).items():
        j = cmd(prog, ["vtop", hex(addr)], capsys)
        assert j["stop"]["reason"] == "leaf", kind
        assert j["physical"] == follow_phys(init_mm, addr).value_(), kind
        assert j["page"]["valid"]
    count("vtop kernel addresses compared with follow_phys", 5)


#: The levels as vtop names them, in the order of the arch's shifts
LEVELS = ("PGD", "P4D", "PUD", "PMD", "PTE")
#: What an x86-64 entry of each level covers (PGD: PGDIR_SIZE, by mode)
X86_LEVEL_SIZE = {"PGD": None, "P4D": 1 << 39, "PUD": 1 << 30, "PMD": 1 << 21, "PTE": 1 << 12}


def _tlb_leaves(lab) -> List[int]:
    """The virtual address of every present leaf in QEMU's info tlb of the
    pgd in CR3 at dump time (its kernel half is init_mm's), sorted."""
    import re

    out = []
    for line in (lab.truth / "qemu_info_tlb").read_text().splitlines():
        m = re.match(r"([0-9a-f]{16}): ", line.strip())
        assert m, f"unexpected info tlb line {line!r}"
        out.append(int(m.group(1), 16))
    return sorted(out)


@pytest.mark.x86_only  # QEMU's aarch64 monitor has no "info tlb"
def test_vtop_kernel_holes(lab, prog, capsys):
    """Unmapped kernel addresses: vtop shows every level down to the none
    entry and stops there.  QEMU's info tlb has no leaf in the region that
    entry covers, follow_phys faults, and each entry shown points to the
    table of the next."""
    import bisect

    leaves = _tlb_leaves(lab)
    kallsyms = lab.truth_global("kallsyms")
    end = int(next(l.split()[0] for l in kallsyms.splitlines() if l.endswith(" _end")), 16)
    half = 0xFF00000000000000 if lab.levels == 5 else 0xFFFF800000000000
    samples = {"guard hole (pgd)": half,
               "before _text (pmd)": 0xFFFFFFFF80000000 + 0x1000,
               "after _end": ((end + (4 << 20)) & ~((1 << 21) - 1)) + 0x10}
    init_mm = prog["init_mm"].address_of_()
    arch = get_target(prog).arch
    page = arch.page_size
    stops = set()
    for kind, addr in samples.items():
        j = cmd(prog, ["vtop", hex(addr), "--kernel"], capsys)
        assert j["stop"]["reason"] == "none" and j["physical"] is None, (kind, j["stop"])
        with pytest.raises(FaultError):
            follow_phys(init_mm, addr)
        levels = j["levels"]
        assert levels and levels[-1]["level"] == j["stop"]["level"], (kind, levels)
        assert levels[-1]["value"] == 0
        for upper, lower in zip(levels, levels[1:]):
            assert upper["value"] & 1, (kind, upper)  # _PAGE_PRESENT
            table = upper["value"] & 0x000FFFFFFFFFF000
            assert lower["entry_phys"] & ~(page - 1) == table, (kind, upper, lower)
            assert prog.read_u64(lower["entry_phys"], True) == lower["value"]
        # the region an entry of the stop level covers: the arch's, which is
        # x86-64's (PGDIR_SIZE 1 << 48 in 5-level mode, 1 << 39 in 4-level)
        size = 1 << arch.shifts[LEVELS.index(j["stop"]["level"])]
        assert size == (X86_LEVEL_SIZE[j["stop"]["level"]]
                        or 1 << (48 if lab.levels == 5 else 39)), j["stop"]
        start = addr & ~(size - 1)
        i = bisect.bisect_left(leaves, start)
        assert i == len(leaves) or leaves[i] >= start + size, \
            f"{kind}: info tlb has a leaf at {leaves[i]:#x} under the none entry"
        stops.add(j["stop"]["level"])
    assert "PGD" in stops and "PMD" in stops, stops
    count("vtop kernel holes checked against info tlb", len(samples))


@pytest.mark.x86_only  # the PTI pgd pair
def test_vtop_user_pgd(lab, prog, capsys):
    """The PTI user copy maps the same user page."""
    pid = lab.pids["workload"]
    addr = lab.meta["vmas"]["anon_partial"]["start"]
    k = cmd(prog, ["vtop", hex(addr), str(pid)], capsys)
    u = cmd(prog, ["vtop", hex(addr), str(pid), "--user-pgd"], capsys)
    # kernel_to_user_pgdp(): the pgd's address with bit PAGE_SHIFT set
    assert u["pgd_phys"] == k["pgd_phys"] + get_target(prog).arch.page_size
    assert u["physical"] == k["physical"] is not None


# -- vm -p ----------------------------------------------------------------------

def test_vm_pages_match_pagemap(lab, prog, capsys):
    """Every page of every vma of every workload process, against the
    guest's pagemap; the /dev/mem PFN map (pagemap says 0) against its mmap
    offset."""
    compared = 0
    page = lab.page_size
    shift = page.bit_length() - 1
    for role in ("workload", "child"):
        pid = lab.pids[role]
        truth = lab.pagemap(pid)
        maps = {m.start: m for m in lab.maps(pid)}
        pfnmap = lab.meta["vmas"]["pfnmap"]
        j = cmd(prog, ["vm", "-p", str(pid)], capsys)
        seen = set()
        for r in j["pages"]:
            for i in range(0, r["size"], page):
                addr = r["vaddr"] + i
                seen.add(addr)
                entry = truth[addr]
                if pfnmap["start"] <= addr < pfnmap["end"]:
                    assert entry == 0
                    m = maps[pfnmap["start"]]
                    assert r["state"] == "present"
                    assert r["phys"] + i == m.offset + addr - m.start
                elif entry & PM_PRESENT:
                    assert r["state"] in ("present", "protnone"), hex(addr)
                    assert (r["phys"] + i) >> shift == entry & PFN_MASK, hex(addr)
                elif entry & PM_SWAP:
                    frame = entry & PFN_MASK
                    assert r["state"] == "swap"
                    assert (r["swap_type"], r["swap_offset"]) == (frame & 31, frame >> 5)
                else:
                    assert r["state"] == "none", hex(addr)
                compared += 1
        assert seen == set(truth), "vm -p and pagemap cover different pages"
    count("vm -p pages compared with pagemap", compared)



def test_vm_fast_lines_equal_the_generic_ones(lab, prog, capsys):
    """vm -p's one-step table and JSON lines (a million rows on a big
    process) are the generic cell-by-cell lines, for every row of every
    process of the lab."""
    from drgn_pagewalk.ops.vm import PAGE_COLUMNS, PAGE_WIDTHS, vm_page_json_line, \
        vm_page_table_line
    from drgn_pagewalk.output.report import stream_json_line, stream_table_line

    n = 0
    for pid in lab.pids.values():
        for r in cmd(prog, ["vm", "-p", str(pid)], capsys)["pages"]:
            row = tuple(r[c] for c in PAGE_COLUMNS)
            assert vm_page_table_line(row) == stream_table_line(PAGE_COLUMNS, PAGE_WIDTHS, row)
            assert vm_page_json_line(row) == stream_json_line(PAGE_COLUMNS, row)
            n += 1
    count("vm -p rows: fast table/JSON lines == generic", n)

def test_vm_table_rows_equal_the_per_entry_ones(lab, prog, capsys, monkeypatch):
    """vm -p makes the rows of a PTE table whose entries are all present and
    not special in C (normal_frames()); PTE by PTE (_pte()) gives the same
    rows for every process of the lab."""
    from drgn_pagewalk.ops import vm

    fast = {pid: cmd(prog, ["vm", "-p", str(pid)], capsys)["pages"] for pid in lab.pids.values()}
    taken = []
    real = vm.normal_frames

    def counted(*args):  # type: ignore[no-untyped-def]
        found = real(*args)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(vm, "normal_frames", counted)
    cmd(prog, ["vm", "-p", str(lab.pids["workload"])], capsys)
    from drgn_pagewalk.target.drgn_target import get_target

    # (an arch with no whole-table test, arm64 with LPA2's 52-bit PAs, has
    # only the per-entry way)
    assert any(taken) == (get_target(prog).arch.normal_pte_bits() is not None), taken[:8]
    monkeypatch.setattr(vm, "normal_frames", lambda *args: None)
    for role, pid in lab.pids.items():
        assert cmd(prog, ["vm", "-p", str(pid)], capsys)["pages"] == fast[pid], role
    count("vm -p rows: whole tables == PTE by PTE", sum(map(len, fast.values())))


def test_vm_fold_covers_the_same_pages(lab, prog, capsys):
    pid = lab.pids["workload"]
    pages = cmd(prog, ["vm", "-p", str(pid)], capsys)["pages"]
    folded = cmd(prog, ["vm", "-p", "--fold", str(pid)], capsys)["runs"]
    assert len(folded) < len(pages) / 10
    expanded = []
    for r in folded:
        for k in range(r["pages"]):
            off = k * r["size"]
            expanded.append((r["vaddr"] + off, r["state"],
                             None if r["phys"] is None else r["phys"] + off))
    assert expanded == [(r["vaddr"], r["state"], r["phys"]) for r in pages]


def test_vm_lists_the_vmas(lab, prog, capsys):
    pid = lab.pids["workload"]
    j = cmd(prog, ["vm", str(pid)], capsys)
    got = [(r["start"], r["end"], r["perms"]) for r in j["vmas"]]
    expected = [(m.start, m.end, m.perms) for m in lab.maps(pid) if m.start < 1 << 56]
    assert got == expected
    v = lab.meta["vmas"]

    def kind(region):
        # the vma holding the region: an anonymous region may have been
        # merged with a neighbour of the same flags (7.2-5level's cow)
        addr = v[region]["start"]
        return next(r["kind"] for r in j["vmas"] if r["start"] <= addr < r["end"])

    assert kind("pfnmap") == "pfnmap"
    assert kind("hugetlb_2m") == "hugetlb"
    assert kind("shmem_shared") == "shmem"
    assert kind("cow") == "anon"


# -- rmap -------------------------------------------------------------------------

def test_rmap_file(lab, prog, capsys):
    """rmap on the tmpfs file: exactly the (process, address) pairs that the
    processes' maps and pagemap imply; a private COW copy is told apart
    from the file's page."""
    path = lab.meta["tmpfs_file"]
    expected = {}
    for role in ("workload", "child"):
        pid = lab.pids[role]
        truth = lab.pagemap(pid)
        for m in lab.maps(pid):
            if m.name != path:
                continue
            for addr in range(m.start, m.end, lab.page_size):
                e = truth.get(addr, 0)
                if e & PM_PRESENT:
                    expected[(pid, addr)] = e & PFN_MASK
    j = cmd(prog, ["rmap", path], capsys)
    got = {(r["pid"], r["vaddr"]): r["pfn"] for r in j["mappings"]}
    assert got == expected
    # the shared mapping's PFNs are the file's pages; the child's written
    # private pages are copies
    shared_pfns = {pfn for (pid, _), pfn in expected.items() if pid == lab.pids["workload"]}
    for r in j["mappings"]:
        assert (r["maps"] == "file page") == (r["pfn"] in shared_pfns)
    assert any(r["maps"] == "private copy" for r in j["mappings"])
    count("rmap (process, address) pairs", len(got))



def test_rmap_pfn_of_a_slab_page(lab, prog, capsys):
    """A slab page (the workload's task_struct) is mapped by no process:
    no PFN of any process's pagemap in the guest is it, and rmap says so
    instead of reading struct slab's fields as a mapping."""
    from drgn.helpers.linux.mm import virt_to_pfn
    from drgn.helpers.linux.slab import slab_object_info

    task = find_task(prog, lab.pids["workload"])
    pfn = virt_to_pfn(task).value_()
    assert slab_object_info(prog, task.value_()).slab_cache.name.string_() == b"task_struct"
    for pid in lab.pids.values():
        assert all(e & PFN_MASK != pfn for e in lab.pagemap(pid).values()
                   if e & PM_PRESENT)
    j = cmd(prog, ["rmap", "--pfn", hex(pfn)], capsys)
    assert j["mappings"] == []
    assert j["page"]["slab"] == "task_struct"
    assert j["page"]["file"] is None and not j["page"]["anon"]

def test_rmap_pfn_cow(lab, prog, capsys):
    """A COW page still shared by parent and child lists both; a broken one
    only its writer."""
    parent, child = lab.pids["workload"], lab.pids["child"]
    cow = lab.meta["vmas"]["cow"]["start"]
    pp, cp = lab.pagemap(parent), lab.pagemap(child)
    for i in range(32):
        addr = cow + i * lab.page_size
        for pid, pm in ((parent, pp), (child, cp)):
            pfn = pm[addr] & PFN_MASK
            j = cmd(prog, ["rmap", "--pfn", hex(pfn)], capsys)
            got = {(r["pid"], r["vaddr"]) for r in j["mappings"]}
            if i % 2:  # not written by the child: still shared
                assert pp[addr] == cp[addr]
                assert got == {(parent, addr), (child, addr)}
            else:
                assert got == {(pid, addr)}
    count("rmap --pfn COW pages", 64)


def test_rmap_pfn_huge_pages(lab, prog, capsys):
    pid = lab.pids["workload"]
    pm = lab.pagemap(pid)
    for kind in ("thp", "hugetlb_2m"):
        addr = lab.meta["vmas"][kind]["start"] + 7 * lab.page_size
        pfn = pm[addr] & PFN_MASK
        j = cmd(prog, ["rmap", "--pfn", str(pfn)], capsys)
        got = {(r["pid"], r["vaddr"]) for r in j["mappings"]}
        others = {(p, addr) for p in lab.pids.values()
                  if lab.pagemap(p).get(addr, 0) & PM_PRESENT
                  and lab.pagemap(p)[addr] & PFN_MASK == pfn}
        assert got == others and (pid, addr) in got, kind


# -- walk trace and --all ---------------------------------------------------------

def test_walk_trace(lab, prog, capsys):
    pid = lab.pids["workload"]
    thp = lab.meta["vmas"]["thp"]
    page, pmd = _sizes(lab)
    shift = page.bit_length() - 1
    j = cmd(prog, ["walk", str(pid), hex(thp["start"]), hex(thp["start"] + 2 * pmd),
                   "--ops", "pmd,pte,hole"], capsys)
    rows = j["callbacks"]
    pmds = [r for r in rows if r["callback"] == "pmd_entry"]
    assert [r["addr"] for r in pmds] == [thp["start"], thp["start"] + pmd]
    ptes = [r for r in rows if r["callback"] == "pte_entry"]
    assert len(ptes) == 2 * (page // 8)  # two tables of PTRS_PER_PTE
    # the output address field: bits [51:PAGE_SHIFT] on x86-64, bits
    # [49:PAGE_SHIFT] on arm64 (bits 50 and 51 are GP and DBM; the guests'
    # RAM is below 4 GiB, so no PA bit in LPA2's [9:8])
    pfn_mask = (1 << ((52 if lab.arch == "x86_64" else 50) - shift)) - 1
    truth = lab.pagemap(pid)
    # the virtual split's PTEs carry the THP's PFNs; a kernel without THP
    # (the rt flavour) maps the same region with its own PTEs
    note = "synthesized" if has_thp(lab) else None
    for r in ptes:
        assert r["note"] == note
        assert (r["value"] >> shift) & pfn_mask == truth[r["addr"]] & PFN_MASK


@pytest.mark.parametrize("argv", [["vm", "--all"], ["vm", "-p", "--fold", "--all"]])
def test_every_process(lab, prog, capsys, argv):
    status, out, err = cmd_status(prog, argv, capsys)
    from drgn_pagewalk.commands.tasks import tasks_with_mm

    assert status == 0 and not err
    assert out.count("PID ") == len(tasks_with_mm(prog)) >= len(lab.pids)


# -- bad input --------------------------------------------------------------------

def test_bad_input(lab, prog, capsys):
    pid = str(lab.pids["workload"])
    kthread = next(t.pid.value_() for t in __import__(
        "drgn.helpers.linux.pid", fromlist=["for_each_task"]).for_each_task(prog)
        if not t.mm.value_())
    cases = [
        (["vtop", "0x1000", pid], "not in any vma"),
        (["vtop", hex(1 << user_address_bits(lab, prog)), pid], "not a canonical address"),
        (["vtop", "0x7f0000000000"], "user address"),
        (["vm", str(kthread)], "kernel thread"),
        (["rmap", "/tmp/layout"], "not mapped by any process"),
        (["rmap", "/no/such/file"], "/no/such/file"),
        (["rmap", "--pfn", hex(1 << 40)], "beyond memory or in a hole"),
        # x86 (max-ram-below-4g=1G): RAM stops at 1 GiB; arm64 virt: RAM
        # starts there (the low gigabyte is flash and devices)
        (["rmap", "--pfn", hex((1 << 30) // lab.page_size + 100
                               if lab.arch == "x86_64" else 100)],
         "beyond memory or in a hole"),
        (["walk", pid, "0x2000", "0x1000"], "empty range"),
    ]
    for argv, message in cases:
        status, out, err = cmd_status(prog, argv, capsys)
        assert status != 0, argv
        lines = err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (argv, err)
        assert "Traceback" not in err
