"""Real lab dumps with chosen pages taken out: the parts of a vma tree a
dump can lack, one at a time, with the answer known from the same dump.

The over-filtered dumps (test_filtered_lab.py) lose what makedumpfile
happened to drop.  Here a Program reads a lab's full dump through a reader
that faults on the pages chosen (those holding one maple node, or one
page of vm_area_structs, of the workload's tree), so each case the vma
iteration has is met on every lab kernel: a node whose vmas are all found
in the vm_area_struct slab cache (mm->map_count agrees: the reports are
the full dump's, byte for byte, and the lost node is still named), vmas
whose own vm_area_struct is gone (each named with its range, the others
printed as the full dump prints them), and before 6.1 the mm->mmap list
cut at a lost vma.  These are extra tests: the proof on dumps as the field
writes them is test_filtered_lab.py's."""

from __future__ import annotations

import io
from typing import Any, List, Set, Tuple

import drgn
import pytest
from drgn import FaultError, Object

from drgn_pagewalk.commands.run import run_argv
from drgn_pagewalk.openers.rawkernel import system_ram, x86_64_platform

from .counts import count
from .labcache import get_lab, program
from .test_filtered_lab import _named, _smaps_blocks
from .test_proc_lab import same

LABS = ["6.1-4level", "6.12-4level", "7.2-4level", "5.10-4level"]


def holed_program(prog: Any, vmlinux: str, holes: Set[int]) -> Any:
    """A Program over ``prog``'s physical memory in which every page whose
    physical address is in ``holes`` faults, as pages a dump lacks do."""
    def read_fn(address: int, size: int, offset: int, physical: bool) -> bytes:
        for page in range(address & ~0xFFF, address + size, 4096):
            if page in holes:
                raise FaultError("left out of this dump", max(page, address))
        return prog.read(address, size, True)

    holed = drgn.Program(x86_64_platform())
    for start, end in system_ram(prog):
        holed.add_memory_segment(start, end - start, read_fn, physical=True)
    holed.set_linux_kernel_custom(prog["VMCOREINFO"].string_(), False)
    holed.load_debug_info([vmlinux])
    return holed


def _phys(prog: Any, addr: int) -> int:
    from drgn_pagewalk.target.drgn_target import get_target

    return get_target(prog).virt_to_phys(addr) & ~0xFFF


def _maple_children(prog: Any, mm: Any) -> List[int]:
    """The node addresses under the root of mm's maple tree."""
    root = mm.mm_mt.ma_root.value_()
    node = Object(prog, "struct maple_node", address=root & ~0xFF)
    kind = (root >> 3) & 0xF
    slots = node.ma64.slot if kind == 3 else node.mr64.slot
    return [s.value_() & ~0xFF for s in slots if s.value_()]


def _run(prog: Any, argv: List[str], capsys: Any) -> Tuple[int, str, str]:
    out = io.StringIO()
    status = run_argv(prog, argv, out)
    return status, out.getvalue(), capsys.readouterr().err


def _vmas(prog: Any, mm: Any) -> List[Tuple[int, int, int]]:
    from drgn.helpers.linux.mm import for_each_vma

    return [(v.vm_start.value_(), v.vm_end.value_(), v.value_()) for v in for_each_vma(mm)]


def _check(lab: Any, full: Any, holed: Any, pid: int, capsys: Any) -> Tuple[dict, List[str]]:
    """smaps, pagemap and numa_maps of ``pid`` from the holed Program:
    exit status 3, every vma printed as the full dump prints it; returns
    the printed smaps blocks and the missing lines."""
    argv = ["--format", "proc", "smaps", str(pid)]
    status, out, err = _run(holed, argv, capsys)
    assert status == 3, err
    _, fout, _ = _run(full, argv, capsys)
    got, want = _smaps_blocks(out), _smaps_blocks(fout)
    for key, block in got.items():
        same(want[key], block, f"{lab.name} smaps {key}")
    for command in ("pagemap", "numa-maps"):
        argv = ["--format", "proc", command, str(pid)]
        _, hout, _ = _run(holed, argv, capsys)
        _, fout, _ = _run(full, argv, capsys)
        extra = set(hout.splitlines()) - set(fout.splitlines())
        assert not extra, (lab.name, command, sorted(extra)[:3])
        count("missing parts: pagemap and numa_maps lines equal to the full dump's",
              len(hout.splitlines()))
    return got, [line for line in err.splitlines() if line.startswith("missing: ")]


@pytest.mark.parametrize("name", LABS)
def test_a_lost_vm_area_struct_page(name, capsys):
    """The page holding the workload's vm_area_struct of its [heap] (and
    whatever other vmas share it) is gone: each vma there is named with its
    range, every other vma is printed as the full dump prints it."""
    from drgn.helpers.linux.pid import find_task

    lab = get_lab(name)
    full = program(lab)
    pid = lab.pids["workload"]
    mm = find_task(full, pid).mm
    vmas = _vmas(full, mm)
    heap = next(v for v in vmas if v[0] <= mm.brk.value_() - 1 < v[1])
    page = _phys(full, heap[2])
    holed = holed_program(full, lab.meta["vmlinux"], {page})
    got, missing = _check(lab, full, holed, pid, capsys)
    size = full.type("struct vm_area_struct").size
    lost = [v for v in vmas if _phys(full, v[2]) == page or
            _phys(full, v[2] + size - 1) == page]
    for start, end, addr in vmas:
        key = f"{start:08x}-{end:08x}"
        if (start, end, addr) in lost:
            assert key not in got and _named(missing, start, end), (name, key, missing)
            count("missing parts: vmas whose vm_area_struct is gone, named")
        elif name == "5.10-4level" and start > heap[0]:
            # the mm->mmap list ends at the lost vma; those after it are
            # found in the slab cache
            assert key in got or _named(missing, start, end), (name, key)
        else:
            assert key in got, (name, key, missing)
            count("missing parts: vmas printed as the full dump prints them")


@pytest.mark.parametrize("name", [n for n in LABS if n != "5.10-4level"])
def test_a_lost_maple_node(name, capsys):
    """One maple node under the root of the workload's tree is gone: the
    vmas under it are found in the vm_area_struct slab cache, mm->map_count
    agrees, so smaps, pagemap and numa_maps are the full dump's byte for
    byte; the lost node is named once, with its range and what was found."""
    from drgn.helpers.linux.pid import find_task

    lab = get_lab(name)
    full = program(lab)
    pid = lab.pids["workload"]
    mm = find_task(full, pid).mm
    root = _phys(full, mm.mm_mt.ma_root.value_())
    vma_pages = {_phys(full, a) for _, _, a in _vmas(full, mm)}
    nodes = [n for n in _maple_children(full, mm)
             if _phys(full, n) not in vma_pages | {root}]
    if not nodes:
        # every node of the tree shares the root's page: the root goes
        nodes = [mm.mm_mt.ma_root.value_() & ~0xFF]
    assert _phys(full, nodes[0]) not in vma_pages, name
    holed = holed_program(full, lab.meta["vmlinux"], {_phys(full, nodes[0])})
    got, missing = _check(lab, full, holed, pid, capsys)
    argv = ["--format", "proc", "smaps", str(pid)]
    same(_run(full, argv, capsys)[1], _run(holed, argv, capsys)[1], f"{name} smaps")
    # every node on the page is named (two children of the root may share it)
    assert missing and all("no vma (the" in line and "mm->map_count agrees" in line
                           and "(a maple_node object at 0x" in line
                           for line in missing), missing
    assert any(f"a maple_node object at {nodes[0]:#x}" in line for line in missing)
    count("missing parts: lost maple nodes whose vmas were all found", len(missing))


def test_the_slab_cache_finds_are_checked_against_each_other():
    """mmvmas.alone(): a vma found in the slab cache is kept only if it
    overlaps no vma the tree gives and no other find (a freed vma not yet
    detached would); compared with the plain pairwise test on random
    ranges, and on 100 k of them."""
    import random

    from drgn_pagewalk.target.mmvmas import alone

    rng = random.Random(7)
    for _ in range(200):
        taken, at = [], 0
        for _ in range(rng.randrange(0, 8)):
            at += rng.randrange(0, 5)
            length = rng.randrange(1, 4)
            taken.append((at, at + length))
            at += length
        cands = []
        for i in range(rng.randrange(0, 10)):
            start = rng.randrange(0, 40)
            cands.append((start, start + rng.randrange(1, 5), 1000 + i))
        want = sorted(c for c in cands
                      if not any(s < c[1] and c[0] < e for s, e in taken)
                      and not any(o is not c and o[0] < c[1] and c[0] < o[1] for o in cands))
        assert alone(cands, taken) == want, (cands, taken)
    many = [(i * 2, i * 2 + 1, i) for i in range(100_000)]
    assert alone(many, [(1, 2)]) == many
