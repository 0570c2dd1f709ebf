"""Parse source times into tz-aware UTC timestamps, naming the first value that fails.

Epoch numbers are checked against the range of dates a listening log can hold: a number read in
the wrong unit (milliseconds as seconds) lands centuries away or overflows, and is an error that
names the column and the unit the numbers look like, never a silent wrong date. Text without a
time zone is taken in ``timezone`` (UTC unless given).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from segue.data.errors import DataError
from segue.data.readers.parsed import first_row

TIMESTAMP_DTYPE: Final = "datetime64[ns, UTC]"
"""The canonical timestamp dtype: UTC, nanoseconds (pandas 3 would otherwise pick per source)."""

UNITS: Final = ("s", "ms", "us", "ns")
_NS_PER = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
# Epoch numbers in a unit must land before this year; later means the unit is wrong.
_LATEST_YEAR = 2100
_LATEST_SECONDS = (pd.Timestamp(f"{_LATEST_YEAR}-01-01", tz="UTC").value // 10**9) - 1
_SAMPLE = 100_000
# Per unit, the largest number that lands before 2100 in it.
_LIMITS = tuple(_LATEST_SECONDS * 10**9 / _NS_PER[u] for u in UNITS)
_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
_ZONE = r"(?:[zZ]|[+-]\d\d(?::?\d\d)?|\s*UTC)$"


def infer_unit(numbers: pd.Series) -> str:
    """The unit that puts the typical epoch number before 2100: s, then ms, us, ns.

    Typical is the median size of the non-zero numbers, not the largest: one stray value in
    another unit must not move a whole column to 1970 (it fails on its own, by its row, in
    :func:`from_epoch`), and zeros are placeholders that say nothing of the unit.

    >>> infer_unit(pd.Series([1_700_000_000])), infer_unit(pd.Series([1_700_000_000_000, None]))
    ('s', 'ms')
    >>> infer_unit(pd.Series([1_612_124_100, 1_612_124_400, 1_612_124_700_000, 0, 0, 0]))
    's'
    """
    sizes = np.abs(pd.to_numeric(numbers, errors="coerce").to_numpy("float64", na_value=np.nan))
    # An evenly spaced sample tells the unit as well as every row, at a fraction of the cost;
    # every row is checked against it afterwards.
    sample = sizes[:: max(1, len(sizes) // _SAMPLE)]
    sample = sample[sample > 0]  # NaN compares False
    typical = float(np.median(sample)) if len(sample) else 0.0
    return UNITS[int(_own_units(np.array([typical]))[0])]


def _own_units(sizes: np.ndarray) -> np.ndarray:
    """Per number, the index in :data:`UNITS` of the first unit putting it before 2100."""
    return np.searchsorted(np.array(_LIMITS[:-1]), sizes, side="left")


def from_epoch(
    values: pd.Series, unit: str | None, *, file: str, column: str, settable: bool = False
) -> pd.Series:
    """Times from numbers of ``unit`` (``"s"``, ``"ms"``, ``"us"``, ``"ns"``) since 1970 UTC.

    ``unit=None`` infers the unit from the numbers' size (see :func:`infer_unit`). A number that
    in ``unit`` falls after 2100 (or overflows) is an error naming the unit it looks like;
    ``settable`` says the caller can pass ``timestamp_unit=``, and the error says so.

    >>> from_epoch(pd.Series([0, 1_600_000_000]), "s", file="f", column="ts").astype(str).tolist()
    ['1970-01-01 00:00:00+00:00', '2020-09-13 12:26:40+00:00']
    >>> from_epoch(pd.Series([1_700_000_000_000]), "s", file="f.csv", column="ts", settable=True)
    Traceback (most recent call last):
    ...
    segue.data.errors.DataError: f.csv: column 'ts', row 0: 1700000000000 seconds is after 2100; \
the numbers look like milliseconds: pass timestamp_unit='ms' (or leave it unset to infer it)
    """
    if unit is not None and unit not in _NS_PER:
        raise ValueError(f"timestamp_unit must be one of {list(UNITS)} or None, not {unit!r}")
    numbers = values if pd.api.types.is_numeric_dtype(values) else _numbers(values, file, column)
    if unit is None:
        unit = infer_unit(numbers)
        _check_one_unit(numbers, unit, file, column, settable)
    _check_range(numbers, unit, file, column, settable)
    if pd.api.types.is_integer_dtype(numbers) and not numbers.hasnans:
        # Integer arithmetic straight to nanoseconds: several times faster than to_datetime.
        ns = numbers.to_numpy(dtype="int64") * _NS_PER[unit]
        return pd.Series(ns.view("datetime64[ns]"), index=values.index).dt.tz_localize("UTC")
    scaled = (numbers.astype("float64") * _NS_PER[unit]).round()
    return pd.Series(pd.to_datetime(scaled, unit="ns", utc=True), index=values.index).astype(
        TIMESTAMP_DTYPE
    )


def from_strings(
    values: pd.Series,
    *,
    file: str,
    column: str,
    format: str | None = None,
    timezone: str | None = None,
) -> pd.Series:
    """Times from text: ISO 8601 unless ``format`` (a strptime pattern) is given.

    Text without a time zone is taken in ``timezone`` (an IANA name such as
    ``"Europe/Berlin"``), UTC when None. Text with a zone or offset keeps it.

    >>> from_strings(pd.Series(["2009-05-04T23:08:57Z"]), file="f", column="ts").tolist()
    [Timestamp('2009-05-04 23:08:57+0000', tz='UTC')]
    >>> ts = pd.Series(["2021-07-01 12:00", "2021-07-01T12:00+00:00"])
    >>> from_strings(ts, file="f", column="ts", timezone="Europe/Berlin").dt.hour.tolist()
    [10, 12]
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        zoned = values if values.dt.tz is not None else _localize(values, timezone, file, column)
        return as_utc_ns(zoned, file=file, column=column)
    if pd.api.types.is_numeric_dtype(values):
        raise DataError(
            "holds numbers, not dates; pass timestamp_unit='s' or 'ms' for epoch times",
            file=file,
            column=column,
        )
    text = values.astype("string").str.strip()
    pattern = format or "ISO8601"
    if timezone is None:
        times = pd.to_datetime(text, format=pattern, utc=True, errors="coerce")
    else:
        times = _in_zone(text, pattern, timezone, file, column)
    bad = times.isna() & text.notna() & (text != "")
    if bad.any():
        row = first_row(bad)
        expected = f"format {format!r}" if format else "ISO 8601"
        hint = ""
        if str(values.loc[row]).strip().replace(".", "", 1).isdigit():
            hint = "; for epoch numbers pass timestamp_unit='s' or 'ms'"
        raise DataError(
            f"cannot parse {values.loc[row]!r} as a time ({expected}){hint}",
            file=file,
            column=column,
            row=row,
        )
    return as_utc_ns(times, file=file, column=column)


def as_utc_ns(times: pd.Series, *, file: str, column: str) -> pd.Series:
    """Tz-aware times as the canonical UTC nanosecond dtype; a date nanoseconds cannot hold
    (before 1677 or after 2262) is an error naming its row, not an ``OutOfBoundsDatetime``.

    >>> t = pd.Series(pd.to_datetime(["2020-01-01", "3000-01-01"], utc=True))
    >>> as_utc_ns(t, file="f", column="when")
    Traceback (most recent call last):
    ...
    segue.data.errors.DataError: f: column 'when', row 1: time 3000-01-01 00:00:00+00:00 is out \
of range (years 1678-2261)
    """
    times = times.dt.tz_convert("UTC")
    low, high = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
    out = times.notna() & ((times < low) | (times > high))
    if out.any():
        row = first_row(out)
        raise DataError(
            f"time {times.loc[row]} is out of range (years 1678-2261)",
            file=file,
            column=column,
            row=row,
        )
    return times.astype(TIMESTAMP_DTYPE)


def _in_zone(text: pd.Series, pattern: str, timezone: str, file: str, column: str) -> pd.Series:
    """Parse text times, localising those without a zone in ``timezone``."""
    zoned = text.str.contains(_ZONE, regex=True).fillna(False).astype(bool)
    times = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us, UTC]")
    if zoned.any():
        times[zoned] = pd.to_datetime(text[zoned], format=pattern, utc=True, errors="coerce")
    if (~zoned).any():
        naive = pd.to_datetime(text[~zoned], format=pattern, errors="coerce")
        times[~zoned] = _localize(naive, timezone, file, column).dt.tz_convert("UTC")
    return times


def _localize(times: pd.Series, timezone: str | None, file: str, column: str) -> pd.Series:
    """Naive times in ``timezone``; in a DST gap they move forward, in a DST overlap the earlier
    of the two readings is taken (a log cannot tell them apart)."""
    try:
        return times.dt.tz_localize(
            timezone or "UTC", ambiguous=np.ones(len(times), bool), nonexistent="shift_forward"
        )
    except Exception as error:  # zoneinfo raises several types for an unknown zone
        if isinstance(error, DataError):
            raise
        raise ValueError(
            f"timezone={timezone!r} is not a time zone name (e.g. 'Europe/Berlin', 'UTC')"
        ) from error


def _check_one_unit(numbers: pd.Series, unit: str, file: str, column: str, settable: bool) -> None:
    """Every number in the unit inferred for the column: one in another unit is an error.

    Read in the column's unit, a stray millisecond value lands after 2100 and a stray second
    value in January 1970, both wrong dates. Numbers within the first day of 1970 in the unit
    are placeholders (0, or a tool's "unknown"), which the readers drop, not another unit.
    """
    sizes = np.abs(numbers.to_numpy(dtype="float64", na_value=np.nan))
    at = UNITS.index(unit)
    limits = _LIMITS[at - 1 : at + 1] if at else (0.0, _LIMITS[0])
    first_day = 86_400 * 10**9 / _NS_PER[unit]
    # Comparisons only (NaN compares False): this runs on every epoch column read.
    other = ((sizes <= limits[0]) & (sizes >= first_day)) | (sizes > limits[1])
    if unit == UNITS[-1]:
        other &= sizes <= limits[1]  # beyond nanoseconds: out of range, said by _check_range
    if not other.any():
        return
    row = first_row(pd.Series(other, index=numbers.index))
    value = numbers.loc[row]
    shown = int(value) if float(value).is_integer() else value
    mixed = UNITS[int(_own_units(sizes[other.argmax() : other.argmax() + 1])[0])]
    where = f"after {_LATEST_YEAR}" if UNITS.index(mixed) > UNITS.index(unit) else "in 1970"
    looks = f" (it looks like {_NAMES[mixed]})" if np.isfinite(float(value)) else ""
    fix = "; pass timestamp_unit= to read the column in one unit" if settable else ""
    raise DataError(
        f"{shown} {_NAMES[unit]}, the unit the column's numbers look like, is {where}{looks}: "
        f"a column mixing units is not read as either, it would give wrong dates{fix}",
        file=file,
        column=column,
        row=row,
    )


def _check_range(numbers: pd.Series, unit: str, file: str, column: str, settable: bool) -> None:
    seconds = numbers.astype("float64").abs() * (_NS_PER[unit] / 10**9)
    late = seconds > _LATEST_SECONDS
    if late.any():
        row = first_row(late)
        likely = infer_unit(numbers)
        value = numbers.loc[row]
        shown = int(value) if float(value).is_integer() else value
        fix = (
            f": pass timestamp_unit={likely!r} (or leave it unset to infer it)" if settable else ""
        )
        raise DataError(
            f"{shown} {_NAMES[unit]} is after {_LATEST_YEAR}; the numbers look like "
            f"{_NAMES[likely]}{fix}",
            file=file,
            column=column,
            row=row,
        )


def _numbers(values: pd.Series, file: str, column: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        row = first_row(bad)
        raise DataError(
            f"cannot parse {values.loc[row]!r} as an epoch time", file=file, column=column, row=row
        )
    return numbers
