"""One report, four ways in: the lab dump, and a live guest over QMP
(stopped, or running with --no-stop) and through gdb's lx-pagewalk.

    .venv/bin/python -m bench.bench_live [--lab 6.1-4level] [--repeat 3]
        [--command "--format proc smaps"]

Boots the lab's live guest (vmcores.live; stopped again at the end unless
it was already running), then times COMMAND on the workload (the lab's
largest process) end to end, as a user runs it: a new process each time
(drgn-pagewalk, gdb -batch), so start-up, attaching and debug info loading
are included.  Prints each way's best time and checks that the live ways
printed the same bytes (the dump is another boot: its addresses differ).
A benchmark, never a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path
from typing import List

from bench.bench_walk import best_of
from vmcores import live as live_lab
from vmcores.lab import ensure_lab

ROOT = Path(__file__).resolve().parent.parent
TOOL = str(Path(sys.executable).with_name("drgn-pagewalk"))
SCRIPT = ROOT / "gdb_scripts" / "pagewalk.py"
MARK = "@@bench@@"


def run(cmd: List[str]) -> str:
    p = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       cwd=ROOT)
    if p.returncode:
        sys.exit(f"bench_live: {shlex.join(cmd)} failed: {p.stderr.strip()[-500:]}")
    return p.stdout


def gdb_way(meta: dict, argv: List[str]) -> str:
    import sysconfig

    env_path = sysconfig.get_paths()["purelib"]
    out = subprocess.run(
        ["gdb", "-batch", "-nx", meta["vmlinux"],
         "-ex", f"target remote 127.0.0.1:{meta['gdb_port']}",
         "-ex", f"source {SCRIPT}", "-ex", f"echo {MARK}\\n",
         "-ex", "lx-pagewalk " + shlex.join(argv), "-ex", f"echo {MARK}\\n"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=ROOT,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"})
    if MARK not in out.stdout or "lx-pagewalk" in out.stderr:
        sys.exit(f"bench_live: gdb failed: {out.stderr.strip()[-500:]}")
    return out.stdout.split(MARK + "\n")[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="6.1-4level")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--command", default="--format proc smaps",
                        help="drgn-pagewalk arguments before the PID")
    args = parser.parse_args()

    lab = ensure_lab(args.lab)
    was_running = live_lab.is_running(args.lab)
    meta = live_lab.start(args.lab)
    try:
        pid = str(meta["pids"]["workload"])
        argv = shlex.split(args.command) + [pid]
        dump_argv = shlex.split(args.command) + [str(lab.pids["workload"])]
        ways = [
            ("dump (ELF)", lambda: run([TOOL, "-c", str(lab.vmcore), "-s",
                                        meta["vmlinux"], *dump_argv])),
            ("live, drgn-pagewalk --qmp", lambda: run([TOOL, "--qmp", meta["qmp_tool"],
                                                       "-s", meta["vmlinux"], *argv])),
            ("live, drgn-pagewalk --qmp --no-stop",
             lambda: run([TOOL, "--qmp", meta["qmp_tool"], "--no-stop", "-s",
                          meta["vmlinux"], *argv])),
            ("live, gdb lx-pagewalk", lambda: gdb_way(meta, argv)),
        ]
        print(f"{args.lab}: drgn-pagewalk {shlex.join(argv)} (workload), "
              f"best of {args.repeat}, end to end")
        outputs = []
        for name, func in ways:
            secs, out = best_of(args.repeat, func)
            outputs.append(out)
            print(f"  {name:40s} {secs:6.2f} s  {len(out.splitlines()):7d} lines")
        # The dump is another boot of the same lab: its addresses differ.
        same = all(o == outputs[1] for o in outputs[1:])
        print("  the live ways printed the same" if same else "  LIVE OUTPUTS DIFFER")
    finally:
        if not was_running:
            live_lab.stop(args.lab)


if __name__ == "__main__":
    main()
