"""Transitions: first-order track-to-track transition probabilities from the last play."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from segue.baselines._common import (
    DEFAULT_BACKOFF,
    check_backoff,
    flatten,
    offset_pairs,
    popularity,
    with_backoff,
)


class Transitions:
    """Score = P(next = j | last = i), estimated from consecutive training plays, + backoff.

    ``P(j | i) = count(i -> j) / count(i -> anything)``; repeats (i -> i) count like any other
    transition. Pairs never cross two sequences. ``i`` is the latest play of a track that
    training saw played: a track it never did (first heard after training, in a
    ``catalogue="log"`` vocabulary, or only ever skipped) is passed over, as if it had not
    been played, which is what a ``catalogue="train"`` history does with a new track. An empty
    history, or a last track never followed by anything in training, falls back to global
    popularity alone (the backoff ``backoff_weight * count / max(count)``, which also orders
    the tracks without transitions).

    Args:
        backoff_weight: Weight of the normalised global popularity.

    >>> model = Transitions().fit([np.array([1, 2, 1, 3]), np.array([1, 2, 4])], n_tracks=4)
    >>> s = model.score([np.array([4, 1]), np.array([], dtype=int)]).astype(float)
    >>> np.round(s[0, 1:], 3).tolist()  # after 1: 2 twice, 3 once
    [0.0, 0.667, 0.333, 0.0]
    >>> np.argsort(-s[1])[:2].tolist()  # empty history: most popular first (1, then 2)
    [1, 2]
    >>> model = Transitions().fit([np.array([1, 2, 1, 3]), np.array([1, 2, 4])], n_tracks=5)
    >>> np.round(model.score([np.array([1, 5])]).astype(float)[0, 1:4], 3).tolist()  # 5: unplayed
    [0.0, 0.667, 0.333]
    """

    name = "transitions"

    def __init__(self, backoff_weight: float = DEFAULT_BACKOFF):
        self.backoff_weight = check_backoff(backoff_weight)
        self.counts_: np.ndarray | None = None
        self.transitions_: sp.csr_matrix | None = None

    def fit(self, sequences: Sequence[np.ndarray], n_tracks: int) -> Transitions:
        """Build the row-normalised (n_tracks + 1, n_tracks + 1) sparse transition matrix."""
        flat = flatten(sequences, n_tracks, "sequences")
        self.counts_ = popularity(flat, n_tracks)
        shape = (n_tracks + 1, n_tracks + 1)
        if len(flat.values) < 2:
            self.transitions_ = sp.csr_matrix(shape, dtype=np.float32)
            return self
        src, dst = offset_pairs(flat, 1)
        counts = sp.csr_matrix((np.ones(len(src), np.float32), (src, dst)), shape=shape)
        counts.sum_duplicates()
        out_degree = np.asarray(counts.sum(axis=1)).ravel()
        inverse = np.divide(1.0, out_degree, out=np.zeros_like(out_degree), where=out_degree > 0)
        self.transitions_ = sp.csr_matrix(sp.diags(inverse.astype(np.float32)) @ counts)
        return self

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Scores, (B, n_tracks + 1) float32, column 0 = -inf."""
        if self.counts_ is None or self.transitions_ is None:
            raise RuntimeError("call fit() before score()")
        n_tracks = len(self.counts_) - 1
        flat = flatten(histories, n_tracks, "histories")
        last = np.zeros(flat.n_rows, dtype=np.int64)  # row 0 of the matrix is empty
        played = self.counts_[flat.values] > 0
        rows, ages, values = flat.row_ids[played], flat.ages[played], flat.values[played]
        youngest = np.lexsort((ages, rows))  # by row, then by age: each row's latest first
        rows, values = rows[youngest], values[youngest]
        first = np.r_[True, rows[1:] != rows[:-1]] if len(rows) else np.zeros(0, dtype=bool)
        last[rows[first]] = values[first]
        return with_backoff(self.transitions_[last], self.counts_, self.backoff_weight)
