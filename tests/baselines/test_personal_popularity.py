import numpy as np

from segue.baselines import PersonalPopularity
from segue.evaluation.ranking import top_k

SEQUENCES = [np.array([1, 2, 2]), np.array([2, 3, 3, 3]), np.array([4])]  # 1, 3, 3, 1, 0 plays


def test_own_plays_first_then_global_popularity() -> None:
    model = PersonalPopularity().fit(SEQUENCES, n_tracks=5)
    scores = model.score([np.array([4, 1, 4]), np.array([5])])
    assert top_k(scores, 5).indices.tolist() == [[4, 1, 2, 3, 5], [5, 2, 3, 1, 4]]
    assert scores[0, 4] == np.float32(2.0 + 1e-6 * 1 / 3)  # 2 plays + backoff * 1 / max 3


def test_decay_favours_recent_plays() -> None:
    history = [np.array([1, 1, 4])]
    plain = PersonalPopularity().fit(SEQUENCES, n_tracks=5).score(history)
    decayed = PersonalPopularity(decay=0.4).fit(SEQUENCES, n_tracks=5).score(history)
    assert top_k(plain, 2).indices.tolist() == [[1, 4]]  # 2 plays vs 1
    assert top_k(decayed, 2).indices.tolist() == [[4, 1]]  # 1.0 vs 0.4 + 0.16
    np.testing.assert_allclose(decayed[0, [1, 4]], [0.56, 1.0], atol=1e-6)
