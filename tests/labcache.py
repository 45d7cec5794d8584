"""The labs and their drgn Programs, made once per test session and shared
by the fixtures (conftest.py) and the tests that name labs themselves (the
twins).  A lab that cannot be built fails the test with the reason, never
skips it."""

from __future__ import annotations

from typing import Any, Dict

import pytest

from vmcores.lab import Lab, LabError, ensure_lab

_labs: Dict[str, Lab] = {}
_programs: Dict[str, Any] = {}


def get_lab(name: str) -> Lab:
    """The lab (or twin) ``name``, built on first use."""
    if name not in _labs:
        try:
            _labs[name] = ensure_lab(name)
        except LabError as e:
            pytest.fail(f"lab {name} cannot be built: {e}", pytrace=False)
    return _labs[name]


def program(lab: Lab) -> Any:
    """The lab's drgn Program, opened once."""
    if lab.name not in _programs:
        _programs[lab.name] = lab.program()
    return _programs[lab.name]
