"""Every command's ``--format json`` on every lab against the schema
written down in drgn_pagewalk/output/schema.py (docs/json.md shows the same
tables): one document, the envelope, one result per process or target, the
command's data key, integers as integers."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any, Dict, List

import pytest

from drgn_pagewalk.commands.run import run_argv
from drgn_pagewalk.output.schema import COMMANDS, SCHEMA_VERSION, markdown, validate

from .counts import count

DOCS = Path(__file__).resolve().parent.parent / "docs" / "json.md"


def _argvs(lab: Any) -> Dict[str, List[str]]:
    """One command line per JSON form: the workload process, a small range
    for pagemap and walk, init (10 vmas) for vm -p."""
    pid = str(lab.pids["workload"])
    v = lab.meta["vmas"]
    anon = v["anon_partial"]["start"]
    thp = v["thp"]["start"]
    return {
        "ps": ["ps"],
        "vmas": ["vmas", pid],
        "smaps": ["smaps", pid],
        "smaps-rollup": ["smaps-rollup", pid],
        "pagemap": ["pagemap", pid, hex(anon), hex(anon + (64 << 12))],
        "numa-maps": ["numa-maps", pid],
        "status": ["status", pid, "--walk"],
        "vtop": ["vtop", hex(anon), pid],
        "vm": ["vm", pid],
        "vm -p": ["vm", "-p", "1"],
        "vm -p --fold": ["vm", "-p", "--fold", "1"],
        "rmap": ["rmap", lab.meta["tmpfs_file"]],
        "walk": ["walk", pid, hex(thp), hex(thp + (2 << 20))],
        "ptdump": ["ptdump"],
        "ptdump --checkwx": ["ptdump", "--checkwx"],
        "ptcheck": ["ptcheck", pid],
    }


def run_json(prog: Any, argv: List[str]) -> Any:
    out = io.StringIO()
    status = run_argv(prog, ["--format", "json"] + argv, out)
    assert status == 0, argv
    return json.loads(out.getvalue())


def test_every_command_follows_the_schema(lab, prog):
    argvs = _argvs(lab)
    assert set(argvs) == set(COMMANDS)
    if lab.arch == "arm64":  # arm64's ptdump.c dumps init_mm only
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err):
            assert run_argv(prog, ["--format", "json", "ptdump", "--pid", "1"], out) == 2
        assert "only the kernel page table" in err.getvalue() and not out.getvalue()
    for form, argv in argvs.items():
        doc = run_json(prog, argv)
        assert validate(doc) == [], (form, validate(doc)[:5])
        assert doc["command"] == form and doc["schema"] == SCHEMA_VERSION
        assert doc["kernel"] == lab.kernel_release and doc["missing"] == []
        assert len(doc["results"]) == 1, form
        data = doc["results"][0][COMMANDS[form].key]
        assert data or form in ("ptcheck", "ptdump --checkwx"), form
        count("JSON outputs validated against the schema")
    # a result per process, and the other two keys of --user-pgd and rmap --pfn
    doc = run_json(prog, ["smaps-rollup", "--all"])
    assert validate(doc) == [] and len(doc["results"]) >= len(lab.pids)
    assert [r["pid"] for r in doc["results"]] == sorted(r["pid"] for r in doc["results"])
    vtop = doc = run_json(prog, argvs["vtop"])["results"][0]
    doc = run_json(prog, ["rmap", "--pfn", hex(vtop["pfn"])])
    assert validate(doc) == [] and doc["results"][0]["page"]["pfn"] == vtop["pfn"]
    argv = ["vtop", hex(lab.meta["vmas"]["anon_partial"]["start"]),
            str(lab.pids["workload"]), "--user-pgd"]
    if lab.arch == "x86_64":
        doc = run_json(prog, argv)
        assert validate(doc) == [] and doc["results"][0]["user_pgd"] is True
    else:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            assert run_argv(prog, ["--format", "json"] + argv, io.StringIO()) == 1
        assert "no PTI user pgd" in err.getvalue()


def test_ps_version(lab, prog):
    import drgn

    from drgn_pagewalk.output.schema import tool_version

    doc = run_json(prog, ["ps"])
    assert doc["results"][0]["version"] == {
        "tool": tool_version(), "drgn": drgn.__version__, "kernel": lab.kernel_release}
    assert doc["tool"] == {"name": "drgn-pagewalk", "version": tool_version()}


def test_the_schema_rejects_what_it_should():
    """validate() itself: wrong types, missing keys, an unknown command."""
    ok = {"schema": SCHEMA_VERSION, "command": "smaps-rollup",
          "tool": {"name": "drgn-pagewalk", "version": "0"}, "kernel": "6.1",
          "results": [{"title": "t", "pid": 1, "comm": "init", "task": 1,
                       "fields": {"start": 0, "end": 1, "Rss": 4, "Pss": 4},
                       "notes": []}],
          "missing": [{"context": None, "left_out": "x", "what": "y", "address": 5}]}
    assert validate(ok) == []
    bad = json.loads(json.dumps(ok))
    bad["results"][0]["pid"] = "1"
    assert validate(bad) and "pid" in validate(bad)[0]
    bad = json.loads(json.dumps(ok))
    bad["results"][0]["fields"]["Rss"] = True  # a bool is not an int
    assert validate(bad)
    bad = json.loads(json.dumps(ok))
    del bad["results"][0]["notes"]
    assert validate(bad)
    bad = json.loads(json.dumps(ok))
    bad["command"] = "nope"
    assert validate(bad)
    assert validate([ok])  # a bare list is not a document


@pytest.mark.parametrize("form", sorted(COMMANDS))
def test_the_docs_show_the_schema(form):
    """docs/json.md has, for every form, the field table schema.py makes."""
    text = DOCS.read_text()
    assert f"\n## `{form}`\n" in text, form
    assert markdown(form) in text, form
