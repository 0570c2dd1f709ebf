import numpy as np
import pandas as pd
import pytest

from segue.data.errors import DataError
from segue.data.sessions import SkipRule, build_sessions
from tests.conftest import make_log

MIN = 60


def test_gap_starts_new_session_and_positions_count_within():
    log = make_log([("u", "a", 0), ("u", "b", 5 * MIN), ("u", "c", 45 * MIN), ("v", "a", 46 * MIN)])
    out = build_sessions(log, gap="30min").events
    assert out["session_id"].tolist() == [0, 0, 1, 2]
    assert out["position"].tolist() == [0, 1, 0, 0]


def test_gap_exactly_equal_does_not_split():
    log = make_log([("u", "a", 0), ("u", "b", 30 * MIN)])
    assert build_sessions(log, gap="30min").events["session_id"].nunique() == 1


def test_unsorted_input_sorted_stably_on_timestamp_ties():
    log = make_log([("u", "b", 10), ("u", "x", 0), ("u", "c", 10), ("u", "d", 10)])
    out = build_sessions(log).events
    assert out["track_id"].tolist() == ["x", "b", "c", "d"]


def test_skip_rule_from_flag_ms_and_fraction():
    log = make_log([("u", "a", 0), ("u", "b", 100), ("u", "c", 200), ("u", "d", 300)])
    log["ms_played"] = pd.array([1000, 200_000, 100_000, None], dtype="Int64")
    log["duration_ms"] = pd.array([200_000, 200_000, 400_000, 200_000], dtype="Int64")
    log["skipped"] = pd.array([None, None, None, True], dtype="boolean")
    default = build_sessions(log).events["is_skip"].tolist()
    assert default == [True, False, False, True]
    by_fraction = build_sessions(log, skip_rule=SkipRule(min_ms=None, min_fraction=0.5))
    assert by_fraction.events["is_skip"].tolist() == [True, False, True, True]
    no_rule = build_sessions(log, skip_rule=None).events["is_skip"].tolist()
    assert no_rule == [False] * 4


def test_likes_are_never_skips():
    log = make_log([("u", "a", 0), ("u", "a", 10)])
    log["ms_played"] = pd.array([0, 0], dtype="Int64")
    log["event_type"] = ["play", "like"]
    assert build_sessions(log).events["is_skip"].tolist() == [True, False]


def test_drop_skips_counts_them_and_keeps_gap_from_skips():
    # The skip at 20 min keeps the session alive: gaps are measured on all events.
    log = make_log([("u", "a", 0), ("u", "b", 20 * MIN), ("u", "c", 40 * MIN)])
    log["ms_played"] = pd.array([200_000, 5_000, 200_000], dtype="Int64")
    result = build_sessions(log, drop_skips=True)
    assert result.events["track_id"].tolist() == ["a", "c"]
    assert result.events["session_id"].tolist() == [0, 0]
    assert result.report.dropped == {"skipped play": 1}
    assert result.report.rows_in == 3 and result.report.rows_kept == 2


def test_collapse_consecutive_repeats_within_session_only():
    log = make_log([("u", "a", 0), ("u", "a", 100), ("u", "b", 200), ("u", "b", 99 * MIN)])
    result = build_sessions(log, collapse_repeats=True)
    assert result.events["track_id"].tolist() == ["a", "b", "b"]
    assert result.report.dropped == {"consecutive repeat collapsed": 1}


def test_collapse_repeats_keeps_the_play_after_a_skip_of_the_same_track():
    # Extended history: b skipped after 10 s, then played in full twice, back to back.
    plays = [("u", "a", 0), ("u", "b", 240), ("u", "b", 250), ("u", "b", 490), ("u", "c", 730)]
    log = make_log([*plays, ("u", "d", 970), ("u", "d", 980)])  # a run of skips keeps its first
    log["ms_played"] = pd.array([240_000, 10_000, 240_000, 240_000, 240_000, 10_000, 5_000])
    result = build_sessions(log, collapse_repeats=True)
    events = result.events
    assert events["track_id"].tolist() == ["a", "b", "c", "d"]
    assert events["ms_played"].tolist() == [240_000, 240_000, 240_000, 10_000]
    assert events["is_skip"].tolist() == [False, False, False, True]
    assert result.report.dropped == {"consecutive repeat collapsed": 3}


def test_max_length_cuts_without_dropping_and_min_length_drops_counted():
    log = make_log([("u", t, i) for i, t in enumerate("abcde")] + [("v", "a", 0)])
    cut = build_sessions(log, max_length=2).events
    assert cut["session_id"].tolist() == [0, 0, 1, 1, 2, 3]
    result = build_sessions(log, max_length=2, min_length=2)
    assert result.events["track_id"].tolist() == ["a", "b", "c", "d"]
    assert result.report.dropped == {"session shorter than 2 events": 2}
    assert result.events["session_id"].tolist() == [0, 0, 1, 1]  # ids stay contiguous


def test_source_session_column_also_splits():
    log = make_log([("u", "a", 0), ("u", "b", 10), ("u", "c", 20)])
    log["source_session_id"] = [7, 7, 8]
    out = build_sessions(log, source_session_column="source_session_id").events
    assert out["session_id"].tolist() == [0, 0, 1]


def test_errors_name_the_problem():
    with pytest.raises(DataError, match="missing"):
        build_sessions(pd.DataFrame({"user_id": ["u"], "track_id": ["a"]}))
    with pytest.raises(DataError, match="empty"):
        build_sessions(make_log([]))
    naive = pd.DataFrame({"user_id": ["u"], "track_id": ["a"], "timestamp": [pd.Timestamp(0)]})
    with pytest.raises(DataError, match="timezone"):
        build_sessions(naive)


def test_vectorised_result_matches_a_loop_reference():
    rng = np.random.default_rng(0)
    n = 2000
    users = rng.integers(0, 20, n)
    times = rng.integers(0, 10 * 86400, n)
    log = make_log(list(zip(users, rng.integers(0, 50, n), times)))
    out = build_sessions(log, gap="1h").events
    expected, session, last = [], -1, None
    for user, t in zip(out["user_id"], out["timestamp"]):
        if last is None or user != last[0] or (t - last[1]) > pd.Timedelta("1h"):
            session += 1
        expected.append(session)
        last = (user, t)
    assert out["session_id"].tolist() == expected
    assert np.all(np.diff(out["session_id"].to_numpy()) >= 0)
