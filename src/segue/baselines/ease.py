"""EASE: a closed-form item-to-item linear model (Steck, "Embarrassingly Shallow Autoencoders
for Sparse Data", WWW 2019).

With ``X`` the binary (listener x track) matrix of training histories, EASE solves
``min_B ||X - X B||^2 + l2 ||B||^2`` subject to ``diag(B) = 0``. The solution is closed form:
``P = (X^T X + l2 I)^-1`` and ``B[i, j] = -P[i, j] / P[j, j]`` off the diagonal. A history
``h`` (binary row over the tracks) scores ``h @ B``.

How this departs from the paper:

- The zero diagonal means a track never recommends itself: EASE scores new tracks only, and
  the listener's own replays come from :class:`PersonalPopularity`-like baselines. Music is
  full of replays, so this is a weakness of the method here, not of the implementation.
- ``B`` is a dense (n x n) matrix of the tracks played in training, inverted in float64: memory
  grows as ``n^2``. Above ``max_items`` played tracks ``fit`` refuses with the memory it would
  need, before any work, unless ``top_items`` restricts the model to the most played tracks
  (the others then score by the popularity backoff alone).
- Histories score through the same sparse history matrix as the other baselines, so an empty
  history ranks by popularity.
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
from segue.checks import check_integer, check_number

DEFAULT_MAX_ITEMS = 20_000
"""Largest item-item model ``fit`` builds: 20,000 tracks take 3.2 GB for the float64 inverse."""


def modelled_items(counts: np.ndarray, top_items: int | None) -> np.ndarray:
    """Indices of the tracks the model covers: all played ones, or the ``top_items`` most played.

    Ties in play count keep the lower index first, so the choice is deterministic.

    >>> modelled_items(np.array([0.0, 3, 0, 5, 1]), None).tolist()
    [1, 3, 4]
    >>> modelled_items(np.array([0.0, 3, 0, 5, 1]), 2).tolist()
    [1, 3]
    """
    played = np.flatnonzero(counts > 0)
    if top_items is None or top_items >= len(played):
        return played
    order = np.argsort(-counts[played], kind="stable")[:top_items]
    return np.sort(played[order])


def ease_weights(gram: np.ndarray, l2: float) -> np.ndarray:
    """The EASE item-item matrix from a Gram matrix, (n, n) float64 with a zero diagonal.

    Args:
        gram: ``X^T X``, (n, n), symmetric.
        l2: Ridge penalty, > 0.

    >>> np.round(ease_weights(np.array([[2.0, 1.0], [1.0, 2.0]]), 1.0), 4).tolist()
    [[0.0, 0.3333], [0.3333, 0.0]]
    """
    regularised = gram.astype(np.float64, copy=True)
    regularised[np.diag_indices_from(regularised)] += l2
    inverse = np.linalg.inv(regularised)
    weights = -inverse / np.diag(inverse)[None, :]  # column j divided by P[j, j]
    np.fill_diagonal(weights, 0.0)
    return weights


class EASE:
    """Closed-form linear item-to-item model over binary listening histories.

    Args:
        l2: Ridge penalty of the regression (choose it on validation:
            :func:`segue.baselines.selection.choose_on_validation`).
        max_items: Largest number of modelled tracks; more is a ``ValueError`` raised before
            any work (the model is a dense ``n x n`` float matrix).
        top_items: Model only the this many most played training tracks (None: every played
            one). Set it to fit a catalogue larger than ``max_items``.
        backoff_weight: Weight of the normalised global popularity (orders unscored tracks).

    >>> seqs = [np.array([1, 2]), np.array([1, 2]), np.array([2, 3])]
    >>> model = EASE(l2=1.0).fit(seqs, n_tracks=3)
    >>> np.round(model.weights_[0].astype(float), 4).tolist()  # row of track 1: with 2, against 3
    [0.0, 0.6667, -0.25]
    >>> np.argsort(-model.score([np.array([1])])[0])[:3].tolist()  # never itself: 1 scores 0
    [2, 1, 3]
    """

    name = "ease"

    def __init__(
        self,
        l2: float = 500.0,
        max_items: int = DEFAULT_MAX_ITEMS,
        top_items: int | None = None,
        backoff_weight: float = DEFAULT_BACKOFF,
    ):
        self.l2 = check_number("l2", l2, low=0.0, low_open=True)
        self.max_items = check_integer("max_items", max_items, minimum=1)
        self.top_items = (
            None if top_items is None else check_integer("top_items", top_items, minimum=1)
        )
        self.backoff_weight = check_backoff(backoff_weight)
        self.counts_: np.ndarray | None = None
        self.items_: np.ndarray | None = None  # (n,) modelled vocabulary indices
        self.weights_: np.ndarray | None = None  # (n, n) float32

    def fit(self, sequences: Sequence[np.ndarray], n_tracks: int) -> EASE:
        """Solve for the (n, n) item-item weights of the n modelled tracks."""
        flat = flatten(sequences, n_tracks, "sequences")
        self.counts_ = popularity(flat, n_tracks)
        items = modelled_items(self.counts_, self.top_items)
        if len(items) > self.max_items:
            gigabytes = 2 * 8 * len(items) ** 2 / 1e9  # the Gram matrix and its inverse
            raise ValueError(
                f"EASE would model {len(items):,} played tracks, above max_items="
                f"{self.max_items:,} (a dense {len(items):,}^2 inverse, about {gigabytes:.1f} "
                "GB): set top_items to model only the most played tracks, or raise max_items"
            )
        column = np.full(n_tracks + 1, -1, dtype=np.int64)
        column[items] = np.arange(len(items))
        keep = column[flat.values] >= 0
        users = sp.csr_matrix(
            (np.ones(int(keep.sum()), np.float64), (flat.row_ids[keep], column[flat.values[keep]])),
            shape=(flat.n_rows, len(items)),
        )
        users.sum_duplicates()
        users.data[:] = 1.0  # binary: a listener played the track or not
        gram = (users.T @ users).toarray()  # (n, n)
        self.items_ = items
        self.weights_ = ease_weights(gram, self.l2).astype(np.float32)
        return self

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Scores, (B, n_tracks + 1) float32, column 0 = -inf."""
        if self.counts_ is None or self.items_ is None or self.weights_ is None:
            raise RuntimeError("call fit() before score()")
        n_tracks = len(self.counts_) - 1
        flat = flatten(histories, n_tracks, "histories")
        seen = history_matrix(flat, n_tracks, binary=True)[:, self.items_]  # (B, n)
        evidence = np.zeros((flat.n_rows, n_tracks + 1), dtype=np.float32)
        evidence[:, self.items_] = seen @ self.weights_  # (B, n)
        return with_backoff(evidence, self.counts_, self.backoff_weight)
