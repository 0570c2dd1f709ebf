import math

import numpy as np
import pytest

from segue.evaluation.beyond_accuracy import (
    coverage,
    intra_list_artist_diversity,
    mean_log_popularity,
    novelty,
    repeat_share,
)

# Tracks 1..6; artists: 1, 2 -> a; 3 -> b; 4 -> c; 5 -> unknown; 6 -> c.
ARTIST = np.array([0, 1, 1, 2, 3, 0, 3])
COUNTS = np.array([0, 7, 3, 0, 0, 0, 0])  # 10 training plays
LISTS = np.array([[1, 2, 3], [4, 6, 0], [5, 0, 0]])


def test_coverage() -> None:
    assert coverage(LISTS, n_tracks=6) == pytest.approx(6 / 6)
    assert coverage(LISTS[:1], n_tracks=6) == pytest.approx(3 / 6)
    assert coverage(np.zeros((2, 3), dtype=int), n_tracks=6) == 0.0


def test_intra_list_artist_diversity() -> None:
    # List 0: pairs (1,2) same, (1,3), (2,3) differ -> 2/3; list 1: (4,6) same -> 0;
    # list 2: a single item of unknown artist -> no pair, left out of the mean.
    assert intra_list_artist_diversity(LISTS, ARTIST) == pytest.approx((2 / 3 + 0) / 2)
    assert math.isnan(intra_list_artist_diversity(LISTS[2:], ARTIST))


def test_mean_log_popularity() -> None:
    per_list = [(math.log(8) + math.log(4)) / 3, 0.0, 0.0]
    assert mean_log_popularity(LISTS, COUNTS) == pytest.approx(np.mean(per_list))


def test_novelty() -> None:
    p = (COUNTS + 1) / (10 + 6)
    info = -np.log2(p)
    per_list = [(info[1] + info[2] + info[3]) / 3, info[4], info[5]]
    assert novelty(LISTS, COUNTS) == pytest.approx(np.mean(per_list))
    assert novelty(np.array([[3]]), COUNTS) > novelty(np.array([[1]]), COUNTS)


def test_repeat_share() -> None:
    histories = [np.array([3, 3, 1]), np.array([], dtype=np.int64), np.array([5])]
    assert repeat_share(LISTS, histories) == pytest.approx((2 / 3 + 0 + 1) / 3)
    with pytest.raises(ValueError, match="histories"):
        repeat_share(LISTS, histories[:2])


def test_bad_lists_raise() -> None:
    with pytest.raises(ValueError, match="top_k"):
        coverage(np.array([1, 2]), n_tracks=3)
    with pytest.raises(ValueError, match="top_k"):
        coverage(np.array([[1.0]]), n_tracks=3)
