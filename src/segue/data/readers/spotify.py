"""Spotify "Download your data" exports: account data and Extended Streaming History.

Account data (``StreamingHistory*.json``, ``StreamingHistory_music_*.json``): ``endTime``
(UTC, to the minute), ``artistName``, ``trackName``, ``msPlayed``; no user, no track URI.
Extended history (``Streaming_History_Audio_*.json``, ``endsong_*.json``): ``ts`` (UTC, to the
second), ``ms_played``, ``master_metadata_*`` names, ``spotify_track_uri``, ``skipped``,
``username``, and podcast / audiobook fields.

Both stamp a play when it *ended*. The canonical timestamp is when it started
(end - ms played): a next-track model orders plays by when the listener chose them, and a long
track ending after a short one that started later would otherwise swap places; session gaps are
also measured from play starts. Account data has minute precision, so there the start is also
kept from moving before the previous play's start (see :func:`start_times`).

Podcast episodes, audiobooks and rows without a track (local files, removed tracks) are dropped
and counted. The track id is the Spotify URI where the export has one, else the normalised
``artist|track`` (see :func:`segue.data.readers.track_key.track_key`).
"""

from __future__ import annotations

import pandas as pd

from segue.columns import Columns, EventTypes
from segue.data.readers import timestamps
from segue.data.readers.canonical import as_count, finish, require_columns
from segue.data.readers.head import Head
from segue.data.readers.json_records import read_records
from segue.data.readers.parsed import NoRows, Parsed
from segue.data.readers.sources import SourceFile
from segue.data.readers.track_key import track_key

PODCAST = "podcast episode"
AUDIOBOOK = "audiobook"
NO_TRACK = "no track"
_UNKNOWN_TRACK = "Unknown Track"  # what account data shows for local files and removed tracks
_EVENT_KEY = ("_end", Columns.TRACK, Columns.MS_PLAYED)


def read_spotify_account(file: SourceFile) -> Parsed:
    """Read one account-data ``StreamingHistory*.json`` file."""
    raw = _frame(file, ("endTime", "msPlayed"))
    podcast = _any_present(raw, "episodeName", "podcastName")
    name = _col(raw, "trackName")
    no_track = ~podcast & (name.isna() | name.isin(["", _UNKNOWN_TRACK]))
    dropped = {PODCAST: int(podcast.sum()), NO_TRACK: int(no_track.sum())}
    raw, name = raw[~podcast & ~no_track], name[~podcast & ~no_track]
    end = timestamps.from_strings(
        raw["endTime"], file=file.name, column="endTime", format="%Y-%m-%d %H:%M"
    )
    ms = as_count(raw["msPlayed"], file=file.name, column="msPlayed")
    artist = _col(raw, "artistName")
    frame = pd.DataFrame(
        {
            Columns.TRACK: track_key(artist, name),
            Columns.TIMESTAMP: start_times(end, ms),
            Columns.ARTIST: artist,
            Columns.TRACK_NAME: name,
            Columns.MS_PLAYED: ms,
            Columns.EVENT_TYPE: EventTypes.PLAY,
            "_end": end,
        },
        index=raw.index,
    )
    names = {Columns.TIMESTAMP: "endTime", Columns.TRACK: "trackName"}
    return _parsed(finish(frame, file=file.name, source_names=names), dropped, len(podcast))


def read_spotify_extended(file: SourceFile) -> Parsed:
    """Read one Extended Streaming History file (``Streaming_History_Audio_*.json``...)."""
    raw = _frame(file, ("ts", "ms_played"))
    podcast = _any_present(raw, "episode_name", "spotify_episode_uri")
    audiobook = ~podcast & _any_present(raw, "audiobook_uri", "audiobook_title")
    other = podcast | audiobook
    no_track = ~other & ~_any_present(raw, "spotify_track_uri", "master_metadata_track_name")
    dropped = {PODCAST: int(podcast.sum()), AUDIOBOOK: int(audiobook.sum())}
    dropped[NO_TRACK] = int(no_track.sum())
    raw = raw[~other & ~no_track]
    end = timestamps.from_strings(raw["ts"], file=file.name, column="ts")
    ms = as_count(raw["ms_played"], file=file.name, column="ms_played")
    artist, name = (
        _col(raw, "master_metadata_album_artist_name"),
        _col(raw, "master_metadata_track_name"),
    )
    uri = _col(raw, "spotify_track_uri").astype("string")
    frame = pd.DataFrame(
        {
            Columns.TRACK: uri.mask(uri == "").fillna(track_key(artist, name)),
            Columns.TIMESTAMP: end - pd.to_timedelta(ms, unit="ms"),
            Columns.ARTIST: artist,
            Columns.ALBUM: _col(raw, "master_metadata_album_album_name"),
            Columns.TRACK_NAME: name,
            Columns.MS_PLAYED: ms,
            Columns.SKIPPED: _col(raw, "skipped"),
            Columns.EVENT_TYPE: EventTypes.PLAY,
            "_end": end,
        },
        index=raw.index,
    )
    if "username" in raw and raw["username"].notna().any():
        frame.insert(0, Columns.USER, raw["username"])
    names = {Columns.TRACK: "spotify_track_uri", Columns.USER: "username"}
    return _parsed(finish(frame, file=file.name, source_names=names), dropped, len(podcast))


def start_times(end: pd.Series, ms_played: pd.Series) -> pd.Series:
    """Play starts from minute-precision ends: ``end - ms_played``, never before the last start.

    Ends cut to the minute can put a short play that ended later before a longer one that
    ended earlier in the same minute; in a file in time order, each start is therefore kept at or
    after the previous one. That stays within the minute of error the export already has.

    >>> end = pd.to_datetime(pd.Series(["2023-01-05 13:02", "2023-01-05 13:02"]), utc=True)
    >>> start_times(end, pd.Series([10_000, 40_000])).dt.strftime("%H:%M:%S").tolist()
    ['13:01:50', '13:01:50']
    """
    start = end - pd.to_timedelta(ms_played, unit="ms")
    return start.cummax() if end.is_monotonic_increasing else start


def sniff_account(head: Head) -> bool:
    """JSON records with ``endTime`` and ``msPlayed``."""
    return head.has_keys("endTime", "msPlayed")


def sniff_extended(head: Head) -> bool:
    """JSON records with ``ts`` and ``ms_played``; video history files are not listening."""
    return head.has_keys("ts", "ms_played") and "video" not in head.name.lower()


def _frame(file: SourceFile, required: tuple[str, ...]) -> pd.DataFrame:
    records = read_records(file)
    if not records:
        raise NoRows(file.name)
    raw = pd.DataFrame.from_records(records)
    require_columns(raw.columns, required, file=file.name)
    return raw


def _any_present(raw: pd.DataFrame, *columns: str) -> pd.Series:
    present = pd.Series(False, index=raw.index)
    for column in columns:
        if column in raw:
            values = raw[column]
            present |= values.notna() & (values.astype("string") != "").fillna(False)
    return present


def _col(raw: pd.DataFrame, name: str) -> pd.Series:
    """A source column, or all-null when this export has no such field."""
    return raw[name] if name in raw else pd.Series(None, index=raw.index, dtype="object")


def _parsed(frame: pd.DataFrame, dropped: dict[str, int], rows_in: int) -> Parsed:
    stats = {"plays of 0 ms": int((frame[Columns.MS_PLAYED] == 0).sum())}
    return Parsed(frame, rows_in, dropped, event_key=_EVENT_KEY, stats=stats)
