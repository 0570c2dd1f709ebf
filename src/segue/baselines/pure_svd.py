"""PureSVD: a truncated SVD of the listener x track matrix (Cremonesi et al., RecSys 2010).

``X ~ U S V^T`` keeps the ``n_components`` largest singular values of the (listener x track)
matrix of training histories. A history ``h`` (a row over the tracks) is folded in by
projection, ``h V``, and scored ``h V V^T``: for a training listener that is exactly their row
of the rank-k reconstruction ``U S V^T``, and new listeners need no refit. The factorisation is
scikit-learn's :class:`~sklearn.decomposition.TruncatedSVD` (randomized, seeded), which works on
the sparse matrix directly, so memory is the matrix plus ``n_tracks x n_components`` floats.

How this departs from the paper: rows are binary (played or not) by default, like EASE, with
play counts as an option; unlike EASE the reconstruction keeps the diagonal, so replays of
the listener's own tracks score too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD

from segue.baselines._common import (
    DEFAULT_BACKOFF,
    check_backoff,
    flatten,
    history_matrix,
    popularity,
    with_backoff,
)
from segue.checks import check_flag, check_integer

RANK_TOLERANCE = 1e-6
"""Singular values below this share of the largest are numerical zeros (rank deficiency)."""


class PureSVD:
    """Rank-k SVD of the binary listener x track matrix; scores ``h V V^T``.

    Args:
        n_components: Rank k of the factorisation, below the catalogue size; fewer are kept
            when the matrix has a lower rank (``n_components_`` after ``fit``).
        binary: Rows are "played or not" (True) or play counts (False).
        n_iter: Power iterations of the randomized SVD (more = closer to the exact one).
        seed: Seed of the randomized SVD.
        backoff_weight: Weight of the normalised global popularity (orders unscored tracks).

    >>> seqs = [np.array([1, 2]), np.array([1, 2]), np.array([3, 4]), np.array([3, 4])]
    >>> model = PureSVD(n_components=2).fit(seqs, n_tracks=4)
    >>> np.argsort(-model.score([np.array([1])])[0])[:2].tolist()  # 1's block: 1 and 2
    [1, 2]
    """

    name = "pure_svd"

    def __init__(
        self,
        n_components: int = 64,
        binary: bool = True,
        n_iter: int = 7,
        seed: int = 0,
        backoff_weight: float = DEFAULT_BACKOFF,
    ):
        self.n_components = check_integer("n_components", n_components, minimum=1)
        self.binary = bool(check_flag("binary", binary))
        self.n_iter = check_integer("n_iter", n_iter, minimum=1)
        self.seed = check_integer("seed", seed, minimum=0)
        self.backoff_weight = check_backoff(backoff_weight)
        self.counts_: np.ndarray | None = None
        self.item_factors_: np.ndarray | None = None  # (n_tracks + 1, k) float32, V
        self.n_components_ = 0

    def fit(self, sequences: Sequence[np.ndarray], n_tracks: int) -> PureSVD:
        """Factorise the sparse (sequences x n_tracks + 1) matrix; keep the item factors V."""
        flat = flatten(sequences, n_tracks, "sequences")
        self.counts_ = popularity(flat, n_tracks)
        if self.n_components >= n_tracks:
            raise ValueError(
                f"n_components={self.n_components} must be below the catalogue size ({n_tracks})"
            )
        matrix = history_matrix(flat, n_tracks, binary=self.binary)  # (U, n_tracks + 1)
        svd = TruncatedSVD(
            n_components=self.n_components,
            algorithm="randomized",
            n_iter=self.n_iter,
            random_state=self.seed,
        )
        with np.errstate(invalid="ignore", divide="ignore"):  # its variance ratio of 1 row
            svd.fit(matrix)
        # A matrix of rank r < k has k - r singular values of ~0 whose directions are arbitrary:
        # keep only the real ones, so they add no noise to the scores (n_components_ says how many).
        values = svd.singular_values_
        real = values > RANK_TOLERANCE * max(float(values.max(initial=0.0)), 1e-30)
        self.n_components_ = int(real.sum())
        factors = svd.components_[real].T  # (V, k')
        self.item_factors_ = np.ascontiguousarray(factors, dtype=np.float32)
        return self

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Scores, (B, n_tracks + 1) float32, column 0 = -inf."""
        if self.counts_ is None or self.item_factors_ is None:
            raise RuntimeError("call fit() before score()")
        n_tracks = len(self.counts_) - 1
        flat = flatten(histories, n_tracks, "histories")
        rows = history_matrix(flat, n_tracks, binary=self.binary)  # (B, V)
        projected = sp.csr_matrix(rows @ self.item_factors_)  # (B, k)
        # scipy's sparse x dense product computes each row on its own, so a history scores the
        # same whatever batch it is in (a BLAS matmul blocks differently by batch size).
        scores = projected @ self.item_factors_.T  # (B, V)
        return with_backoff(np.asarray(scores), self.counts_, self.backoff_weight)
