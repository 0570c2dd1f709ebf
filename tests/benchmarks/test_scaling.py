"""Harness logic of benchmarks.scaling: the synthetic data, the sweeps in --quick mode."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks import scaling


def test_make_data_gives_one_full_window_per_sequence(tmp_path):
    path = tmp_path / "data.npz"
    scaling.make_data(path, n_tracks=100, max_len=10, n_sequences=12)
    windows = scaling._training_sequences(path, max_len=10)
    assert len(windows) == 12
    assert windows.lengths().tolist() == [10] * 12
    batch = windows.batch(np.arange(12))
    assert tuple(batch.tracks.shape) == (12, 10)
    assert int(batch.tracks.max()) <= 100 and int(batch.tracks.min()) >= 1


def test_make_data_rejects_a_catalogue_it_cannot_build(tmp_path):
    with pytest.raises(ValueError, match="multiple of 10"):
        scaling.make_data(tmp_path / "x.npz", n_tracks=105, max_len=10, n_sequences=12)


def _row(n_tracks: int, rss_mb: float) -> dict:
    return {
        "n_tracks": n_tracks,
        "max_len": 200,
        "seconds_per_step": 1.0,
        "seconds_per_epoch": 2.0,
        "sequences_per_second": 3.0,
        "peak_rss_mb": rss_mb,
    }


@pytest.mark.parametrize(("rss_mb", "verdict"), [(9000.0, "NOT within"), (100.0, "within")])
def test_report_states_the_rss_verdict(rss_mb, verdict):
    result = {"n_sequences": 10, "batch_size": 2, "threads": 1, "method": "m",
              "catalogue_rows": [_row(1000, rss_mb)], "history_rows": [_row(1000, rss_mb)],
              "largest_catalogue": 1000, "largest_catalogue_peak_rss_mb": rss_mb,
              "largest_catalogue_within_target": rss_mb <= 8192, "rss_target_gb": 8.0}  # fmt: skip
    text = scaling.report(result)
    assert f"{verdict} the 8 GB target" in text
    assert text.count("| 1,000 | 200 |") == 2


@pytest.mark.slow
def test_quick_mode_measures_every_requested_size():
    quick = scaling.QUICK
    result = scaling.scaling(quick=True)
    cats, hists = result["catalogue_rows"], result["history_rows"]
    assert [r["n_tracks"] for r in cats] == list(quick["catalogues"])
    assert {r["max_len"] for r in cats} == {quick["history_for_catalogues"]}
    assert [r["max_len"] for r in hists] == list(quick["histories"])
    assert {r["n_tracks"] for r in hists} == {quick["catalogue_for_histories"]}
    steps = math.ceil(quick["n_sequences"] / quick["batch_size"])
    for row in cats + hists:
        assert row["n_sequences"] == quick["n_sequences"]
        assert row["steps_per_epoch"] == steps
        assert row["seconds_per_epoch"] == pytest.approx(row["seconds_per_step"] * steps)
        assert row["peak_rss_mb"] > 0 and row["within_rss_target"]
    assert result["largest_catalogue"] == max(quick["catalogues"])
    assert len(result["rows"]) == len({(r["n_tracks"], r["max_len"]) for r in cats + hists})
    assert result["peak_rss_mb_1m"] is None  # no 1M-track point in the quick sizes
