"""Accuracy figures of a set of ranks, as one flat dict (what logs and tables print)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from segue.evaluation.ranking_metrics import hit_rate, mrr, ndcg

METRICS: dict[str, Callable[[np.ndarray, int], float]] = {"ndcg": ndcg, "hr": hit_rate, "mrr": mrr}
"""Every accuracy metric by name, each a function of (ranks, k): what :func:`metric_summary`
reports as ``<name>@<k>`` and what ``TrainerConfig.monitor`` may name. A new metric is a pure
function in :mod:`segue.evaluation.ranking_metrics` and one entry here."""


def metric_summary(ranks: np.ndarray, ks: Iterable[int] = (10, 20, 50)) -> dict[str, float]:
    """Every metric of :data:`METRICS` at each K, plus the number of points.

    >>> {k: round(v, 4) for k, v in metric_summary(np.array([1, 3, 100]), ks=[10]).items()}
    {'ndcg@10': 0.5, 'hr@10': 0.6667, 'mrr@10': 0.4444, 'points': 3}
    """
    out: dict[str, float] = {}
    for k in ks:
        for name, metric in METRICS.items():
            out[f"{name}@{k}"] = metric(ranks, k)
    out["points"] = len(ranks)
    return out
