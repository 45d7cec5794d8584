"""base.Arch is the whole contract between the architectures and the rest:
nothing outside drgn_pagewalk/arch/ reads an attribute of an arch that
base.Arch does not declare (ops/ptdump.py is x86-64's dump_pagetables.c and
uses X86_64 itself, ops/ptdump_arm64.py arm64's ptdump.c and Arm64's layout),
and every arch implements every method base.Arch
leaves abstract."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from drgn_pagewalk.arch.arm64 import Arm64
from drgn_pagewalk.arch.base import Arch
from drgn_pagewalk.arch.x86_64 import X86_64

PACKAGE = Path(__file__).resolve().parent.parent / "drgn_pagewalk"
X86_MODULES = {"ptdump.py", "ptdump_arm64.py"}


def _arch_attributes():
    """(attribute, file) of every ``<...>.arch.ATTR`` / ``arch.ATTR`` read."""
    for path in PACKAGE.rglob("*.py"):
        if "arch" in path.relative_to(PACKAGE).parts[:-1] or path.name in X86_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute):
                v = node.value
                name = v.id if isinstance(v, ast.Name) else getattr(v, "attr", None)
                if name == "arch":
                    yield node.attr, path.name


def test_nothing_outside_arch_uses_more_than_base_arch():
    used = list(_arch_attributes())
    assert len(used) > 100  # the walker and the ops do read the arch
    missing = sorted({f"{attr} ({f})" for attr, f in used if not hasattr(Arch, attr)})
    assert missing == []


def test_every_arch_implements_the_abstract_methods():
    abstract = []
    for name, member in inspect.getmembers(Arch, inspect.isfunction):
        src = inspect.getsource(member)
        # hugepd (CONFIG_ARCH_HAS_HUGEPD: powerpc) is on neither arch
        if "raise NotImplementedError" in src and not name.startswith("hugepd"):
            abstract.append(name)
    assert len(abstract) > 10
    for cls in (X86_64, Arm64):
        for name in abstract:
            assert getattr(cls, name) is not getattr(Arch, name), (cls.__name__, name)
