"""lx-pagewalk (gdb_scripts/pagewalk.py): drgn-pagewalk's commands in gdb on
QEMU's gdbstub, against the live lab guests' own /proc, byte for byte; and
its one-line errors.

Each guest gets one gdb, started with the vmlinux (``gdb -batch -nx VMLINUX``,
what a user types; gdb reads it in ~4 s; ``gdb-multiarch`` for the arm64
guests), that runs every command with ``echo`` markers between them; the
guest is found from its CR3 on x86-64, from TTBR1_EL1, TCR_EL1 and VBAR_EL1
on arm64 (KASLR on).
The error tests mostly use ``lx-pagewalk --vmlinux PATH`` in a gdb started
without a file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sysconfig
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest

from vmcores.lab import _pagemap
from vmcores.live import free_port

from .counts import count
from .test_proc_lab import STATUS_MEM, same

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "gdb_scripts" / "pagewalk.py"
SITE_PACKAGES = sysconfig.get_paths()["purelib"]  # the venv running the tests
MARK = "@@lx-pagewalk-test@@"
COMMANDS = ("smaps", "smaps-rollup", "status", "numa-maps", "pagemap")
VTOP_KINDS = ("thp", "swapped", "shmem_shared", "hugetlb_2m", "anon_partial")
TRUTH_FILE = {"smaps": "smaps", "smaps-rollup": "smaps_rollup", "status": "status",
              "numa-maps": "numa_maps"}

def gdb_env(pythonpath: Optional[str] = SITE_PACKAGES) -> Dict[str, str]:
    env = dict(os.environ)
    env.pop("DRGN_PAGEWALK_DEBUG", None)
    env.pop("PYTHONHOME", None)
    if pythonpath is None:
        env.pop("PYTHONPATH", None)
    else:
        env["PYTHONPATH"] = pythonpath
    return env


def gdb_for(live: Dict[str, Any]) -> str:
    """The gdb a user runs on the guest: Debian's gdb knows x86-64 only,
    gdb-multiarch (the same gdb 13) arm64 too."""
    return "gdb-multiarch" if live.get("arch") == "arm64" else "gdb"


def run_gdb(args: Sequence[str], env: Optional[Dict[str, str]] = None,
            timeout: float = 120, gdb: str = "gdb") -> subprocess.CompletedProcess:
    """gdb -batch -nx ARGS, no terminal, from the repository root."""
    assert shutil.which(gdb), f"{gdb} is not installed (setup.sh installs it)"
    return subprocess.run([gdb, "-batch", "-nx", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, cwd=ROOT,
                          env=env or gdb_env(), timeout=timeout)


def gdb_commands(commands: Sequence[Tuple[str, str]]) -> List[str]:
    """-ex arguments running each (name, command) after a marker line."""
    args: List[str] = []
    for name, command in list(commands) + [("end", "")]:
        args += ["-ex", f"echo {MARK} {name}\\n"]
        if command:
            args += ["-ex", command]
    return args


def sections(stdout: str) -> Dict[str, str]:
    """What each command printed, by name (see gdb_commands())."""
    parts: Dict[str, List[str]] = {}
    lines: List[str] = []
    for line in stdout.splitlines(True):
        if line.startswith(MARK):
            lines = parts[line.split()[1]] = []
        else:
            lines.append(line)
    return {name: "".join(lines) for name, lines in parts.items()}


def vmlinux_of(kernel: str) -> str:
    from vmcores.build import ensure_kernel

    return str(ensure_kernel(kernel)["vmlinux"])


def error_lines(stderr: str) -> List[str]:
    assert "Traceback" not in stderr and "Python Exception" not in stderr, stderr
    return [l for l in stderr.splitlines() if l.startswith("lx-pagewalk")]


# -- every command on every live guest ------------------------------------------

_sessions: Dict[str, Dict[str, Any]] = {}


@pytest.fixture
def session(live: Dict[str, Any]) -> Dict[str, Any]:
    """One gdb on the guest running every command on every process."""
    name = live["name"]
    if name not in _sessions:
        commands = [(f"{cmd}/{pid}", f"lx-pagewalk --format proc {cmd} {pid}")
                    for pid in live["pids"].values() for cmd in COMMANDS]
        pid = live["pids"]["workload"]
        commands += [(f"vtop/{kind}", f"lx-pagewalk --format json vtop "
                      f"{live['vmas'][kind]['start'] + 0x3123:#x} {pid}")
                     for kind in VTOP_KINDS]
        commands.append(("checkwx/0", "lx-pagewalk ptdump --checkwx"))
        # what the Program was built from: the VMCOREINFO derived from the
        # vCPU and whether the kernel's own (vmcoreinfo_data) agreed with it
        commands.append(("found/0", "python print(_State.prog.cache['drgn_pagewalk_rawkernel']);"
                         " print('own', _State.prog.cache['drgn_pagewalk_own_vmcoreinfo']);"
                         " print(_State.prog.cache['drgn_pagewalk_derived_vmcoreinfo']"
                         ".decode(), end='')"))
        # the derived VMCOREINFO alone (as for a kernel without CRASH_CORE):
        # the Program built again without reading the kernel's own
        commands += [("noown/0", "python import drgn_pagewalk.openers.rawkernel as r;"
                      " r.kernel_vmcoreinfo = lambda *a: None; _State.stale = True"),
                     ("derived/0", f"lx-pagewalk --format proc smaps-rollup {pid}"),
                     ("derivedown/0", "python print('own', _State.prog.cache["
                      "'drgn_pagewalk_own_vmcoreinfo'])")]
        result = run_gdb([live["vmlinux"], "-ex", f"target remote 127.0.0.1:{live['gdb_port']}",
                          "-ex", f"source {SCRIPT.relative_to(ROOT)}",
                          *gdb_commands(commands)], timeout=300, gdb=gdb_for(live))
        _sessions[name] = {"out": sections(result.stdout), "stderr": result.stderr}
    return _sessions[name]


def output(session: Dict[str, Any], cmd: str, pid: Any) -> str:
    out = session["out"]
    assert f"{cmd}/{pid}" in out, f"no output: gdb stderr:\n{session['stderr'][-2000:]}"
    assert error_lines(session["stderr"]) == []
    return out[f"{cmd}/{pid}"]


@pytest.mark.parametrize("cmd", ["smaps", "smaps-rollup", "numa-maps"])
def test_proc_files(live, session, cmd):
    for role, pid in live["pids"].items():
        truth = (live["truth"] / str(pid) / TRUTH_FILE[cmd]).read_text()
        same(truth, output(session, cmd, pid), f"{live['name']} {role} {cmd}")
        count("lx-pagewalk (gdb) lines identical", len(truth.splitlines()))


def test_status(live, session):
    for role, pid in live["pids"].items():
        truth = "".join(line + "\n" for line in
                        (live["truth"] / str(pid) / "status").read_text().splitlines()
                        if line.split(":")[0] in STATUS_MEM)
        same(truth, output(session, "status", pid), f"{live['name']} {role} status")
        count("lx-pagewalk (gdb) lines identical", len(truth.splitlines()))


def test_pagemap(live, session):
    for role, pid in live["pids"].items():
        truth = _pagemap(live["truth"] / str(pid) / "pagemap", live["page_size"])
        expected = "".join(f"{a:x} {e:016x}\n" for a, e in truth.items())
        got = output(session, "pagemap", pid)
        if got != expected:  # the diff of 300k lines is useless: the first few
            bad = [(e, g) for e, g in zip(expected.splitlines(), got.splitlines()) if e != g]
            raise AssertionError(f"{live['name']} {role} pagemap differs: "
                                 f"{len(expected.splitlines())} lines expected, "
                                 f"{len(got.splitlines())} got; first {bad[:5]}")
        count("lx-pagewalk (gdb) pagemap entries identical", len(truth))


def test_vtop(live, session):
    """Page-level commands too: vtop of each kind of page, against pagemap."""
    pm = _pagemap(live["truth"] / str(live["pids"]["workload"]) / "pagemap", live["page_size"])
    for kind in VTOP_KINDS:
        addr = live["vmas"][kind]["start"] + 0x3123
        j = json.loads(output(session, "vtop", kind))["results"][0]  # docs/json.md
        page = live["page_size"]
        entry = pm[addr & ~(page - 1)]
        if entry >> 63:
            assert j["physical"] == (entry & ((1 << 55) - 1)) * page | (addr & (page - 1)), kind
        elif not entry >> 62 & 1:
            assert j["stop"]["reason"] == "none" and j["physical"] is None, kind
        else:
            assert j["stop"]["reason"] == "swap entry", kind
            frame = entry & ((1 << 55) - 1)
            assert (j["swap"]["type"], j["swap"]["offset"]) == (frame & 31, frame >> 5)
        count("lx-pagewalk (gdb) vtop samples", 1)


def test_ptdump_checkwx(live, session):
    """The W+X check prints what the guest's kernel printed at boot."""
    boot = [re.sub(r"^\[\s*\d+\.\d+\]\s", "", l)
            for l in (live["truth"] / "dmesg").read_text().splitlines()
            if "W+X" in l or "Checking user space page tables" in l or "non-UXN" in l]
    if live.get("arch") == "arm64":  # arch/arm64/mm/ptdump.c: one line
        got = [l for l in output(session, "checkwx", 0).splitlines()
               if l.startswith("Checked W+X")]
        assert got == boot and len(boot) == 1, (got, boot)
        return
    got = [l for l in output(session, "checkwx", 0).splitlines() if l.startswith("x86/mm")]
    assert got == boot and len(boot) == 3, (got, boot)


def test_kernel_found_from_the_vcpu(live, session):
    """What lx-pagewalk derived from the stopped vCPU (no VMCOREINFO) is what
    the kernel itself says: every line of the derived VMCOREINFO (KASLR
    offset, and on arm64 kimage_voffset, PHYS_OFFSET, VA_BITS,
    TCR_EL1_T1SZ ...) is a line of the kernel's own VMCOREINFO of this boot,
    read over QMP by drgn (which has it from QEMU's fw_cfg device, not from
    our derivation); the kernel's own was then used; the KASLR offset is
    where the guest's /proc/kallsyms has _stext."""
    import gc

    import drgn

    from drgn_pagewalk.openers.rawkernel import VmlinuxSymbols

    lines = output(session, "found", 0).splitlines()
    assert lines[1] == "own True", lines[:2]
    derived = lines[2:]
    prog = drgn.Program()
    prog.set_qemu_qmp(live["qmp_tool"])
    try:
        prog.load_debug_info([live["vmlinux"]])
        own = prog["vmcoreinfo_data"].string_().decode().splitlines()
    finally:
        del prog
        gc.collect()  # drgn lets the QMP socket go with the Program
    assert derived and set(derived) <= set(own), sorted(set(derived) - set(own))
    keys = {l.split("=")[0] for l in derived}
    if live.get("arch") == "arm64":
        assert {"KERNELOFFSET", "NUMBER(kimage_voffset)", "NUMBER(PHYS_OFFSET)",
                "NUMBER(VA_BITS)", "NUMBER(TCR_EL1_T1SZ)", "SYMBOL(swapper_pg_dir)",
                "NUMBER(KERNELPACMASK)", "LENGTH(mem_section)"} <= keys, keys
    else:
        assert {"KERNELOFFSET", "NUMBER(phys_base)"} <= keys, keys
    offset = int(next(l for l in derived if l.startswith("KERNELOFFSET=")).split("=")[1], 16)
    kallsyms = (live["truth"] / "kallsyms").read_text()
    stext = int(re.search(r"^([0-9a-f]+) T _stext$", kallsyms, re.M).group(1), 16)
    syms = VmlinuxSymbols(live["vmlinux"], live.get("arch", "x86_64"))
    try:
        assert stext == syms.lookup(["_stext"])["_stext"][0] + offset
    finally:
        syms.close()
    count("lx-pagewalk (gdb) derived VMCOREINFO lines equal to the kernel's", len(derived))


def test_derived_vmcoreinfo_alone(live, session):
    """The VMCOREINFO derived from the vCPU is enough by itself: with the
    kernel's own left unread, smaps_rollup is still the guest's."""
    pid = live["pids"]["workload"]
    assert output(session, "derivedown", 0) == "own False\n"
    same((live["truth"] / str(pid) / "smaps_rollup").read_text(),
         output(session, "derived", 0), f"{live['name']} smaps_rollup, derived VMCOREINFO")
    count("lx-pagewalk (gdb) lines identical", len(output(session, "derived", 0).splitlines()))


# -- the Program: KASLR from the guest, cached per stop --------------------------

@pytest.mark.parametrize("live", ["6.1-4level", "6.1-arm64"], indirect=True)
def test_kaslr_and_rebuild_after_the_guest_ran(live):
    """_text where the guest's kallsyms has it (arm64's 6.1 lists _stext:
    _text is its link-time distance below); the Program kept while the
    guest stays stopped and rebuilt once it ran (stepi)."""
    from drgn_pagewalk.openers.rawkernel import VmlinuxSymbols

    v = live["vmlinux"]
    result = run_gdb(["-ex", f"target remote 127.0.0.1:{live['gdb_port']}",
                      "-ex", f"source {SCRIPT}",
                      *gdb_commands([("first", f"lx-pagewalk --stats --vmlinux {v} ps"),
                                     ("again", f"lx-pagewalk --stats --vmlinux {v} ps"),
                                     ("step", "stepi"),
                                     ("ran", f"lx-pagewalk --stats --vmlinux {v} ps")])],
                     timeout=120, gdb=gdb_for(live))
    out = sections(result.stdout)
    assert error_lines(result.stderr) == []
    kallsyms = (live["truth"] / "kallsyms").read_text()
    syms = VmlinuxSymbols(v, live.get("arch", "x86_64"))
    try:
        link = syms.lookup(["_text", "_stext"])
    finally:
        syms.close()
    stext = int(re.search(r"^([0-9a-f]+) T _stext$", kallsyms, re.M).group(1), 16)
    text = stext - (link["_stext"][0] - link["_text"][0])
    m = re.search(r"^([0-9a-f]+) T _text$", kallsyms, re.M)
    assert m is None or int(m.group(1), 16) == text
    assert f"_text at {text:#x}" in out["first"], out["first"]
    assert "Program built" in out["first"]
    assert "Program built" not in out["again"]
    assert "Program built" in out["ran"]
    for name in ("first", "again", "ran"):
        assert re.search(rf"^{live['pids']['workload']}\s+workload\s", out[name], re.M)


# -- one-line errors ---------------------------------------------------------------

@pytest.mark.parametrize("live", ["6.1-4level", "6.1-arm64"], indirect=True)
def test_errors_on_a_live_guest(live):
    """No vmlinux, another kernel's vmlinux (on arm64 also an x86-64 one),
    bad PIDs and commands: one line each, and the next command still works."""
    arm64 = live.get("arch") == "arm64"
    k61, k612 = ("6.1-arm64", "6.12-arm64") if arm64 else ("6.1", "6.12")
    v61, v612 = live["vmlinux"], vmlinux_of(k612)
    commands = [
        ("novmlinux", "lx-pagewalk ps"),
        ("other", f"lx-pagewalk --vmlinux {v612} ps"),
        ("nopid", f"lx-pagewalk --vmlinux {v61} smaps 99999"),
        ("kthread", f"lx-pagewalk --vmlinux {v61} smaps 2"),
        ("usage", f"lx-pagewalk --vmlinux {v61} bogus"),
    ]
    if arm64:
        commands.append(("x86", f"lx-pagewalk --vmlinux {vmlinux_of('6.1')} ps"))
    commands.append(("good", f"lx-pagewalk --vmlinux {v61} --format proc smaps-rollup 1"))
    result = run_gdb(["-ex", f"target remote 127.0.0.1:{live['gdb_port']}",
                      "-ex", f"source {SCRIPT}", *gdb_commands(commands)], timeout=120,
                     gdb=gdb_for(live))
    from vmcores.build import manifest

    r61, r612 = (manifest()["kernels"][k]["release"] for k in (k61, k612))
    errors = error_lines(result.stderr)
    assert errors[:4] == [
        "lx-pagewalk: error: no vmlinux: start gdb with it (gdb VMLINUX) or give "
        "lx-pagewalk --vmlinux PATH ...",
        f"lx-pagewalk: error: vmlinux is for {r612} but the guest runs {r61}",
        "lx-pagewalk: error: no process with PID 99999",
        "lx-pagewalk: error: PID 2 is a kernel thread: it has no mm",
    ], result.stderr
    assert "invalid choice: 'bogus'" in errors[4], errors
    if arm64:
        assert errors[5:] == [f"lx-pagewalk: error: not an arm64 vmlinux: {vmlinux_of('6.1')}"]
    else:
        assert len(errors) == 5, errors
    same((live["truth"] / "1" / "smaps_rollup").read_text(), sections(result.stdout)["good"],
         "smaps_rollup after the errors")


def test_not_connected():
    result = run_gdb(["-ex", f"source {SCRIPT}",
                      "-ex", f"lx-pagewalk --vmlinux {vmlinux_of('6.1')} ps"])
    assert error_lines(result.stderr) == [
        "lx-pagewalk: error: not connected to a guest: 'target remote HOST:PORT' to QEMU's "
        "gdbstub (QEMU -s or -gdb tcp::PORT) first"]


def test_help_needs_no_guest():
    result = run_gdb(["-ex", f"source {SCRIPT}", "-ex", "help lx-pagewalk",
                      "-ex", "lx-pagewalk --help", "-ex", "lx-pagewalk smaps --help"])
    assert error_lines(result.stderr) == []
    assert "Usage: lx-pagewalk [--vmlinux PATH]" in result.stdout
    assert "usage: lx-pagewalk" in result.stdout
    assert "usage: lx-pagewalk smaps" in result.stdout


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_guest_not_running_linux(arch):
    """QEMU stopped at the reset vector (-S): paging off (CR0.PG on x86-64,
    SCTLR_EL1.M on arm64)."""
    port = free_port()
    machine = ["qemu-system-aarch64", "-machine", "virt", "-cpu", "max"] \
        if arch == "arm64" else ["qemu-system-x86_64"]
    qemu = subprocess.Popen([*machine, "-S", "-gdb", f"tcp:127.0.0.1:{port}",
                             "-m", "64", "-display", "none", "-nodefaults", "-monitor",
                             "none", "-serial", "none", "-no-user-config"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    kernel = "6.1-arm64" if arch == "arm64" else "6.1"
    try:
        _wait_port(port)
        result = run_gdb(["-ex", f"target remote 127.0.0.1:{port}", "-ex", f"source {SCRIPT}",
                          "-ex", f"lx-pagewalk --vmlinux {vmlinux_of(kernel)} ps"], timeout=60,
                         gdb=gdb_for({"arch": arch}))
    finally:
        qemu.kill()
        qemu.wait()
    assert error_lines(result.stderr) == [
        "lx-pagewalk: error: the guest CPU has paging off: it is not running a Linux kernel (yet)"]


def test_arm64_registers_refused():
    """What locate_kernel_arm64() refuses before it reads any memory, one
    line each: 64 KiB pages (TCR_EL1.TG1: 4 and 16 KiB only; no Debian
    kernel has 64 KiB pages), TTBR1 walks disabled, VA sizes no kernel of
    the granule has, the MMU off."""
    from drgn_pagewalk.arch import arm64
    from drgn_pagewalk.openers.rawkernel import RawKernelError
    from drgn_pagewalk.openers.rawkernel_arm64 import locate_kernel_arm64

    def no_memory(address, size):
        raise AssertionError("memory read")

    v = vmlinux_of("6.1-arm64")
    t1sz16 = 16 << arm64.TCR_T1SZ_OFFSET
    cases = [
        (dict(tcr=arm64.TCR_TG1_64K | t1sz16), "the guest CPU runs with 64 KiB pages "
         f"(TCR_EL1.TG1 of TCR_EL1={arm64.TCR_TG1_64K | t1sz16:#x}): only 4 and 16 KiB "
         "pages are supported"),
        (dict(tcr=arm64.TCR_TG1_16K | 25 << arm64.TCR_T1SZ_OFFSET),
         "has 39-bit kernel addresses (TCR_EL1.T1SZ 25): not an arm64 Linux kernel with "
         "16 KiB pages (36, 47, 48, 52 bits)"),
        (dict(tcr=t1sz16), "the guest CPU runs with a reserved granule"),
        (dict(tcr=arm64.TCR_TG1_4K | t1sz16 | arm64.TCR_EPD1), "TTBR1_EL1 walks disabled"),
        (dict(tcr=arm64.TCR_TG1_4K | 20 << arm64.TCR_T1SZ_OFFSET),
         "has 44-bit kernel addresses (TCR_EL1.T1SZ 20)"),
        (dict(tcr=arm64.TCR_TG1_4K | t1sz16, sctlr=0),
         "the guest CPU has paging off: it is not running a Linux kernel (yet)"),
    ]
    for kw, message in cases:
        with pytest.raises(RawKernelError) as e:
            locate_kernel_arm64(no_memory, ttbr1=0, vbar=0, vmlinux=v, **kw)
        assert message in str(e.value) and "\n" not in str(e.value), (kw, str(e.value))


def test_gdbstub_not_qemu():
    """A gdbstub without qqemu.PhyMemMode (a minimal fake one)."""
    stub = FakeGdbStub()
    try:
        result = run_gdb(["-ex", f"target remote 127.0.0.1:{stub.port}",
                          "-ex", f"source {SCRIPT}",
                          "-ex", f"lx-pagewalk --vmlinux {vmlinux_of('6.1')} ps"], timeout=60)
    finally:
        stub.close()
    assert "qqemu.PhyMemMode" in stub.packets, stub.packets
    assert error_lines(result.stderr) == [
        "lx-pagewalk: error: the gdbstub has no physical memory mode (qqemu.PhyMemMode): "
        "lx-pagewalk needs QEMU's gdbstub"], result.stderr


def test_drgn_not_importable(tmp_path):
    """gdb's Python without drgn (no PYTHONPATH, no .venv next to the script)."""
    (tmp_path / "gdb_scripts").mkdir()
    shutil.copy(SCRIPT, tmp_path / "gdb_scripts" / "pagewalk.py")
    # Hide a drgn installed system-wide too: None in sys.modules makes
    # "import drgn" raise ImportError.
    result = run_gdb(["-ex", "python import sys; sys.modules['drgn'] = None",
                      "-ex", f"source {tmp_path / 'gdb_scripts' / 'pagewalk.py'}",
                      "-ex", "lx-pagewalk ps"], env=gdb_env(None))
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and errors[0].startswith("lx-pagewalk: error: cannot import drgn"), \
        result.stderr
    assert "PYTHONPATH" in errors[0]


# -- helpers -----------------------------------------------------------------------

def _wait_port(port: int, timeout: float = 10) -> None:
    import time

    end = time.time() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.time() > end:
                raise
            time.sleep(0.1)


class FakeGdbStub:
    """Just enough of the remote protocol for gdb to connect (i386 registers,
    no memory) and nothing QEMU-specific: unknown packets get ''."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(60)
        self.port = self.sock.getsockname()[1]
        self.packets: List[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            buf = b""
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while True:
                    buf = buf.lstrip(b"+-")
                    if buf.startswith(b"\x03"):
                        buf = buf[1:]
                        self._send(conn, "S05")
                        continue
                    start = buf.find(b"$")
                    end = buf.find(b"#", start)
                    if start < 0 or end < 0 or len(buf) < end + 3:
                        break
                    packet = buf[start + 1:end].decode(errors="replace")
                    buf = buf[end + 3:]
                    conn.sendall(b"+")
                    self.packets.append(packet)
                    reply = self._reply(packet)
                    self._send(conn, reply)
                    if packet == "D":
                        return

    @staticmethod
    def _reply(packet: str) -> str:
        if packet.startswith("qSupported"):
            return "PacketSize=1000"
        if packet == "?":
            return "S05"
        if packet.startswith("H") or packet == "D":
            return "OK"
        if packet == "qfThreadInfo":
            return "m1"
        if packet == "qsThreadInfo":
            return "l"
        if packet == "qAttached":
            return "1"
        if packet == "qC":
            return "QC1"
        if packet == "g":
            return "00" * 312  # gdb's default i386 register block
        if packet.startswith("m"):
            return "E01"
        return ""

    @staticmethod
    def _send(conn: socket.socket, payload: str) -> None:
        data = payload.encode()
        conn.sendall(b"$" + data + b"#%02x" % (sum(data) & 0xFF))
