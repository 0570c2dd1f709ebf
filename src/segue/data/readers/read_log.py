"""``read_log``: any supported listening logs in, canonical events plus a report out.

One call reads a file, a folder, a .zip or a list of them, in any mix of formats and people:
each file is read by its own format, the people are kept apart (a per-person subfolder, or a
file's own user column), and one person's sources are merged into one history with one id per
song (see :mod:`segue.data.readers.identity`) and each play counted once
(:mod:`segue.data.readers.cross_source`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segue.columns import Columns
from segue.data.errors import DataError
from segue.data.event_log import EventLog
from segue.data.readers.cross_source import drop_cross_source, play_window
from segue.data.readers.dedupe import DUPLICATE, drop_repeats
from segue.data.readers.detect import choose
from segue.data.readers.extra_columns import Extra
from segue.data.readers.formats import FORMATS
from segue.data.readers.identity import TRACK_IDS, use_name_keys
from segue.data.readers.options import check_options, check_values
from segue.data.readers.read_files import FILE, TOOL, ReadFiles, read_files
from segue.data.readers.sources import SourceFile, expand, with_persons
from segue.data.readers.spotify_library import saved_shows
from segue.data.readers.spotify_userdata import account_users
from segue.data.readers.users import (
    DEFAULT_USER,
    check_one_person,
    one_person_per_folder,
    users_per_source,
)
from segue.data.report import Report

Source = str | Path
ORIGIN = "_origin"


def read_log(
    source: Source | Sequence[Source],
    format: str | None = None,
    columns: Mapping[str, str] | None = None,
    *,
    user: str | Sequence[str] | None = None,
    track_ids: str = "auto",
    same_play_window: str | pd.Timedelta | None = "3min",
    **options: Any,
) -> EventLog:
    """Read listening events from files, folders or .zip archives into canonical columns.

    Args:
        source: A file, a folder, a .zip, or a list of those. A folder may hold any mix of
            export kinds, and several people (one subfolder or .zip per person).
        format: A name from :data:`FORMATS`; None detects each file's format from its content.
            Inside a folder, only files of that format are read (the rest are skipped and
            listed in the report).
        columns: For csv / tsv / parquet, ``{canonical name: source column}``.
        user: The user id for a one-person export (Spotify account data names none), or one
            per source. Otherwise the user is the file's own user column, else the name of the
            per-person subfolder a file sits in, else ``"user"``. One name for a source of
            several people is an error: people are never merged unless asked
            (:func:`segue.concat_logs` with ``user=``).
        track_ids: ``"source"`` keeps each format's own ids (Spotify URIs, MBIDs);
            ``"name"`` makes every ``track_id`` the normalised ``artist|track`` key, keeping
            the source's id in ``source_track_id``; ``"auto"`` (default) is ``"name"`` when
            the read mixes formats, else ``"source"``.
        same_play_window: Two plays of one song by one user, read from different formats,
            this close in time are one play, counted once (None: never). A pandas time delta
            such as ``"3min"``.
        **options: Format options: ``timestamp_unit`` (``"s"``, ``"ms"``...; inferred when
            unset) and ``timestamp_format`` (strptime) for generic tables; ``timezone`` (IANA
            name) for text times written without a zone; ``podcast_shows`` (show names) for
            Spotify account data.

    Returns:
        Events sorted by user, then time (ties in file order), with one :class:`Report`: rows
        in = rows kept + rows dropped by reason; skipped files with why; layouts used.

    Raises:
        DataError: Unknown format, missing columns, bad values, or no rows; the message names
            the file and, where it applies, the column and row.
        TypeError, ValueError: An option no chosen format takes, or a bad option value.
    """
    sources = [source] if isinstance(source, (str, Path)) else list(source)
    if not sources:
        raise DataError("no sources given")
    bad = [s for s in sources if not isinstance(s, (str, Path))]
    if bad:
        raise TypeError(f"source must be paths (str or Path), or a list of them; got {bad[0]!r}")
    if track_ids not in TRACK_IDS:
        raise ValueError(f"track_ids must be one of {list(TRACK_IDS)}, not {track_ids!r}")
    window = play_window(same_play_window)
    check_values({"columns": columns, **options})  # before any file is opened
    names = users_per_source(user, len(sources))
    files, passed = _files(sources)
    chosen, skipped = choose(files, format, columns)
    skipped = {**passed, **skipped}
    if not chosen:
        raise _nothing_found(sources, skipped)
    chosen = _with_persons(chosen, files, names, sources)
    formats = [f for f in FORMATS if f in {name for _, name in chosen}]
    opts = check_options([FORMATS[f] for f in formats], {"columns": columns, **options})
    pairs = [(file, FORMATS[name]) for file, name in chosen]
    read = read_files(pairs, names, opts, saved_shows(files), account_users(files))
    read.origins = one_person_per_folder(read.frames, read.files, read.origins)
    _check_users(read, sources)
    if not read.frames:
        raise DataError("no rows in any file", file=", ".join(read.sources))
    report = Report(f"read {' + '.join(formats)}", read.rows_in, 0, sources=read.sources)
    for reason, count in read.dropped.items():
        report.drop(reason, count)
    events = _combine(read, report, track_ids, window)
    events = sort_events(in_canonical_order(events))
    report.rows_kept = len(events)
    per_format = {f: sum(1 for _, name in chosen if name == f) for f in formats}
    report.stats = _stats(events, read, skipped, per_format)
    return EventLog(events, [report.check()])


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


def _combine(
    read: ReadFiles, report: Report, track_ids: str, window: pd.Timedelta | None
) -> pd.DataFrame:
    """All files' rows as one frame: repeats across files dropped, one id per song and each
    play once when sources mix; drops recorded in ``report``."""
    events = pd.concat(read.frames, ignore_index=True)
    if events.empty:
        reasons = ", ".join(f"{n} {why}" for why, n in read.dropped.items())
        raise DataError(f"no rows left to read (dropped: {reasons})", file=", ".join(read.sources))
    events = _drop_repeats(events, read, report)
    mixed = events[Extra.SOURCE].nunique() > 1
    if track_ids == "name" or (track_ids == "auto" and mixed):
        events = use_name_keys(events)
    events, origins = _origins(events)
    if len(origins) > 1 and window is not None:
        events, dropped = drop_cross_source(events, origins, window, by=ORIGIN)
        for reason, count in dropped.items():
            report.drop(reason, count)
    if not mixed:
        return events.drop(columns=Extra.SOURCE)
    return events.assign(**{Extra.SOURCE: events[Extra.SOURCE].astype("string")})


def _origins(events: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Name each row's origin for same-play matching, and the origins richest first.

    The origin is the format, qualified by the tool where one format was written by several
    (a lastfm-to-csv table and a lastfmstats one of one account overlap, but their times differ
    in precision, so exact repeats miss them). Richest first: :data:`FORMATS` order, then the
    order files were read.
    """
    tools = events.groupby(Extra.SOURCE, sort=False)[TOOL].transform("nunique")
    origin = events[Extra.SOURCE].astype("string")
    several = tools > 1
    origin[several] = origin[several] + " from " + events.loc[several, TOOL].astype("string")
    events = events.assign(**{ORIGIN: origin})
    rank = {name: i for i, name in enumerate(FORMATS)}
    names = list(dict.fromkeys(origin))
    order = sorted(names, key=lambda o: rank[str(o).split(" from ")[0]])
    return events, [str(o) for o in order]


def _drop_repeats(events: pd.DataFrame, read: ReadFiles, report: Report) -> pd.DataFrame:
    """Events repeated across files of one format (overlapping exports) kept once."""
    parts = []
    for name, part in events.groupby(Extra.SOURCE, sort=False):
        key = read.event_keys.get(str(name), ())
        if key and part[FILE].nunique() > 1:
            kept = drop_repeats(part, (Columns.USER, *key), FILE)
            report.drop(DUPLICATE, len(part) - len(kept))
            part = kept
        parts.append(part)
    return parts[0] if len(parts) == 1 else pd.concat(parts).sort_index()


def in_canonical_order(events: pd.DataFrame) -> pd.DataFrame:
    """Canonical columns first, then the format's extras; private ``_`` columns removed."""
    canonical = [c for c in Columns.CANONICAL if c in events]
    extras = [c for c in events if c not in canonical and not str(c).startswith("_")]
    return events[canonical + extras]


def _files(sources: list[Source]) -> tuple[list[SourceFile], dict[str, str]]:
    """Every file of the sources, and the files passed over with why."""
    found = [f for i, s in enumerate(sources) for f in _expand(s, i)]
    passed = {f.name: str(f.skip) for f in found if f.skip is not None}
    return [f for f in found if f.skip is None], passed


def _with_persons(
    chosen: list[tuple[SourceFile, str]],
    seen: list[SourceFile],
    names: list[str | None],
    sources: list[Source],
) -> list[tuple[SourceFile, str]]:
    """The chosen files with their persons; the files not read (``seen`` less the chosen) show
    the folders, but a note or a PDF beside the people's folders never makes them one person."""
    read = {file.name for file, _ in chosen}
    others = [f for f in seen if f.name not in read]
    files = with_persons([file for file, _ in chosen], others)
    for index, named in enumerate(names):
        check_one_person(named, [f for f in files if f.source == index], str(sources[index]))
    return [(file, name) for file, (_, name) in zip(files, chosen, strict=True)]


def _expand(source: Source, index: int) -> list[SourceFile]:
    files = expand(source, index)
    if not files:
        raise DataError("empty folder or archive: no files to read", file=str(source))
    return files


def _nothing_found(sources: list[Source], skipped: dict[str, str]) -> DataError:
    where = ", ".join(str(s) for s in sources)
    shown = "; ".join(f"{Path(n).name}: {why}" for n, why in list(skipped.items())[:5])
    return DataError(
        f"no listening log found (files seen: {shown}); formats: {', '.join(FORMATS)}",
        file=where,
    )


def _check_users(read: ReadFiles, sources: list[Source]) -> None:
    fallback = sorted({f.source for f, o in zip(read.files, read.origins) if o == "default"})
    if len(fallback) > 1:
        shown = ", ".join(str(sources[i]) for i in fallback)
        raise DataError(
            f"several sources name no user ({shown}); pass user=[...] with one name per "
            "source, or user='name' if they are all one person's"
        )


def _stats(
    events: pd.DataFrame, read: ReadFiles, skipped: dict[str, str], per_format: dict[str, int]
) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "users": int(events[Columns.USER].nunique()),
        "tracks": int(events[Columns.TRACK].nunique()),
    }
    stats.update(read.counts)
    if len(per_format) > 1:
        stats["files per format"] = per_format
    if Extra.SOURCE_TRACK_ID in events:
        stats["track ids"] = "normalised artist|track (source ids in source_track_id)"
    if "default" in read.origins:
        stats["user named by default"] = DEFAULT_USER
    if read.layouts:
        stats["layouts"] = dict(read.layouts)
    if skipped:
        stats["files skipped"] = dict(skipped)
    return stats
