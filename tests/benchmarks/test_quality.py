"""benchmarks.quality end to end on the tiny synthetic log: both protocols, breakdowns."""

from __future__ import annotations

import json

import pytest

from benchmarks import quality


@pytest.mark.slow
def test_both_protocols_with_tuned_baselines_and_breakdowns(tmp_path, monkeypatch):
    monkeypatch.setattr(quality, "RESULTS", tmp_path)
    small_grids = {
        name: (key, grid[:2], build) for name, (key, grid, build) in quality.TUNED.items()
    }
    monkeypatch.setattr(quality, "TUNED", small_grids)
    extra = ["debug=default", "trainer.progress=false", "trainer.num_threads=1", "trainer.epochs=1"]
    report = quality.run_protocol("synthetic", extra)
    quality.write(report)

    tuned = report["tuned_baselines"]
    assert tuned["ease"]["key"] == "l2" and tuned["pure_svd"]["key"] == "n_components"
    for name, (_, grid, _) in quality.TUNED.items():
        assert [v for v, _ in tuned[name]["validation"]] == grid
        best = max(s for _, s in tuned[name]["validation"])
        assert dict(tuned[name]["validation"])[tuned[name]["value"]] == best

    window, refit = report["train_window"], report["refit"]
    assert window["reference"] == "synthetic/best" and refit["reference"] == "refit/final"
    assert refit["epochs"] == report["best_epoch"]
    for part in (window, refit):
        models = {row["model"] for row in part["summary"]}
        assert {"ease", "pure_svd", "transitions"} <= models
        # debug=default keeps fewer than 20 test listeners: their sessions are resampled
        assert {row["resampled"] for row in part["bootstrap"]} == {"session_id"}
        assert all(row["clusters"] >= 20 for row in part["bootstrap"])
        assert "repeat" in part["breakdowns"] and "unseen in train" in part["breakdowns"]
    points = [row["points"] for row in window["summary"]]
    assert points == [row["points"] for row in refit["summary"]]  # the same test points

    text = (tmp_path / "quality_synthetic.md").read_text()
    assert "## Train-window protocol (test)" in text and "## Refit protocol" in text
    assert "sessions resampled" in text
    saved = json.loads((tmp_path / "quality_synthetic.json").read_text())
    assert saved["command"].startswith("python -m benchmarks.quality --protocol synthetic")


TEMPORAL = ["data.split_options.test_days=3", "data.split_options.validation_days=3"]
LEAVE_LAST_OUT = [
    "data.split=leave_last_out",
    "~data.split_options.test_days",
    "~data.split_options.validation_days",
]


HELD_OUT_SESSIONS = ["data.split=held_out_sessions", "data.split_options=null"]


@pytest.mark.parametrize("name", sorted(quality.PROTOCOLS))
def test_each_protocols_baselines_read_the_data_of_its_experiment(name, tmp_path):
    experiment = quality.composed("train", [f"experiment={quality.PROTOCOLS[name]}"], tmp_path)
    alone = quality.composed("evaluate", quality.DATA_GROUPS[name], tmp_path)
    assert alone.data == experiment.data


@pytest.mark.slow
@pytest.mark.parametrize(
    "split",
    [TEMPORAL, LEAVE_LAST_OUT, HELD_OUT_SESSIONS],
    ids=["temporal", "leave_last_out", "held_out_sessions"],
)
def test_baselines_only_runs_both_protocols_without_a_model(tmp_path, monkeypatch, split):
    monkeypatch.setattr(quality, "RESULTS", tmp_path)
    small_grids = {
        name: (key, grid[:2], build) for name, (key, grid, build) in quality.TUNED.items()
    }
    monkeypatch.setattr(quality, "TUNED", small_grids)
    tiny = [
        "data.source.n_users=60",
        "data.source.n_events=3000",
        *split,
    ]
    report = quality.run_baselines("synthetic", tiny)
    quality.write(report)
    window, refit = report["train_window"], report["refit"]
    assert window["reference"] == refit["reference"] == "transitions"
    assert [r["points"] for r in window["summary"]] == [r["points"] for r in refit["summary"]]
    # The refit fits on train + validation: more training plays, so different scores.
    assert [r["ndcg@10"] for r in window["summary"]] != [r["ndcg@10"] for r in refit["summary"]]
    text = (tmp_path / "quality_synthetic_baselines.md").read_text()
    assert "--baselines-only --protocol synthetic" in text and "## Refit protocol" in text
