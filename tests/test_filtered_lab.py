"""Dumps as production machines write them: each lab's ELF dump through the
newest Debian makedumpfile with ``-c -d 31`` (what kdump-tools runs: zero,
page-cache, user and free pages left out), and the 6.1-4level lab's also
with lzo (``-l``), zstd (``-z``) and in the flattened format (``-F``, read
by drgn 0.3.0 as it is).  Every report of every process must still be
byte-identical to the guest's /proc: page tables and struct pages stay, an
emptied PTE table (the workload's "emptied_pte" region) is left out as a
zero page and reads back as zeros, and the user pages the reports do not
read are gone from the dump."""

from __future__ import annotations

import io
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, List, Optional, Tuple

import pytest
from drgn import FaultError, cast, sizeof
from drgn.helpers.linux.pid import find_task

from drgn_pagewalk.commands.run import run_argv
from drgn_pagewalk.output.schema import validate
from vmcores.build import ensure_makedumpfile, makedumpfile_version
from vmcores.lab import FILTERED_NAMES, OVER_FILTERED_NAMES, Lab

from .counts import count
from .labcache import get_lab, program
from .test_lab import PM_PRESENT, PM_SWAP
from .test_proc_lab import PROC_COMMANDS, proc_truth, same

TOOL = str(Path(sys.executable).with_name("drgn-pagewalk"))
PFN_MASK = (1 << 55) - 1
@pytest.fixture(scope="module", params=FILTERED_NAMES)
def twin(request: Any) -> Lab:
    return get_lab(request.param)


def test_the_twins_are_declared():
    assert FILTERED_NAMES == ["6.1-4level-d31", "6.1-4level-d31-lzo", "6.1-4level-d31-zstd",
                              "6.1-4level-d31-flat", "6.1-5level-d31", "6.12-4level-d31",
                              "6.12-5level-d31", "6.12-numa-d31", "6.12-rt-d31"]


def test_made_by_the_newest_makedumpfile(twin):
    """lab.json says how the dump was made; the file is what it says."""
    full = get_lab(twin.meta["source_lab"])
    assert twin.meta["source_built"] == full.meta["built"]
    assert twin.meta["makedumpfile"] == "sid"
    assert twin.meta["makedumpfile_version"] == makedumpfile_version(ensure_makedumpfile("sid"))
    assert twin.meta["dump_level"] == 31
    flat = twin.name.endswith("-flat")
    assert twin.meta["dump_format"] == ("kdump-flattened" if flat else "kdump-compressed")
    option = {"zlib": "-c", "lzo": "-l", "zstd": "-z"}[twin.meta["compression"]]
    assert twin.meta["makedumpfile_command"] == (
        "makedumpfile -F -c -d 31 VMCORE.ELF > vmcore" if flat
        else f"makedumpfile {option} -d 31 VMCORE.ELF vmcore")
    with open(twin.vmcore, "rb") as f:
        head = f.read(16)
    assert head.startswith(b"makedumpfile\0" if flat else b"KDUMP   ")
    assert os.path.getsize(twin.vmcore) < os.stat(full.vmcore).st_blocks * 512 // 3


@pytest.mark.parametrize("command,name", PROC_COMMANDS)
def test_proc_reports_equal_the_guests_proc(twin, command, name):
    """--format proc of every process, byte for byte against the guest's
    /proc (in process, through run_argv: the CLI's own code)."""
    prog = program(twin)
    for role, pid in twin.pids.items():
        out = io.StringIO()
        assert run_argv(prog, ["--format", "proc", command, str(pid)], out) == 0
        expected = proc_truth(twin, pid, name)
        same(expected, out.getvalue(), f"{twin.name} {role} {command}")
        count("filtered dump lines identical to the guest's /proc",
              len(expected.splitlines()))


def test_the_cli_opens_the_file_as_it_is(twin):
    """The drgn-pagewalk command on the file makedumpfile wrote: no note,
    no warning (the flattened one too)."""
    pid = twin.pids["workload"]
    p = subprocess.run([TOOL, "-c", str(twin.vmcore), "-s", str(twin.vmlinux), "--format",
                        "proc", "smaps-rollup", str(pid)], capture_output=True, text=True,
                       timeout=300, stdin=subprocess.DEVNULL)
    assert (p.returncode, p.stderr) == (0, "")
    assert p.stdout == twin.truth_text(pid, "smaps_rollup")


# -- what -d 31 left out --------------------------------------------------------

def _pfns(lab: Lab, vma: str) -> List[int]:
    """The PFNs of the present pages of one of the workload's regions."""
    v = lab.meta["vmas"][vma]
    pm = lab.pagemap(v["pid"])
    return [pm[a] & PFN_MASK for a in range(v["start"], v["end"], 4096)
            if pm.get(a, 0) & PM_PRESENT]


def test_user_pages_are_left_out(twin):
    """Every present page of the workload's anonymous, THP, hugetlb and
    tmpfs regions reads in the full dump and faults in the filtered one."""
    full = get_lab(twin.meta["source_lab"])
    fprog, tprog = program(full), program(twin)
    for vma in ("anon_partial", "thp", "hugetlb_2m", "shmem_shared", "cow", "softdirty"):
        pfns = _pfns(full, vma)
        assert pfns, vma
        assert fprog.read(pfns[0] << 12, 4096, True) != bytes(4096)  # the workload wrote it
        for pfn in pfns[:: max(1, len(pfns) // 64)]:
            fprog.read(pfn << 12, 4096, True)
            with pytest.raises(FaultError):
                tprog.read(pfn << 12, 4096, True)
            count("user pages: in the full dump, left out of the -d 31 one")


def _pmd_table(prog: Any, lab: Lab, addr: int, pid: int) -> int:
    """The physical address of the PTE table that maps ``addr`` (read with
    drgn alone: mm->pgd and the tables below it)."""
    table = find_task(prog, pid).mm.pgd.value_() - prog["page_offset_base"].value_()
    entry = 0
    for shift in ([48, 39, 30, 21] if lab.levels == 5 else [39, 30, 21]):
        entry = prog.read_u64(table + ((addr >> shift) & 511) * 8, True)
        assert entry & 1, f"{addr:#x}: entry {entry:#x} at level {shift} not present"
        table = entry & 0x000FFFFFFFFFF000
    assert not entry & 0x80, f"{addr:#x}: a huge pmd {entry:#x}"
    return table


class KdumpFile:
    """Just enough of makedumpfile's kdump-compressed format (its
    diskdump_mod.h) to tell how one page was written: the 2nd bitmap (the
    pages dumped) and each dumped page's descriptor."""

    def __init__(self, path: Path) -> None:
        self.f = open(path, "rb")
        head = self.f.read(4096)
        assert head[:8] == b"KDUMP   "
        # disk_dump_header: block_size, sub_hdr_size, bitmap_blocks (both
        # bitmaps); the sub-header, then the bitmaps, then the descriptors
        self.block, sub_blocks, bitmap_blocks = struct.unpack_from("<iiI", head, 428)
        bitmaps = (1 + sub_blocks) * self.block
        half = bitmap_blocks * self.block // 2
        self.f.seek(bitmaps + half)
        self.bitmap2 = self.f.read(half)
        self.descs = bitmaps + 2 * half

    def dumped(self, pfn: int) -> bool:
        return bool(self.bitmap2[pfn >> 3] >> (pfn & 7) & 1)

    def desc(self, pfn: int) -> Optional[tuple]:
        """(offset, size, flags) of the page's data, None if left out."""
        if not self.dumped(pfn):
            return None
        index = sum(bin(b).count("1") for b in self.bitmap2[:pfn >> 3])
        index += bin(self.bitmap2[pfn >> 3] & ((1 << (pfn & 7)) - 1)).count("1")
        self.f.seek(self.descs + 24 * index)
        return struct.unpack("<qII", self.f.read(16))

    def zero_page(self) -> tuple:
        """The one page that stands for every zero page: the first data
        written after the descriptors (makedumpfile's pd_zero)."""
        nr = sum(bin(b).count("1") for b in self.bitmap2)
        return (self.descs + 24 * nr, self.block, 0)


def test_the_emptied_pte_table_is_a_zero_page(twin):
    """The workload's emptied PTE table: its pmd is present in both dumps;
    the full dump holds the table page (all zeros), the filtered dump writes
    it as makedumpfile's shared zero page (-d 1) and drgn reads it back as
    512 empty entries; a PTE table with entries is dumped with its own data.
    The pagemap and smaps of that region (all pages none) are in
    test_proc_reports_equal_the_guests_proc."""
    full = get_lab(twin.meta["source_lab"])
    fprog, tprog = program(full), program(twin)
    v = twin.meta["vmas"]["emptied_pte"]
    assert v["end"] - v["start"] == 2 << 20 and v["start"] % (2 << 20) == 0
    table = _pmd_table(fprog, full, v["start"], v["pid"])
    assert _pmd_table(tprog, twin, v["start"], v["pid"]) == table
    assert fprog.read(table, 4096, True) == bytes(4096)
    assert tprog.read(table, 4096, True) == bytes(4096)
    pm = twin.pagemap(v["pid"])
    # none: neither present nor swapped (the vma may be soft-dirty: on a
    # kernel without THP, MADV_NOHUGEPAGE fails and a later mapping merges)
    assert not any(pm[a] & (PM_PRESENT | PM_SWAP) for a in range(v["start"], v["end"], 4096))
    a = twin.meta["vmas"]["anon_partial"]
    used = _pmd_table(fprog, full, a["start"], a["pid"])
    assert tprog.read(used, 4096, True) == fprog.read(used, 4096, True) != bytes(4096)
    if twin.meta["dump_format"] == "kdump-compressed":
        k = KdumpFile(twin.vmcore)
        zero = k.zero_page()
        assert k.desc(table >> 12) == zero
        assert k.desc(used >> 12) not in (None, zero)
        assert k.desc(_pfns(full, "anon_partial")[0]) is None  # a user page
        count("emptied PTE tables written as the zero page")


# -- the over-filtered dump --------------------------------------------------------

def test_the_old_makedumpfile_leaves_out_slab_pages():
    """6.12-4level-d31-old: Debian 12's makedumpfile 1.7.2 on Debian 12's
    6.12 kernel.  Against the newest makedumpfile's dump of the same boot it
    lacks only slab pages, exactly those whose struct page ``mapping`` word
    (a struct slab field on 6.12) has PAGE_MAPPING_ANON set: 1.7.2 takes
    them for anonymous user pages.  Among them are task_structs and the
    maple nodes and vm_area_structs of the processes' vma trees (what the
    tool prints there: the tests below)."""
    from drgn.helpers.linux.mm import pfn_to_page

    old, new = get_lab("6.12-4level-d31-old"), get_lab("6.12-4level-d31")
    full = get_lab("6.12-4level")
    assert old.meta["makedumpfile_version"].startswith("1.7.2 ")
    assert old.meta["source_built"] == new.meta["source_built"] == full.meta["built"]
    prog = program(full)
    ko, kn = KdumpFile(old.vmcore), KdumpFile(new.vmcore)
    missing = [pfn for pfn in range(len(kn.bitmap2) * 8)
               if kn.bitmap2[pfn >> 3] and kn.dumped(pfn) and not ko.dumped(pfn)]
    assert missing
    slab_type = 0xF5  # PGTY_slab in page_type's top byte (6.10 and later)
    for pfn in missing:
        page = pfn_to_page(prog, pfn)
        assert page.page_type.value_() >> 24 == slab_type, hex(pfn)
        assert page.mapping.value_() & 1, hex(pfn)
    caches = {cast("struct slab *", pfn_to_page(prog, pfn)).slab_cache.name
              .string_().decode() for pfn in missing}
    assert {"task_struct", "maple_node"} <= caches, caches
    count("slab pages the old makedumpfile left out", len(missing))


OLD = "6.12-4level-d31-old"
_MISSING = re.compile(r"^missing: .*\((?P<what>.+?)(?: at |, the first at )"
                      r"(?P<addr>0x[0-9a-f]+)(?: is not in the dump|: not in the dump)\)$")


@pytest.fixture(scope="module", params=OVER_FILTERED_NAMES)
def over(request: Any) -> Lab:
    return get_lab(request.param)


def _run(prog: Any, argv: List[str], capsys: Any,
         prog_name: str = "pagewalk") -> Tuple[int, str, str]:
    out = io.StringIO()
    status = run_argv(prog, argv, out, prog_name=prog_name)
    return status, out.getvalue(), capsys.readouterr().err


def _old_commands(lab: Lab) -> List[List[str]]:
    """Every command, on every process of the lab (proc format where the
    kernel has one, else table)."""
    cmds = [["ps"], ["ptdump"], ["ptcheck", "--kernel"], ["vmas", "--all"],
            ["rmap", "/tmp/lab-shmem"], ["ptdump", "--checkwx"]]
    anon = lab.meta["vmas"]["anon_partial"]
    cmds.append(["vtop", hex(anon["start"]), str(anon["pid"])])
    for pid in lab.pids.values():
        p = str(pid)
        cmds += [["--format", "proc", c, p] for c in
                 ("smaps", "smaps-rollup", "pagemap", "numa-maps", "status")]
        cmds += [["vmas", p], ["vm", p], ["vm", "-p", p], ["walk", p],
                 ["status", "--walk", p], ["ptdump", "--pid", p], ["ptcheck", p]]
    return cmds


def _rows(doc: Any) -> List[str]:
    """Every object of a JSON document that sits in a list, but the
    results (they have a title): a table's rows, as text, less their
    ``missing`` list."""
    out: List[str] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key != "missing":
                out += _rows(value)
    elif isinstance(doc, list):
        for item in doc:
            if isinstance(item, dict) and "title" not in item:
                out.append(json.dumps({k: v for k, v in item.items() if k != "missing"},
                                      sort_keys=True))
            out += _rows(item)
    return out


def test_the_over_filtered_dump_prints_what_it_can_and_names_the_rest(over, capsys):
    """The over-filtered dumps lack slab pages the kernel needs (task_structs,
    struct pids, maple nodes, vm_area_structs, dentries ...).  Every command
    still ends with status 0 or 3 and no traceback; what it prints is what
    the full dump prints (proc output line by line; a table's rows through
    its JSON: each row the over-filtered dump prints is one of the full
    dump's rows, totals aside); each part it leaves out is a "missing:"
    line whose address the dump lacks and the full dump holds, named as
    the full dump's slab allocator knows it."""
    from drgn.helpers.linux.slab import slab_object_info

    full = get_lab(over.meta["source_lab"])
    oprog, fprog = program(over), program(full)
    statuses = {0: 0, 3: 0}
    for argv in _old_commands(over):
        status, out, err = _run(oprog, argv, capsys)
        fstatus, fout, ferr = _run(fprog, argv, capsys)
        assert fstatus == 0, (argv, ferr)
        assert status in (0, 3), (argv, status, err)
        lines = err.splitlines()
        errors = [line for line in lines if not line.startswith("missing: ")]
        # a process asked for whose task the dump lacks: one error line
        assert errors in ([], [f"pagewalk: error: PID {argv[-1]} cannot be read from "
                               "this dump (see the missing line)"]), (argv, errors)
        assert (status == 3) == bool(lines), (argv, status, err)
        statuses[status] += 1
        if status == 0:
            same(fout, out, f"over-filtered {' '.join(argv)}")
        elif "smaps-rollup" in argv and "from the rollup, " in err:
            pass  # a rollup of part of the vmas: test_the_partial_rollup()
        elif argv[0] == "--format":
            extra = set(out.splitlines()) - set(fout.splitlines())
            assert not extra, (argv, sorted(extra)[:5])
        elif argv[0] != "ps" and not errors:
            _, jout, _ = _run(oprog, ["--format", "json"] + argv, capsys)
            _, jfull, _ = _run(fprog, ["--format", "json"] + argv, capsys)
            rows, want = _rows(json.loads(jout)), set(_rows(json.loads(jfull)))
            extra = [r for r in rows if r not in want and '"total"' not in r]
            assert not extra, (argv, extra[:3])
            count("over-filtered dump: table rows equal to the full dump's", len(rows))
        for line in lines:
            if not line.startswith("missing: "):
                continue
            m = _MISSING.match(line)
            assert m, line
            addr = int(m["addr"], 16)
            with pytest.raises(FaultError):
                oprog.read(addr, 1)
            fprog.read(addr, 1)
            info = slab_object_info(fprog, addr)
            assert info is not None, line
            name = info.slab_cache.name.string_().decode()
            assert m["what"] == f"{'an' if name[0] in 'aeiou' else 'a'} {name} object", line
            count("over-filtered dump: missing parts named and checked")
        count("over-filtered dump: commands run", 1)
    assert statuses[0] and statuses[3], statuses


_LOST_NODE = re.compile(r"every vma (?:of the mm|in (?P<start>0x[0-9a-f]+)-(?P<end>0x[0-9a-f]+))"
                        r"(?: but the \d+ found in the vm_area_struct slab cache "
                        r"\((?P<found>[^)]*)\))? left out")


def _smaps_blocks(text: str) -> dict:
    """/proc/PID/smaps as {"start-end": the vma's block}."""
    blocks: dict = {}
    key = None
    for line in text.splitlines(keepends=True):
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            key = line.split()[0]
            blocks[key] = ""
        blocks[key] += line
    return blocks


def _named(missing: List[str], start: int, end: int) -> str:
    """How the missing lines name the vma [start, end): "vma" (itself,
    with the reason), "tree" (under a lost part of the tree, not found in
    the slab cache) or ""."""
    if any(f"the vma {start:#x}-{end:#x} left out" in line for line in missing):
        return "vma"
    for line in missing:
        m = _LOST_NODE.search(line)
        if not m:
            continue
        inside = m["start"] is None or (int(m["start"], 16) <= start
                                        and end <= int(m["end"], 16))
        if inside and f"{start:#x}-{end:#x}" not in (m["found"] or ""):
            return "tree"
    return ""


def test_every_vma_the_dump_holds_is_reported(over, capsys):
    """Against the full dump of the same boot: every vma of every process
    is either printed by smaps, its block identical to the full dump's, or
    named on a missing line: as itself (with what could not be read: its
    vm_area_struct, or its file's dentry) or as under a part of the maple
    tree the dump lacks, never when its vm_area_struct is in the dump (it
    is then found in the vm_area_struct slab cache).  A process whose
    task_struct or mm_struct is gone is named whole.  How much of which
    process the old makedumpfile leaves out differs from boot to boot (on
    one boot of 6.12-4level the pid radix-tree node of both workloads and
    init's maple tree were gone): at least one process or vma is checked."""
    from drgn.helpers.linux.mm import for_each_vma

    full = get_lab(over.meta["source_lab"])
    oprog, fprog = program(over), program(full)
    printed = named = 0
    for role, pid in over.pids.items():
        mm = find_task(fprog, pid).mm
        vmas = [(v.vm_start.value_(), v.vm_end.value_(), v.value_()) for v in for_each_vma(mm)]
        argv = ["--format", "proc", "smaps", str(pid)]
        _, out, err = _run(oprog, argv, capsys)
        _, fout, _ = _run(fprog, argv, capsys)
        got, want = _smaps_blocks(out), _smaps_blocks(fout)
        for key, block in got.items():
            same(want[key], block, f"{over.name} {role} smaps block {key}")
        missing = [line for line in err.splitlines() if line.startswith("missing: ")]
        if any(line.startswith(f"missing: PID {pid}: everything asked left out")
               for line in missing):
            # its task_struct (or its struct pid and the task list to it)
            # is gone: the process is named whole
            assert not got, role
            named += 1
            count("over-filtered dump: processes whose task is gone, named")
            continue
        try:
            oprog.read(mm.value_(), sizeof(mm[0]))
        except FaultError:
            assert not got, role
            assert any("a mm_struct object" in line for line in missing), (role, missing)
            named += 1
            count("over-filtered dump: processes whose mm_struct is gone, named")
            continue
        for start, end, addr in vmas:
            if f"{start:08x}-{end:08x}" in got:
                printed += 1
                count("over-filtered dump: vmas printed as the full dump prints them")
                continue
            how = _named(missing, start, end)
            assert how, (over.name, role, hex(start), hex(end), missing)
            try:
                oprog.read(addr, sizeof(fprog.type("struct vm_area_struct")))
                assert how == "vma", (role, hex(start), hex(end))
            except FaultError:
                pass
            named += 1
            count("over-filtered dump: vmas left out and named")
    assert printed + named, over.name


_EXACT = ("Rss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty",
          "Referenced", "Anonymous", "LazyFree", "AnonHugePages", "ShmemPmdMapped",
          "FilePmdMapped", "Shared_Hugetlb", "Private_Hugetlb", "Swap")


def test_the_partial_rollup(over, capsys):
    """A rollup over part of the vmas says so ("from the rollup: ... it
    covers the N vmas read"), and each of its whole-page fields is the sum
    of the full dump's smaps blocks of exactly those vmas.  A process with
    no vma read has no rollup, and a missing line names it; a rollup of
    every vma is the full dump's.  (Which case a process is differs
    from boot to boot: what the old makedumpfile leaves out does.)"""
    from drgn import Object

    from drgn_pagewalk.target.drgn_target import get_target

    full = get_lab(over.meta["source_lab"])
    oprog, fprog = program(over), program(full)
    checked = 0
    for role, pid in over.pids.items():
        argv = ["--format", "proc", "smaps-rollup", str(pid)]
        _, out, err = _run(oprog, argv, capsys)
        m = re.search(r"from the rollup, .* \(it covers the (\d+) vmas read", err)
        if not m:
            if not out:
                assert any(line.startswith(f"missing: PID {pid}")
                           for line in err.splitlines()), (role, err)
                count("over-filtered dump: rollups of no vma read, left out and named")
            else:
                # every vma read (some maybe found in the slab cache, under
                # a lost part of the tree: a missing line says so)
                _, fout, _ = _run(fprog, argv, capsys)
                same(fout, out, f"{over.name} {role} smaps_rollup")
                count("over-filtered dump: whole rollups equal to the full dump's")
            checked += 1
            continue
        _, fsmaps, _ = _run(fprog, ["--format", "proc", "smaps", str(pid)], capsys)
        blocks = _smaps_blocks(fsmaps)
        target = get_target(oprog)
        mm = target.mm(Object(oprog, "struct mm_struct *", find_task(fprog, pid).mm.value_()))
        covered = [v for v in target.vmas(mm)
                   if f"the vma {v.vm_start:#x}-{v.vm_end:#x} left out" not in err]
        assert len(covered) == int(m[1]), role
        got = dict(re.findall(r"^(\w+): +(\d+) kB$", out, re.M))
        for field in _EXACT:
            if field not in got:
                continue
            want = sum(int(re.search(rf"^{field}: +(\d+) kB$", blocks[
                f"{v.vm_start:08x}-{v.vm_end:08x}"], re.M)[1]) for v in covered)
            assert int(got[field]) == want, (role, field)
            count("over-filtered dump: partial rollup fields equal to the covered vmas' sum")
        checked += 1
    assert checked, over.name


def test_the_over_filtered_ps(capsys):
    """ps lists the processes whose task the old dump holds, with the full
    dump's values (null where a field could not be read); every process of
    the full dump it does not list has a task_struct or struct pid the old
    dump lacks, or sits under a PID table node it lacks, and is named."""
    from drgn.helpers.linux.pid import find_task

    old, full = get_lab(OLD), get_lab("6.12-4level")
    oprog, fprog = program(old), program(full)
    status, out, _ = _run(oprog, ["--format", "json", "ps"], capsys)
    assert status == 3
    got = json.loads(out)
    assert validate(got) == [] and got["missing"]
    rows = got["results"][0]["processes"]
    _, fout, _ = _run(fprog, ["--format", "json", "ps"], capsys)
    want = {r["pid"]: r for r in json.loads(fout)["results"][0]["processes"]}
    assert rows and {r["pid"] for r in rows} <= set(want)
    for r in rows:
        assert {k: v for k, v in r.items() if v is not None} == \
            {k: v for k, v in want[r["pid"]].items() if r[k] is not None}
    nodes = [int(m["left_out"].split("(from ")[1].rstrip(")")) for m in got["missing"]
             if m["left_out"].startswith("the PIDs under one PID table node")]
    named = {int(m["context"].split()[1]) for m in got["missing"]
             if m["context"] and m["left_out"].startswith("its task")}
    for pid in set(want) - {r["pid"] for r in rows}:
        task = find_task(fprog, pid)
        try:
            oprog.read(task.value_(), sizeof(task[0]))
            oprog.read(task.thread_pid.value_(), 1)
            readable = True
        except FaultError:
            readable = False
        assert not readable or any(n <= pid for n in nodes), pid
        assert pid in named or any(n <= pid for n in nodes) or not readable, pid
        count("over-filtered ps: unlisted processes explained")


def test_the_over_filtered_dump_in_every_front_end(over, capsys):
    """The CLI (a new process: its exit status) and %pagewalk in drgn
    (drgn.commands.run_command()) print the same smaps and the same missing
    lines as run_argv() for the child, whose vma tree lacks parts."""
    from drgn.commands import run_command

    import drgn_pagewalk.commands  # noqa: F401  (registers "pagewalk")

    pid = str(over.pids["child"])
    argv = ["--format", "proc", "smaps", pid]
    status, out, err = _run(program(over), argv, capsys)
    assert status == 3 and "missing: " in err
    cli = subprocess.run([TOOL, "-c", over.vmcore, "-s", over.meta["vmlinux"]] + argv,
                         capture_output=True, text=True)
    assert cli.returncode == 3, cli.stderr
    assert cli.stdout == out
    # the CLI's lines under its own name (an error line, where the child's
    # task is gone: "drgn-pagewalk: error: PID ... cannot be read")
    _, cli_out, cli_err = _run(program(over), argv, capsys, prog_name="drgn-pagewalk")
    assert [l for l in cli.stderr.splitlines() if not l.startswith("drgn-pagewalk: note")] \
        == cli_err.splitlines()
    run_command(program(over), "pagewalk " + " ".join(argv), globals={})
    repl = capsys.readouterr()
    assert repl.out == out and repl.err == err
    count("over-filtered dump: front ends printing the same", 2)
