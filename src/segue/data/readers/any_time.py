"""Times in whichever way a scrobble export writes them, told apart by the values themselves.

Export tools write epoch seconds (``uts``), epoch milliseconds (lastfmstats), ISO 8601 with or
without a zone, or Last.fm's display form ``31 Jan 2021, 20:15`` (with or without the comma,
sometimes with seconds). The first values of a column decide which; every value is then parsed
that one way, so a value written differently is an error naming its row, not a guess.
"""

from __future__ import annotations

import pandas as pd

from segue.data.errors import DataError
from segue.data.readers import timestamps
from segue.data.readers.parsed import first_row

DISPLAY_FORMATS = (
    "%d %b %Y, %H:%M",
    "%d %b %Y %H:%M",
    "%d %b %Y, %H:%M:%S",
    "%d %b %Y %H:%M:%S",
)
"""Last.fm's display forms of a time (``31 Jan 2021, 20:15``), as the website and API write it."""

_SAMPLE = 20


def time_format(values: pd.Series) -> str | None:
    """How a column writes times: ``"epoch"``, ``"ISO8601"``, a strptime pattern, or None.

    >>> [time_format(pd.Series(v)) for v in (["1612124100"], ["31 Jan 2021, 20:15"], ["soon"])]
    ['epoch', '%d %b %Y, %H:%M', None]
    """
    if pd.api.types.is_numeric_dtype(values):
        return "epoch"
    text = values.astype("string").str.strip()
    sample = text[text.notna() & (text != "")].head(_SAMPLE)
    if sample.empty:
        return None
    if sample.str.fullmatch(r"\d{1,19}(\.\d+)?").all():  # 0 is a placeholder, still epoch
        return "epoch"
    # The form most of the first values take; a value written otherwise fails by its row later.
    counts = {
        pattern: int(
            pd.to_datetime(sample, format=pattern, errors="coerce", utc=True).notna().sum()
        )
        for pattern in ("ISO8601", *DISPLAY_FORMATS)
    }
    best = max(counts, key=lambda p: counts[p])
    return best if counts[best] else None


def parse_times(
    values: pd.Series, *, file: str, column: str, timezone: str | None = None
) -> pd.Series:
    """UTC times from a column in any form :func:`time_format` knows; empty values stay NaT.

    Epoch numbers carry no zone; text without one is taken in ``timezone`` (UTC when None).

    >>> parse_times(pd.Series(["1612124100000", ""]), file="f", column="Date").tolist()
    [Timestamp('2021-01-31 20:15:00+0000', tz='UTC'), NaT]
    """
    form = time_format(values)
    if form is None:
        sample = values.dropna().head(1).tolist()
        shown = repr(sample[0]) if sample else "no value"
        raise DataError(
            f"cannot tell how times are written (first value {shown}); expected epoch seconds "
            "or milliseconds, ISO 8601, or a date like '31 Jan 2021, 20:15'",
            file=file,
            column=column,
        )
    if form == "epoch":
        numbers = values
        if not pd.api.types.is_numeric_dtype(values):
            text = values.astype("string").str.strip()
            numbers = pd.to_numeric(text.mask(text == ""), errors="coerce")
            bad = numbers.isna() & text.notna() & (text != "")
            if bad.any():
                row = first_row(bad)
                raise DataError(
                    f"cannot parse {values.loc[row]!r} as an epoch time",
                    file=file,
                    column=column,
                    row=row,
                )
        return timestamps.from_epoch(numbers, None, file=file, column=column)
    pattern = None if form == "ISO8601" else form
    text = values.astype("string").str.strip()
    return timestamps.from_strings(
        text.mask(text == ""), file=file, column=column, format=pattern, timezone=timezone
    )
