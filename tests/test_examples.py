"""examples/: each post-mortem script on every lab, against what the guest's
own /proc said just before the dump (pagemap, smaps, status); and each run
both ways: by drgn (``drgn -c VMCORE -s VMLINUX SCRIPT``, prog given) and
by Python (``python SCRIPT -c VMCORE -s VMLINUX``)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

import pytest

from drgn.helpers.linux.pid import find_task

from vmcores.lab import Lab

from .counts import count
from .labcache import get_lab, program

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DRGN = str(Path(sys.executable).with_name("drgn"))
PM_PRESENT = 1 << 63
PFN_MASK = (1 << 55) - 1


def example(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def status_kb(lab: Lab, pid: int) -> Dict[str, int]:
    """The guest's /proc/PID/status lines in kB."""
    out = {}
    for line in lab.truth_text(pid, "status").splitlines():
        name, _, value = line.partition(":")
        if value.strip().endswith(" kB"):
            out[name] = int(value.split()[0])
    return out


# -- who_maps_pfn ------------------------------------------------------------------

def truth_mappers(lab: Lab) -> Dict[int, Set[Tuple[int, int]]]:
    """PFN -> {(pid, vaddr)} of every present entry of every process's pagemap."""
    out: Dict[int, Set[Tuple[int, int]]] = defaultdict(set)
    for pid in lab.pids.values():
        for vaddr, entry in lab.pagemap(pid).items():
            if entry & PM_PRESENT:
                out[entry & PFN_MASK].add((pid, vaddr))
    return out


def test_who_maps_pfn(lab, prog):
    """PFNs of every kind of mapping the lab makes (4 KiB anon, COW, shmem
    shared by both workloads, THP and hugetlb subpages, the most-mapped
    PFNs) and one mapped nowhere: the same (pid, vaddr) as the pagemaps."""
    truth = truth_mappers(lab)
    pfns = {1 << 40}  # beyond memory: mapped by no process
    for vma in lab.meta["vmas"].values():
        entry = lab.pagemap(vma["pid"]).get(vma["start"] + 5 * lab.page_size, 0)
        if entry & PM_PRESENT:
            pfns.add(entry & PFN_MASK)
    pfns.update(sorted(truth, key=lambda p: -len(truth[p]))[:5])
    assert len(pfns) > 10
    got: Dict[int, Set[Tuple[int, int]]] = defaultdict(set)
    for pfn, task, vaddr, size in example("who_maps_pfn").who_maps_pfn(prog, pfns):
        if task.pid.value_() in lab.pids.values():  # the processes /proc was read of
            got[pfn].add((task.pid.value_(), vaddr))
    for pfn in pfns:
        assert got[pfn] == truth.get(pfn, set()), hex(pfn)
    count("PFNs whose mappers equal the guest's pagemaps", len(pfns))


# -- top_swap ----------------------------------------------------------------------

def smaps_swap(lab: Lab, pid: int) -> Dict[int, int]:
    """vma start -> the guest's smaps Swap: kB."""
    out, start = {}, None
    for line in lab.truth_text(pid, "smaps").splitlines():
        if line[0] in "0123456789abcdef" and "-" in line.split()[0]:
            start = int(line.split("-")[0], 16)
        elif line.startswith("Swap:"):
            out[start] = int(line.split()[1])
    return out


def test_top_swap(lab, prog):
    ex = example("top_swap")
    for pid in lab.pids.values():
        walked = {vma.vm_start.value_(): pages * lab.page_size // 1024
                  for vma, pages in ex.vma_swap(find_task(prog, pid))}
        assert walked == smaps_swap(lab, pid), pid
    top = {task.pid.value_(): pages * lab.page_size // 1024
           for pages, task, _ in ex.top_swap(prog, 1000)}
    for pid in lab.pids.values():
        assert top.get(pid, 0) == status_kb(lab, pid)["VmSwap"], pid
    assert any(top.values()), "no swap in the lab"
    amounts = list(top.values())
    assert amounts == sorted(amounts, reverse=True)
    assert len(ex.top_swap(prog, 1)) == 1
    count("processes whose walked swap equals smaps per vma and VmSwap", len(lab.pids))


# -- rss_drift ---------------------------------------------------------------------

def test_rss_drift_clean(lab, prog):
    """Every process agrees; and each walked value is what the guest's
    status printed plus the per-thread counts pending on 6.1."""
    from drgn_pagewalk.ops.status import status_fields

    ex = example("rss_drift")
    assert ex.rss_drift(prog) == []
    for pid in lab.pids.values():
        fields = status_fields(find_task(prog, pid))
        truth = status_kb(lab, pid)
        for name in ex.FIELDS:
            assert fields[name]["walk"] == truth[name] + (fields[name]["pending"] or 0), \
                (pid, name)
    count("processes whose page tables agree with the guest's rss counters", len(lab.pids))


def test_rss_drift_damaged():
    """The damaged copy (tests/damage.py) whose child's MM_ANONPAGES was
    raised by 1000 pages: its drift is +4000 kB of RssAnon, nothing else."""
    from .damage import damaged_copy

    lab = get_lab("6.1-4level")
    damaged = damaged_copy(lab, program(lab))
    assert damaged.of("rss_counter")["pid"] == lab.pids["child"]
    drift = example("rss_drift").rss_drift(damaged.program())
    child = [(name, counted - walked) for task, name, counted, walked in drift
             if task.pid.value_() == lab.pids["child"]]
    assert child == [("RssAnon", 4000)]


# -- pt_pages ----------------------------------------------------------------------

def test_pt_pages(lab, prog):
    """The table pages walked equal the guest's VmPTE (mm->pgtables_bytes)."""
    ex = example("pt_pages")
    for pid in lab.pids.values():
        counts = ex.pt_pages(find_task(prog, pid))
        assert ex.vm_pte_kb(counts, lab.page_size) == status_kb(lab, pid)["VmPTE"], \
            (pid, counts)
        assert (counts["p4d"] > 0) == (lab.levels == 5)
        assert (counts["pud"] > 0) == (lab.levels >= 4)  # 3 levels: the pud folded
        assert counts["pmd"] and counts["pte"]
    count("processes whose walked table pages equal VmPTE", len(lab.pids))


# -- both ways in ------------------------------------------------------------------

SCRIPTS = [("who_maps_pfn", ["0x100000000"]), ("top_swap", ["2"]), ("rss_drift", []),
           ("pt_pages", [])]


def _run(args: List[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=300,
                          cwd=EXAMPLES.parent)


@pytest.mark.parametrize("name,args", SCRIPTS)
def test_runs_by_drgn_and_by_python(name, args):
    """The same output either way, and no error."""
    lab = get_lab("6.1-4level")
    script = str(EXAMPLES / f"{name}.py")
    by_drgn = _run([DRGN, "-q", "-c", str(lab.vmcore), "-s", str(lab.vmlinux), script,
                    *args])
    by_python = _run([sys.executable, script, "-c", str(lab.vmcore), "-s", str(lab.vmlinux),
                      *args])
    assert by_drgn.returncode == 0 and by_drgn.stderr == "", by_drgn.stderr
    assert by_python.returncode == 0 and by_python.stderr == "", by_python.stderr
    assert by_drgn.stdout == by_python.stdout and by_drgn.stdout


def test_script_errors_are_one_line(tmp_path):
    script = str(EXAMPLES / "pt_pages.py")
    p = _run([sys.executable, script, "-c", str(tmp_path / "nope")])
    assert p.returncode == 1 and p.stderr == \
        f"pt_pages.py: error: vmcore not found: {tmp_path / 'nope'}\n"
    p = _run([sys.executable, script])
    assert p.returncode == 2 and "the following arguments are required: -c/--core" in p.stderr
