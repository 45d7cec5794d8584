"""``--drgn``: the Python code a subcommand prints instead of running,
executed against the lab's Program, gives what the command itself gives:
the same /proc text, or the same data as the command's JSON."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any, Dict, List, Tuple

from drgn_pagewalk.commands.run import run_argv

from .counts import count
from .test_json_schema import _argvs


def _code(prog: Any, argv: List[str]) -> str:
    out = io.StringIO()
    assert run_argv(prog, argv + ["--drgn"], out) == 0, argv
    return out.getvalue()


def _exec(prog: Any, argv: List[str]) -> Tuple[str, Dict[str, Any]]:
    """Run the code ``argv --drgn`` prints; its stdout and its variables."""
    code = _code(prog, argv)
    ns: Dict[str, Any] = {"prog": prog}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"<{' '.join(argv)} --drgn>", "exec"), ns)
    return out.getvalue(), ns


def _run(prog: Any, argv: List[str]) -> str:
    out = io.StringIO()
    assert run_argv(prog, argv, out) == 0, argv
    return out.getvalue()


def _json(prog: Any, argv: List[str]) -> Dict[str, Any]:
    return json.loads(_run(prog, ["--format", "json"] + argv))["results"][0]


def test_proc_text_equals_the_command(lab, prog):
    a = _argvs(lab)
    for argv in (a["smaps"], a["smaps-rollup"], a["numa-maps"], a["status"][:2],
                 a["pagemap"], a["ptdump"]):
        argv = ["--format", "proc"] + argv
        got, _ = _exec(prog, argv)
        assert got and got == _run(prog, argv), argv
        count("--drgn code run: output equal to the command's")


def test_data_equals_the_json(lab, prog):
    a = _argvs(lab)
    _, ns = _exec(prog, a["smaps-rollup"])
    assert ns["fields"] == _json(prog, a["smaps-rollup"])["fields"]
    _, ns = _exec(prog, a["vtop"])
    j = _json(prog, a["vtop"])
    rec = json.loads(json.dumps(ns["record"]))
    assert rec["levels"] == j["levels"] and rec["physical"] == j["physical"]
    assert rec["page"] == j["page"]
    _, ns = _exec(prog, a["rmap"])
    assert [list(r) for r in ns["rows"]] == \
        [list(r.values()) for r in _json(prog, a["rmap"])["mappings"]]
    printed, ns = _exec(prog, a["vm -p --fold"])
    runs = _json(prog, a["vm -p --fold"])["runs"]
    assert printed.splitlines() == [str(tuple(r.values())) for r in runs]
    count("--drgn code run: data equal to the JSON", 4)


def test_every_form_prints_code_that_compiles(lab, prog):
    for form, argv in _argvs(lab).items():
        for extra in ([], ["--format", "proc"]):
            code = _code(prog, extra + argv)
            compile(code, form, "exec")
            assert "import" in code and "prog" in code, form
    for argv in (["smaps-rollup", "--all"], ["ptcheck", "--kernel"],
                 ["rmap", "--pfn", "0x1000"], ["vtop", "0xffffffff81000000", "--kernel"],
                 ["walk", str(lab.pids["workload"])]):
        compile(_code(prog, argv), " ".join(argv), "exec")
    out, _ = _exec(prog, ["smaps-rollup", "--all", "--format", "proc"])
    assert out == _run(prog, ["smaps-rollup", "--all", "--format", "proc"])
