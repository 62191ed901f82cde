"""The library stands on its own: nothing in `ser/` imports the training package, the benchmarks, the tests or the app.

The arrows point one way (train/, bench/, app.py and its UI modules call `ser`), so `ser` can be read, tested and
installed without them. `python -m ser eval` starts the training package's entry point as a child process instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ser import settings

LIBRARY = settings.PROJECT_ROOT / "ser"
# the top-level packages and modules above the library
ABOVE = {"train", "bench", "tests", "app", "app_ui"}
UI_PACKAGE = settings.PROJECT_ROOT / "app_ui"


def imported_modules(source: str) -> set[str]:
    """Every module a source text imports, wherever the import sits (module level, inside functions, through
    `importlib.import_module` or `__import__` with a literal name)."""
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            called = ast.unparse(node.func)
            if called in ("importlib.import_module", "import_module", "__import__") and isinstance(node.args[0].value, str):
                modules.add(node.args[0].value)
    return modules


def upward_imports(source: str) -> set[str]:
    return {m for m in imported_modules(source) if m.split(".")[0] in ABOVE}


def test_the_check_finds_every_kind_of_upward_import():
    """The check must be able to fail: each way of importing the training package or the app is caught."""
    source = '''
import json
from train import evaluate
import train.common as common
def run():
    from app import build_app
    import importlib
    return importlib.import_module("bench.report"), __import__("app_ui.layout")
'''
    assert upward_imports(source) == {"train", "train.common", "app", "bench.report", "app_ui.layout"}
    assert upward_imports("from ser import settings\nimport trainer\nfrom application import x\n") == set()


def test_the_library_never_imports_train_bench_tests_or_the_app():
    files = sorted(LIBRARY.rglob("*.py"))
    assert len(files) > 20, f"found only {len(files)} modules under {LIBRARY}"
    found = {str(f.relative_to(settings.PROJECT_ROOT)): sorted(upward_imports(f.read_text())) for f in files}
    assert {f: m for f, m in found.items() if m} == {}, "ser/ must not import the packages that are built on it"


@pytest.mark.parametrize("module", sorted(p.name for p in UI_PACKAGE.glob("*.py")) + ["app.py"])
def test_the_app_does_no_ml_itself(module):
    """app.py and its UI modules call `ser`; they import no torch, numpy model code, sklearn or the training package."""
    path = settings.PROJECT_ROOT / ("app.py" if module == "app.py" else f"app_ui/{module}")
    ml = {m for m in imported_modules(path.read_text()) if m.split(".")[0] in {"torch", "sklearn", "librosa", "train", "bench"}}
    assert ml == set(), f"{path.name} imports {sorted(ml)}: put that code in ser/ and call it"
