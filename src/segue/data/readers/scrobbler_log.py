"""``.scrobbler.log``: the Audioscrobbler portable-player log (Rockbox, iPod tools, lastexport.py).

Header lines start with ``#`` (``#AUDIOSCROBBLER/1.1``, ``#TZ/UTC`` or ``#TZ/UNKNOWN``,
``#CLIENT/...``); then one tab-separated line per play: artist, album, track, position on the
album, duration in seconds, rating (``L`` listened, ``S`` skipped), unix start time, track
MBID. A skipped play is kept with ``skipped`` true: a skip is a signal, not noise.

``#TZ/UNKNOWN`` means the player's clock was local time written as if it were UTC; with
``timezone=`` those times are read in that zone, else taken as UTC (the report says which).
"""

from __future__ import annotations

import io

import pandas as pd

from segue.columns import Columns
from segue.data.errors import DataError
from segue.data.readers.canonical import as_count
from segue.data.readers.delimited import read_delimited
from segue.data.readers.head import Head
from segue.data.readers.parsed import NoRows, Parsed, first_row
from segue.data.readers.scrobble_columns import ALBUM, ARTIST, TIME, TRACK, TRACK_MBID
from segue.data.readers.scrobbles import scrobbles_to_parsed
from segue.data.readers.sources import SourceFile
from segue.data.readers.text import read_text

MAGIC = "#AUDIOSCROBBLER/"
_FIELDS = ("artist", "album", "track", "position", "duration", "rating", "timestamp", "mbid")


def read_scrobbler_log(file: SourceFile, *, timezone: str | None = None) -> Parsed:
    """Read a ``.scrobbler.log``.

    Args:
        file: The file.
        timezone: The player's zone when the log says ``#TZ/UNKNOWN`` (UTC when None).
    """
    lines = read_text(file).splitlines(keepends=True)
    header = [line.strip() for line in lines if line.startswith("#")]
    body = "".join(line for line in lines if not line.startswith("#") and line.strip())
    if not body:
        raise NoRows(file.name)
    raw = read_delimited(
        io.BytesIO(body.encode()), file=file.name, sep="\t", names=_FIELDS[: _width(body)],
        text=_FIELDS, quoting=False,
    )  # fmt: skip
    local = "#TZ/UNKNOWN" in header
    times = pd.to_numeric(raw["timestamp"], errors="coerce")
    _no_bad_numbers(raw["timestamp"], times, file.name)
    when: pd.Series = times
    if local and timezone is not None:  # local clock readings: naive text, then the zone
        when = pd.to_datetime(times, unit="s").dt.strftime("%Y-%m-%d %H:%M:%S")
    roles = pd.DataFrame(
        {
            ARTIST: raw["artist"],
            ALBUM: raw["album"],
            TRACK: raw["track"],
            TIME: when,
            TRACK_MBID: raw.get("mbid"),
            Columns.DURATION_MS: as_count(raw["duration"], file=file.name, column="duration (5th)")
            * 1000,
            Columns.SKIPPED: raw["rating"].str.strip().str.upper() == "S",
        }
    )
    zone = "times in UTC" if not local else f"#TZ/UNKNOWN: times in {timezone or 'UTC'}"
    names = {TIME: "timestamp (7th)", TRACK: "track (3rd)"}
    layout = f".scrobbler.log ({zone})"
    return scrobbles_to_parsed(roles, file=file.name, names=names, timezone=timezone, layout=layout)


def sniff(head: Head) -> bool:
    """A file starting ``#AUDIOSCROBBLER/``."""
    return head.text.lstrip().startswith(MAGIC)


def _width(body: str) -> int:
    """Fields per line: 8 with the MBID column, 7 in logs that leave it out."""
    first = body.split("\n", 1)[0].rstrip("\r")
    return 8 if first.count("\t") >= 7 else 7


def _no_bad_numbers(text: pd.Series, numbers: pd.Series, file: str) -> None:
    bad = numbers.isna() & text.notna()
    if bad.any():
        row = first_row(bad)
        raise DataError(
            f"{text.loc[row]!r} is not a unix time", file=file, column="timestamp (7th)", row=row
        )
