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

Either may also come as a CSV conversion of the JSON (same fields, a header row): read alike.

Podcast episodes, audiobooks and rows without a track (local files, removed tracks) are dropped
and counted. Newer account exports put podcasts (and audiobooks) in files of their own
(``StreamingHistory_podcast_*.json``), dropped whole by name. Old ones (four fields:
``endTime, artistName, trackName, msPlayed``) list episodes like songs, with the show as the
artist: ``podcast_shows=[...]`` names shows to drop, and the shows the export's own
``YourLibrary.json`` lists are dropped too (:mod:`segue.data.readers.spotify_library`).

The track id is the Spotify URI where the export has one, else the normalised ``artist|track``
(see :func:`segue.data.readers.track_key.track_key`), kept as ``track_key`` for every row.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from segue.columns import Columns, EventTypes
from segue.data.errors import DataError
from segue.data.readers import timestamps
from segue.data.readers.canonical import as_count, as_text, finish
from segue.data.readers.extra_columns import Extra
from segue.data.readers.head import Head
from segue.data.readers.parsed import Parsed, first_row, shown
from segue.data.readers.record_tables import has_fields, read_rows
from segue.data.readers.sources import SourceFile
from segue.data.readers.track_key import normalise, track_key

PODCAST = "podcast episode"
PODCAST_FILE = "podcast episode (podcast history file)"
PODCAST_SHOW = "podcast episode (show named in podcast_shows)"
PODCAST_SAVED = "podcast episode (show saved in YourLibrary.json)"
AUDIOBOOK = "audiobook"
AUDIOBOOK_FILE = "audiobook (audiobook history file)"
# Newer account exports split non-music plays into files named after their kind.
_FILE_KINDS = {"podcast": PODCAST_FILE, "audiobook": AUDIOBOOK_FILE}
NO_TRACK = "no track"
_UNKNOWN_TRACK = "Unknown Track"  # what account data shows for local files and removed tracks
_EVENT_KEY = ("_end", Columns.TRACK, Columns.MS_PLAYED)
_WEEK_MS = 7 * 24 * 3600 * 1000


def read_spotify_account(
    file: SourceFile,
    *,
    podcast_shows: Sequence[str] | None = None,
    saved_shows: Sequence[str] = (),
) -> Parsed:
    """Read one account-data ``StreamingHistory*.json`` file (or its CSV conversion).

    Args:
        file: The file.
        podcast_shows: Show names whose rows are podcast episodes (old exports list them as
            plays with the show as artist); matched after normalising case and spacing.
        saved_shows: Shows the export's ``YourLibrary.json`` lists (see
            :mod:`segue.data.readers.spotify_library`), dropped under a reason of their own.
    """
    raw = read_rows(file, ("endTime", "msPlayed"))
    name = _text(raw, "trackName", file)
    kind = next((k for k in _FILE_KINDS if k in file.basename.lower()), None)
    in_file = pd.Series(kind is not None, index=raw.index)
    podcast = ~in_file & _any_present(raw, "episodeName", "podcastName")
    shows = _shows(raw, podcast_shows) & ~in_file & ~podcast
    saved = _shows(raw, saved_shows) & ~in_file & ~podcast & ~shows
    other = in_file | podcast | shows | saved
    no_track = ~other & (name.isna() | name.isin(["", _UNKNOWN_TRACK]))
    dropped = {_FILE_KINDS[kind]: len(raw)} if kind is not None else {}
    dropped[PODCAST] = int(podcast.sum())
    dropped |= {PODCAST_SHOW: int(shows.sum()), PODCAST_SAVED: int(saved.sum())}
    dropped[NO_TRACK] = int(no_track.sum())
    raw, name = raw[~other & ~no_track], name[~other & ~no_track]
    # ISO 8601: "2023-01-05 13:02" as Spotify writes it, with seconds in some conversions.
    end = timestamps.from_strings(raw["endTime"], file=file.name, column="endTime")
    ms = play_lengths(raw["msPlayed"], file=file.name, column="msPlayed")
    artist = _text(raw, "artistName", file)
    key = track_key(artist, name)
    frame = pd.DataFrame(
        {
            Columns.TRACK: key,
            Columns.TIMESTAMP: start_times(end, ms),
            Columns.ARTIST: artist,
            Columns.TRACK_NAME: name,
            Columns.MS_PLAYED: ms,
            Columns.EVENT_TYPE: EventTypes.PLAY,
            Extra.TRACK_KEY: key,
            "_end": end,
        },
        index=raw.index,
    )
    names = {Columns.TIMESTAMP: "endTime", Columns.TRACK: "trackName"}
    parsed = finish(frame, file=file.name, source_names=names, extras=[Extra.TRACK_KEY])
    return _parsed(parsed, dropped, len(podcast))


def read_spotify_extended(file: SourceFile) -> Parsed:
    """Read one Extended Streaming History file (``Streaming_History_Audio_*.json``...)."""
    raw = read_rows(file, ("ts", "ms_played"))
    podcast = _any_present(raw, "episode_name", "spotify_episode_uri")
    audiobook = ~podcast & _any_present(raw, "audiobook_uri", "audiobook_title")
    other = podcast | audiobook
    no_track = ~other & ~_any_present(raw, "spotify_track_uri", "master_metadata_track_name")
    dropped = {PODCAST: int(podcast.sum()), AUDIOBOOK: int(audiobook.sum())}
    dropped[NO_TRACK] = int(no_track.sum())
    raw = raw[~other & ~no_track]
    end = timestamps.from_strings(raw["ts"], file=file.name, column="ts")
    ms = play_lengths(raw["ms_played"], file=file.name, column="ms_played")
    artist, name = (
        _text(raw, "master_metadata_album_artist_name", file),
        _text(raw, "master_metadata_track_name", file),
    )
    uri = _text(raw, "spotify_track_uri", file).astype("string")
    key = track_key(artist, name)
    frame = pd.DataFrame(
        {
            Columns.TRACK: uri.mask(uri == "").fillna(key),
            Columns.TIMESTAMP: end - pd.to_timedelta(ms, unit="ms"),
            Columns.ARTIST: artist,
            Columns.ALBUM: _text(raw, "master_metadata_album_album_name", file),
            Columns.TRACK_NAME: name,
            Columns.MS_PLAYED: ms,
            Columns.SKIPPED: _col(raw, "skipped"),
            Columns.EVENT_TYPE: EventTypes.PLAY,
            Extra.TRACK_KEY: key,
            "_end": end,
        },
        index=raw.index,
    )
    if "username" in raw and raw["username"].notna().any():
        frame.insert(0, Columns.USER, _text(raw, "username", file))
    names = {Columns.TRACK: "spotify_track_uri", Columns.USER: "username"}
    parsed = finish(frame, file=file.name, source_names=names, extras=[Extra.TRACK_KEY])
    return _parsed(parsed, dropped, len(podcast))


def play_lengths(values: pd.Series, *, file: str, column: str) -> pd.Series:
    """Milliseconds played as ``Int64``; more than a week is no play length but a broken field
    (and would move the start time out of any calendar), so it is an error naming the row. So
    is a missing one: the start time is the end minus it, so it is required.

    >>> play_lengths(pd.Series([200_000, 0]), file="f", column="ms_played").tolist()
    [200000, 0]
    >>> play_lengths(pd.Series([200_000, None]), file="f", column="ms_played")
    Traceback (most recent call last):
    ...
    segue.data.errors.DataError: f: column 'ms_played', row 1: missing value (required: the \
play's start is its end minus the time played)
    """
    ms = as_count(values, file=file, column=column)
    if ms.hasnans:
        raise DataError(
            "missing value (required: the play's start is its end minus the time played)",
            file=file,
            column=column,
            row=first_row(ms.isna()),
        )
    too_long = (ms > _WEEK_MS).fillna(False)
    if too_long.any():
        row = first_row(too_long)
        raise DataError(
            f"{shown(values.loc[row])} ms is longer than a week: not a play length",
            file=file,
            column=column,
            row=row,
        )
    return ms


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
    """Records (JSON, or a CSV conversion) with ``endTime`` and ``msPlayed``."""
    return has_fields(head, "endTime", "msPlayed")


def sniff_extended(head: Head) -> bool:
    """Records (JSON, or a CSV conversion) with ``ts`` and ``ms_played``; video history files
    are not listening."""
    return has_fields(head, "ts", "ms_played") and "video" not in head.name.lower()


def _shows(raw: pd.DataFrame, shows: Sequence[str] | None) -> pd.Series:
    """Rows whose artist is one of the podcast ``shows`` (normalised names)."""
    if not shows:
        return pd.Series(False, index=raw.index)
    if isinstance(shows, str):
        shows = [shows]  # one show name, not its letters
    wanted = set(normalise(pd.Series(list(shows), dtype="string")).dropna())
    return normalise(_col(raw, "artistName")).isin(wanted).fillna(False).astype(bool)


def _any_present(raw: pd.DataFrame, *columns: str) -> pd.Series:
    present = pd.Series(False, index=raw.index)
    for column in columns:
        if column in raw:
            values = raw[column]
            present |= values.notna() & (values.astype("string") != "").fillna(False)
    return present


def _text(raw: pd.DataFrame, name: str, file: SourceFile) -> pd.Series:
    """A source column of names or ids, checked to hold text (see :func:`as_text`)."""
    return as_text(_col(raw, name), file=file.name, column=name)


def _col(raw: pd.DataFrame, name: str) -> pd.Series:
    """A source column, or all-null when this export has no such field."""
    return raw[name] if name in raw else pd.Series(None, index=raw.index, dtype="object")


def _parsed(frame: pd.DataFrame, dropped: dict[str, int], rows_in: int) -> Parsed:
    stats = {"plays of 0 ms": int((frame[Columns.MS_PLAYED] == 0).sum())}
    return Parsed(frame, rows_in, dropped, event_key=_EVENT_KEY, stats=stats)
