"""Which column of a scrobble table holds what: header aliases, and headerless layouts by content.

Last.fm has no export button of its own; community tools write the history. Layouts seen:

- lastfm-to-csv (benjaminbenben): no header, ``artist,album,track,date`` with dates like
  ``31 Jan 2021, 20:15`` (older files: no comma; some: epoch seconds); the first row may be
  the track playing during the export, with an empty date.
- lastfmstats.com: ``Artist;Album;AlbumId;Track;Date#user``, ``;``-separated, epoch ms.
- mainstream.ghan.nl / lastfm.ghan.nl:
  ``uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid``.
- lastexport.py: no header, tab-separated ``uts, track, artist, album, track mbid, artist
  mbid, album mbid``.
- lastfm-backup-cli: no header, ``2021-04-01,10:42:53,artist,title`` (UTC).
- Open Scrobbler / Universal Scrobbler import files (what people keep to re-scrobble): no
  header, ``artist,track,album,timestamp,album artist,duration``, times as ISO text or epoch.
- the Last.fm data archive of 2013-2015 (``scrobbles.tsv``): ``ISO time, unixtime, track name,
  track mbid, artist name, ...`` with a header.
- other scripts: headers such as ``track,album,artist,time,track id,album id,artist id``.

Header names are matched after lower-casing and removing everything but letters and digits
(``"Artist Name"`` -> ``artistname``); lastfmstats' ``Date#user`` names the user after ``#``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from segue.data.readers.head import Head

ARTIST, TRACK, ALBUM, TIME, USER = "artist", "track", "album", "time", "user"
TRACK_MBID, ARTIST_MBID, ALBUM_MBID = "track_mbid", "artist_mbid", "album_mbid"
# Aliases in order of preference: ghan's ``uts`` beats its ``utc_time`` display text.
ALIASES: dict[str, tuple[str, ...]] = {
    ARTIST: ("artist", "artistname", "artisttext", "creator", "performer", "albumartist"),
    TRACK: ("track", "trackname", "title", "tracktitle", "name", "song", "songname"),
    ALBUM: ("album", "albumname", "albumtitle", "release", "releasename"),
    TIME: (
        "uts",
        "timestamp",
        "dateuts",
        "unixtime",
        "date",
        "utctime",
        "datetime",
        "time",
        "playedat",
        "scrobbledat",
        "listenedat",
        "scrobbletime",
        "when",
    ),
    TRACK_MBID: ("trackmbid", "mbid", "recordingmbid", "trackid"),
    ARTIST_MBID: ("artistmbid", "artistid"),
    ALBUM_MBID: ("albummbid", "albumid", "releasembid"),
    USER: ("user", "username", "userid"),
}
NEEDED = (ARTIST, TRACK, TIME)
DELIMITERS = (",", ";", "\t")
_CANONICAL = {"userid", "trackid", "timestamp"}  # segue's own columns: the generic reader's


@dataclass(frozen=True)
class Layout:
    """Where each role sits in one delimited file.

    Attributes:
        delimiter: The field separator.
        header: True when the first row names the columns.
        columns: Role -> source column name (a header name, or for a headerless file one of
            ``names``; lastfm-backup-cli's time is its date and time fields joined).
        names: For headerless files, a name per field, in order.
        user: A user named by the header itself (lastfmstats' ``Date#user``).
        tool: The tool known to write this layout, for the report.
        date_and_time: For lastfm-backup-cli: the date and time fields to join.
    """

    delimiter: str
    header: bool
    columns: dict[str, str]
    names: tuple[str, ...] = ()
    user: str | None = None
    tool: str = "a scrobble table"
    date_and_time: tuple[str, str] | None = None

    def describe(self) -> str:
        """The tool and the columns used, e.g. ``lastfmstats.com: artist='Artist', ...``."""
        used = ", ".join(f"{role}={name!r}" for role, name in self.columns.items())
        return f"{self.tool}: {used}"


def normalise_name(name: str) -> str:
    """A header name as aliases are written: lower case, letters and digits only.

    >>> normalise_name(" Artist Name "), normalise_name("Date#rj"), normalise_name("#text")
    ('artistname', 'date', 'text')
    """
    head = name.split("#", 1)[0] if "#" in name[1:] else name
    return re.sub(r"[^0-9a-z]", "", head.strip().lower())


def match_header(fields: list[str]) -> dict[str, str]:
    """Role -> header name for each role an alias finds (first alias in preference order).

    >>> match_header(["uts", "utc_time", "Artist", "track", "track_mbid"])
    {'artist': 'Artist', 'track': 'track', 'time': 'uts', 'track_mbid': 'track_mbid'}
    """
    by_name: dict[str, str] = {}
    for name in fields:
        by_name.setdefault(normalise_name(name), name)
    found = {}
    taken: set[str] = set()
    for role, aliases in ALIASES.items():
        hit = next((by_name[a] for a in aliases if a in by_name and by_name[a] not in taken), None)
        if hit is not None:
            found[role] = hit
            taken.add(hit)
    return found


def header_layout(head: Head) -> Layout | None:
    """The layout of a file whose first row names artist, track and time columns, else None."""
    for delimiter in DELIMITERS:
        rows = head.rows(delimiter)
        if not rows or len(rows[0]) < 2:
            continue
        fields = rows[0]
        if {normalise_name(f) for f in fields} >= _CANONICAL:
            return None  # segue's canonical columns: the generic csv / tsv reader's
        found = match_header(fields)
        if all(role in found for role in NEEDED):
            user, tool = _header_user(fields), _tool(fields)
            split = _date_and_time(fields, found)
            if split is not None:  # a day column and a clock column: one time, joined
                found = {**found, TIME: f"{split[0]} {split[1]}"}
            return Layout(delimiter, True, found, user=user, tool=tool, date_and_time=split)
    return None


def _date_and_time(fields: list[str], found: dict[str, str]) -> tuple[str, str] | None:
    """The day and clock columns when a header splits the time in two (``Date,Time,...``)."""
    by_name = {normalise_name(f): f for f in fields}
    if normalise_name(found[TIME]) == "date" and "time" in by_name:
        return found[TIME], by_name["time"]
    return None


def recognised(head: Head) -> tuple[dict[str, str], tuple[str, ...]] | None:
    """For a delimited file with a header that is no known layout: roles found and missing."""
    best: dict[str, str] = {}
    for delimiter in DELIMITERS:
        rows = head.rows(delimiter)
        if rows and len(rows[0]) >= 2:
            found = match_header(rows[0])
            if len(found) > len(best):
                best = found
    if not best:
        return None
    return best, tuple(r for r in NEEDED if r not in best)


def headerless_layout(head: Head) -> Layout | None:
    """The layout of a headerless file told by the values of its first rows, else None."""
    for layout, fits in _HEADERLESS:
        rows = [r for r in head.rows(layout.delimiter) if r][:10]
        if rows and all(len(r) == len(layout.names) for r in rows) and fits(rows):
            return layout
    return None


def layout_of(head: Head) -> Layout | None:
    """The layout of a scrobble table: by its header, else by the content of its rows."""
    return header_layout(head) or headerless_layout(head)


_ISO_DAY = re.compile(r"^\d{4}-\d\d-\d\d$")
_CLOCK = re.compile(r"^\d\d:\d\d(:\d\d)?$")
_DISPLAY = re.compile(r"^\d{1,2} [A-Za-z]{3} \d{4},? \d{1,2}:\d\d(:\d\d)?$")
_ANY_TIME = re.compile(rf"^\d{{4}}-\d\d-\d\d[T ]\d\d:\d\d|^\d{{9,10}}$|{_DISPLAY.pattern}")


def _display_dates_last(rows: list[list[str]]) -> bool:
    """The last field a Last.fm display date; empty allowed (the track playing now)."""
    dates = [r[-1].strip() for r in rows]
    return any(dates) and all(_DISPLAY.match(d) for d in dates if d)


def _epoch_last(rows: list[list[str]]) -> bool:
    """The last field epoch seconds (empty allowed: now playing), the first a name."""
    stamps = [r[-1].strip() for r in rows]
    names = any(not r[0].strip().isdigit() for r in rows)
    return names and any(stamps) and all(re.fullmatch(r"\d{9,10}", t) for t in stamps if t)


def _time_fourth(rows: list[list[str]]) -> bool:
    """The fourth field a time (ISO text, a display date or epoch seconds; empty allowed)."""
    times = [r[3].strip() for r in rows]
    return any(times) and all(_ANY_TIME.match(t) for t in times if t)


def _day_then_clock(rows: list[list[str]]) -> bool:
    return all(_ISO_DAY.match(r[0]) and _CLOCK.match(r[1]) for r in rows)


def _epoch_first(rows: list[list[str]]) -> bool:
    return all(r[0].strip().isdigit() for r in rows)


_LASTEXPORT = ("uts", "track", "artist", "album", "track_mbid", "artist_mbid", "album_mbid")
# Headerless layouts, each with the test its first rows must pass; tried in order.
_HEADERLESS: tuple[tuple[Layout, Callable[[list[list[str]]], bool]], ...] = (
    (
        Layout(
            ",",
            False,
            {ARTIST: "artist", ALBUM: "album", TRACK: "track", TIME: "date"},
            ("artist", "album", "track", "date"),
            tool="lastfm-to-csv (benjaminbenben)",
        ),
        _display_dates_last,
    ),
    (
        Layout(
            ",",
            False,
            {ARTIST: "artist", ALBUM: "album", TRACK: "track", TIME: "uts"},
            ("artist", "album", "track", "uts"),
            tool="lastfm-to-csv (benjaminbenben), epoch times",
        ),
        _epoch_last,
    ),
    (
        Layout(
            ",",
            False,
            {ARTIST: "artist", TRACK: "track", TIME: "date time"},
            ("date", "time", "artist", "track"),
            tool="lastfm-backup-cli",
            date_and_time=("date", "time"),
        ),
        _day_then_clock,
    ),
    (
        Layout(
            ",",
            False,
            {ARTIST: "artist", TRACK: "track", ALBUM: "album", TIME: "timestamp"},
            ("artist", "track", "album", "timestamp", "album_artist", "duration"),
            tool="Open Scrobbler / Universal Scrobbler import CSV",
        ),
        _time_fourth,
    ),
    (
        Layout(
            "\t",
            False,
            {TIME: "uts"} | {n: n for n in _LASTEXPORT[1:]},
            _LASTEXPORT,
            tool="lastexport.py",
        ),
        _epoch_first,
    ),
)


def _tool(fields: list[str]) -> str:
    names = {normalise_name(f) for f in fields}
    if {"albumid", "date"} <= names and any("#" in f for f in fields):
        return "lastfmstats.com"
    if {"uts", "utctime"} <= names:
        return "mainstream.ghan.nl"
    if {"isotime", "unixtime", "uncorrectedtrackname"} <= names:
        return "Last.fm data archive (scrobbles.tsv)"
    if names == {"artist", "album", "name", "date"}:
        return "lastfm-to-csv (benjaminbenben), with a header"
    return "a scrobble table with a header"


def _header_user(fields: list[str]) -> str | None:
    """lastfmstats writes the user into its date header: ``Date#username``."""
    for name in fields:
        prefix, sep, user = name.partition("#")
        if sep and prefix.strip() and user.strip():
            return user.strip()
    return None
