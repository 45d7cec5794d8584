"""Live lab guests: a lab configuration booted and left running, with its
gdbstub and QMP sockets, the workload in place and the guest's ground truth
captured (the same capture as a dump lab's, just before it went idle).

    python -m vmcores.live start 6.1-4level   # boots, prints where things are
    python -m vmcores.live stop 6.1-4level
    python -m vmcores.live status

A live guest lives in $DRGN_PAGEWALK_CACHE/live/NAME: ``live.json`` (QEMU's
PID, the gdbstub port, the sockets, the vmlinux, the workload's PIDs),
``truth/`` (as in a dump lab), ``qmp.sock`` for the lab's own control and
``qmp-tool.sock`` for the tools (drgn's ``set_qemu_qmp``), each QMP socket
taking one client at a time.  The guest keeps running until ``stop``.

x86-64 and arm64 alike: the ground truth comes as a dump lab's does (the
second 16550, ttyS1, on x86-64; the console between marker lines on arm64,
whose ``virt`` machine has one PL011), and the churn process waits on a
serial port of its own, ``churn.sock`` on the host: the third 16550 on
x86-64, a PCI one (QEMU's ``pci-serial``, the kernel's built-in 8250_pci)
on arm64.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from . import overlay
from .build import (
    ARCHES,
    LabError,
    Qmp,
    boot_guest,
    build_initramfs,
    cache_dir,
    console_truth,
    ensure_kernel,
    lab_arch,
    manifest,
    parse_frames,
    qemu_command,
    qemu_views,
    recipe_hash,
    write_truth,
)


def live_recipe(name: str) -> str:
    """Lab ``name``'s recipe plus what only live guests have."""
    import hashlib

    h = hashlib.sha256(recipe_hash(name).encode())
    for name in ("churn.c", "live.py", "overlay.py"):
        h.update(Path(__file__).with_name(name).read_bytes())
    return h.hexdigest()[:16]


def live_dir(name: str) -> Path:
    return cache_dir() / "live" / name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie is not a running guest
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def read_meta(name: str) -> Optional[Dict[str, Any]]:
    """live.json of a running guest, or None."""
    try:
        meta = json.loads((live_dir(name) / "live.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if _alive(meta["qemu_pid"]) else None


def start(name: str) -> Dict[str, Any]:
    """Boot lab configuration ``name`` and leave it running; its live.json."""
    labs = manifest()["labs"]
    if name not in labs:
        raise LabError(f"unknown lab {name} (known: {', '.join(labs)})")
    meta = read_meta(name)
    if meta is not None and meta.get("recipe") == live_recipe(name):
        return meta
    stop(name)
    spec = labs[name]
    arch = lab_arch(spec)
    kernel = ensure_kernel(spec["kernel"])
    work = live_dir(name)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    initrd = work / "initrd.gz"
    build_initramfs(kernel["modules"], initrd, arch=arch)
    churn_sock = work / "churn.sock"
    if ARCHES[arch]["truth"] == "console":
        # one UART, the console: the churn's port is a PCI 16550, the
        # first 8250 port
        churn_port = ["-chardev", f"socket,id=churn,path={churn_sock},server=on,wait=off",
                      "-device", "pci-serial,chardev=churn"]
        _add_churn(initrd, work, arch, "ttyS0")
    else:  # the third 16550
        churn_port = ["-serial", f"unix:{churn_sock},server=on,wait=off"]
        _add_churn(initrd, work, arch, "ttyS2")
    port = free_port()
    cmd = qemu_command(spec, kernel, initrd, work) + [
        "-qmp", f"unix:{work / 'qmp-tool.sock'},server=on,wait=off",
        *churn_port, "-gdb", f"tcp:127.0.0.1:{port}"]
    qemu, boot_secs = boot_guest(name, cmd, work)
    try:
        qmp = Qmp(work / "qmp.sock")
        # The ground truth was captured by the guest just before READY;
        # QEMU's views are taken with the guest stopped, then it runs on.
        qmp.cmd("stop")
        if ARCHES[arch]["truth"] == "console":
            files = parse_frames(console_truth(work / "console.txt"))
        else:
            files = parse_frames((work / "serial1.bin").read_bytes())
        files.update(qemu_views(qmp, arch))
        qmp.cmd("cont")
        qmp.close()
        layout = write_truth(files, work / "truth")
    except BaseException:
        qemu.kill()
        qemu.wait()
        raise
    k = manifest()["kernels"][spec["kernel"]]
    meta = {
        "name": name, "arch": arch, "recipe": live_recipe(name),
        "kernel_release": k["release"],
        "levels": spec["levels"], "cpu": spec["cpu"], "qemu_pid": qemu.pid,
        "gdb_port": port, "qmp_control": str(work / "qmp.sock"),
        "qmp_tool": str(work / "qmp-tool.sock"), "vmlinux": str(kernel["vmlinux"]),
        "pids": layout["pids"], "vmas": layout["vmas"],
        "hugetlb_1g": layout["hugetlb_1g"], "boot_seconds": round(boot_secs, 1),
        "page_size": layout.get("page_size", 4096),
    }
    (work / "live.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _add_churn(initrd: Path, work: Path, arch: str, tty: str) -> None:
    """Append /churn (built for ``arch``, waiting on /dev/``tty``) and an
    /init that starts it to the lab's initramfs (vmcores/overlay.py)."""
    import subprocess
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="lab-live-"))
    try:
        subprocess.run([ARCHES[arch]["gcc"], "-static", "-O2", f'-DCHURN_TTY="/dev/{tty}"',
                        "-o", str(root / "churn"),
                        str(Path(__file__).with_name("churn.c"))], check=True,
                       capture_output=True)
        overlay.add_lab_init(root, overlay.init_wrapper(
            "/churn", "Live guests: the churn process", tty=tty))
        overlay.append_tree(initrd, root)
    except subprocess.CalledProcessError as e:
        raise LabError(f"live initramfs: {e.stderr.decode(errors='replace').strip()}") \
            from None
    finally:
        shutil.rmtree(root, ignore_errors=True)


def churn(name: str) -> None:
    """Start the live guest's churn process (it faults pages in and out
    until the guest stops)."""
    path = live_dir(name) / "churn.sock"
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(str(path))
    s.sendall(b"g\n")  # the tty is in canonical mode: a line
    s.close()


def stop(name: str) -> bool:
    """Stop the live guest ``name``; True if one was running."""
    try:
        meta = json.loads((live_dir(name) / "live.json").read_text())
    except (OSError, ValueError):
        return False
    pid = meta["qemu_pid"]
    if not _alive(pid):
        return False
    try:
        Qmp(Path(meta["qmp_control"])).cmd("quit")
    except (OSError, LabError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if not _alive(pid):
            break
        time.sleep(0.1)
    return True


def resume(name: str) -> None:
    """Let a live guest run again (after a tool or gdb left it stopped)."""
    meta = read_meta(name)
    if meta is None:
        raise LabError(f"live guest {name} is not running")
    qmp = Qmp(Path(meta["qmp_control"]))
    qmp.cmd("cont")
    qmp.close()


def dump(name: str, path: Path) -> None:
    """Pause the live guest, write an ELF dump of it to ``path`` (QMP
    dump-guest-memory, as the dump labs do) and let it run again."""
    meta = read_meta(name)
    if meta is None:
        raise LabError(f"live guest {name} is not running")
    qmp = Qmp(Path(meta["qmp_control"]))
    try:
        running = qmp.cmd("query-status").get("running")
        if running:
            qmp.cmd("stop")
        try:
            qmp.cmd("dump-guest-memory", paging=False, protocol=f"file:{path}")
        finally:
            if running:
                qmp.cmd("cont")
    finally:
        qmp.close()


def is_running(name: str) -> bool:
    """True if the live guest's CPUs run (not stopped by QMP or gdb)."""
    meta = read_meta(name)
    if meta is None:
        return False
    qmp = Qmp(Path(meta["qmp_control"]))
    status = qmp.cmd("query-status")
    qmp.close()
    return bool(status.get("running"))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vmcores.live",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("start", help="boot a lab guest and leave it running")
    p.add_argument("name", nargs="?", default="6.1-4level")
    p = sub.add_parser("stop", help="stop a live guest")
    p.add_argument("name", nargs="?", default="6.1-4level")
    sub.add_parser("status", help="list the live guests")
    args = parser.parse_args(argv)
    try:
        if args.action == "start":
            meta = start(args.name)
            print(f"live guest {args.name}: running (QEMU PID {meta['qemu_pid']})")
            print(f"  gdb:      gdb {meta['vmlinux']} -ex 'target remote 127.0.0.1:{meta['gdb_port']}'")
            print(f"  drgn:     drgn-pagewalk --qmp {meta['qmp_tool']} -s {meta['vmlinux']} ps")
            print(f"  PIDs:     {meta['pids']}")
            print(f"  truth:    {live_dir(args.name) / 'truth'}")
        elif args.action == "stop":
            print(f"live guest {args.name}: "
                  f"{'stopped' if stop(args.name) else 'was not running'}")
        else:
            for d in sorted((cache_dir() / "live").glob("*")):
                meta = read_meta(d.name)
                state = f"running, gdb port {meta['gdb_port']}" if meta else "not running"
                print(f"{d.name}: {state}")
    except LabError as e:
        print(f"vmcores.live: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
