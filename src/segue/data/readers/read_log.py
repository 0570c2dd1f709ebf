"""``read_log``: any supported listening log in, canonical events plus a report out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segue.columns import Columns
from segue.data.errors import DataError
from segue.data.event_log import EventLog
from segue.data.readers.dedupe import DUPLICATE, drop_repeats
from segue.data.readers.detect import choose
from segue.data.readers.formats import FORMATS, Format, check_options
from segue.data.readers.parsed import NoRows, Parsed
from segue.data.readers.sources import SourceFile, expand, with_persons
from segue.data.readers.users import assign_user, needs_name, users_per_source
from segue.data.report import Report

Source = str | Path
_FILE = "_file"


def read_log(
    source: Source | Sequence[Source],
    format: str | None = None,
    columns: Mapping[str, str] | None = None,
    *,
    user: str | Sequence[str] | None = None,
    **options: Any,
) -> EventLog:
    """Read listening events from files, folders or .zip archives into canonical columns.

    Args:
        source: A file, a folder, a .zip, or a list of those.
        format: A name from :data:`FORMATS`; None detects it from each file's content.
        columns: For csv / tsv / parquet, ``{canonical name: source column}``.
        user: The user id for a one-person export (Spotify account data names none), or one
            per source. Otherwise the user is the file's own user column, else the name of the
            per-person subfolder a file sits in, else ``"user"``.
        **options: Format options: ``timestamp_unit`` (``"s"``, ``"ms"``...) for epoch
            numbers, ``timestamp_format`` (strptime) for text times.

    Returns:
        Events sorted by user, then time (ties in file order), with one :class:`Report`.

    Raises:
        DataError: Unknown format, missing columns, bad values, or no rows; the message names
            the file and, where it applies, the column and row.
    """
    sources = [source] if isinstance(source, (str, Path)) else list(source)
    if not sources:
        raise DataError("no sources given")
    names = users_per_source(user, len(sources))
    files = with_persons([f for i, s in enumerate(sources) for f in _expand(s, i)])
    chosen, skipped = choose(files, format, columns)
    fmt = FORMATS[_one_format(chosen, skipped, sources)]
    opts = {"columns": columns, **options}
    check_options(fmt, opts)
    opts = {k: v for k, v in opts.items() if v is not None}

    read = _read_files(fmt, chosen, names, opts)
    report, frames = read.report, read.frames
    _check_users(read.unnamed_sources, sources)
    events = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if events.empty:
        raise DataError("no rows in any file", file=", ".join(report.sources))
    if read.event_key and len(frames) > 1:
        before = len(events)
        events = drop_repeats(events, (Columns.USER, *read.event_key), _FILE)
        report.drop(DUPLICATE, before - len(events))
    events = sort_events(_in_canonical_order(events))
    report.rows_kept = len(events)
    report.stats = _stats(events, read.counts, skipped)
    return EventLog(events, [report.check()])


@dataclass
class _Files:
    """Every chosen file read: their frames (with users set) and the accounting so far."""

    report: Report
    frames: list[pd.DataFrame] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    event_key: tuple[str, ...] = ()
    unnamed_sources: set[int] = field(default_factory=set)


def _read_files(
    fmt: Format,
    chosen: list[tuple[SourceFile, str]],
    names: list[str | None],
    options: dict[str, Any],
) -> _Files:
    read = _Files(Report(f"read {fmt.name}", 0, 0))
    for index, (file, _) in enumerate(chosen):
        parsed = _read(fmt.read, file, options)
        read.report.sources.append(file.name)
        if parsed is None:
            read.counts["empty files"] += 1
            continue
        read.report.rows_in += parsed.rows_in
        for reason, count in parsed.dropped.items():
            read.report.drop(reason, count)
        read.counts.update(parsed.stats)
        read.event_key = parsed.event_key
        named = names[file.source]
        if needs_name(file, named, parsed.frame):
            read.unnamed_sources.add(file.source)
        frame = assign_user(parsed.frame, file, named)
        read.frames.append(frame.assign(**{_FILE: index}))
    return read


def sort_events(events: pd.DataFrame) -> pd.DataFrame:
    """Sort by user, then timestamp; stable, so ties keep file order.

    >>> df = pd.DataFrame({"user_id": ["b", "a", "a"], "timestamp": [1, 2, 2], "n": [0, 1, 2]})
    >>> sort_events(df)["n"].tolist()
    [1, 2, 0]
    """
    users, _ = pd.factorize(events[Columns.USER], sort=True)  # int codes sort faster than text
    times = events[Columns.TIMESTAMP].astype("int64").to_numpy()
    step_user, step_time = np.diff(users), np.diff(times)
    if ((step_user > 0) | ((step_user == 0) & (step_time >= 0))).all():
        return events.reset_index(drop=True)  # already in order: most logs are
    # Two stable sorts (time, then user) beat np.lexsort here, and timsort is quick on the
    # partly ordered data real logs are.
    order = np.argsort(times, kind="stable")
    order = order[np.argsort(users[order], kind="stable")]
    return events.take(order).reset_index(drop=True)


def _in_canonical_order(events: pd.DataFrame) -> pd.DataFrame:
    """Canonical columns first, then the format's extras; private ``_`` columns removed."""
    canonical = [c for c in Columns.CANONICAL if c in events]
    extras = [c for c in events if c not in canonical and not str(c).startswith("_")]
    return events[canonical + extras]


def _expand(source: Source, index: int) -> list[SourceFile]:
    files = expand(source, index)
    if not files:
        raise DataError("empty folder or archive: no files to read", file=str(source))
    return files


def _read(read: Any, file: SourceFile, options: dict[str, Any]) -> Parsed | None:
    """One file's rows; None for an empty file found in a folder (an error when named)."""
    try:
        return read(file, **options)
    except NoRows:
        if file.listed:
            raise
        return None


def _one_format(
    chosen: list[tuple[SourceFile, str]], skipped: list[SourceFile], sources: list[Source]
) -> str:
    if not chosen:
        where = ", ".join(str(s) for s in sources)
        shown = ", ".join(f.name for f in skipped[:5])
        raise DataError(
            f"no listening log found (files seen: {shown}); formats: {', '.join(FORMATS)}",
            file=where,
        )
    found = Counter(name for _, name in chosen)
    if len(found) > 1:
        listing = "; ".join(
            f"{name}: {n} file(s), e.g. {next(f.name for f, m in chosen if m == name)}"
            for name, n in found.items()
        )
        raise DataError(
            f"files of several formats found ({listing}); read each format separately "
            "(their rows may overlap), or pass format= to pick one"
        )
    return next(iter(found))


def _check_users(fallback_sources: set[int], sources: list[Source]) -> None:
    if len(fallback_sources) > 1:
        shown = ", ".join(str(sources[i]) for i in sorted(fallback_sources))
        raise DataError(
            f"several sources name no user ({shown}); pass user=[...] with one name per "
            "source, or user='name' if they are all one person's"
        )


def _stats(events: pd.DataFrame, counts: Counter[str], skipped: list[SourceFile]) -> dict:
    stats: dict[str, Any] = {
        "users": int(events[Columns.USER].nunique()),
        "tracks": int(events[Columns.TRACK].nunique()),
    }
    stats.update(counts)
    if skipped:
        stats["files skipped (not a listening log)"] = [f.name for f in skipped]
    return stats
