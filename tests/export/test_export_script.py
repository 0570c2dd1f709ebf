"""scripts/export.py end to end on a tiny checkpoint, both formats."""

from __future__ import annotations

import subprocess
import sys

import pytest

from segue.api import Recommender
from segue.compress import load_int8
from segue.export.runtime import OnnxRecommender
from tests.conftest import REPO
from tests.export.conftest import tiny_checkpoint


@pytest.mark.slow
def test_export_script_writes_both_formats(tmp_path):
    checkpoint = tiny_checkpoint("side", tmp_path)
    for fmt, out in (("onnx", tmp_path / "bundle"), ("int8", tmp_path / "m.int8.pt")):
        result = subprocess.run(
            [
                sys.executable,
                "scripts/export.py",
                f"ckpt={checkpoint}",
                f"format={fmt}",
                f"out={out}",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert f"{fmt}: {out}" in result.stdout
    history = ["t1", "t2", "t3"]
    expected = Recommender.load(checkpoint).recommend(history, k=10)["track_id"].tolist()
    got = OnnxRecommender.load(tmp_path / "bundle").recommend(history, k=10)
    assert [r["track_id"] for r in got] == expected
    assert load_int8(tmp_path / "m.int8.pt").config.n_artists == 5
    assert not (REPO / "export.log").exists()
