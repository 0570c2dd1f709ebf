"""Offline evaluation: full-catalogue ranks, ranking and beyond-accuracy metrics, bootstrap."""

from segue.evaluation.beyond_accuracy import (
    coverage,
    intra_list_artist_diversity,
    mean_log_popularity,
    novelty,
    repeat_share,
)
from segue.evaluation.bootstrap import BootstrapResult, paired_bootstrap
from segue.evaluation.ranking import MISS, Ranked, target_ranks, top_k
from segue.evaluation.ranking_metrics import (
    hit_rate,
    mrr,
    ndcg,
    point_hit,
    point_ndcg,
    point_rr,
)

__all__ = [
    "MISS",
    "BootstrapResult",
    "Ranked",
    "coverage",
    "hit_rate",
    "intra_list_artist_diversity",
    "mean_log_popularity",
    "mrr",
    "ndcg",
    "novelty",
    "paired_bootstrap",
    "point_hit",
    "point_ndcg",
    "point_rr",
    "repeat_share",
    "target_ranks",
    "top_k",
]
