import numpy as np
import pandas as pd
import pytest

from segue.evaluation.bootstrap import paired_bootstrap
from segue.evaluation.comparison import compare, compare_by_bucket, per_model_ndcg
from segue.evaluation.ranking import MISS
from segue.evaluation.ranking_metrics import point_ndcg
from segue.evaluation.tables import breakdown_sections


def _points(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Models "ref" and "other" on the same n points of 12 users, rows of "other" shuffled."""
    rng = np.random.default_rng(seed)
    base = pd.DataFrame(
        {
            "query": np.arange(n),
            "user_id": np.repeat([f"u{i}" for i in range(12)], n // 12),
            "target_popularity": rng.choice([1, 5, 50, 500], n),
            "target_known": True,
            "is_repeat": rng.random(n) < 0.4,
        }
    )
    ref = base.assign(model="ref", rank=np.where(base["is_repeat"], 1, rng.integers(1, 40, n)))
    other = base.assign(model="other", rank=rng.integers(1, 40, n))
    other = other.sample(frac=1.0, random_state=1)  # compare must align by query, not row
    return pd.concat([ref, other], ignore_index=True)


def test_compare_resamples_users_of_the_aligned_points() -> None:
    points = _points()
    [row] = compare(points, "ref", n_resamples=300)
    ref = points[points["model"] == "ref"].sort_values("query")
    other = points[points["model"] == "other"].sort_values("query")
    expected = paired_bootstrap(
        point_ndcg(ref["rank"].to_numpy(), 10),
        point_ndcg(other["rank"].to_numpy(), 10),
        n_resamples=300,
        clusters=ref["user_id"].to_numpy(),
    )
    assert row["other"] == "other" and row["resampled"] == "user_id"
    assert (row["points"], row["clusters"]) == (120, 12)
    assert (row["ndcg@10 diff"], row["ci_low"], row["ci_high"]) == (
        expected.mean_diff,
        expected.low,
        expected.high,
    )
    [by_point] = compare(points, "ref", cluster=None, n_resamples=300)
    assert by_point["clusters"] == 120 and by_point["resampled"] == "point"


def test_by_bucket_splits_repeats_from_new_targets() -> None:
    points = _points()
    table = compare_by_bucket(points, "ref", "is_repeat", n_resamples=300)
    assert table["bucket"].tolist() == ["new track", "repeat"]
    ref = points[points["model"] == "ref"]
    repeats = int(ref["is_repeat"].sum())
    assert table["points"].tolist() == [120 - repeats, repeats]
    assert table.loc[1, "reference ndcg@10"] == 1.0  # ref ranks every repeat first
    assert table.loc[1, "ci_low"] > 0  # excludes 0, but from under 20 listeners
    assert table.loc[1, "clusters"] < 20 and not table.loc[1, "significant"]
    assert table["points"].sum() == 120


def test_popularity_buckets_and_markdown_sections() -> None:
    points = _points()
    table = compare_by_bucket(points, "ref", "target_popularity", n_resamples=100)
    assert table["bucket"].tolist() == ["1–2", "3–9", "30–99", "300–999"]  # plays 1, 5, 50, 500
    lines = breakdown_sections(points, reference="ref", n_resamples=100)
    text = "\n".join(lines)
    assert "NDCG@10 by target already in the listener's history?" in text
    assert "NDCG@10 by plays of the target in train" in text
    assert "listeners resampled" in text
    repeats = int(points.loc[points["model"] == "ref", "is_repeat"].sum())
    assert f"| repeat | {repeats} | " in text  # bucket, then its points


def test_misaligned_points_and_unknown_models_raise() -> None:
    points = _points()
    with pytest.raises(ValueError, match="not among"):
        compare(points, "nobody")
    dropped = points.drop(index=points.index[-1])
    with pytest.raises(ValueError, match="other points"):
        per_model_ndcg(dropped)
    with pytest.raises(ValueError, match="no column"):
        compare(points.drop(columns="user_id"), "ref")
    with pytest.raises(ValueError, match="unknown breakdown"):
        compare_by_bucket(points, "ref", "weather")
    misses = points.assign(rank=MISS)
    assert compare(misses, "ref", n_resamples=10)[0]["ndcg@10 diff"] == 0.0


def test_a_one_listener_table_resamples_its_sessions_and_a_crowd_its_listeners() -> None:
    """A personal export has one listener: its sessions are the bootstrap's units."""
    from segue.evaluation.comparison import MIN_CLUSTERS, resampling_unit

    sessions = np.arange(MIN_CLUSTERS)
    one = pd.DataFrame({"user_id": ["u"] * MIN_CLUSTERS, "session_id": sessions})
    assert resampling_unit(one) == "session_id"
    assert resampling_unit(one.assign(user_id=sessions)) == "user_id"
    few = one.assign(session_id=sessions % 3)  # too few of either: listeners, flagged as such
    assert resampling_unit(few) == "user_id"


def test_a_bucket_of_too_few_listeners_is_never_significant() -> None:
    from segue.evaluation.comparison import MIN_CLUSTERS

    points = _points()
    one = points.assign(user_id="u0")  # every point one listener: a zero-width interval
    table = compare_by_bucket(one, "ref", "is_repeat", n_resamples=300, cluster="user_id")
    repeat = table[table["bucket"] == "repeat"].iloc[0]
    assert repeat["clusters"] == 1 < MIN_CLUSTERS
    assert repeat["ci_low"] > 0  # the interval excludes 0 ...
    assert not repeat["significant"]  # ... but one listener says nothing
    by_points = compare_by_bucket(one, "ref", "is_repeat", n_resamples=300, cluster=None)
    assert by_points.loc[by_points["bucket"] == "repeat", "significant"].item()
