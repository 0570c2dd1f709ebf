"""Item-sequence files: one line per user, ``user item_1 item_2 ... item_n`` in time order.

This is the layout of the preprocessed files that S3-Rec, CoSeRec, ICLRec and many papers since
publish (Amazon Beauty, Sports, Toys, Yelp): fields split by spaces, items already in the order
they were consumed, **no timestamps**. Each item becomes one event of the user; its time is its
position, one second apart from 1970-01-01 UTC, so order and leave-last-out splits are right but
the times are not dates (time-gap inputs and session gaps carry no information here).

A user id that appears on two lines is an error naming both lines: the two sequences' relative
order is unknown, so no merge would be safe. A line holding a user id and no item holds no event,
so nothing is lost by it.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from segue.columns import Columns, EventTypes
from segue.data.errors import DataError
from segue.data.readers import timestamps
from segue.data.readers.canonical import finish
from segue.data.readers.head import Head
from segue.data.readers.parsed import NoRows, Parsed
from segue.data.readers.sources import SourceFile
from segue.data.readers.text import read_text

LINE = "source_line"
"""Extra column: the 1-based line of the file each event came from."""
_NUMBER = re.compile(r"^\d+$")
_SEPARATORS = ("\t", ",", ";", "|")


def read_item_sequences(file: SourceFile) -> Parsed:
    """Read a ``user item item ...`` sequence file into one event per item."""
    users, items, lines, positions = _tokens(file)
    if not items:
        raise NoRows(file.name)
    frame = pd.DataFrame(
        {
            Columns.USER: pd.array(users, dtype="string"),
            Columns.TRACK: pd.array(items, dtype="string"),
            Columns.TIMESTAMP: timestamps.from_epoch(
                pd.Series(np.asarray(positions, dtype=np.int64)),
                "s",
                file=file.name,
                column="position",
            ),
            Columns.EVENT_TYPE: EventTypes.PLAY,
            LINE: pd.array(lines, dtype="Int64"),
        }
    )
    return Parsed(finish(frame, file=file.name, extras=[LINE]), rows_in=len(items))


def _tokens(file: SourceFile) -> tuple[list[str], list[str], list[int], list[int]]:
    """Flat user / item / line / position lists; errors name the file's line."""
    text = read_text(file)
    users: list[str] = []
    items: list[str] = []
    lines: list[int] = []
    positions: list[int] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        user, sequence = fields[0], fields[1:]
        if user in first_line:
            raise DataError(
                f"line {number}: user {user!r} has a second sequence (the first is on line "
                f"{first_line[user]}); their order is unknown, so the file cannot be read as one "
                "sequence per user",
                file=file.name,
            )
        first_line[user] = number
        users += [user] * len(sequence)
        items += sequence
        lines += [number] * len(sequence)
        positions += range(len(sequence))
    return users, items, lines, positions


def sniff(head: Head) -> bool:
    """Space-separated whole numbers whose count varies between lines (a table's would not).

    A single-line file, or one whose head lines all have the same length, is not taken for a
    sequence file: pass ``format="item_sequences"`` to read it as one.
    """
    if any(sep in line for line in head.lines for sep in _SEPARATORS):
        return False
    rows = [line.split() for line in head.lines]
    if len(rows) < 2 or any(len(r) < 2 for r in rows):
        return False
    numbers = all(_NUMBER.match(field) for row in rows for field in row)
    return numbers and len({len(r) for r in rows}) > 1
