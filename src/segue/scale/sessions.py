"""Sessionisation in SQL, with exactly the rules of :func:`segue.build_sessions`.

Every window is partitioned by user and ordered by (time, file row), the order the pandas path
sorts into, so an engine can spread users across threads or machines; the only global steps run
over one row per user (session and row offsets). The steps, as in pandas:

1. a session starts at a user's first event or after more than ``gap`` of silence (or where the
   source session column changes); skips are flagged by the :class:`~segue.SkipRule` columns;
2. skipped plays are dropped (``drop_skips``), then back-to-back repeats of a track within a
   session (``collapse_repeats``);
3. sessions longer than ``max_length`` are cut, then sessions shorter than ``min_length``
   dropped;
4. ``session_id`` numbers sessions in user and time order, ``position`` counts within each,
   ``ord`` is the row's place in the whole sorted log (the pandas row index) and
   ``user_index`` numbers users in id order.

Timestamps are integer microseconds (``ts_us``): sub-microsecond differences, which pandas
would keep, are not seen here.
"""

from __future__ import annotations

from segue.columns import Columns, EventTypes
from segue.data.pipeline import SessionOptions
from segue.data.report import Report
from segue.data.sessions import parse_gap
from segue.scale.engine import SqlEngine

BY_USER = "PARTITION BY user_id ORDER BY ts_us, src_row"
"""The window of every per-user step: a user's events in time order, ties in file order."""
ALL_ROWS = "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"


def skip_sql(columns: list[str], options: SessionOptions) -> str:
    """SQL for :func:`segue.data.sessions.skip_mask` under the options' skip rule.

    >>> skip_sql(["ms_played"], SessionOptions())
    'COALESCE(ms_played < 30000, FALSE)'
    """
    parts = []
    if Columns.SKIPPED in columns:  # SessionOptions always uses the source flag
        parts.append(f"COALESCE({Columns.SKIPPED}, FALSE)")
    if Columns.MS_PLAYED in columns:
        if options.skip_min_ms is not None:
            parts.append(f"COALESCE({Columns.MS_PLAYED} < {int(options.skip_min_ms)}, FALSE)")
        if options.skip_min_fraction is not None and Columns.DURATION_MS in columns:
            # doubles, as pandas compares: a DECIMAL literal would round differently
            fraction = float(options.skip_min_fraction)
            parts.append(
                f"COALESCE(CAST({Columns.MS_PLAYED} AS DOUBLE) < CAST({fraction!r} AS DOUBLE) "
                f"* CAST({Columns.DURATION_MS} AS DOUBLE), FALSE)"
            )
    expr = " OR ".join(parts) or "FALSE"
    if Columns.EVENT_TYPE in columns:  # only plays can be skips
        play = EventTypes.PLAY
        expr = f"({expr}) AND ({Columns.EVENT_TYPE} IS NULL OR {Columns.EVENT_TYPE} = '{play}')"
    return expr


def _count(engine: SqlEngine, select: str) -> int:
    return int(engine.rows(select)[0][0] or 0)


def sessionise(
    engine: SqlEngine, columns: list[str], options: SessionOptions, rows_in: int
) -> Report:
    """Table ``events`` -> table ``sessions``; the report of :func:`segue.build_sessions`.

    Args:
        engine: Holds table ``events`` (from :func:`segue.scale.source.load_events`).
        columns: Its event columns.
        options: The same options the pandas path takes.
        rows_in: Rows of ``events``.
    """
    report = Report("sessions", rows_in=rows_in, rows_kept=0)
    gap_us = int(parse_gap(options.gap).value) // 1000  # diff_us * 1000 > gap_ns
    new = f"LAG(ts_us) OVER ({BY_USER}) IS NULL OR ts_us - LAG(ts_us) OVER ({BY_USER}) > {gap_us}"
    if options.source_session_column is not None:
        source = options.source_session_column
        new += f" OR {source} IS DISTINCT FROM LAG({source}) OVER ({BY_USER})"
    cols = ", ".join(columns)
    if not _drops_or_cuts(options):
        _number(engine, _one_pass_sql(columns, options, new), columns)
        return _finish(engine, report)
    flagged = (
        f"SELECT {cols}, ts_us, src_row, is_skip, "
        f"SUM(new_session) OVER ({BY_USER} {ALL_ROWS}) AS sess FROM ("
        f"SELECT {cols}, ts_us, src_row, {skip_sql(columns, options)} AS is_skip, "
        f"CASE WHEN {new} THEN 1 ELSE 0 END AS new_session FROM events) AS e"
    )
    stage = _Stages(engine)
    stage.next(flagged, counted=options.drop_skips)
    keep = f"{cols}, ts_us, src_row, is_skip, sess"
    if options.drop_skips:
        report.drop("skipped play", _count(engine, f"SELECT COUNT(*) FROM {stage} WHERE is_skip"))
        stage.next(f"SELECT {keep} FROM {stage} WHERE NOT is_skip")
    if options.collapse_repeats:
        repeat = (
            f"CASE WHEN {Columns.TRACK} = LAG({Columns.TRACK}) OVER ({BY_USER}) "
            f"AND sess = LAG(sess) OVER ({BY_USER}) THEN 1 ELSE 0 END"
        )
        stage.next(f"SELECT {keep}, {repeat} AS is_repeat FROM {stage}", counted=True)
        report.drop(
            "consecutive repeat collapsed", _count(engine, f"SELECT SUM(is_repeat) FROM {stage}")
        )
        stage.next(f"SELECT {keep} FROM {stage} WHERE is_repeat = 0")
    _cut_and_drop_short(stage, keep, options, report)
    _number(engine, _local_numbers_sql(columns, str(stage)), columns)
    stage.finish()
    return _finish(engine, report)


def _drops_or_cuts(options: SessionOptions) -> bool:
    return bool(
        options.drop_skips
        or options.collapse_repeats
        or options.max_length is not None
        or options.min_length > 1
    )


def _one_pass_sql(columns: list[str], options: SessionOptions, new_session: str) -> str:
    """Sessions, positions and per-user numbers in two window passes of one order, for the
    usual options (nothing dropped or cut): a session's number is the count of session starts
    so far, a position the distance from the latest start."""
    cols = ", ".join(columns)
    return (
        f"SELECT {cols}, ts_us, src_row, is_skip, "
        f"local_row - MAX(CASE WHEN new_session = 1 THEN local_row END) "
        f"OVER ({BY_USER} {ALL_ROWS}) AS position, "
        f"SUM(new_session) OVER ({BY_USER} {ALL_ROWS}) - 1 AS local_session, local_row FROM ("
        f"SELECT {cols}, ts_us, src_row, {skip_sql(columns, options)} AS is_skip, "
        f"CASE WHEN {new_session} THEN 1 ELSE 0 END AS new_session, "
        f"ROW_NUMBER() OVER ({BY_USER}) - 1 AS local_row FROM events) AS e"
    )


def _local_numbers_sql(columns: list[str], stage: str) -> str:
    """Per-user session number and row number after drops and cuts (sessions may be gone)."""
    cols = ", ".join(columns)
    return (
        f"SELECT {cols}, ts_us, src_row, is_skip, position, "
        "DENSE_RANK() OVER (PARTITION BY user_id ORDER BY sess, chunk) - 1 AS local_session, "
        f"ROW_NUMBER() OVER ({BY_USER}) - 1 AS local_row FROM {stage}"
    )


def _finish(engine: SqlEngine, report: Report) -> Report:
    n, sessions, users, skips = engine.rows(
        "SELECT COUNT(*), SUM(CASE WHEN position = 0 THEN 1 ELSE 0 END), "
        "COUNT(DISTINCT user_id), SUM(CASE WHEN is_skip THEN 1 ELSE 0 END) FROM sessions"
    )[0]
    sessions = int(sessions or 0)
    report.rows_kept = int(n)
    report.stats.update(
        sessions=sessions,
        users=int(users),
        skip_events=int(skips or 0),
        mean_session_length=round(int(n) / max(sessions, 1), 2),
    )
    return report.check()


class _Stages:
    """Successive intermediate tables ``s_1``, ``s_2``...: each step reads the previous one (a
    table is never replaced by a query over itself) and the one before is dropped."""

    def __init__(self, engine: SqlEngine) -> None:
        self.engine, self.n = engine, 0

    def __str__(self) -> str:
        return f"s_{self.n}"

    def next(self, select: str, counted: bool = False) -> None:
        """Add a stage: a table when rows will be ``counted`` from it (read twice), else a
        view that the next stage runs as part of its own query."""
        self.engine.create(f"s_{self.n + 1}", select, view=not counted)
        self.n += 1

    def finish(self) -> None:
        for n in range(self.n, 0, -1):  # views before what they read
            self.engine.drop(f"s_{n}")


def _cut_and_drop_short(stage: _Stages, keep: str, options: SessionOptions, report: Report) -> None:
    """Adds ``chunk`` (the piece of a session cut at max_length) and ``position``."""
    engine = stage.engine
    pos0 = "ROW_NUMBER() OVER (PARTITION BY user_id, sess ORDER BY ts_us, src_row) - 1"
    if options.max_length is None:
        chunk, position = "0", "pos0"
    else:
        if options.max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {options.max_length}")
        m = int(options.max_length)
        chunk, position = f"CAST(FLOOR(pos0 / {m}) AS BIGINT)", f"pos0 - {m} * chunk"
    stage.next(
        f"SELECT {keep}, chunk, {position} AS position FROM ("
        f"SELECT {keep}, pos0, {chunk} AS chunk FROM ("
        f"SELECT {keep}, {pos0} AS pos0 FROM {stage}) AS a) AS b",
        counted=options.max_length is not None,
    )
    if options.max_length is not None:
        report.stats["sessions cut at max_length"] = _count(
            engine, f"SELECT COUNT(*) FROM {stage} WHERE position = 0 AND chunk > 0"
        )
    if options.min_length > 1:
        length = "COUNT(*) OVER (PARTITION BY user_id, sess, chunk)"
        stage.next(
            f"SELECT {keep}, chunk, position, {length} AS n_in_session FROM {stage}", counted=True
        )
        short = f"n_in_session < {int(options.min_length)}"
        rows, sessions = engine.rows(
            f"SELECT COUNT(*), SUM(CASE WHEN position = 0 THEN 1 ELSE 0 END) "
            f"FROM {stage} WHERE {short}"
        )[0]
        report.drop(f"session shorter than {options.min_length} events", int(rows))
        report.stats["sessions dropped as too short"] = int(sessions or 0)
        stage.next(f"SELECT {keep}, chunk, position FROM {stage} WHERE NOT ({short})")


def _number(engine: SqlEngine, local_select: str, columns: list[str]) -> None:
    """Global ``session_id`` and ``ord`` from per-user numbers plus per-user offsets."""
    engine.create("s_local", local_select)
    # one row per user: the only step that sees every user at once
    engine.create(
        "s_users",
        "SELECT user_id, ROW_NUMBER() OVER (ORDER BY user_id) - 1 AS user_index, "
        f"SUM(n_sessions) OVER (ORDER BY user_id {ALL_ROWS}) - n_sessions AS session_offset, "
        f"SUM(n_rows) OVER (ORDER BY user_id {ALL_ROWS}) - n_rows AS row_offset FROM ("
        "SELECT user_id, MAX(local_session) + 1 AS n_sessions, COUNT(*) AS n_rows "
        "FROM s_local GROUP BY user_id) AS u",
    )
    out = ", ".join(f"s.{c}" for c in columns)
    engine.create(
        "sessions",
        f"SELECT {out}, s.ts_us, s.src_row, s.is_skip, "
        f"CAST(u.session_offset + s.local_session AS BIGINT) AS {Columns.SESSION}, "
        f"CAST(s.position AS BIGINT) AS {Columns.POSITION}, "
        "CAST(u.row_offset + s.local_row AS BIGINT) AS ord, "
        "CAST(u.user_index AS BIGINT) AS user_index "
        "FROM s_local AS s JOIN s_users AS u ON s.user_id = u.user_id",
    )
    engine.drop("s_users")
    engine.drop("s_local")
