"""/proc from a dump: every report against what the guest's kernel printed
in /proc just before the dump, byte for byte, on every lab."""

from __future__ import annotations

import difflib

from drgn.helpers.linux.pid import find_task

from drgn_pagewalk.ops.maps import show_maps
from drgn_pagewalk.ops.numa_maps import show_numa_maps
from drgn_pagewalk.ops.pagemap import pagemap
from drgn_pagewalk.ops.smaps import (
    show_smaps,
    show_smaps_rollup,
    smaps_records,
    smaps_rollup_record,
)
from drgn_pagewalk.ops.status import show_status_mem, status_fields

from .counts import count

STATUS_MEM = ("VmPeak", "VmSize", "VmLck", "VmPin", "VmHWM", "VmRSS", "RssAnon",
              "RssFile", "RssShmem", "VmData", "VmStk", "VmExe", "VmLib", "VmPTE",
              "VmSwap", "HugetlbPages")


# The CLI's --format proc commands and the /proc files they reproduce.
PROC_COMMANDS = (("smaps", "smaps"), ("smaps-rollup", "smaps_rollup"),
                 ("numa-maps", "numa_maps"), ("status", "status"), ("pagemap", "pagemap"))


def proc_truth(lab, pid: int, name: str) -> str:
    """What ``--format proc`` of a PROC_COMMANDS command must print: the
    guest's /proc/PID/NAME (status: its memory lines; pagemap: one
    ``VADDR ENTRY`` line per page)."""
    if name == "pagemap":
        return lab.pagemap_lines(pid)
    if name == "status":
        return "".join(line + "\n" for line in lab.truth_text(pid, name).splitlines()
                       if line.split(":")[0] in STATUS_MEM)
    return lab.truth_text(pid, name)


def same(expected: str, got: str, what: str) -> None:
    """Byte-identical, or a readable diff in the failure."""
    if expected != got:
        diff = "".join(difflib.unified_diff(expected.splitlines(True),
                                            got.splitlines(True), "kernel", "tool"))
        raise AssertionError(f"{what} differs:\n{diff[:4000]}")


def test_maps(lab, prog):
    for role, pid in lab.pids.items():
        text = lab.truth_text(pid, "maps")
        same(text, show_maps(find_task(prog, pid)), f"{role} maps")
        count("maps lines identical", len(text.splitlines()))


def test_smaps(lab, prog):
    for role, pid in lab.pids.items():
        text = lab.truth_text(pid, "smaps")
        same(text, show_smaps(find_task(prog, pid)), f"{role} smaps")
        count("smaps lines identical", len(text.splitlines()))



def test_smaps_one_vma(lab, prog):
    pid = lab.pids["workload"]
    thp = lab.meta["vmas"]["thp"]["start"]
    text = show_smaps(find_task(prog, pid), thp + lab.page_size)
    truth = lab.truth_text(pid, "smaps")
    head = text.splitlines()[0]
    # the vma holding the address (on a kernel without THP the region's
    # vma may have merged with a neighbour)
    start, end = (int(x, 16) for x in head.split()[0].split("-"))
    assert start <= thp + lab.page_size < end
    block = truth[truth.index(head):]
    assert block.startswith(text)


def test_smaps_rollup(lab, prog):
    for role, pid in lab.pids.items():
        same(lab.truth_text(pid, "smaps_rollup"),
             show_smaps_rollup(find_task(prog, pid)), f"{role} smaps_rollup")
        count("smaps_rollup files identical", 1)


def test_smaps_records_match_the_text(lab, prog):
    """The table/JSON rows carry the numbers of the kernel's text."""
    pid = lab.pids["workload"]
    task = find_task(prog, pid)
    truth = lab.truth_text(pid, "smaps")
    records = smaps_records(task)
    blocks = {}
    for line in truth.splitlines():
        head = line.split(" ")[0]
        if "-" in head and all(c in "0123456789abcdef-" for c in head):
            cur = blocks.setdefault(int(head.split("-")[0], 16), {})
        elif line.endswith(" kB"):
            key, value = line.split(":")
            cur[key] = int(value.split()[0])
    for rec in records:
        for key, value in blocks[rec["start"]].items():
            assert rec[key] == value, (hex(rec["start"]), key)
    rollup = smaps_rollup_record(task)
    for line in lab.truth_text(pid, "smaps_rollup").splitlines()[1:]:
        key, value = line.split(":")
        assert rollup[key] == int(value.split()[0]), key


def test_pagemap(lab, prog):
    for role, pid in lab.pids.items():
        truth = lab.pagemap(pid)
        got = pagemap(find_task(prog, pid))
        assert [a for a, _ in got] == list(truth), f"{role}: not the same pages"
        bad = [(hex(a), hex(truth[a]), hex(e)) for a, e in got if truth[a] != e]
        assert not bad, f"{role}: {len(bad)} entries differ, first {bad[:5]}"
        count("pagemap entries identical", len(got))


def test_pagemap_range(lab, prog):
    """A range crossing vmas and holes gives the hole entries too."""
    pid = lab.pids["workload"]
    vmas = lab.meta["vmas"]
    page = lab.page_size
    start, end = vmas["cow"]["start"] - 2 * page, vmas["cow"]["end"] + 2 * page
    got = dict(pagemap(find_task(prog, pid), start, end))
    truth = lab.pagemap(pid)
    assert len(got) == (end - start) // page
    for addr, entry in got.items():
        assert entry == truth.get(addr, entry if addr not in truth else None)


def test_pagemap_fast_lines_equal_the_generic_ones(lab):
    """The one-step table/JSON lines of pagemap (millions of rows), and the
    batches of them made as one text (pagemap_table_text(),
    pagemap_json_text()), are the generic cell-by-cell output, for every
    entry the guest's pagemap has (present, swap, soft-dirty, exclusive,
    file ...)."""
    import io

    from drgn_pagewalk.commands.proc import PAGEMAP_COLUMNS, PAGEMAP_WIDTHS
    from drgn_pagewalk.ops.pagemap import (
        decode_pagemap_entry,
        pagemap_json_line,
        pagemap_json_text,
        pagemap_table_line,
        pagemap_table_text,
    )
    from drgn_pagewalk.output.report import StreamReport, write_json_stream, write_table_stream

    items = sorted({(a, e, 1) for pid in lab.pids.values()
                    for a, e in lab.pagemap(pid).items()})
    items += [(items[0][0], 0, 512), (items[-1][0], 1 << 55, 1 << 20)]  # runs
    rows = [[a, n, e, *decode_pagemap_entry(e)] for a, e, n in items]
    for write in (write_table_stream, write_json_stream):
        generic, fast, batch = io.StringIO(), io.StringIO(), io.StringIO()
        write(StreamReport("t", PAGEMAP_COLUMNS, PAGEMAP_WIDTHS, rows), generic)
        write(StreamReport("t", PAGEMAP_COLUMNS, PAGEMAP_WIDTHS, items,
                           table_line=pagemap_table_line, json_line=pagemap_json_line),
              fast)
        # and a batch at a time: stretches of like entries made as one text
        write(StreamReport("t", PAGEMAP_COLUMNS, PAGEMAP_WIDTHS, items,
                           table_text=pagemap_table_text, json_text=pagemap_json_text),
              batch)
        assert fast.getvalue() == generic.getvalue(), write.__name__
        assert batch.getvalue() == generic.getvalue(), write.__name__
    count("pagemap entries: fast table/JSON lines == generic", len(items))


def test_numa_maps(lab, prog):
    for role, pid in lab.pids.items():
        text = lab.truth_text(pid, "numa_maps")
        same(text, show_numa_maps(find_task(prog, pid)), f"{role} numa_maps")
        count("numa_maps lines identical", len(text.splitlines()))


def test_status_memory_lines(lab, prog):
    for role, pid in lab.pids.items():
        truth = "".join(line + "\n" for line in lab.truth_text(pid, "status").splitlines()
                        if line.split(":")[0] in STATUS_MEM)
        same(truth, show_status_mem(find_task(prog, pid)), f"{role} status")
        count("status memory lines identical", len(STATUS_MEM))


def test_status_walk_agrees_with_counters(lab, prog):
    """The walk's RSS, swap and page-table pages equal the kernel's counters
    (on 6.1 plus what each thread has not folded in yet: SPLIT_RSS_COUNTING)."""
    for role, pid in lab.pids.items():
        fields = status_fields(find_task(prog, pid))
        for name in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmSwap", "VmPTE"):
            f = fields[name]
            assert f["agree"], (role, name, f)
        if lab.kernel_release.startswith("6.12"):
            assert all(f["pending"] is None for f in fields.values())
        count("status fields recomputed from the walk", 6)
