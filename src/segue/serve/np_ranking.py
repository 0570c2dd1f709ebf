"""Top-k under a per-artist cap in numpy, for the torch-free (ONNX) backend.

The same contract as :func:`segue.evaluation.ranking.top_k` for one row: -inf scores are never
returned, ties go to the lower index, tracks of unknown artist (0) are never capped, and the
result is exact (more candidates are taken when the cap rejected too many).
"""

from __future__ import annotations

import numpy as np

from segue.export.largest import largest_candidates
from segue.export.runtime import top_indices

CANDIDATE_FACTOR = 4


def best(scores: np.ndarray, m: int) -> np.ndarray:
    """Indices of the (at most) m best finite scores of a (V,) row, best first.

    >>> best(np.array([-np.inf, 0.5, 2.0, -np.inf, 2.0]), 5).tolist()
    [2, 4, 1]
    """
    pool = largest_candidates(scores, m)  # (n,) ascending: every entry that can be in the m
    return pool[top_indices(scores[pool], m)]  # ascending pool: the same tie order


def capped(candidates: np.ndarray, artists: np.ndarray, cap: int) -> np.ndarray:
    """The candidates (best first) that are among the first ``cap`` of their artist.

    >>> capped(np.array([5, 6, 7, 8]), np.array([0, 0, 0, 0, 0, 1, 1, 0, 1]), 1).tolist()
    [5, 7]
    """
    keep = np.ones(len(candidates), dtype=bool)
    seen: dict[int, int] = {}
    for i, artist in enumerate(artists[candidates].tolist()):
        if artist == 0:
            continue
        seen[artist] = seen.get(artist, 0) + 1
        keep[i] = seen[artist] <= cap
    return candidates[keep]


def top_k(scores: np.ndarray, k: int, artists: np.ndarray, cap: int | None) -> np.ndarray:
    """The k best eligible indices of a masked (V,) row under the per-artist cap, best first.

    Args:
        scores: Scores with -inf for tracks that may not be returned, (V,).
        k: List length (>= 1).
        artists: Artist index of each track, (V,) int64; 0 is unknown.
        cap: At most this many tracks per artist, or None.

    >>> s = np.array([-np.inf, 5.0, 4.0, 3.0, 2.0])
    >>> top_k(s, 2, np.array([0, 1, 1, 2, 2]), cap=1).tolist()
    [1, 3]
    """
    if cap is None:
        return best(scores, k)
    m = CANDIDATE_FACTOR * k
    while True:
        candidates = best(scores, m)
        kept = capped(candidates, artists, cap)
        if len(kept) >= k or len(candidates) < m or m >= len(scores):
            return kept[:k]
        m *= CANDIDATE_FACTOR
