"""Accuracy figures of a set of ranks, as one flat dict (what logs and tables print)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from segue.evaluation.ranking_metrics import hit_rate, mrr, ndcg


def metric_summary(ranks: np.ndarray, ks: Iterable[int] = (10, 20, 50)) -> dict[str, float]:
    """NDCG@K, HR@K and MRR@K for each K, plus the number of points.

    >>> {k: round(v, 4) for k, v in metric_summary(np.array([1, 3, 100]), ks=[10]).items()}
    {'ndcg@10': 0.5, 'hr@10': 0.6667, 'mrr@10': 0.4444, 'points': 3}
    """
    out: dict[str, float] = {}
    for k in ks:
        out[f"ndcg@{k}"] = ndcg(ranks, k)
        out[f"hr@{k}"] = hit_rate(ranks, k)
        out[f"mrr@{k}"] = mrr(ranks, k)
    out["points"] = len(ranks)
    return out
