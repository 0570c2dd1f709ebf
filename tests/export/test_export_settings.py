"""Every export setting is checked before the checkpoint is read or anything is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir

import segue.compress as compress
from segue.cli import export_run
from segue.cli.export import MAX_OPSET, MIN_OPSET, export
from tests.conftest import REPO
from tests.export.conftest import tiny_checkpoint


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    return tiny_checkpoint("side", tmp_path)


@pytest.fixture
def no_work(monkeypatch) -> None:
    """Fail the test if the checkpoint is compressed or exported."""

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("export work started before the settings were checked")

    monkeypatch.setattr(compress, "compress_checkpoint", forbidden)
    import segue.export.onnx_export as onnx_export

    monkeypatch.setattr(onnx_export, "export_onnx", forbidden)


def run_script(*overrides: str) -> Any:
    """``scripts/export.py`` with ``overrides``, composed as Hydra would and called in-process."""
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        cfg = compose(config_name="export", overrides=list(overrides))
    return export_run.run(cfg)


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        (
            ["opset=abc"],
            TypeError,
            f"opset=abc: must be an integer from {MIN_OPSET} to {MAX_OPSET}",
        ),
        (["opset=3"], ValueError, f"opset=3: must be from {MIN_OPSET}.*to {MAX_OPSET}"),
        (["opset=99"], ValueError, "opset=99"),
        (["opset=17.5"], TypeError, "opset=17.5"),
        (["opset=true"], TypeError, "opset=True"),
        (["format=fp16"], ValueError, "format=fp16: must be one of int8, onnx"),
        (["int8_embeddings=abc"], TypeError, "int8_embeddings=abc: must be true or false"),
        (["format=int8", "int8_embeddings=true"], ValueError, "is an ONNX option"),
    ],
)
def test_script_names_a_bad_setting_before_any_work(
    checkpoint, tmp_path, no_work, overrides, error, message
):
    with pytest.raises(error, match=message):
        run_script(f"ckpt={checkpoint}", f"out={tmp_path}/out", *overrides)
    assert not (tmp_path / "out").exists()


def test_script_names_a_missing_value(tmp_path, no_work):
    with pytest.raises(ValueError, match=r"ckpt has no value: set it on the command line, ckpt="):
        run_script(f"out={tmp_path}/out")


def test_int8_into_an_existing_folder_is_refused_up_front(checkpoint, tmp_path, no_work):
    folder = tmp_path / "exports"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match=r"out=.*exports: is a folder.*one file"):
        run_script(f"ckpt={checkpoint}", "format=int8", f"out={folder}")


def test_onnx_over_a_file_and_out_over_the_checkpoint_are_refused(checkpoint, tmp_path, no_work):
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    with pytest.raises(FileExistsError, match="an ONNX bundle is a folder"):
        export(checkpoint, existing, "onnx")
    assert existing.read_text() == "keep me"
    with pytest.raises(ValueError, match="is the checkpoint itself"):
        export(checkpoint, checkpoint, "int8")
    with pytest.raises(NotADirectoryError, match=r"notes\.txt is a file, not a folder"):
        export(checkpoint, existing / "m.int8.pt", "int8")
    with pytest.raises(FileNotFoundError, match=r"ckpt=.*absent\.pt: no checkpoint"):
        export(tmp_path / "absent.pt", tmp_path / "m.int8.pt", "int8")


def test_command_names_opset_and_its_range(checkpoint, tmp_path, no_work, capsys):
    from segue.cli.main import main

    assert main(["export", str(checkpoint), "--format", "onnx", "--opset", "3"]) == 1
    assert f"opset=3: must be from {MIN_OPSET}" in capsys.readouterr().err
    folder = tmp_path / "exports"
    folder.mkdir()
    assert main(["export", str(checkpoint), "--out", str(folder)]) == 1
    assert "is a folder" in capsys.readouterr().err


def test_script_as_a_process_says_opset_not_a_traceback(checkpoint, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "scripts/export.py",
            f"ckpt={checkpoint}",
            f"out={tmp_path}/b",
            "opset=abc",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert f"opset=abc: must be an integer from {MIN_OPSET} to {MAX_OPSET}" in result.stderr
    assert "invalid literal for int()" not in result.stderr
