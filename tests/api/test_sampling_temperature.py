"""Sampling a playlist at any finite temperature > 0: no overflow at either end of the range."""

from __future__ import annotations

import numpy as np
import pytest

from segue.export.request_bounds import sampling_weights
from tests.api.conftest import ids


@pytest.mark.parametrize("temperature", [1e-300, 1e-45, 5e-324, 1e39, 1e300])
def test_extreme_temperatures_give_a_playlist(rec, temperature):
    got = rec.continue_playlist(ids(1, 2), n=5, temperature=temperature, seed=0)
    assert len(got) == 5


def test_a_tiny_temperature_is_greedy(rec):
    greedy = rec.continue_playlist(ids(1, 2), n=5)["track_id"].tolist()
    cold = rec.continue_playlist(ids(1, 2), n=5, temperature=1e-300, seed=0)
    assert cold["track_id"].tolist() == greedy


def test_sampling_weights_are_a_stable_softmax():
    scores = np.array([2.0, 1.0, -np.inf, 0.5], dtype=np.float32)
    weights = sampling_weights(scores, 1.0)
    want = np.exp(np.array([2.0, 1.0, 0.5]) - 2.0)
    np.testing.assert_allclose(weights[[0, 1, 3]], want)
    assert weights[2] == 0 and weights.dtype == np.float64
    assert sampling_weights(scores, 1e-300).tolist() == [1.0, 0.0, 0.0, 0.0]
    assert sampling_weights(scores, 1e300).tolist() == [1.0, 1.0, 0.0, 1.0]
