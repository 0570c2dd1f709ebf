"""Execute the example notebooks top to bottom, shrunk, and check their key outputs.

The executions are in the slow tier (``pytest -m slow tests/notebooks``); the check that the
stored notebooks are the build script's output, without outputs, is fast.

The kernel is the ``python3`` kernel of the environment running pytest: jupyter_client starts
a kernelspec whose command is ``python`` with ``sys.executable``, so the venv's interpreter
runs the notebooks whether or not the venv is activated (see
``test_the_kernel_is_this_interpreter``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat import NotebookNode

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"


def execute(notebook: NotebookNode, timeout: int = 300) -> NotebookNode:
    """Run every cell with cwd = notebooks/ and the Agg backend; raise on the first error."""
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=timeout,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute(env={**os.environ, "MPLBACKEND": "Agg"})
    return notebook


def load(name: str, **parameters: Any) -> NotebookNode:
    """A notebook with ``NAME = value`` lines of its parameters cell replaced."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    cell = cell_by_id(notebook, "parameters")
    for key, value in parameters.items():
        pattern = re.compile(rf"^{key} = .*$", flags=re.MULTILINE)
        assert pattern.search(cell.source), f"{name} has no parameter {key}"
        cell.source = pattern.sub(f"{key} = {value!r}", cell.source)
    return notebook


def cell_by_id(notebook: NotebookNode, cell_id: str) -> NotebookNode:
    return next(c for c in notebook.cells if c.get("id") == cell_id)


def text_of(cell: NotebookNode) -> str:
    """Everything a cell printed or returned, as text."""
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif "text/plain" in output.get("data", {}):
            parts.append(output.data["text/plain"])
    return "".join(parts)


def has_image(cell: NotebookNode) -> bool:
    return any("image/png" in output.get("data", {}) for output in cell.outputs)


def test_stored_notebooks_are_the_build_script_output_without_outputs(tmp_path):
    subprocess.run(
        [sys.executable, str(NOTEBOOKS / "build_notebooks.py"), str(tmp_path)],
        capture_output=True,
        check=True,
    )
    built = sorted(p.name for p in tmp_path.glob("*.ipynb"))
    assert built == sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    for name in built:
        stored = (NOTEBOOKS / name).read_text(encoding="utf-8")
        assert stored == (tmp_path / name).read_text(encoding="utf-8"), (
            f"{name} differs from its build: run python notebooks/build_notebooks.py"
        )
        for cell in nbformat.reads(stored, as_version=4).cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, name


@pytest.mark.slow
def test_the_kernel_is_this_interpreter():
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_code_cell("import sys, segue; print(sys.prefix)"))
    execute(notebook, timeout=60)
    assert notebook.cells[0].outputs[0].text.strip() == sys.prefix


@pytest.mark.slow
def test_sessions_notebook_runs_and_plots():
    notebook = execute(load("01_sessions.ipynb", N_USERS=60, N_EVENTS=3_000))
    assert "sessions: 3,000 rows in" in text_of(cell_by_id(notebook, "reports"))
    assert "spotify_extended" in text_of(cell_by_id(notebook, "formats"))
    for cell_id in ("session-lengths", "gaps", "skips", "popularity", "events-per-user"):
        assert has_image(cell_by_id(notebook, cell_id)), cell_id


SMALL_EVALUATION = {
    "N_USERS": 60,
    "N_EVENTS": 4_000,
    "EPOCHS": 2,
    "D_MODEL": 16,
    "N_RESAMPLES": 200,
    "N_EXAMPLES": 2,
}


def check_evaluation_outputs(notebook: NotebookNode) -> None:
    summary = text_of(cell_by_id(notebook, "summary"))
    assert "| model | ndcg@10 | hr@10 |" in summary
    for model in ("transformer", "most_popular", "transitions", "session_knn"):
        assert f"| {model} |" in summary
    for cell_id in ("plot-history", "plot-popularity", "plot-position", "plot-skip"):
        assert has_image(cell_by_id(notebook, cell_id)), cell_id
    assert has_image(cell_by_id(notebook, "plot-repeat"))
    assert "index.md" in text_of(cell_by_id(notebook, "save-report"))
    assert "95% CI" in text_of(cell_by_id(notebook, "bootstrap"))
    examples = text_of(cell_by_id(notebook, "examples"))
    assert examples.count("recommended next:") == 2
    assert "Artist" in examples  # names from the vocabulary, not bare track ids


@pytest.mark.slow
def test_evaluation_notebook_trains_evaluates_and_plots():
    notebook = execute(load("02_offline_evaluation.ipynb", **SMALL_EVALUATION))
    assert "ndcg@10" in text_of(cell_by_id(notebook, "train"))
    check_evaluation_outputs(notebook)


@pytest.mark.slow
def test_evaluation_notebook_loads_a_train_script_checkpoint(tmp_path):
    subprocess.run(
        [sys.executable, "scripts/train.py", "debug=default", f"paths.output_dir={tmp_path}"],
        cwd=REPO,
        capture_output=True,
        check=True,
    )
    parameters = {**SMALL_EVALUATION, "CHECKPOINT": str(tmp_path / "best.pt")}
    notebook = execute(load("02_offline_evaluation.ipynb", **parameters))
    assert "d_model=16" in text_of(cell_by_id(notebook, "train"))  # the debug model, loaded
    check_evaluation_outputs(notebook)
