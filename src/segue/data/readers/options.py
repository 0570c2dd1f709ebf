"""Format options checked before any file is read: unknown names and bad values fail first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from segue.data.readers.formats import Format
from segue.data.readers.timestamps import UNITS


def check_options(formats: Sequence[Format], options: dict[str, Any]) -> dict[str, Any]:
    """The options that are set, after checking each is taken by one of ``formats`` and valid.

    Raises:
        TypeError: An option none of the formats takes (rather than ignore it), or a value of
            the wrong type.
        ValueError: An option value outside what it allows.
    """
    given = {k: v for k, v in options.items() if v is not None}
    takes = {o for f in formats for o in f.options}
    unknown = sorted(k for k in given if k not in takes)
    if unknown:
        names = ", ".join(f.name for f in formats)
        listing = ", ".join(sorted(takes)) or "no options"
        raise TypeError(f"format(s) {names} do not take {unknown}; they take {listing}")
    check_values(given)
    return given


def check_values(options: dict[str, Any]) -> None:
    """Check option values that need no file to judge (units, zones, names), before reading.

    Raises:
        TypeError: A value of the wrong type.
        ValueError: A value outside what the option allows.
    """
    unit = options.get("timestamp_unit")
    if unit is not None and unit not in UNITS:
        raise ValueError(f"timestamp_unit must be one of {list(UNITS)} or None, not {unit!r}")
    zone = options.get("timezone")
    if zone is not None:
        if not isinstance(zone, str):
            raise TypeError(f"timezone must be an IANA name like 'Europe/Berlin', not {zone!r}")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(
                f"timezone={zone!r} is not a time zone name (e.g. 'Europe/Berlin', 'UTC')"
            ) from error
    shows = options.get("podcast_shows")
    if (
        shows is not None
        and not isinstance(shows, str)
        and not all(isinstance(s, str) for s in shows)
    ):
        raise TypeError(f"podcast_shows must be show names (strings), not {shows!r}")
    # None is the configs' spelling of "not set" (configs/data/csv.yaml lists every option).
    fmt = options.get("timestamp_format")
    if fmt is not None and not isinstance(fmt, str):
        raise TypeError(f"timestamp_format must be a strptime pattern string, not {fmt!r}")
    columns = options.get("columns")
    if columns is not None and not hasattr(columns, "items"):
        raise TypeError(f"columns must map canonical names to source columns, not {columns!r}")
