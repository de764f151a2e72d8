"""The package's import graph has no cycle, counting imports inside functions too.

A lazy import that only hides a cycle is still a cycle: every ``import`` and
``from ... import`` anywhere in a module (top level, function body, TYPE_CHECKING
block) is an edge here.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "oauthcli"


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str], package: Path = PACKAGE) -> set[str]:
    """The package modules ``path`` imports anywhere in its body."""
    name = module_name(path, package)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            # "from oauthcli.cli import output" imports the module oauthcli.cli.output (its
            # package runs first, as for any import, but is not what the code depends on);
            # "from oauthcli.store import User" depends on oauthcli.store.
            targets = [
                f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in modules else prefix
                for alias in node.names
            ]
        for target in targets:
            # The longest known module the name starts with (a.b.c -> a.b when c is a name).
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package modules it imports (only the edges the code writes: importing
    a.b.c also runs a/__init__.py first, which is not a dependency of the importer)."""
    paths = sorted(package.rglob("*.py"))
    modules = {module_name(p, package) for p in paths}
    return {module_name(p, package): imports_of(p, modules, package) for p in paths}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected component with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_cycle_finder_finds_cycles_and_only_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"b"}}) == []


def test_function_level_and_relative_imports_are_edges(tmp_path):
    pkg = tmp_path / "oauthcli"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from oauthcli import b\n")
    (pkg / "b.py").write_text("from oauthcli.sub.c import thing\n")
    (pkg / "sub" / "c.py").write_text("from .. import a\nthing = 1\n")
    graph = import_graph(pkg)
    assert graph["oauthcli.a"] == {"oauthcli.b"}
    assert graph["oauthcli.b"] == {"oauthcli.sub.c"}
    assert "oauthcli.a" in graph["oauthcli.sub.c"]
    assert cycles(graph) == [["oauthcli.a", "oauthcli.b", "oauthcli.sub.c"]]


def test_the_package_has_no_import_cycle():
    # Type-only (TYPE_CHECKING) and function-level imports count: a shared fact goes down
    # into a leaf module, never up through a lazy import.
    found = cycles(import_graph())
    assert found == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in found)
