import numpy as np
import pytest

from segue.evaluation.bootstrap import BootstrapResult, paired_bootstrap


def test_identical_models_have_no_difference() -> None:
    a = np.random.default_rng(0).random(500)
    result = paired_bootstrap(a, a.copy())
    assert result == BootstrapResult(mean_diff=0.0, low=0.0, high=0.0, p_value=1.0)


def test_same_distribution_is_not_significant() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.binomial(1, 0.3, 2000).astype(float), rng.binomial(1, 0.3, 2000).astype(float)
    result = paired_bootstrap(a, b, n_resamples=2000, seed=3)
    assert result.low < 0.0 < result.high
    assert result.p_value > 0.05


def test_known_shift_is_found() -> None:
    rng = np.random.default_rng(2)
    b = rng.normal(0.0, 1.0, 4000)
    a = b + rng.normal(0.1, 0.5, 4000)  # paired differences ~ N(0.1, 0.5^2)
    result = paired_bootstrap(a, b, n_resamples=2000)
    diff = a - b
    assert result.mean_diff == pytest.approx(diff.mean())
    half_width = 1.96 * diff.std() / np.sqrt(len(diff))  # the normal-theory interval
    assert result.low == pytest.approx(diff.mean() - half_width, abs=0.1 * half_width)
    assert result.high == pytest.approx(diff.mean() + half_width, abs=0.1 * half_width)
    assert result.low > 0.0
    assert result.p_value == pytest.approx(1 / 2001)  # no resample reaches 0


def test_deterministic_for_a_seed_and_a_sign_flip() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.random(300), rng.random(300)
    first, second = paired_bootstrap(a, b, seed=7), paired_bootstrap(a, b, seed=7)
    assert first == second
    flipped = paired_bootstrap(b, a, seed=7)
    assert flipped.mean_diff == pytest.approx(-first.mean_diff)
    assert flipped.low == pytest.approx(-first.high)
    assert flipped.p_value == pytest.approx(first.p_value)


def test_many_resamples_are_chunked() -> None:
    a = np.random.default_rng(5).random(50_000)
    result = paired_bootstrap(a, a - 0.01, n_resamples=200)
    assert result.mean_diff == pytest.approx(0.01)
    assert result.low == pytest.approx(0.01) and result.high == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("a", "b"),
    [(np.zeros(3), np.zeros(4)), (np.zeros(0), np.zeros(0)), (np.array([np.nan]), np.zeros(1))],
)
def test_bad_inputs_raise(a: np.ndarray, b: np.ndarray) -> None:
    with pytest.raises(ValueError):
        paired_bootstrap(a, b)


def test_one_point_per_cluster_is_the_point_bootstrap() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.random(400), rng.random(400)
    by_point = paired_bootstrap(a, b, seed=1)
    by_cluster = paired_bootstrap(a, b, seed=1, clusters=np.arange(400)[::-1])
    assert by_cluster.mean_diff == pytest.approx(by_point.mean_diff)
    assert by_cluster.low == pytest.approx(by_point.low)
    assert by_cluster.high == pytest.approx(by_point.high)


def test_correlated_points_get_the_cluster_level_interval() -> None:
    """60 listeners with 40 points each, whose differences share a listener effect: the
    interval is that of the 60 listener means, much wider than 2,400 independent points."""
    rng = np.random.default_rng(7)
    n_users, per_user = 60, 40
    effect = np.repeat(rng.normal(0.05, 0.3, n_users), per_user)
    diff = effect + rng.normal(0.0, 0.05, n_users * per_user)
    users = np.repeat(np.arange(n_users), per_user)
    b = rng.random(len(diff))
    clustered = paired_bootstrap(b + diff, b, n_resamples=4000, clusters=users)
    naive = paired_bootstrap(b + diff, b, n_resamples=4000)
    user_means = diff.reshape(n_users, per_user).mean(axis=1)
    half_width = 1.96 * user_means.std() / np.sqrt(n_users)
    assert clustered.high - clustered.low == pytest.approx(2 * half_width, rel=0.15)
    assert (clustered.high - clustered.low) > 4 * (naive.high - naive.low)


def test_unequal_clusters_resample_the_point_weighted_mean() -> None:
    # A listener with 3 points at +1 and one with 1 point at 0: observed mean 0.75; resamples
    # can only be 1 (first twice), 0 (second twice) or 0.75 (both).
    a, b = np.array([1.0, 1.0, 1.0, 0.0]), np.zeros(4)
    result = paired_bootstrap(a, b, n_resamples=500, clusters=np.array([7, 7, 7, 9]))
    assert result.mean_diff == 0.75
    assert {result.low, result.high} <= {0.0, 0.75, 1.0}


def test_clusters_of_another_length_raise() -> None:
    with pytest.raises(ValueError, match="one id per point"):
        paired_bootstrap(np.zeros(3), np.zeros(3), clusters=np.zeros(2))


def test_a_missing_cluster_id_is_one_cluster_of_its_own() -> None:
    # Points without a user id (NaN or None) are one more resampling unit, not an index error.
    a, b = np.array([1.0, 1.0, 1.0, 0.0]), np.zeros(4)
    for ids in (np.array([np.nan, np.nan, np.nan, 9.0]), np.array([None, None, None, "v"])):
        result = paired_bootstrap(a, b, n_resamples=500, clusters=ids)
        same = paired_bootstrap(a, b, n_resamples=500, clusters=np.array([7, 7, 7, 9]))
        assert result == same
