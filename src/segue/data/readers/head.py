"""The start of a file, as format detection sees it: first JSON record, first rows, schema."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from segue.data.errors import DataError
from segue.data.readers.sources import SourceFile
from segue.data.readers.text import encoding_of

_PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class Head:
    """The first bytes of a file (and a parquet file's column names), parsed lazily.

    Attributes:
        name: The file's base name.
        data: Its first bytes.
        parquet_columns: Column names when the file is parquet, else None.
    """

    name: str
    data: bytes
    parquet_columns: tuple[str, ...] | None = None

    @classmethod
    def of(cls, file: SourceFile) -> Head:
        data = file.head()
        columns = None
        if data.startswith(_PARQUET_MAGIC):
            try:
                columns = tuple(pq.read_schema(file.readable()).names)
            except (pa.ArrowException, OSError) as error:
                raise DataError(
                    f"truncated or corrupt parquet file ({error})", file=file.name
                ) from error
        return cls(file.basename, data, columns)

    @cached_property
    def text(self) -> str:
        return self.data.decode(encoding_of(self.data), errors="replace")

    @cached_property
    def lines(self) -> list[str]:
        """Complete non-blank lines of the head (the last, maybe cut, line is left out)."""
        lines = self.text.splitlines()
        if len(self.data) >= 65536:
            lines = lines[:-1]
        return [line for line in lines if line.strip()][:20]

    def rows(self, delimiter: str) -> list[list[str]]:
        """The first lines split as CSV with ``delimiter``."""
        return list(csv.reader(self.lines, delimiter=delimiter))

    def header(self, delimiter: str) -> set[str]:
        """The first row's fields, lower-cased and stripped, as a set."""
        rows = self.rows(delimiter)
        return {f.strip().lower() for f in rows[0]} if rows else set()

    @cached_property
    def first_record(self) -> dict[str, Any] | None:
        """The first object of a JSON array or of JSON lines, or None when it is not JSON."""
        text = self.text.lstrip()
        start = 0
        if text.startswith("["):
            start = len(text) - len(text[1:].lstrip())
        try:
            record, _ = json.JSONDecoder().raw_decode(text, start)
        except json.JSONDecodeError:
            return None
        return record if isinstance(record, dict) else None

    def has_keys(self, *keys: str) -> bool:
        record = self.first_record
        return record is not None and all(k in record for k in keys)
