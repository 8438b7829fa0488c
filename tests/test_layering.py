"""The import graph of engine/: its arrows all point down.

Each folder of ``engine/`` (and each top-level module) is a node; ``a -> b`` when a module of
``a`` imports one of ``b``. No node may reach itself, and the layers below the case aggregate
(workflow rules, the event chain, the clocks) never import the case's or assignment's tables.
The graph is read from the source with ``ast``, so the check is exact and costs milliseconds.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

FACES = ("api", "workers")
ENGINE = Path(__file__).resolve().parent.parent / "engine"


def _node(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "engine" else None


def import_graph() -> dict[str, set[str]]:
    """Node → the nodes it imports (engine/ only, itself excluded)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in ENGINE.rglob("*.py"):
        rel = path.relative_to(ENGINE.parent).with_suffix("").parts
        me = rel[1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                other = _node(name)
                if other is not None and other != me:
                    graph[me].add(other)
    return graph


def _cycle_from(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A path start → … → start, if there is one."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_engine__no_folder_or_module_imports_one_that_imports_it_back() -> None:
    graph = import_graph()
    cycles = [c for n in sorted(graph) if (c := _cycle_from(graph, n))]
    assert not cycles, "import cycles in engine/: " + "; ".join(" -> ".join(c) for c in cycles)


def test_lower_layers__never_import_the_case_or_assignment_tables() -> None:
    offenders = []
    for folder in ("workflow", "event", "deadline", "rollup"):
        for path in (ENGINE / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if "engine.case" in text or "engine.assignment" in text:
                offenders.append(str(path.relative_to(ENGINE.parent)))
    assert not offenders, f"these import the case aggregate: {offenders}"


def test_engine__imports_no_face() -> None:
    faces = [str(p) for p in ENGINE.rglob("*.py") if _imports_face(p)]
    assert import_graph(), "the graph was read"
    assert not faces, f"engine/ imports api/ or workers/: {faces}"


def _imports_face(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FACES:
            return True
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] in FACES for a in node.names):
            return True
    return False
