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


def kernel_vmcoreinfo_number(prog: Any, name: str) -> int:
    """NUMBER(name) of the dump's kernel's own VMCOREINFO (vmcoreinfo_data):
    the kernel's word on its paging mode, not the tool's."""
    import re

    info = prog["vmcoreinfo_data"].string_().decode()
    return int(re.search(r"NUMBER\(%s\)=(-?\w+)" % re.escape(name), info).group(1), 0)


def root_level(lab: Any, prog: Any) -> str:
    """The level of the top table the MMU walks, as the kernel names its
    entries: "PGD", but "P4D" on an arm64 kernel of 4 KiB pages built for
    52-bit VAs (5 levels) running with 48 (its pgd is folded into the p4d
    table page: pgd_to_folded_p4d()).  With 16 KiB pages a 52-bit kernel
    has 4 levels and runs with 47 bits in 3 (p4d_to_folded_pud(): the pud
    table is the pgd's page, whose entries vtop still shows as the PGD's,
    then the PUD's)."""
    if lab.arch == "arm64" and lab.page_size == 4096 \
            and kernel_vmcoreinfo_number(prog, "VA_BITS") == 52 \
            and 64 - kernel_vmcoreinfo_number(prog, "TCR_EL1_T1SZ") == 48:
        return "P4D"
    return "PGD"


def user_address_bits(lab: Any, prog: Any) -> int:
    """Bits of a user address: x86-64 47 or 56 (TASK_SIZE_MAX), arm64 the
    VA bits in use (64 - TCR_EL1.T1SZ)."""
    if lab.arch == "arm64":
        return 64 - kernel_vmcoreinfo_number(prog, "TCR_EL1_T1SZ")
    return 56 if lab.levels == 5 else 47
