"""The dependency rules of docs/architecture.md, read from the source with ``ast``.

Every import counts, the lazy ones inside functions too. ``from pkg import sub``
counts as importing the submodule ``pkg.sub`` when there is one, else ``pkg``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("backend", "probes", "dashboard")


def module_files() -> dict[str, Path]:
    """Our modules by dotted name (Alembic revisions are data, not modules we import)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


MODULES = module_files()


def imported(name: str, path: Path) -> Iterator[str]:
    """Every module ``name`` imports (ours as dotted names, others by their top name)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield sub if sub in MODULES else base


GRAPH = {name: set(imported(name, path)) for name, path in MODULES.items()}


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def arrows(source: str, target: str, *, unless: str | None = None) -> list[str]:
    """``a -> b`` for every import from a module under ``source`` of one under ``target``."""
    return sorted(
        f"{a} -> {b}"
        for a, deps in GRAPH.items()
        if within(a, source) and not (unless and within(a, unless))
        for b in deps
        if within(b, target)
    )


@pytest.mark.parametrize(
    ("source", "target", "unless"),
    [
        ("backend", "probes", None),
        ("backend", "dashboard", None),
        ("probes", "backend", None),
        ("probes", "dashboard", "probes.cli"),  # only the command line starts the dashboard
        ("dashboard", "probes.cli", None),
        ("dashboard", "backend", None),
        ("dashboard.chartdata", "streamlit", None),  # pages and reports share it
        ("dashboard.figures", "streamlit", None),
        ("dashboard.report", "streamlit", None),
        ("probes.judging", "probes.results", "probes.judging.evaluation"),  # checks, slo: pure
        ("probes.config", "probes.target", None),  # shared figures: probes.round_timing
    ],
)
def test_imports_go_one_way(source: str, target: str, unless: str | None) -> None:
    assert arrows(source, target, unless=unless) == []


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v] & graph.keys()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles() -> None:
    assert circles(GRAPH) == []


def test_a_circle_is_found_through_any_number_of_modules() -> None:
    graph = {"a": {"b"}, "b": {"c", "x"}, "c": {"a"}, "d": {"a"}, "x": set()}
    assert circles(graph) == [["a", "b", "c"]]


def test_the_rules_see_the_imports_they_forbid() -> None:
    """The reader finds lazy imports and submodules, so an empty answer above means something."""
    assert "dashboard.access" in GRAPH["probes.cli.commands"]  # inside a function
    assert "probes.cli.report" in GRAPH["probes.cli.commands"]  # from probes.cli import report
    assert "dashboard.report.render" in GRAPH["probes.cli.report"]
    assert "streamlit" in GRAPH["dashboard.queries"]
    assert arrows("probes", "dashboard") != []  # the CLI's, allowed above
