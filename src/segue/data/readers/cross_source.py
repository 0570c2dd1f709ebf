"""One play read from two sources (Spotify and the Last.fm scrobble of it) kept once.

A person's Spotify history and their Last.fm scrobbles list the same plays, with start times
that differ by up to a minute or two (account data has minute precision; a scrobble is stamped
at the start). Two plays of one song by one user, from different formats, within ``window``
of each other are one play: the copy from the richer format (earlier in
:data:`~segue.data.readers.formats.FORMATS`: extended history, then account data, ListenBrainz,
Last.fm) is kept. Each kept play absorbs at most one copy per other format, the nearest, so two
real plays of a song in a row are never merged into one.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from segue.columns import Columns
from segue.data.readers.extra_columns import Extra


def play_window(window: str | pd.Timedelta | None) -> pd.Timedelta | None:
    """``same_play_window=`` checked: a non-negative time span (``"3min"``), or None for never.

    >>> play_window("3min"), play_window(None)
    (Timedelta('0 days 00:03:00'), None)
    """
    if window is None:
        return None
    if isinstance(window, (int, float)):  # a bare number has no unit: refuse, never guess ns
        raise ValueError(f"same_play_window needs a unit, like '3min', not {window!r}")
    try:
        delta = pd.Timedelta(window)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"same_play_window must be a time span like '3min' or None, not {window!r}"
        ) from error
    if pd.isna(delta) or delta < pd.Timedelta(0):
        raise ValueError(f"same_play_window must be a non-negative time span, not {window!r}")
    return delta


def same_play_reason(format: str) -> str:
    """The drop reason for a play already read from another source."""
    return f"same play in two sources ({format} copy dropped)"


def drop_cross_source(
    events: pd.DataFrame, order: Sequence[str], window: pd.Timedelta, by: str = Extra.SOURCE
) -> tuple[pd.DataFrame, dict[str, int]]:
    """``events`` without plays another source already has, and the counts dropped by reason.

    Args:
        events: Rows of several formats, with ``user_id``, ``track_id``, ``timestamp``, the
            format in ``source`` and the name key in ``track_key`` (rows without one match by
            ``track_id``).
        order: Source names, richest first: copies from later sources are dropped.
        window: Largest time difference between two copies of one play.
        by: The column naming each row's source (its format, by default).

    >>> t = pd.to_datetime(["2023-01-01 10:00:00", "2023-01-01 10:00:50", "2023-01-01 10:05:00"])
    >>> ev = pd.DataFrame({"user_id": "u", "track_id": ["a", "a", "a"], "track_key": "a",
    ...                    "timestamp": t.tz_localize("UTC"), "source": ["sp", "fm", "fm"]})
    >>> kept, dropped = drop_cross_source(ev, ["sp", "fm"], pd.Timedelta("3min"))
    >>> kept["source"].tolist(), dropped
    (['sp', 'fm'], {'same play in two sources (fm copy dropped)': 1})
    """
    key = events[Extra.TRACK_KEY].fillna(events[Columns.TRACK]).astype("string")
    work = pd.DataFrame(
        {
            "_user": events[Columns.USER].astype("string"),
            "_key": key,
            "_time": events[Columns.TIMESTAMP],
            "_row": range(len(events)),
        }
    )
    rank = events[by].map({name: i for i, name in enumerate(order)})
    kept = work[(rank == rank.min()).to_numpy()]
    drop = pd.Series(False, index=range(len(events)))
    dropped: dict[str, int] = {}
    for level in sorted(rank.dropna().unique())[1:]:
        candidates = work[(rank == level).to_numpy()]
        copies = _nearest_copies(candidates, kept, window)
        drop.iloc[copies] = True
        name = order[int(level)]
        if len(copies):
            dropped[same_play_reason(name)] = len(copies)
        fresh = candidates[~candidates["_row"].isin(copies)]
        kept = pd.concat([kept, fresh], ignore_index=True)
    return events[~drop.to_numpy()], dropped


def _nearest_copies(candidates: pd.DataFrame, kept: pd.DataFrame, window: pd.Timedelta) -> list:
    """Rows of ``candidates`` that copy a kept play: nearest in time, one per kept play."""
    if candidates.empty or kept.empty:
        return []
    left = candidates.sort_values("_time", kind="stable")
    right = kept.rename(columns={"_row": "_kept"}).sort_values("_time", kind="stable")
    right = right.assign(_kept_time=right["_time"])
    pairs = pd.merge_asof(
        left, right, on="_time", by=["_user", "_key"], direction="nearest", tolerance=window
    ).dropna(subset=["_kept"])
    pairs["_gap"] = (pairs["_time"] - pairs["_kept_time"]).abs()
    # One copy per kept play: the nearest; another play near it is a play of its own.
    pairs = pairs.sort_values(["_gap", "_row"], kind="stable").drop_duplicates("_kept")
    return pairs["_row"].astype(int).tolist()
