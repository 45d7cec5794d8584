"""drgn-pagewalk on the running kernel (/proc/kcore), inside a lab guest.

    python -m vmcores.local [6.12-4level] [--force]

The host has no /proc/kcore, so the tool's default target (no ``-c``, no
``--qmp``: ``open_local_kernel()``) is exercised inside a lab guest: the
lab's own initramfs (vmcores/build.py, same workload, same /init), with
two more archives appended (the kernel unpacks them all, later files
replacing earlier ones):

* gzip'd: a Python 3.11 runtime (the host's Debian /usr/bin/python3.11,
  the shared libraries ``ldd`` lists, /usr/lib/python3.11 without test/,
  idlelib/, tkinter/, ensurepip/, config-3.11-*/ and __pycache__), from
  the project's venv drgn, _drgn_util, _drgn*.so, drgn.libs/ (stripped:
  the wheel's copies are 120 MB, mostly padding and symbols, 13 MB
  stripped) and tabulate, the work tree's drgn_pagewalk, the guest-side
  runner (RUNNER below), a tiny static ``nobody`` helper (setuid(65534)
  then exec), and an /init that starts the runner and then runs the
  lab's /init (moved to /lab/init; vmcores/overlay.py).  The venv's Python may be another 3.11
  (pyenv's 3.11.7 here, the host's is 3.11.2): the minor versions are
  checked equal, _drgn's ABI is the same across 3.11.x.  The runtime is
  tried in a chroot on the host first, which also writes the .pyc files
  of the modules the tool imports;
* uncompressed: the debug vmlinux at /usr/lib/debug/boot/vmlinux-REL,
  where the tool looks by default.

Why the vmlinux is in the initramfs (measured on 6.12-4level): Debian's
cloud kernel has no 9p (``# CONFIG_NET_9P is not set``); virtiofs is built
in, but needs virtiofsd on the host and guest RAM on a shared memory
backend, i.e. a different guest from the lab's; a virtio-blk disk needs a
module and its page cache is filled through the emulated device.  In the
initramfs (uncompressed, so the emulated CPU does not inflate it) the
vmlinux costs 2 s of boot (READY at 24.1 s with it, 22.1 s without; the
initramfs is 350 MiB, 26 MB without it) and 325 MiB of guest RAM (ramfs):
the lab leaves about 790 MiB free, the runner starts with 293 MiB free
and drgn maps the vmlinux in place, so a tool run adds only its ~65 MiB
of heap.  No run touched swap (pswpout, recorded before and after, is
unchanged), so the workload stood still.  Boot to results: about 235 s,
of which the 19 tool runs take 210 s (an smaps walk of the 1 GiB
workload about 25 s, a vtop about 6 s, under TCG).

Flow: the guest boots as the lab does and its capturer sends the lab's
ground truth and prints LAB-READY; the host then says "g" on the third
serial port (ttyS2, a unix socket), and the runner (a process of its
own, not the workload's) runs, for the workload and its forked child,
``python3 -m drgn_pagewalk.cli --format proc smaps-rollup|smaps|numa-maps|
status PID`` each between two ``cat /proc/PID/FILE`` (before, after), and
``--format json vtop ADDR PID`` for a few addresses between two reads of
/proc/PID/pagemap at that address.  Then the two error paths only the
local kernel has: as uid 65534 ("needs root") and with the vmlinux
renamed away ("no debug info").  Every command's argv, stdout, stderr,
exit status and seconds come back over ttyS2 (zlib'd JSON, framed with
its length and sha256), and the guest is stopped.

Results go to $DRGN_PAGEWALK_CACHE/local/NAME: ``local.json`` (written
last; recipe, pids, vmas, timings, the steps) and ``steps/NN-LABEL/``
with ``argv``, ``stdout``, ``stderr``, ``status`` and the /proc captures
(``proc.before``, ``proc.after``).  A result whose recipe (the lab's
recipe, this file, the drgn_pagewalk sources, the Python and drgn
versions) is current is reused.  Failures are one line on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import socket
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from . import overlay
from .build import (
    LabError,
    _run,
    Qmp,
    boot_guest,
    build_initramfs,
    cache_dir,
    ensure_kernel,
    manifest,
    qemu_command,
    recipe_hash,
    work_dir,
)

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
VENV_SITE = PROJECT / ".venv" / "lib" / "python3.11" / "site-packages"
SYSTEM_PYTHON = Path("/usr/bin/python3.11")
STDLIB = Path("/usr/lib/python3.11")
STDLIB_SKIP = {"test", "idlelib", "tkinter", "ensurepip", "__pycache__",
               "config-3.11-x86_64-linux-gnu"}
GUEST_SITE = "/opt/pagewalk/site-packages"
RESULT_TIMEOUT = 1800  # seconds from LAB-READY to the runner's @@DONE
DEFAULT = "6.12-4level"

# -- the guest side ------------------------------------------------------------

INIT_WRAPPER = overlay.init_wrapper(
    "/usr/bin/python3 /local/run.py", "drgn-pagewalk on /proc/kcore: the runner",
    env=f"export PATH=/bin:/usr/bin PYTHONPATH={GUEST_SITE}\n")

NOBODY_C = r"""
/* Run a command as uid/gid 65534 (nobody), no supplementary groups. */
#include <grp.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	if (argc < 2)
		return 127;
	if (setgroups(0, NULL) || setgid(65534) || setuid(65534)) {
		perror("nobody");
		return 127;
	}
	execv(argv[1], argv + 1);
	perror(argv[1]);
	return 127;
}
"""

RUNNER = r'''
"""Guest side of vmcores/local.py: drgn-pagewalk on its own kernel, each
report between two reads of the kernel's /proc file."""
import base64, hashlib, json, os, subprocess, sys, time, tty, zlib

SITE = sys.argv[1] if len(sys.argv) > 1 else "/opt/pagewalk/site-packages"
TOOL = ["/usr/bin/python3", "-m", "drgn_pagewalk.cli"]
ENV = {"PATH": "/bin:/usr/bin", "PYTHONPATH": SITE, "HOME": "/"}
REL = os.uname().release
VMLINUX = "/usr/lib/debug/boot/vmlinux-" + REL

port = os.open("/dev/ttyS2", os.O_RDWR | os.O_NOCTTY)
tty.setraw(port)
while os.read(port, 1) != b"g":
    pass


def send(data):
    while data:
        n = os.write(port, data)
        data = data[n:]


send(b"@@GO\n")
T0 = time.time()
b64 = lambda b: base64.b64encode(b).decode()


def run(argv):
    t = time.time()
    p = subprocess.run(argv, capture_output=True, env=ENV, stdin=subprocess.DEVNULL)
    return {"argv": argv, "stdout": b64(p.stdout), "stderr": b64(p.stderr),
            "status": p.returncode, "seconds": round(time.time() - t, 2)}


def cat(path):
    return b64(subprocess.run(["cat", path], capture_output=True, check=True).stdout)


def pagemap(pid, addr):
    with open("/proc/%d/pagemap" % pid, "rb") as f:
        f.seek(addr // 4096 * 8)
        return int.from_bytes(f.read(8), "little")


def vmstat(key):
    for line in open("/proc/vmstat"):
        k, v = line.split()
        if k == key:
            return int(v)


def memfree():
    for line in open("/proc/meminfo"):
        if line.startswith("MemFree:"):
            return int(line.split()[1])


pids, vmas = {}, {}
for line in open("/tmp/layout"):
    f = line.split()
    if f[0] == "pid":
        pids[f[1]] = int(f[2])
    elif f[0] == "vma":
        vmas[f[1]] = {"pid": int(f[2]), "start": int(f[3], 16), "end": int(f[4], 16)}
out = {"release": REL, "pids": pids, "vmas": vmas, "steps": [],
       "pswpout_before": vmstat("pswpout"), "memfree_kb_before": memfree()}
steps = out["steps"]

VTOP = {"workload": [("anon_partial", 0x123), ("thp", 0x3123), ("hugetlb_2m", 0x3123),
                     ("hugetlb_1g", 0x3123), ("shmem_shared", 0x3123), ("swapped", 0x123),
                     ("cow", 0x1123)],
        "child": [("cow", 0x123), ("shmem_private", 0x123)]}
try:
    for role in ("workload", "child"):
        pid = pids[role]
        for cmd, name in (("smaps-rollup", "smaps_rollup"), ("smaps", "smaps"),
                          ("numa-maps", "numa_maps"), ("status", "status")):
            path = "/proc/%d/%s" % (pid, name)
            before = cat(path)
            r = run(TOOL + ["--format", "proc", cmd, str(pid)])
            r.update(label="%s-%s" % (role, cmd), role=role, pid=pid, kind="report",
                     proc_file=name, before=before, after=cat(path))
            steps.append(r)
        for vma, off in VTOP[role]:
            if vma not in vmas:
                continue
            addr = vmas[vma]["start"] + off
            before = pagemap(pid, addr)
            r = run(TOOL + ["--format", "json", "vtop", hex(addr), str(pid)])
            r.update(label="%s-vtop-%s" % (role, vma), role=role, pid=pid, kind="vtop",
                     vma=vma, addr=addr, pagemap_before=before,
                     pagemap_after=pagemap(pid, addr))
            steps.append(r)
    pid = pids["workload"]
    r = run(["/local/nobody"] + TOOL + ["--format", "proc", "smaps-rollup", str(pid)])
    r.update(label="error-not-root", kind="error", pid=pid, uid=65534)
    steps.append(r)
    os.rename(VMLINUX, VMLINUX + ".away")
    try:
        r = run(TOOL + ["--format", "proc", "smaps-rollup", str(pid)])
    finally:
        os.rename(VMLINUX + ".away", VMLINUX)
    r.update(label="error-no-debuginfo", kind="error", pid=pid)
    steps.append(r)
except Exception as e:
    out["error"] = "%s: %s" % (type(e).__name__, e)
out["pswpout_after"] = vmstat("pswpout")
out["memfree_kb_after"] = memfree()
out["seconds"] = round(time.time() - T0, 1)
blob = zlib.compress(json.dumps(out).encode(), 6)
send(b"@@LOCAL %d %s\n" % (len(blob), hashlib.sha256(blob).hexdigest().encode()))
send(blob)
send(b"\n@@DONE\n")
'''

# -- the host side -------------------------------------------------------------


def local_dir(name: str) -> Path:
    return cache_dir() / "local" / name


def local_recipe(name: str) -> str:
    """Lab ``name``'s recipe plus this file, the project's sources and the
    runtime that goes into the guest."""
    h = hashlib.sha256(recipe_hash(name).encode())
    h.update(Path(__file__).read_bytes())
    h.update(Path(overlay.__file__).read_bytes())
    for p in sorted((PROJECT / "drgn_pagewalk").rglob("*.py")):
        h.update(str(p.relative_to(PROJECT)).encode())
        h.update(p.read_bytes())
    for p in (SYSTEM_PYTHON, *sorted(VENV_SITE.glob("_drgn*.so"))):
        if p.exists():
            st = p.stat()
            h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _minor(python: Path) -> str:
    return _run([str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                f"{python} --version").stdout.decode().strip()


def _ldd(path: Path) -> List[Path]:
    """The shared libraries ld.so resolves for ``path`` (none under drgn.libs:
    that directory goes in whole)."""
    out = _run(["ldd", str(path)], f"ldd {path.name}").stdout.decode()
    libs = []
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts:
            target = parts[parts.index("=>") + 1]
            if target.startswith("/") and "drgn.libs" not in target:
                libs.append(Path(target))
        elif parts and parts[0].startswith("/"):
            libs.append(Path(parts[0]))
    return libs


def _copytree(src: Path, dest: Path, skip: Iterable[str] = ()) -> None:
    skip = set(skip) | {"__pycache__"}
    shutil.copytree(src, dest, symlinks=True,
                    ignore=lambda d, names: [n for n in names if n in skip])


def python_runtime(root: Path) -> None:
    """Python 3.11, drgn, tabulate and drgn_pagewalk under ``root``."""
    if not SYSTEM_PYTHON.exists():
        raise LabError(f"{SYSTEM_PYTHON} is not installed")
    venv_python = PROJECT / ".venv" / "bin" / "python3"
    if _minor(SYSTEM_PYTHON) != _minor(venv_python):
        raise LabError(f"{SYSTEM_PYTHON} is Python {_minor(SYSTEM_PYTHON)} but the venv's "
                       f"drgn is built for {_minor(venv_python)}")
    drgn_so = sorted(VENV_SITE.glob("_drgn*.so"))
    if not drgn_so:
        raise LabError(f"drgn is not installed in {VENV_SITE} (run setup.sh)")
    (root / "usr/bin").mkdir(parents=True)
    shutil.copy2(SYSTEM_PYTHON, root / "usr/bin/python3.11")
    (root / "usr/bin/python3").symlink_to("python3.11")
    _copytree(STDLIB, root / "usr/lib/python3.11", STDLIB_SKIP)
    libdir = root / "lib/x86_64-linux-gnu"
    libdir.mkdir(parents=True)
    (root / "lib64").mkdir()
    binaries = [SYSTEM_PYTHON, *drgn_so, *sorted((STDLIB / "lib-dynload").glob("*.so"))]
    for lib in {l for b in binaries for l in _ldd(b)}:
        dest = root / "lib64" / lib.name if "ld-linux" in lib.name else libdir / lib.name
        shutil.copy(lib.resolve(), dest)
    site = root / GUEST_SITE.lstrip("/")
    site.mkdir(parents=True)
    for name in ("drgn", "_drgn_util", "tabulate"):
        _copytree(VENV_SITE / name, site / name)
    for so in drgn_so:
        shutil.copy2(so, site / so.name)
    libs = VENV_SITE / "drgn.libs"
    if libs.is_dir():
        (site / "drgn.libs").mkdir()
        for lib in libs.iterdir():
            _run(["strip", "--strip-unneeded", "-o", str(site / "drgn.libs" / lib.name),
                  str(lib)], f"strip {lib.name}")
    _copytree(PROJECT / "drgn_pagewalk", site / "drgn_pagewalk")
    (root / "local").mkdir()
    (root / "local/run.py").write_text(RUNNER)
    src = root / "local/nobody.c"
    src.write_text(NOBODY_C)
    _run(["gcc", "-static", "-O2", "-o", str(root / "local/nobody"), str(src)],
         "compile nobody.c")
    src.unlink()
    # The runtime must start: import the tool in a chroot of it (as the guest
    # will, with the same library paths).  That import, by the guest's own
    # Python, also writes the .pyc files of the standard library modules the
    # tool and the runner use, and compileall those of the site-packages:
    # compiling them under TCG would cost every first import seconds.
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    env = {"PATH": "/usr/bin", "PYTHONPATH": GUEST_SITE}
    _run([chroot, str(root), "/usr/bin/python3", "-c",
          "import drgn, drgn_pagewalk.cli, tabulate, tty, subprocess, json, base64, "
          "hashlib, zlib, logging, argparse"],
         "the guest's Python runtime (checked in a chroot)", env=env)
    _run([chroot, str(root), "/usr/bin/python3", "-m", "compileall", "-q", GUEST_SITE],
         "compileall in the guest's runtime", env=env)


def build_local_initramfs(kernel: Dict[str, Path], release: str, out: Path) -> None:
    """The lab's initramfs, then the runtime (gzip), then the vmlinux
    (uncompressed, 512-byte aligned as the kernel's unpacker wants)."""
    build_initramfs(kernel["modules"], out)
    root = Path(tempfile.mkdtemp(prefix="lab-local-", dir=out.parent))
    try:
        python_runtime(root)
        overlay.add_lab_init(root, INIT_WRAPPER)
        overlay.append_tree(out, root)
        with open(out, "ab") as f:
            dirs = ["usr", "usr/lib", "usr/lib/debug", "usr/lib/debug/boot"]
            overlay.write_newc(f, [(d, 0o40755, None, 0) for d in dirs] +
                               [(f"usr/lib/debug/boot/vmlinux-{release}", 0o100644,
                                 kernel["vmlinux"], int(kernel["vmlinux"].stat().st_mtime))])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _exchange(sock_path: Path, timeout: float) -> bytes:
    """Say "g" to the guest's runner (until it answers @@GO), then read its
    framed result."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(str(sock_path))
    data = b""
    t0 = time.time()
    while b"@@GO\n" not in data:
        if time.time() - t0 > 120:
            raise LabError("the guest's runner did not answer on ttyS2")
        s.sendall(b"g")
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            raise LabError("ttyS2 closed before the runner answered")
        data += chunk
    data = data[data.index(b"@@GO\n") + 5:]
    s.settimeout(30)
    while True:
        nl = data.find(b"\n", data.find(b"@@LOCAL")) if b"@@LOCAL" in data else -1
        if nl >= 0:
            head = data[data.index(b"@@LOCAL"):nl].split()
            length = int(head[1])
            if len(data) >= nl + 1 + length:
                blob = data[nl + 1: nl + 1 + length]
                if hashlib.sha256(blob).hexdigest() != head[2].decode():
                    raise LabError("the runner's results arrived damaged (sha256)")
                return zlib.decompress(blob)
        if time.time() - t0 > timeout:
            raise LabError(f"no results from the guest in {timeout} s")
        try:
            chunk = s.recv(1 << 20)
        except socket.timeout:
            continue
        if not chunk:
            raise LabError("ttyS2 closed before the results were complete")
        data += chunk


def run_local(name: str = DEFAULT, force: bool = False) -> Dict[str, Any]:
    """Build, boot and run the guest unless the results are current;
    local.json as a dict (with ``dir``, the results directory)."""
    labs = manifest()["labs"]
    if name not in labs:
        raise LabError(f"unknown lab {name} (known: {', '.join(labs)})")
    final = local_dir(name)
    recipe = local_recipe(name)
    if not force:
        try:
            meta = json.loads((final / "local.json").read_text())
            if meta.get("recipe") == recipe:
                return dict(meta, dir=str(final))
        except (OSError, ValueError):
            pass
    spec = labs[name]
    if spec.get("arch", "x86_64") != "x86_64":
        raise LabError(f"{name}: the local-kernel guest is x86-64 only")
    k = manifest()["kernels"][spec["kernel"]]
    t_build = time.time()
    kernel = ensure_kernel(spec["kernel"])
    work = work_dir(final.parent, f".{name}-")
    try:
        initrd = work / "initrd"
        build_local_initramfs(kernel, k["release"], initrd)
        initrd_bytes = initrd.stat().st_size
        build_seconds = time.time() - t_build
        cmd = qemu_command(spec, kernel, initrd, work) + [
            "-serial", f"unix:{work / 'local.sock'},server=on,wait=off"]
        t0 = time.time()
        qemu, boot_secs = boot_guest(name, cmd, work)
        try:
            raw = _exchange(work / "local.sock", RESULT_TIMEOUT)
            total = time.time() - t0
            try:
                qmp = Qmp(work / "qmp.sock")
                qmp.cmd("quit")
            except (OSError, LabError):
                pass
            qemu.wait(30)
        finally:
            if qemu.poll() is None:
                qemu.kill()
                qemu.wait()
        result = json.loads(raw)
        if "error" in result:
            raise LabError(f"{name}: the guest's runner failed: {result['error']}")
        steps = []
        for i, st in enumerate(result["steps"]):
            d = work / "steps" / f"{i:02d}-{st['label']}"
            d.mkdir(parents=True)
            (d / "argv").write_text(" ".join(st["argv"]) + "\n")
            (d / "status").write_text(f"{st['status']}\n")
            for key in ("stdout", "stderr"):
                (d / key).write_bytes(base64.b64decode(st.pop(key)))
            for key, fname in (("before", "proc.before"), ("after", "proc.after")):
                if key in st:
                    (d / fname).write_bytes(base64.b64decode(st.pop(key)))
            st["dir"] = str(d.relative_to(work))
            steps.append(st)
        for junk in ("qmp.sock", "local.sock", "serial1.bin", "initrd"):
            if (work / junk).exists():
                (work / junk).unlink()
        meta = {
            "name": name, "recipe": recipe, "kernel_release": k["release"],
            "guest_release": result["release"], "cpu": spec["cpu"],
            "levels": spec["levels"], "pids": result["pids"], "vmas": result["vmas"],
            "initramfs_bytes": initrd_bytes, "build_seconds": round(build_seconds, 1),
            "boot_to_ready_seconds": round(boot_secs, 1),
            "guest_run_seconds": result["seconds"],
            "boot_to_results_seconds": round(total, 1),
            "pswpout_before": result["pswpout_before"],
            "pswpout_after": result["pswpout_after"],
            "memfree_kb_before": result["memfree_kb_before"],
            "memfree_kb_after": result["memfree_kb_after"],
            "steps": steps,
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if final.exists():
            shutil.rmtree(final)
        work.rename(final)
        (final / "local.json").write_text(json.dumps(meta, indent=2) + "\n")
        return dict(meta, dir=str(final))
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vmcores.local",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", default=DEFAULT)
    parser.add_argument("--force", action="store_true", help="run again even if current")
    args = parser.parse_args(argv)
    try:
        meta = run_local(args.name, args.force)
    except LabError as e:
        print(f"vmcores.local: error: {e}", file=sys.stderr)
        return 1
    bad = [s["label"] for s in meta["steps"] if s["kind"] != "error" and s["status"]]
    print(f"local {args.name}: {len(meta['steps'])} commands in the guest "
          f"({meta['kernel_release']}), boot to results "
          f"{meta['boot_to_results_seconds']} s (READY {meta['boot_to_ready_seconds']} s), "
          f"initramfs {meta['initramfs_bytes'] >> 20} MiB"
          + (f"; failed: {', '.join(bad)}" if bad else ""))
    print(f"  results: {meta['dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
