"""Rows of an export that may be JSON records or a CSV conversion of them, as one raw frame.

People convert Spotify's JSON to CSV (spreadsheet tools, online converters) and keep only the
CSV; the fields are the same, so both read into the same frame: every CSV field is read as text
(usernames and ids keep their digits), and the readers cast what they use.
"""

from __future__ import annotations

import csv

import pandas as pd

from segue.data.readers.canonical import require_columns
from segue.data.readers.delimited import read_delimited
from segue.data.readers.head import Head
from segue.data.readers.json_records import read_records
from segue.data.readers.parsed import NoRows
from segue.data.readers.sources import SourceFile
from segue.data.readers.text import first_line, utf8_source

_DELIMITERS = (",", ";", "\t")


def table_delimiter(head: Head, *keys: str) -> str | None:
    """The delimiter whose header row holds every one of ``keys``, or None.

    >>> table_delimiter(Head("h.csv", b"ts;ms_played;x\\n1;2;3\\n"), "ts", "ms_played")
    ';'
    """
    wanted = {k.lower() for k in keys}  # Head.header lower-cases the header's names
    return next((d for d in _DELIMITERS if wanted <= head.header(d)), None)


def has_fields(head: Head, *keys: str) -> bool:
    """JSON records, or a delimited table, whose first record / header holds every key."""
    return head.has_keys(*keys) or table_delimiter(head, *keys) is not None


def read_rows(file: SourceFile, required: tuple[str, ...]) -> pd.DataFrame:
    """The file's records (JSON array, JSON lines, or a delimited table with a header).

    Raises:
        NoRows: The file holds no records.
        DataError: A required field is missing, or the file cannot be parsed.
    """
    head = Head.of(file)
    delimiter = None if head.first_record is not None else table_delimiter(head, *required)
    if delimiter is None:
        records = read_records(file)
        if not records:
            raise NoRows(file.name)
        raw = pd.DataFrame.from_records(records)
    else:
        source, _ = utf8_source(file)
        header = [c.strip() for c in next(csv.reader([first_line(source)], delimiter=delimiter))]
        raw = read_delimited(source, file=file.name, sep=delimiter, text=header)
        raw.columns = [str(c).strip() for c in raw.columns]
    require_columns(raw.columns, required, file=file.name)
    return raw
