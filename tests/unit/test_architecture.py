"""The import graph of the plutus package keeps its layers: entry points -> use cases -> core <- adapters.

Every import counts, including the ones inside functions (deferred for cold start), since a deferred import
is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "plutus" / "plutus"
USE_CASES = {"plutus.ingest.accept", "plutus.ingest.accept_batch", "plutus.consumer.processor"}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    modules = {_module(p) for p in PACKAGE.rglob("*.py")}
    for path in PACKAGE.rglob("*.py"):
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            edges |= {n for n in names if n in modules}
        graph[_module(path)] = edges - {_module(path)}
    return graph


GRAPH = _graph()


def _edges(prefix: str) -> set[tuple[str, str]]:
    return {(m, d) for m, deps in GRAPH.items() if m.startswith(prefix) for d in deps}


def test_the_graph_is_read_from_the_package() -> None:
    # The checks below are vacuous if nothing was parsed.
    assert "plutus.bootstrap" in GRAPH and "plutus.adapters.aws" in GRAPH["plutus.bootstrap"]
    assert len(GRAPH) > 50


def test_the_core_depends_on_nothing_but_itself() -> None:
    outside = {(m, d) for m, d in _edges("plutus.core") if not d.startswith("plutus.core")}
    assert outside == set()


def test_domains_never_reach_adapters_or_the_composition_root() -> None:
    bad = {
        (m, d) for m, d in _edges("plutus.domains") if d.startswith(("plutus.adapters", "plutus.bootstrap"))
    }
    assert bad == set()


def test_use_cases_never_build_clients() -> None:
    bad = {(m, d) for m, deps in GRAPH.items() if m in USE_CASES for d in deps if d == "plutus.adapters.aws"}
    assert bad == set()


def test_only_entry_points_and_devtools_know_the_composition_root() -> None:
    users = {m for m, deps in GRAPH.items() if "plutus.bootstrap" in deps}
    assert users == {"plutus.ingest.entry", "plutus.consumer.entry", "plutus.reads.entry"}


def test_there_is_no_import_cycle() -> None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(GRAPH.get(node, ())):
            # A package's __init__ importing its own submodule is not a cycle of layers.
            if dep.startswith(node + "."):
                continue
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert cycles == []
