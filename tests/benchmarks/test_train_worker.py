"""The benchmarks' one training worker: a run through the recipes, its record and its timings."""

from __future__ import annotations

import json

import pytest

from benchmarks import train_worker


def test_timings_come_from_the_trainers_epoch_log():
    epochs = [
        {"epoch_seconds": 2.0, "sequences_per_second": 50.0},
        {"epoch_seconds": 4.0, "sequences_per_second": 25.0},
        {"epoch_seconds": 3.0, "sequences_per_second": 100.0},
    ]
    t = train_worker.timings(epochs, best_epoch=2)
    assert t["epochs"] == 3 and t["epoch_seconds"] == [2.0, 4.0, 3.0]
    assert t["seconds_per_epoch"] == pytest.approx(3.0)
    assert t["median_seconds_per_epoch"] == 3.0
    assert t["train_seconds_to_best"] == 6.0  # epochs 1 and 2
    # sequences seen (100 + 100 + 300) over the seconds they took
    assert t["sequences_per_second"] == pytest.approx(500 / 9)


def test_a_worker_trains_the_composed_config_and_writes_its_record(tmp_path):
    overrides = ["debug=default", "trainer.epochs=2", "trainer.max_steps_per_epoch=2"]
    overrides += ["trainer.num_threads=1", "trainer.patience=1"]
    record = train_worker.run(tmp_path, overrides, validate=False)
    assert json.loads((tmp_path / train_worker.WORKER_FILE).read_text()) == json.loads(
        json.dumps(record, default=str)
    )
    assert record["overrides"] == overrides
    # A constant validation never improves: patience 1 stops after the second epoch.
    assert record["summary"]["best_epoch"] == 1 and record["summary"]["epochs_run"] == 2
    assert record["epochs"] == 2 and record["sequences"] > 0 and record["n_tracks"] > 0
    assert record["peak_rss_mb"] >= record["rss_before_training_mb"] > 0
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "last.pt").is_file()
    assert "flops_per_step" not in record  # counted only when asked
