"""The folders are the architecture: no import loop between modules or between the parts of `ser/` and `train/`, the
parts of `ser/` stacked in the order docs/architecture.md draws, and no module too long to read in one sitting.

The import graph is grimp's (the library import-linter is built on): it parses every first-party module without
running it and counts imports wherever they sit, inside functions too, since a late import is still a loop.
"""

from __future__ import annotations

import sys
from pathlib import Path

import grimp
import pytest

from ser import settings

FIRST_PARTY = ("ser", "train", "app_ui", "bench", "tests")
MAX_LINES = 350  # about what a newcomer reads in one sitting (the developers' guide)
# the parts of ser/, bottom first: each may import only the parts before it (docs/architecture.md)
SER_LAYERS = (
    ("ser.settings", "ser.labels", "ser.atomic_file", "ser.memory"),
    ("ser.audio",),
    ("ser.encoders",),
    ("ser.models",),
    ("ser.inference", "ser.profile"),
    ("ser.evaluation",),
    ("ser.plots",),
    ("ser.teaching",),
    ("ser.cli", "ser.__main__"),
)


def import_graph(*packages: str, root: Path = settings.PROJECT_ROOT) -> grimp.ImportGraph:
    sys.path.insert(0, str(root))
    try:
        return grimp.build_graph(*packages, cache_dir=None)
    finally:
        sys.path.remove(str(root))


def loops(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan), each sorted: every import loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in edges.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def module_edges(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def part_of(module: str, depth: int = 2) -> str:
    return ".".join(module.split(".")[:depth])


def part_edges(graph: grimp.ImportGraph, package: str) -> dict[str, set[str]]:
    """Imports between the parts (sub-packages and top modules) of `package`."""
    edges: dict[str, set[str]] = {}
    for module, imported in module_edges(graph).items():
        for other in imported:
            if module.startswith(package + ".") and other.startswith(package + ".") and part_of(module) != part_of(other):
                edges.setdefault(part_of(module), set()).add(part_of(other))
    return edges


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return import_graph(*FIRST_PARTY)


def test_the_loop_check_can_fail(tmp_path):
    """A package with a loop through a late import, and one between its sub-packages, are both caught."""
    package = tmp_path / "loopy"
    (package / "low").mkdir(parents=True)
    (package / "high").mkdir()
    for folder in (package, package / "low", package / "high"):
        (folder / "__init__.py").write_text("")
    (package / "a.py").write_text("from loopy import b\n")
    (package / "b.py").write_text("def late():\n    from loopy import a\n")
    (package / "low" / "x.py").write_text("from loopy.high import y\n")
    (package / "high" / "y.py").write_text("import json\n")
    (package / "high" / "z.py").write_text("from loopy.low import x\n")
    toy = import_graph("loopy", root=tmp_path)
    assert loops(module_edges(toy)) == [["loopy.a", "loopy.b"]]
    assert sorted(loops(part_edges(toy, "loopy"))) == [["loopy.a", "loopy.b"], ["loopy.high", "loopy.low"]]


def test_no_module_imports_itself_back(graph):
    assert loops(module_edges(graph)) == []


@pytest.mark.parametrize("package", ["ser", "train"])
def test_no_loop_between_the_parts(graph, package):
    """`ser.cli` may use `ser.models`, or the reverse, never both: each part can be read with only those below it."""
    assert loops(part_edges(graph, package)) == []


def test_the_parts_of_the_library_import_only_those_below_them(graph):
    rank = {part: level for level, parts in enumerate(SER_LAYERS) for part in parts}
    parts = {part_of(m) for m in graph.modules if m.startswith("ser.")}
    assert parts - set(rank) == set(), "a new part of ser/: place it in SER_LAYERS and docs/architecture.md"
    # parts of one layer may use each other (the loop check keeps that one-way)
    upward = sorted(f"{a} -> {b}" for a, imported in part_edges(graph, "ser").items() for b in imported if rank[b] > rank[a])
    assert upward == []


def test_no_module_is_too_long_to_read_in_one_sitting():
    roots = [settings.PROJECT_ROOT / name for name in FIRST_PARTY]
    files = [p for root in roots for p in root.rglob("*.py")] + [settings.PROJECT_ROOT / "app.py"]
    assert len(files) > 100
    long = {str(p.relative_to(settings.PROJECT_ROOT)): n for p in files if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these at their seams (at most {MAX_LINES} lines)"
