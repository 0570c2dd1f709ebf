"""Last.fm: the Last.fm-1K dataset TSV and per-user scrobble CSV exports.

Last.fm-1K (``userid-timestamp-artid-artname-traid-traname.tsv``, no header): user, ISO time
(UTC), artist MBID, artist name, track MBID, track name. The track id is the track MBID where
there is one, else the normalised ``artist|track``.

Scrobble CSV exports (one user, e.g. from lastfm-to-csv): ``artist, album, track, date`` with a
date like ``31 Jan 2021 20:15`` (UTC), with or without a header row; the track id is the
normalised ``artist|track``. Scrobbles are stamped when the play started, so times are kept.
"""

from __future__ import annotations

import csv
import io
import re

import pandas as pd

from segue.columns import Columns, EventTypes
from segue.data.readers import timestamps
from segue.data.readers.canonical import finish, require_columns
from segue.data.readers.delimited import read_delimited
from segue.data.readers.head import Head
from segue.data.readers.parsed import Parsed
from segue.data.readers.sources import SourceFile
from segue.data.readers.track_key import track_key

_LFM1K = ("user", "timestamp", "artist_mbid", "artist", "track_mbid", "track")
_CSV = ("artist", "album", "track", "date")
_CSV_DATE = "%d %b %Y %H:%M"
_ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
_DATE = re.compile(r"^\d{1,2} [A-Za-z]{3} \d{4} \d{1,2}:\d\d$")


def read_lastfm_1k(file: SourceFile) -> Parsed:
    """Read a Last.fm-1K listening TSV (or any file in its six-column layout)."""
    # Names hold stray quote characters, and tabs never occur inside a field: no quoting.
    raw = read_delimited(
        file.readable(), file=file.name, sep="\t", names=_LFM1K, text=_LFM1K, quoting=False
    )
    frame = pd.DataFrame(
        {
            Columns.USER: raw["user"],
            Columns.TRACK: raw["track_mbid"].fillna(track_key(raw["artist"], raw["track"])),
            Columns.TIMESTAMP: timestamps.from_strings(
                raw["timestamp"], file=file.name, column="timestamp (2nd)"
            ),
            Columns.ARTIST: raw["artist"],
            Columns.TRACK_NAME: raw["track"],
            Columns.EVENT_TYPE: EventTypes.PLAY,
        }
    )
    names = {Columns.USER: "user (1st)", Columns.TRACK: "track name (6th)"}
    return Parsed(finish(frame, file=file.name, source_names=names), rows_in=len(raw))


def read_lastfm_csv(file: SourceFile) -> Parsed:
    """Read a per-user scrobble CSV: ``artist, album, track, date``, header row optional."""
    source = file.readable()
    has_header = _csv_has_header(source)
    if isinstance(source, io.BytesIO):
        source.seek(0)
    names = None if has_header else _CSV
    raw = read_delimited(source, file=file.name, names=names, text=_CSV if names else ())
    raw = raw.astype("string")
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    require_columns(raw.columns, ("artist", "track", "date"), file=file.name)
    frame = pd.DataFrame(
        {
            Columns.TRACK: track_key(raw["artist"], raw["track"]),
            Columns.TIMESTAMP: timestamps.from_strings(
                raw["date"], file=file.name, column="date", format=_CSV_DATE
            ),
            Columns.ARTIST: raw["artist"],
            Columns.ALBUM: raw.get("album"),
            Columns.TRACK_NAME: raw["track"],
            Columns.EVENT_TYPE: EventTypes.PLAY,
        }
    )
    parsed = finish(frame, file=file.name, source_names={Columns.TRACK: "track"})
    return Parsed(parsed, rows_in=len(raw), event_key=(Columns.TIMESTAMP, Columns.TRACK))


def _csv_has_header(source: object) -> bool:
    if isinstance(source, io.BytesIO):
        line = source.readline().decode("utf-8-sig")
    else:
        with open(str(source), encoding="utf-8-sig") as handle:
            line = handle.readline()
    first = next(csv.reader([line]), [])
    return {"artist", "track"} <= {f.strip().lower() for f in first}


def sniff_1k(head: Head) -> bool:
    """Six tab-separated fields, the second an ISO time ending in ``Z``."""
    rows = head.rows("\t")
    return bool(rows) and all(len(r) == 6 and _ISO_Z.match(r[1]) for r in rows[:5])


def sniff_csv(head: Head) -> bool:
    """Four comma-separated fields ending in a date like ``31 Jan 2021 20:15``."""
    rows = head.rows(",")
    if rows and {"artist", "track", "date"} <= {f.strip().lower() for f in rows[0]}:
        return True
    return bool(rows) and all(len(r) == 4 and _DATE.match(r[3].strip()) for r in rows[:5])
