"""ListenBrainz listens: dump / export JSON lines, or the JSON array a user downloads.

Each listen: ``listened_at`` (or ``timestamp`` in dumps; unix seconds, when the play started),
``user_name``, ``track_metadata`` with ``artist_name``, ``track_name``, ``release_name``,
``additional_info`` and, when matched, ``mbid_mapping``. The track id is the first of:
the recording MBID (``mbid_mapping`` or ``additional_info``), the Spotify id as a
``spotify:track:`` URI (so it matches Spotify exports), the normalised ``artist|track`` (kept
as ``track_key`` for every listen).
Listens with no track name and no id are dropped and counted.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from segue.columns import Columns, EventTypes
from segue.data.errors import DataError
from segue.data.readers import timestamps
from segue.data.readers.canonical import finish
from segue.data.readers.extra_columns import Extra
from segue.data.readers.head import Head
from segue.data.readers.json_records import nested_object, read_records
from segue.data.readers.parsed import NoRows, Parsed
from segue.data.readers.sources import SourceFile
from segue.data.readers.track_key import track_key

NO_TRACK = "no track"
_TEXT = ("user", "artist", "album", "track", "recording_mbid", "spotify_id")


def read_listenbrainz(file: SourceFile) -> Parsed:
    """Read one file of ListenBrainz listens."""
    records = read_records(file)
    if not records:
        raise NoRows(file.name)
    raw = pd.DataFrame([_flat(r, file.name, row) for row, r in enumerate(records)])
    raw = raw.astype(dict.fromkeys(_TEXT, "string"))
    uri = "spotify:track:" + raw["spotify_id"].str.rsplit("/", n=1).str[-1]
    key = track_key(raw["artist"], raw["track"])
    track = raw["recording_mbid"].fillna(uri).fillna(key)
    no_track = track.isna()
    frame = pd.DataFrame(
        {
            Columns.TRACK: track,
            Columns.TIMESTAMP: timestamps.from_epoch(
                raw["listened_at"], "s", file=file.name, column="listened_at"
            ),
            Columns.ARTIST: raw["artist"],
            Columns.ALBUM: raw["album"],
            Columns.TRACK_NAME: raw["track"],
            Columns.DURATION_MS: raw["duration_ms"],
            Columns.EVENT_TYPE: EventTypes.PLAY,
            Extra.TRACK_KEY: key,
        }
    )[~no_track]
    if raw["user"].notna().any():
        frame.insert(0, Columns.USER, raw["user"][~no_track])
    names = {Columns.USER: "user_name", Columns.DURATION_MS: "additional_info.duration_ms"}
    return Parsed(
        finish(frame, file=file.name, source_names=names, extras=[Extra.TRACK_KEY]),
        rows_in=len(raw),
        dropped={NO_TRACK: int(no_track.sum())},
        event_key=(Columns.TIMESTAMP, Columns.TRACK),
    )


def _flat(listen: dict[str, Any], file: str, row: int) -> dict[str, Any]:
    """The fields segue uses from one nested listen, as ``string`` or number columns."""
    meta = nested_object(listen, "track_metadata", owner="listen's", file=file, row=row)
    info = nested_object(meta, "additional_info", owner="listen's", file=file, row=row)
    mapping = nested_object(meta, "mbid_mapping", owner="listen's", file=file, row=row)
    when = listen.get("listened_at", listen.get("timestamp"))
    if when is None:
        raise DataError("listen has no 'listened_at' or 'timestamp'", file=file, row=row)
    duration = info.get("duration_ms")
    if duration is None and info.get("duration") is not None:
        duration = _seconds(info["duration"], file, row) * 1000  # some clients send seconds
    return {
        "user": listen.get("user_name"),
        "listened_at": when,
        "artist": meta.get("artist_name"),
        "album": meta.get("release_name"),
        "track": meta.get("track_name"),
        "recording_mbid": mapping.get("recording_mbid") or info.get("recording_mbid") or None,
        "spotify_id": info.get("spotify_id") or None,
        "duration_ms": duration,
    }


def _seconds(value: Any, file: str, row: int) -> float:
    """``additional_info.duration`` (seconds) as a number, or a DataError naming it."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(
            f"listen's 'additional_info.duration' must be a number of seconds, got {value!r:.40}",
            file=file,
            row=row,
        ) from None


def sniff(head: Head) -> bool:
    """JSON records with ``track_metadata``."""
    return head.has_keys("track_metadata")
