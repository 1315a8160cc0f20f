"""The simulator's shape: no import circle, short modules, one TwiML interpreter."""

from __future__ import annotations

import ast
from pathlib import Path

from simulator.calls.runner import CallTarget
from simulator.conferences.announce import AnnouncementTarget
from simulator.twiml.interpreter import Target

PACKAGE = Path(__file__).resolve().parents[2] / "simulator"
MAX_LINES = 400


def modules() -> dict[str, Path]:
    """Every simulator module by dotted name (a package by its own name)."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The simulator modules ``name`` imports anywhere in its source (TYPE_CHECKING and
    function-level imports included); ``from pkg import mod`` counts as importing mod."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            base = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        else:
            continue
        found |= {target for target in targets if target in known and target != name}
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return out


def test_the_simulator_has_no_import_circle():
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    assert graph["simulator.calls.runner"] >= {"simulator.twiml.interpreter",
                                               "simulator.conferences.lifecycle"}
    assert cycles(graph) == []


def test_no_simulator_module_is_over_400_lines():
    lengths = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}


def test_one_twiml_interpreter_serves_calls_and_announcements():
    assert issubclass(CallTarget, Target) and issubclass(AnnouncementTarget, Target)
    parsing = {name for name, path in modules().items()
               if "parse_document" in path.read_text() and not name.startswith("simulator.twiml")}
    assert parsing == set(), "only simulator.twiml.interpreter turns webhook answers into verbs"
