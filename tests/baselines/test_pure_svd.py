import numpy as np
import pytest

from segue.baselines import PureSVD

SEQUENCES = [
    np.array([1, 2, 1]),
    np.array([2, 1]),
    np.array([3, 2]),
    np.array([4, 5]),
    np.array([5]),
]


def dense(sequences: list[np.ndarray], n_tracks: int) -> np.ndarray:
    x = np.zeros((len(sequences), n_tracks + 1))
    for u, s in enumerate(sequences):
        x[u, s] = 1.0
    return x


def test_scores_equal_the_projection_on_the_exact_top_singular_vectors() -> None:
    model = PureSVD(n_components=2, backoff_weight=0.0).fit(SEQUENCES, n_tracks=5)
    _, _, vt = np.linalg.svd(dense(SEQUENCES, 5), full_matrices=False)
    v = vt[:2].T  # (V, k): signs differ from sklearn's, the projector V V^T does not
    histories = [np.array([1]), np.array([4, 4]), np.array([2, 3])]
    expected = dense(histories, 5) @ v @ v.T
    np.testing.assert_allclose(model.score(histories)[:, 1:], expected[:, 1:], atol=1e-5)


def test_a_training_listener_gets_their_row_of_the_rank_k_reconstruction() -> None:
    x = dense(SEQUENCES, 5)
    model = PureSVD(n_components=3, backoff_weight=0.0).fit(SEQUENCES, n_tracks=5)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    reconstruction = (u[:, :3] * s[:3]) @ vt[:3]
    np.testing.assert_allclose(model.score(SEQUENCES)[:, 1:], reconstruction[:, 1:], atol=1e-5)


def test_blocks_recommend_within_themselves() -> None:
    model = PureSVD(n_components=2).fit(SEQUENCES, n_tracks=5)
    top = np.argsort(-model.score([np.array([4])])[0])[:2]
    assert sorted(top.tolist()) == [4, 5]


def test_rank_is_capped_by_the_catalogue_and_by_the_matrix() -> None:
    with pytest.raises(ValueError, match=r"n_components=6 must be below the catalogue size \(6\)"):
        PureSVD(n_components=6).fit(SEQUENCES, n_tracks=6)
    with pytest.raises(ValueError, match="n_components"):
        PureSVD(n_components=0)
    # Two listeners span a rank-2 space: the other 3 directions would be arbitrary noise.
    two = [np.array([1, 2, 1]), np.array([2])]
    model = PureSVD(n_components=5, backoff_weight=0.0).fit(two, n_tracks=8)
    assert model.n_components_ == 2 and model.item_factors_.shape == (9, 2)
    assert (model.score([np.array([1])])[0, 3:] == 0).all()  # nothing outside {1, 2}
