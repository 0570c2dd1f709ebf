"""The formats ``read_log`` knows: name -> reader, content sniffer and accepted options.

The order is the detection order: specific layouts first, the generic tables last.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from segue.data.readers import generic, lastfm, listenbrainz, piki, public_datasets, spotify
from segue.data.readers.head import Head
from segue.data.readers.parsed import Parsed

_GENERIC_OPTIONS = ("columns", "timestamp_unit", "timestamp_format")


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
    """

    name: str
    description: str
    read: Callable[..., Parsed]
    sniff: Callable[[Head], bool]
    options: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()

    @property
    def generic(self) -> bool:
        return bool(self.extensions)


def _formats(*formats: Format) -> dict[str, Format]:
    return {f.name: f for f in formats}


FORMATS: dict[str, Format] = _formats(
    Format(
        "spotify_extended",
        "Spotify Extended Streaming History (Streaming_History_Audio_*.json, endsong_*.json)",
        spotify.read_spotify_extended,
        spotify.sniff_extended,
    ),
    Format(
        "spotify_account",
        "Spotify account data (StreamingHistory*.json)",
        spotify.read_spotify_account,
        spotify.sniff_account,
    ),
    Format(
        "listenbrainz",
        "ListenBrainz listens (JSON lines dump or JSON array export)",
        listenbrainz.read_listenbrainz,
        listenbrainz.sniff,
    ),
    Format(
        "lastfm_1k",
        "Last.fm-1K TSV (user, time, artist mbid, artist, track mbid, track)",
        lastfm.read_lastfm_1k,
        lastfm.sniff_1k,
    ),
    Format(
        "lastfm_csv",
        "Last.fm scrobble CSV export (artist, album, track, date)",
        lastfm.read_lastfm_csv,
        lastfm.sniff_csv,
    ),
    Format(
        "30music",
        "30Music sessions TSV (UserId, SessionId, ItemId, Time, ArtistId)",
        public_datasets.read_30music,
        public_datasets.sniff_30music,
    ),
    Format(
        "movielens",
        "MovieLens ratings (u.data, ratings.dat, ratings.csv)",
        public_datasets.read_movielens,
        public_datasets.sniff_movielens,
    ),
    Format(
        "piki",
        "Piki like/dislike CSV (user_id, song_id, liked, timestamp)",
        piki.read_piki,
        piki.sniff,
    ),
    Format(
        "yambda",
        "Yambda parquet (uid, item_id, timestamp, ...)",
        public_datasets.read_yambda,
        public_datasets.sniff_yambda,
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


def check_options(fmt: Format, options: dict[str, Any]) -> None:
    """Raise ``TypeError`` for an option the format does not take, rather than ignore it."""
    unknown = sorted(k for k, v in options.items() if v is not None and k not in fmt.options)
    if unknown:
        takes = ", ".join(fmt.options) or "no options"
        raise TypeError(f"format {fmt.name!r} does not take {unknown}; it takes {takes}")
