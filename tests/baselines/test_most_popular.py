import numpy as np

from segue.baselines import MostPopular
from segue.evaluation.ranking import top_k

SEQUENCES = [np.array([1, 2, 2]), np.array([2, 3, 3, 3]), np.array([4])]  # 1, 3, 3, 1, 0 plays


def test_top_list_is_by_play_count() -> None:
    model = MostPopular().fit(SEQUENCES, n_tracks=5)
    scores = model.score([np.array([5, 5]), np.array([], dtype=np.int64)])
    assert scores[0].tolist() == [-np.inf, 1.0, 3.0, 3.0, 1.0, 0.0]
    assert top_k(scores, 5).indices.tolist() == [[2, 3, 1, 4, 5]] * 2  # ties: lower index
