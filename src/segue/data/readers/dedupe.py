"""Events repeated across overlapping export files, kept once."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

DUPLICATE = "duplicate across export files"


def drop_repeats(frame: pd.DataFrame, key: Sequence[str], file_column: str) -> pd.DataFrame:
    """Keep each event (rows equal on ``key``) only from the first file it appears in.

    Repeats inside one file are kept: one file never lists an event twice, so equal rows there
    are two real plays (e.g. a track replayed within the same minute).

    >>> df = pd.DataFrame({"t": [1, 1, 2, 1, 3], "f": [0, 0, 0, 1, 1]})
    >>> drop_repeats(df, ["t"], "f").to_dict("list")
    {'t': [1, 1, 2, 3], 'f': [0, 0, 0, 1]}
    """
    first = frame.groupby(list(key), dropna=False, sort=False)[file_column].transform("min")
    return frame[frame[file_column] == first]
