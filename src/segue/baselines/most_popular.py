"""MostPopular: every listener gets the tracks with the most training plays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from segue.baselines._common import flatten, popularity


class MostPopular:
    """Score = global training play count; the history is ignored.

    >>> model = MostPopular().fit([np.array([1, 2, 2]), np.array([2, 3])], n_tracks=3)
    >>> model.score([np.array([1])]).tolist()
    [[-inf, 1.0, 3.0, 1.0]]
    """

    name = "most_popular"

    def __init__(self) -> None:
        self.counts_: np.ndarray | None = None

    def fit(self, sequences: Sequence[np.ndarray], n_tracks: int) -> MostPopular:
        """Count plays of each track, (n_tracks + 1,)."""
        self.counts_ = popularity(flatten(sequences, n_tracks, "sequences"), n_tracks)
        return self

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """The play counts for every history, (B, n_tracks + 1) float32, column 0 = -inf."""
        if self.counts_ is None:
            raise RuntimeError("call fit() before score()")
        flatten(histories, len(self.counts_) - 1, "histories")
        scores = np.tile(self.counts_.astype(np.float32), (len(histories), 1))
        scores[:, 0] = -np.inf
        return scores
