"""Last.fm scrobbles as JSON: API ``recenttracks`` pages, lastfmstats.com and flat exports.

Layouts:

- ``user.getRecentTracks`` answers saved as they come (lastfm_archive, lastfm-backup dumps...):
  one page ``{"recenttracks": {"track": [...], "@attr": {"user": ...}}}`` or a list of pages.
  A track: ``artist`` (``{"#text"|"name", "mbid"}``), ``name``, ``album``
  (``{"#text", "mbid"}``), ``mbid``, ``date`` (``{"uts", "#text"}``). The track playing now
  carries ``"@attr": {"nowplaying": "true"}`` and no date: counted, not kept.
- lastfm.ghan.nl / mainstream.ghan.nl JSON (``recenttracks-<user>-<time>.json``): a list of
  the pages' inner objects, ``[{"track": [...], "@attr": {...}}, ...]``; tracks as above.
- lastfmstats.com: ``{"username": ..., "scrobbles": [{"artist", "album", "albumId", "track",
  "date" (epoch ms)}]}``.
- Maloja (``maloja_export_*.json``): ``{"scrobbles": [{"time" (epoch s), "track": {"artists":
  [...], "title", "album": {"albumtitle"}}}]}`` (``"list"`` in some versions); the first
  artist is the track's artist, as Last.fm and Spotify name one.
- Flat lists of scrobble objects (other tools): keys matched with the same aliases as tables
  (:data:`segue.data.readers.scrobble_columns.ALIASES`).
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from segue.data.errors import DataError
from segue.data.readers.head import Head
from segue.data.readers.json_records import nested_object, read_json
from segue.data.readers.parsed import NoRows, Parsed
from segue.data.readers.scrobble_columns import (
    ALBUM,
    ALBUM_MBID,
    ARTIST,
    ARTIST_MBID,
    NEEDED,
    TIME,
    TRACK,
    TRACK_MBID,
    USER,
    match_header,
)
from segue.data.readers.scrobbles import scrobbles_to_parsed
from segue.data.readers.sources import SourceFile

# API pages, wrapped (``{"recenttracks": ...}``) or not (ghan.nl: ``{"track": [...], ...}``).
_API = re.compile(r'^\s*\[?\s*\{\s*"(recenttracks|@attr|track)"\s*:\s*[\[{]')
# lastfmstats: a "scrobbles" list whose first object names an artist (any key order).
_STATS = re.compile(r'"scrobbles"\s*:\s*\[\s*\{[^{}]*"artist"\s*:')
# Maloja: a "scrobbles" (or "list") list whose first object holds a "track" object.
_MALOJA = re.compile(r'"(scrobbles|list)"\s*:\s*\[\s*\{[^\[\]]{0,1000}?"track"\s*:\s*\{')


def read_lastfm_json(file: SourceFile, *, timezone: str | None = None) -> Parsed:
    """Read Last.fm scrobbles from a JSON file in any layout above."""
    document = read_json(file)
    rows, tool = _scrobbles(document, file.name)
    if not rows:
        raise NoRows(file.name)
    raw = pd.DataFrame(rows, columns=[ARTIST, TRACK, ALBUM, TIME, *_MBIDS, USER])
    names = _SOURCE_NAMES.get(tool.split(" ")[0], {TIME: "date", TRACK: "track"})
    return scrobbles_to_parsed(raw, file=file.name, names=names, timezone=timezone, layout=tool)


def sniff(head: Head) -> bool:
    """API pages, a lastfmstats export, or JSON records whose keys name artist, track and time."""
    if _API.match(head.text) or _STATS.search(head.text) or _MALOJA.search(head.text):
        return True
    record = head.first_record
    if record is None or "track_metadata" in record:  # ListenBrainz has its own reader
        return False
    found = match_header(list(record))
    return all(role in found for role in NEEDED)


_MBIDS = (TRACK_MBID, ARTIST_MBID, ALBUM_MBID)
# The source fields behind the time and track roles, by the tool's first word, for errors.
_SOURCE_NAMES = {
    "Last.fm": {TIME: "date.uts", TRACK: "name"},
    "ghan.nl": {TIME: "date.uts", TRACK: "name"},
    "Maloja": {TIME: "time", TRACK: "track.title"},
}


def _scrobbles(document: Any, file: str) -> tuple[list[dict[str, Any]], str]:
    pages = document if isinstance(document, list) else [document]
    blocks = [b for b in map(_page, pages) if b is not None]
    if pages and len(blocks) == len(pages):
        rows: list[dict[str, Any]] = []
        for block in blocks:
            user = _attributes(block, file, None).get("user")
            tracks = block.get("track") or []
            tracks = [tracks] if isinstance(tracks, dict) else tracks  # a one-track page
            rows += [_api_track(t, user, file, len(rows) + i) for i, t in enumerate(tracks)]
        wrapped = all("recenttracks" in p for p in pages)
        return rows, "Last.fm API recenttracks pages" if wrapped else "ghan.nl JSON (API pages)"
    maloja = _maloja_scrobbles(document)
    if maloja is not None:
        return [_maloja(s, file, i) for i, s in enumerate(maloja)], "Maloja JSON export"
    if isinstance(document, dict) and isinstance(document.get("scrobbles"), list):
        user = document.get("username")
        return [_flat(s, user, file, i) for i, s in enumerate(document["scrobbles"])], (
            "lastfmstats.com JSON"
        )
    if isinstance(document, list):
        return [_flat(s, None, file, i) for i, s in enumerate(document)], "JSON scrobble records"
    raise DataError(
        "JSON holds no scrobbles: expected recenttracks pages (wrapped, or as ghan.nl writes "
        "them), a lastfmstats export ({'username', 'scrobbles': [...]}), a Maloja export or a "
        "list of scrobble objects",
        file=file,
    )


def _page(page: Any) -> dict[str, Any] | None:
    """The ``recenttracks`` object of an API page, wrapped or not; None for anything else."""
    if isinstance(page, dict) and "recenttracks" in page:
        block = page["recenttracks"] or {}
        return block if isinstance(block, dict) else None
    tracks = page.get("track") if isinstance(page, dict) else None
    if isinstance(tracks, list) and all(isinstance(t, dict) for t in tracks):
        return page  # ghan.nl: the inner object, a list of track objects under "track"
    return None


def _maloja_scrobbles(document: Any) -> list[Any] | None:
    """Maloja's scrobble list (under ``scrobbles`` or ``list``), or None for other JSON."""
    if not isinstance(document, dict):
        return None
    items = document.get("scrobbles") or document.get("list")
    if not isinstance(items, list) or not items:
        return None
    first = items[0]
    return items if isinstance(first, dict) and isinstance(first.get("track"), dict) else None


def _maloja(record: Any, file: str, row: int) -> dict[str, Any]:
    track = record.get("track") if isinstance(record, dict) else None
    if not isinstance(track, dict):
        raise DataError("expected a Maloja scrobble with a track object", file=file, row=row)
    artists = track.get("artists") or [None]
    album = track.get("album")
    return {
        ARTIST: artists[0] if isinstance(artists, list) else artists,
        TRACK: track.get("title"),
        ALBUM: album.get("albumtitle") if isinstance(album, dict) else None,
        TIME: record.get("time"),
    }


def _api_track(track: Any, user: Any, file: str, row: int) -> dict[str, Any]:
    if not isinstance(track, dict):
        raise DataError("expected a JSON object for a track", file=file, row=row)
    artist, album, date = track.get("artist"), track.get("album"), track.get("date")
    playing = str(_attributes(track, file, row).get("nowplaying", "")).lower() == "true"
    return {
        ARTIST: _name(artist),
        TRACK: track.get("name"),
        ALBUM: _name(album),
        TIME: None if playing else (date.get("uts") if isinstance(date, dict) else date),
        TRACK_MBID: track.get("mbid") or None,
        ARTIST_MBID: (artist.get("mbid") if isinstance(artist, dict) else None) or None,
        ALBUM_MBID: (album.get("mbid") if isinstance(album, dict) else None) or None,
        USER: user,
    }


def _attributes(item: dict[str, Any], file: str, row: int | None) -> dict[str, Any]:
    """An API object's ``@attr`` (the page's user, a track's "now playing" flag); {} if absent.

    A now-playing flag lost to a damaged ``@attr`` would turn an unfinished play into a
    scrobble, so that is an error (:func:`nested_object`).
    """
    owner = "a track's" if row is not None else "a page's"
    return nested_object(item, "@attr", owner=owner, file=file, row=row)


def _flat(record: Any, user: Any, file: str, row: int) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise DataError("expected a JSON object for a scrobble", file=file, row=row)
    found = match_header(list(record))
    missing = [role for role in NEEDED if role not in found]
    if missing:
        raise DataError(
            f"scrobble has no {', '.join(missing)} (keys: {', '.join(map(repr, record))})",
            file=file,
            row=row,
        )
    out: dict[str, Any] = {role: _name(record.get(key)) for role, key in found.items()}
    date = record.get(found[TIME])
    out[TIME] = date.get("uts") if isinstance(date, dict) else date
    out.setdefault(USER, user)
    return out


def _name(value: Any) -> Any:
    """A name from an API object (``{"#text": ...}`` or ``{"name": ...}``) or a plain value."""
    if isinstance(value, dict):
        return value.get("#text") or value.get("name")
    return value
