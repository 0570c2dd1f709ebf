"""Smoke tests for the peer adapters on a tiny export with a "next item = item + 1" rule.

Run with the peer environment: ``.venv-peers/bin/python -m pytest benchmarks/peers -q``.
Each adapter is skipped when its library cannot be imported.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent
N_ITEMS = 20
N_SEQUENCES = 30
K = 5
N_NEGATIVES = 5
SAMPLED_LOSS = {"rectools": "sampled_softmax", "replay": "CESampled"}
ADAPTERS = {"rectools": "rectools_sasrec.py", "replay": "replay_sasrec.py"}
MODULES = {"rectools": "rectools", "replay": "replay"}


def item(i: int) -> str:
    """Item names that are not integers, so no adapter can lean on int ids."""
    return f"t{i % N_ITEMS:02d}"


def tiny_export(directory: Path, epochs: int = 12, n_negatives: int | None = None) -> Path:
    """Writes a deterministic export where every item is followed by the next one (mod 20).

    Training sequences walk the cycle from different starts; each test point's history is a
    short walk whose true next item is the following one, and two extra points cover an
    unknown target and a history made only of unknown items.

    Args:
        directory: Where to write the export.
        epochs: Epoch count written to spec.json.
        n_negatives: Written to spec.json when given (sampled softmax); absent means full softmax.

    Returns:
        The directory.
    """
    directory.mkdir(parents=True, exist_ok=True)
    rows = []
    for seq in range(N_SEQUENCES):
        start, length = seq % N_ITEMS, 8 + seq % 5
        for pos in range(length):
            rows.append((seq, item(start + pos), pos, 1_000 * seq + 10 * pos))
    train = pd.DataFrame(rows, columns=["sequence_id", "item_id", "position", "timestamp"])
    train = train.astype({"sequence_id": "int64", "position": "int32", "timestamp": "int64"})
    train.to_parquet(directory / "train.parquet", index=False)

    points = []
    for pid in range(N_ITEMS):
        history = [item(pid + j) for j in range(4)]
        points.append((pid, history, item(pid + 4)))
    points.append((100, [item(3), "unknown-a", item(4)], None))
    points.append((101, ["unknown-a", "unknown-b"], None))
    frame = pd.DataFrame(points, columns=["point_id", "history", "target"])
    for name in ("test", "validation"):
        frame.to_parquet(directory / f"{name}.parquet", index=False)
    spec = {
        "protocol": "tiny",
        "d_model": 32,
        "n_blocks": 1,
        "n_heads": 2,
        "max_len": 10,
        "dropout": 0.1,
        "batch_size": 8,
        "lr": 0.01,
        "epochs": epochs,
        "k": K,
        "exclude_seen": True,
        "seed": 0,
        "threads": 1,
    }
    if n_negatives is not None:
        spec["n_negatives"] = n_negatives
    (directory / "spec.json").write_text(json.dumps(spec))
    return directory


def run_adapter(name: str, data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """Runs one adapter script with the current interpreter."""
    cmd = [sys.executable, str(HERE / ADAPTERS[name]), "--data", str(data), "--out", str(out)]
    return subprocess.run([*cmd, *extra], capture_output=True, text=True, timeout=240)


def needs(name: str) -> pytest.MarkDecorator:
    """Skips a test when the peer library is not importable in this interpreter."""
    missing = importlib.util.find_spec(MODULES[name]) is None
    return pytest.mark.skipif(missing, reason=f"{MODULES[name]} is not installed here")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_export(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def sampled_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_export(tmp_path_factory.mktemp("sampled"), n_negatives=N_NEGATIVES)


def check_recs(export: Path, out: Path) -> float:
    """Checks recs.parquet's shape and the seen-item filter; returns HR@K over known targets."""
    recs = pd.read_parquet(out / "recs.parquet")
    points = pd.read_parquet(export / "test.parquet")
    assert recs["point_id"].tolist() == points["point_id"].tolist()
    assert all(len(items) == K and len(set(items)) == K for items in recs["items"])
    for items, history in zip(recs["items"], points["history"]):
        assert not set(items) & set(history)
    hits = [
        target in list(items)
        for items, target in zip(recs["items"], points["target"])
        if target is not None
    ]
    return sum(hits) / len(hits)


@pytest.mark.parametrize("name", [pytest.param(n, marks=needs(n)) for n in ADAPTERS])
def test_adapter_learns_next_item(name: str, export: Path, tmp_path: Path) -> None:
    result = run_adapter(name, export, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    epoch_lines = [line for line in result.stdout.splitlines() if " epoch " in line]
    assert len(epoch_lines) == 12

    # Random ranking would hit 5 of the 16 unseen items, about 31%.
    assert check_recs(export, tmp_path) >= 0.8

    fit = json.loads((tmp_path / "fit.json").read_text())
    assert fit["config"]["n_negatives"] is None
    assert "sampled" not in fit["loss"].lower()
    assert fit["library"] == name
    assert fit["epochs"] == 12
    assert fit["n_items"] == N_ITEMS
    assert fit["history_items_dropped"] == 3
    assert fit["empty_histories"] == 1
    assert fit["fit_seconds"] > 0 and fit["predict_seconds"] > 0


@pytest.mark.parametrize("name", [pytest.param(n, marks=needs(n)) for n in ADAPTERS])
def test_adapter_sampled_softmax_learns(name: str, sampled_export: Path, tmp_path: Path) -> None:
    result = run_adapter(name, sampled_export, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    # Random ranking would hit about 31% (see above).
    assert check_recs(sampled_export, tmp_path) >= 0.7

    fit = json.loads((tmp_path / "fit.json").read_text())
    assert fit["config"]["n_negatives"] == N_NEGATIVES
    assert fit["config"]["loss"] == SAMPLED_LOSS[name]
    assert "sampled" in fit["loss"].lower() and str(N_NEGATIVES) in fit["loss"]
    assert fit["epochs"] == 12 and fit["n_items"] == N_ITEMS


@pytest.mark.parametrize("name", [pytest.param(n, marks=needs(n)) for n in ADAPTERS])
@pytest.mark.parametrize("value", [0, 2.5, True])
def test_adapter_rejects_bad_n_negatives(
    name: str, value: object, export: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for file in ("train.parquet", "test.parquet"):
        (broken / file).write_bytes((export / file).read_bytes())
    spec = json.loads((export / "spec.json").read_text())
    spec["n_negatives"] = value
    (broken / "spec.json").write_text(json.dumps(spec))
    result = run_adapter(name, broken, tmp_path / "out")
    assert result.returncode == 2
    assert "n_negatives" in result.stderr


@pytest.mark.parametrize("name", [pytest.param(n, marks=needs(n)) for n in ADAPTERS])
def test_adapter_rejects_bad_spec(name: str, export: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for file in ("train.parquet", "test.parquet"):
        (broken / file).write_bytes((export / file).read_bytes())
    spec = json.loads((export / "spec.json").read_text())
    del spec["d_model"]
    (broken / "spec.json").write_text(json.dumps(spec))
    result = run_adapter(name, broken, tmp_path / "out")
    assert result.returncode != 0
    assert "d_model" in result.stderr
