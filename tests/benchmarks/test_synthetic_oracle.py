"""benchmarks.synthetic_oracle end to end on a tiny synthetic log of the quick start's settings."""

from __future__ import annotations

import json
import sys

import pytest

from benchmarks import synthetic_oracle
from segue.data.settings import prepare_from_settings
from segue.data.synthetic import SyntheticConfig, draw_listening
from segue.data.synthetic_oracle import play_states

TINY = ["data.source.n_users=100", "data.source.n_events=12000", "+data.source.n_artists=40"]


@pytest.mark.slow
def test_the_ceiling_is_above_the_baselines_and_as_expected(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(synthetic_oracle, "RESULTS", tmp_path)
    sets = [arg for override in TINY for arg in ("--set", override)]
    argv = ["synthetic_oracle", *sets, "--baselines", "transitions", "most_popular"]
    monkeypatch.setattr(sys, "argv", argv)
    synthetic_oracle.main()
    report = json.loads((tmp_path / "synthetic_oracle.json").read_text())

    scores = report["ndcg@10"]
    oracles = {"oracle", "oracle_observed_mode", "oracle_unconditioned", "oracle_plugin"}
    assert set(scores) == oracles | {"transitions", "most_popular"}
    assert report["best_baseline"] == "transitions"
    assert scores["oracle"] > scores["transitions"] > scores["most_popular"]
    # The oracle realises what it expects: a wrong reconstruction overrates itself.
    gap = abs(scores["oracle"] - report["oracle_expected_ndcg@10"])
    assert gap < 4 * report["oracle_expected_se"]
    assert report["posterior_mean_when_in_album"] > 0.5 > report["posterior_mean_otherwise"]
    assert report["attainable"] == (scores["oracle"] >= 1.2 * scores["transitions"])
    for model in scores:
        counts = [row["count"] for row in report["by_repeat"] if row["model"] == model]
        assert sum(counts) == report["points"]
    text = (tmp_path / "synthetic_oracle.md").read_text()
    assert "the 1.2x target is" in text and "| oracle |" in text and "(plug-in)" in text
    assert "| album_next |" in text  # the breakdown by the move that drew the target
    assert report["command"].endswith("--baselines transitions most_popular")


@pytest.mark.slow
def test_points_of_other_data_are_refused() -> None:
    settings = synthetic_oracle.quick_start_settings(TINY)
    data = prepare_from_settings(settings)
    other = SyntheticConfig(**{**settings.reader_options, "seed": 1})
    with pytest.raises(ValueError, match="not the same data"):
        synthetic_oracle.point_plays(data, other, play_states(draw_listening(other)))
