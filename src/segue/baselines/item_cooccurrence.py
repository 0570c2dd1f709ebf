"""ItemCooccurrence: tracks that co-occur, within a few plays, with the listener's recent tracks.

Two plays co-occur when at most ``window`` positions apart in the same training sequence. The
count matrix ``C`` (symmetric, diagonal dropped: repeats are PersonalPopularity's business) is
cosine-normalised by play counts, ``sim(i, j) = C[i, j] / sqrt(n_i n_j)``. A history's score
is ``sum_a decay**a * sim(h_a, .)`` over its last ``history_window`` plays (age ``a`` = 0 for
the last play), one sparse product for the whole batch.
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
    offset_pairs,
    popularity,
    with_backoff,
)
from segue.checks import check_integer, check_number


class ItemCooccurrence:
    """Item-to-item cosine co-occurrence within a window, summed over the recent history.

    Args:
        window: Largest distance, in plays, at which two training plays co-occur.
        history_window: Number of last history plays that contribute.
        decay: Weight ``decay ** age`` of a history play, in (0, 1].
        backoff_weight: Weight of the normalised global popularity (orders unscored tracks).

    >>> seqs = [np.array([1, 2, 3]), np.array([2, 4])]
    >>> model = ItemCooccurrence(window=1).fit(seqs, n_tracks=4)
    >>> s = model.score([np.array([2]), np.array([2, 1])]).astype(float)
    >>> np.round(s[0, 1:], 3).tolist()  # 1/sqrt(1*2) for tracks 1, 3 and 4
    [0.707, 0.0, 0.707, 0.707]
    >>> np.round(s[1, 1:], 3).tolist()  # track 2, at age 1, now weighs 0.8
    [0.566, 0.707, 0.566, 0.566]
    """

    name = "item_cooccurrence"

    def __init__(
        self,
        window: int = 5,
        history_window: int = 20,
        decay: float = 0.8,
        backoff_weight: float = DEFAULT_BACKOFF,
    ):
        self.window = check_integer("window", window, minimum=1)
        self.history_window = check_integer("history_window", history_window, minimum=1)
        self.decay = check_number("decay", decay, low=0.0, high=1.0, low_open=True)
        self.backoff_weight = check_backoff(backoff_weight)
        self.counts_: np.ndarray | None = None
        self.similarity_: sp.csr_matrix | None = None  # (V, V) float32

    def fit(self, sequences: Sequence[np.ndarray], n_tracks: int) -> ItemCooccurrence:
        """Build the cosine-normalised sparse (n_tracks + 1, n_tracks + 1) co-occurrence matrix."""
        flat = flatten(sequences, n_tracks, "sequences")
        self.counts_ = popularity(flat, n_tracks)
        pairs = [offset_pairs(flat, d) for d in range(1, self.window + 1)]
        src = np.concatenate([np.zeros(0, np.int64), *(p[0] for p in pairs)])
        dst = np.concatenate([np.zeros(0, np.int64), *(p[1] for p in pairs)])
        distinct = src != dst
        src, dst = src[distinct], dst[distinct]
        shape = (n_tracks + 1, n_tracks + 1)
        counts = sp.csr_matrix(
            (np.ones(2 * len(src), np.float32), (np.r_[src, dst], np.r_[dst, src])), shape=shape
        )
        counts.sum_duplicates()
        norm = np.sqrt(self.counts_).astype(np.float32)
        inverse = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0)
        scale = sp.diags(inverse)
        self.similarity_ = sp.csr_matrix(scale @ counts @ scale)
        return self

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Scores, (B, n_tracks + 1) float32, column 0 = -inf."""
        if self.counts_ is None or self.similarity_ is None:
            raise RuntimeError("call fit() before score()")
        n_tracks = len(self.counts_) - 1
        flat = flatten(histories, n_tracks, "histories")
        recent = history_matrix(flat, n_tracks, window=self.history_window, decay=self.decay)
        return with_backoff(recent @ self.similarity_, self.counts_, self.backoff_weight)
