"""The large lab, for benchmarks only (bench/run builds it on demand; the
test suite never does).

    .venv/bin/python -m vmcores.large [--force]
    from vmcores.large import ensure_large_lab; lab = ensure_large_lab()

``$DRGN_PAGEWALK_CACHE/labs/large-6.1-4level`` (default ~/.cache/drgn-pagewalk),
laid out like the other labs (vmcores/build.py): ``vmcore``, ``truth/PID/FILE``,
``console.txt`` and ``lab.json`` written last, so ``vmcores.lab.Lab`` reads it.

The guest: the manifest's "6.1" kernel (Debian 6.1.0-56-cloud-amd64),
``-cpu max,la57=off`` (4-level paging), 10 GiB of RAM (``-machine
q35,max-ram-below-4g=1G``, the manifest's kernel command line with
``hugepagesz=1G hugepages=1``), one CPU, QEMU TCG.  Its workload (``workload
large``, vmcores/workload.c) is a process (role "bigload") and a forked
child of about 6 GiB RSS each (Rss; 7 GiB with the hugetlb page, which
/proc counts apart): 3 GiB of 4 KiB anonymous pages, 2 GiB of anonymous
THP, a 1 GiB tmpfs file mapped shared by both, a 1 GiB hugetlb page and a
1 TiB MAP_NORESERVE reservation touched every 64 MiB (16384 PTE tables for
16384 pages); a second child, "dense", keeps all of it but the reservation
and the hugetlb page (mapped page by page: bench/run's dense process).  The
layout is frozen as vmcores/init.sh freezes it (khugepaged asleep, no
proactive compaction), then ``capture --skip-pagemap-over 16G
--smaps-time`` (vmcores/capture.c: no pagemap of the vmas over 16 GiB,
which ``PID/pagemap_skipped`` names, plus ``PID/smaps_time``: the guest
kernel's own time to produce /proc/PID/smaps, measured in the guest under
TCG) sends the ground truth over ttyS1.

The dump: QMP ``dump-guest-memory`` with ``paging: false``: an ELF core
file (one PT_LOAD per RAM block, the VMCOREINFO note) of 10.0 GiB apparent
size (10754331171 bytes), stored sparse with ``fallocate --dig-holes``: the
4 KiB, tmpfs and hugetlb pages hold zeros and each THP one non-zero byte,
so on disk it is the kernel, the page tables, the ``struct page`` array
and the THPs' first blocks: 422 MiB on the first build (lab.json has
``vmcore_bytes`` and ``vmcore_disk_bytes`` of each build).  Copy it with
``cp --sparse=always``, or it takes 10 GiB.

A build took 76 s here under TCG (boot, populating and capture to READY
45 s, dump 25 s, digging holes).  The recipe (lab.json "recipe") hashes
workload.c, capture.c (the standard labs' programs, run here with the
options above), the init script and the QEMU parameters below, and the
kernel version.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from . import build
from .build import (
    LabError,
    Qmp,
    _dig_holes,
    boot_guest,
    cache_dir,
    ensure_kernel,
    manifest,
    work_dir,
    parse_frames,
    write_truth,
)

HERE = Path(__file__).resolve().parent
NAME = "large-6.1-4level"
KERNEL = "6.1"
CPU = "max,la57=off"
LEVELS = 4
MEMORY_MB = 10240
MACHINE = "q35,max-ram-below-4g=1G"
SOURCES = ("workload.c", "capture.c")
BOOT_TIMEOUT = 1800  # seconds from QEMU start to LAB-READY (TCG, 6 GiB populated)

INIT = """#!/bin/sh
# /init of the large lab guest (busybox): the workload, a frozen layout,
# then the capturer in the foreground (it pauses; the host dumps the guest).
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t tmpfs -o size=3g tmpfs /tmp
for m in $(cat /modules/order); do
    insmod /modules/$m.ko || echo "LAB-ERROR insmod $m"
done
echo always > /sys/kernel/mm/transparent_hugepage/enabled
/workload large &
n=0
while [ ! -f /tmp/ready ]; do
    sleep 0.5
    n=$((n + 1))
    [ $n -gt 3000 ] && echo "LAB-ERROR workload large never got ready" && break
done
echo 3600000 > /sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs
echo 3600000 > /sys/kernel/mm/transparent_hugepage/khugepaged/alloc_sleep_millisecs
echo 0 > /proc/sys/vm/compaction_proactiveness 2>/dev/null
dmesg > /tmp/dmesg
grep -E ' (_text|_stext|_end|init_top_pgt|page_offset_base|vmemmap_base)$' /proc/kallsyms > /tmp/kallsyms
/capture --skip-pagemap-over 16G --smaps-time
echo "LAB-ERROR capture exited"
"""


def lab_path() -> Path:
    return cache_dir() / "labs" / NAME


def guest_cmdline() -> str:
    return manifest()["guest"]["x86_64"]["cmdline"]


def recipe_hash() -> str:
    """The recipe: the guest sources, init, QEMU parameters, kernel version."""
    h = hashlib.sha256()
    for name in SOURCES:
        h.update((HERE / name).read_bytes())
    h.update(INIT.encode())
    k = manifest()["kernels"][KERNEL]
    h.update(json.dumps([CPU, MEMORY_MB, MACHINE, guest_cmdline(), k["version"]]).encode())
    return h.hexdigest()[:16]


def build_initramfs(modules: Path, out: Path) -> None:
    """busybox, workload, capture and qemu_fw_cfg (for -device vmcoreinfo)
    with this lab's /init: build.build_initramfs()."""
    order = (modules / "order").read_text().split()
    build.build_initramfs(modules, out, programs=("workload", "capture"), init=INIT,
                          module_names=order[: order.index("qemu_fw_cfg") + 1])


def qemu_command(kernel: Dict[str, Path], initrd: Path, work: Path) -> List[str]:
    return ["qemu-system-x86_64", "-machine", MACHINE, "-cpu", CPU,
            "-m", str(MEMORY_MB), "-smp", "1", "-nographic", "-no-reboot",
            "-kernel", str(kernel["vmlinuz"]), "-initrd", str(initrd),
            "-append", guest_cmdline(), "-device", "vmcoreinfo",
            "-serial", f"file:{work / 'console.txt'}",
            "-serial", f"file:{work / 'serial1.bin'}",
            "-monitor", "none", "-qmp", f"unix:{work / 'qmp.sock'},server=on,wait=off"]


def _kb(text: str, field: str) -> int:
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _check(files: Dict[str, bytes], pids: Dict[str, int]) -> Dict[str, Any]:
    """What the guest says it built; a lab short of its 6 GiB is an error."""
    rollup = files[f"{pids['bigload']}/smaps_rollup"].decode()
    got = {f: _kb(rollup, f) for f in ("Rss", "AnonHugePages", "Private_Hugetlb",
                                       "Shared_Hugetlb", "Anonymous")}
    if got["Rss"] < 6 << 20 or got["AnonHugePages"] < 2 << 20:
        raise LabError(f"{NAME}: bigload is short of its layout: {got} (kB)")
    return got


def build_large(force: bool = False) -> Path:
    """Build the large lab unless lab.json names the current recipe."""
    final = lab_path()
    recipe = recipe_hash()
    if not force and _current(final, recipe):
        return final
    t0 = time.time()
    kernel = ensure_kernel(KERNEL)
    labs = final.parent
    work = work_dir(labs, f".{NAME}-")
    try:
        initrd = work / "initrd.gz"
        build_initramfs(kernel["modules"], initrd)
        saved, build.BOOT_TIMEOUT = build.BOOT_TIMEOUT, BOOT_TIMEOUT
        try:
            qemu, boot_secs = boot_guest(NAME, qemu_command(kernel, initrd, work), work)
        finally:
            build.BOOT_TIMEOUT = saved
        try:
            qmp = Qmp(work / "qmp.sock")
            qmp.cmd("stop")
            files = parse_frames((work / "serial1.bin").read_bytes())
            vmcore = work / "vmcore"
            t1 = time.time()
            qmp.cmd("dump-guest-memory", paging=False, protocol=f"file:{vmcore}")
            dump_secs = time.time() - t1
            qmp.cmd("quit")
            qemu.wait(60)
        finally:
            if qemu.poll() is None:
                qemu.kill()
                qemu.wait()
        if vmcore.stat().st_size < MEMORY_MB << 20:
            raise LabError(f"{NAME}: dump incomplete ({vmcore.stat().st_size} bytes)")
        _dig_holes(vmcore)
        initrd.unlink()
        layout = write_truth(files, work / "truth")
        got = _check(files, layout["pids"])
        for junk in ("qmp.sock", "serial1.bin"):
            (work / junk).unlink(missing_ok=True)
        k = manifest()["kernels"][KERNEL]
        st = vmcore.stat()
        meta = {
            "name": NAME, "recipe": recipe, "kernel_release": k["release"],
            "packages": {k["image"]: k["version"], k["dbg"]: k["version"]},
            "levels": LEVELS, "cpu": CPU, "guest_memory_mb": MEMORY_MB,
            "dump_format": "elf", "vmlinux": str(kernel["vmlinux"]),
            "pids": layout["pids"], "vmas": layout["vmas"],
            "hugetlb_1g": layout["hugetlb_1g"], "tmpfs_file": "/tmp/big-shmem",
            "bigload_kb": got, "boot_seconds": round(boot_secs, 1),
            "dump_seconds": round(dump_secs, 1),
            "build_seconds": round(time.time() - t0, 1),
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "vmcore": str(final / "vmcore"), "vmcore_bytes": st.st_size,
            "vmcore_disk_bytes": st.st_blocks * 512,
        }
        if final.exists():
            shutil.rmtree(final)
        work.rename(final)
        # lab.json last: its presence marks a complete lab
        (final / "lab.json").write_text(json.dumps(meta, indent=2) + "\n")
        print(f"lab {NAME}: built in {time.time() - t0:.0f} s (boot to READY "
              f"{boot_secs:.0f} s, dump {dump_secs:.0f} s, "
              f"{st.st_blocks * 512 / 2**20:.0f} MiB on disk)", file=sys.stderr)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return final


def _current(path: Path, recipe: str) -> bool:
    try:
        meta = json.loads((path / "lab.json").read_text())
    except (OSError, ValueError):
        return False
    return meta.get("recipe") == recipe and (path / "vmcore").exists()


def ensure_large_lab(force: bool = False) -> Any:
    """The large lab as a vmcores.lab.Lab, built first if needed."""
    from .lab import Lab

    return Lab(build_large(force))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vmcores.large",
                                     description="build the large benchmark lab")
    parser.add_argument("--force", action="store_true", help="rebuild even if current")
    args = parser.parse_args(argv)
    try:
        path = build_large(args.force)
    except LabError as e:
        print(f"vmcores.large: error: {e}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
