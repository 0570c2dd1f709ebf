"""Times a listening service cannot have written: counted and dropped, never kept.

A scrobble stamped 1970-01-01 (an unset clock, or a tool's zero for "unknown"), a play before
the service existed, or one after the export was made would each pile into one giant session or
sort ahead of the real history. Each is a drop reason of its own in the read's report.
"""

from __future__ import annotations

import pandas as pd

from segue.columns import Columns

EPOCH_ZERO = "time at 1970-01-01 (a placeholder, not a play)"
IN_FUTURE = "time in the future"
# A clock a day fast is a fast clock, not a future play.
_FUTURE_SLACK = pd.Timedelta(days=1)


def before_service(earliest: str) -> str:
    """The drop reason for times before a service existed."""
    return f"time before the service existed ({earliest})"


def implausible_times(
    times: pd.Series, earliest: str | None, *, now: pd.Timestamp | None = None
) -> dict[str, pd.Series]:
    """Masks of the rows to drop, by reason: the 1970 placeholder day and times before
    ``earliest`` (both unchecked when ``earliest`` is None), and after ``now`` plus a day.

    >>> days = ["1970-01-01 00:00:07", "2001-05-01 00:00:00", "2021-01-31 00:00:00"]
    >>> t = pd.Series(pd.to_datetime(days, utc=True))
    >>> now = pd.Timestamp("2024-01-01", tz="UTC")
    >>> {k: v.tolist() for k, v in implausible_times(t, "2002-03-20", now=now).items()}
    ... # doctest: +NORMALIZE_WHITESPACE
    {'time at 1970-01-01 (a placeholder, not a play)': [True, False, False],
     'time before the service existed (2002-03-20)': [False, True, False],
     'time in the future': [False, False, False]}
    """
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    masks = {}
    if earliest is not None:
        day_zero = (times < pd.Timestamp("1970-01-02", tz="UTC")).fillna(False)
        early = (times < pd.Timestamp(earliest, tz="UTC")) & ~day_zero
        masks[EPOCH_ZERO], masks[before_service(earliest)] = day_zero, early.fillna(False)
    masks[IN_FUTURE] = (times > now + _FUTURE_SLACK).fillna(False)
    return masks


def drop_implausible(
    frame: pd.DataFrame, earliest: str | None, dropped: dict[str, int]
) -> pd.DataFrame:
    """``frame`` without rows at implausible times; each count added to ``dropped``."""
    masks = implausible_times(frame[Columns.TIMESTAMP], earliest)
    bad = pd.Series(False, index=frame.index)
    for reason, mask in masks.items():
        count = int((mask & ~bad).sum())
        if count:
            dropped[reason] = dropped.get(reason, 0) + count
        bad |= mask
    return frame[~bad] if bad.any() else frame
