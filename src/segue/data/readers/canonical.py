"""Validate a reader's rows and cast them to the canonical dtypes every later stage relies on.

Canonical dtypes: ids and names are ``string``; ``timestamp`` is ``datetime64[ns, UTC]``;
``ms_played`` / ``duration_ms`` are nullable ``Int64``; ``skipped`` / ``is_organic`` are nullable
``boolean``. Every failed check raises :class:`DataError` naming the file, the source column and
the first bad row (frames keep their 0-based file row as index until they are combined).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

import pandas as pd

from segue.columns import Columns
from segue.data.errors import DataError
from segue.data.readers.parsed import first_row, shown
from segue.data.readers.timestamps import TIMESTAMP_DTYPE

STRING_COLUMNS = (
    Columns.USER,
    Columns.TRACK,
    Columns.ARTIST,
    Columns.ALBUM,
    Columns.TRACK_NAME,
    Columns.EVENT_TYPE,
)
COUNT_COLUMNS = (Columns.MS_PLAYED, Columns.DURATION_MS)
FLAG_COLUMNS = (Columns.SKIPPED, Columns.IS_ORGANIC)
TRUE_WORDS = ("true", "1", "yes", "t", "y", "1.0")
FALSE_WORDS = ("false", "0", "no", "f", "n", "0.0")
"""Flag texts, compared trimmed and lower-cased (the out-of-core path's SQL uses the same)."""
MAX_COUNT = 2**62
"""Milliseconds at or beyond this are refused: more than Int64 holds with room to add."""


def require_columns(present: Iterable[str], needed: Iterable[str], *, file: str) -> None:
    """Raise unless every ``needed`` column is ``present``; the message lists what exists.

    >>> require_columns(["a", "b"], ["a", "c"], file="x.csv")
    Traceback (most recent call last):
    ...
    segue.data.errors.DataError: x.csv: missing column 'c'; the file has columns: 'a', 'b'
    """
    have = list(present)
    missing = [c for c in needed if c not in have]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        listing = ", ".join(repr(c) for c in have) or "none"
        plural = "s" if len(missing) > 1 else ""
        raise DataError(
            f"missing column{plural} {names}; the file has columns: {listing}", file=file
        )


def finish(
    frame: pd.DataFrame,
    *,
    file: str,
    source_names: Mapping[str, str] | None = None,
    extras: Sequence[str] = (),
) -> pd.DataFrame:
    """Check and cast a reader's canonical columns; keep the listed extra columns as they are.

    Args:
        frame: Canonical columns (``track_id`` and ``timestamp`` required, the rest optional),
            indexed by file row. ``timestamp`` must already be parsed.
        file: The file's name, for errors.
        source_names: The source column behind each canonical column, for errors.
        extras: Extra columns to keep after the canonical ones (e.g. ``rating``), plus private
            ``_``-prefixed columns, which are always kept.

    Returns:
        The frame with canonical columns in canonical order, then extras.
    """
    names = dict(source_names or {})
    require_columns(frame.columns, (Columns.TRACK, Columns.TIMESTAMP), file=file)
    out = {}
    for col in Columns.CANONICAL:
        if col not in frame:
            continue
        where = names.get(col, col)
        values = frame[col]
        if col in STRING_COLUMNS:
            values = as_string(values)
        elif col in COUNT_COLUMNS:
            values = as_count(values, file=file, column=where)
        elif col in FLAG_COLUMNS:
            values = as_flag(values, file=file, column=where)
        else:
            values = values.astype(TIMESTAMP_DTYPE)
        if col in Columns.REQUIRED:
            _no_nulls(values, file=file, column=where)
        out[col] = values
    private = [c for c in frame.columns if c.startswith("_")]
    for col in [*extras, *private]:
        out[col] = frame[col]
    return pd.DataFrame(out, index=frame.index, copy=False)


def as_string(values: pd.Series) -> pd.Series:
    """Ids and names as ``string``; whole-number floats (ids read next to nulls) lose the ``.0``.

    >>> as_string(pd.Series([242.0, None])).tolist()
    ['242', <NA>]
    """
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        if (whole == whole.round()).all():
            values = values.astype("Int64")
    return values.astype("string")


def as_text(values: pd.Series, *, file: str, column: str) -> pd.Series:
    """A JSON field of names or ids, checked: text or null. A list, an object, a number or a
    bool there is a damaged export, not a name (``["A", "B"]`` would become the id
    ``"['a', 'b']"``). Checked per column in C; only a failed check looks for the row.

    >>> as_text(pd.Series(["Björk", None], dtype=object), file="f", column="artistName").tolist()
    ['Björk', None]
    >>> as_text(pd.Series(["A", {"x": 1}]), file="f", column="artistName")
    Traceback (most recent call last):
    ...
    segue.data.errors.DataError: f: column 'artistName', row 1: {'x': 1} is a dict, not text
    """
    if isinstance(values.dtype, pd.StringDtype):
        return values
    if values.dtype == object:
        if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
            return values
        bad = values.map(_not_text)
    else:
        bad = values.notna()  # a column of numbers or bools
    if not bad.any():
        return values
    raise _wrong_kind(values, bad, "text", file=file, column=column)


def as_count(values: pd.Series, *, file: str, column: str) -> pd.Series:
    """Milliseconds as nullable ``Int64``, rounded; text that is no number, a bool or a negative
    fails.

    >>> as_count(pd.Series([1.6, None, 0]), file="f", column="ms").tolist()
    [2, <NA>, 0]
    """
    _only_numbers(values, file=file, column=column)
    try:
        numbers = pd.to_numeric(values, errors="coerce")
    except (OverflowError, TypeError, ValueError) as error:
        # A JSON integer beyond what a float holds: its row, found by a scan after the failure.
        huge = values.map(_beyond_float)
        if not huge.any():
            raise DataError(f"cannot read as numbers ({error})", file=file, column=column) from None
        row = first_row(huge)
        raise DataError(
            f"{str(values.loc[row])[:20]}... is too large", file=file, column=column, row=row
        ) from None
    bad = numbers.isna() & values.notna()
    if bad.any():
        row = first_row(bad)
        raise DataError(f"{values.loc[row]!r} is not a number", file=file, column=column, row=row)
    huge = numbers.abs() >= MAX_COUNT
    if huge.any():
        row = first_row(huge)
        raise DataError(f"{shown(values.loc[row])} is too large", file=file, column=column, row=row)
    negative = numbers < 0
    if negative.any():
        row = first_row(negative)
        raise DataError(
            f"negative value {numbers.loc[row]!r}; durations are never negative",
            file=file,
            column=column,
            row=row,
        )
    return numbers.round().astype("Int64")


def _only_numbers(values: pd.Series, *, file: str, column: str) -> None:
    """Refuse bools, lists and objects where a number belongs (``true`` is no 1 ms); checked
    per column in C, and per value only for a column of mixed kinds, to find the row."""
    if pd.api.types.is_bool_dtype(values):
        bad = values.notna()
    elif values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) not in (
        _NUMBER_KINDS
    ):
        bad = values.map(_not_a_number_kind)
    else:
        return
    if bad.any():
        raise _wrong_kind(values, bad, "a number", file=file, column=column)


def _wrong_kind(
    values: pd.Series, bad: pd.Series, kind: str, *, file: str, column: str
) -> DataError:
    """The error for the first ``bad`` value of ``values``, which is not ``kind``."""
    row = first_row(bad)
    value = values.loc[row]
    return DataError(
        f"{shown(value):.40} is a {type(value).__name__}, not {kind}",
        file=file,
        column=column,
        row=row,
    )


_NUMBER_KINDS = ("integer", "floating", "mixed-integer-float", "decimal", "string", "empty")


def _not_a_number_kind(value: object) -> bool:
    if isinstance(value, bool):
        return True
    return not (isinstance(value, int | float | str | Decimal) or value is None)


def _not_text(value: object) -> bool:
    if isinstance(value, str) or value is None or value is pd.NA:
        return False
    return not (isinstance(value, float) and math.isnan(value))


def _beyond_float(value: object) -> bool:
    return isinstance(value, int) and abs(value) > sys.float_info.max


def as_flag(values: pd.Series, *, file: str, column: str) -> pd.Series:
    """True/false flags as nullable ``boolean`` from bools, 0/1 or text like ``"true"``.

    >>> as_flag(pd.Series([True, None, "false", 1]), file="f", column="skipped").tolist()
    [True, <NA>, False, True]
    """
    if pd.api.types.is_bool_dtype(values):
        return values.astype("boolean")
    if pd.api.types.is_numeric_dtype(values):
        bad = values.notna() & ~values.isin([0, 1])
        if bad.any():
            row = first_row(bad)
            raise DataError(f"{values.loc[row]!r} is not 0 or 1", file=file, column=column, row=row)
        return values.astype("boolean")
    text = values.astype("string").str.strip().str.lower()
    flags = pd.Series(pd.NA, index=values.index, dtype="boolean")
    flags[text.isin(TRUE_WORDS).fillna(False)] = True
    flags[text.isin(FALSE_WORDS).fillna(False)] = False
    bad = flags.isna() & text.notna() & (text != "")
    if bad.any():
        row = first_row(bad)
        raise DataError(
            f"{values.loc[row]!r} is not true or false", file=file, column=column, row=row
        )
    return flags


def _no_nulls(values: pd.Series, *, file: str, column: str) -> None:
    missing = values.isna()
    if values.dtype == "string":
        missing |= values.str.strip() == ""
    if missing.any():
        raise DataError(
            "missing value (required)", file=file, column=column, row=first_row(missing)
        )
