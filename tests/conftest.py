"""Fixtures: every lab dump (built on first use; a lab that cannot be built
fails its tests with the reason, never skips them)."""

from __future__ import annotations

from typing import Any, Dict

import pytest

from vmcores.build import manifest
from vmcores.lab import ARM64_LAB_NAMES, LAB_NAMES, Lab, LabError

from .counts import COUNTS
from .labcache import get_lab, program


#: The labs booted from a recipe; their kdump and noinfo twins are the same
#: boot's memory in another dump format.
BOOTED = [name for name in LAB_NAMES if name in manifest()["labs"]]
#: Test modules that run on every dump, twins included: the /proc reports
#: and the basics must come out the same from every kind of dump.  The
#: others run on the booted labs only (a twin has the same page tables).
EVERY_DUMP = {"test_proc_lab", "test_lab"}
#: The arm64 labs and the booted ones among them.
ARM64_BOOTED = [name for name in ARM64_LAB_NAMES if name in manifest()["labs"]]
#: Test modules of what only x86-64 has: the x86 page-table dumper checked
#: against QEMU's x86 "info mem", QEMU x86 dumps without VMCOREINFO, and
#: the labs only built on x86-64 (makedumpfile twins, damaged copies).
X86_ONLY = {"test_ptdump_lab", "test_noinfo_lab", "test_filtered_lab", "test_damaged_lab"}
#: Test modules of what only arm64 has: arch/arm64/mm/ptdump.c checked
#: against the arm64 kernels' own markers and boot logs.
ARM64_ONLY = {"test_ptdump_arm64_lab"}


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers", "arm64_only: a test of what only arm64 has (arch/arm64/mm/ptdump.c); "
        "it runs on the booted arm64 labs only")


def pytest_generate_tests(metafunc: Any) -> None:
    """``lab``: the labs a test module runs on (EVERY_DUMP or BOOTED, of
    every architecture unless the module is X86_ONLY; ARM64_ONLY modules and
    arm64_only tests: the booted arm64 labs only)."""
    if "lab" in metafunc.fixturenames:
        module = metafunc.module.__name__.rsplit(".", 1)[-1]
        if module in ARM64_ONLY or metafunc.definition.get_closest_marker("arm64_only"):
            metafunc.parametrize("lab", ARM64_BOOTED, indirect=True, scope="session")
            return
        names = LAB_NAMES if module in EVERY_DUMP else BOOTED
        if module not in X86_ONLY and not metafunc.definition.get_closest_marker("x86_only"):
            names = names + (ARM64_LAB_NAMES if module in EVERY_DUMP else ARM64_BOOTED)
        metafunc.parametrize("lab", names, indirect=True, scope="session")


@pytest.fixture(scope="session")
def lab(request: Any) -> Lab:
    return get_lab(request.param)


@pytest.fixture
def prog(lab: Lab) -> Any:
    return program(lab)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if COUNTS:
        terminalreporter.section("compared with the real kernels")
        for what, n in sorted(COUNTS.items()):
            terminalreporter.write_line(f"{n:>10}  {what}")


#: The lab configurations booted as live guests (vmcores/live.py): x86-64's
#: four and arm64's three.
LIVE_NAMES = ["6.1-4level", "6.1-5level", "6.12-4level", "6.12-5level",
              "6.1-arm64", "6.12-arm64-4level", "6.12-arm64-5level",
              "6.12-arm64-16k", "6.12-arm64-16k-3level"]


@pytest.fixture(scope="session", params=LIVE_NAMES)
def live(request: Any) -> Dict[str, Any]:
    """A running lab guest (vmcores/live.py): its live.json as a dict, with
    ``truth`` (Path of the guest's ground truth).  Booted on first use and
    stopped when the tests that use it are done."""
    from vmcores import live as live_lab

    name = request.param
    try:
        meta = live_lab.start(name)
    except LabError as e:
        pytest.fail(f"live guest {name} cannot be started: {e}", pytrace=False)
    request.addfinalizer(lambda: live_lab.stop(name))
    meta = dict(meta)
    meta["truth"] = live_lab.live_dir(name) / "truth"
    return meta

