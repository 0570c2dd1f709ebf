"""Public research datasets: 30Music sessions, MovieLens ratings, Yambda parquet.

- 30Music (session-rec preprocessing): TSV header ``UserId SessionId ItemId Time ArtistId``,
  Time in unix seconds. ``ArtistId`` becomes ``artist`` (an id, as text); ``SessionId`` is kept
  as the extra column ``source_session_id``.
- MovieLens: ``u.data`` (tab-separated, no header), ``ratings.dat`` (``::``-separated) or
  ``ratings.csv`` (header ``userId,movieId,rating,timestamp``); unix seconds. ``event_type`` is
  ``"rating"`` and the rating is kept as the extra column ``rating``.
- Yambda: parquet with ``uid``, ``item_id``, ``timestamp`` (seconds from an undisclosed origin,
  so times are offsets from 1970-01-01 UTC: right for gaps and order, not as dates),
  ``is_organic`` and, for listens, ``played_ratio_pct`` and ``track_length_seconds``.
  ``multi_event`` files carry ``event_type`` (listen / like / dislike / unlike / undislike);
  single-event files are named after theirs (``listens.parquet``, ``likes.parquet``...).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from segue.columns import Columns, EventTypes
from segue.data.errors import DataError
from segue.data.readers import timestamps
from segue.data.readers.canonical import finish, require_columns
from segue.data.readers.delimited import read_delimited
from segue.data.readers.head import Head
from segue.data.readers.parsed import NoRows, Parsed, first_row
from segue.data.readers.sources import SourceFile
from segue.data.readers.text import read_bytes

RATING = "rating"
SOURCE_SESSION = "source_session_id"
_30MUSIC = ("UserId", "SessionId", "ItemId", "Time", "ArtistId")
_30MUSIC_IDS = ("UserId", "SessionId", "ItemId", "ArtistId")
_MOVIELENS = ("userId", "movieId", "rating", "timestamp")
_YAMBDA = ("uid", "item_id", "timestamp")
_YAMBDA_EVENTS = {"listen": EventTypes.PLAY, "listens": EventTypes.PLAY, "likes": "like"}
_YAMBDA_EVENTS |= {"dislikes": "dislike", "unlikes": "unlike", "undislikes": "undislike"}


def read_30music(file: SourceFile) -> Parsed:
    """Read a 30Music session TSV."""
    raw = read_delimited(file.readable(), file=file.name, sep="\t", text=_30MUSIC_IDS)
    require_columns(raw.columns, _30MUSIC[:4], file=file.name)
    frame = pd.DataFrame(
        {
            Columns.USER: raw["UserId"],
            Columns.TRACK: raw["ItemId"],
            Columns.TIMESTAMP: timestamps.from_epoch(
                raw["Time"], "s", file=file.name, column="Time"
            ),
            Columns.ARTIST: raw.get("ArtistId"),
            Columns.EVENT_TYPE: EventTypes.PLAY,
            SOURCE_SESSION: raw["SessionId"],
        }
    )
    names = {Columns.USER: "UserId", Columns.TRACK: "ItemId"}
    return Parsed(
        finish(frame, file=file.name, source_names=names, extras=[SOURCE_SESSION]), len(raw)
    )


def read_movielens(file: SourceFile) -> Parsed:
    """Read MovieLens ratings: ``u.data``, ``ratings.dat`` or ``ratings.csv``."""
    data = read_bytes(file)
    has_header = data.lstrip().lower().startswith(b"userid")
    if b"::" in data[:1000]:
        data = data.replace(b"::", b"\t")  # pyarrow reads tabs in C; a regex separator is slow
    raw = read_delimited(
        io.BytesIO(data),
        file=file.name,
        sep="," if has_header else "\t",
        names=None if has_header else _MOVIELENS,
        text=_MOVIELENS[:2],
    )
    require_columns(raw.columns, _MOVIELENS, file=file.name)
    frame = pd.DataFrame(
        {
            Columns.USER: raw["userId"],
            Columns.TRACK: raw["movieId"],
            Columns.TIMESTAMP: timestamps.from_epoch(
                raw["timestamp"], "s", file=file.name, column="timestamp"
            ),
            Columns.EVENT_TYPE: RATING,
            RATING: _ratings(raw["rating"], file.name),
        }
    )
    names = {Columns.USER: "userId", Columns.TRACK: "movieId"}
    return Parsed(finish(frame, file=file.name, source_names=names, extras=[RATING]), len(raw))


def _ratings(values: pd.Series, file: str) -> pd.Series:
    """Ratings as numbers; text that is no number is an error naming its row."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        row = first_row(bad)
        raise DataError(f"{values.loc[row]!r} is not a number", file=file, column="rating", row=row)
    return numbers.astype("Float64")


def read_yambda(file: SourceFile) -> Parsed:
    """Read a Yambda parquet file (listens, likes... or multi_event)."""
    try:
        table = pq.read_table(file.readable())
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"truncated or corrupt parquet file ({error})", file=file.name) from error
    require_columns(table.column_names, _YAMBDA, file=file.name)
    if table.num_rows == 0:
        raise NoRows(file.name)
    raw = table.to_pandas()
    frame = pd.DataFrame(
        {
            Columns.USER: raw["uid"],
            Columns.TRACK: raw["item_id"],
            Columns.TIMESTAMP: timestamps.from_epoch(
                raw["timestamp"], "s", file=file.name, column="timestamp"
            ),
            Columns.EVENT_TYPE: _yambda_events(raw, file.basename),
        }
    )
    if "is_organic" in raw:
        frame[Columns.IS_ORGANIC] = raw["is_organic"]
    if "track_length_seconds" in raw:
        length_ms = raw["track_length_seconds"].astype("Float64") * 1000
        frame[Columns.DURATION_MS] = length_ms
        if "played_ratio_pct" in raw:
            frame[Columns.MS_PLAYED] = raw["played_ratio_pct"].astype("Float64") / 100 * length_ms
    names = {
        Columns.USER: "uid",
        Columns.TRACK: "item_id",
        Columns.MS_PLAYED: "played_ratio_pct",
        Columns.DURATION_MS: "track_length_seconds",
    }
    return Parsed(finish(frame, file=file.name, source_names=names), rows_in=len(raw))


def _yambda_events(raw: pd.DataFrame, name: str) -> pd.Series | str:
    if "event_type" in raw:
        events = raw["event_type"].astype("string")
        return events.replace("listen", EventTypes.PLAY)
    stem = name.rsplit(".", 1)[0].lower()
    return _YAMBDA_EVENTS.get(stem, EventTypes.PLAY)


def sniff_30music(head: Head) -> bool:
    """A tab-separated header starting ``UserId SessionId ItemId Time``."""
    rows = head.rows("\t")
    return bool(rows) and tuple(rows[0][:4]) == _30MUSIC[:4]


def sniff_movielens(head: Head) -> bool:
    """``userId,movieId,rating,timestamp``, or four numbers split by tabs or ``::``."""
    if head.lines and head.lines[0].strip() == ",".join(_MOVIELENS):
        return True
    rows = [line.replace("::", "\t").split("\t") for line in head.lines[:5]]
    return bool(rows) and all(len(r) == 4 and _numbers(r) for r in rows)


def sniff_yambda(head: Head) -> bool:
    """Parquet with ``uid``, ``item_id`` and ``timestamp``."""
    return head.parquet_columns is not None and set(_YAMBDA) <= set(head.parquet_columns)


def _numbers(fields: list[str]) -> bool:
    try:
        np.array(fields, dtype=float)
    except ValueError:
        return False
    return True
