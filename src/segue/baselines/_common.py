"""Helpers shared by the baselines: input checks, popularity, sparse history and pair matrices.

Sequences and histories are lists of 1-D integer arrays of vocabulary indices (1..n_tracks, in
time order). They are flattened once into ``values`` (all indices, concatenated), ``row_ids``
(which array each value came from) and ``ages`` (0 for the last value of its array, 1 for the
one before, ...), so every later step is a vectorised numpy / scipy.sparse operation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from segue.checks import check_number

DEFAULT_BACKOFF = 1e-6
"""Weight of the [0, 1]-normalised global popularity added to every score: a tie-breaker that
ranks the items without evidence by popularity, far below any item with evidence."""


def check_backoff(value: object) -> float:
    """``backoff_weight`` as a finite number >= 0 (0: no popularity tie-breaker), or an error
    naming it."""
    return check_number("backoff_weight", value, low=0.0)


@dataclass(frozen=True)
class Flat:
    """A list of index arrays flattened to aligned 1-D arrays (N = total length).

    Args:
        values: Vocabulary indices, (N,) int64.
        row_ids: Which array each value comes from, (N,) int64.
        ages: Position counted from the end of its array (0 = last), (N,) int64.
        n_rows: Number of arrays.
    """

    values: np.ndarray
    row_ids: np.ndarray
    ages: np.ndarray
    n_rows: int


def flatten(arrays: Sequence[np.ndarray], n_tracks: int, what: str) -> Flat:
    """Flatten index arrays, checking that every index is in 1..n_tracks.

    >>> f = flatten([np.array([3, 1]), np.array([], dtype=int), np.array([2])], 3, "histories")
    >>> f.values.tolist(), f.row_ids.tolist(), f.ages.tolist()
    ([3, 1, 2], [0, 0, 2], [1, 0, 0])
    """
    parts = [np.asarray(a).ravel() for a in arrays]
    for p in parts:
        if p.size and not np.issubdtype(p.dtype, np.integer):
            raise ValueError(f"{what} must hold integer index arrays, got {p.dtype}")
    lengths = np.array([len(p) for p in parts], dtype=np.int64)
    values = np.concatenate([np.zeros(0, np.int64), *(p.astype(np.int64) for p in parts)])
    if values.size and (values.min() < 1 or values.max() > n_tracks):
        raise ValueError(
            f"{what} must hold indices in 1..{n_tracks} (0 is padding), "
            f"got [{values.min()}, {values.max()}]"
        )
    row_ids = np.repeat(np.arange(len(parts), dtype=np.int64), lengths)
    ends = np.cumsum(lengths)
    ages = ends[row_ids] - 1 - np.arange(len(values), dtype=np.int64)
    return Flat(values=values, row_ids=row_ids, ages=ages, n_rows=len(parts))


def popularity(flat: Flat, n_tracks: int) -> np.ndarray:
    """Play count of every index, (n_tracks + 1,) float64; entry 0 is 0."""
    return np.bincount(flat.values, minlength=n_tracks + 1).astype(np.float64)


def history_matrix(
    flat: Flat,
    n_tracks: int,
    window: int | None = None,
    decay: float | None = None,
    binary: bool = False,
) -> sp.csr_matrix:
    """Sparse (B, n_tracks + 1) float32 matrix of recency-weighted history counts.

    Args:
        flat: Flattened histories.
        n_tracks: Catalogue size.
        window: Keep only the last ``window`` plays of each history; None keeps all.
        decay: A play of age ``a`` (0 = last) weighs ``decay ** a``; None weighs every play 1.
        binary: Set every non-zero entry to 1 (histories as sets).

    >>> m = history_matrix(flatten([np.array([1, 2, 1])], 2, "h"), 2, decay=0.5)
    >>> m.toarray().tolist()  # track 1 at ages 0 and 2: 1 + 0.25; track 2 at age 1: 0.5
    [[0.0, 1.25, 0.5]]
    """
    keep = flat.ages < window if window is not None else np.ones(len(flat.values), dtype=bool)
    ages = flat.ages[keep]
    weights = np.ones(len(ages)) if decay is None else np.power(float(decay), ages)
    matrix = sp.csr_matrix(
        (weights.astype(np.float32), (flat.row_ids[keep], flat.values[keep])),
        shape=(flat.n_rows, n_tracks + 1),
        dtype=np.float32,
    )
    matrix.sum_duplicates()
    if binary:
        matrix.data[:] = 1.0
    return matrix


def offset_pairs(flat: Flat, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (earlier, later) of plays ``offset`` positions apart within the same sequence.

    >>> offset_pairs(flatten([np.array([1, 2, 3]), np.array([4, 5])], 5, "s"), 1)
    (array([1, 2, 4]), array([2, 3, 5]))
    """
    same = flat.row_ids[:-offset] == flat.row_ids[offset:]
    return flat.values[:-offset][same], flat.values[offset:][same]


def with_backoff(
    evidence: sp.spmatrix | np.ndarray, counts: np.ndarray, weight: float
) -> np.ndarray:
    """Dense float32 scores = evidence + weight * counts / max(counts), column 0 = -inf.

    Args:
        evidence: Per-row scores, (B, n_tracks + 1), sparse or dense.
        counts: Global play counts, (n_tracks + 1,).
        weight: Weight of the normalised popularity.

    Returns:
        (B, n_tracks + 1) float32.
    """
    dense = np.array(evidence) if isinstance(evidence, np.ndarray) else evidence.toarray()
    scores = np.asarray(dense, dtype=np.float32)
    if weight:
        scores += (weight * counts / max(counts.max(), 1.0)).astype(np.float32)
    scores[:, 0] = -np.inf
    return scores
