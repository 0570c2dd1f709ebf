from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from segue.models import sasrec
from segue.models.cooccurrence_memory import cooccurrence_similarity
from segue.training.embedding_init import init_track_embeddings, spectral_rows
from segue.training.losses import loss_for
from segue.training.trainer import TrainerConfig, fit
from tests.training import test_trainer

data = test_trainer.data  # the shared fixture


def _dense_reference(matrix: np.ndarray, dim: int) -> np.ndarray:
    """V_k S_k V_k^T from numpy's full SVD: what the rows' Gram matrix must equal."""
    _, s, vt = np.linalg.svd(matrix)
    v = vt[:dim].T
    return v @ np.diag(s[:dim]) @ v.T


def test_spectral_rows_match_a_dense_svd():
    # A symmetric matrix of rank 6 with separated singular values: the randomized solver
    # TruncatedSVD uses is exact on it.
    basis = np.linalg.qr(np.random.default_rng(0).normal(size=(30, 6)))[0]
    matrix = basis @ np.diag([9.0, 7.0, -5.0, 4.0, 3.0, 2.0]) @ basis.T
    rows = spectral_rows(sp.csr_matrix(matrix), 6, seed=0)
    # Rows are only defined up to each column's sign; their Gram matrix is not.
    np.testing.assert_allclose(rows @ rows.T, _dense_reference(matrix, 6), atol=1e-5)
    top = spectral_rows(sp.csr_matrix(matrix), 2, seed=0)
    np.testing.assert_allclose(top @ top.T, _dense_reference(matrix, 2), atol=1e-5)


def test_tracks_played_together_get_close_rows():
    # Two cliques of 10 tracks that never meet: the top two components are their indicators.
    clique = np.ones((10, 10)) - np.eye(10)
    matrix = np.zeros((21, 21))
    matrix[1:11, 1:11] = matrix[11:, 11:] = clique
    rows = torch.from_numpy(spectral_rows(sp.csr_matrix(matrix), 2, seed=0))
    assert _cosine(rows[1], rows[7]) > 0.99 and _cosine(rows[12], rows[20]) > 0.99
    assert abs(_cosine(rows[1], rows[20])) < 0.01
    assert not rows[0].any()  # the padding row has no co-occurrences


def test_spectral_rows_of_a_tiny_or_empty_matrix():
    assert not spectral_rows(sp.csr_matrix((3, 3)), 4, seed=0).any()
    rows = spectral_rows(sp.csr_matrix(np.array([[0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])), 8, 0)
    assert rows.shape == (3, 8)
    assert not rows[:, 2:].any()  # beyond the rank TruncatedSVD can return: zero columns


def _events(tracks, groups, skips=None):
    tracks = np.asarray(tracks, np.int64)
    skips = np.zeros(len(tracks), bool) if skips is None else np.asarray(skips, bool)
    # The three fields the start reads (an EncodedEvents holds more).
    return SimpleNamespace(tracks=tracks, group_start=np.asarray(groups, np.int64), is_skip=skips)


def _cosine(a, b):
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


def test_only_played_tracks_are_set_at_the_random_start_s_spread():
    # Track 7 is never played and track 8 only skipped: both keep the random start.
    groups, tracks, skips = [], [], []
    for user in range(20):
        order = list(np.random.default_rng(user).permutation([1, 2, 3, 4, 5, 6]))
        groups += [len(tracks)] * (len(order) + 1)
        tracks += [*order, 8]
        skips += [*([False] * len(order)), True]
    events = _events(tracks, groups, skips)
    model = sasrec(8, d_model=4, n_layers=1, max_len=8, seed=0)
    before = model.track_emb.weight.detach().clone()
    assert init_track_embeddings(model, events, seed=0) == 6
    after = model.track_emb.weight.detach()
    for untouched in (0, 7, 8, 9):  # padding, unplayed, only skipped, [MASK]
        assert torch.equal(after[untouched], before[untouched]), untouched
    assert not torch.allclose(after[1:7], before[1:7])
    # Rescaled to the random start's spread: the blocks see inputs of the usual size.
    assert float(after[1:7].std()) == pytest.approx(float(before[1:7].std()), rel=1e-5)


def test_init_reads_the_same_similarity_as_the_cooccurrence_baseline():
    events = _events([1, 2, 3, 1, 2, 4, 2, 3], [0, 0, 0, 3, 3, 3, 6, 6])
    similarity = cooccurrence_similarity(events.tracks, events.group_start, 4)
    model = sasrec(4, d_model=16, n_layers=1, max_len=8, seed=0)
    init_track_embeddings(model, events, seed=0)
    rows = model.track_emb.weight.detach()[:5].double().numpy()
    # Rank 4 of 5 rows reproduces the similarity up to one scale (the spread rescaling).
    gram, reference = rows[1:] @ rows[1:].T, _dense_reference(similarity.toarray(), 4)[1:, 1:]
    scale = gram[0, 0] / reference[0, 0]
    np.testing.assert_allclose(gram, scale * reference, atol=1e-4 * abs(scale))


def test_a_run_with_the_cooccurrence_start_trains_and_starts_elsewhere(data, tmp_path):
    starts = {}

    def first_validation(name):
        def validate(model):
            starts.setdefault(name, model.track_emb.weight.detach().clone())
            return {"ndcg@10": 0.5}

        return validate

    test_trainer._run(data, tmp_path / "random", 1, first_validation("random"))
    model, result = test_trainer._run(
        data, tmp_path / "cooc", 1, first_validation("cooc"), embedding_init="cooccurrence"
    )
    assert result.best_path.exists()
    assert not torch.allclose(starts["random"], starts["cooc"])
    assert torch.isfinite(model.track_emb.weight).all()


def test_a_same_seed_run_is_reproducible(data, tmp_path):
    first, _ = test_trainer._run(data, tmp_path / "a", 1, embedding_init="cooccurrence")
    second, _ = test_trainer._run(data, tmp_path / "b", 1, embedding_init="cooccurrence")
    for name, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[name]), name


def test_an_unknown_start_is_named():
    with pytest.raises(ValueError, match="embedding_init must be one of"):
        TrainerConfig(embedding_init="svd")


def test_streamed_shards_are_refused_naming_the_setting(tmp_path):
    # Sharded windows (segue.scale) hold no in-memory rows to count co-occurrences from.
    model = sasrec(8, d_model=4, n_layers=1, max_len=8, seed=0)
    config = TrainerConfig(out_dir=str(tmp_path), embedding_init="cooccurrence", progress=False)
    loss = loss_for("softmax", n_tracks=8)
    with pytest.raises(ValueError, match=r"trainer\.embedding_init=random"):
        fit(model, SimpleNamespace(), loss, None, config, vocab=None)
