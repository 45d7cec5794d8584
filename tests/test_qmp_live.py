"""drgn-pagewalk --qmp on live lab guests (vmcores/live.py): the guest is
stopped for the walk and resumed after, and every report equals what the
guest's own /proc printed; --no-stop walks it while it runs; bad sockets
give one line."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

from vmcores import live as live_lab
from vmcores.lab import _pagemap

from .counts import count

TOOL = str(Path(sys.executable).with_name("drgn-pagewalk"))
STATUS_MEM = ("VmPeak", "VmSize", "VmLck", "VmPin", "VmHWM", "VmRSS", "RssAnon",
              "RssFile", "RssShmem", "VmData", "VmStk", "VmExe", "VmLib", "VmPTE",
              "VmSwap", "HugetlbPages")


def tool(live: Dict[str, Any], args: List[str], extra: List[str] = ()) -> Tuple[int, str, str]:
    p = subprocess.run([TOOL, "--qmp", live["qmp_tool"], *extra, "-s", live["vmlinux"],
                        *args], capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def truth(live: Dict[str, Any], pid: int, name: str) -> str:
    return (live["truth"] / str(pid) / name).read_text()


def test_qmp_reports_equal_the_guests_proc(live):
    for role in ("workload", "child"):
        pid = live["pids"][role]
        for command, name in (("smaps", "smaps"), ("smaps-rollup", "smaps_rollup"),
                              ("numa-maps", "numa_maps")):
            code, out, err = tool(live, ["--format", "proc", command, str(pid)])
            assert code == 0, err
            assert out == truth(live, pid, name), f"{role} {command} differs"
            count("live QMP lines identical", len(out.splitlines()))
        code, out, err = tool(live, ["--format", "proc", "status", str(pid)])
        assert code == 0, err
        expected = "".join(l + "\n" for l in truth(live, pid, "status").splitlines()
                           if l.split(":")[0] in STATUS_MEM)
        assert out == expected, f"{role} status differs"
        code, out, err = tool(live, ["--format", "proc", "pagemap", str(pid)])
        assert code == 0, err
        pm = _pagemap(live["truth"] / str(pid) / "pagemap", live["page_size"])
        assert out == "".join(f"{a:x} {e:016x}\n" for a, e in pm.items())
        count("live QMP pagemap entries identical", len(pm))
    assert live_lab.is_running(live["name"]), "the guest was not resumed"


def test_dump_of_the_same_guest(live, tmp_path):
    """The dump path on an ELF dump of the live guest (paused for the dump,
    then resumed) prints what the guest's /proc printed, as --qmp and gdb do."""
    vmcore = tmp_path / "vmcore"
    live_lab.dump(live["name"], vmcore)
    assert live_lab.is_running(live["name"])
    pid = live["pids"]["workload"]
    try:
        for command, name in (("smaps", "smaps"), ("smaps-rollup", "smaps_rollup"),
                              ("numa-maps", "numa_maps")):
            p = subprocess.run([TOOL, "-c", str(vmcore), "-s", live["vmlinux"], "--format",
                                "proc", command, str(pid)], capture_output=True, text=True,
                               timeout=300, stdin=subprocess.DEVNULL)
            assert p.returncode == 0, p.stderr
            assert p.stdout == truth(live, pid, name), f"dump of the live guest: {command}"
            count("dump of a live guest: lines identical", len(p.stdout.splitlines()))
    finally:
        vmcore.unlink()


def test_qmp_vtop_samples(live):
    pid = live["pids"]["workload"]
    pm = _pagemap(live["truth"] / str(pid) / "pagemap", live["page_size"])
    for kind in ("thp", "swapped", "shmem_shared", "hugetlb_2m"):
        addr = live["vmas"][kind]["start"] + 0x3123
        code, out, err = tool(live, ["--format", "json", "vtop", hex(addr), str(pid)])
        assert code == 0, err
        j = json.loads(out)["results"][0]  # docs/json.md
        page = live["page_size"]
        entry = pm[addr & ~(page - 1)]
        if entry >> 63:
            assert j["physical"] // page == entry & ((1 << 55) - 1), kind
        else:
            assert entry >> 62 & 1 and j["stop"]["reason"] == "swap entry", kind
        count("live QMP vtop samples", 1)


def test_pagewalk_in_a_drgn_session_on_a_running_guest(live, capsys):
    """%pagewalk in drgn attached over QMP (what a drgn user does by hand):
    the guest keeps running; the workload sleeps, so its reports are what its
    /proc printed."""
    import gc

    import drgn
    from drgn.commands import run_command

    assert live_lab.is_running(live["name"])
    prog = drgn.Program()
    prog.set_qemu_qmp(live["qmp_tool"])
    try:
        prog.load_debug_info([live["vmlinux"]])
        pid = live["pids"]["workload"]
        for command, name in (("smaps-rollup", "smaps_rollup"), ("numa-maps", "numa_maps")):
            run_command(prog, f"pagewalk --format proc {command} {pid}", globals={})
            captured = capsys.readouterr()
            assert captured.out == truth(live, pid, name), f"%pagewalk {command} differs"
            assert all("page-table page(s) changed" in l for l in captured.err.splitlines())
            count("live drgn-session lines identical", len(captured.out.splitlines()))
        run_command(prog, "pagewalk smaps 99999", globals={})
        assert capsys.readouterr().err == "pagewalk: error: no process with PID 99999\n"
        assert live_lab.is_running(live["name"])
    finally:
        del prog
        gc.collect()  # drgn lets the QMP socket go with the Program


def test_qmp_no_stop_walks_a_running_guest(live):
    """--no-stop leaves the guest running throughout; the walk ends without
    a traceback, and anything that changed under it is said on stderr.
    (Last of this guest's tests: it starts the guest's churn process.)"""
    pid = live["pids"]["workload"]
    code, out, err = tool(live, ["--format", "proc", "smaps-rollup", str(pid)],
                          ["--no-stop"])
    assert code == 0 and "Traceback" not in err
    assert live_lab.is_running(live["name"])
    # the workload sleeps: its own numbers are what it printed
    assert out == truth(live, pid, "smaps_rollup")
    assert all("page-table page(s) changed" in l for l in err.splitlines())
    # a process that keeps faulting pages in and out
    live_lab.churn(live["name"])
    code, out, err = tool(live, ["--format", "json", "ps"], ["--no-stop"])
    churn = [r["pid"] for r in json.loads(out)["results"][0]["processes"]
             if r["comm"] == "churn"]
    assert code == 0 and len(churn) == 1, err
    reports = []
    for _ in range(5):
        code, out, err = tool(live, ["vm", "-p", "--fold", str(churn[0])], ["--no-stop"])
        assert code == 0 and "Traceback" not in err, err
        assert live_lab.is_running(live["name"])
        reports += [l for l in err.splitlines() if "page-table page(s) changed" in l]
        if reports:
            break
    assert reports, "five walks of a churning process saw no change"
    count("live --no-stop walks that reported changed tables", 1)


def test_qmp_bad_sockets(live, tmp_path):
    vmlinux = live["vmlinux"]

    def one_line(args):
        p = subprocess.run([TOOL, *args, "-s", vmlinux, "ps"], capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 1 and len(lines) == 1 and "Traceback" not in p.stderr, \
            p.stderr
        return lines[0]

    assert "QMP socket not found" in one_line(["--qmp", str(tmp_path / "none.sock")])
    # a socket nobody listens on
    dead = tmp_path / "dead.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(dead))
    s.close()
    assert "cannot connect" in one_line(["--qmp", str(dead)])
    # a unix socket that is not QMP (answers nothing)
    quiet = tmp_path / "quiet.sock"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(quiet))
    srv.listen(1)
    try:
        assert "does not answer" in one_line(["--qmp", str(quiet)])
    finally:
        srv.close()
    # the vmlinux of another kernel
    other = "/6.12" if "6.1." in live["kernel_release"] else "/6.1"
    kernels = Path(vmlinux).parent.parent
    wrong = next(p / "vmlinux" for p in sorted(kernels.iterdir())
                 if (p / "vmlinux").exists() and str(p / "vmlinux") != vmlinux)
    p = subprocess.run([TOOL, "--qmp", live["qmp_tool"], "-s", str(wrong), "ps"],
                       capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 1 and len(lines) == 1 and "Traceback" not in p.stderr, other
    assert live_lab.is_running(live["name"]), "the guest was not resumed after an error"
