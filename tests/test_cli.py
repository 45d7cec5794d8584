"""The CLI on bad input: one line on stderr, exit 2 for usage and 1 for
data, never a traceback or a hang.  Run against the real 6.1 lab dump."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

from vmcores.lab import ensure_lab

TOOL = str(Path(sys.executable).with_name("drgn-pagewalk"))


@pytest.fixture(scope="module")
def lab61():
    return ensure_lab("6.1-4level")


@pytest.fixture(scope="module")
def lab612():
    return ensure_lab("6.12-4level")


def run(args: List[str]) -> Tuple[int, str, str]:
    p = subprocess.run([TOOL] + args, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("drgn-pagewalk: error: ")
    return lines[0]


def base(lab) -> List[str]:
    return ["-c", str(lab.vmcore), "-s", str(lab.vmlinux)]


def test_missing_vmcore(tmp_path, lab61):
    code, out, err = run(["-c", str(tmp_path / "nope"), "-s", str(lab61.vmlinux), "ps"])
    assert code == 1 and "vmcore not found" in one_line_error(err)


def test_not_a_vmcore(tmp_path, lab61):
    bogus = tmp_path / "vmcore"
    bogus.write_text("this is not a crash dump\n")
    code, out, err = run(["-c", str(bogus), "-s", str(lab61.vmlinux), "ps"])
    assert code == 1 and "cannot open vmcore" in one_line_error(err)


def test_truncated_vmcore(tmp_path, lab61):
    cut = tmp_path / "vmcore"
    with open(lab61.vmcore, "rb") as src:
        cut.write_bytes(src.read(64 << 10))
    code, out, err = run(["-c", str(cut), "-s", str(lab61.vmlinux), "ps"])
    assert code == 1
    one_line_error(err)


def test_vmlinux_of_another_kernel(lab61, lab612):
    code, out, err = run(["-c", str(lab61.vmcore), "-s", str(lab612.vmlinux), "ps"])
    assert code == 1
    one_line_error(err)


def test_no_such_pid(lab61):
    code, out, err = run(base(lab61) + ["vmas", "99999"])
    assert code == 1 and "no process with PID 99999" in one_line_error(err)


def test_kernel_thread_has_no_mm(lab61):
    code, out, err = run(base(lab61) + ["vmas", "2"])
    assert code == 1 and "kernel thread" in one_line_error(err)


def test_bad_task_address(lab61):
    code, out, err = run(base(lab61) + ["vmas", "0xffff000000000000"])
    assert code == 1 and "no task_struct" in one_line_error(err)


@pytest.mark.parametrize("args", [
    ["--format", "xml", "ps"],
    ["frobnicate"],
    ["vmas", "notapid"],
    ["vmas"],
    ["pagemap", "1", "2000", "1000"],
])
def test_usage_errors(lab61, args):
    code, out, err = run(base(lab61) + args)
    assert code == 2, (args, err)
    one_line_error(err)


def test_address_outside_any_vma(lab61):
    code, out, err = run(base(lab61) + ["smaps", str(lab61.pids["workload"]), "0x1000"])
    assert code == 1 and "not in any vma" in one_line_error(err)


def test_ps_lists_the_lab_processes(lab61):
    code, out, err = run(base(lab61) + ["--format", "json", "ps"])
    assert code == 0, err
    import json

    doc = json.loads(out)
    pids = {r["pid"] for r in doc["results"][0]["processes"]}
    assert set(lab61.pids.values()) <= pids


def test_kdump_compressed_dump_opens():
    """QEMU's kdump-zlib output names no architecture: the CLI retries it as
    x86-64 (drgn alone fails with KDUMP_ATTR_ARCH_NAME)."""
    lab = ensure_lab("6.1-4level-kdump")
    code, out, err = run(base(lab) + ["smaps-rollup", str(lab.pids["workload"]),
                                      "--format", "proc"])
    assert code == 0, err
    assert out == lab.truth_text(lab.pids["workload"], "smaps_rollup")


def test_drgn_command_in_scripts_and_repl(lab61, capsys):
    """%pagewalk in the drgn REPL is drgn's command framework: the same
    commands through drgn.commands.run_command()."""
    from drgn.commands import run_command

    import drgn_pagewalk.commands  # noqa: F401  (registers "pagewalk")

    prog = lab61.program()
    pid = lab61.pids["child"]
    run_command(prog, f"pagewalk smaps-rollup {pid} --format proc", globals={})
    assert capsys.readouterr().out == lab61.truth_text(pid, "smaps_rollup")
    run_command(prog, "pagewalk vmas 99999", globals={})
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["pagewalk: error: no process with PID 99999"]


def test_all_processes(lab61):
    import json

    code, out, err = run(base(lab61) + ["--format", "json", "smaps-rollup", "--all"])
    assert code == 0, err
    rollups = {r["title"]: r["fields"] for r in json.loads(out)["results"]}
    for role, pid in lab61.pids.items():
        title = [t for t in rollups if t.startswith(f"PID {pid} ")]
        assert len(title) == 1
        truth = lab61.truth_text(pid, "smaps_rollup").splitlines()[1]
        assert rollups[title[0]]["Rss"] == int(truth.split()[1])


def test_progress_only_on_a_terminal(lab61):
    """Work over a second shows a progress line when stderr is a terminal,
    erased at the end; piped, stderr stays empty (every other test)."""
    import os
    import pty

    master, slave = pty.openpty()
    args = [TOOL, "-c", str(lab61.vmcore), "-s", str(lab61.vmlinux), "--format", "proc",
            "pagemap", "--all"]
    env = dict(os.environ, DRGN_PAGEWALK_PROGRESS_DELAY="0.2")  # any machine
    with open(os.devnull, "w") as null:
        p = subprocess.Popen(args, stdout=null, stderr=slave, stdin=subprocess.DEVNULL,
                             env=env)
    os.close(slave)
    seen = b""
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        seen += data
    os.close(master)
    assert p.wait(timeout=300) == 0
    text = seen.decode(errors="replace")
    assert "drgn-pagewalk: pagemap: " in text and "vma(s)" in text, text
    assert text.endswith("\r\x1b[K"), repr(text[-80:])
    p = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0 and p.stderr == ""
