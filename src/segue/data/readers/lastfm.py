"""Last.fm: the Last.fm-1K dataset TSV and per-user scrobble tables written by export tools.

Last.fm-1K (``userid-timestamp-artid-artname-traid-traname.tsv``, no header): user, ISO time
(UTC), artist MBID, artist name, track MBID, track name. The track id is the track MBID where
there is one, else the normalised ``artist|track`` (kept as ``track_key`` for every row).

Scrobble tables (one user): every layout in :mod:`segue.data.readers.scrobble_columns`
(lastfm-to-csv, lastfmstats.com, ghan.nl, lastexport.py, lastfm-backup-cli, or any header that
names artist, track and time columns), comma-, semicolon- or tab-separated, in any encoding
:mod:`segue.data.readers.text` tells apart. Rows become canonical through
:func:`segue.data.readers.scrobbles.scrobbles_to_parsed`; the report says which columns were used.
"""

from __future__ import annotations

import re

import pandas as pd

from segue.columns import Columns, EventTypes
from segue.data.errors import DataError
from segue.data.readers import timestamps
from segue.data.readers.canonical import finish
from segue.data.readers.delimited import read_delimited
from segue.data.readers.extra_columns import Extra
from segue.data.readers.head import Head
from segue.data.readers.parsed import Parsed
from segue.data.readers.scrobble_columns import (
    ALIASES,
    NEEDED,
    TIME,
    USER,
    layout_of,
    recognised,
)
from segue.data.readers.scrobbles import scrobbles_to_parsed
from segue.data.readers.sources import SourceFile
from segue.data.readers.text import utf8_source
from segue.data.readers.track_key import track_key

_LFM1K = ("user", "timestamp", "artist_mbid", "artist", "track_mbid", "track")
_ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def read_lastfm_1k(file: SourceFile) -> Parsed:
    """Read a Last.fm-1K listening TSV (or any file in its six-column layout)."""
    # Names hold stray quote characters, and tabs never occur inside a field: no quoting.
    source, _ = utf8_source(file)
    raw = read_delimited(source, file=file.name, sep="\t", names=_LFM1K, text=_LFM1K, quoting=False)
    key = track_key(raw["artist"], raw["track"])
    frame = pd.DataFrame(
        {
            Columns.USER: raw["user"],
            Columns.TRACK: raw["track_mbid"].fillna(key),
            Columns.TIMESTAMP: timestamps.from_strings(
                raw["timestamp"], file=file.name, column="timestamp (2nd)"
            ),
            Columns.ARTIST: raw["artist"],
            Columns.TRACK_NAME: raw["track"],
            Columns.EVENT_TYPE: EventTypes.PLAY,
            Extra.TRACK_KEY: key,
        }
    )
    names = {Columns.USER: "user (1st)", Columns.TRACK: "track name (6th)"}
    parsed = finish(frame, file=file.name, source_names=names, extras=[Extra.TRACK_KEY])
    return Parsed(parsed, rows_in=len(raw))


def read_lastfm_csv(file: SourceFile, *, timezone: str | None = None) -> Parsed:
    """Read a scrobble table in any layout :mod:`~segue.data.readers.scrobble_columns` knows.

    Args:
        file: The file.
        timezone: The zone of text times written without one (UTC when None).
    """
    head = Head.of(file)
    layout = layout_of(head)
    if layout is None:
        raise DataError(explain_unknown(head, hint=True), file=file.name)
    source, encoding = utf8_source(file)
    joined = layout.columns[TIME] if layout.date_and_time else None
    used = [c for c in dict.fromkeys(layout.columns.values()) if c != joined]
    used += list(layout.date_and_time or ())
    raw = read_delimited(
        source,
        file=file.name,
        sep=layout.delimiter,
        names=layout.names or None,
        usecols=used,
        text=used,
    )
    roles = pd.DataFrame({role: raw[name] for role, name in layout.columns.items() if name in raw})
    if layout.date_and_time:
        day, clock = layout.date_and_time
        roles[TIME] = raw[day].str.strip() + " " + raw[clock].str.strip()
    if layout.user is not None:
        roles[USER] = layout.user
    described = layout.describe() + ("" if encoding.startswith("utf-8") else f"; {encoding}")
    return scrobbles_to_parsed(
        roles, file=file.name, names=layout.columns, timezone=timezone, layout=described
    )


def explain_unknown(head: Head, *, hint: bool = False) -> str:
    """Why a table is no scrobble layout: the roles its header names, and those missing.

    ``hint`` adds the header names each role is recognised by (for an error, not a report).
    """
    found = recognised(head)
    if found is None:
        reason = "no header names an artist, a track or a time, and no known headerless layout"
    else:
        roles, missing = found
        shown = ", ".join(f"{role}={name!r}" for role, name in roles.items())
        reason = f"recognised {shown}, but no column for {', '.join(missing)}"
    if hint:
        aliases = "; ".join(f"{role}: {', '.join(ALIASES[role][:6])}..." for role in NEEDED)
        reason += f" (header names recognised: {aliases})"
    return reason


def sniff_1k(head: Head) -> bool:
    """Six tab-separated fields, the second an ISO time ending in ``Z``."""
    rows = head.rows("\t")
    return bool(rows) and all(len(r) == 6 and _ISO_Z.match(r[1]) for r in rows[:5])


def sniff_csv(head: Head) -> bool:
    """A table whose header names artist, track and time columns, or a known headerless one."""
    return not head.data.startswith(b"PAR1") and layout_of(head) is not None
