"""benchmarks.peers_budget: a peer's lists matched to segue's test points, and its report."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks import peers_budget


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "export").mkdir()
    (tmp_path / "replay").mkdir()
    exported = pd.DataFrame({"point_id": [1, 0, 2], "target": ["b", "a", None]})
    exported.to_parquet(tmp_path / "export" / "test.parquet")
    recs = pd.DataFrame({"point_id": [0, 1, 2], "items": [["x", "a"], ["y", "z"], ["c"]]})
    recs.to_parquet(tmp_path / "replay" / "recs.parquet")
    return tmp_path


def segue_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": "ml100k/best",
            "query": [0, 1, 2],
            "user_id": ["u1", "u1", "u2"],
            "track_id": ["a", "b", "c"],  # point 2's target is unknown to the vocabulary
            "rank": [1, 3, 2**63 - 1],
        }
    )


def test_the_peer_s_ranks_are_matched_by_point_id(folder):
    rows = peers_budget.peer_rows(segue_rows(), folder, "replay", n_tracks=9)
    assert rows["model"].unique().tolist() == ["RePlay SasRec"]
    assert rows["rank"].tolist() == [2, 10, 10]  # b is not in point 1's list; 2 is unknown
    assert rows["user_id"].tolist() == ["u1", "u1", "u2"]


def test_points_of_other_data_are_refused(folder):
    other = segue_rows().assign(track_id=["a", "q", "c"])
    with pytest.raises(ValueError, match="target differs"):
        peers_budget.peer_rows(other, folder, "replay", n_tracks=9)
    with pytest.raises(ValueError, match="not the quality run's"):
        peers_budget.peer_rows(segue_rows().iloc[:2], folder, "replay", n_tracks=9)


def test_the_report_prints_the_ratio_and_interval():
    report = {
        "protocol": "ml100k",
        "epochs": 150,
        "date": "2026-12-06",
        "machine": "x86_64",
        "seconds": 12.0,
        "summary": [
            {"model": "ml100k/best", "ndcg@10": 0.13, "hr@10": 0.2, "ndcg@20": 0.15},
            {"model": "RePlay SasRec", "ndcg@10": 0.10, "hr@10": 0.2, "ndcg@20": 0.12},
        ],
        "comparison": [
            {
                "reference": "ml100k/best",
                "other": "RePlay SasRec",
                "ndcg@10 diff": 0.03,
                "ci_low": 0.01,
                "ci_high": 0.05,
                "clusters": 943,
            }
        ],
        "fits": {"replay": {"fit_seconds": 99.4}},
    }
    text = "\n".join(peers_budget.report_lines(report, "cmd"))
    assert "| RePlay SasRec | 0.1000 | 0.2000 | 0.1200 | 99 |" in text
    assert "1.30x" in text and "+0.0100 .. +0.0500" in text and "943 users" in text
