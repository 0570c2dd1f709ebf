"""Scripts are thin ``@hydra.main`` shells that nothing imports; benchmarks are a package."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from tests.scripts.conftest import REPO

SCRIPTS = sorted((REPO / "scripts").glob("*.py"))
BENCHMARKS = sorted(p.stem for p in (REPO / "benchmarks").glob("*.py") if p.stem != "__init__")
PYTHON_FILES = [
    p
    for folder in ("src", "tests", "benchmarks", "scripts", "notebooks")
    for p in (REPO / folder).rglob("*.py")
    if "peers" not in p.parts  # the peers run in their own environment, without segue
]


def _functions(path: Path) -> list[str]:
    return [n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)]


@pytest.mark.parametrize("script", [p for p in SCRIPTS if "hydra.main" in p.read_text()])
def test_a_hydra_script_holds_only_its_main(script):
    """The run itself lives in the library (``segue.cli``), where tests and benchmarks call it."""
    assert _functions(script) == ["main"], script.name


def test_no_script_is_imported_and_no_path_is_patched():
    for path in PYTHON_FILES:
        if path == Path(__file__):
            continue
        text = path.read_text()
        for banned in ("sys.path.insert", "sys.path.append", "load_script(", "run_path("):
            assert banned not in text, f"{banned} in {path}"
        if "spec_from_file_location" in text:  # loading a file as a module: never a script
            assert '"scripts"' not in text and "benchmarks" not in text, path


@pytest.mark.parametrize("name", BENCHMARKS)
def test_every_benchmark_imports_as_a_module_of_the_package(name):
    """``python -m benchmarks.<name>`` works: no benchmark imports a sibling as a script."""
    module = importlib.import_module(f"benchmarks.{name}")
    assert module.__doc__, f"benchmarks/{name}.py has no docstring saying how to run it"
