"""A synthetic music catalogue: genres, artists, albums of ordered tracks, durations, popularity.

The catalogue is the half of the synthetic data that does not depend on listeners (see
:mod:`segue.data.synthetic` for the other half). Tracks are laid out in catalogue order, artist by
artist, album by album, track by track, so track ``i + 1`` is the next track of ``i``'s album
whenever both share an album.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def zipf_weights(n: int, exponent: float) -> np.ndarray:
    """Normalised power-law weights ``rank ** -exponent`` for ranks 1..n.

    >>> zipf_weights(3, 1.0).round(3).tolist()
    [0.545, 0.273, 0.182]
    """
    weights = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    return weights / weights.sum()


@dataclass(frozen=True)
class GroupedSampler:
    """Draws an item from a group with probability proportional to the item's weight.

    All groups share one sorted array of cumulative weights: group ``g``'s items occupy the
    interval ``(g, g + 1]``, so a draw for many groups at once is one ``searchsorted`` of
    ``group + u``, with no per-group Python loop. Every group must have an item of positive weight.

    >>> s = GroupedSampler.build(np.array([0, 1, 0, 1]), np.array([1.0, 1.0, 3.0, 0.0]))
    >>> s.sample(np.array([0, 0, 1]), np.array([0.2, 0.3, 0.9])).tolist()
    [0, 2, 1]
    """

    order: np.ndarray  # (n_items,) item ids sorted by group
    cdf: np.ndarray  # (n_items,) g + cumulative share of the item's group

    @classmethod
    def build(cls, groups: np.ndarray, weights: np.ndarray) -> GroupedSampler:
        """Sampler over items ``0..n-1``, item ``i`` in group ``groups[i]`` with ``weights[i]``."""
        order = np.argsort(groups, kind="stable")
        g, w = groups[order], weights[order].astype(np.float64)
        starts = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
        totals = np.add.reduceat(w, starts)
        lengths = np.diff(np.r_[starts, len(g)])
        before = np.cumsum(w) - np.repeat(np.cumsum(totals) - totals, lengths)
        cdf = g + before / np.repeat(totals, lengths)
        # Each group ends at exactly g + 1, so rounding never leaks a draw into the next group.
        cdf[np.r_[starts[1:] - 1, len(g) - 1]] = g[np.r_[starts[1:] - 1, len(g) - 1]] + 1.0
        return cls(order, cdf)

    def sample(self, group_ids: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
        """One item per entry of ``group_ids``, driven by ``uniforms`` in [0, 1)."""
        return self.order[np.searchsorted(self.cdf, group_ids + uniforms, side="right")]


@dataclass(frozen=True)
class SyntheticCatalogue:
    """Artists with genres and similar artists; albums of ordered tracks with durations.

    Args:
        artist_genre: Genre of each artist, shape ``(n_artists,)``.
        similar_artists: Artists of the same genre, drawn by popularity, ``(n_artists, S)``; an
            artist is rarely its own neighbour.
        track_artist: Artist of each track, ``(n_tracks,)``.
        track_album: Album of each track (a catalogue-wide index), ``(n_tracks,)``.
        track_position: 0-based position of each track on its album, ``(n_tracks,)``.
        duration_ms: Length of each track in milliseconds, ``(n_tracks,)``.
        popularity: Global share of each track's plays in charts and radio, sums to 1.
        popularity_cdf: Cumulative sum of ``popularity``, to draw chart hits.
        tracks_per_album: Tracks on every album.
        albums_per_artist: Albums of every artist.
        artist_of_genre: Draws an artist of a genre, by artist popularity.
        track_of_artist: Draws a track of an artist, by the track's popularity.
    """

    artist_genre: np.ndarray
    similar_artists: np.ndarray
    track_artist: np.ndarray
    track_album: np.ndarray
    track_position: np.ndarray
    duration_ms: np.ndarray
    popularity: np.ndarray
    popularity_cdf: np.ndarray
    tracks_per_album: int
    albums_per_artist: int
    artist_of_genre: GroupedSampler
    track_of_artist: GroupedSampler

    @property
    def n_tracks(self) -> int:
        return len(self.track_artist)

    @property
    def n_artists(self) -> int:
        return len(self.artist_genre)

    @property
    def track_genre(self) -> np.ndarray:
        return self.artist_genre[self.track_artist]

    def names(self) -> dict[str, np.ndarray]:
        """Per-track ``track_id``, ``artist``, ``album`` and ``track_name`` strings.

        Ids are zero-padded so that string order is catalogue order: ``t0001`` is followed on
        its album by ``t0002``. Names spell out artist, album and position (``Song 042-1-03``:
        artist 42, album 1, track 3) so that a log reads at a glance.
        """
        a, b, p = self.track_artist, self.track_album % self.albums_per_artist, self.track_position
        wt, wa = len(str(self.n_tracks - 1)), len(str(self.n_artists - 1))
        artist = np.array([f"Artist {i:0{wa}d}" for i in range(self.n_artists)], dtype=object)
        return {
            "track_id": np.array([f"t{i:0{wt}d}" for i in range(self.n_tracks)], dtype=object),
            "artist": artist[a],
            "album": np.array([f"Album {i:0{wa}d}-{j + 1}" for i, j in zip(a, b)], dtype=object),
            "track_name": np.array(
                [f"Song {i:0{wa}d}-{j + 1}-{k + 1:02d}" for i, j, k in zip(a, b, p)], dtype=object
            ),
        }

    def table(self) -> pd.DataFrame:
        """The catalogue as one row per track, with genre and global popularity."""
        return pd.DataFrame(
            {
                **self.names(),
                "album_position": self.track_position,
                "duration_ms": self.duration_ms,
                "genre": self.track_genre,
                "popularity": self.popularity,
            }
        )


def _durations_ms(n: int, rng: np.random.Generator) -> np.ndarray:
    # Pop tracks cluster around 3.5 min; log-normal with 95% between about 2 and 6 minutes.
    seconds = np.clip(rng.lognormal(np.log(210.0), 0.27, size=n), 90.0, 600.0)
    return np.round(seconds * 1000).astype(np.int64)


def build_catalogue(
    n_artists: int,
    albums_per_artist: int,
    tracks_per_album: int,
    n_genres: int,
    rng: np.random.Generator,
    *,
    artist_zipf: float = 1.0,
    n_similar: int = 6,
) -> SyntheticCatalogue:
    """Draw a catalogue whose track popularity follows a power law.

    Artist popularity is Zipf over a random ranking of artists; within an artist, albums and
    tracks get log-normal weights, with early album tracks (the singles) a little more popular.

    Args:
        n_artists: Artists; at least ``n_genres`` so that every genre has one.
        albums_per_artist: Albums of each artist.
        tracks_per_album: Tracks on each album.
        n_genres: Latent genres; artists are spread evenly over them.
        rng: Source of randomness.
        artist_zipf: Power-law exponent of artist popularity.
        n_similar: Similar artists listed per artist.
    """
    if n_artists < n_genres:
        raise ValueError(f"need at least one artist per genre: {n_artists} artists < {n_genres}")
    genre = rng.permutation(np.arange(n_artists) % n_genres)
    artist_pop = zipf_weights(n_artists, artist_zipf)[rng.permutation(n_artists)]

    n_albums = n_artists * albums_per_artist
    track_album = np.repeat(np.arange(n_albums), tracks_per_album)
    track_artist = track_album // albums_per_artist
    position = np.tile(np.arange(tracks_per_album), n_albums)
    album_weight = rng.lognormal(0.0, 0.5, size=n_albums)
    within = (
        album_weight[track_album]
        * (position + 1.0) ** -0.3
        * rng.lognormal(0.0, 0.6, size=len(track_album))
    )
    within_share = within / np.bincount(track_artist, weights=within)[track_artist]
    popularity = artist_pop[track_artist] * within_share

    artist_of_genre = GroupedSampler.build(genre, artist_pop)
    popularity /= popularity.sum()
    similar = artist_of_genre.sample(
        np.repeat(genre, n_similar), rng.random(n_artists * n_similar)
    ).reshape(n_artists, n_similar)
    return SyntheticCatalogue(
        artist_genre=genre,
        similar_artists=similar,
        track_artist=track_artist,
        track_album=track_album,
        track_position=position,
        duration_ms=_durations_ms(len(track_album), rng),
        popularity=popularity,
        popularity_cdf=np.cumsum(popularity),
        tracks_per_album=tracks_per_album,
        albums_per_artist=albums_per_artist,
        artist_of_genre=artist_of_genre,
        track_of_artist=GroupedSampler.build(track_artist, within),
    )
