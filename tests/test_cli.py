"""The CLI on bad input: one line on stderr, exit 2 for usage and 1 for
data, never a traceback or a hang.  Run against the real 6.1 lab dump."""

from __future__ import annotations

import io
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

from .labcache import get_lab, program as program61

TOOL = str(Path(sys.executable).with_name("drgn-pagewalk"))


@pytest.fixture(scope="module")
def lab61():
    return get_lab("6.1-4level")


@pytest.fixture(scope="module")
def lab612():
    return get_lab("6.12-4level")


def run(args: List[str]) -> Tuple[int, str, str]:
    p = subprocess.run([TOOL] + args, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def one_line_error(stderr: str, name: str = "drgn-pagewalk") -> str:
    """The one error line: ``NAME: error: MESSAGE``, the name once."""
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"{name}: error: ")
    assert f"{name}: " not in lines[0][len(f"{name}: error: "):], lines[0]
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


#: (arguments, the start of the message, the usage of the (sub)command that
#: failed): from argparse, and from the command itself
USAGE_ERRORS = [
    (["--format", "xml", "ps"], "argument --format/-f: invalid choice: 'xml'", ""),
    (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'", ""),
    ([], "the following arguments are required: COMMAND", ""),
    (["vmas", "notapid"], "not a PID or task address: 'notapid'", "vmas"),
    (["vmas"], "a PID (or task_struct address) or --all is needed", "vmas"),
    (["vmas", "1", "2"], "unrecognized arguments: 2", "vmas"),
    (["smaps", "--bogus"], "unrecognized arguments: --bogus", "smaps"),
    (["pagemap", "1", "2000", "1000"], "empty range 0x2000-0x1000", "pagemap"),
    (["vtop"], "the following arguments are required: ADDR", "vtop"),
    (["rmap", "--pfn", "zz"], "not a PFN: 'zz'", "rmap"),
    (["rmap", "/tmp/lab-shmem", "x"], "not a page index: 'x'", "rmap"),
    (["smaps", "foo", "--drgn"], "not a PID or task address: 'foo'", "smaps"),
    (["smaps", "--drgn"], "a PID (or task_struct address) or --all is needed", "smaps"),
]


def usage_of(name: str, sub: str) -> str:
    """The usage line argparse prints for ``name [sub] --help``, joined."""
    from drgn_pagewalk import cli
    from drgn_pagewalk.commands import args, registry

    parser = cli.build_parser() if name == "drgn-pagewalk" else registry.build_parser(name)
    if sub:
        parser = args._subparser(parser, sub)
    return " ".join(parser.format_usage().split())[len("usage: "):]


def check_usage_error(line: str, name: str, message: str, sub: str) -> None:
    """``NAME: error: MESSAGE (usage: NAME SUB ...)`` with the failing
    (sub)parser's own usage line."""
    usage = usage_of(name, sub)
    assert usage.startswith(f"{name} {sub}".strip() + " ")
    assert line.startswith(f"{name}: error: {message}"), line
    assert line.endswith(f" (usage: {usage})"), (line, usage)


@pytest.mark.parametrize("args,message,sub", USAGE_ERRORS)
def test_usage_errors(lab61, args, message, sub):
    code, out, err = run(base(lab61) + args)
    assert code == 2 and out == "", (args, err)
    check_usage_error(one_line_error(err), "drgn-pagewalk", message, sub)


def test_usage_errors_need_no_dump():
    code, out, err = run(["vmas", "1", "2"])
    assert code == 2
    check_usage_error(one_line_error(err), "drgn-pagewalk", "unrecognized arguments: 2",
                      "vmas")
    code, out, err = run(["--no-stop", "ps"])
    assert code == 2
    check_usage_error(one_line_error(err), "drgn-pagewalk", "--no-stop goes with --qmp", "")


@pytest.mark.parametrize("args,message,sub", USAGE_ERRORS)
def test_usage_errors_in_drgn_commands(lab61, capsys, args, message, sub):
    """%pagewalk in the REPL and drgn.commands.run_command(): the same line,
    named pagewalk; the session goes on."""
    from drgn.commands import run_command

    import drgn_pagewalk.commands  # noqa: F401  (registers "pagewalk")

    run_command(program61(lab61), "pagewalk " + shlex.join(args), globals={})
    captured = capsys.readouterr()
    assert captured.out == ""
    check_usage_error(one_line_error(captured.err, "pagewalk"), "pagewalk", message, sub)


@pytest.mark.parametrize("args,message,sub", USAGE_ERRORS)
def test_usage_errors_in_gdb_run_argv(lab61, capsys, args, message, sub):
    """lx-pagewalk runs the commands through run_argv(prog_name="lx-pagewalk")."""
    from drgn_pagewalk.commands.run import run_argv

    out = io.StringIO()
    assert run_argv(program61(lab61), args, out, prog_name="lx-pagewalk") == 2
    assert out.getvalue() == ""
    captured = capsys.readouterr()
    check_usage_error(one_line_error(captured.err, "lx-pagewalk"), "lx-pagewalk",
                      message, sub)


def test_usage_errors_in_gdb_need_no_guest():
    """lx-pagewalk in gdb (no guest connected): a usage error is found
    before the guest is looked at, and is gdb's error line."""
    assert shutil.which("gdb"), "gdb is not installed (setup.sh installs it)"
    root = Path(__file__).resolve().parent.parent
    ex: List[str] = ["-ex", f"source {root / 'gdb_scripts' / 'pagewalk.py'}"]
    # argparse's errors; a command's own (a PID, a range, a PFN) need the guest
    cases = [c for c in USAGE_ERRORS if c[0] and c[2] not in ("pagemap", "rmap")
             and "--drgn" not in c[0]
             and c[1] != "a PID (or task_struct address) or --all is needed"
             and not c[1].startswith("not a PID")]
    for args, _, _ in cases:
        ex += ["-ex", "lx-pagewalk " + shlex.join(args)]
    p = subprocess.run(["gdb", "-batch", "-nx", *ex], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=120, cwd=root)
    lines = [l for l in p.stderr.splitlines() if l.startswith("lx-pagewalk")]
    assert "Traceback" not in p.stderr and len(lines) == len(cases), p.stderr
    for line, (args, message, sub) in zip(lines, cases):
        check_usage_error(line, "lx-pagewalk", message, sub)


def test_version():
    import platform

    import drgn

    from drgn_pagewalk.output.schema import tool_version

    code, out, err = run(["--version"])
    assert code == 0 and err == ""
    assert out == (f"drgn-pagewalk {tool_version()} (drgn {drgn.__version__}, "
                   f"Python {platform.python_version()})\n")
    pyproject = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert f'\nversion = "{tool_version()}"\n' in pyproject


def truth_release(lab) -> str:
    """The release the guest's kernel printed at boot (its dmesg)."""
    line = next(l for l in lab.truth_global("dmesg").splitlines() if "Linux version" in l)
    return line.split("Linux version ")[1].split()[0]


def test_version_of_a_dump(lab):
    """With -c: the dump's kernel on a second line, on every lab."""
    assert truth_release(lab) == lab.kernel_release
    code, out, err = run(["--version", "-c", str(lab.vmcore), "-s", str(lab.vmlinux)])
    assert code == 0, err
    first, second = out.splitlines()
    assert first.startswith("drgn-pagewalk ")
    assert second == f"kernel {lab.kernel_release} ({lab.vmcore})"


def test_version_in_drgn_commands(lab61, capsys):
    from drgn.commands import run_command

    from drgn_pagewalk.commands.run import version_lines

    run_command(program61(lab61), "pagewalk --version", globals={})
    out = capsys.readouterr().out
    assert out.splitlines() == [version_lines()[0], f"kernel {truth_release(lab61)}"]


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
    lab = get_lab("6.1-4level-kdump")
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


def _no_debug_info_line(release: str, subject: str, give: str) -> str:
    return (f"no debug info for {release}, the kernel of {subject}: install "
            f"linux-image-{release}-dbg (Debian) or {give}")


def test_dump_without_debug_info(lab61):
    """No -s and no debug info where drgn looks (this machine has none for
    the lab's kernel): the dump's kernel by its release, from VMCOREINFO,
    and what to install or give."""
    assert not Path(f"/usr/lib/debug/boot/vmlinux-{lab61.kernel_release}").exists()
    code, out, err = run(["-c", str(lab61.vmcore), "smaps-rollup",
                          str(lab61.pids["workload"])])
    assert code == 1 and out == ""
    assert one_line_error(err) == "drgn-pagewalk: error: " + _no_debug_info_line(
        lab61.kernel_release, str(lab61.vmcore), "give its vmlinux with -s")


def test_noinfo_dump_without_debug_info():
    """A dump without VMCOREINFO and no -s: the release is read from the
    kernel's linux_banner in the dump, and said the same way."""
    noinfo = get_lab("6.1-4level-noinfo")
    code, out, err = run(["-c", str(noinfo.vmcore), "vmas", "1"])
    assert code == 1 and out == ""
    assert one_line_error(err) == "drgn-pagewalk: error: " + _no_debug_info_line(
        noinfo.kernel_release, f"{noinfo.vmcore} (a dump without VMCOREINFO)",
        "give its vmlinux with -s")


def test_drgn_and_gdb_commands_without_debug_info(lab61, capsys):
    """%pagewalk in a drgn started without the kernel's debug info, and
    lx-pagewalk's run_argv(): refused before anything is printed, with
    the release and how that front end is given a vmlinux."""
    import logging

    import drgn
    from drgn.commands import run_command

    from drgn_pagewalk.commands.run import run_argv
    from drgn_pagewalk.errors import GIVE_VMLINUX

    logging.getLogger("drgn").setLevel(logging.CRITICAL)
    prog = drgn.Program()
    prog.set_core_dump(str(lab61.vmcore))
    run_command(prog, f"pagewalk smaps-rollup {lab61.pids['workload']}", globals={})
    captured = capsys.readouterr()
    assert captured.out == ""
    assert one_line_error(captured.err, "pagewalk") == "pagewalk: error: " + \
        _no_debug_info_line(lab61.kernel_release, "this program", GIVE_VMLINUX["pagewalk"])
    out = io.StringIO()
    assert run_argv(prog, ["vmas", "1"], out, prog_name="lx-pagewalk") == 1
    assert out.getvalue() == ""
    assert one_line_error(capsys.readouterr().err, "lx-pagewalk") == \
        "lx-pagewalk: error: " + _no_debug_info_line(
            lab61.kernel_release, "this program", GIVE_VMLINUX["lx-pagewalk"])


def test_vmlinux_without_debug_info(tmp_path, lab61):
    """A vmlinux with its symbols but no DWARF (objcopy --strip-debug):
    on a dump without VMCOREINFO the kernel is found from the symbols, and
    then the error names its release (the kernel's own VMCOREINFO) and the
    vmlinux that has no debug info; lx-pagewalk finds the kernel the same
    way (rawkernel.program_for_kernel), with its own hint."""
    from drgn_pagewalk.errors import GIVE_VMLINUX

    noinfo = get_lab("6.1-4level-noinfo")
    stripped = tmp_path / "vmlinux"
    subprocess.run(["objcopy", "--strip-debug", str(lab61.vmlinux), str(stripped)],
                   check=True)
    code, out, err = run(["-c", str(noinfo.vmcore), "-s", str(stripped), "vmas", "1"])
    assert code == 1 and out == ""
    assert one_line_error(err) == "drgn-pagewalk: error: " + _no_debug_info_line(
        lab61.kernel_release, f"the dump ({stripped} has none)",
        GIVE_VMLINUX["drgn-pagewalk"])
    code, out, err = run(["-c", str(lab61.vmcore), "-s", str(stripped), "vmas", "1"])
    assert code == 1 and out == ""
    assert one_line_error(err) == "drgn-pagewalk: error: " + _no_debug_info_line(
        lab61.kernel_release, f"{lab61.vmcore} ({stripped} has none)",
        GIVE_VMLINUX["drgn-pagewalk"])
    # lx-pagewalk: the kernel found in the guest's memory by the vmlinux's
    # symbols, then its debug info (program_from_memory() -> program_for_kernel())
    from drgn_pagewalk.errors import PagewalkError
    from drgn_pagewalk.openers.noinfo import ElfDump, find_dump_kernel
    from drgn_pagewalk.openers.rawkernel import program_for_kernel

    dump = ElfDump(str(noinfo.vmcore))
    found, _ = find_dump_kernel(dump, str(stripped))
    with pytest.raises(PagewalkError) as e:
        program_for_kernel(found, dump.segments(), [str(stripped)], False,
                           "the guest's memory", "lx-pagewalk")
    assert str(e.value) == _no_debug_info_line(
        lab61.kernel_release, f"the guest's memory ({stripped} has none)",
        GIVE_VMLINUX["lx-pagewalk"])


class _PageSize16k:
    """A lab Program as a 16 KiB-page kernel's would look to the tool (its
    PAGE_SIZE, from VMCOREINFO's PAGESIZE=16384): an extra test of the
    refusal only; no lab of such a kernel exists yet."""

    def __init__(self, prog) -> None:
        self._prog = prog

    def __getattr__(self, name):
        return getattr(self._prog, name)

    def __getitem__(self, name):
        if name == "PAGE_SIZE":
            return 16384
        return self._prog[name]


def test_a_page_size_not_handled_is_refused(lab61, capsys):
    """Refused in one line before anything is printed, by every front end
    (run_argv() under each name), for every command; the lab's own dump
    reads PAGE_SIZE 4096 from its VMCOREINFO."""
    from drgn_pagewalk.commands.run import run_argv

    prog = program61(lab61)
    assert int(prog["PAGE_SIZE"]) == 4096
    fake = _PageSize16k(prog)
    pid = str(lab61.pids["workload"])
    for name in ("drgn-pagewalk", "pagewalk", "lx-pagewalk"):
        for argv in (["ps"], ["smaps-rollup", pid], ["pagemap", pid], ["vtop", "0x400000", pid]):
            out = io.StringIO()
            assert run_argv(fake, argv, out, prog_name=name) == 1
            assert out.getvalue() == ""
            assert one_line_error(capsys.readouterr().err, name) == (
                f"{name}: error: this kernel has 16 KiB pages: not supported "
                "(4 KiB pages only)")
