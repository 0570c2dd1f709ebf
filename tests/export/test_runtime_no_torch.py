"""The runtime works where torch cannot be imported: a subprocess whose import of torch fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import segue.export.runtime
from segue.api import Recommender
from segue.export.onnx_export import export_onnx
from tests.export.conftest import tiny_checkpoint

HISTORY = ["t1", "t7", "t3", "t30"]

BLOCK_TORCH = """
import importlib.abc, json, sys

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "torch" or name.startswith("torch.") or name == "pandas":
            raise ImportError(f"import {name} is blocked in this test")
        return None

sys.meta_path.insert(0, NoTorch())
"""

LOAD_BY_PATH = """
import importlib.util
spec = importlib.util.spec_from_file_location("segue_runtime", {path!r})
runtime = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runtime)
OnnxRecommender = runtime.OnnxRecommender
"""

LOAD_FROM_PACKAGE = "from segue.export.runtime import OnnxRecommender\n"

RECOMMEND = """
rec = OnnxRecommender.load({bundle!r}, num_threads=1)
print(json.dumps([r["track_id"] for r in rec.recommend({history!r}, k=10)]))
assert "torch" not in sys.modules
"""


def _run(tmp_path: Path, loader: str) -> subprocess.CompletedProcess:
    checkpoint = tiny_checkpoint("side", tmp_path)
    bundle = export_onnx(checkpoint, tmp_path / "bundle")
    script = BLOCK_TORCH + loader + RECOMMEND.format(bundle=str(bundle), history=HISTORY)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )


def _expected(tmp_path: Path) -> list[str]:
    return Recommender.load(tmp_path / "side.pt").recommend(HISTORY, k=10)["track_id"].tolist()


def test_runtime_file_needs_neither_torch_nor_pandas(tmp_path):
    loader = LOAD_BY_PATH.format(path=segue.export.runtime.__file__)
    result = _run(tmp_path, loader)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == _expected(tmp_path)


def test_runtime_imports_from_the_package_without_torch(tmp_path):
    result = _run(tmp_path, LOAD_FROM_PACKAGE)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == _expected(tmp_path)
