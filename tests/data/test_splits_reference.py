"""Every split against a plain per-user loop, on small logs full of timestamp ties and skips."""

import numpy as np
import pandas as pd
import pytest

from segue.data.sessions import SkipRule, build_sessions
from segue.data.splits import global_temporal, held_out_sessions, leave_last_out

HOUR = 3600


def tied_log(seed: int):
    """Six listeners, whole hours only (many ties), a third of the plays skipped."""
    rng = np.random.default_rng(seed)
    n = 150
    log = pd.DataFrame(
        {
            "user_id": rng.integers(0, 6, n).astype(str),
            "track_id": rng.integers(0, 10, n).astype(str),
            "timestamp": pd.to_datetime(rng.integers(0, 60, n) * HOUR, unit="s", utc=True),
            "ms_played": rng.choice([5_000, 200_000], n, p=[1 / 3, 2 / 3]),
        }
    )
    return build_sessions(log, gap="1h", skip_rule=SkipRule(min_ms=30_000)).events


def by_user(events):
    for _, group in events.groupby("user_id", sort=False):
        yield group.index.to_numpy(), ~group["is_skip"].to_numpy(bool)


def session_points(events, fold):
    playable = ~events["is_skip"].to_numpy(bool)
    return (fold != "train") & playable & (events["position"].to_numpy() >= 1)


def loop_leave_last_out(events, min_points, validation):
    fold, point = np.full(len(events), "train", dtype=object), np.zeros(len(events), bool)
    for rows, playable in by_user(events):
        plays = rows[playable]
        if len(plays) < min_points:
            continue
        if validation:
            fold[plays[-2] : plays[-1]], point[plays[-2]] = "validation", True
        fold[plays[-1] : rows[-1] + 1], point[plays[-1]] = "test", True
    return fold, point


def loop_held_out_sessions(events, min_train_sessions, validation):
    fold = np.full(len(events), "train", dtype=object)
    for rows, _ in by_user(events):
        sessions = list(dict.fromkeys(events["session_id"].to_numpy()[rows]))
        if len(sessions) < min_train_sessions + 2:
            continue
        of = events["session_id"].to_numpy()[rows]
        fold[rows[of == sessions[-1]]] = "test"
        if validation:
            fold[rows[of == sessions[-2]]] = "validation"
    return fold, session_points(events, fold)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("min_points", "validation"), [(3, True), (4, True), (3, False)])
def test_leave_last_out_equals_a_loop(seed, min_points, validation):
    events = tied_log(seed)
    split = leave_last_out(events, min_points=min_points, validation=validation)
    fold, point = loop_leave_last_out(events, min_points, validation)
    assert split.events["fold"].tolist() == fold.tolist()
    assert split.events["is_point"].tolist() == point.tolist()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("min_train_sessions", "validation"), [(0, True), (1, True), (1, False)])
def test_held_out_sessions_equals_a_loop(seed, min_train_sessions, validation):
    events = tied_log(seed)
    split = held_out_sessions(events, min_train_sessions=min_train_sessions, validation=validation)
    fold, point = loop_held_out_sessions(events, min_train_sessions, validation)
    assert split.events["fold"].tolist() == fold.tolist()
    assert split.events["is_point"].tolist() == point.tolist()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("validation_hours", "gap_hours"), [(10, 0), (10, 5), (0, 5)])
def test_global_temporal_equals_a_loop(seed, validation_hours, gap_hours):
    """Half-open windows by session start: a session starting exactly at a cut is after it."""
    events = tied_log(seed)
    cut = pd.Timestamp(40 * HOUR, unit="s", tz="UTC")  # on the hour: starts tie with the cuts
    split = global_temporal(
        events, cut, validation_days=validation_hours / 24, gap_days=gap_hours / 24
    )
    val_cut = cut - pd.Timedelta(hours=validation_hours)
    gap_cut = val_cut - pd.Timedelta(hours=gap_hours)
    fold, kept = [], []
    for start in events.groupby("session_id")["timestamp"].transform("min"):
        kept.append(not gap_cut <= start < val_cut)
        fold.append("test" if start >= cut else "validation" if start >= val_cut else "train")
    kept_events = events[np.array(kept)].reset_index(drop=True)
    fold = np.array(fold, dtype=object)[np.array(kept)]
    assert split.events["fold"].tolist() == fold.tolist()
    assert split.events["is_point"].tolist() == session_points(kept_events, fold).tolist()
    assert split.report.rows_in - split.report.rows_kept == len(events) - len(kept_events)
