"""Leakage-free splits into train / validation / test folds, with their prediction points.

Every split labels each event with a fold and marks **prediction points**: events whose track a
model must predict from everything the listener did before. A model trains on ``train`` events
only; the history of a prediction point is every earlier event of the same user (any fold), so
nothing after a point is ever visible to it. Skipped plays are never prediction points.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from segue.checks import check_integer, check_number
from segue.columns import TEST, TRAIN, VALIDATION, Columns
from segue.data.errors import DataError
from segue.data.event_log import EventLog
from segue.data.report import Report

IS_POINT = "is_point"

MAX_DAYS = 36525.0
"""The longest window of a time split, in days: a century, longer than any listening log."""


@dataclass
class Split:
    """Events in user / time order with a ``fold`` column and an ``is_point`` flag.

    Args:
        events: All kept events, sorted by user then time, with ``fold`` in
            {train, validation, test} and ``is_point`` True at prediction points.
        protocol: Name of the protocol that produced the split.
        report: Rows kept and dropped by the split, and point counts.
    """

    events: pd.DataFrame
    protocol: str
    report: Report

    @property
    def train(self) -> pd.DataFrame:
        return self.events[self.events[Columns.FOLD] == TRAIN]

    def points(self, fold: str) -> pd.DataFrame:
        """The prediction points of ``fold``; the index is their row in :attr:`events`."""
        if fold not in (VALIDATION, TEST):
            raise ValueError(f"fold must be {VALIDATION!r} or {TEST!r}, got {fold!r}")
        mask = (self.events[Columns.FOLD] == fold) & self.events[IS_POINT]
        return self.events[mask.to_numpy()]


def _events_of(log: EventLog | pd.DataFrame) -> pd.DataFrame:
    if not isinstance(log, EventLog | pd.DataFrame):
        raise TypeError(f"log must be an EventLog or a DataFrame, got {type(log).__name__}")
    events = log.events if isinstance(log, EventLog) else log
    if len(events) == 0:
        raise DataError("cannot split an empty event log")
    for column in (Columns.USER, Columns.TRACK, Columns.TIMESTAMP):
        if column not in events:
            raise DataError(f"a split needs column {column!r}", column=column)
    events = events.sort_values([Columns.USER, Columns.TIMESTAMP], kind="stable")
    events = events.reset_index(drop=True)
    if Columns.IS_SKIP not in events:
        events[Columns.IS_SKIP] = False
    return events


def _finish(events: pd.DataFrame, protocol: str, report: Report, fix: str) -> Split:
    """Count folds and points; a split without a single test point is an error, not a result.

    Args:
        fix: What the user can change when no test point is left (said in the error).
    """
    report.rows_kept = len(events)
    for fold in (TRAIN, VALIDATION, TEST):
        in_fold = events[Columns.FOLD] == fold
        report.stats[f"{fold} events"] = int(in_fold.sum())
        if fold != TRAIN:
            report.stats[f"{fold} points"] = int((in_fold & events[IS_POINT]).sum())
    if report.stats[f"{TEST} points"] == 0:
        raise DataError(f"the {protocol} split left no test point ({report.stats}); {fix}")
    if report.stats[f"{TRAIN} events"] == 0:
        raise DataError(
            f"the {protocol} split left no training event ({report.stats}): every session "
            "falls in validation or test; move the cut later (test_start, validation_days)"
        )
    _count_unknown(events, report)
    return Split(events, protocol, report.check())


def _count_unknown(events: pd.DataFrame, report: Report) -> None:
    """Count points whose user or target never occurs in train: they stay, as misses."""
    train = events[events[Columns.FOLD] == TRAIN]
    train_tracks = set(train[Columns.TRACK].unique())
    train_users = set(train[Columns.USER].unique())
    for fold in (VALIDATION, TEST):
        points = events[(events[Columns.FOLD] == fold) & events[IS_POINT]]
        report.stats[f"{fold} points with target unseen in train"] = int(
            (~points[Columns.TRACK].isin(train_tracks)).sum()
        )
        report.stats[f"{fold} points of users unseen in train"] = int(
            (~points[Columns.USER].isin(train_users)).sum()
        )


def leave_last_out(
    log: EventLog | pd.DataFrame, min_points: int = 3, validation: bool = True
) -> Split:
    """Per user: the last non-skipped event is the test point, the one before it validation.

    Events from the validation point up to the test point form the validation fold, events from
    the test point on the test fold, so skips after a point never leak into training. Users with
    fewer than ``min_points`` non-skipped events stay wholly in train (no point; counted).
    ``validation=False`` makes no validation fold: the event that would be the validation point
    is trained on, and the test points are unchanged (a refit run, :mod:`segue.training.refit`).

    >>> df = pd.DataFrame({"user_id": ["u"] * 4, "track_id": list("abcd"),
    ...     "timestamp": pd.to_datetime([1, 2, 3, 4], unit="s", utc=True)})
    >>> split = leave_last_out(df)
    >>> split.events["fold"].tolist(), split.points("test")["track_id"].tolist()
    (['train', 'train', 'validation', 'test'], ['d'])
    """
    _check_leave_last_out(min_points, validation)
    events = _events_of(log)
    report = Report("split leave-last-out", rows_in=len(events), rows_kept=0)
    users = pd.factorize(events[Columns.USER])[0]
    playable = ~events[Columns.IS_SKIP].to_numpy(dtype=bool)
    # Rank of each non-skipped event counted from the user's end: 0 = last.
    from_end = _reverse_rank(users, playable)
    n_playable = np.bincount(users, weights=playable, minlength=users.max() + 1)[users]
    eligible = n_playable >= min_points
    test_point = playable & (from_end == 0) & eligible
    val_point = playable & (from_end == 1) & eligible & validation
    fold = np.full(len(events), TRAIN, dtype=object)
    after_val = _after_mark(users, val_point)
    after_test = _after_mark(users, test_point)
    fold[after_val] = VALIDATION
    fold[after_test] = TEST
    events[Columns.FOLD] = fold
    events[IS_POINT] = test_point | val_point
    report.stats["users without points (too few events)"] = int(
        pd.Series(users[~eligible]).nunique()
    )
    fix = f"every user has fewer than min_points={min_points} non-skipped events"
    return _finish(events, "leave-last-out", report, fix)


def _check_leave_last_out(min_points: int = 3, validation: bool = True) -> None:
    # Two points (validation, test) and at least one earlier event to predict them from; the
    # same users keep test points when a refit run trains on the validation point.
    check_integer("min_points", min_points, minimum=3)
    _check_flag("validation", validation)


def _reverse_rank(groups: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """For masked rows, how many masked rows of the same group come after it."""
    counts = np.bincount(groups, weights=mask, minlength=groups.max() + 1)
    before = _cumcount_masked(groups, mask)
    return (counts[groups] - 1 - before).astype(np.int64)


def _cumcount_masked(groups: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Number of masked rows of the same group strictly before each row (groups contiguous)."""
    running = np.cumsum(mask) - mask
    group_start = np.r_[0, np.flatnonzero(groups[1:] != groups[:-1]) + 1]
    first_of_group = np.repeat(running[group_start], np.diff(np.r_[group_start, len(groups)]))
    return running - first_of_group


def _after_mark(groups: np.ndarray, mark: np.ndarray) -> np.ndarray:
    """True at and after the first marked row of each group (groups contiguous)."""
    seen = np.cumsum(mark)
    group_start = np.r_[0, np.flatnonzero(groups[1:] != groups[:-1]) + 1]
    before_group = np.repeat(
        seen[group_start] - mark[group_start], np.diff(np.r_[group_start, len(groups)])
    )
    return (seen - before_group) > 0


def _utc(moment: object, name: str = "test_start") -> pd.Timestamp:
    """A moment as a UTC timestamp; naive moments are taken as UTC.

    >>> _utc("2024-01-02")
    Timestamp('2024-01-02 00:00:00+0000', tz='UTC')
    """
    if not isinstance(moment, str | pd.Timestamp | np.datetime64) and not hasattr(
        moment, "isoformat"
    ):
        raise TypeError(f"{name} must be a date or a time such as '2024-01-31', got {moment!r}")
    try:
        stamp = pd.Timestamp(moment)  # type: ignore[arg-type]
    except (ValueError, TypeError, OverflowError) as error:
        raise ValueError(
            f"{name} must be a date or a time such as '2024-01-31', got {moment!r} ({error})"
        ) from None
    if pd.isna(stamp):
        raise ValueError(f"{name} must be a date or a time such as '2024-01-31', got {moment!r}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _session_ids(events: pd.DataFrame) -> np.ndarray:
    if Columns.SESSION not in events:
        raise DataError(
            "this split needs sessions: run segue.build_sessions first", column=Columns.SESSION
        )
    return events[Columns.SESSION].to_numpy()


def _session_points(events: pd.DataFrame, in_fold: np.ndarray, first_track: bool) -> np.ndarray:
    """Points of the sessions in a fold: every non-skipped event (from position 1 unless
    ``first_track``: a session's first track has no in-session context)."""
    playable = ~events[Columns.IS_SKIP].to_numpy(dtype=bool)
    has_prefix = events[Columns.POSITION].to_numpy() >= (0 if first_track else 1)
    return in_fold & playable & has_prefix


def global_temporal(
    log: EventLog | pd.DataFrame,
    test_start: str | pd.Timestamp | None = None,
    *,
    test_days: float = 2.0,
    validation_days: float = 2.0,
    gap_days: float = 0.0,
    predict_first_track: bool = False,
) -> Split:
    """One cut in time for everyone: sessions starting after ``test_start`` are test.

    Sessions starting in the ``validation_days`` before ``test_start`` are validation; earlier
    sessions train. With ``gap_days``, sessions starting within that time before the validation
    window are dropped (counted), leaving a gap between what is learned and what is tested.
    ``test_start`` defaults to ``test_days`` before the last event. Points are every next track of
    the validation / test sessions, predicted from the user's earlier events plus the session
    prefix; points whose target track or user is absent from train are kept and counted.

    ``validation_days=0`` makes no validation fold (a refit run: train on everything before
    ``test_start``).

    Needs sessions (:func:`segue.build_sessions`): a session belongs wholly to one fold.

    Raises:
        ValueError, TypeError: For a bad setting, before the log is read.
        DataError: When ``test_start`` is after the last event or no test point is left.
    """
    _check_global_temporal(test_start, test_days, validation_days, gap_days, predict_first_track)
    events = _events_of(log)
    report = Report("split global-temporal", rows_in=len(events), rows_kept=0)
    sessions = _session_ids(events)
    times = events[Columns.TIMESTAMP]
    if not isinstance(times.dtype, pd.DatetimeTZDtype):
        raise DataError(
            "a time cut needs timezone-aware datetimes (read the log with segue.read_log)",
            column=Columns.TIMESTAMP,
        )
    start = times.groupby(sessions).transform("min")
    cut = _utc(test_start) if test_start is not None else times.max() - pd.Timedelta(days=test_days)
    if cut > times.max():
        raise DataError(
            f"test_start={cut} is after the last event ({times.max()}): no session would be "
            "tested; choose an earlier test_start, or leave it out to use test_days",
            column=Columns.TIMESTAMP,
        )
    val_cut = cut - pd.Timedelta(days=validation_days)
    gap_cut = val_cut - pd.Timedelta(days=gap_days)
    in_gap = ((start >= gap_cut) & (start < val_cut)).to_numpy()
    report.drop("session in the gap before validation", int(in_gap.sum()))
    fold = np.where(start >= cut, TEST, np.where(start >= val_cut, VALIDATION, TRAIN))
    events = events.assign(**{Columns.FOLD: fold})[~in_gap].reset_index(drop=True)
    not_train = (events[Columns.FOLD] != TRAIN).to_numpy()
    events[IS_POINT] = _session_points(events, not_train, predict_first_track)
    report.stats.update(test_start=str(cut), validation_start=str(val_cut))
    fix = "no session of two or more events starts after test_start; move it earlier"
    return _finish(events, "global-temporal", report, fix)


def _check_global_temporal(
    test_start: object = None,
    test_days: float = 2.0,
    validation_days: float = 2.0,
    gap_days: float = 0.0,
    predict_first_track: bool = False,
) -> None:
    # At most MAX_DAYS: a longer window is a typo (seconds?) and overflows pandas' Timedelta.
    if test_start is not None:
        _utc(test_start)
    else:
        check_number("test_days", test_days, low=0, low_open=True, high=MAX_DAYS)
    check_number("validation_days", validation_days, low=0, high=MAX_DAYS)  # 0: no validation
    check_number("gap_days", gap_days, low=0, high=MAX_DAYS)
    _check_flag("predict_first_track", predict_first_track)


def _check_flag(name: str, value: object) -> None:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be true or false, got {value!r}")


def held_out_sessions(
    log: EventLog | pd.DataFrame,
    *,
    min_train_sessions: int = 1,
    predict_first_track: bool = False,
    validation: bool = True,
) -> Split:
    """Per user: the last session is test, the one before validation, the rest train.

    Users with fewer than ``min_train_sessions + 2`` sessions stay wholly in train (counted); a
    log in which no user has that many is an error, since it would leave nothing to test.
    ``validation=False`` makes no validation fold: the session that would be validation is
    trained on, and the test sessions are unchanged (a refit run, :mod:`segue.training.refit`).

    >>> df = pd.DataFrame({"user_id": ["u"] * 6, "track_id": list("abcdef"),
    ...     "timestamp": pd.to_datetime([0, 60, 7200, 7260, 14400, 14460], unit="s", utc=True)})
    >>> from segue.data.sessions import build_sessions
    >>> log = build_sessions(df, gap="30min")
    >>> held_out_sessions(log).events["fold"].tolist()
    ['train', 'train', 'validation', 'validation', 'test', 'test']
    >>> held_out_sessions(log, validation=False).events["fold"].tolist()
    ['train', 'train', 'train', 'train', 'test', 'test']
    """
    _check_held_out_sessions(min_train_sessions, predict_first_track, validation)
    events = _events_of(log)
    report = Report("split held-out-sessions", rows_in=len(events), rows_kept=0)
    sessions = _session_ids(events)
    users = pd.factorize(events[Columns.USER])[0]
    starts = np.r_[True, (sessions[1:] != sessions[:-1]) | (users[1:] != users[:-1])]
    # Sessions counted from the user's last (0); read at each session's first row.
    rank_at_start = _reverse_rank(users, starts)
    start_row = np.maximum.accumulate(np.where(starts, np.arange(len(starts)), 0))
    session_rank = rank_at_start[start_row]
    n_sessions = np.bincount(users, weights=starts, minlength=users.max() + 1)[users]
    eligible = n_sessions >= min_train_sessions + 2
    fold = np.full(len(events), TRAIN, dtype=object)
    # The same users are eligible without a validation fold, so a refit keeps the test points.
    fold[eligible & (session_rank == 1) & validation] = VALIDATION
    fold[eligible & (session_rank == 0)] = TEST
    events[Columns.FOLD] = fold
    events[IS_POINT] = _session_points(events, fold != TRAIN, predict_first_track)
    report.stats["users without held-out sessions"] = int(pd.Series(users[~eligible]).nunique())
    fix = (
        f"a user needs min_train_sessions + 2 = {min_train_sessions + 2} sessions; lower "
        "min_train_sessions, shorten the session gap, or use the global_temporal split"
    )
    return _finish(events, "held-out-sessions", report, fix)


def _check_held_out_sessions(
    min_train_sessions: int = 1, predict_first_track: bool = False, validation: bool = True
) -> None:
    check_integer("min_train_sessions", min_train_sessions, minimum=0)
    _check_flag("predict_first_track", predict_first_track)
    _check_flag("validation", validation)


_OPTION_CHECKS: dict[str, tuple[Callable[..., Split], Callable[..., None]]] = {
    "leave_last_out": (leave_last_out, _check_leave_last_out),
    "global_temporal": (global_temporal, _check_global_temporal),
    "held_out_sessions": (held_out_sessions, _check_held_out_sessions),
}


def check_split_options(split: str, options: Mapping[str, Any] | None = None) -> None:
    """Check a split's name and options without any data, as a script does before reading.

    >>> check_split_options("global_temporal", {"test_days": 2, "validation_days": 0})
    >>> check_split_options("global_temporal", {"test_day": 2})
    Traceback (most recent call last):
    ValueError: unknown option 'test_day' of the global_temporal split; allowed: \
['gap_days', 'predict_first_track', 'test_days', 'test_start', 'validation_days']

    Raises:
        ValueError, TypeError: Naming the split or the option and what is allowed.
    """
    if split not in _OPTION_CHECKS:
        raise ValueError(f"unknown split {split!r}; choose from {sorted(_OPTION_CHECKS)}")
    function, check = _OPTION_CHECKS[split]
    allowed = sorted(p for p in inspect.signature(function).parameters if p != "log")
    for name in options or {}:
        if name not in allowed:
            raise ValueError(f"unknown option {name!r} of the {split} split; allowed: {allowed}")
    check(**(options or {}))
