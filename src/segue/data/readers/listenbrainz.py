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
    """The fields segue uses from one nested listen, as ``string`` or number columns.

    Names and ids must be text (or null), and the time a number: a list of artists would
    otherwise become an id like ``"['a', 'b']|t"``, and a NaN time fail against the wrong
    column. Each is a DataError naming the field and the listen.
    """
    meta = nested_object(listen, "track_metadata", owner="listen's", file=file, row=row)
    info = nested_object(meta, "additional_info", owner="listen's", file=file, row=row)
    mapping = nested_object(meta, "mbid_mapping", owner="listen's", file=file, row=row)
    duration = _number(info, "additional_info.duration_ms", file, row)
    if duration is None and info.get("duration") is not None:
        duration = _seconds(info["duration"], file, row) * 1000  # some clients send seconds
    mbid = _text(mapping, "mbid_mapping.recording_mbid", file, row)
    return {
        "user": _text(listen, "user_name", file, row),
        "listened_at": _time(listen, file, row),
        "artist": _text(meta, "track_metadata.artist_name", file, row),
        "album": _text(meta, "track_metadata.release_name", file, row),
        "track": _text(meta, "track_metadata.track_name", file, row),
        "recording_mbid": mbid or _text(info, "additional_info.recording_mbid", file, row) or None,
        "spotify_id": _text(info, "additional_info.spotify_id", file, row) or None,
        "duration_ms": duration,
    }


def _text(parent: dict[str, Any], path: str, file: str, row: int) -> str | None:
    """The text field at the end of ``path`` (its last part is the key in ``parent``)."""
    value = parent.get(path.rsplit(".", 1)[-1])
    if value is None or isinstance(value, str):
        return value
    raise DataError(
        f"listen's {path!r} must be text, got a {type(value).__name__} ({value!r:.40})",
        file=file,
        column=path,
        row=row,
    )


def _number(parent: dict[str, Any], path: str, file: str, row: int) -> int | float | str | None:
    """The number field at the end of ``path`` (text is parsed later, naming the same field);
    a bool (``true`` is no 1 ms), a NaN, a list or an object is refused."""
    value = parent.get(path.rsplit(".", 1)[-1])
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:  # NaN
        raise DataError(
            f"listen's {path!r} must be a number, got {value!r:.40}",
            file=file,
            column=path,
            row=row,
        )
    return value


def _time(listen: dict[str, Any], file: str, row: int) -> int | float | str:
    """``listened_at`` (``timestamp`` in dumps): unix seconds, a finite number."""
    key = "listened_at" if listen.get("listened_at") is not None else "timestamp"
    when = _number(listen, key, file, row)
    if when is None:
        raise DataError("listen has no 'listened_at' or 'timestamp'", file=file, row=row)
    return when


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
