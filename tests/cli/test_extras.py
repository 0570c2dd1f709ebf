"""Optional dependencies: a command never imports an extra it does not use, and a missing one
is named with the pip command that installs it. Absence is simulated with ``sys.modules[name] =
None``, which makes ``import name`` fail exactly as if the package were not installed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from segue.cli.extras import MissingExtraError, import_optional, missing_extra_from, require
from segue.compress import load_int8


def block(monkeypatch, *modules: str) -> None:
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def test_require_names_the_extra_and_the_pip_command(monkeypatch):
    block(monkeypatch, "onnxruntime")
    with pytest.raises(MissingExtraError) as error:
        require("onnx", "ONNX export")
    assert error.value.extra == "onnx" and error.value.module == "onnxruntime"
    assert "pip install 'segue[onnx]'" in str(error.value)


def test_a_broken_dependency_of_an_installed_extra_is_not_disguised(monkeypatch, tmp_path):
    """Only the module asked for becomes a MissingExtraError; a dependency of it missing is
    another problem, reported as it is."""
    (tmp_path / "installed_extra.py").write_text("import dependency_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as error:
        import_optional("installed_extra", "onnx", "ONNX export")
    assert not isinstance(error.value, MissingExtraError)
    assert error.value.name == "dependency_not_installed"


def test_missing_extra_from_maps_a_module_to_its_extra():
    error = ModuleNotFoundError("No module named 'fastapi'", name="fastapi")
    assert missing_extra_from(error, "segue serve").extra == "serve"
    assert missing_extra_from(ModuleNotFoundError("x", name="pandas"), "x") is None


def test_onnx_export_without_the_extra_says_which_extra(segue, artefacts, monkeypatch, tmp_path):
    block(monkeypatch, "onnx", "onnxruntime")
    result = segue("export", artefacts["checkpoint"], "--format", "onnx", "--out", tmp_path / "b")
    assert result.code == 1
    assert "ONNX export needs the optional dependency 'onnx'" in result.err
    assert "pip install 'segue[onnx]'" in result.err
    assert not (tmp_path / "b").exists()


def test_int8_export_works_without_onnx_installed(segue, artefacts, monkeypatch, tmp_path):
    block(monkeypatch, "onnx", "onnxruntime", "segue.export.runtime", "segue.export.onnx_export")
    result = segue("export", artefacts["checkpoint"], "--out", tmp_path / "m.int8.pt")
    assert result.code == 0, result.err
    assert f"int8: {tmp_path / 'm.int8.pt'}" in result.out
    assert load_int8(tmp_path / "m.int8.pt").config.n_tracks == 40


def test_recommending_from_a_bundle_without_onnxruntime_names_the_extra(
    segue, artefacts, monkeypatch
):
    block(monkeypatch, "onnxruntime", "segue.export.runtime")
    result = segue("recommend", artefacts["bundle"], "t1")
    assert result.code == 1 and "pip install 'segue[onnx]'" in result.err


def test_serve_without_the_service_module_names_the_serve_extra(segue, monkeypatch):
    block(monkeypatch, "segue.serve.cli")
    result = segue("serve", "model.pt")
    assert result.code == 1 and "pip install 'segue[serve]'" in result.err


def imported_after(code: str) -> set[str]:
    """Top-level module names imported by a fresh interpreter running ``code``."""
    probe = (
        f"{code}\nimport sys\nprint('MODULES', *sorted({{m.split('.')[0] for m in sys.modules}}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return set(done.stdout.splitlines()[-1].split()[1:])


def test_the_library_and_the_command_import_no_extra_and_no_hydra_until_needed(artefacts):
    library = imported_after("import segue.api, segue.compress, segue.export.runtime")
    assert "hydra" not in library and "fastapi" not in library
    info = imported_after(
        "from segue.cli.main import main\n"
        f"main(['info', r'{artefacts['checkpoint']}'])\n"
        f"main(['info', r'{artefacts['bundle']}'])"
    )
    assert not info & {"onnx", "onnxruntime", "hydra", "fastapi", "faiss", "duckdb"}
