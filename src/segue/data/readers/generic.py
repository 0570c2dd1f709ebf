"""Generic tables (CSV, TSV, parquet) with a mapping from canonical names to source columns.

Only canonical columns are read: ``columns={"user_id": "uid", "track_id": "item",
"timestamp": "ts"}`` maps source names; canonical names not mapped are taken from source columns
of the same name. Times are ISO 8601 text unless ``timestamp_format`` (a strptime pattern) or,
for numbers, ``timestamp_unit`` (``"s"``, ``"ms"``...) says otherwise.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from segue.columns import Columns, EventTypes
from segue.data.errors import DataError
from segue.data.readers import timestamps
from segue.data.readers.canonical import finish, require_columns
from segue.data.readers.delimited import read_delimited
from segue.data.readers.head import Head
from segue.data.readers.parsed import NoRows, Parsed
from segue.data.readers.sources import SourceFile

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
    sep: str = ",",
) -> Parsed:
    """Read a delimited text file with a header row."""
    source = file.readable()
    header = _header(source, sep)
    mapping = _mapping(header, columns, file=file.name)
    text = [mapping[c] for c in _TEXT if c in mapping]
    if timestamp_unit is None:
        text.append(mapping[Columns.TIMESTAMP])
    if isinstance(source, io.BytesIO):
        source.seek(0)
    raw = read_delimited(source, file=file.name, sep=sep, usecols=list(mapping.values()), text=text)
    return _to_canonical(raw, mapping, file.name, timestamp_unit, timestamp_format)


def read_tsv(file: SourceFile, **options: object) -> Parsed:
    """Read a tab-separated file with a header row (options as for :func:`read_csv`)."""
    return read_csv(file, sep="\t", **options)  # type: ignore[arg-type]


def read_parquet(
    file: SourceFile,
    *,
    columns: Mapping[str, str] | None = None,
    timestamp_unit: str | None = None,
    timestamp_format: str | None = None,
) -> Parsed:
    """Read a parquet file."""
    source = file.readable()
    mapping = _mapping(pq.read_schema(source).names, columns, file=file.name)
    if isinstance(source, io.BytesIO):
        source.seek(0)
    raw = pq.read_table(source, columns=list(mapping.values())).to_pandas()
    return _to_canonical(raw, mapping, file.name, timestamp_unit, timestamp_format)


def _header(source: Path | io.BytesIO, sep: str) -> list[str]:
    if isinstance(source, io.BytesIO):
        line = source.readline().decode("utf-8-sig")
    else:
        with open(source, encoding="utf-8-sig") as handle:
            line = handle.readline()
    return next(csv.reader([line], delimiter=sep), [])


def _mapping(header: list[str], columns: Mapping[str, str] | None, *, file: str) -> dict[str, str]:
    unknown = sorted(set(columns or {}) - set(Columns.CANONICAL))
    if unknown:
        raise DataError(
            f"columns= maps {unknown}, which are not canonical names; "
            f"canonical names are {list(Columns.CANONICAL)}",
            file=file,
        )
    if not header:
        raise DataError("empty file: no header and no rows", file=file)
    mapping = {c: c for c in Columns.CANONICAL if c in header}
    mapping.update(columns or {})
    missing = [c for c in (Columns.TRACK, Columns.TIMESTAMP) if c not in mapping]
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
) -> Parsed:
    if raw.empty:
        raise NoRows(file)
    frame = pd.DataFrame({canonical: raw[source] for canonical, source in mapping.items()})
    where = mapping[Columns.TIMESTAMP]
    times = frame[Columns.TIMESTAMP]
    if unit is not None:
        frame[Columns.TIMESTAMP] = timestamps.from_epoch(times, unit, file=file, column=where)
    else:
        frame[Columns.TIMESTAMP] = timestamps.from_strings(
            times, file=file, column=where, format=format
        )
    if Columns.EVENT_TYPE not in frame:
        frame[Columns.EVENT_TYPE] = EventTypes.PLAY
    return Parsed(finish(frame, file=file, source_names=mapping), rows_in=len(raw))


def sniff_csv(head: Head) -> bool:
    """A comma-separated header naming the canonical user, track and timestamp columns."""
    return set(Columns.REQUIRED) <= head.header(",")


def sniff_tsv(head: Head) -> bool:
    """A tab-separated header naming the canonical user, track and timestamp columns."""
    return set(Columns.REQUIRED) <= head.header("\t")


def sniff_parquet(head: Head) -> bool:
    """A parquet file with the canonical user, track and timestamp columns."""
    return head.parquet_columns is not None and set(Columns.REQUIRED) <= set(head.parquet_columns)
