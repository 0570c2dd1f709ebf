"""Scrobbles (artist, track, time, and maybe album, MBIDs, user) into canonical rows.

Shared by every Last.fm layout, delimited or JSON. The track id is the normalised
``artist|track`` (:func:`segue.data.readers.track_key.track_key`), the same key Spotify account
data uses, so one person's sources agree; MusicBrainz ids are kept as extra columns where the
export has them. A scrobble is stamped when the play started, so times are kept as they are.

Dropped and counted: rows with no time (the track playing when the export was made: Last.fm
lists it first, with an empty date) and rows with no track name.
"""

from __future__ import annotations

import pandas as pd

from segue.columns import Columns, EventTypes
from segue.data.readers.any_time import parse_times
from segue.data.readers.canonical import finish
from segue.data.readers.extra_columns import Extra
from segue.data.readers.parsed import Parsed
from segue.data.readers.scrobble_columns import ALBUM, ARTIST, TIME, TRACK, USER
from segue.data.readers.track_key import track_key

NOW_PLAYING = "now playing (no time yet)"
NO_TRACK = "no track"
EVENT_KEY = (Columns.TIMESTAMP, Columns.TRACK)


def scrobbles_to_parsed(
    raw: pd.DataFrame,
    *,
    file: str,
    names: dict[str, str],
    timezone: str | None = None,
    layout: str | None = None,
) -> Parsed:
    """Canonical rows from scrobbles in role columns (``artist``, ``track``, ``time``...).

    Args:
        raw: One row per scrobble, indexed by file row, with columns named by role (see
            :mod:`segue.data.readers.scrobble_columns`): ``artist``, ``track``, ``time``
            required; ``album``, ``user`` and the MBID roles optional; canonical
            ``duration_ms`` / ``skipped`` columns are kept where a layout has them.
        file: The file's name, for errors.
        names: The source column behind each role, for errors.
        timezone: The zone of text times written without one (UTC when None).
        layout: How the file was read, for the report.
    """
    times = parse_times(raw[TIME], file=file, column=names.get(TIME, TIME), timezone=timezone)
    artist, track = _text(raw[ARTIST]), _text(raw[TRACK])
    key = track_key(artist, track)
    no_time = times.isna()
    no_track = ~no_time & key.isna()
    keep = ~no_time & ~no_track
    frame = pd.DataFrame(
        {
            Columns.TRACK: key,
            Columns.TIMESTAMP: times,
            Columns.ARTIST: artist,
            Columns.ALBUM: _text(raw[ALBUM]) if ALBUM in raw else None,
            Columns.TRACK_NAME: track,
            Columns.EVENT_TYPE: EventTypes.PLAY,
            Extra.TRACK_KEY: key,
        },
        index=raw.index,
    )
    if USER in raw and raw[USER].notna().any():
        frame.insert(0, Columns.USER, _text(raw[USER]))
    for column in (Columns.DURATION_MS, Columns.SKIPPED):
        if column in raw:
            frame[column] = raw[column]
    extras = [Extra.TRACK_KEY]
    for mbid in Extra.MBIDS:
        if mbid in raw and _text(raw[mbid]).notna().any():
            frame[mbid] = _text(raw[mbid])
            extras.append(mbid)
    sources = {Columns.TRACK: names.get(TRACK, TRACK), Columns.USER: names.get(USER, USER)}
    return Parsed(
        finish(frame[keep], file=file, source_names=sources, extras=extras),
        rows_in=len(raw),
        dropped={NOW_PLAYING: int(no_time.sum()), NO_TRACK: int(no_track.sum())},
        event_key=EVENT_KEY,
        layout=layout,
    )


def _text(values: pd.Series) -> pd.Series:
    """Names as ``string``, an empty or blank field as missing."""
    text = values.astype("string").str.strip()
    return text.mask(text == "")
