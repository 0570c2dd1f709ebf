"""``concat_logs``: several :class:`EventLog`\\ s (people, or one person's sources) as one.

Users stay apart: a user id found in two logs is one person only when the caller says so,
except that ids a reader had to invent (``"user"`` for an export that names nobody) are
refused, since two such logs are most often two people. Plays one person has in two logs
(their Spotify history and their Last.fm scrobbles) are counted once, as in ``read_log``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from segue.columns import Columns
from segue.data.errors import DataError
from segue.data.event_log import EventLog
from segue.data.readers.cross_source import drop_cross_source, play_window
from segue.data.readers.extra_columns import Extra
from segue.data.readers.identity import use_name_keys
from segue.data.readers.read_log import in_canonical_order, sort_events
from segue.data.readers.users import DEFAULT_USER
from segue.data.report import Report


def concat_logs(
    logs: Sequence[EventLog],
    *,
    user: str | None = None,
    users: Sequence[str] | None = None,
    same_play_window: str | pd.Timedelta | None = "3min",
) -> EventLog:
    """Merge event logs and their reports into one log.

    Args:
        logs: Logs from :func:`segue.read_log` (each with its read report).
        user: Relabel every row as this one person (the caller says they are one).
        users: One id per log, relabelling each log's rows (a log of several users is an
            error); names may repeat to join logs of one person.
        same_play_window: Plays of one song by one user from two logs this close in time are
            one play, counted once (None: never); copies from the later log are dropped.

    Returns:
        One log sorted by user and time, whose report sums the inputs' read reports and adds
        the plays counted once.

    Raises:
        DataError: Two logs share an invented user id (``"user"``), or ``users`` relabels a
            log of several users.
        ValueError: Empty ``logs``, or ``users`` of the wrong length.
    """
    if isinstance(logs, EventLog) or not all(isinstance(log, EventLog) for log in logs):
        raise TypeError("concat_logs takes a list of EventLog (from segue.read_log)")
    if not logs:
        raise ValueError("concat_logs needs at least one log")
    staged = [i for i, log in enumerate(logs) if len(log.reports) != 1]
    if staged:
        raise ValueError(
            f"log {staged[0]} has {len(logs[staged[0]].reports)} stage reports; concatenate "
            "logs as read_log returns them, before sessions and splits"
        )
    window = play_window(same_play_window)
    if user is not None and users is not None:
        raise ValueError("pass user= (one person) or users= (one per log), not both")
    if users is not None and (isinstance(users, str) or len(users) != len(logs)):
        raise ValueError(f"users= needs one id per log ({len(logs)}), not {users!r}")
    frames = [_labelled(log, i, user, users) for i, log in enumerate(logs)]
    if user is None and users is None:
        _check_invented_ids(logs)
    events = pd.concat(frames, ignore_index=True)
    read = _merged_reports([log.reports[0] for log in logs])
    origins = [f"log {i}" for i in range(len(logs))]
    if len(logs) > 1:
        events = use_name_keys(events)
    if window is not None and len(logs) > 1:
        events, dropped = drop_cross_source(events, origins, window)
        for reason, count in dropped.items():
            read.drop(reason, count)
    events[Extra.SOURCE] = events.pop("_format").astype("string")
    events = sort_events(in_canonical_order(events))
    read.rows_kept = len(events)
    read.stats["users"] = int(events[Columns.USER].nunique())
    read.stats["tracks"] = int(events[Columns.TRACK].nunique())
    return EventLog(events, [read.check()])


def _labelled(
    log: EventLog, index: int, user: str | None, users: Sequence[str] | None
) -> pd.DataFrame:
    """One log's rows, relabelled where asked; ``source`` holds the log's number while the
    matcher runs (earlier logs' copies are kept), the format waits in ``_format``."""
    events = log.events.copy()
    name = user if user is not None else (users[index] if users is not None else None)
    if name is not None:
        if users is not None and events[Columns.USER].nunique() > 1:
            raise DataError(
                f"users[{index}]={name!r} names one person, but log {index} holds "
                f"{events[Columns.USER].nunique()} users"
            )
        events[Columns.USER] = pd.Series(name, index=events.index, dtype="string")
    stage = log.reports[0].stage.removeprefix("read ") if log.reports else "log"
    formats = events.get(Extra.SOURCE, stage)
    return events.assign(_format=formats, **{Extra.SOURCE: f"log {index}"})


def _check_invented_ids(logs: Sequence[EventLog]) -> None:
    seen: dict[str, int] = {}
    for i, log in enumerate(logs):
        if log.reports and log.reports[0].stats.get("user named by default") == DEFAULT_USER:
            if DEFAULT_USER in seen:
                raise DataError(
                    f"logs {seen[DEFAULT_USER]} and {i} both name their user {DEFAULT_USER!r} "
                    "because their exports name nobody; pass users=[...] (one id per log) or "
                    "user='name' if they are one person"
                )
            seen[DEFAULT_USER] = i


def _merged_reports(reports: list[Report]) -> Report:
    """The logs' read reports summed: rows, drops by reason, sources, and the per-file notes
    (skipped files, layouts) joined; other figures are recomputed for the merged log."""
    merged = reports[0]
    for other in reports[1:]:
        merged = merged.merge(other)
    stages = list(dict.fromkeys(r.stage for r in reports))
    stats: dict[str, object] = {"logs": len(reports)}
    for key in ("files skipped", "layouts"):
        joined = {k: v for r in reports for k, v in dict(r.stats.get(key) or {}).items()}
        if joined:
            stats[key] = joined
    return Report(
        " + ".join(stages) if len(stages) > 1 else stages[0],
        merged.rows_in,
        merged.rows_kept,
        dict(merged.dropped),
        list(merged.sources),
        stats,
    )
