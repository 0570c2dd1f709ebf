"""What a reader returns for one file: canonical rows plus the accounting of the rest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import pandas as pd

from segue.data.errors import DataError


@dataclass
class Parsed:
    """The rows one reader kept from one file, and how many it read and dropped.

    Attributes:
        frame: Rows in canonical columns (see :func:`segue.data.readers.canonical.finish`), indexed
            by their 0-based data row in the file. ``user_id`` is absent when the file names no
            user. Columns starting with ``_`` are private to the read and removed before returning.
        rows_in: Data rows in the file (header excluded).
        dropped: Rows removed, by reason; ``rows_in == len(frame) + sum(dropped.values())``.
        event_key: Columns that identify one event, besides the user, for formats whose export
            files overlap (the same event in two files is kept once); empty for other formats.
        stats: Figures worth reporting, summed over files (e.g. plays of zero ms).
        layout: How the file was read when a format takes several layouts (the tool that
            writes it and the columns used), for the report; None otherwise.
    """

    frame: pd.DataFrame
    rows_in: int
    dropped: dict[str, int] = field(default_factory=dict)
    event_key: tuple[str, ...] = ()
    stats: dict[str, int] = field(default_factory=dict)
    layout: str | None = None

    def __post_init__(self) -> None:
        kept = len(self.frame) + sum(self.dropped.values())
        assert self.rows_in == kept, f"{self.rows_in} rows in but {kept} kept + dropped"


class NoRows(DataError):
    """A file with no data rows: an error for a file read on its own, skipped inside a folder."""

    def __init__(self, file: str) -> None:
        super().__init__("no rows", file=file)


def first_row(mask: pd.Series) -> int:
    """The file row of the first True in ``mask``: frames are indexed by file row until combined.

    >>> first_row(pd.Series([False, True, True], index=[4, 7, 9]))
    7
    """
    return int(cast(int, mask.idxmax()))


def shown(value: object) -> str:
    """A value for an error message: numpy scalars as plain Python numbers.

    >>> import numpy as np
    >>> shown(np.int64(7)), shown("x")
    ('7', "'x'")
    """
    item = getattr(value, "item", None)
    return repr(item() if callable(item) else value)
