"""Run the ``segue`` command in-process, and the artefacts it reads (tiny, fixed seeds)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from segue.cli.main import main
from tests.export.conftest import tiny_checkpoint


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def segue(capsys):
    """``segue(*argv)`` -> :class:`Result` (exit status, stdout, stderr)."""

    def run(*argv: str) -> Result:
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory) -> dict[str, Path]:
    """A float checkpoint (40 tracks, side inputs), its int8 artefact and its ONNX bundle."""
    from segue.compress import compress_checkpoint
    from segue.export.onnx_export import export_onnx

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("artefacts")
    checkpoint = tiny_checkpoint("side", folder)
    return {
        "checkpoint": checkpoint,
        "int8": compress_checkpoint(checkpoint, folder / "side.int8.pt"),
        "bundle": export_onnx(checkpoint, folder / "side.onnx"),
    }
