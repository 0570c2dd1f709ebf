"""Accuracy metrics of next-track prediction, as pure functions of target ranks.

Each prediction point has exactly one target, so its metrics depend only on the target's
1-based rank in the full catalogue (see :func:`segue.evaluation.ranking.target_ranks`):

* ``hit@k``  = 1 if rank <= k else 0 (with one target, Recall@k equals HitRate@k);
* ``ndcg@k`` = 1 / log2(rank + 1) if rank <= k else 0 (the ideal DCG of one target is 1);
* ``rr@k``   = 1 / rank if rank <= k else 0 (its mean is MRR@k).

A rank of :data:`segue.evaluation.ranking.MISS` (target unknown at training time) is always a
miss. The ``point_*`` functions give the per-point values that
:func:`segue.evaluation.bootstrap.paired_bootstrap` compares; the others give their mean.
"""

from __future__ import annotations

import numpy as np


def point_hit(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-point hit@k: 1.0 where the target is in the top k.

    Args:
        ranks: 1-based ranks, (N,) int.
        k: Cut-off, >= 1.

    Returns:
        (N,) float64 of 0.0 and 1.0.

    >>> point_hit(np.array([1, 3, 11]), k=10).tolist()
    [1.0, 1.0, 0.0]
    """
    ranks = _check(ranks, k)
    return (ranks <= k).astype(np.float64)


def point_ndcg(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-point NDCG@k of a single target: 1 / log2(rank + 1) within the top k.

    Args:
        ranks: 1-based ranks, (N,) int.
        k: Cut-off, >= 1.

    Returns:
        (N,) float64 in [0, 1].

    >>> point_ndcg(np.array([1, 3, 11]), k=10).tolist()  # 1/log2(2), 1/log2(4), miss
    [1.0, 0.5, 0.0]
    """
    ranks = _check(ranks, k)
    hit = ranks <= k
    gains = np.zeros(len(ranks), dtype=np.float64)
    gains[hit] = 1.0 / np.log2(ranks[hit].astype(np.float64) + 1.0)
    return gains


def point_rr(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-point reciprocal rank within the top k.

    Args:
        ranks: 1-based ranks, (N,) int.
        k: Cut-off, >= 1.

    Returns:
        (N,) float64 in [0, 1].

    >>> point_rr(np.array([1, 4, 11]), k=10).tolist()
    [1.0, 0.25, 0.0]
    """
    ranks = _check(ranks, k)
    hit = ranks <= k
    rr = np.zeros(len(ranks), dtype=np.float64)
    rr[hit] = 1.0 / ranks[hit].astype(np.float64)
    return rr


def hit_rate(ranks: np.ndarray, k: int) -> float:
    """HitRate@k (= Recall@k with one target): share of points whose target is in the top k.

    >>> hit_rate(np.array([1, 3, 11, 20]), k=10)
    0.5
    """
    return float(point_hit(ranks, k).mean())


def ndcg(ranks: np.ndarray, k: int) -> float:
    """Mean NDCG@k over points, one target each.

    >>> ndcg(np.array([1, 3, 11, 20]), k=10)  # (1 + 0.5 + 0 + 0) / 4
    0.375
    """
    return float(point_ndcg(ranks, k).mean())


def mrr(ranks: np.ndarray, k: int) -> float:
    """MRR@k: mean reciprocal rank, 0 for targets outside the top k.

    >>> mrr(np.array([1, 2, 4, 11]), k=10)  # (1 + 0.5 + 0.25 + 0) / 4
    0.4375
    """
    return float(point_rr(ranks, k).mean())


def _check(ranks: np.ndarray, k: int) -> np.ndarray:
    ranks = np.asarray(ranks)
    if ranks.ndim != 1 or len(ranks) == 0:
        raise ValueError(f"ranks must be a non-empty (N,) array, got shape {ranks.shape}")
    if not np.issubdtype(ranks.dtype, np.integer):
        raise ValueError(f"ranks must be integers, got {ranks.dtype}")
    if ranks.min() < 1:
        raise ValueError(f"ranks are 1-based, got a minimum of {ranks.min()}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return ranks
