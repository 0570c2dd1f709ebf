import numpy as np
import pytest

from segue.baselines import EASE
from segue.baselines.ease import ease_weights

# Listeners as sets: {1, 2} twice, {2, 3}, {4}. Gram (tracks 1..4) = [[2, 2, 0, 0],
# [2, 3, 1, 0], [0, 1, 1, 0], [0, 0, 0, 1]].
SEQUENCES = [np.array([1, 2, 1]), np.array([2, 1]), np.array([3, 2]), np.array([4])]


def naive_ease(sequences: list[np.ndarray], n_tracks: int, l2: float) -> np.ndarray:
    """The regression solved column by column: B[:, j] = argmin ||X_j - X_{-j} b||^2 + l2 |b|^2."""
    x = np.zeros((len(sequences), n_tracks))
    for u, s in enumerate(sequences):
        x[u, s - 1] = 1.0
    weights = np.zeros((n_tracks, n_tracks))
    for j in range(n_tracks):
        others = [i for i in range(n_tracks) if i != j]
        a = x[:, others]
        b = np.linalg.solve(a.T @ a + l2 * np.eye(len(others)), a.T @ x[:, j])
        weights[others, j] = b
    return weights


def test_closed_form_equals_the_constrained_regression() -> None:
    model = EASE(l2=0.7, backoff_weight=0.0).fit(SEQUENCES, n_tracks=4)
    np.testing.assert_allclose(model.weights_, naive_ease(SEQUENCES, 4, 0.7), atol=1e-5)
    assert model.items_.tolist() == [1, 2, 3, 4]


def test_hand_checked_two_by_two() -> None:
    # G + I = [[3, 1], [1, 3]], P = [[3, -1], [-1, 3]] / 8: B[0, 1] = -P[0, 1] / P[1, 1] = 1/3.
    np.testing.assert_allclose(
        ease_weights(np.array([[2.0, 1.0], [1.0, 2.0]]), 1.0), [[0, 1 / 3], [1 / 3, 0]]
    )


def test_scores_are_history_times_weights_and_never_self() -> None:
    model = EASE(l2=0.7, backoff_weight=0.0).fit(SEQUENCES, n_tracks=4)
    scores = model.score([np.array([1, 1, 3])])[0]
    expected = model.weights_[0] + model.weights_[2]  # binary history {1, 3}
    np.testing.assert_allclose(scores[1:], expected, rtol=1e-6)
    assert model.weights_.diagonal().tolist() == [0, 0, 0, 0]


def test_top_items_keeps_the_most_played_and_the_rest_backs_off() -> None:
    model = EASE(l2=0.7, top_items=2).fit(SEQUENCES, n_tracks=5)
    assert model.items_.tolist() == [1, 2]  # 3 plays each; 3 and 4 once, 5 never
    scores = model.score([np.array([1])])[0]
    assert scores[2] > scores[3] > scores[5]  # modelled neighbour, then backoff by plays


def test_a_catalogue_above_max_items_is_refused_before_any_work() -> None:
    with pytest.raises(ValueError, match=r"4 played tracks, above max_items=3.*top_items"):
        EASE(max_items=3).fit(SEQUENCES, n_tracks=4)
    assert EASE(max_items=3, top_items=3).fit(SEQUENCES, n_tracks=4).items_.tolist() == [1, 2, 3]


def test_bad_settings_raise() -> None:
    with pytest.raises(ValueError, match="l2"):
        EASE(l2=0.0)
    with pytest.raises(ValueError, match="top_items"):
        EASE(top_items=0)
