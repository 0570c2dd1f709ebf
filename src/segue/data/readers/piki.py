"""Piki music feedback (Stoikov et al.): a user hears a snippet and dislikes, likes or
super-likes it.

CSV with header ``id,liked,personalized,song_id,spotify_popularity,timestamp,user_id`` (any
order, any case); ``liked`` is 0 (dislike), 1 (like) or 2 (super-like). ``event_type`` is
``dislike`` / ``like`` / ``like`` and the raw 0/1/2 is kept as the extra column ``liked`` so a
super-like stays visible. Times (``YYYY-MM-DD HH:MM:SS``, no zone) are taken as UTC.
"""

from __future__ import annotations

import pandas as pd

from segue.columns import Columns, EventTypes
from segue.data.errors import DataError
from segue.data.readers import timestamps
from segue.data.readers.canonical import finish, require_columns
from segue.data.readers.delimited import read_delimited
from segue.data.readers.head import Head
from segue.data.readers.parsed import Parsed, first_row
from segue.data.readers.sources import SourceFile

LIKED = "liked"
_EVENTS = {0: EventTypes.DISLIKE, 1: EventTypes.LIKE, 2: EventTypes.LIKE}
_REQUIRED = ("user_id", "song_id", "timestamp", "liked")


def read_piki(file: SourceFile) -> Parsed:
    """Read a Piki ratings CSV."""
    raw = read_delimited(file.readable(), file=file.name).astype("string")
    raw.columns = [c.strip().lower() for c in raw.columns]
    require_columns(raw.columns, _REQUIRED, file=file.name)
    liked = pd.to_numeric(raw["liked"], errors="coerce").astype("Int64")
    bad = ~liked.isin(list(_EVENTS)).fillna(False)
    if bad.any():
        row = first_row(bad)
        raise DataError(
            f"{raw['liked'].loc[row]!r} is not 0, 1 or 2", file=file.name, column="liked", row=row
        )
    frame = pd.DataFrame(
        {
            Columns.USER: raw["user_id"],
            Columns.TRACK: raw["song_id"],
            Columns.TIMESTAMP: timestamps.from_strings(
                raw["timestamp"], file=file.name, column="timestamp"
            ),
            Columns.EVENT_TYPE: liked.map(_EVENTS).astype("string"),
            LIKED: liked,
        }
    )
    names = {Columns.TRACK: "song_id"}
    return Parsed(finish(frame, file=file.name, source_names=names, extras=[LIKED]), len(raw))


def sniff(head: Head) -> bool:
    """A CSV header with ``liked``, ``song_id``, ``user_id`` and ``timestamp``."""
    return set(_REQUIRED) <= head.header(",")
