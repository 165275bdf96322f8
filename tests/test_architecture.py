"""The structure reads one way: no import cycles, data flows source → store → clean → extract → sink,
and settings are read from the environment in one place."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pipelines"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.AST) -> set[str]:
    """Every ``pipelines`` module imported anywhere in the file (inside functions too), except
    under ``if TYPE_CHECKING:``, which never runs."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("pipelines"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pipelines"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)  # "from pipelines.x import y" may be a module
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {
        name: {target for target in _runtime_imports(ast.parse(path.read_text())) if target in modules and target != name}
        for name, path in modules.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_the_import_graph_has_no_cycles():
    graph = import_graph()
    assert len(graph) > 40  # the walk did see the package
    assert _cycles(graph) == []


def test_data_flows_one_way_between_the_stages():
    graph = import_graph()
    store_modules = [name for name in graph if name.startswith("pipelines.store")]
    for module in store_modules:
        reached = _reachable(graph, module)
        for later_stage in ("pipelines.extraction", "pipelines.cleaning", "pipelines.pipeline", "pipelines.sinks"):
            assert not any(target.startswith(later_stage) for target in reached), (module, later_stage)
    for module in (name for name in graph if name.startswith("pipelines.sources")):
        reached = _reachable(graph, module)
        assert not any(target.startswith(("pipelines.extraction", "pipelines.cleaning", "pipelines.sinks")) for target in reached), module
    for module in (name for name in graph if name.startswith(("pipelines.cleaning", "pipelines.extraction"))):
        assert not any(target.startswith(("pipelines.store", "pipelines.sinks", "pipelines.orchestration")) for target in _reachable(graph, module)), module


def test_only_settings_reads_newsflow_variables():
    reads = re.compile(r"""(?:environ(?:\.get)?\s*[\[(]|getenv\()\s*(?:f?["'](?:NEWSFLOW_|KIBANA_))""")
    offenders = [
        path.relative_to(PACKAGE.parent).as_posix()
        for path in [*PACKAGE.rglob("*.py"), *(PACKAGE.parent / "dags").glob("*.py"), *(PACKAGE.parent / "plugins").glob("*.py")]
        if path.name != "settings.py" and reads.search(path.read_text())
    ]
    assert offenders == []
