"""The error raised for bad input data: it always says where the problem is."""

from __future__ import annotations


class DataError(ValueError):
    """Bad input: names the file, the column and, where it applies, the (0-based) row.

    >>> str(DataError("cannot parse 'yesterday' as a time", file="a.csv", column="ts", row=3))
    "a.csv: column 'ts', row 3: cannot parse 'yesterday' as a time"
    >>> str(DataError("no rows"))
    'no rows'
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        column: str | None = None,
        row: int | None = None,
    ) -> None:
        self.file = None if file is None else str(file)
        self.column = column
        self.row = row
        self.reason = message
        place = []
        if column is not None:
            place.append(f"column {column!r}")
        if row is not None:
            place.append(f"row {row}")
        parts = [p for p in (self.file, ", ".join(place)) if p]
        super().__init__(": ".join([*parts, message]))
