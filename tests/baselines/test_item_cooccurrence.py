import numpy as np

from segue.baselines import ItemCooccurrence

SEQUENCES = [np.array([1, 2, 3]), np.array([2, 4])]  # plays: 1, 2, 1, 1
R = 1 / np.sqrt(2)  # cosine of a co-occurring pair (1 play, 2 plays)


def evidence(model: ItemCooccurrence, histories: list[list[int]]) -> np.ndarray:
    """Scores of tracks 1..4 without the popularity backoff."""
    model.backoff_weight = 0.0
    return model.fit(SEQUENCES, n_tracks=4).score([np.array(h) for h in histories])[:, 1:]


def test_window_sets_which_plays_co_occur() -> None:
    np.testing.assert_allclose(evidence(ItemCooccurrence(window=1), [[1]]), [[0, R, 0, 0]])
    np.testing.assert_allclose(evidence(ItemCooccurrence(window=2), [[1]]), [[0, R, 1, 0]])


def test_recent_history_with_decay() -> None:
    got = evidence(ItemCooccurrence(window=1, decay=0.5), [[4, 1], [3]])
    # [4, 1]: 1 (age 0) and 4 (age 1, weight 0.5) both co-occur with 2 only, each with R.
    np.testing.assert_allclose(got[0], [0, R + 0.5 * R, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(got[1], [0, R, 0, 0], rtol=1e-6)
    only_last = evidence(ItemCooccurrence(window=1, history_window=1), [[4, 1]])
    np.testing.assert_allclose(only_last, [[0, R, 0, 0]], rtol=1e-6)


def test_a_track_does_not_recommend_itself() -> None:
    model = ItemCooccurrence(window=3, backoff_weight=0.0)
    scores = model.fit([np.array([1, 1, 2])], n_tracks=2).score([np.array([1])])
    assert scores[0, 1] == 0.0 and scores[0, 2] > 0.0
