"""Beyond-accuracy metrics of top-k lists: coverage, artist diversity, popularity bias, repeats.

Every function takes the (B, k) vocabulary indices of :func:`segue.evaluation.ranking.top_k`.
Index 0 marks an empty slot (a row with fewer than k rankable items) and is ignored everywhere.
Per-list values are averaged over the lists that have a value (lists with no item, or no pair
of items for diversity, are left out of the mean).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def coverage(top_k: np.ndarray, n_tracks: int) -> float:
    """Catalogue coverage@k: share of the n_tracks tracks that appear in at least one list.

    Args:
        top_k: Recommended indices, (B, k); 0 is an empty slot.
        n_tracks: Catalogue size (indices 1..n_tracks).

    >>> coverage(np.array([[1, 2], [2, 3], [2, 0]]), n_tracks=10)
    0.3
    """
    top_k = _check_lists(top_k)
    recommended = np.unique(top_k)
    return float(np.count_nonzero(recommended) / n_tracks)


def intra_list_artist_diversity(top_k: np.ndarray, track_artist: np.ndarray) -> float:
    """Mean share of pairs of items in a list whose artists differ (binary-distance ILD).

    For one list of m items with known artists, ``1 - #same-artist pairs / #pairs`` over the
    m(m-1)/2 unordered pairs: 1.0 when every artist differs, 0.0 for a single-artist list.
    Items of unknown artist (artist index 0) are left out of the pairs.

    Args:
        top_k: Recommended indices, (B, k); 0 is an empty slot.
        track_artist: Artist index of each track index, (n_tracks + 1,); 0 = unknown.

    >>> artist = np.array([0, 1, 1, 2, 3])  # tracks 1, 2 by artist 1; 3 by 2; 4 by 3
    >>> intra_list_artist_diversity(np.array([[1, 3, 4]]), artist)  # 3 of 3 pairs differ
    1.0
    >>> round(intra_list_artist_diversity(np.array([[1, 2, 3]]), artist), 4)  # 2 of 3 differ
    0.6667
    """
    top_k = _check_lists(top_k)
    artists = np.asarray(track_artist)[top_k]  # (B, k)
    known = (top_k != 0) & (artists != 0)  # (B, k)
    pairs = known[:, :, None] & known[:, None, :]  # (B, k, k)
    pairs &= ~np.eye(top_k.shape[1], dtype=bool)
    same = pairs & (artists[:, :, None] == artists[:, None, :])
    n_pairs = pairs.sum(axis=(1, 2))
    has_pairs = n_pairs > 0
    if not has_pairs.any():
        return float("nan")
    return float(np.mean(1.0 - same.sum(axis=(1, 2))[has_pairs] / n_pairs[has_pairs]))


def mean_log_popularity(top_k: np.ndarray, counts: np.ndarray) -> float:
    """Popularity bias: mean of ``log(1 + training play count)`` over recommended items.

    Averaged per list, then over lists. Higher means more mainstream recommendations.

    Args:
        top_k: Recommended indices, (B, k); 0 is an empty slot.
        counts: Training play count of each track index, (n_tracks + 1,).

    >>> counts = np.array([0, 0, np.e - 1, np.e**2 - 1])
    >>> round(mean_log_popularity(np.array([[2, 3], [1, 0]]), counts), 6)  # mean(1.5, 0)
    0.75
    """
    top_k = _check_lists(top_k)
    values = np.log1p(np.asarray(counts, dtype=np.float64))[top_k]
    return _mean_per_list(values, top_k != 0)


def novelty(top_k: np.ndarray, counts: np.ndarray) -> float:
    """Mean self-information ``-log2 p(i)`` of recommended items; higher is more novel.

    ``p(i) = (count_i + 1) / (total + n_tracks)``: the add-one smoothed share of training plays,
    so never-played tracks have a finite novelty. Averaged per list, then over lists.

    Args:
        top_k: Recommended indices, (B, k); 0 is an empty slot.
        counts: Training play count of each track index, (n_tracks + 1,); counts[0] is ignored.

    >>> counts = np.array([0, 5, 1, 1])  # total 7 plays over 3 tracks: p = 6/10, 2/10, 2/10
    >>> round(novelty(np.array([[2, 3]]), counts), 4)  # -log2(0.2)
    2.3219
    """
    top_k = _check_lists(top_k)
    counts = np.asarray(counts, dtype=np.float64)
    n_tracks = len(counts) - 1
    p = (counts + 1.0) / (counts[1:].sum() + n_tracks)
    return _mean_per_list(-np.log2(p)[top_k], top_k != 0)


def repeat_share(top_k: np.ndarray, histories: Sequence[np.ndarray]) -> float:
    """Mean share of each list made of tracks the listener already played (in the history).

    Args:
        top_k: Recommended indices, (B, k); 0 is an empty slot.
        histories: B index arrays of what each listener played before the prediction point.

    >>> repeat_share(np.array([[1, 2, 3, 4], [5, 6, 0, 0]]), [np.array([2, 4, 9]), np.array([])])
    0.25
    """
    top_k = _check_lists(top_k)
    if len(histories) != len(top_k):
        raise ValueError(f"got {len(histories)} histories for {len(top_k)} lists")
    lengths = np.array([len(h) for h in histories])
    played = np.concatenate([np.zeros(0, np.int64), *(np.asarray(h, np.int64) for h in histories)])
    width = int(max(top_k.max(initial=0), played.max(initial=0))) + 1
    played_keys = np.repeat(np.arange(len(histories)), lengths) * width + played
    list_keys = np.arange(len(top_k))[:, None] * width + top_k  # (B, k)
    is_repeat = np.isin(list_keys, played_keys).astype(np.float64)
    return _mean_per_list(is_repeat, top_k != 0)


def _mean_per_list(values: np.ndarray, valid: np.ndarray) -> float:
    """Mean over lists of the mean of ``values`` over each list's valid slots, (B, k) both."""
    n_valid = valid.sum(axis=1)
    has_items = n_valid > 0
    if not has_items.any():
        return float("nan")
    per_list = np.where(valid, values, 0.0).sum(axis=1)[has_items] / n_valid[has_items]
    return float(per_list.mean())


def _check_lists(top_k: np.ndarray) -> np.ndarray:
    top_k = np.asarray(top_k)
    if top_k.ndim != 2 or not np.issubdtype(top_k.dtype, np.integer):
        raise ValueError(f"top_k must be a (B, k) integer array, got {top_k.dtype} {top_k.shape}")
    if top_k.size and top_k.min() < 0:
        raise ValueError("top_k indices must be >= 0")
    return top_k
