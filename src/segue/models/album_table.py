"""The history prior's album and artist tables: each track's album-mates and artist-mates.

An album played through is the strongest pattern in personal listening logs, and the transition
table learns its order only from earlier play-throughs: a rare album's next track has a count of
0 or 1 there, tied with whatever else once followed. The album table needs no play-through at
all, only the album names an export already carries: the prior's ``album`` feature puts mass on
the current track's album-mates, and the transition and sequel features order them where they
can (:mod:`segue.models.history_prior`).

The artist table does the same for a listener who stays with an artist: the current artist's
other tracks, most played first, with their play counts, which the prior's ``artist`` feature
turns into shares (a same-artist pick follows the artist's own popularity).

The album-entry counts say, per track, how often a listener who arrived at it from outside its
album went on to the album: high for an album's opening track, about 0 elsewhere. At a
play-through's first track the previous step came from elsewhere, so nothing else tells an
album start from any other play of that track (the prior's ``album_entry`` feature).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segue.data.vocab import TrackVocab


def album_mates_table(vocab: TrackVocab, n_mates: int) -> np.ndarray:
    """The ``n_mates`` most played other tracks of every track's album, (n_tracks + 1, n_mates).

    An album is an (artist, album name) pair, so two artists' "Greatest Hits" stay apart. Rows
    are model indices (row 0, padding, and tracks without an album name have no mates); 0
    fills a row whose album has fewer tracks. Ties between play counts go to the smaller
    index, so the table is deterministic.

    >>> vocab = TrackVocab(["a", "b", "c", "d"], counts=[5, 9, 7, 1],
    ...                    artists=["x", "x", "x", "y"], albums=["A", "A", "A", "A"])
    >>> album_mates_table(vocab, n_mates=2).tolist()  # d: same album name, another artist
    [[0, 0], [2, 3], [3, 1], [2, 1], [0, 0]]
    """
    if vocab.albums is None or vocab.n_tracks == 0:
        return np.zeros((vocab.n_tracks + 1, n_mates), dtype=np.int64)
    artists = vocab.artists if vocab.artists is not None else [None] * vocab.n_tracks
    # One key per (artist, album); the unit separator cannot occur in either name's meaning.
    keys = [
        None if name is None else f"{artist or ''}\x1f{name}"
        for artist, name in zip(artists, vocab.albums, strict=True)
    ]
    return group_mates(keys, np.asarray(vocab.counts), n_mates)


def artist_mates_table(vocab: TrackVocab, n_mates: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_mates`` most played other tracks of every track's artist, and their play counts.

    Returns ``(mates, counts)``, both (n_tracks + 1, n_mates): track indices (0 = none, as in
    :func:`album_mates_table`; tracks without an artist have none) and each mate's plays in the
    vocabulary's data (float32, 0 where there is no mate).

    >>> vocab = TrackVocab(["a", "b", "c", "d"], counts=[5, 9, 7, 1],
    ...                    artists=["x", "x", "x", None])
    >>> mates, counts = artist_mates_table(vocab, n_mates=2)
    >>> mates.tolist(), counts[1].tolist()
    ([[0, 0], [2, 3], [3, 1], [2, 1], [0, 0]], [9.0, 7.0])
    """
    n_rows = vocab.n_tracks + 1
    if vocab.artists is None or vocab.n_tracks == 0:
        return np.zeros((n_rows, n_mates), dtype=np.int64), np.zeros((n_rows, n_mates), np.float32)
    keys = [artist or None for artist in vocab.artists]  # an empty name is no artist
    mates = group_mates(keys, np.asarray(vocab.counts), n_mates)
    plays = np.concatenate([[0], np.asarray(vocab.counts)]).astype(np.float32)
    return mates, np.where(mates > 0, plays[mates], np.float32(0))


def group_mates(keys: list[str | None], counts: np.ndarray, n_mates: int) -> np.ndarray:
    """The ``n_mates`` most played other tracks sharing each track's key, (len(keys) + 1, n_mates).

    ``keys[i]`` and ``counts[i]`` belong to track index ``i + 1``; a ``None`` key has no mates.
    Ties between play counts go to the smaller index, so the table is deterministic.
    """
    n_rows = len(keys) + 1
    table = np.zeros((n_rows, n_mates), dtype=np.int64)
    group, _ = pd.factorize(pd.Series(keys, dtype=object), use_na_sentinel=True)  # None: -1
    tracks = np.arange(1, n_rows)
    named = group >= 0
    if not named.any():
        return table
    # Each group's tracks, most played first: a run of the sorted order per group.
    order = np.lexsort((tracks[named], -counts[named], group[named]))
    sorted_tracks, sorted_group = tracks[named][order], group[named][order]
    first = np.searchsorted(sorted_group, sorted_group)  # where each track's group run starts
    size = np.bincount(sorted_group)[sorted_group]  # (K,)
    # The run's first n_mates + 1 tracks hold n_mates others than the row's own track.
    offsets = np.arange(n_mates + 1)
    inside = offsets[None, :] < size[:, None]  # (K, n_mates + 1)
    positions = np.minimum(first[:, None] + offsets[None, :], len(sorted_tracks) - 1)
    candidates = np.where(inside, sorted_tracks[positions], 0)
    candidates[candidates == sorted_tracks[:, None]] = 0  # not its own mate
    # Compact each row's non-zero candidates to the left, keeping their order.
    keep = np.argsort(candidates == 0, axis=1, kind="stable")[:, :n_mates]
    table[sorted_tracks] = np.take_along_axis(candidates, keep, axis=1)
    return table


def album_entry_counts(
    tracks: np.ndarray,
    group_start: np.ndarray,
    album_mates: np.ndarray,
    is_skip: np.ndarray | None = None,
) -> np.ndarray:
    """Per track, its plays entered from outside its album and those that went on to the album.

    A play of track ``x`` is *entered from outside* when the previous row of its group is not
    an album-mate of ``x`` (or there is none). It counts when a next row follows in the group
    and is not a skipped play (the pairs the transition table counts), and it *went on* when
    that next row is an album-mate of ``x``.

    Args:
        tracks: Track index per row, grouped and in time order, (M,).
        group_start: First row of each row's group, (M,).
        album_mates: The album table (:func:`album_mates_table`), (n_tracks + 1, A).
        is_skip: Whether each row is a skipped play, (M,); None: no skips.

    Returns:
        (n_tracks + 1, 2) float32: entered plays, and those that went on to the album.

    >>> mates = np.array([[0], [2], [1], [0]])  # tracks 1 and 2 share an album
    >>> album_entry_counts(np.array([3, 1, 2, 3, 1, 3]), np.zeros(6, int), mates).tolist()
    [[0.0, 0.0], [2.0, 1.0], [0.0, 0.0], [2.0, 0.0]]
    """
    n_rows = len(album_mates)
    counts = np.zeros((n_rows, 2), dtype=np.float32)
    tracks = np.asarray(tracks, dtype=np.int64)
    if len(tracks) < 2:
        return counts
    current, following = tracks[:-1], tracks[1:]
    has_next = (group_start[1:] == group_start[:-1]) & (current > 0) & (following > 0)
    if is_skip is not None:
        has_next &= ~np.asarray(is_skip[1:], dtype=bool)
    previous = np.concatenate([[0], tracks[:-2]])  # the row before each current row
    previous[np.flatnonzero(group_start[:-1] == np.arange(len(current)))] = 0  # group starts
    entered = has_next & ~_is_mate(album_mates, current, previous)
    went_on = entered & _is_mate(album_mates, current, following)
    counts[:, 0] = np.bincount(current[entered], minlength=n_rows)
    counts[:, 1] = np.bincount(current[went_on], minlength=n_rows)
    return counts


def _is_mate(album_mates: np.ndarray, tracks: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Whether each of ``others`` is an album-mate of the track beside it (0 never is)."""
    return (album_mates[tracks] == others[:, None]).any(axis=1) & (others > 0)
