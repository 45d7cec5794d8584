"""Fixtures: every lab dump (built on first use; a lab that cannot be built
fails its tests with the reason, never skips them)."""

from __future__ import annotations

from typing import Any, Dict

import pytest

from vmcores.lab import LAB_NAMES, Lab, LabError, ensure_lab

from .counts import COUNTS

_programs: Dict[str, Any] = {}


@pytest.fixture(scope="session", params=LAB_NAMES)
def lab(request: Any) -> Lab:
    try:
        return ensure_lab(request.param)
    except LabError as e:
        pytest.fail(f"lab {request.param} cannot be built: {e}", pytrace=False)


@pytest.fixture
def prog(lab: Lab) -> Any:
    if lab.name not in _programs:
        _programs[lab.name] = lab.program()
    return _programs[lab.name]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if COUNTS:
        terminalreporter.section("compared with the real kernels")
        for what, n in sorted(COUNTS.items()):
            terminalreporter.write_line(f"{n:>10}  {what}")
