"""Listening sessions: inactivity gaps, skips, consecutive repeats, length limits.

Everything here is vectorised over the whole log (numpy diffs and cumulative sums), so a 10M-event
log sessionises in seconds; there is no per-row or per-user Python loop.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np
import pandas as pd

from segue.checks import check_integer, check_number
from segue.columns import Columns, EventTypes
from segue.data.errors import DataError
from segue.data.event_log import EventLog
from segue.data.report import Report

# Spotify counts a stream as a play from 30 s on; below that a play is commonly treated as a skip.
DEFAULT_SKIP_MS = 30_000


@dataclass(frozen=True)
class SkipRule:
    """When a play counts as a skip.

    A play is a skip when the source says ``skipped``, or when its played time is below
    ``min_ms`` milliseconds, or below ``min_fraction`` of the track's duration. Rules whose
    columns are missing from the log are simply not applied.
    """

    min_ms: int | None = DEFAULT_SKIP_MS
    min_fraction: float | None = None
    use_source_flag: bool = True


def parse_gap(gap: object, name: str = "gap") -> pd.Timedelta:
    """A session gap as a positive :class:`pandas.Timedelta`, or an error naming ``name``.

    A gap is a duration with its unit ("30min", "2h", "90s") or a timedelta. A bare number is
    refused rather than read as nanoseconds, as pandas would.

    >>> parse_gap("30min")
    Timedelta('0 days 00:30:00')
    >>> parse_gap(30)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    TypeError: gap must be a duration with a unit ...; for 30 minutes write "30min"
    >>> parse_gap("-5min")
    Traceback (most recent call last):
    ValueError: gap must be a positive duration such as "30min", got '-5min'
    """
    example = 'a duration with a unit such as "30min", "2h" or "90s"'
    if isinstance(gap, datetime.timedelta | np.timedelta64):
        value = pd.Timedelta(gap)
    elif isinstance(gap, str):
        text = gap.strip()
        if not text or text.lstrip("+-").replace(".", "", 1).isdigit():
            hint = f'; for {text} minutes write "{text}min"' if text else ""
            raise ValueError(f"{name} must be {example}, got {gap!r}{hint}")
        try:
            value = pd.Timedelta(text)
        except (ValueError, TypeError, OverflowError) as error:
            raise ValueError(f"{name} must be {example}, got {gap!r} ({error})") from None
    else:
        hint = f'; for {gap} minutes write "{gap}min"' if isinstance(gap, int | float) else ""
        raise TypeError(f"{name} must be {example}, got {gap!r} ({type(gap).__name__}){hint}")
    if pd.isna(value) or value <= pd.Timedelta(0):
        raise ValueError(f'{name} must be a positive duration such as "30min", got {gap!r}')
    return value


def check_session_settings(
    gap: object = "30min",
    skip_rule: SkipRule | None = None,
    max_length: object = None,
    min_length: object = 1,
) -> pd.Timedelta:
    """Check :func:`build_sessions`' settings without any data; returns the parsed gap.

    >>> check_session_settings("2h", SkipRule(min_ms=-1))
    Traceback (most recent call last):
    ValueError: skip_min_ms must be a number >= 0, got -1.0

    Raises:
        ValueError, TypeError: Naming the setting and what is allowed.
    """
    value = parse_gap(gap)
    if skip_rule is not None and not isinstance(skip_rule, SkipRule):
        raise TypeError(f"skip_rule must be a SkipRule or None, got {type(skip_rule).__name__}")
    if skip_rule is not None:
        if skip_rule.min_ms is not None:
            check_number("skip_min_ms", skip_rule.min_ms, low=0)
        if skip_rule.min_fraction is not None:
            check_number("skip_min_fraction", skip_rule.min_fraction, low=0, high=1)
    if max_length is not None:
        check_integer("max_length", max_length, minimum=1)
    check_integer("min_length", min_length, minimum=1)
    return value


def skip_mask(events: pd.DataFrame, rule: SkipRule = SkipRule()) -> np.ndarray:
    """Boolean mask of the events that are skipped plays under ``rule``.

    Only plays can be skips: a like or a dislike is never one.

    >>> df = pd.DataFrame({"ms_played": [1000, 200000, None], "skipped": [None, True, False],
    ...                    "duration_ms": [300000, 300000, 300000]})
    >>> skip_mask(df).tolist()
    [True, True, False]
    >>> skip_mask(df, SkipRule(min_ms=None, use_source_flag=False, min_fraction=0.5)).tolist()
    [True, False, False]
    """
    n = len(events)
    skip = np.zeros(n, dtype=bool)
    if rule.use_source_flag and Columns.SKIPPED in events:
        # object first: pandas deprecates fillna(False) on a float column (NaN = unknown)
        skip |= events[Columns.SKIPPED].astype(object).fillna(False).to_numpy(dtype=bool)
    if Columns.MS_PLAYED in events:
        played = events[Columns.MS_PLAYED].to_numpy(dtype=np.float64, na_value=np.nan)
        if rule.min_ms is not None:
            skip |= played < rule.min_ms  # NaN compares False: unknown play time is no skip
        if rule.min_fraction is not None and Columns.DURATION_MS in events:
            duration = events[Columns.DURATION_MS].to_numpy(dtype=np.float64, na_value=np.nan)
            skip |= played < rule.min_fraction * duration
    if Columns.EVENT_TYPE in events:
        kind = events[Columns.EVENT_TYPE]
        skip &= (kind.isna() | (kind == EventTypes.PLAY)).to_numpy(dtype=bool)
    return skip


def session_starts(
    users: np.ndarray, times_ns: np.ndarray, gap_ns: int, source_sessions: np.ndarray | None = None
) -> np.ndarray:
    """True where a new session starts: a new user, or more than ``gap_ns`` of silence.

    Events must be sorted by user, then time. With ``source_sessions`` (ids from the source, as in
    30Music) a change of source id also starts a session.

    >>> session_starts(np.array([1, 1, 1, 2]), np.array([0, 10, 100, 110]), gap_ns=50).tolist()
    [True, False, True, True]
    """
    starts = np.ones(len(users), dtype=bool)
    if len(users) > 1:
        new_user = users[1:] != users[:-1]
        long_gap = (times_ns[1:] - times_ns[:-1]) > gap_ns
        starts[1:] = new_user | long_gap
        if source_sessions is not None:
            starts[1:] |= source_sessions[1:] != source_sessions[:-1]
    return starts


def positions_within(starts: np.ndarray) -> np.ndarray:
    """0-based position of each event inside its session, from the session-start mask.

    >>> positions_within(np.array([True, False, False, True, False])).tolist()
    [0, 1, 2, 0, 1]
    """
    index = np.arange(len(starts))
    last_start = np.maximum.accumulate(np.where(starts, index, 0))
    return index - last_start


def _user_codes(events: pd.DataFrame) -> np.ndarray:
    codes, _ = pd.factorize(events[Columns.USER], sort=False)
    return codes


def _sorted(events: pd.DataFrame) -> pd.DataFrame:
    """Events sorted by user, then time; a log that is already sorted (as readers return it)
    is passed through without the cost of a sort."""
    users = events[Columns.USER]
    if users.is_monotonic_increasing:
        times = events[Columns.TIMESTAMP].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        codes = pd.factorize(users, sort=False)[0]
        same_user = codes[1:] == codes[:-1]
        if not (same_user & (times[1:] < times[:-1])).any():
            return events.reset_index(drop=True)
    # Stable sort: events with the same timestamp keep their file order.
    return events.sort_values([Columns.USER, Columns.TIMESTAMP], kind="stable").reset_index(
        drop=True
    )


def _check_columns(events: pd.DataFrame) -> None:
    missing = [c for c in Columns.REQUIRED if c not in events]
    if missing:
        raise DataError(
            f"build_sessions needs columns {list(Columns.REQUIRED)}; missing {missing} "
            f"(columns present: {list(events.columns)})"
        )
    if len(events) == 0:
        raise DataError("build_sessions got an empty event log")
    if not isinstance(events[Columns.TIMESTAMP].dtype, pd.DatetimeTZDtype):
        raise DataError(
            "timestamps must be timezone-aware datetimes (read the log with segue.read_log)",
            column=Columns.TIMESTAMP,
        )


def build_sessions(
    log: EventLog | pd.DataFrame,
    gap: str | datetime.timedelta = "30min",
    *,
    skip_rule: SkipRule | None = SkipRule(),
    drop_skips: bool = False,
    collapse_repeats: bool = False,
    max_length: int | None = None,
    min_length: int = 1,
    source_session_column: str | None = None,
) -> EventLog:
    """Split each user's events into listening sessions.

    Args:
        log: Events in canonical columns (an :class:`EventLog` or its DataFrame).
        gap: Inactivity that ends a session: a new session starts when more than ``gap`` passes
            between two consecutive events of a user. A positive duration with its unit
            ("30min") or a ``pandas.Timedelta``; see :func:`parse_gap`.
        skip_rule: Which plays count as skips (``None``: no play is a skip). Gaps are measured
            on all events, skips included, since a skip is still listening activity.
        drop_skips: Remove skipped plays (counted) instead of keeping them as skip events.
        collapse_repeats: Keep one event of each run of the same track played back to back
            within a session (the rest are counted as dropped).
        max_length: Cut sessions longer than this into consecutive sessions of at most this
            many events (nothing is dropped).
        min_length: Drop sessions with fewer events than this (counted), after the steps above.
        source_session_column: Also start a session wherever this source column (e.g. 30Music's
            ``source_session_id``) changes value.

    Returns:
        An :class:`EventLog` sorted by user and time with ``session_id`` (0, 1, ... in user and
        time order), ``position`` (0-based within the session) and ``is_skip`` added, and a
        report counting every removed row by reason.
    """
    gap_ns = int(check_session_settings(gap, skip_rule, max_length, min_length).value)
    for name, flag in (("drop_skips", drop_skips), ("collapse_repeats", collapse_repeats)):
        if not isinstance(flag, bool | np.bool_):  # "no" is truthy: never read it as True
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    if source_session_column is not None and not isinstance(source_session_column, str):
        raise TypeError(
            f"source_session_column must be a column name, got {source_session_column!r}"
        )
    if not isinstance(log, EventLog | pd.DataFrame):
        raise TypeError(f"log must be an EventLog or a DataFrame, got {type(log).__name__}")
    reports = list(log.reports) if isinstance(log, EventLog) else []
    events = log.events if isinstance(log, EventLog) else log
    _check_columns(events)
    report = Report("sessions", rows_in=len(events), rows_kept=0)

    events = _sorted(events)
    users = _user_codes(events)
    times = events[Columns.TIMESTAMP].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    source = None
    if source_session_column is not None:
        if source_session_column not in events:
            raise DataError(f"no column {source_session_column!r} to take sessions from")
        source = pd.factorize(events[source_session_column])[0]
    starts = session_starts(users, times, gap_ns, source)

    is_skip = skip_mask(events, skip_rule) if skip_rule is not None else np.zeros(len(events), bool)
    keep = np.ones(len(events), dtype=bool)
    if drop_skips:
        keep &= ~is_skip
        report.drop("skipped play", int(is_skip.sum()))
    session = np.cumsum(starts)

    events = events.assign(**{Columns.IS_SKIP: is_skip})
    if not keep.all():
        events, session = events[keep].reset_index(drop=True), session[keep]
    if collapse_repeats:
        events, session = _collapse_repeats(events, session, report)
    starts = np.ones(len(session), dtype=bool)
    starts[1:] = session[1:] != session[:-1]
    if max_length is not None:
        starts = _cut_long_sessions(starts, max_length, report)
    events, starts = _drop_short_sessions(events, starts, min_length, report)

    session_ids = np.cumsum(starts) - 1
    events[Columns.SESSION] = session_ids.astype(np.int64)
    events[Columns.POSITION] = positions_within(starts).astype(np.int64)
    report.rows_kept = len(events)
    report.stats.update(
        sessions=int(starts.sum()),
        users=int(events[Columns.USER].nunique()),
        skip_events=int(events[Columns.IS_SKIP].sum()),
        mean_session_length=round(len(events) / max(int(starts.sum()), 1), 2),
    )
    return EventLog(events, [*reports, report.check()])


def _collapse_repeats(
    events: pd.DataFrame, session: np.ndarray, report: Report
) -> tuple[pd.DataFrame, np.ndarray]:
    """One event per run of a track played back to back within a session: the run's first
    play that is not a skip (a 10 s skip then the full play keeps the play, which a model may
    learn as a target), or its first event when every play of the run is a skip.

    >>> events = pd.DataFrame({"track_id": list("abbbc"), "is_skip": [0, 1, 0, 0, 0]})
    >>> kept, _ = _collapse_repeats(events, np.zeros(5, int), Report("s", 5, 0))
    >>> kept.index.size, kept["is_skip"].tolist()
    (3, [0, 0, 0])
    """
    if events.empty:
        return events, session
    tracks = pd.factorize(events[Columns.TRACK])[0]
    starts = np.ones(len(events), dtype=bool)
    starts[1:] = (tracks[1:] != tracks[:-1]) | (session[1:] != session[:-1])
    first = np.flatnonzero(starts)
    index = np.arange(len(events))
    played = np.where(events[Columns.IS_SKIP].to_numpy(dtype=bool), len(events), index)
    chosen = np.minimum.reduceat(played, first)  # the first non-skip of each run, if any
    chosen = np.where(chosen == len(events), first, chosen)
    keep = np.zeros(len(events), dtype=bool)
    keep[chosen] = True
    report.drop("consecutive repeat collapsed", int((~keep).sum()))
    return events[keep].reset_index(drop=True), session[keep]


def _cut_long_sessions(starts: np.ndarray, max_length: int, report: Report) -> np.ndarray:
    cut = positions_within(starts) % max_length == 0
    report.stats["sessions cut at max_length"] = int((cut & ~starts).sum())
    return cut


def _drop_short_sessions(
    events: pd.DataFrame, starts: np.ndarray, min_length: int, report: Report
) -> tuple[pd.DataFrame, np.ndarray]:
    if min_length <= 1:
        return events, starts
    session = np.cumsum(starts) - 1
    lengths = np.bincount(session)
    keep = lengths[session] >= min_length
    report.drop(f"session shorter than {min_length} events", int((~keep).sum()))
    report.stats["sessions dropped as too short"] = int((lengths < min_length).sum())
    return events[keep].reset_index(drop=True), starts[keep]
