import numpy as np

from segue.baselines import Transitions
from segue.evaluation.ranking import top_k

# 1 -> 2 twice, 1 -> 3 once, 2 -> 3, 2 -> 4; plays: 1: 3, 2: 2, 3: 2, 4: 1, 5: 1.
SEQUENCES = [np.array([1, 2, 3]), np.array([1, 2, 4]), np.array([1, 3]), np.array([5])]


def test_next_tracks_follow_the_last_play() -> None:
    model = Transitions().fit(SEQUENCES, n_tracks=5)
    scores = model.score([np.array([4, 1]), np.array([2]), np.array([], dtype=np.int64)])
    assert top_k(scores, 5).indices.tolist() == [
        [2, 3, 1, 4, 5],  # 2/3, 1/3, then by popularity
        [3, 4, 1, 2, 5],  # 1/2 each: the more popular 3 first
        [1, 2, 3, 4, 5],  # empty history: popularity
    ]
    np.testing.assert_allclose(scores[0, 1:], [0, 2 / 3, 1 / 3, 0, 0], atol=1e-5)


def test_pairs_never_cross_sequences() -> None:
    model = Transitions(backoff_weight=0.0).fit(SEQUENCES, n_tracks=5)
    # 3 ends sequence 0 and 4 ends sequence 1: neither is ever followed by anything.
    assert (model.score([np.array([3]), np.array([4])])[:, 1:] == 0).all()


def test_a_track_training_never_saw_played_is_passed_over() -> None:
    """6 has no training play (first heard after training): the table answers from the play
    before it, as if 6 had vanished from the history; 4, played but never followed, still
    falls back to popularity, as before."""
    model = Transitions().fit(SEQUENCES, n_tracks=6)
    scores = model.score([np.array([2, 1, 6]), np.array([1, 2, 6, 6]), np.array([6])])
    reference = model.score([np.array([2, 1]), np.array([1, 2]), np.array([], dtype=np.int64)])
    np.testing.assert_array_equal(scores, reference)
    np.testing.assert_array_equal(model.score([np.array([1, 4])]), model.score([np.array([4])]))
