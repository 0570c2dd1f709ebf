"""The synthetic generator's own next-track distribution: the best any model can do on its log.

The synthetic log is drawn by a known process (:mod:`segue.data.synthetic_listeners`), so the
probability of every track at every play can be computed from what the generator knew when it
drew that play: the listener's tastes, the previous track of the session, whether the listener
was playing an album through (a hidden mode), and whether it is the session's first play. Ranking
the catalogue by that probability is the Bayes-optimal ranking: no model that sees only the log
can have a higher expected NDCG@k or HR@k (for one target per point, both are maximised by
ranking by probability). It is the ceiling of any accuracy target on the synthetic data.

Exactness: each move's distribution is read off the very samplers the generator draws with
(their cumulative weights), so the only difference from the generator is floating-point rounding
of those cumulative sums (~1e-13). Two conditionings are offered:

* ``kept=True`` conditions on the play not being skipped. Prediction points are never skipped
  plays, and skips depend on the track (off-taste tracks are skipped more), so this is the right
  distribution of a prediction point's target.
* :func:`album_mode_posterior` replaces the hidden album mode by its posterior given the
  session's earlier plays and skips (an exact two-state forward filter): the oracle that knows
  the generator's parameters but, like a model, not its hidden state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segue.data.synthetic import SyntheticDraw
from segue.data.synthetic_catalogue import GroupedSampler
from segue.data.synthetic_listeners import (
    ALBUM,
    ALBUM_NEXT,
    FAVOURITE_ARTIST,
    FAVOURITE_TRACK,
    GENRE,
    MOVES,
    POPULAR,
    SAME_ARTIST,
    SIMILAR_ARTIST,
    _skip_chance,
)

N_MOVES = len(MOVES)
ALBUM_MOVES = (ALBUM, ALBUM_NEXT)
"""Moves after which, unless the play is skipped, the listener is playing an album through."""


def searchsorted_probabilities(cdf: np.ndarray) -> np.ndarray:
    """P(i) of ``min(searchsorted(cdf, u), len(cdf) - 1)`` for ``u`` uniform in [0, 1).

    How the generator draws moves, favourite-track ranks and chart hits; the clamp gives the
    last item whatever rounding leaves above ``cdf[-1]``.

    >>> searchsorted_probabilities(np.array([0.5, 0.75, 0.999])).tolist()
    [0.5, 0.25, 0.25]
    """
    p = np.diff(cdf, prepend=0.0)
    p[-1] = 1.0 - cdf[-2] if len(cdf) > 1 else 1.0
    return p


def group_probabilities(sampler: GroupedSampler, groups: np.ndarray) -> np.ndarray:
    """P(item | its group) as :meth:`GroupedSampler.sample` draws it, (n_items,).

    Args:
        sampler: The sampler.
        groups: The group of each item, as given to :meth:`GroupedSampler.build`.

    >>> s = GroupedSampler.build(np.array([0, 1, 0, 1]), np.array([1.0, 1.0, 3.0, 0.0]))
    >>> group_probabilities(s, np.array([0, 1, 0, 1])).tolist()
    [0.25, 1.0, 0.75, 0.0]
    """
    g = groups[sampler.order].astype(np.float64)
    below = np.r_[g[:1], sampler.cdf[:-1]]  # an item's interval starts where the one before ends
    starts = np.r_[True, g[1:] != g[:-1]]
    below[starts] = g[starts]  # a group's first interval starts at g
    p = np.empty(len(g))
    p[sampler.order] = sampler.cdf - below
    return p


@dataclass(frozen=True)
class PlayStates:
    """What the generator knew when it drew each play, laid out as the draw's plays, (n,) each.

    Args:
        user: Listener of the play.
        previous: Previous track of the session (0 at a session's first play, where it is unused).
        first: Whether the play is its session's first.
        in_album: Whether the listener was playing an album through (the hidden mode).
        position: 0-based position of the play in its session.
    """

    user: np.ndarray
    previous: np.ndarray
    first: np.ndarray
    in_album: np.ndarray
    position: np.ndarray


def play_states(draw: SyntheticDraw) -> PlayStates:
    """The state of every play of a draw, recomputed from its sessions and moves."""
    lengths = draw.session_lengths
    n = int(lengths.sum())
    position = np.arange(n) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    first = position == 0
    walk = draw.walk
    previous = np.where(first, 0, np.r_[0, walk.track[:-1]])
    # The walk sets the mode after each play: an album move that was not skipped.
    after = np.isin(walk.move, ALBUM_MOVES) & ~walk.skipped
    in_album = ~first & np.r_[False, after[:-1]]
    user = np.repeat(np.arange(len(draw.events_per_user)), draw.events_per_user)
    return PlayStates(user, previous, first, in_album, position)


@dataclass(frozen=True)
class HistoryTastes:
    """Listener tastes estimated from the plays before each point (:func:`history_tastes`).

    Attributes:
        track_share: Share of each track among the point's plays, (B, n_tracks): its
            favourite tracks and how often each is replayed.
        artist_share: Share of each artist, (B, n_artists): its favourite artists.
        genre_share: Share of each genre, (B, n_genres): its genre mix.
    """

    track_share: np.ndarray
    artist_share: np.ndarray
    genre_share: np.ndarray


def history_tastes(draw: SyntheticDraw, histories: list[np.ndarray]) -> HistoryTastes:
    """Plain play shares of each point's history (catalogue track indices), one row per point.

    An empty history gives all-zero rows: the listener-specific moves then add no mass.

    >>> from segue.data.synthetic import SyntheticConfig, draw_listening
    >>> d = draw_listening(SyntheticConfig(n_users=3, n_events=300, n_artists=10, seed=1))
    >>> t = history_tastes(d, [np.array([0, 0, 1]), np.array([], dtype=np.int64)])
    >>> t.track_share[0, :2].round(3).tolist(), float(t.artist_share[1].sum())
    ([0.667, 0.333], 0.0)
    """
    cat = draw.catalogue
    n_genres = draw.tastes.genre_mix.shape[1]
    sizes = (cat.n_tracks, cat.n_artists, n_genres)
    shares = [np.zeros((len(histories), n)) for n in sizes]
    for row, plays in enumerate(histories):
        plays = np.asarray(plays, dtype=np.int64)
        if len(plays) == 0:
            continue
        groups = (plays, cat.track_artist[plays], cat.track_genre[plays])
        for share, group, n in zip(shares, groups, sizes, strict=True):
            share[row] = np.bincount(group, minlength=n) / len(plays)
    return HistoryTastes(*shares)


@dataclass(frozen=True)
class NextTrackModel:
    """The generator's move distributions as dense per-track tables.

    Args:
        draw: The draw whose catalogue, tastes and habits these are.
        artist_tracks: P(track | artist) of the catalogue's track sampler, (n_artists, n_tracks).
        similar_tracks: P(track | previous artist) of the similar-artist move, same shape.
        genre_tracks: P(track | genre) of an artist drawn from the genre, (n_genres, n_tracks).
        user_genres: P(genre | listener) of the genre move, (n_users, n_genres).
        popular: P(track) of the popular move, (n_tracks,).
        favourite_rank: P(rank) of a favourite-track replay, (n_favourite_tracks,).
    """

    draw: SyntheticDraw
    artist_tracks: np.ndarray
    similar_tracks: np.ndarray
    genre_tracks: np.ndarray
    user_genres: np.ndarray
    popular: np.ndarray
    favourite_rank: np.ndarray

    @classmethod
    def of(cls, draw: SyntheticDraw) -> NextTrackModel:
        """The tables of ``draw``: about ``8 * n_tracks * (2 * n_artists + n_genres)`` bytes."""
        cat, tastes = draw.catalogue, draw.tastes
        n_genres = tastes.genre_mix.shape[1]
        artist_tracks = np.zeros((cat.n_artists, cat.n_tracks))
        in_artist = group_probabilities(cat.track_of_artist, cat.track_artist)
        artist_tracks[cat.track_artist, np.arange(cat.n_tracks)] = in_artist
        # A similar artist is one of the listed neighbours, uniformly (repeats weigh double).
        similar_tracks = artist_tracks[cat.similar_artists].mean(axis=1)
        genre_artists = np.zeros((n_genres, cat.n_artists))
        in_genre = group_probabilities(cat.artist_of_genre, cat.artist_genre)
        genre_artists[cat.artist_genre, np.arange(cat.n_artists)] = in_genre
        n_users = tastes.genre_mix.shape[0]
        user_genres = group_probabilities(
            tastes.genre_of_user, np.repeat(np.arange(n_users), n_genres)
        ).reshape(n_users, n_genres)
        return cls(
            draw=draw,
            artist_tracks=artist_tracks,
            similar_tracks=similar_tracks,
            genre_tracks=genre_artists @ artist_tracks,
            user_genres=user_genres,
            popular=searchsorted_probabilities(cat.popularity_cdf),
            favourite_rank=searchsorted_probabilities(tastes.favourite_cdf),
        )

    def move_weights(
        self, first: np.ndarray, in_album: np.ndarray, previous: np.ndarray
    ) -> np.ndarray:
        """P(move | state), (B, n_moves), for ``in_album`` given as a probability or a flag.

        Args:
            first: Whether each play is its session's first, (B,).
            in_album: P(playing an album through), (B,) in [0, 1].
            previous: Previous track, (B,) (unused where ``first``).
        """
        habits, cat = self.draw.config.habits, self.draw.catalogue
        moves = np.empty((len(first), N_MOVES))
        for flag in (False, True):
            cdf = np.cumsum(habits.move_probabilities(first=flag))[:ALBUM_NEXT]
            moves[first == flag, :ALBUM_NEXT] = searchsorted_probabilities(cdf)
        more = cat.track_position[previous] + 1 < cat.tracks_per_album
        go_on = np.where(first | ~more, 0.0, habits.album_continue * in_album)
        moves[:, :ALBUM_NEXT] *= (1.0 - go_on)[:, None]
        moves[:, ALBUM_NEXT] = go_on
        return moves

    def move_tracks(
        self, user: np.ndarray, previous: np.ndarray, tastes: HistoryTastes | None = None
    ) -> np.ndarray:
        """P(track | move, state) for every move, (B, n_moves, n_tracks).

        A move that the state rules out gets weight 0 from :meth:`move_weights`; its row is
        still filled (same artist at a session's first play reads track 0's artist), except the
        album's next track after an album's last, which is all zeros. With ``tastes`` the
        listener-specific moves (favourite track, favourite artist, genre, album start) read
        those estimates instead of the listener's drawn tastes (``user`` is then unused).
        """
        cat = self.draw.catalogue
        rows = np.arange(len(previous))
        out = np.zeros((len(previous), N_MOVES, cat.n_tracks))
        if tastes is None:
            self._listener_moves(out, user)
        else:
            self._estimated_listener_moves(out, tastes)
        artist = cat.track_artist[previous]
        out[:, SAME_ARTIST] = self.artist_tracks[artist]
        out[:, SIMILAR_ARTIST] = self.similar_tracks[artist]
        out[:, POPULAR] = self.popular
        follows = cat.track_position[previous] + 1 < cat.tracks_per_album
        out[rows[follows], ALBUM_NEXT, previous[follows] + 1] = 1.0
        return out

    def _listener_moves(self, out: np.ndarray, user: np.ndarray) -> None:
        """Fill the listener-specific moves' rows from the drawn tastes."""
        cat, tastes = self.draw.catalogue, self.draw.tastes
        rows = np.arange(len(user))
        favourites = tastes.favourite_tracks[user]  # (B, F); a track listed twice adds up
        np.add.at(out[:, FAVOURITE_TRACK], (rows[:, None], favourites), self.favourite_rank)
        fav_artists = tastes.favourite_artists[user]  # (B, K), drawn uniformly
        out[:, FAVOURITE_ARTIST] = self.artist_tracks[fav_artists].mean(axis=1)
        out[:, GENRE] = self.user_genres[user] @ self.genre_tracks
        apa, tpa = cat.albums_per_artist, cat.tracks_per_album
        albums = fav_artists[:, :, None] * apa + np.arange(apa)  # (B, K, A), each 1 / (K * A)
        first_tracks = (albums * tpa).reshape(len(user), -1)
        np.add.at(out[:, ALBUM], (rows[:, None], first_tracks), 1.0 / first_tracks.shape[1])

    def _estimated_listener_moves(self, out: np.ndarray, tastes: HistoryTastes) -> None:
        """Fill the same rows from play shares: a replay draws a track as often as it was
        played, an artist or genre as often as its tracks were, an album start any album of
        an artist in proportion to that artist's share."""
        cat = self.draw.catalogue
        apa, tpa = cat.albums_per_artist, cat.tracks_per_album
        out[:, FAVOURITE_TRACK] = tastes.track_share
        out[:, FAVOURITE_ARTIST] = tastes.artist_share @ self.artist_tracks
        out[:, GENRE] = tastes.genre_share @ self.genre_tracks
        # Album a * apa + k of artist a starts at track (a * apa + k) * tpa.
        openers = (np.arange(cat.n_artists)[:, None] * apa + np.arange(apa)) * tpa  # (A, apa)
        out[:, ALBUM, openers.ravel()] = np.repeat(tastes.artist_share / apa, apa, axis=1)

    def keep_chances(self, user: np.ndarray, tastes: HistoryTastes | None = None) -> np.ndarray:
        """P(not skipped | move, track, listener), (B, n_moves, n_tracks), as the walk skips;
        with ``tastes``, the genre affinity is the estimated genre share over its largest."""
        cat = self.draw.catalogue
        if tastes is None:
            affinity = self.draw.tastes.affinity(user[:, None], cat.track_genre[None, :])
        else:  # scaled to a top genre of 1, as draw_tastes scales the drawn mixes
            top = np.maximum(tastes.genre_share.max(axis=1, keepdims=True), 1e-12)
            affinity = (tastes.genre_share / top)[:, cat.track_genre]  # (B, n_tracks)
        keep = np.empty((len(affinity), N_MOVES, cat.n_tracks))
        for move in range(N_MOVES):
            moves = np.full(affinity.size, move)
            chance = _skip_chance(moves, affinity.ravel(), self.draw.config.habits)
            keep[:, move] = 1.0 - chance.reshape(affinity.shape)
        return keep

    def next_track(
        self,
        user: np.ndarray,
        previous: np.ndarray,
        first: np.ndarray,
        in_album: np.ndarray,
        *,
        kept: bool = True,
        tastes: HistoryTastes | None = None,
    ) -> np.ndarray:
        """P(next track | state), (B, n_tracks), each row summing to 1.

        Args:
            user: Listener, (B,).
            previous: Previous track of the session, (B,) (unused where ``first``).
            first: Whether the play is its session's first, (B,).
            in_album: P(playing an album through), (B,): the true flag, or a posterior.
            kept: Condition on the play not being skipped (a prediction point's target).
            tastes: Estimated tastes (:func:`history_tastes`) in place of the drawn ones.
        """
        weights = self.move_weights(first, np.asarray(in_album, np.float64), previous)
        tracks = self.move_tracks(user, previous, tastes)
        if kept:
            tracks *= self.keep_chances(user, tastes)
        p = np.einsum("bm,bmt->bt", weights, tracks)
        return p / p.sum(axis=1, keepdims=True)


def album_mode_posterior(
    model: NextTrackModel, states: PlayStates, plays: np.ndarray, batch_size: int = 128
) -> np.ndarray:
    """P(playing an album through | the session's earlier tracks and skips), per play.

    An exact forward filter over the hidden mode: after each play, the mode is on when the play
    was an album move (start or next track) and was not skipped; what the listener did is
    weighed by P(move | mode) * P(track | move) * P(skip outcome | move, track).

    Args:
        model: The generator's tables.
        states: The draw's play states (:func:`play_states`).
        plays: Indices of the plays to filter, sorted; whole sessions (every earlier play of a
            selected play's session is selected too).
        batch_size: Plays whose move tables are computed at once.

    Returns:
        The posterior before each of ``plays``, (len(plays),); 0 at a session's first play.

    Raises:
        ValueError: When ``plays`` is not sorted or holds a play without its session's start.
    """
    plays = np.asarray(plays)
    if np.any(np.diff(plays) <= 0):
        raise ValueError("plays must be sorted and distinct")
    follows = states.position[plays] > 0
    if not np.all(plays[1:][follows[1:]] - 1 == plays[:-1][follows[1:]]) or (
        len(plays) and follows[0]
    ):
        raise ValueError("plays must hold whole sessions: a play's session start is missing")
    walk = model.draw.walk
    likelihood = np.empty((len(plays), N_MOVES))  # P(track, skip outcome | move, state)
    for start in range(0, len(plays), batch_size):
        j = plays[start : start + batch_size]
        rows = np.arange(len(j))
        track = walk.track[j]
        chosen = model.move_tracks(states.user[j], states.previous[j])[rows, :, track]
        kept = model.keep_chances(states.user[j])[rows, :, track]
        likelihood[start : start + len(j)] = chosen * np.where(
            walk.skipped[j, None], 1 - kept, kept
        )
    before = np.zeros(len(plays))
    after = np.zeros(len(plays))
    position = states.position[plays]
    for t in range(int(position.max(initial=-1)) + 1):
        at = np.flatnonzero(position == t)
        if t:
            before[at] = after[at - 1]
        j = plays[at]
        first, previous = states.first[j], states.previous[j]
        joint_on = before[at, None] * model.move_weights(first, np.ones(len(j)), previous)
        joint_off = (1.0 - before[at, None]) * model.move_weights(first, np.zeros(len(j)), previous)
        joint = (joint_on + joint_off) * likelihood[at]  # (b, n_moves)
        on = joint[:, list(ALBUM_MOVES)].sum(axis=1) * ~walk.skipped[j]
        after[at] = on / joint.sum(axis=1)
    return before
