"""The lab itself is right: each dump opens with its vmlinux, shows the
workload the guest ran, and agrees with the guest's own /proc output as drgn
alone reads it.  Everything else is proven against these labs."""

from __future__ import annotations

from bisect import bisect_right
from typing import Dict

from drgn import FaultError
from drgn.helpers.linux.fs import d_path
from drgn.helpers.linux.mm import follow_phys, for_each_vma
from drgn.helpers.linux.pid import find_task

from vmcores.build import manifest

from .counts import count
from .labcache import kernel_vmcoreinfo_number

PM_PRESENT = 1 << 63
PM_SWAP = 1 << 62
PM_SOFT_DIRTY = 1 << 55
PM_MMAP_EXCLUSIVE = 1 << 56
PM_PFN = (1 << 55) - 1
# [vvar_vclock]: the vDSO clock pages apart from [vvar] (6.13+)
SPECIAL_NAMES = {"", "[heap]", "[stack]", "[vdso]", "[vvar]", "[vvar_vclock]"}


def has_thp(lab) -> bool:
    """The lab's kernel has CONFIG_TRANSPARENT_HUGEPAGE: its meminfo has an
    AnonHugePages line (Debian's rt flavour has none)."""
    return "AnonHugePages:" in lab.truth_global("meminfo")


def _perms(flags: int) -> str:
    return "".join(("r" if flags & 1 else "-", "w" if flags & 2 else "-",
                    "x" if flags & 4 else "-", "s" if flags & 0x80 else "p"))


class SmapsByVma(dict):
    """vma start -> {field: value}; indexing with any address inside a vma
    finds it (the kernel merges adjacent anonymous regions into one vma)."""

    def __missing__(self, addr: int) -> Dict[str, str]:
        for block in self.values():
            if block["start"] <= addr < block["end"]:
                return block
        raise KeyError(hex(addr))


def smaps_by_vma(text: str) -> Dict[int, Dict[str, str]]:
    """vma start -> {field: value} of a /proc/PID/smaps text."""
    out = SmapsByVma()
    cur: Dict[str, str] = {}
    for line in text.splitlines():
        head = line.split(" ", 1)[0]
        if "-" in head and all(c in "0123456789abcdef-" for c in head):
            start, end = (int(x, 16) for x in head.split("-"))
            cur = {"header": line, "start": start, "end": end}  # type: ignore[dict-item]
            out[start] = cur
        else:
            key, _, value = line.partition(":")
            cur[key] = value.strip()
    return out


def test_dump_opens_with_its_kernel(lab, prog):
    kernels = manifest()["kernels"]
    release = prog["UTS_RELEASE"].string_().decode()
    assert release == lab.kernel_release
    assert release in {k["release"] for k in kernels.values()}
    assert prog["init_uts_ns"].name.release.string_().decode() == release
    # the page size the workload saw is the kernel's
    assert int(prog["PAGE_SIZE"]) == lab.page_size
    if lab.arch == "arm64":
        # 64 - TCR_EL1.T1SZ VA bits in use, resolved PAGE_SHIFT - 3 bits a
        # level (ARM64_HW_PGTABLE_LEVELS()): 52 bits need 5 levels of 4 KiB
        # pages, 48 four; 52 bits need 4 levels of 16 KiB pages, 47 three
        va_bits = 64 - kernel_vmcoreinfo_number(prog, "TCR_EL1_T1SZ")
        shift = int(prog["PAGE_SHIFT"])
        assert (va_bits - 4) // (shift - 3) == lab.levels
    else:
        try:
            l5 = int(prog["__pgtable_l5_enabled"])
        except LookupError:  # built without CONFIG_X86_5LEVEL (Debian's 5.10)
            l5 = 0
        assert (5 if l5 else 4) == lab.levels


def test_workload_pids_have_an_mm(lab, prog):
    assert set(lab.pids) == {"init", "workload", "child"}
    for role, pid in lab.pids.items():
        task = find_task(prog, pid)
        assert task, f"{role} PID {pid} missing"
        assert task.mm, f"{role} PID {pid} has no mm"
    comm = find_task(prog, lab.pids["workload"]).comm.string_()
    assert comm == b"workload"


def test_vmas_equal_proc_maps(lab, prog):
    shift = lab.page_size.bit_length() - 1
    for role, pid in lab.pids.items():
        task = find_task(prog, pid)
        truth = [m for m in lab.maps(pid) if m.name != "[vsyscall]"]
        vmas = list(for_each_vma(task.mm))
        assert len(vmas) == len(truth), role
        for vma, m in zip(vmas, truth):
            assert vma.vm_start.value_() == m.start
            assert vma.vm_end.value_() == m.end
            assert _perms(vma.vm_flags.value_()) == m.perms
            if vma.vm_file:
                # show_map_vma() prints the offset of file mappings only
                assert vma.vm_pgoff.value_() << shift == m.offset
                path = d_path(vma.vm_file.f_path).decode()
                if path.startswith("["):
                    # drgn names files of internal mounts (hugetlbfs, shmem)
                    # by their fs; the kernel's d_path() gives "/" + name
                    path = "/" + vma.vm_file.f_path.dentry.d_name.name.string_().decode()
                # the kernel's d_path() appends " (deleted)" to unlinked files
                assert m.name in (path, path + " (deleted)"), (m, path)
                assert vma.vm_file.f_inode.i_ino.value_() == m.inode
            else:
                assert m.offset == 0
                assert m.name in SPECIAL_NAMES, m
        count("vmas compared with /proc/PID/maps", len(vmas))


def test_follow_phys_equals_pagemap(lab, prog):
    """drgn's follow_phys gives pagemap's PFN for every present page, except
    on PROT_NONE pages: their hardware entry is not present (and its PFN bits
    inverted, L1TF), so drgn faults there; the walker decodes them."""
    shift = lab.page_size.bit_length() - 1
    for role, pid in lab.pids.items():
        mm = find_task(prog, pid).mm
        prot_none = [(m.start, m.end) for m in lab.maps(pid) if m.perms.startswith("---")]
        present = swapped = protnone = 0
        for addr, entry in lab.pagemap(pid).items():
            if entry & PM_PRESENT:
                if any(s <= addr < e for s, e in prot_none):
                    try:
                        follow_phys(mm, addr)
                    except FaultError:
                        protnone += 1
                        continue
                assert follow_phys(mm, addr).value_() >> shift == entry & PM_PFN, \
                    f"{role} {addr:#x}"
                present += 1
            elif entry & PM_SWAP:
                try:
                    follow_phys(mm, addr)
                except FaultError:
                    swapped += 1
                else:
                    raise AssertionError(f"{role} {addr:#x}: swapped page followed")
        count("pages compared: follow_phys vs pagemap", present)
        count("swap entries checked unfollowable", swapped)
        if role == "workload":
            assert protnone == 4  # the four PROT_NONE pages of "holes"


def test_layout_is_really_there(lab):
    vmas = lab.meta["vmas"]
    pid = lab.pids["workload"]
    child = lab.pids["child"]
    smaps = smaps_by_vma(lab.truth_text(pid, "smaps"))
    # the workload's regions are made of base pages (4 or 16 KiB) and PMDs
    # (a page of page/8 entries: 2 or 32 MiB); sizes below are in those
    page = lab.page_size
    kb, pmd_kb = page // 1024, page * page // 8 // 1024
    assert smaps[vmas["anon_partial"]["start"]]["KernelPageSize"] == f"{kb} kB"
    # without THP (the rt flavour) the THP regions are base pages
    thp = has_thp(lab)
    anon_huge = int(smaps[vmas["thp"]["start"]]["AnonHugePages"].split()[0])
    assert anon_huge >= 2 * pmd_kb if thp else anon_huge == 0
    h2m = smaps[vmas["hugetlb_2m"]["start"]]
    # two pages touched; after fork the child maps them too (Shared_Hugetlb)
    assert (int(h2m["Private_Hugetlb"].split()[0])
            + int(h2m["Shared_Hugetlb"].split()[0])) == 4096
    assert h2m["KernelPageSize"] == "2048 kB"
    if lab.arch == "arm64":
        # arm64's other hugetlb sizes: 64 KiB (contiguous PTEs of 4 KiB
        # pages; no such size with 16 KiB pages) and 32 MiB (contiguous
        # PMDs of 4 KiB pages, a PMD of 16 KiB ones), both pages touched
        assert ("hugetlb_64k" in vmas) == (page == 4096)
        if page == 4096:
            h64k = smaps[vmas["hugetlb_64k"]["start"]]
            assert h64k["KernelPageSize"] == "64 kB"
            assert int(h64k["Private_Hugetlb"].split()[0]) \
                + int(h64k["Shared_Hugetlb"].split()[0]) == 6 * 64
        h32m = smaps[vmas["hugetlb_32m"]["start"]]
        assert h32m["KernelPageSize"] == "32768 kB"
        assert int(h32m["Private_Hugetlb"].split()[0]) \
            + int(h32m["Shared_Hugetlb"].split()[0]) == 2 * 32768
    assert lab.meta["hugetlb_1g"], "the 1 GiB hugetlb page was not allocated"
    h1g = smaps[vmas["hugetlb_1g"]["start"]]
    assert h1g["KernelPageSize"] == "1048576 kB"
    # fork() does not copy the page tables of a shared mapping (hugetlb
    # ones too since 6.0), so only the workload maps the 1 GiB page: it is
    # "private" to it; before 6.0 (5.10) fork copied them and the child
    # maps it too: "shared"
    child_h1g = smaps_by_vma(lab.truth_text(child, "smaps")).get(vmas["hugetlb_1g"]["start"])
    copied = child_h1g is not None and "0 kB" != child_h1g["Shared_Hugetlb"]
    assert h1g["Shared_Hugetlb" if copied else "Private_Hugetlb"] == "1048576 kB"
    assert copied == (tuple(int(x) for x in lab.kernel_release.split(".")[:2]) < (6, 0))
    assert int(smaps[vmas["swapped"]["start"]]["Swap"].split()[0]) == 32 * kb
    locked = smaps[vmas["mlock"]["start"]]
    # Locked is the vma's Pss: the child shares these pages after fork
    assert locked["Rss"] == f"{8 * kb} kB" and locked["Locked"] == locked["Pss"] == f"{4 * kb} kB"

    pm = lab.pagemap(pid)
    cpm = lab.pagemap(child)
    swap = [a for a, e in pm.items() if e & PM_SWAP]
    assert len(swap) == 32 and [a for a, e in cpm.items() if e & PM_SWAP]
    sd = vmas["softdirty"]
    bits = [bool(pm[a] & PM_SOFT_DIRTY) for a in range(sd["start"], sd["end"], page)]
    # arm64 has no soft-dirty bit (no CONFIG_HAVE_ARCH_SOFT_DIRTY)
    assert bits == ([False] * 16 if lab.arch == "arm64" else [True] * 8 + [False] * 8)
    cow = vmas["cow"]
    excl = [bool(cpm[a] & PM_MMAP_EXCLUSIVE) for a in range(cow["start"], cow["end"], page)]
    assert excl == [True, False] * 16  # even pages broken by the child
    # a page of each THP shared by fork copied by the child: mapped once
    # in the parent (on 6.12 that page's entry is exclusive, on 6.1 and 7.x
    # all 512 of the THP whose first page it is), the others twice
    tc = vmas["thp_cow"]
    excl = [bool(pm[a] & PM_MMAP_EXCLUSIVE) for a in range(tc["start"], tc["end"], page)]
    assert any(excl) and not all(excl)
    if thp:
        assert int(smaps[tc["start"]]["AnonHugePages"].split()[0]) == 2 * pmd_kb
    holes = vmas["holes"]
    present = [bool(pm[a] & PM_PRESENT) for a in range(holes["start"], holes["end"], page)]
    assert present == [True] * 10 + [False] * 2 + [True] * 4
    assert all(pm[a] == 0 for a in range(vmas["pfnmap"]["start"], vmas["pfnmap"]["end"], page))
    # pagemap has one entry per base page of every vma: a PMD-mapped THP is
    # page/8 entries of consecutive PFNs
    if thp:
        t = vmas["thp"]["start"]
        pfns = [pm[t + i * page] & PM_PFN for i in range(page // 8)]
        assert all(pm[t + i * page] & PM_PRESENT for i in range(page // 8))
        assert pfns == list(range(pfns[0], pfns[0] + page // 8))
    for role in ("workload", "child"):
        maps = [m for m in lab.maps(lab.pids[role]) if m.name != "[vsyscall]"]
        assert len(lab.pagemap(lab.pids[role])) == sum((m.end - m.start) // page for m in maps)


#: What the NUMA labs' workload asks for (vmcores/workload.c), as the
#: kernel's numa_maps prints it: {vma: policy}
NUMA_POLICIES = {
    "workload": {"numa_interleave": "interleave:0-1", "numa_bind": "bind:1",
                 "numa_prefer_static": "prefer=static:1",
                 "numa_prefer_many": "prefer (many)=relative:0-1",
                 "numa_weighted": "weighted interleave:0-1", "numa_local": "local",
                 "numa_default": "bind=balancing:0-1", "numa_thp": "bind:1",
                 "numa_shm": "bind:1", "numa_memfd": "prefer:1",
                 "anon_partial": "bind=balancing:0-1"},
    # the shared policies of the file and the memfd, seen from the child's
    # own mappings of them (shmem_get_policy()), and its own task policy
    "child": {"numa_shm_child": "bind:1", "numa_shm_child_8": "interleave:0-1",
              "numa_memfd_child": "prefer:1", "cow": "interleave:0-1"},
}


def test_machine_shape_is_really_there(lab, prog):
    """The lab's machine is what lab.json says: its CPUs and NUMA nodes as
    the guest saw them, a threaded workload, and on several nodes pages on
    every node and each memory policy the workload set (in the guest's own
    numa_maps); on SMP, the workload's threads are pinned to several CPUs
    and, with per-CPU rss counters (6.2 on), its counters hold per-CPU
    deltas.  (Several CPUs with deltas is not sure: a remainder is folded
    to 0 whenever an add reaches the batch, as a zap of 32 pages or more,
    or KSM's merges on ksmd's CPU, do at times that vary from boot to
    boot.)"""
    from drgn.helpers.linux.cpumask import for_each_online_cpu
    from drgn.helpers.linux.percpu import per_cpu_ptr
    from drgn.helpers.linux.pid import for_each_task

    smp, nodes = lab.meta.get("smp", 1), lab.meta.get("numa_nodes", 1)
    assert len(list(for_each_online_cpu(prog))) == smp
    pid = lab.pids["workload"]
    task = find_task(prog, pid)
    threads = [t for t in for_each_task(prog) if t.tgid.value_() == pid]
    assert len(threads) == 4, "the workload has 3 threads besides its main one"
    # one row per process (thread group), one report per process with --all
    import io
    import json

    from drgn_pagewalk.commands.run import run_argv

    for argv, key in ((["ps"], None), (["smaps-rollup", "--all"], "pid")):
        out = io.StringIO()
        assert run_argv(prog, ["--format", "json"] + argv, out) == 0
        results = json.loads(out.getvalue())["results"]
        pids = [r["pid"] for r in (results[0]["processes"] if key is None else results)]
        assert len(pids) == len(set(pids)) and pids.count(pid) == 1, argv
        assert not {t.pid.value_() for t in threads if t.pid.value_() != pid} & set(pids)
    if smp > 1:
        from drgn.helpers.linux.cpumask import cpumask_to_cpulist

        pinned = {cpumask_to_cpulist(t.cpus_ptr[0]) for t in threads}
        assert len(pinned) >= 2, pinned
    if smp > 1 and hasattr(task.mm.rss_stat[0], "counters"):
        cpus = {cpu for i in range(len(task.mm.rss_stat)) for cpu in for_each_online_cpu(prog)
                if per_cpu_ptr(task.mm.rss_stat[i].counters, cpu)[0].value_()}
        assert cpus, "no per-CPU rss deltas"
    if nodes == 1:
        return
    for role, policies in NUMA_POLICIES.items():
        pid = lab.pids[role]
        lines = {int(l.split()[0], 16): l for l in lab.truth_text(pid, "numa_maps").splitlines()}
        starts = sorted(lines)
        for vma, policy in policies.items():
            # the line of the vma holding the region (the kernel merges a
            # region with a neighbour of the same policy and flags)
            addr = lab.meta["vmas"][vma]["start"]
            line = lines[starts[bisect_right(starts, addr) - 1]]
            assert line.split()[1:2 + policy.count(" ")] == policy.split(), (vma, line)
        text = lab.truth_text(pid, "numa_maps")
        assert all(f" N{n}=" in text for n in range(nodes)), "pages on every node"
        count("NUMA policies the guest printed, in the lab", len(policies))
