"""drgn-pagewalk on the running kernel (/proc/kcore, no -c/--qmp) inside a
lab guest (vmcores/local.py): every report equals the guest's own /proc
file read right beside it, vtop equals /proc/PID/pagemap, and the local
kernel's error paths (not root, no debug info) are one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest

from vmcores.build import LabError
from vmcores.local import DEFAULT, run_local

from .counts import count

STATUS_MEM = ("VmPeak", "VmSize", "VmLck", "VmPin", "VmHWM", "VmRSS", "RssAnon",
              "RssFile", "RssShmem", "VmData", "VmStk", "VmExe", "VmLib", "VmPTE",
              "VmSwap", "HugetlbPages")
PFN_MASK = (1 << 55) - 1


@pytest.fixture(scope="session")
def local() -> Dict[str, Any]:
    """The guest's results (built once per recipe; a failure fails loudly)."""
    try:
        meta = run_local(DEFAULT)
    except LabError as e:
        pytest.fail(f"local-kernel guest {DEFAULT} cannot be run: {e}", pytrace=False)
    return meta


def steps(local: Dict[str, Any], kind: str) -> List[Dict[str, Any]]:
    found = [s for s in local["steps"] if s["kind"] == kind]
    assert found, f"no {kind} steps in the guest's results"
    return found


def read(local: Dict[str, Any], step: Dict[str, Any], name: str) -> bytes:
    return (Path(local["dir"]) / step["dir"] / name).read_bytes()


def test_the_guest_ran_its_own_kernel(local):
    assert local["guest_release"] == local["kernel_release"]
    # nothing was swapped out while the tool ran: the workload stood still
    assert local["pswpout_after"] == local["pswpout_before"]
    count("local-kernel boot-to-results seconds", round(local["boot_to_results_seconds"]))


def test_local_reports_equal_the_guests_proc(local):
    seen = set()
    for step in steps(local, "report"):
        out, err = read(local, step, "stdout"), read(local, step, "stderr")
        before, after = read(local, step, "proc.before"), read(local, step, "proc.after")
        label = step["label"]
        assert step["status"] == 0, f"{label}: {err.decode(errors='replace')}"
        assert b"Traceback" not in err, label
        assert before == after, f"{label}: the guest's /proc changed around the tool"
        if step["proc_file"] == "status":
            expected = b"".join(l + b"\n" for l in after.splitlines()
                                if l.split(b":")[0].decode() in STATUS_MEM)
        else:
            expected = after
        assert out == expected, f"{label} differs from /proc/{step['pid']}/{step['proc_file']}"
        count("local-kernel (/proc/kcore) lines identical", len(out.splitlines()))
        seen.add((step["role"], step["proc_file"]))
    assert seen == {(r, f) for r in ("workload", "child")
                    for f in ("smaps_rollup", "smaps", "numa_maps", "status")}


def test_local_vtop_equals_pagemap(local):
    present = 0
    for step in steps(local, "vtop"):
        label = step["label"]
        err = read(local, step, "stderr").decode(errors="replace")
        assert step["status"] == 0, f"{label}: {err}"
        entry = step["pagemap_after"]
        assert entry == step["pagemap_before"], f"{label}: pagemap changed around the tool"
        j = json.loads(read(local, step, "stdout"))["results"][0]  # docs/json.md
        if entry >> 63:
            assert j["physical"] >> 12 == entry & PFN_MASK, label
            assert j["physical"] & 0xFFF == step["addr"] & 0xFFF, label
            present += 1
        else:
            assert entry >> 62 & 1 and j["stop"]["reason"] == "swap entry", label
        count("local-kernel vtop samples equal to pagemap", 1)
    assert present >= 5


def _error(local: Dict[str, Any], label: str) -> str:
    step = next(s for s in steps(local, "error") if s["label"] == label)
    err = read(local, step, "stderr").decode()
    lines = err.splitlines()
    assert step["status"] == 1 and len(lines) == 1 and err.endswith("\n"), (label, err)
    assert "Traceback" not in err and read(local, step, "stdout") == b"", label
    count("local-kernel error paths", 1)
    return lines[0]


def test_local_not_root(local):
    assert _error(local, "error-not-root") == \
        "drgn-pagewalk: error: reading the running kernel needs root (/proc/kcore)"


def test_local_no_debug_info(local):
    rel = local["kernel_release"]
    assert _error(local, "error-no-debuginfo") == (
        f"drgn-pagewalk: error: no debug info for {rel}, the kernel of this machine: "
        f"install linux-image-{rel}-dbg (Debian) or give its vmlinux with -s")
