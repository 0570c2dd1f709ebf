"""Synthetic listeners: tastes over genres and artists, and the walk of each listening session.

A session is a Markov walk through the catalogue whose next step depends on the previous track
(same artist, similar artist, next track of the album), on a hidden mode (is the listener playing
an album through?) and on the listener (favourite tracks, favourite artists, genre mix). The walk
is vectorised across sessions: one Python iteration per position within a session, each step a
handful of numpy operations over all sessions that are that long.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segue.data.synthetic_catalogue import GroupedSampler, SyntheticCatalogue, zipf_weights

# How each play was chosen. ALBUM_NEXT is the next track of the album being played through.
MOVES: tuple[str, ...] = (
    "favourite_track",
    "same_artist",
    "similar_artist",
    "favourite_artist",
    "genre",
    "album",
    "popular",
    "album_next",
)
(
    FAVOURITE_TRACK,
    SAME_ARTIST,
    SIMILAR_ARTIST,
    FAVOURITE_ARTIST,
    GENRE,
    ALBUM,
    POPULAR,
    ALBUM_NEXT,
) = range(len(MOVES))


@dataclass(frozen=True)
class ListeningHabits:
    """How listeners choose, skip and like tracks, and how long and far apart sessions are.

    The ``p_*`` move probabilities are renormalised to sum to 1; a session's first play cannot
    follow a previous track, so it uses only the moves that do not need one.

    Args:
        p_favourite_track: Replay one of the listener's favourite tracks (heavy rotation).
        p_same_artist: Another track of the previous track's artist.
        p_similar_artist: A track of an artist similar to (same genre as) the previous one.
        p_favourite_artist: A track of one of the listener's favourite artists.
        p_genre: A track of any artist from a genre drawn from the listener's genre mix.
        p_album: Start one of a favourite artist's albums from its first track.
        p_popular: A track drawn by global popularity (charts, radio).
        album_continue: Chance, per play, of going on to the album's next track.
        taste_concentration: Dirichlet concentration of genre mixes; small means few genres.
        n_favourite_artists: Favourite artists per listener.
        n_favourite_tracks: Favourite tracks per listener.
        favourite_zipf: Zipf exponent of replays over a listener's favourite tracks.
        skip_base: Skip chance of a track right in the listener's taste.
        skip_off_taste: Extra skip chance of a track from a genre the listener never plays.
        like_rate: Chance that a fully played, in-taste track is liked.
        mean_session_length: Mean plays per session (lengths are geometric).
        session_gap_hours: Median silence between sessions (log-normal, at least one hour).
        departure_days: Listeners stop over this many days: each one's last play falls
            uniformly in them, and its history reaches back as far as it needs. Spread over
            months, so that the last weeks of the log (a temporal test window) hold many
            listeners, as a service's log does; drawing first plays in one week instead left
            2 listeners in the synthetic log's 14-day test window.
    """

    p_favourite_track: float = 0.22
    p_same_artist: float = 0.15
    p_similar_artist: float = 0.20
    p_favourite_artist: float = 0.15
    p_genre: float = 0.10
    p_album: float = 0.10
    p_popular: float = 0.08
    album_continue: float = 0.85
    taste_concentration: float = 0.2
    n_favourite_artists: int = 8
    n_favourite_tracks: int = 30
    favourite_zipf: float = 1.0
    skip_base: float = 0.08
    skip_off_taste: float = 0.6
    like_rate: float = 0.04
    mean_session_length: float = 12.0
    session_gap_hours: float = 10.0
    departure_days: float = 120.0

    def move_probabilities(self, first: bool) -> np.ndarray:
        """Probabilities of the moves in :data:`MOVES` (``album_next`` is decided apart).

        >>> ListeningHabits().move_probabilities(first=True).round(2).tolist()
        [0.34, 0.0, 0.0, 0.23, 0.15, 0.15, 0.12, 0.0]
        """
        p = np.array(
            [
                self.p_favourite_track,
                0.0 if first else self.p_same_artist,
                0.0 if first else self.p_similar_artist,
                self.p_favourite_artist,
                self.p_genre,
                self.p_album,
                self.p_popular,
                0.0,
            ]
        )
        return p / p.sum()


@dataclass(frozen=True)
class Tastes:
    """Each listener's genre mix, favourite artists and favourite tracks.

    Args:
        genre_mix: Dirichlet genre shares, ``(n_users, n_genres)``.
        favourite_artists: ``(n_users, n_favourite_artists)``, drawn by genre mix and popularity.
        favourite_tracks: ``(n_users, n_favourite_tracks)``, tracks of the favourite artists.
        genre_of_user: Draws a genre from a listener's mix (as ``user * n_genres + genre``).
        favourite_cdf: Cumulative Zipf weights of favourite-track ranks (rank 0 replayed most).
    """

    genre_mix: np.ndarray
    favourite_artists: np.ndarray
    favourite_tracks: np.ndarray
    genre_of_user: GroupedSampler
    favourite_cdf: np.ndarray

    def affinity(self, users: np.ndarray, genres: np.ndarray) -> np.ndarray:
        """How much each listener likes a genre, relative to their top genre (0 to 1)."""
        return self.genre_mix[users, genres]  # rows are scaled to a top genre of 1 by draw_tastes

    def draw_genre(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n_genres = self.genre_mix.shape[1]
        return self.genre_of_user.sample(users, rng.random(len(users))) % n_genres


def draw_tastes(
    n_users: int, catalogue: SyntheticCatalogue, habits: ListeningHabits, rng: np.random.Generator
) -> Tastes:
    """Draw every listener's genre mix, then favourite artists and tracks from it."""
    n_genres = int(catalogue.artist_genre.max()) + 1
    mix = rng.dirichlet(np.full(n_genres, habits.taste_concentration), size=n_users)
    mix /= mix.max(axis=1, keepdims=True)  # sampling ignores the scale; affinity reads it as is
    genre_of_user = GroupedSampler.build(np.repeat(np.arange(n_users), n_genres), mix.ravel())
    k, f = habits.n_favourite_artists, habits.n_favourite_tracks
    fav_cdf = np.cumsum(zipf_weights(f, habits.favourite_zipf))
    none = np.empty((0, 0), np.int64)
    tastes = Tastes(mix, none, none, genre_of_user, fav_cdf)

    users_k = np.repeat(np.arange(n_users), k)
    genres = tastes.draw_genre(users_k, rng)
    artists = catalogue.artist_of_genre.sample(genres, rng.random(len(genres))).reshape(n_users, k)
    pick = rng.integers(k, size=(n_users, f))
    fav_artist = np.take_along_axis(artists, pick, axis=1).ravel()
    tracks = catalogue.track_of_artist.sample(fav_artist, rng.random(len(fav_artist)))
    return Tastes(mix, artists, tracks.reshape(n_users, f), genre_of_user, fav_cdf)


@dataclass(frozen=True)
class Walk:
    """The plays of all sessions, laid out session after session.

    Args:
        track: Track of each play, ``(n_plays,)``.
        move: Index into :data:`MOVES` of how each play was chosen.
        skipped: Whether the listener skipped the play.
        affinity: Listener's affinity (0 to 1) to the play's genre.
    """

    track: np.ndarray
    move: np.ndarray
    skipped: np.ndarray
    affinity: np.ndarray


def _choose(
    move: np.ndarray,
    prev: np.ndarray,
    users: np.ndarray,
    catalogue: SyntheticCatalogue,
    tastes: Tastes,
    rng: np.random.Generator,
) -> np.ndarray:
    """The track that each move picks; ``prev`` (the previous track) is unused at session start."""
    new = np.empty(len(move), dtype=np.int64)
    cat = catalogue

    def track_of(artists: np.ndarray) -> np.ndarray:
        return cat.track_of_artist.sample(artists, rng.random(len(artists)))

    def favourite_artist(m: np.ndarray) -> np.ndarray:
        fav = tastes.favourite_artists
        return fav[users[m], rng.integers(fav.shape[1], size=int(m.sum()))]

    m = move == FAVOURITE_TRACK
    fav_cdf = tastes.favourite_cdf
    rank = np.minimum(np.searchsorted(fav_cdf, rng.random(int(m.sum()))), len(fav_cdf) - 1)
    new[m] = tastes.favourite_tracks[users[m], rank]
    m = move == SAME_ARTIST
    new[m] = track_of(cat.track_artist[prev[m]])
    m = move == SIMILAR_ARTIST
    neighbour = rng.integers(cat.similar_artists.shape[1], size=int(m.sum()))
    new[m] = track_of(cat.similar_artists[cat.track_artist[prev[m]], neighbour])
    m = move == FAVOURITE_ARTIST
    new[m] = track_of(favourite_artist(m))
    m = move == GENRE
    genres = tastes.draw_genre(users[m], rng)
    new[m] = track_of(cat.artist_of_genre.sample(genres, rng.random(len(genres))))
    m = move == ALBUM
    album = favourite_artist(m) * cat.albums_per_artist + rng.integers(
        cat.albums_per_artist, size=int(m.sum())
    )
    new[m] = album * cat.tracks_per_album  # the album's first track
    m = move == POPULAR
    new[m] = np.minimum(
        np.searchsorted(cat.popularity_cdf, rng.random(int(m.sum()))), cat.n_tracks - 1
    )
    m = move == ALBUM_NEXT
    new[m] = prev[m] + 1
    return new


def _skip_chance(move: np.ndarray, affinity: np.ndarray, habits: ListeningHabits) -> np.ndarray:
    p = habits.skip_base + habits.skip_off_taste * (1.0 - affinity)
    # Listeners rarely skip their own favourites, or a track of an album they chose to play.
    p[move == FAVOURITE_TRACK] *= 0.3
    p[move == ALBUM_NEXT] *= 0.5
    return p


def walk_sessions(
    session_user: np.ndarray,
    session_length: np.ndarray,
    catalogue: SyntheticCatalogue,
    tastes: Tastes,
    habits: ListeningHabits,
    rng: np.random.Generator,
) -> Walk:
    """Play every session, all sessions at once, one position at a time.

    Args:
        session_user: Listener of each session, ``(n_sessions,)``.
        session_length: Plays in each session (at least 1), ``(n_sessions,)``.
        catalogue: Tracks to play.
        tastes: Listeners' tastes.
        habits: Move, album and skip probabilities.
        rng: Source of randomness.

    Returns:
        The plays, session after session in the order given.
    """
    n = int(session_length.sum())
    offsets = np.cumsum(session_length) - session_length
    # Longest sessions first: the sessions still playing at position t are then a prefix.
    order = np.argsort(-session_length, kind="stable")
    starts, lengths, users = offsets[order], session_length[order], session_user[order]
    still_playing = np.searchsorted(-lengths, -np.arange(int(lengths.max())), side="left")

    track = np.empty(n, np.int64)
    move = np.empty(n, np.int8)
    skipped = np.empty(n, bool)
    affinity = np.empty(n, np.float64)
    in_album = np.zeros(len(starts), bool)
    tpa = catalogue.tracks_per_album
    for t, k in enumerate(still_playing):
        idx, u = starts[:k] + t, users[:k]
        probs = np.cumsum(habits.move_probabilities(first=t == 0))
        m = np.minimum(np.searchsorted(probs, rng.random(k), side="right"), ALBUM_NEXT - 1)
        prev = track[idx - 1] if t else np.zeros(k, np.int64)
        if t:
            more = catalogue.track_position[prev] + 1 < tpa
            m[in_album[:k] & more & (rng.random(k) < habits.album_continue)] = ALBUM_NEXT
        new = _choose(m, prev, u, catalogue, tastes, rng)
        aff = tastes.affinity(u, catalogue.artist_genre[catalogue.track_artist[new]])
        skip = rng.random(k) < _skip_chance(m, aff, habits)
        # A skip ends an album play-through; starting an album or going on with it keeps it.
        in_album[:k] = ((m == ALBUM) | (m == ALBUM_NEXT)) & ~skip
        track[idx], move[idx], skipped[idx], affinity[idx] = new, m, skip, aff
    return Walk(track, move, skipped, affinity)
