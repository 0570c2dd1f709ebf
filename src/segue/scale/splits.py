"""The splits of :mod:`segue.data.splits` in SQL: table ``sessions`` -> table ``split``.

Each adds ``fold`` and ``is_point`` with the pandas rules (a session belongs wholly to one fold;
skipped plays are never points) and returns the same :class:`Report`. Per-user steps are windows
partitioned by user in row order (``ord``); the global temporal split's only global figure is
the cut in time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from segue.columns import TEST, TRAIN, VALIDATION, Columns
from segue.data.errors import DataError
from segue.data.report import Report
from segue.scale.engine import SqlEngine

IS_POINT = "is_point"
USER_ORDER = "PARTITION BY user_id ORDER BY ord"


def _point_sql(predict_first_track: bool) -> str:
    """Points of held-out sessions: non-skipped plays (from position 1 unless first_track)."""
    first = 0 if predict_first_track else 1
    return f"(fold <> '{TRAIN}' AND NOT is_skip AND {Columns.POSITION} >= {first})"


def _fold_sql(test: str, validation: str) -> str:
    return (
        f"CASE WHEN {test} THEN '{TEST}' WHEN {validation} THEN '{VALIDATION}' ELSE '{TRAIN}' END"
    )


def global_temporal_sql(
    engine: SqlEngine,
    rows_in: int,
    test_start: str | pd.Timestamp | None = None,
    *,
    test_days: float = 2.0,
    validation_days: float = 2.0,
    gap_days: float = 0.0,
    predict_first_track: bool = False,
) -> Report:
    """:func:`segue.global_temporal` on table ``sessions``."""
    report = Report("split global-temporal", rows_in=rows_in, rows_kept=0)
    if test_start is not None:
        stamp = pd.Timestamp(test_start)
        cut = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    last_us = engine.rows("SELECT MAX(ts_us) FROM sessions")[0][0]
    last = pd.Timestamp(int(last_us) * 1000, tz="UTC")
    if test_start is None:
        cut = last - pd.Timedelta(days=test_days)
    if cut > last:
        raise DataError(
            f"test_start={cut} is after the last event ({last}): no session would be "
            "tested; choose an earlier test_start, or leave it out to use test_days",
            column=Columns.TIMESTAMP,
        )
    val_cut = cut - pd.Timedelta(days=validation_days)
    gap_cut = val_cut - pd.Timedelta(days=gap_days)
    # compared in nanoseconds, as pandas does: the cuts need not fall on a microsecond
    start = f"MIN(ts_us) OVER (PARTITION BY {Columns.SESSION}) * 1000"
    in_gap = f"(start_ns >= {gap_cut.value} AND start_ns < {val_cut.value})"
    fold = _fold_sql(f"start_ns >= {cut.value}", f"start_ns >= {val_cut.value}")
    engine.create(
        "split_all",
        f"SELECT *, {fold} AS fold, {in_gap} AS in_gap FROM ("
        f"SELECT *, {start} AS start_ns FROM sessions) AS s",
        view=True,
    )
    engine.create(
        "split",
        f"SELECT {_kept_columns(engine, 'split_all', ('start_ns', 'in_gap'))}, "
        f"{_point_sql(predict_first_track)} AS {IS_POINT} FROM split_all WHERE NOT in_gap",
    )
    engine.drop("split_all")
    report.stats.update(test_start=str(cut), validation_start=str(val_cut))
    fix = "no session of two or more events starts after test_start; move it earlier"
    return _finish(engine, report, "global-temporal", fix, "session in the gap before validation")


def held_out_sessions_sql(
    engine: SqlEngine,
    rows_in: int,
    *,
    min_train_sessions: int = 1,
    predict_first_track: bool = False,
    validation: bool = True,
) -> Report:
    """:func:`segue.held_out_sessions` on table ``sessions``."""
    report = Report("split held-out-sessions", rows_in=rows_in, rows_kept=0)
    rank = f"DENSE_RANK() OVER (PARTITION BY user_id ORDER BY {Columns.SESSION} DESC) - 1"
    # Spark has no DISTINCT window aggregates: count sessions as the largest rank + 1
    count = "MAX(from_end) OVER (PARTITION BY user_id) + 1"
    eligible = f"n_sessions >= {int(min_train_sessions) + 2}"
    in_validation = f"{eligible} AND from_end = 1" if validation else "FALSE"
    fold = _fold_sql(f"{eligible} AND from_end = 0", in_validation)
    engine.create(
        "split_all",
        f"SELECT *, {fold} AS fold FROM (SELECT *, {count} AS n_sessions FROM ("
        f"SELECT *, {rank} AS from_end FROM sessions) AS r) AS s",
        view=True,
    )
    engine.create(
        "split",
        f"SELECT {_kept_columns(engine, 'split_all', ('from_end', 'n_sessions'))}, "
        f"{_point_sql(predict_first_track)} AS {IS_POINT} FROM split_all",
    )
    engine.drop("split_all")
    report.stats["users without held-out sessions"] = _users_without_test(engine)
    fix = (
        f"a user needs min_train_sessions + 2 = {min_train_sessions + 2} sessions; lower "
        "min_train_sessions, shorten the session gap, or use the global_temporal split"
    )
    return _finish(engine, report, "held-out-sessions", fix)


def leave_last_out_sql(
    engine: SqlEngine, rows_in: int, min_points: int = 3, validation: bool = True
) -> Report:
    """:func:`segue.leave_last_out` on table ``sessions``."""
    report = Report("split leave-last-out", rows_in=rows_in, rows_kept=0)
    playable = "CASE WHEN is_skip THEN 0 ELSE 1 END"
    after = (
        f"SUM({playable}) OVER (PARTITION BY user_id ORDER BY ord DESC "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
    )
    n_playable = f"SUM({playable}) OVER (PARTITION BY user_id)"
    eligible = f"n_playable >= {int(min_points)}"
    test_point = f"(NOT is_skip AND from_end = 0 AND {eligible})"
    val_point = f"(NOT is_skip AND from_end = 1 AND {eligible})" if validation else "FALSE"
    seen = "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
    engine.create(
        "split_marks",
        f"SELECT *, {test_point} AS test_point, {val_point} AS val_point FROM ("
        f"SELECT *, COALESCE({after}, 0) AS from_end, {n_playable} AS n_playable "
        "FROM sessions) AS s",
        view=True,
    )
    after_test = f"MAX(CASE WHEN test_point THEN 1 ELSE 0 END) OVER ({USER_ORDER} {seen}) = 1"
    after_val = f"MAX(CASE WHEN val_point THEN 1 ELSE 0 END) OVER ({USER_ORDER} {seen}) = 1"
    drop = ("from_end", "n_playable", "test_point", "val_point")
    engine.create(
        "split",
        f"SELECT {_kept_columns(engine, 'split_marks', drop)}, "
        f"{_fold_sql(after_test, after_val)} AS fold, "
        f"(test_point OR val_point) AS {IS_POINT} FROM split_marks",
    )
    engine.drop("split_marks")
    report.stats["users without points (too few events)"] = _users_without_test(engine)
    fix = f"every user has fewer than min_points={min_points} non-skipped events"
    return _finish(engine, report, "leave-last-out", fix)


SQL_SPLITS: dict[str, Callable[..., Report]] = {
    "leave_last_out": leave_last_out_sql,
    "global_temporal": global_temporal_sql,
    "held_out_sessions": held_out_sessions_sql,
}


def run_split(engine: SqlEngine, name: str, rows_in: int, options: dict[str, Any]) -> Report:
    """Run the split ``name`` with the keyword ``options`` of its pandas twin."""
    if name not in SQL_SPLITS:
        raise ValueError(f"unknown split {name!r}; choose from {sorted(SQL_SPLITS)}")
    return SQL_SPLITS[name](engine, rows_in, **options)


def _kept_columns(engine: SqlEngine, table: str, drop: tuple[str, ...]) -> str:
    columns = engine.columns(table)
    return ", ".join(c for c in columns if c not in drop)


def _users_without_test(engine: SqlEngine) -> int:
    """Users left wholly in train: every eligible user has a test fold."""
    all_users, tested = engine.rows(
        f"SELECT COUNT(DISTINCT user_id), COUNT(DISTINCT CASE WHEN fold = '{TEST}' "
        "THEN user_id END) FROM split"
    )[0]
    return int(all_users) - int(tested)


def _finish(
    engine: SqlEngine, report: Report, protocol: str, fix: str, dropped: str | None = None
) -> Report:
    """Fold and point counts, and points whose target or user never occurs in train; rows
    missing from ``split`` are counted as ``dropped``. No test point is an error saying
    ``fix``, as in the pandas splits."""
    rows = engine.rows(
        f"SELECT fold, COUNT(*), SUM(CASE WHEN {IS_POINT} THEN 1 ELSE 0 END) FROM split "
        "GROUP BY fold"
    )
    by_fold = {str(f): (int(n), int(p or 0)) for f, n, p in rows}
    report.rows_kept = sum(n for n, _ in by_fold.values())
    if dropped is not None:
        report.drop(dropped, report.rows_in - report.rows_kept)
    for fold in (TRAIN, VALIDATION, TEST):
        n, points = by_fold.get(fold, (0, 0))
        report.stats[f"{fold} events"] = n
        if fold != TRAIN:
            report.stats[f"{fold} points"] = points
    if report.stats[f"{TEST} points"] == 0:
        raise DataError(f"the {protocol} split left no test point ({report.stats}); {fix}")
    unseen = engine.rows(
        f"SELECT p.fold, SUM(CASE WHEN t.{Columns.TRACK} IS NULL THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN u.user_id IS NULL THEN 1 ELSE 0 END) "
        f"FROM (SELECT fold, {Columns.TRACK}, user_id FROM split WHERE {IS_POINT}) AS p "
        f"LEFT JOIN (SELECT DISTINCT {Columns.TRACK} FROM split WHERE fold = '{TRAIN}') AS t "
        f"ON p.{Columns.TRACK} = t.{Columns.TRACK} "
        f"LEFT JOIN (SELECT DISTINCT user_id FROM split WHERE fold = '{TRAIN}') AS u "
        "ON p.user_id = u.user_id GROUP BY p.fold"
    )
    counts = {str(f): (int(t or 0), int(u or 0)) for f, t, u in unseen}
    for fold in (VALIDATION, TEST):
        tracks, users = counts.get(fold, (0, 0))
        report.stats[f"{fold} points with target unseen in train"] = tracks
        report.stats[f"{fold} points of users unseen in train"] = users
    return report.check()
