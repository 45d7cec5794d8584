"""The package's layout: one folder per layer, imports pointing one way.

Every ``import`` of the package (at module level and inside functions,
relative or absolute, in drgn_pagewalk/ and in gdb_scripts/pagewalk.py) is
resolved to a module.  The module graph has no cycle, a module imports only
from its own layer or lower ones (LAYERS, highest first), and no module
outside ops/, arch/ and walker/walk.py is longer than MAX_LINES.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "drgn_pagewalk"
#: front ends outside the package, checked as the package's front ends are
SCRIPTS = [ROOT / "gdb_scripts" / "pagewalk.py"]

#: Highest first.  A module's layer is the first whose prefix matches its
#: name (relative to drgn_pagewalk; "" is the package itself).
LAYERS: List[Tuple[str, List[str]]] = [
    # the front ends, and beside them the ways into kernel memory
    ("front ends", ["", "cli", "commands.__init__", "openers", "gdb_scripts"]),
    ("commands", ["commands"]),
    ("ops", ["ops"]),
    ("walker", ["walker"]),
    ("target", ["target"]),
    ("arch", ["arch"]),
    ("output", ["output"]),
    ("errors", ["errors"]),
]

MAX_LINES = 600
#: allowed to be longer: the ports of the kernel's own long files
LONG = ("ops.", "arch.", "walker.walk")


def _modules() -> Dict[str, Tuple[Path, bool]]:
    """name -> (path, is a package's __init__), names relative to the
    package ("" for drgn_pagewalk itself, "ops.smaps", ...)."""
    mods = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        init = parts[-1] == "__init__"
        if init:
            parts.pop()
        mods[".".join(parts)] = (path, init)
    for path in SCRIPTS:
        mods["gdb_scripts." + path.stem] = (path, False)
    return mods


def _resolve(dotted: str, modules: Dict[str, Tuple[Path, bool]]) -> Optional[str]:
    """The module an absolute dotted name is, or is in (``drgn_pagewalk.x.y``
    -> ``x.y``, or ``x`` when y is a name in x); None outside the package."""
    if dotted != "drgn_pagewalk" and not dotted.startswith("drgn_pagewalk."):
        return None
    rel = dotted[len("drgn_pagewalk."):] if dotted != "drgn_pagewalk" else ""
    while rel not in modules and rel:
        rel = rel.rpartition(".")[0]
    return rel


def _imported(name: str, is_init: bool, node: ast.AST,
              modules: Dict[str, Tuple[Path, bool]]) -> Iterator[Optional[str]]:
    """The package's modules an import statement in module ``name`` names
    (the packages a submodule's import runs first are not counted: every
    module is in drgn_pagewalk, and a package's own modules run inside it)."""
    if isinstance(node, ast.Import):
        for a in node.names:
            yield _resolve(a.name, modules)
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            assert not name.startswith("gdb_scripts."), name
            package = name.split(".") if name else []
            if not is_init:
                package = package[:-1]
            package = package[:len(package) - (node.level - 1)]
            base = ".".join(["drgn_pagewalk"] + package + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        for a in node.names:
            yield _resolve(base + "." + a.name, modules)


def import_graph() -> Dict[str, Set[str]]:
    """module -> the modules it imports, every import statement counted."""
    modules = _modules()
    graph: Dict[str, Set[str]] = {}
    for name, (path, is_init) in modules.items():
        deps: Set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                deps.update(m for m in _imported(name, is_init, node, modules)
                            if m is not None and m != name)
        graph[name] = deps
    return graph


def layer_of(name: str, is_init: bool = False) -> int:
    """The rank of a module's layer: 0 the highest."""
    candidates = [name + ".__init__"] if is_init else []
    candidates.append(name)
    for rank, (_, prefixes) in enumerate(LAYERS):
        for c in candidates:
            for p in prefixes:
                if c == p or (p and c.startswith(p + ".") and not p.endswith("__init__")):
                    return rank
    raise AssertionError(f"{name or 'drgn_pagewalk'} is in no layer: add it to LAYERS")


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    """One cycle of the graph, as a path back to its start, or None."""
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(m: str) -> Optional[List[str]]:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def _show(name: str) -> str:
    return "drgn_pagewalk" + ("." + name if name else "") if not name.startswith(
        "gdb_scripts.") else name


def test_the_graph_sees_every_kind_of_import():
    graph = import_graph()
    assert "walker.walk" in graph["ops.smaps"]           # relative, module level
    assert "target.drgn_target" in graph["commands.page"]  # relative, in a function
    assert "commands.drgn_code" in graph["commands.run"]  # ``from .x import y``
    assert "walker.walk" in graph[""]                     # ``from .walker import walk``
    assert "openers.rawkernel" in graph["gdb_scripts.pagewalk"]  # absolute, in a function
    assert not graph["errors"]


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(map(_show, cycle or []))


def test_imports_point_down_the_layers():
    modules = _modules()
    wrong = []
    for name, deps in import_graph().items():
        rank = layer_of(name, modules[name][1])
        for d in sorted(deps):
            if layer_of(d, modules[d][1]) < rank:
                wrong.append(f"{_show(name)} ({LAYERS[rank][0]}) imports {_show(d)} "
                             f"({LAYERS[layer_of(d, modules[d][1])][0]})")
    assert wrong == []


def test_walker_core_does_not_import_drgn():
    for name in ("walker.walk", "target.base", "target.kernel", "arch.base", "arch.x86_64",
                 "arch.arm64"):
        path = _modules()[name][0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "drgn" for a in node.names), name
            elif isinstance(node, ast.ImportFrom) and not node.level:
                assert (node.module or "").split(".")[0] != "drgn", name


def test_modules_are_short():
    long = []
    for name, (path, _) in _modules().items():
        if name.startswith("gdb_scripts.") or name.startswith(LONG) or name == "walker.walk":
            continue
        n = len(path.read_text().splitlines())
        if n > MAX_LINES:
            long.append(f"{path.relative_to(ROOT)}: {n} lines")
    assert long == []
