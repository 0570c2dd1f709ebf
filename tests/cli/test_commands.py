"""Each command on tiny artefacts; ``train`` and ``evaluate`` end to end on debug=default."""

from __future__ import annotations

import json
import stat
import sys
import types

import pytest

from segue.api import Recommender
from segue.compress import load_int8
from segue.export.runtime import OnnxRecommender


def test_recommend_prints_the_recommenders_list(segue, artefacts):
    history = ["t1", "t2", "t3"]
    expected = Recommender.load(artefacts["checkpoint"]).recommend(history, k=4)
    result = segue("recommend", artefacts["checkpoint"], *history, "--k", "4", "--json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert [r["track_id"] for r in rows] == expected["track_id"].tolist()
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]


def test_recommend_from_a_bundle_matches_the_runtime(segue, artefacts):
    expected = OnnxRecommender.load(artefacts["bundle"]).recommend(["t1", "t2"], k=3)
    result = segue("recommend", artefacts["bundle"], "t1", "t2", "--k", "3")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split()[:3] == ["rank", "track_id", "score"]
    assert [ln.split()[1] for ln in lines[1:]] == [r["track_id"] for r in expected]


def test_recommend_warns_about_unknown_ids_and_cold_start(segue, artefacts):
    partly = segue("recommend", artefacts["checkpoint"], "t1", "nope", "--k", "2")
    assert "1 of 2 history ids are not in the model's catalogue, ignored: nope" in partly.out
    cold = segue("recommend", artefacts["bundle"], "nope", "--k", "2")
    assert "WARNING" in cold.out and "cold start" in cold.out
    assert segue("recommend", artefacts["checkpoint"], "t1", "--k", "0").code == 1


@pytest.mark.parametrize(
    ("option", "message"),
    [(["--k", "0"], "--k must be >= 1, got 0"), (["--max-per-artist", "0"], "--max-per-artist")],
)
def test_recommend_names_a_bad_option_as_typed_before_reading_the_model(
    segue, tmp_path, option, message
):
    result = segue("recommend", tmp_path / "absent.pt", "t1", *option)
    assert result.code == 1 and message in result.err


def test_export_int8_defaults_beside_the_checkpoint(segue, artefacts):
    out = artefacts["checkpoint"].with_name("side.int8.pt")
    out.unlink(missing_ok=True)
    result = segue("export", artefacts["checkpoint"])
    assert result.code == 0, result.err
    assert load_int8(out).config.n_tracks == 40
    assert "int8: " in result.out and "MB)" in result.out


def test_export_onnx_writes_a_bundle_the_runtime_serves(segue, artefacts, tmp_path):
    result = segue("export", artefacts["checkpoint"], "--format", "onnx", "--out", tmp_path / "b")
    assert result.code == 0, result.err
    assert OnnxRecommender.load(tmp_path / "b").recommend(["t1"], k=2)


def test_export_refuses_int8_with_an_onnx_option(segue, artefacts, tmp_path):
    result = segue("export", artefacts["checkpoint"], "--int8-embeddings")
    assert result.code == 1 and "ONNX option" in result.err


@pytest.mark.slow
def test_train_then_evaluate_on_the_debug_config(segue, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trained = segue("train", "debug=default", "trainer.num_threads=1")
    assert trained.code == 0, trained.err
    run_dir = next((tmp_path / "outputs").glob("*/*"))
    assert trained.out.startswith(f"run folder: {run_dir}")
    assert "test (full-catalogue ranking)" in trained.out and "recommended next:" in trained.out
    # The log file holds what the console showed, line for line (plus a timestamp prefix).
    log = (run_dir / "train.log").read_text()
    for line in trained.out.splitlines():
        assert line in log, line
    assert (run_dir / ".hydra" / "overrides.yaml").read_text().splitlines() == [
        "- debug=default",
        "- trainer.num_threads=1",
    ]
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o755
    assert stat.S_IMODE((run_dir / "train.log").stat().st_mode) == 0o644
    summary = json.loads((run_dir / "test_metrics.json").read_text())
    assert summary["test"]["points"] > 0

    evaluated = segue(
        "evaluate", run_dir / "best.pt", "baselines=none", "--run-dir", tmp_path / "eval"
    )
    assert evaluated.code == 0, evaluated.err
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert len(report["summary"]) == 1  # the checkpoint, and no baseline (baselines=none)
    assert report["fold"] == "test"
    assert (tmp_path / "eval" / "evaluate.log").read_text().count("ndcg@10") >= 1


def test_evaluate_names_a_missing_checkpoint_before_any_work(segue, tmp_path):
    result = segue("evaluate", tmp_path / "absent.pt", "--run-dir", tmp_path / "run")
    assert result.code == 1 and "no checkpoint at" in result.err
    assert not (tmp_path / "run").exists()


def test_run_folder_given_twice_is_refused(segue, tmp_path):
    result = segue("train", f"paths.output_dir={tmp_path}/a", "--run-dir", tmp_path / "b")
    assert result.code == 1 and "give the run folder once" in result.err


def test_serve_hands_every_argument_to_the_service(segue, monkeypatch):
    """Options included (``--help`` is the service's), and its exit status is the command's."""
    received = []
    service = types.ModuleType("segue.serve.cli")
    service.main = lambda argv: received.append(argv) or 3
    monkeypatch.setitem(sys.modules, "segue.serve.cli", service)
    assert segue("serve", "--help").code == 3
    assert segue("serve", "m.pt", "--port", "9000", "--workers", "2").code == 3
    assert received == [["--help"], ["m.pt", "--port", "9000", "--workers", "2"]]


def test_a_value_left_unset_is_named_before_the_run_folder_is_made(segue, tmp_path):
    result = segue("train", "debug=default", "trainer.epochs=???", "--run-dir", tmp_path / "r")
    assert result.code == 1
    assert "trainer.epochs has no value: set it on the command line" in result.err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("overrides", "start"),
    [
        (["trainer.batch_size=0"], "trainer.batch_size=0: "),
        (["+model.n_blocks=2"], "+model.n_blocks=2: "),
        (
            ["data=csv", "data.path=plays.csv", "data.source.timestamp_unit=sec"],
            "data.source.timestamp_unit=sec: timestamp_unit must be one of",
        ),
        (
            ["data=csv", "data.path=plays.csv", "data.source.timezone=Mars/Base"],
            "data.source.timezone=Mars/Base: ",
        ),
    ],
)
def test_a_bad_setting_is_named_as_its_override_before_the_run_folder(
    segue, tmp_path, overrides, start
):
    result = segue("train", "debug=default", *overrides, "--run-dir", tmp_path / "r")
    assert result.code == 1
    assert result.err.startswith(f"segue: error: {start}"), result.err
    assert not (tmp_path / "r").exists()
