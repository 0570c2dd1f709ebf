import numpy as np
import pytest

from segue.evaluation.ranking import MISS
from segue.evaluation.ranking_metrics import (
    hit_rate,
    mrr,
    ndcg,
    point_hit,
    point_ndcg,
    point_rr,
)

RANKS = np.array([1, 2, 3, 10, 11, MISS])


def test_hand_computed_values() -> None:
    assert hit_rate(RANKS, 10) == pytest.approx(4 / 6)
    assert hit_rate(RANKS, 1) == pytest.approx(1 / 6)
    assert ndcg(RANKS, 10) == pytest.approx(
        (1 + 1 / np.log2(3) + 1 / np.log2(4) + 1 / np.log2(11)) / 6
    )
    assert mrr(RANKS, 10) == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 10) / 6)
    assert mrr(RANKS, 2) == pytest.approx((1 + 1 / 2) / 6)


def test_miss_is_always_a_miss() -> None:
    miss = np.array([MISS])
    for point in (point_hit, point_ndcg, point_rr):
        assert point(miss, 10**9).tolist() == [0.0]


def test_per_point_means_are_the_metrics() -> None:
    for point, mean in ((point_hit, hit_rate), (point_ndcg, ndcg), (point_rr, mrr)):
        values = point(RANKS, 10)
        assert values.shape == RANKS.shape
        assert mean(RANKS, 10) == pytest.approx(values.mean())


@pytest.mark.parametrize(
    "ranks", [np.array([], dtype=int), np.array([0, 1]), np.array([1.0]), np.array([[1]])]
)
def test_bad_ranks_raise(ranks: np.ndarray) -> None:
    with pytest.raises(ValueError):
        hit_rate(ranks, 10)


def test_bad_k_raises() -> None:
    with pytest.raises(ValueError, match="k must be"):
        ndcg(np.array([1]), 0)
