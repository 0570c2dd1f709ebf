import numpy as np
import pandas as pd
import pytest

from segue.data.sessions import build_sessions
from segue.data.splits import global_temporal, held_out_sessions, leave_last_out
from tests.conftest import make_log

DAY = 86400


def _assert_no_leak(split):
    """No train event is later than any validation/test point of the same user."""
    ev = split.events
    train_last = ev[ev["fold"] == "train"].groupby("user_id")["timestamp"].max()
    for fold in ("validation", "test"):
        points = split.points(fold)
        later = points["timestamp"].to_numpy() < train_last.reindex(points["user_id"]).to_numpy()
        assert not later.any(), f"a {fold} point precedes a train event of its user"


def _random_log(seed=0, n=3000, users=30):
    rng = np.random.default_rng(seed)
    log = make_log(
        list(zip(rng.integers(0, users, n), rng.integers(0, 100, n), rng.integers(0, 30 * DAY, n)))
    )
    log["ms_played"] = pd.array(rng.choice([1000, 200_000], n, p=[0.2, 0.8]), dtype="Int64")
    return build_sessions(log, gap="1h")


def test_leave_last_out_marks_last_and_second_last_non_skip():
    log = make_log(
        [
            ("u", "a", 1),
            ("u", "b", 2),
            ("u", "c", 3),
            ("u", "s", 4),
            ("u", "d", 5),
            ("u", "s2", 6),
            ("w", "x", 1),
        ]
    )
    log["ms_played"] = pd.array([None, None, None, 1, None, 1, None], dtype="Int64")
    split = leave_last_out(build_sessions(log))
    ev = split.events
    assert ev.loc[ev.user_id == "u", "fold"].tolist() == [
        "train",
        "train",
        "validation",
        "validation",
        "test",
        "test",
    ]
    assert split.points("test")["track_id"].tolist() == ["d"]
    assert split.points("validation")["track_id"].tolist() == ["c"]
    assert ev.loc[ev.user_id == "w", "fold"].tolist() == ["train"]
    assert split.report.stats["users without points (too few events)"] == 1


def test_leave_last_out_without_validation_trains_on_the_validation_item():
    log = make_log([("u", "a", 1), ("u", "b", 2), ("u", "c", 3), ("u", "d", 4)])
    split = leave_last_out(build_sessions(log), validation=False)
    assert split.events["fold"].tolist() == ["train", "train", "train", "test"]
    assert split.points("test")["track_id"].tolist() == ["d"]
    assert split.points("validation").empty
    with pytest.raises(TypeError, match="validation must be true or false"):
        leave_last_out(build_sessions(log), validation="no")


@pytest.mark.parametrize(
    "make_split",
    [
        leave_last_out,
        lambda log: global_temporal(log, test_days=5, validation_days=5),
        lambda log: global_temporal(log, test_days=5, validation_days=5, gap_days=2),
        held_out_sessions,
    ],
)
def test_no_split_leaks_a_future_event_into_training(make_split):
    split = make_split(_random_log())
    _assert_no_leak(split)
    assert not split.events.loc[split.events["is_point"], "is_skip"].any()
    assert split.report.rows_in == split.report.rows_kept + split.report.rows_dropped


def test_global_temporal_assigns_whole_sessions_by_start_time():
    log = make_log(
        [
            ("u", "a", 0),
            ("u", "b", 1 * DAY),
            ("u", "c", 1 * DAY + 60),
            ("u", "d", 3 * DAY),
            ("u", "e", 3 * DAY + 60),
            ("v", "f", 3 * DAY + 120),
        ]
    )
    split = global_temporal(
        build_sessions(log), test_start=pd.Timestamp(2 * DAY, unit="s"), validation_days=1.5
    )
    assert split.events["fold"].tolist() == [
        "train",
        "validation",
        "validation",
        "test",
        "test",
        "test",
    ]
    # Points: every next track of a held-out session (not the first of a session).
    assert split.points("test")["track_id"].tolist() == ["e"]
    assert split.points("validation")["track_id"].tolist() == ["c"]
    assert split.report.stats["test points of users unseen in train"] == 0
    assert split.report.stats["test points with target unseen in train"] == 1


def test_global_temporal_gap_drops_sessions_and_counts_them():
    log = make_log(
        [("u", "a", 0), ("u", "b", 2 * DAY), ("u", "c", 4 * DAY), ("u", "d", 4 * DAY + 1)]
    )
    split = global_temporal(
        build_sessions(log),
        test_start=pd.Timestamp(4 * DAY, unit="s"),
        validation_days=1,
        gap_days=1.5,
    )
    assert split.report.dropped == {"session in the gap before validation": 1}
    assert "b" not in split.events["track_id"].tolist()


def test_held_out_sessions_last_is_test_previous_validation():
    log = make_log(
        [
            ("u", "a", 0),
            ("u", "b", 60),
            ("u", "c", DAY),
            ("u", "d", DAY + 60),
            ("u", "e", 2 * DAY),
            ("u", "f", 2 * DAY + 60),
            ("v", "z", 0),
        ]
    )
    split = held_out_sessions(build_sessions(log))
    assert split.events["fold"].tolist() == [
        "train",
        "train",
        "validation",
        "validation",
        "test",
        "test",
        "train",
    ]
    assert split.points("test")["track_id"].tolist() == ["f"]
    assert split.report.stats["users without held-out sessions"] == 1


def test_global_temporal_needs_sessions():
    with pytest.raises(ValueError, match="build_sessions"):
        global_temporal(make_log([("u", "a", 0)]))
