"""PersonalPopularity: the listener's own most-played tracks, then the global most popular."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from segue.baselines._common import (
    DEFAULT_BACKOFF,
    check_backoff,
    flatten,
    history_matrix,
    popularity,
    with_backoff,
)
from segue.checks import check_number


class PersonalPopularity:
    """Score = (recency-weighted) play count in the history + a small global-popularity backoff.

    A play of age ``a`` (0 = the last one) weighs ``decay ** a``, or 1 when ``decay`` is None.
    The backoff, ``backoff_weight * count / max(count)``, ranks every track the listener never
    played by global popularity, below the played ones (unless ``decay`` has shrunk a very old
    play's weight under ``backoff_weight``).

    Args:
        decay: Recency decay in (0, 1], or None for plain counts.
        backoff_weight: Weight of the normalised global popularity.

    >>> model = PersonalPopularity().fit([np.array([1, 2, 2, 3, 3, 3])], n_tracks=4)
    >>> s = model.score([np.array([1, 2, 1])])
    >>> np.argsort(-s[0])[:4].tolist()  # 1 played twice, 2 once, then 3 (popular), then 4
    [1, 2, 3, 4]
    """

    name = "personal_popularity"

    def __init__(self, decay: float | None = None, backoff_weight: float = DEFAULT_BACKOFF):
        if decay is not None:  # None: plain counts
            decay = check_number("decay", decay, low=0.0, high=1.0, low_open=True)
        self.decay = decay
        self.backoff_weight = check_backoff(backoff_weight)
        self.counts_: np.ndarray | None = None

    def fit(self, sequences: Sequence[np.ndarray], n_tracks: int) -> PersonalPopularity:
        """Count global plays for the backoff."""
        self.counts_ = popularity(flatten(sequences, n_tracks, "sequences"), n_tracks)
        return self

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Scores, (B, n_tracks + 1) float32, column 0 = -inf."""
        if self.counts_ is None:
            raise RuntimeError("call fit() before score()")
        n_tracks = len(self.counts_) - 1
        own = history_matrix(flatten(histories, n_tracks, "histories"), n_tracks, decay=self.decay)
        return with_backoff(own, self.counts_, self.backoff_weight)
