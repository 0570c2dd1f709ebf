"""Harness logic of benchmarks.run: the peer export, ranks from lists, reuse, report, README."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import bench_report, peers_run, protocol_export, run, suites
from segue.data.pipeline import SessionOptions, prepare_data
from segue.data.synthetic import generate_listening_log
from segue.evaluation.summary import metric_summary


@pytest.fixture(scope="module")
def data():
    log = generate_listening_log(n_users=20, n_events=800, seed=3)
    return prepare_data(
        log,
        sessions=SessionOptions(),
        split="global_temporal",
        split_options={"test_days": 3, "validation_days": 3},
        max_len=10,
    )


def test_the_export_holds_segues_sequences_and_points(data, tmp_path):
    counts = protocol_export.export_protocol(data, {"k": 5}, tmp_path)
    train = pd.read_parquet(tmp_path / "train.parquet")
    sequences = [s for s in data.training_sequences() if len(s)]
    assert len(train) == counts["train_rows"] == sum(len(s) for s in sequences)
    first = train[train["sequence_id"] == train["sequence_id"].iloc[0]]
    assert first["item_id"].tolist() == data.vocab.decode(sequences[0]).tolist()
    test = pd.read_parquet(tmp_path / "test.parquet")
    assert len(test) == len(data.test) == counts["test_points"]
    for i in (0, len(test) - 1):
        known = data.test.full_history(i)
        assert list(test["history"].iloc[i]) == data.vocab.decode(known[known > 0]).tolist()
    unknown = data.test.targets == 0
    assert test["target"].isna().to_numpy().tolist() == unknown.tolist()
    assert json.loads((tmp_path / "spec.json").read_text()) == {"k": 5}


def test_a_perfect_list_scores_every_known_target_at_rank_one(data, tmp_path):
    protocol_export.export_protocol(data, {}, tmp_path)
    points = pd.read_parquet(tmp_path / "test.parquet")
    recs = pd.DataFrame(
        {
            "point_id": points["point_id"],
            "items": [[t if isinstance(t, str) else "x", "y"] for t in points["target"]],
        }
    )
    ranks = protocol_export.ranks_from_lists(recs, points, data.vocab.n_tracks)
    known = points["target"].notna().to_numpy()
    assert (ranks[known] == 1).all() and (ranks[~known] == data.vocab.n_tracks + 1).all()
    assert metric_summary(ranks, ks=[10])["hr@10"] == pytest.approx(known.mean())


def test_a_point_without_a_list_is_an_error():
    points = pd.DataFrame({"point_id": [0, 1], "target": ["a", "b"]})
    recs = pd.DataFrame({"point_id": [0], "items": [["a"]]})
    with pytest.raises(ValueError, match="miss 1 points"):
        protocol_export.ranks_from_lists(recs, points, n_tracks=3)


def test_options_are_checked():
    assert run.parse_options(["suite=quick"])["parts"].split(",") == list(run.PARTS)
    with pytest.raises(SystemExit, match="unknown option"):
        run.parse_options(["epochs=3"])
    with pytest.raises(SystemExit, match="unknown parts"):
        run.parse_options(["parts=accuracy,speedy"])
    with pytest.raises(SystemExit, match="suite must be"):
        run.parse_options(["suite=huge"])


def test_a_partial_run_can_write_a_report_of_its_own():
    assert run.parse_options(["suite=quick"])["results"] == "bench_quick"
    options = run.parse_options(["parts=speed", "results=bench_speed"])
    assert options["results"] == "bench_speed"
    for bad in ("", "../bench_full", "runs/bench"):  # a name in benchmarks/results, no path
        with pytest.raises(SystemExit, match="results must be a file name"):
            run.parse_options([f"results={bad}"])


def test_a_finished_run_with_the_same_overrides_is_reused(tmp_path, monkeypatch):
    record = {"overrides": ["a=1"], "summary": {"best_epoch": 2}}
    (tmp_path / "worker.json").write_text(json.dumps(record))

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(run.subprocess, "run", no_training)
    assert run.trained(tmp_path, ["a=1"], rerun=False) == record
    with pytest.raises(AssertionError, match="trained again"):
        run.trained(tmp_path, ["a=2"], rerun=False)
    with pytest.raises(AssertionError, match="trained again"):
        run.trained(tmp_path, ["a=1"], rerun=True)


def _fake_peer(folder: Path, body: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "rectools_sasrec.py").write_text(textwrap.dedent(body))


def test_a_peer_adapter_runs_in_its_interpreter_and_failures_show_its_output(tmp_path, monkeypatch):
    monkeypatch.setattr(peers_run, "PEERS_DIR", tmp_path / "peers")
    _fake_peer(
        tmp_path / "peers",
        """
        import argparse, json, pathlib
        import pandas as pd
        p = argparse.ArgumentParser(); p.add_argument("--data"); p.add_argument("--out")
        a = p.parse_args(); out = pathlib.Path(a.out)
        pd.DataFrame({"point_id": [0], "items": [["a", "b"]]}).to_parquet(out / "recs.parquet")
        (out / "fit.json").write_text(json.dumps({"library": "fake", "epochs": 1}))
        """,
    )
    python = Path(sys.executable)
    result = peers_run.run_peer("rectools", python, tmp_path, tmp_path / "out")
    assert result["fit"]["library"] == "fake"
    assert result["recs"]["items"].iloc[0].tolist() == ["a", "b"]
    _fake_peer(tmp_path / "peers", "raise SystemExit('train.parquet: no item_id column')")
    with pytest.raises(RuntimeError, match="no item_id column"):
        peers_run.run_peer("rectools", python, tmp_path, tmp_path / "out")


def test_a_missing_peer_is_skipped_with_the_reason(tmp_path):
    assert "no interpreter" in peers_run.peer_available("rectools", tmp_path / "python")
    probe = subprocess.run([sys.executable, "-c", "import rectools"], capture_output=True)
    if probe.returncode != 0:  # the test environment has no peers installed
        assert "cannot import rectools" in peers_run.peer_available(
            "rectools", Path(sys.executable)
        )


def _report() -> dict:
    rows = [
        {"model": "segue default", "ndcg@10": 0.12, "hr@10": 0.2, "mrr@20": 0.1},
        {"model": "most_popular", "ndcg@10": 0.04, "hr@10": 0.08, "mrr@20": 0.03},
    ]
    run_record = {
        "seconds_per_epoch": 4.0,
        "median_seconds_per_epoch": 4.0,
        "sequences_per_second": 200.0,
        "peak_rss_mb": 900.0,
        "train_seconds_to_best": 12.0,
        "summary": {"best_epoch": 3, "epochs_run": 5},
    }
    peer = {
        "fit": {
            "seconds_per_epoch": 20.0,
            "fit_seconds": 1200.0,
            "peak_rss_mb": 1500.0,
            "epochs": 60,
            "version": "0.19",
        },
        "metrics": {"ndcg@10": 0.1, "hr@10": 0.18, "mrr@20": 0.08},
    }
    return {
        "suite": "quick",
        "command": "python -m benchmarks.run suite=quick",
        "wall_seconds": 1.0,
        "environment": {
            "date": "2026-11-28",
            "machine": "cpu",
            "python": "3.11",
            "torch": "2.13",
            "segue_commit": "abc",
            "peers": {"rectools": "0.19"},
            "load_average_at_start": [0.1],
        },
        "ml100k": {
            "accuracy": {"rows": rows, "runs": {"default": run_record}},
            "peers": {"rectools": peer, "replay": {"skipped": "not installed"}},
            "speed": {
                "run": run_record,
                "gflops_achieved": 30.0,
                "fraction_of_peak": 0.3,
                "matmul_peak": {"gflops": 100.0},
                "peers": {"rectools": {"seconds_per_epoch": 20.0}, "replay": {"skipped": "no"}},
            },
        },
    }


def test_the_report_shows_the_ratios_and_whether_targets_are_met(tmp_path):
    report = _report()
    assert bench_report.best_peer_ratio(report["ml100k"]) == pytest.approx(1.2)
    markdown = bench_report.write(report, tmp_path / "bench")
    row = "| segue default | 0.1200 | 0.2000 | 0.1000 | 4.00 | 3 / 5 | 12.00 | 900.00 |"
    assert row in markdown
    assert "RecTools SASRec 0.19 | 0.1000" in markdown
    assert "RePlay SasRec | not run: not installed" in markdown
    assert "20.00 s/epoch; segue / RecTools SASRec = 0.20" in markdown
    assert "NDCG@10 >= 1.15x best peer | 1.2 (target >= 1.15) | yes |" in markdown
    assert "s/epoch <= 1/3 of rectools | 0.2 (target <= 0.333) | yes |" in markdown
    assert ">= 40% of matmul peak | 0.3 (target >= 0.4) | no |" in markdown
    assert json.loads((tmp_path / "bench.json").read_text())["suite"] == "quick"


def test_a_speed_only_report_has_the_speed_lines_and_no_empty_table(tmp_path):
    report = _report()
    del report["ml100k"]["accuracy"], report["ml100k"]["peers"]
    markdown = bench_report.write(report, tmp_path / "bench_speed")
    assert "| model | NDCG@10" not in markdown
    assert "20.00 s/epoch; segue / RecTools SASRec = 0.20" in markdown
    assert "s/epoch <= 1/3 of rectools | 0.2 (target <= 0.333) | yes |" in markdown


def test_the_readme_section_is_replaced_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{bench_report.START}\nold\n{bench_report.END}\noutro\n")
    bench_report.update_readme(readme, "new table\n")
    assert readme.read_text() == (
        f"intro\n{bench_report.START}\nnew table\n{bench_report.END}\noutro\n"
    )
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="no <!-- bench:start -->"):
        bench_report.update_readme(readme, "x")


def test_every_suite_names_known_protocols_and_parts():
    for suite in run.SUITES.values():
        assert set(suite.protocols) <= {"ml100k", "30music"}
        for protocol in suite.protocols.values():
            assert "default" in protocol.variants
            assert set(protocol.peer_epochs) <= set(peers_run.ADAPTERS)
    assert np.isfinite(bench_report.SPEED_TARGET)


@pytest.mark.parametrize("name", ["ml100k", "30music"])
def test_segue_at_the_peer_config_composes_with_the_peers_loss(name, tmp_path):
    protocol = suites.FULL.protocols[name]
    cfg = run.composed("train", suites.segue_at_peer_config(protocol), tmp_path)
    assert (cfg.model.d_model, cfg.model.n_layers, cfg.model.n_heads) == (64, 2, 2)
    assert (cfg.model.max_len, cfg.trainer.batch_size, cfg.optim.lr) == (200, 128, 0.001)
    if protocol.peer_negatives is None:
        assert cfg.loss.name == "softmax"
    else:
        assert (cfg.loss.name, cfg.loss.n_negatives) == ("sampled_softmax", 4096)


def test_render_only_rewrites_the_markdown_from_the_json(tmp_path):
    (tmp_path / "bench.json").write_text(json.dumps({**_report(), "load_average_at_end": [0.2]}))
    run.render_again(tmp_path / "bench", readme=False)
    assert "### ml100k" in (tmp_path / "bench.md").read_text()
