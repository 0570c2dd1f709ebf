"""SessionKNN (SKNN): score tracks by the training sequences most similar to the recent history.

After Jannach & Ludewig (2017), "When recurrent neural networks meet the neighborhood for
session-based recommendation". Sequences are sets of tracks. For each history, its last
``window`` plays form a set ``h``; the candidate neighbours are the training sequences sharing a
track with ``h``, of which the ``sample_size`` most recent are kept; their cosine similarity
``|h & s| / sqrt(|h| |s|)`` picks the ``k`` nearest; a track's score is the sum of the
similarities of the neighbours that contain it. Departure from the paper: "most recent" is the
position in the ``sequences`` list given to :meth:`SessionKNN.fit` (later = more recent; pass
sequences ordered by their last play), as sequences carry no timestamps here. Everything is
sparse matrix algebra over the whole batch; no Python loop over histories or tracks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from segue.baselines._common import (
    DEFAULT_BACKOFF,
    check_backoff,
    flatten,
    history_matrix,
    popularity,
    with_backoff,
)
from segue.checks import check_integer


class SessionKNN:
    """Session-based k-nearest-neighbours over training sequences, with a popularity backoff.

    Args:
        k: Number of neighbours.
        sample_size: Most recent candidate neighbours considered per history; None keeps all.
        window: Number of last plays of the history that form its set.
        backoff_weight: Weight of the normalised global popularity (orders unscored tracks).

    >>> seqs = [np.array([1, 2, 3]), np.array([1, 4]), np.array([5, 6])]
    >>> model = SessionKNN(k=2).fit(seqs, n_tracks=6)
    >>> s = model.score([np.array([1, 2])]).astype(float)  # similarities 2/sqrt(6) and 1/2
    >>> np.round(s[0, 1:], 3).tolist()
    [1.316, 0.816, 0.816, 0.5, 0.0, 0.0]
    """

    name = "session_knn"

    def __init__(
        self,
        k: int = 100,
        sample_size: int | None = 500,
        window: int = 20,
        backoff_weight: float = DEFAULT_BACKOFF,
    ):
        self.k = check_integer("k", k, minimum=1)
        self.sample_size = (
            None if sample_size is None else check_integer("sample_size", sample_size, minimum=1)
        )
        self.window = check_integer("window", window, minimum=1)
        self.backoff_weight = check_backoff(backoff_weight)
        self.counts_: np.ndarray | None = None
        self.sessions_: sp.csr_matrix | None = None  # (S, V) binary
        self.sessions_t_: sp.csr_matrix | None = None  # (V, S) binary
        self.sizes_: np.ndarray | None = None  # (S,) distinct tracks per sequence

    def fit(self, sequences: Sequence[np.ndarray], n_tracks: int) -> SessionKNN:
        """Store the training sequences as a binary sparse (S, n_tracks + 1) matrix."""
        flat = flatten(sequences, n_tracks, "sequences")
        self.counts_ = popularity(flat, n_tracks)
        self.sessions_ = history_matrix(flat, n_tracks, binary=True)
        self.sessions_t_ = self.sessions_.T.tocsr()
        self.sizes_ = np.diff(self.sessions_.indptr).astype(np.float32)
        return self

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Scores, (B, n_tracks + 1) float32, column 0 = -inf."""
        if self.counts_ is None or self.sessions_ is None or self.sessions_t_ is None:
            raise RuntimeError("call fit() before score()")
        assert self.sizes_ is not None
        n_tracks = len(self.counts_) - 1
        flat = flatten(histories, n_tracks, "histories")
        recent = history_matrix(flat, n_tracks, window=self.window, binary=True)  # (B, V)
        overlap = sp.csr_matrix(recent @ self.sessions_t_)  # (B, S), shared tracks
        overlap.sum_duplicates()
        overlap.sort_indices()
        rows = np.repeat(np.arange(overlap.shape[0]), np.diff(overlap.indptr))
        cols, shared = overlap.indices, overlap.data

        keep = np.ones(len(cols), dtype=bool)
        if self.sample_size is not None:  # the most recent = the highest sequence indices
            from_end = overlap.indptr[rows + 1] - 1 - np.arange(len(cols))
            keep = from_end < self.sample_size
        rows, cols, shared = rows[keep], cols[keep], shared[keep]
        history_sizes = np.diff(recent.indptr).astype(np.float32)
        sims = shared / np.sqrt(history_sizes[rows] * self.sizes_[cols])

        order = np.lexsort((-cols, -sims, rows))  # per row: most similar, then most recent
        rows, cols, sims = rows[order], cols[order], sims[order]
        starts = np.searchsorted(rows, np.arange(overlap.shape[0]))
        nearest = np.arange(len(rows)) - starts[rows] < self.k
        weights = sp.csr_matrix(
            (sims[nearest], (rows[nearest], cols[nearest])), shape=overlap.shape, dtype=np.float32
        )
        return with_backoff(weights @ self.sessions_, self.counts_, self.backoff_weight)
