"""Seeded synthetic listening logs: segue's bundled default data.

No large real music log can be redistributed, so segue trains on synthetic logs by default. The
generator models what sets music logs apart, so that a next-track model has structure to learn
and simple baselines differ:

1. A catalogue of artists, each in one of a few latent genres, with albums of ordered tracks of
   2 to 6 minutes; artist popularity is Zipf, so track plays are heavy-tailed.
2. Each listener has a Dirichlet genre mix (a few genres), favourite artists drawn from it by
   popularity, and favourite tracks of those artists that they replay (heavy rotation).
3. Listeners have log-normal activity; their plays fall into sessions of geometric length.
4. Within a session each play follows the previous one: a favourite track, the same artist, a
   similar artist of the same genre, a favourite artist, a new artist from the genre mix, a chart
   hit, or the start of an album, which is then played in track order for a while.
5. Tracks far from the listener's genres are skipped more often (skips last under 30 s);
   favourites and album play-throughs are skipped less; a few in-taste plays are likes.
6. Within a session a play starts when the previous one ends (plus a few seconds); sessions are
   hours to days apart.

See :mod:`segue.data.synthetic_catalogue` and :mod:`segue.data.synthetic_listeners`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from segue.columns import Columns, EventTypes
from segue.data.event_log import EventLog
from segue.data.report import Report
from segue.data.synthetic_catalogue import SyntheticCatalogue, build_catalogue
from segue.data.synthetic_listeners import (
    MOVES,
    ListeningHabits,
    Tastes,
    Walk,
    draw_tastes,
    walk_sessions,
)

SKIP_MS = 30_000  # skipped plays last less than this; full plays at least this
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes, seed and habits of a synthetic listening log.

    Args:
        n_users: Listeners; each gets at least ``min_events_per_user`` plays.
        n_events: Rows of the log, exactly.
        n_artists: Artists (at least ``n_genres``).
        albums_per_artist: Albums of every artist.
        tracks_per_album: Tracks on every album; the catalogue has
            ``n_artists * albums_per_artist * tracks_per_album`` tracks.
        n_genres: Latent genres that group artists and listeners' tastes.
        seed: Seed of everything; the same config gives the same log.
        start: UTC date of the earliest possible session start.
        min_events_per_user: Plays every listener gets before activity is spread.
        habits: How listeners move, skip and like (see :class:`ListeningHabits`).
    """

    n_users: int = 1_000
    n_events: int = 180_000
    n_artists: int = 250
    albums_per_artist: int = 2
    tracks_per_album: int = 8
    n_genres: int = 8
    seed: int = 0
    start: str = "2024-01-01"
    min_events_per_user: int = 10
    habits: ListeningHabits = field(default_factory=ListeningHabits)

    @property
    def n_tracks(self) -> int:
        return self.n_artists * self.albums_per_artist * self.tracks_per_album

    def validate(self) -> SyntheticConfig:
        """Raise ``ValueError`` for sizes that cannot make a log; return self."""
        if min(self.n_users, self.n_artists, self.albums_per_artist, self.tracks_per_album) < 1:
            raise ValueError(f"sizes must be positive: {self}")
        if self.n_events < self.n_users * self.min_events_per_user:
            raise ValueError(
                f"{self.n_events} events cannot give {self.n_users} users "
                f"{self.min_events_per_user} plays each"
            )
        if not 1 <= self.n_genres <= self.n_artists:
            raise ValueError(f"need 1 <= n_genres <= n_artists, got {self.n_genres} genres")
        return self


# The main job's default: about 1,000 listeners, 4,000 tracks, 180,000 plays.
DEFAULT_SYNTHETIC = SyntheticConfig()


def events_per_user(
    n_users: int, n_events: int, minimum: int, rng: np.random.Generator
) -> np.ndarray:
    """Split ``n_events`` over users: ``minimum`` each, the rest by log-normal activity.

    >>> counts = events_per_user(4, 100, 10, np.random.default_rng(0))
    >>> int(counts.sum()), bool(counts.min() >= 10)
    (100, True)
    """
    activity = rng.lognormal(0.0, 1.0, size=n_users)
    extra = rng.multinomial(n_events - n_users * minimum, activity / activity.sum())
    return extra + minimum


def session_lengths(
    user_events: np.ndarray, mean_length: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Cut each user's plays into sessions of geometric length; return (user, length) per session.

    >>> users, lengths = session_lengths(np.array([3, 2]), 1e9, np.random.default_rng(0))
    >>> users.tolist(), lengths.tolist()
    ([0, 1], [3, 2])
    """
    n = int(user_events.sum())
    starts = rng.random(n) < 1.0 / mean_length
    user_first = np.cumsum(user_events) - user_events
    starts[user_first] = True
    first_index = np.flatnonzero(starts)
    lengths = np.diff(np.r_[first_index, n])
    users = np.repeat(np.arange(len(user_events)), user_events)[first_index]
    return users, lengths


def play_times_ms(
    ms_played: np.ndarray,
    session_start: np.ndarray,
    user_first: np.ndarray,
    gap_hours: float,
    rng: np.random.Generator,
    departure_days: float | None = None,
) -> np.ndarray:
    """Start time of each play in ms since the log's start; plays laid out user after user.

    A play starts when the previous one ends, plus a pause of a few seconds; a session starts
    hours to days after the previous session's last play ends. A user's first play falls in the
    first week; with ``departure_days``, each user is then shifted so that its last play falls
    uniformly in that many days, and the log starts at its earliest play.
    """
    n = len(ms_played)
    step = np.empty(n, np.int64)
    step[1:] = ms_played[:-1] + np.round(rng.exponential(2_000.0, size=n - 1)).astype(np.int64)
    gap_hours_drawn = np.clip(rng.lognormal(np.log(gap_hours), 1.0, size=n), 1.0, 24.0 * 30)
    gaps = np.round(gap_hours_drawn * HOUR_MS).astype(np.int64)
    step[session_start] = np.r_[0, ms_played[:-1]][session_start] + gaps[session_start]
    first = np.flatnonzero(user_first)
    step[first] = rng.integers(0, 7 * 24 * HOUR_MS, size=len(first))
    elapsed = np.cumsum(step)
    # Restart the running sum at each user's first play.
    counts = np.diff(np.r_[first, n])
    times = elapsed - np.repeat(elapsed[first] - step[first], counts)
    if departure_days is None:
        return times
    last = np.r_[first[1:], n] - 1
    end = rng.integers(0, max(1, round(departure_days * 24 * HOUR_MS)), size=len(first))
    times = times + np.repeat(end - times[last], counts)
    return times - times.min()


def _played_ms(walk: Walk, duration: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(duration)
    skip_ms = rng.integers(1_000, SKIP_MS, size=n)
    # Most full plays run to the end; some stop early, but never before the skip threshold.
    early = rng.random(n) < 0.1
    partial = np.maximum(SKIP_MS, (duration * rng.uniform(0.5, 1.0, size=n)).astype(np.int64))
    full = np.where(early, partial, duration)
    return np.where(walk.skipped, skip_ms, full)


def _strings(values: np.ndarray, index: np.ndarray) -> pd.Series:
    # One Arrow take instead of millions of Python strings; large_string is what pandas' "str"
    # dtype stores, so pandas does not copy the column again to convert it.
    strings = pa.array(values.tolist(), type=pa.large_string())
    return pd.Series(strings.take(pa.array(index)), dtype="str")


def _events(
    config: SyntheticConfig,
    catalogue: SyntheticCatalogue,
    walk: Walk,
    user_index: np.ndarray,
    times_ms: np.ndarray,
    ms_played: np.ndarray,
    liked: np.ndarray,
) -> pd.DataFrame:
    names = catalogue.names()
    width = len(str(config.n_users - 1))
    user_ids = np.array([f"u{i:0{width}d}" for i in range(config.n_users)], dtype=object)
    start_ns = pd.Timestamp(config.start, tz="UTC").value
    timestamps = pd.to_datetime(start_ns + times_ms * 1_000_000, unit="ns", utc=True)
    event_type = np.array([EventTypes.PLAY, EventTypes.LIKE], dtype=object)
    return pd.DataFrame(
        {
            Columns.USER: _strings(user_ids, user_index),
            Columns.TRACK: _strings(names["track_id"], walk.track),
            Columns.TIMESTAMP: timestamps,
            Columns.ARTIST: _strings(names["artist"], walk.track),
            Columns.ALBUM: _strings(names["album"], walk.track),
            Columns.TRACK_NAME: _strings(names["track_name"], walk.track),
            Columns.MS_PLAYED: ms_played,
            Columns.DURATION_MS: catalogue.duration_ms[walk.track],
            Columns.SKIPPED: walk.skipped,
            Columns.EVENT_TYPE: _strings(event_type, liked.astype(np.int64)),
        }
    )


@dataclass(frozen=True)
class SyntheticDraw:
    """Everything the generator drew for one log, before it is written as a table.

    What :func:`generate_listening_log` writes out, plus the hidden state behind it (tastes,
    the move of every play), so that the generator's own next-track distribution can be
    recomputed at any play (see ``benchmarks/synthetic_oracle.py``).

    Args:
        config: The validated config that was drawn.
        catalogue: Tracks, artists, albums and the catalogue's samplers.
        tastes: Every listener's genre mix, favourite artists and favourite tracks.
        events_per_user: Plays of each listener, ``(n_users,)``; plays are laid out user after
            user, session after session, in the log's row order.
        session_lengths: Plays of each session, ``(n_sessions,)``, in that order.
        walk: Track, move, skip and affinity of every play, ``(n_events,)`` each.
        ms_played: Played time of every play, ``(n_events,)``.
        times_ms: Start of every play in ms after ``config.start``, ``(n_events,)``.
        liked: Whether each play is written as a like, ``(n_events,)``.
    """

    config: SyntheticConfig
    catalogue: SyntheticCatalogue
    tastes: Tastes
    events_per_user: np.ndarray
    session_lengths: np.ndarray
    walk: Walk
    ms_played: np.ndarray
    times_ms: np.ndarray
    liked: np.ndarray


def draw_listening(config: SyntheticConfig) -> SyntheticDraw:
    """Draw a synthetic log's catalogue, listeners and plays: every random draw of the log.

    Args:
        config: Sizes, seed and habits (validated here).

    Returns:
        The :class:`SyntheticDraw`; :func:`generate_listening_log` writes it as a table.
    """
    config = config.validate()
    catalogue_rng, listener_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(2)
    )
    catalogue = build_catalogue(
        config.n_artists,
        config.albums_per_artist,
        config.tracks_per_album,
        config.n_genres,
        catalogue_rng,
    )
    rng, habits = listener_rng, config.habits
    tastes = draw_tastes(config.n_users, catalogue, habits, rng)
    per_user = events_per_user(config.n_users, config.n_events, config.min_events_per_user, rng)
    session_user, lengths = session_lengths(per_user, habits.mean_session_length, rng)
    walk = walk_sessions(session_user, lengths, catalogue, tastes, habits, rng)

    session_start = np.zeros(config.n_events, bool)
    session_start[np.cumsum(lengths) - lengths] = True
    user_first = np.zeros(config.n_events, bool)
    user_first[np.cumsum(per_user) - per_user] = True
    ms_played = _played_ms(walk, catalogue.duration_ms[walk.track], rng)
    times = play_times_ms(
        ms_played, session_start, user_first, habits.session_gap_hours, rng, habits.departure_days
    )
    liked = ~walk.skipped & (rng.random(config.n_events) < habits.like_rate * walk.affinity)
    return SyntheticDraw(
        config, catalogue, tastes, per_user, lengths, walk, ms_played, times, liked
    )


def generate_listening_log(config: SyntheticConfig | None = None, **overrides: Any) -> EventLog:
    """Generate a seeded synthetic listening log in canonical columns.

    Args:
        config: Sizes, seed and habits; :data:`DEFAULT_SYNTHETIC` when omitted.
        **overrides: Fields of :class:`SyntheticConfig` to replace, e.g. ``n_events=10_000``.

    Returns:
        An :class:`EventLog` of exactly ``n_events`` rows sorted by user, then time, and one
        ``"synthetic"`` report whose stats give the parameters and what was drawn.

    >>> log = generate_listening_log(n_users=3, n_events=60, n_artists=8, seed=1)
    >>> len(log), log.events["user_id"].nunique(), log.report.rows_kept
    (60, 3, 60)
    """
    config = dataclasses.replace(config or DEFAULT_SYNTHETIC, **overrides).validate()
    draw = draw_listening(config)
    user_index = np.repeat(np.arange(config.n_users), draw.events_per_user)
    events = _events(
        config, draw.catalogue, draw.walk, user_index, draw.times_ms, draw.ms_played, draw.liked
    )
    report = Report("synthetic", rows_in=config.n_events, rows_kept=config.n_events)
    report.stats.update(_stats(config, draw.walk, len(draw.session_lengths), draw.liked))
    return EventLog(events, [report.check()])


def _stats(config: SyntheticConfig, walk: Walk, n_sessions: int, liked: np.ndarray) -> dict:
    n = config.n_events
    moves = np.bincount(walk.move, minlength=len(MOVES)) / n
    return {
        "seed": config.seed,
        "users": config.n_users,
        "artists": config.n_artists,
        "albums": config.n_artists * config.albums_per_artist,
        "tracks": config.n_tracks,
        "genres": config.n_genres,
        "sessions": n_sessions,
        "skip_share": round(float(walk.skipped.mean()), 4),
        "like_share": round(float(liked.mean()), 4),
        **{f"move_{name}": round(float(share), 4) for name, share in zip(MOVES, moves)},
        "habits": dataclasses.asdict(config.habits),
    }
