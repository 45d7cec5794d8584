"""Damaged copies of a real lab dump, for the damaged-tables tests.

A copy of a lab's ELF vmcore (sparse, a second or two) gets page-table and
mm bytes changed at known physical addresses: the kinds of damage a kernel
engineer meets in dumps of corrupted machines.  What was changed, where and
which user addresses it covers is written to ``damage.json`` next to the
copy, so the tests can check that ``ptcheck`` reports exactly that damage and
that every command agrees with the clean dump everywhere else.

The table entries to change are found by reading the clean dump's tables
with drgn directly (pgd_index() and friends written out here), not with the
project's walker, so the damage does not depend on the code under test.

Damage made, in the lab's ``workload`` process unless said otherwise:

===================  ==========================================================
``pgd_random``       ``init``'s whole pgd page overwritten with random bytes
``pmd_cycle``        a pmd (in ``bulk_4k``) pointing to its own pmd table
``pud_beyond``       the pud over ``bulk_thp`` pointing past the end of memory
``pte_random``       a PTE table of ``bulk_4k`` filled with random bytes
``pte_past_pfn``     one PTE of ``bulk_4k`` pointing past the last PFN
``pmd_swap_garbage`` a THP pmd of ``thp`` replaced by a non-present garbage
                     value whose swap type is not a migration type
``free_table``       a pmd of ``bulk_4k`` pointing to a free (buddy) page that
                     holds a copy of the PTE table it replaced
``rss_counter``      ``child``'s MM_ANONPAGES counter raised by 1000 pages
===================  ==========================================================
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Tuple

from vmcores.build import cache_dir
from vmcores.lab import Lab

HERE = Path(__file__).resolve()
PAGE = 4096
_PAGE_TABLE = 0x067  # P RW US A D: what pmd_populate() writes (and the user bit)
MM_ANONPAGES = 1


def _elf_loads(path: Path) -> List[Tuple[int, int, int]]:
    """(p_paddr, p_filesz, p_offset) of every PT_LOAD of an ELF64 LE core."""
    with open(path, "rb") as f:
        eh = f.read(64)
        if eh[:4] != b"\x7fELF" or eh[4] != 2:
            raise ValueError(f"{path} is not an ELF64 file")
        phoff, = struct.unpack_from("<Q", eh, 32)
        phentsize, phnum = struct.unpack_from("<HH", eh, 54)
        f.seek(phoff)
        data = f.read(phentsize * phnum)
    loads = []
    for i in range(phnum):
        p_type, _flags, p_offset, _vaddr, p_paddr, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, i * phentsize)
        if p_type == 1:
            loads.append((p_paddr, p_filesz, p_offset))
    return loads


def _file_offset(loads: List[Tuple[int, int, int]], phys: int, size: int) -> int:
    for paddr, filesz, offset in loads:
        if paddr <= phys and phys + size <= paddr + filesz:
            return offset + phys - paddr
    raise ValueError(f"physical {phys:#x} is not in the dump")


class _Tables:
    """The clean dump's page tables, read with drgn only."""

    def __init__(self, prog: Any) -> None:
        from drgn.helpers.linux.mm import virt_to_phys

        self.prog = prog
        self.virt_to_phys = virt_to_phys
        self.l5 = bool(int(prog["__pgtable_l5_enabled"]))
        self.mask = (1 << 52) - 1 & ~0xFFF

    def u64(self, phys: int) -> int:
        return self.prog.read_u64(phys, True)

    def pgd_phys(self, mm: Any) -> int:
        return int(self.virt_to_phys(mm.pgd))

    def slots(self, mm: Any, addr: int) -> Dict[str, int]:
        """Physical address of the entry at each level for ``addr``
        ("pgd" is the top table's slot; with 4 levels p4d == pgd)."""
        table = self.pgd_phys(mm)
        out = {}
        shifts = [("pgd", 48), ("p4d", 39)] if self.l5 else [("pgd", 39)]
        shifts += [("pud", 30), ("pmd", 21), ("pte", 12)]
        for name, shift in shifts:
            slot = table + ((addr >> shift) & 511) * 8
            out[name] = slot
            val = self.u64(slot)
            if name == "pte" or not val & 1 or val & 0x80:
                break
            table = val & self.mask
        if not self.l5:
            out["p4d"] = out["pgd"]
        return out


def _free_page(prog: Any) -> int:
    """PFN of an order-0 page on a buddy free list of the clean dump."""
    from drgn import container_of
    from drgn.helpers.linux.list import list_for_each
    from drgn.helpers.linux.mm import page_to_pfn

    member = "buddy_list" if prog.type("struct page").has_member("buddy_list") else "lru"
    pgdat = prog["node_data"][0]
    for z in range(int(pgdat.nr_zones)):
        zone = pgdat.node_zones[z]
        for head in zone.free_area[0].free_list:
            for node in list_for_each(head.address_of_()):
                page = container_of(node, "struct page", member)
                return int(page_to_pfn(page))
    raise ValueError("no free order-0 page in the dump")


def _rss_counter_phys(prog: Any, mm: Any) -> Tuple[int, int]:
    """(physical address, size) of the MM_ANONPAGES counter's value."""
    from drgn import sizeof
    from drgn.helpers.linux.mm import virt_to_phys

    stat = mm.rss_stat
    if stat.type_.kind.name == "ARRAY":  # 6.2+: struct percpu_counter[]
        obj = stat[MM_ANONPAGES].count
    else:  # 6.1: struct mm_rss_stat { atomic_long_t count[]; }
        obj = stat.count[MM_ANONPAGES].counter
    return int(virt_to_phys(obj.address_of_())), sizeof(obj)


def plan(lab: Lab, prog: Any) -> Tuple[List[Dict[str, Any]], Dict[int, bytes]]:
    """The damage to make on ``lab``: descriptions and {phys: new bytes}."""
    from drgn.helpers.linux.pid import find_task

    t = _Tables(prog)
    rng = random.Random(f"damage-{lab.name}")
    vmas = lab.meta["vmas"]
    wl = find_task(prog, lab.pids["workload"]).mm
    init = find_task(prog, lab.pids["init"]).mm
    max_pfn = int(prog["max_pfn"])
    writes: Dict[int, bytes] = {}
    damage: List[Dict[str, Any]] = []

    def add(kind: str, pid: int, level: str, start: int, end: int, phys: int,
            data: bytes) -> None:
        damage.append({"kind": kind, "pid": pid, "level": level,
                       "start": start, "end": end, "phys": phys})
        writes[phys] = data

    pid = lab.pids["workload"]
    bulk4k = vmas["bulk_4k"]["start"]

    def pmd_range(addr: int) -> Tuple[int, int]:
        start = addr & ~((2 << 20) - 1)
        return start, start + (2 << 20)

    # a pmd pointing to its own table
    a = _align_up(bulk4k, 2 << 20) + (192 << 20)
    s = t.slots(wl, a)
    table = s["pmd"] & ~0xFFF
    add("pmd_cycle", pid, "pmd", *pmd_range(a), s["pmd"],
        struct.pack("<Q", table | _PAGE_TABLE))

    # the pud over bulk_thp pointing past the end of memory
    thp_vma = vmas["bulk_thp"]
    a = thp_vma["start"]
    s = t.slots(wl, a)
    beyond = ((max_pfn << 12) + (64 << 30)) & ~0xFFF
    start = a & ~((1 << 30) - 1)
    add("pud_beyond", pid, "pud", start, start + (1 << 30), s["pud"],
        struct.pack("<Q", beyond | _PAGE_TABLE))

    # a PTE table filled with random bytes
    a = _align_up(bulk4k, 2 << 20) + (64 << 20)
    s = t.slots(wl, a)
    add("pte_random", pid, "pte", *pmd_range(a), s["pte"] & ~0xFFF,
        bytes(rng.getrandbits(8) for _ in range(PAGE)))

    # one PTE pointing past the last PFN (flags kept)
    a = _align_up(bulk4k, 2 << 20) + (128 << 20) + 5 * PAGE
    s = t.slots(wl, a)
    old = t.u64(s["pte"])
    assert old & 1, f"bulk_4k page {a:#x} is not present in the clean dump"
    new = (old & ~t.mask) | ((max_pfn + 0x1000) << 12)
    add("pte_past_pfn", pid, "pte", a, a + PAGE, s["pte"], struct.pack("<Q", new))

    # a THP pmd replaced by non-present garbage: swap type 5, offset 0x1234,
    # written as __swp_entry() would (type in the top 5 bits, offset inverted)
    a = vmas["thp"]["start"] + (2 << 20)
    s = t.slots(wl, a)
    assert t.u64(s["pmd"]) & 0x80, f"thp {a:#x} is not a huge pmd in the clean dump"
    garbage = (((~0x1234 << 14) & (1 << 64) - 1) >> 5) | (5 << 59)
    add("pmd_swap_garbage", pid, "pmd", *pmd_range(a), s["pmd"],
        struct.pack("<Q", garbage))

    # a pmd pointing to a free page holding a copy of its PTE table
    a = _align_up(bulk4k, 2 << 20) + (32 << 20)
    s = t.slots(wl, a)
    old = t.u64(s["pmd"])
    free = _free_page(prog) << 12
    add("free_table", pid, "pmd", *pmd_range(a), s["pmd"],
        struct.pack("<Q", (old & ~t.mask) | free))
    writes[free] = prog.read(old & t.mask, PAGE, True)

    # the child's MM_ANONPAGES counter raised by 1000
    child = find_task(prog, lab.pids["child"]).mm
    phys, size = _rss_counter_phys(prog, child)
    fmt = "<q" if size == 8 else "<i"
    value = struct.unpack(fmt, prog.read(phys, size, True))[0]
    add("rss_counter", lab.pids["child"], "mm", 0, 0, phys,
        struct.pack(fmt, value + 1000))

    # init's pgd page: random bytes
    pgd = t.pgd_phys(init)
    add("pgd_random", lab.pids["init"], "pgd", 0, 1 << 64, pgd,
        bytes(rng.getrandbits(8) for _ in range(PAGE)))
    return damage, writes


def _align_up(x: int, a: int) -> int:
    return (x + a - 1) & ~(a - 1)


class DamagedLab:
    """A damaged copy: ``vmcore``, ``vmlinux``, ``damage`` (list of dicts)."""

    def __init__(self, lab: Lab, path: Path) -> None:
        self.lab = lab
        self.path = path
        self.vmcore = path / "vmcore"
        self.vmlinux = lab.vmlinux
        self.damage: List[Dict[str, Any]] = json.loads(
            (path / "damage.json").read_text())["damage"]

    def of(self, kind: str) -> Dict[str, Any]:
        return next(d for d in self.damage if d["kind"] == kind)

    def program(self) -> Any:
        import drgn

        prog = drgn.Program()
        prog.set_core_dump(str(self.vmcore))
        prog.load_debug_info([str(self.vmlinux)])
        return prog


def _recipe(lab: Lab) -> str:
    h = hashlib.sha256(HERE.read_bytes())
    h.update(lab.meta.get("built", "").encode())
    h.update(lab.name.encode())
    return h.hexdigest()[:16]


def damaged_copy(lab: Lab, prog: Any) -> DamagedLab:
    """The damaged copy of ``lab`` (made once per lab build and recipe)."""
    if lab.meta.get("dump_format") != "elf":
        raise ValueError(f"lab {lab.name}: damaged copies are made of ELF dumps")
    path = cache_dir() / "damaged" / lab.name
    recipe = _recipe(lab)
    try:
        if json.loads((path / "damage.json").read_text())["recipe"] == recipe:
            return DamagedLab(lab, path)
    except (OSError, ValueError, KeyError):
        pass
    damage, writes = plan(lab, prog)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    tmp = path / "vmcore.tmp"
    subprocess.run(["cp", "--sparse=always", str(lab.vmcore), str(tmp)], check=True)
    loads = _elf_loads(tmp)
    with open(tmp, "r+b") as f:
        for phys, data in writes.items():
            f.seek(_file_offset(loads, phys, len(data)))
            f.write(data)
    tmp.rename(path / "vmcore")
    (path / "damage.json").write_text(json.dumps(
        {"recipe": recipe, "lab": lab.name, "damage": damage}, indent=1) + "\n")
    return DamagedLab(lab, path)
