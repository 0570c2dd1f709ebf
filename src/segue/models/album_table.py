"""The history prior's album table: each track's album-mates, from the vocabulary's metadata.

An album played through is the strongest pattern in personal listening logs, and the transition
table learns its order only from earlier play-throughs: a rare album's next track has a count of
0 or 1 there, tied with whatever else once followed. The album table needs no play-through at
all, only the album names an export already carries: the prior's ``album`` feature puts mass on
the current track's album-mates, and the transition and sequel features order them where they
can (:mod:`segue.models.history_prior`).
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
    n_rows = vocab.n_tracks + 1
    table = np.zeros((n_rows, n_mates), dtype=np.int64)
    if vocab.albums is None or vocab.n_tracks == 0:
        return table
    artists = vocab.artists if vocab.artists is not None else [None] * vocab.n_tracks
    # One key per (artist, album); the unit separator cannot occur in either name's meaning.
    keys = [
        None if name is None else f"{artist or ''}\x1f{name}"
        for artist, name in zip(artists, vocab.albums, strict=True)
    ]
    album, _ = pd.factorize(pd.Series(keys, dtype=object), use_na_sentinel=True)  # None: -1
    tracks = np.arange(1, n_rows)
    named = album >= 0
    # Each album's tracks, most played first: a run of the sorted order per album.
    order = np.lexsort((tracks[named], -np.asarray(vocab.counts)[named], album[named]))
    sorted_tracks, sorted_album = tracks[named][order], album[named][order]
    first = np.searchsorted(sorted_album, sorted_album)  # where each track's album run starts
    size = np.bincount(sorted_album)[sorted_album]  # (K,)
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
