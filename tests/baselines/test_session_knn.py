import numpy as np

from segue.baselines import SessionKNN

# Sequence order is recency: S3 is the most recent.
SEQUENCES = [np.array([1, 2, 3]), np.array([1, 4]), np.array([5, 6]), np.array([2, 3, 7])]
S0, S1, S3 = 2 / np.sqrt(6), 1 / np.sqrt(4), 1 / np.sqrt(6)  # cosine with the set {1, 2}


def evidence(model: SessionKNN, history: list[int]) -> np.ndarray:
    """Scores of tracks 1..7 without the popularity backoff."""
    model.backoff_weight = 0.0
    return model.fit(SEQUENCES, n_tracks=7).score([np.array(history)])[0, 1:]


def test_k_nearest_neighbours_vote_with_their_similarity() -> None:
    np.testing.assert_allclose(
        evidence(SessionKNN(k=2), [1, 2]), [S0 + S1, S0, S0, S1, 0, 0, 0], rtol=1e-6
    )
    np.testing.assert_allclose(
        evidence(SessionKNN(k=3), [1, 2]), [S0 + S1, S0 + S3, S0 + S3, S1, 0, 0, S3], rtol=1e-6
    )


def test_only_the_most_recent_candidates_are_sampled() -> None:
    got = evidence(SessionKNN(k=3, sample_size=1), [1, 2])  # candidates S0, S1, S3: keep S3
    np.testing.assert_allclose(got, [0, S3, S3, 0, 0, 0, S3], rtol=1e-6)


def test_window_and_recency_tie_break() -> None:
    # Window 1 keeps {2}: S0 and S3 tie at 1/sqrt(3); k=1 keeps the more recent S3.
    got = evidence(SessionKNN(k=1, window=1), [1, 2])
    np.testing.assert_allclose(got, [0, 1, 1, 0, 0, 0, 1] / np.sqrt(3), rtol=1e-6)


def test_repeats_in_the_history_count_once() -> None:
    np.testing.assert_allclose(
        evidence(SessionKNN(k=2), [1, 2, 2, 1]), evidence(SessionKNN(k=2), [1, 2]), rtol=1e-6
    )
