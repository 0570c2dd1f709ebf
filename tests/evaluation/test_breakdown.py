import numpy as np
import pandas as pd
import pytest

from segue.evaluation.breakdown import (
    BUCKETINGS,
    UNSEEN,
    breakdown,
    edge_buckets,
    history_buckets,
    popularity_buckets,
    position_buckets,
)
from segue.evaluation.ranking import MISS

G2 = 1 / np.log2(3)  # NDCG of a target at rank 2


def ten_points() -> pd.DataFrame:
    """Two models on the same five points (10 rows), shaped like ``Evaluation.points``."""
    five = {
        "query": [0, 1, 2, 3, 4],
        "user_id": ["u1", "u1", "u2", "u2", "u3"],
        "session_id": [0, 0, 1, 1, 2],
        "position": [1, 2, 4, 12, 1],
        "track_id": ["t1", "t2", "t3", "t4", "t9"],
        "history_length": [0, 2, 5, 40, 7],
        "target_popularity": [500, 12, 1, 2, 0],
        "target_known": [True, True, True, True, False],
        "is_repeat": [True, False, False, True, False],
        "after_skip": [False, True, False, True, False],
    }
    a = pd.DataFrame({"model": "a", **five, "rank": [1, 3, 11, 2, MISS]})
    b = pd.DataFrame({"model": "b", **five, "rank": [2, 1, 1, 20, MISS]})
    return pd.concat([a, b], ignore_index=True)


def test_breakdown_by_skip_context_matches_hand_computed_values():
    table = breakdown(ten_points(), "after_skip")
    assert list(table.columns) == ["model", "bucket", "ndcg@10", "hr@10", "count"]
    assert table["model"].tolist() == ["a", "a", "b", "b"]
    assert table["bucket"].astype(str).tolist() == ["after a play", "after a skip"] * 2
    # a: plays -> ranks 1, 11, MISS; skips -> ranks 3, 2.  b: plays -> 2, 1, MISS; skips -> 1, 20.
    expected_ndcg = [1 / 3, (0.5 + G2) / 2, (G2 + 1) / 3, 0.5]
    np.testing.assert_allclose(table["ndcg@10"], expected_ndcg)
    np.testing.assert_allclose(table["hr@10"], [1 / 3, 1.0, 2 / 3, 0.5])
    assert table["count"].tolist() == [3, 2, 3, 2]


def test_popularity_buckets_keep_unseen_targets_apart_and_first():
    table = breakdown(ten_points(), "target_popularity")
    a = table[table["model"] == "a"]
    assert a["bucket"].astype(str).tolist() == [UNSEEN, "1–2", "10–29", "300–999"]
    np.testing.assert_allclose(a["ndcg@10"], [0.0, G2 / 2, 0.5, 1.0])
    np.testing.assert_allclose(a["hr@10"], [0.0, 0.5, 1.0, 1.0])
    assert a["count"].tolist() == [1, 2, 1, 1]


def test_repeat_breakdown_and_the_cut_off():
    table = breakdown(ten_points(), "is_repeat", k=1)
    assert list(table.columns) == ["model", "bucket", "ndcg@1", "hr@1", "count"]
    # a: new -> 3, 11, MISS; repeat -> 1, 2.  b: new -> 1, 1, MISS; repeat -> 2, 20.
    np.testing.assert_allclose(table["hr@1"], [0.0, 0.5, 2 / 3, 0.0])
    np.testing.assert_allclose(table["ndcg@1"], table["hr@1"])  # at k=1 NDCG is a hit


def test_bucket_labels_of_history_and_position():
    points = ten_points().iloc[:5]
    assert history_buckets(points).tolist() == ["0", "1–2", "3–9", "30–99", "3–9"]
    assert position_buckets(points).tolist() == ["1", "2", "3–4", "10–19", "1"]
    assert popularity_buckets(points).tolist() == ["300–999", "10–29", "1–2", "1–2", UNSEEN]
    table = breakdown(ten_points(), "position")
    assert table["bucket"].astype(str).tolist() == ["1", "2", "3–4", "10–19"] * 2
    assert table["count"].tolist() == [2, 1, 1, 1] * 2


def test_any_other_column_is_its_own_bucketing():
    table = breakdown(ten_points(), "user_id")
    assert table["bucket"].tolist() == ["u1", "u2", "u3"] * 2
    np.testing.assert_allclose(table.loc[table.model == "b", "hr@10"], [1.0, 0.5, 0.0])


def test_every_registered_breakdown_counts_every_point_once():
    points = ten_points()
    for by in BUCKETINGS:
        table = breakdown(points, by)
        assert table.groupby("model")["count"].sum().tolist() == [5, 5], by


def test_edge_buckets_open_last_bucket_and_bad_input():
    assert edge_buckets([0, 9, 10, 10_000], (0, 10)).tolist() == ["0–9", "0–9", "10+", "10+"]
    with pytest.raises(ValueError, match=">= 1"):
        edge_buckets([0], (1, 3))
    with pytest.raises(ValueError, match="increasing"):
        edge_buckets([1], (3, 1))


def test_missing_columns_and_empty_tables_are_refused():
    with pytest.raises(ValueError, match="no column"):
        breakdown(ten_points().drop(columns="rank"), "is_repeat")
    with pytest.raises(ValueError, match="no column"):
        breakdown(ten_points(), "genre")
    with pytest.raises(ValueError, match="empty"):
        breakdown(ten_points().iloc[:0], "is_repeat")


def test_a_catalogue_track_without_training_plays_is_unseen_even_when_ranked():
    """A ``catalogue="log"`` target is in the vocabulary (known) with 0 plays: unseen in train,
    its rank kept (a replay of a new track can be a hit)."""
    points = ten_points().iloc[:5].copy()
    points["target_popularity"] = [400, 12, 0, 1, 0]
    points["target_known"] = [True, True, True, True, False]
    assert popularity_buckets(points).tolist() == ["300–999", "10–29", UNSEEN, "1–2", UNSEEN]
