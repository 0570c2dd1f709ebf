"""Generic tables (CSV, TSV, parquet) with a mapping from canonical names to source columns.

Only canonical columns are read: ``columns={"user_id": "uid", "track_id": "item",
"timestamp": "ts"}`` maps source names; canonical names not mapped are taken from source columns
of the same name. One source column may feed two canonical ones (``track_id`` and
``track_name`` from ``song``). Times are ISO 8601 text unless ``timestamp_format`` (a strptime
pattern) says otherwise; text without a zone is in ``timezone`` (UTC when unset). Epoch numbers
are read in ``timestamp_unit`` (``"s"``, ``"ms"``...), inferred from their size when unset, and
checked against the dates a log can hold.

Without a ``track_id`` column, ``artist`` and ``track_name`` build the normalised
``artist|track`` key (:func:`segue.data.readers.track_key.track_key`) that Spotify account data
and Last.fm exports use, so a generic table merges with them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from segue.columns import Columns, EventTypes
from segue.data.errors import DataError
from segue.data.readers import timestamps
from segue.data.readers.canonical import finish, require_columns
from segue.data.readers.delimited import read_delimited
from segue.data.readers.extra_columns import Extra
from segue.data.readers.head import Head
from segue.data.readers.parsed import NoRows, Parsed
from segue.data.readers.sources import SourceFile
from segue.data.readers.text import first_line, utf8_source
from segue.data.readers.track_key import track_key

_TEXT = (
    Columns.USER,
    Columns.TRACK,
    Columns.ARTIST,
    Columns.ALBUM,
    Columns.TRACK_NAME,
    Columns.EVENT_TYPE,
)


def read_csv(
    file: SourceFile,
    *,
    columns: Mapping[str, str] | None = None,
    timestamp_unit: str | None = None,
    timestamp_format: str | None = None,
    timezone: str | None = None,
    sep: str = ",",
) -> Parsed:
    """Read a delimited text file with a header row."""
    source, _ = utf8_source(file)
    header = next(csv.reader([first_line(source)], delimiter=sep), [])
    mapping = _mapping(header, columns, file=file.name)
    text = list(dict.fromkeys(mapping[c] for c in _TEXT if c in mapping))
    if timestamp_unit is None and timestamp_format is not None:
        text.append(mapping[Columns.TIMESTAMP])
    usecols = list(dict.fromkeys(mapping.values()))
    raw = read_delimited(source, file=file.name, sep=sep, usecols=usecols, text=text)
    return _to_canonical(raw, mapping, file.name, timestamp_unit, timestamp_format, timezone)


def read_tsv(file: SourceFile, **options: object) -> Parsed:
    """Read a tab-separated file with a header row (options as for :func:`read_csv`)."""
    return read_csv(file, sep="\t", **options)  # type: ignore[arg-type]


def read_parquet(
    file: SourceFile,
    *,
    columns: Mapping[str, str] | None = None,
    timestamp_unit: str | None = None,
    timestamp_format: str | None = None,
    timezone: str | None = None,
) -> Parsed:
    """Read a parquet file."""
    source = file.readable()
    try:
        mapping = _mapping(pq.read_schema(source).names, columns, file=file.name)
        if isinstance(source, io.BytesIO):
            source.seek(0)
        table = pq.read_table(source, columns=list(dict.fromkeys(mapping.values())))
        raw = table.to_pandas()
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"truncated or corrupt parquet file ({error})", file=file.name) from error
    return _to_canonical(raw, mapping, file.name, timestamp_unit, timestamp_format, timezone)


def _mapping(
    header: list[str], columns: Mapping[str, str | None] | None, *, file: str
) -> dict[str, str]:
    # None maps nothing: a config can unset a default such as track_id.
    given = {k: v for k, v in (columns or {}).items() if v is not None}
    unknown = sorted(set(given) - set(Columns.CANONICAL))
    if unknown:
        raise DataError(
            f"columns= maps {unknown}, which are not canonical names; "
            f"canonical names are {list(Columns.CANONICAL)}",
            file=file,
        )
    if not header:
        raise DataError("empty file: no header and no rows", file=file)
    mapping = {c: c for c in Columns.CANONICAL if c in header}
    mapping.update(given)
    needed = [Columns.TIMESTAMP]
    if not {Columns.ARTIST, Columns.TRACK_NAME} <= set(mapping):
        needed.insert(0, Columns.TRACK)  # else artist + track_name build the key
    missing = [c for c in needed if c not in mapping]
    if missing:
        listing = ", ".join(repr(c) for c in header)
        raise DataError(
            f"no column for {missing}: name the source columns with columns={{canonical: source}}; "
            f"the file has columns: {listing}",
            file=file,
        )
    require_columns(header, mapping.values(), file=file)
    return mapping


def _to_canonical(
    raw: pd.DataFrame,
    mapping: dict[str, str],
    file: str,
    unit: str | None,
    format: str | None,
    timezone: str | None,
) -> Parsed:
    if raw.empty:
        raise NoRows(file)
    frame = pd.DataFrame({canonical: raw[source] for canonical, source in mapping.items()})
    where = mapping[Columns.TIMESTAMP]
    times = frame[Columns.TIMESTAMP]
    numbers = pd.api.types.is_numeric_dtype(times) and not pd.api.types.is_bool_dtype(times)
    if unit is not None or (numbers and format is None):
        frame[Columns.TIMESTAMP] = timestamps.from_epoch(
            times, unit, file=file, column=where, settable=True
        )
    else:
        frame[Columns.TIMESTAMP] = timestamps.from_strings(
            times, file=file, column=where, format=format, timezone=timezone
        )
    if Columns.EVENT_TYPE not in frame:
        frame[Columns.EVENT_TYPE] = EventTypes.PLAY
    names = dict(mapping)
    extras = []
    if {Columns.ARTIST, Columns.TRACK_NAME} <= set(frame):
        frame[Extra.TRACK_KEY] = track_key(frame[Columns.ARTIST], frame[Columns.TRACK_NAME])
        extras.append(Extra.TRACK_KEY)
        if Columns.TRACK not in frame:
            frame[Columns.TRACK] = frame[Extra.TRACK_KEY]
            names[Columns.TRACK] = f"{mapping[Columns.ARTIST]} + {mapping[Columns.TRACK_NAME]}"
    return Parsed(finish(frame, file=file, source_names=names, extras=extras), rows_in=len(raw))


def sniff_csv(head: Head) -> bool:
    """A comma-separated header naming the canonical user, track and timestamp columns."""
    return set(Columns.REQUIRED) <= head.header(",")


def sniff_tsv(head: Head) -> bool:
    """A tab-separated header naming the canonical user, track and timestamp columns."""
    return set(Columns.REQUIRED) <= head.header("\t")


def sniff_parquet(head: Head) -> bool:
    """A parquet file with the canonical user, track and timestamp columns."""
    return head.parquet_columns is not None and set(Columns.REQUIRED) <= set(head.parquet_columns)
