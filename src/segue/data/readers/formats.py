"""The formats ``read_log`` knows: name -> reader, content sniffer and accepted options.

The order is the detection order: specific layouts first, the generic tables last.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from segue.data.readers import (
    generic,
    item_sequences,
    lastfm,
    lastfm_json,
    listenbrainz,
    piki,
    public_datasets,
    scrobbler_log,
    spotify,
)
from segue.data.readers.head import Head
from segue.data.readers.parsed import Parsed

_GENERIC_OPTIONS = ("columns", "timestamp_unit", "timestamp_format", "timezone")
_JSON, _TABLES = (".json", ".jsonl", ".csv", ".tsv", ".txt"), (".csv", ".tsv", ".txt", ".tab")
_SPOTIFY_LAUNCH = "2008-10-07"
_AUDIOSCROBBLER = "2002-01-01"  # Last.fm's scrobbling began in 2002; ListenBrainz imports it


@dataclass(frozen=True)
class Format:
    """One source format.

    Attributes:
        name: What ``format=`` takes.
        description: One line for error messages and the README.
        read: Reads one file into :class:`Parsed`, taking ``options`` as keyword arguments.
        sniff: True when the start of a file looks like this format.
        options: Keyword options ``read`` accepts.
        extensions: File endings taken from a folder when ``format=`` names this generic format.
        suffixes: File endings of this format: inside a folder, ``format=`` reads a file with
            one of them that is no other specific format (so a damaged file is an error naming
            it, not silently skipped).
        earliest: The first day the service could have logged a play; earlier times, and the
            1970 placeholder, are dropped and counted. None: no lower bound.
        check_times: False for research datasets whose times are offsets (Yambda) or that
            predate any service (MovieLens): their times are kept as they are.
    """

    name: str
    description: str
    read: Callable[..., Parsed]
    sniff: Callable[[Head], bool]
    options: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    earliest: str | None = None
    check_times: bool = True

    @property
    def generic(self) -> bool:
        return bool(self.extensions)

    @property
    def endings(self) -> tuple[str, ...]:
        """File endings a folder read with ``format=`` this format considers."""
        return self.extensions or self.suffixes


def _formats(*formats: Format) -> dict[str, Format]:
    return {f.name: f for f in formats}


FORMATS: dict[str, Format] = _formats(
    Format(
        "spotify_extended",
        "Spotify Extended Streaming History (Streaming_History_Audio_*.json, endsong_*.json, "
        "or CSV conversions of them)",
        spotify.read_spotify_extended,
        spotify.sniff_extended,
        suffixes=_JSON,
        earliest=_SPOTIFY_LAUNCH,
    ),
    Format(
        "spotify_account",
        "Spotify account data (StreamingHistory*.json, or CSV conversions of them)",
        spotify.read_spotify_account,
        spotify.sniff_account,
        ("podcast_shows",),
        suffixes=_JSON,
        earliest=_SPOTIFY_LAUNCH,
    ),
    Format(
        "listenbrainz",
        "ListenBrainz listens (JSON lines dump or JSON array export)",
        listenbrainz.read_listenbrainz,
        listenbrainz.sniff,
        suffixes=(".json", ".jsonl", ".listens"),
        earliest=_AUDIOSCROBBLER,
    ),
    Format(
        "lastfm_1k",
        "Last.fm-1K TSV (user, time, artist mbid, artist, track mbid, track)",
        lastfm.read_lastfm_1k,
        lastfm.sniff_1k,
        suffixes=(".tsv", ".txt"),
        earliest=_AUDIOSCROBBLER,
    ),
    Format(
        "lastfm_csv",
        "Last.fm scrobble tables: lastfm-to-csv, lastfmstats.com, ghan.nl, lastexport.py, "
        "lastfm-backup-cli, the Last.fm data archive, Open Scrobbler import files, or any header "
        "naming artist, track and time",
        lastfm.read_lastfm_csv,
        lastfm.sniff_csv,
        ("timezone",),
        suffixes=_TABLES,
        earliest=_AUDIOSCROBBLER,
    ),
    Format(
        "lastfm_json",
        "Scrobble JSON: Last.fm API recenttracks pages, ghan.nl JSON, lastfmstats.com JSON, "
        "Maloja export",
        lastfm_json.read_lastfm_json,
        lastfm_json.sniff,
        ("timezone",),
        suffixes=(".json",),
        earliest=_AUDIOSCROBBLER,
    ),
    Format(
        "scrobbler_log",
        ".scrobbler.log: the Audioscrobbler portable-player log (Rockbox, lastexport.py)",
        scrobbler_log.read_scrobbler_log,
        scrobbler_log.sniff,
        ("timezone",),
        suffixes=(".log", ".txt"),
        earliest=_AUDIOSCROBBLER,
    ),
    Format(
        "30music",
        "30Music sessions TSV (UserId, SessionId, ItemId, Time, ArtistId)",
        public_datasets.read_30music,
        public_datasets.sniff_30music,
        check_times=False,
    ),
    Format(
        "movielens",
        "MovieLens ratings (u.data, ratings.dat, ratings.csv)",
        public_datasets.read_movielens,
        public_datasets.sniff_movielens,
        check_times=False,
    ),
    Format(
        "piki",
        "Piki like/dislike CSV (user_id, song_id, liked, timestamp)",
        piki.read_piki,
        piki.sniff,
        check_times=False,
    ),
    Format(
        "yambda",
        "Yambda parquet (uid, item_id, timestamp, ...)",
        public_datasets.read_yambda,
        public_datasets.sniff_yambda,
        check_times=False,
    ),
    Format(
        "item_sequences",
        "Item-sequence text, one line per user: user item_1 ... item_n in order, no times "
        "(the S3-Rec / ICLRec files: Amazon Beauty, Sports, Toys, Yelp)",
        item_sequences.read_item_sequences,
        item_sequences.sniff,
        check_times=False,
    ),
    Format(
        "csv",
        "CSV with a header; columns={canonical: source} maps names",
        generic.read_csv,
        generic.sniff_csv,
        _GENERIC_OPTIONS,
        (".csv",),
    ),
    Format(
        "tsv",
        "TSV with a header; columns={canonical: source} maps names",
        generic.read_tsv,
        generic.sniff_tsv,
        _GENERIC_OPTIONS,
        (".tsv", ".tab", ".txt"),
    ),
    Format(
        "parquet",
        "Parquet; columns={canonical: source} maps names",
        generic.read_parquet,
        generic.sniff_parquet,
        _GENERIC_OPTIONS,
        (".parquet", ".pq"),
    ),
)
