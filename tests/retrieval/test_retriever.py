"""Ranking through an index: exact with an exhaustive index, constraints always exact.

The property tests draw small random catalogues (artists, allow / block lists, caps, played
tracks, cold rows) and compare the retrieval path with the exhaustive reference
(:func:`segue.api.ranking.exhaustive_rank`).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segue.api import Recommender
from segue.api.constraints import ResolvedConstraints
from segue.api.ranking import exhaustive_rank, rank
from segue.evaluation.ranking import Ranked
from segue.retrieval import Retriever, build_index, default_params
from segue.retrieval.attach import attach_index
from tests.api.conftest import ids, tiny_recommender
from tests.retrieval.conftest import clustered_table


class Case:
    """A random catalogue, queries and request constraints."""

    def __init__(self, seed: int, n_tracks: int = 300, dim: int = 16) -> None:
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.table = clustered_table(n_tracks, dim, seed=seed)
        rec = tiny_recommender(d_model=dim)
        artists = np.concatenate([[0], rng.integers(0, 8, n_tracks)])  # 0 = unknown artist
        self.catalogue = _catalogue(rec.catalogue, self.table, artists)
        batch = 4
        self.hidden = torch.from_numpy(
            self.table[rng.integers(1, n_tracks + 1, batch)] + rng.normal(0, 0.3, (batch, dim))
        ).float()  # (B, D): near some tracks, like a listener vector
        self.cold = rng.random(batch) < 0.25
        self.excluded = [
            rng.choice(np.arange(1, n_tracks + 1), rng.integers(0, 30)) for _ in range(batch)
        ]
        self.filters = self.random_filters(n_tracks)

    def random_filters(self, n_tracks: int) -> ResolvedConstraints:
        rng = self.rng
        disallowed = None
        if rng.random() < 0.5:
            disallowed = torch.ones(n_tracks + 1, dtype=torch.bool)
            size = int(rng.choice([3, 20, n_tracks // 2]))
            disallowed[
                torch.from_numpy(rng.choice(np.arange(1, n_tracks + 1), size, replace=False))
            ] = False
        blocked = None
        if rng.random() < 0.5:
            blocked = torch.from_numpy(rng.choice(np.arange(1, n_tracks + 1), 60, replace=False))
        cap = int(rng.choice([1, 2])) if rng.random() < 0.6 else None
        if disallowed is None and blocked is None:
            return ResolvedConstraints(None, cap)
        banned = torch.zeros(n_tracks + 1, dtype=torch.bool) if disallowed is None else disallowed
        if blocked is not None:
            banned[blocked] = True
        banned[0] = True
        return ResolvedConstraints(banned, cap)


def _catalogue(base, table: np.ndarray, artists: np.ndarray):
    """``base`` (a tiny recommender's catalogue) with another table and artist map."""
    from dataclasses import replace

    n = table.shape[0] - 1
    emb = torch.from_numpy(table)
    by_artist = np.argsort(artists[1:], kind="stable") + 1
    counts = np.bincount(artists[1:], minlength=9)
    return replace(
        base,
        embeddings=emb,
        norms=emb.norm(dim=1),
        popularity=torch.cat([torch.tensor([float("-inf")]), torch.arange(n, 0, -1).float()]),
        artist_of_track=artists,
        track_ids=np.array([None] + [f"x{i}" for i in range(1, n + 1)], dtype=object),
        artists=None,
        names=None,
        index={f"x{i}": i for i in range(1, n + 1)},
        tracks_by_artist=by_artist.astype(np.int64),
        artist_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
    )


def check_constraints(ranked: Ranked, case: Case, k: int) -> None:
    """Every constraint holds on every returned list, and lists are only short when the
    exhaustive reference is short too."""
    reference = exhaustive_rank(
        case.catalogue, case.hidden, case.cold, case.excluded, case.filters, k
    )
    f = case.filters
    for row in range(len(ranked.indices)):
        got = ranked.indices[row][ranked.indices[row] > 0]
        assert len(set(got.tolist())) == len(got)
        assert not set(got.tolist()) & set(case.excluded[row].tolist())
        if f.banned is not None:
            assert not f.banned[torch.from_numpy(got)].any()
        if f.max_per_artist is not None:
            artists = case.catalogue.artist_of_track[got]
            known = artists[artists > 0]
            assert np.bincount(known).max(initial=0) <= f.max_per_artist
        assert len(got) == (reference.indices[row] > 0).sum()
        scores = ranked.scores[row][: len(got)]
        assert (np.diff(scores) <= 0).all()  # best first
        exact = (case.hidden[row] @ case.catalogue.embeddings[torch.from_numpy(got)].T).numpy()
        if not case.cold[row]:
            np.testing.assert_allclose(scores, exact, rtol=1e-5, atol=1e-5)  # exact re-rank


@pytest.mark.parametrize("seed", range(12))
def test_exhaustive_index_gives_exactly_the_exhaustive_result(seed):
    case = Case(seed)
    kind = "flat" if seed % 2 else "ivf_flat"
    params = default_params(300, 16, kind, nprobe=7 if kind == "ivf_flat" else 0, candidates=20)
    index = build_index(case.table, params)
    assert index.exhaustive
    catalogue = case.catalogue.with_retriever(Retriever(index, exhaustive_below=0))
    args = (case.hidden, case.cold, case.excluded, case.filters, 10)
    got, expected = rank(catalogue, *args), exhaustive_rank(case.catalogue, *args)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_allclose(got.scores, expected.scores, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("kind", ["ivf_flat", "ivf_pq", "hnsw"])
def test_constraints_hold_on_lists_from_an_approximate_index(seed, kind):
    """A coarse index (1 of 7 lists, 12 candidates; IVF-PQ: 4-bit codes ranking them) forces
    the widening and fallback paths."""
    case = Case(seed)
    params = default_params(
        300,
        16,
        kind,
        candidates=12,
        nprobe=1 if kind in ("ivf_flat", "ivf_pq") else 0,
        ef_search=12 if kind == "hnsw" else 0,
    )
    index = build_index(case.table, params)
    catalogue = case.catalogue.with_retriever(Retriever(index, exhaustive_below=0))
    for k in (1, 10, 40):
        ranked = rank(catalogue, case.hidden, case.cold, case.excluded, case.filters, k)
        check_constraints(ranked, case, k)


def test_small_catalogues_stay_exhaustive_below_the_threshold():
    case = Case(0)
    index = build_index(case.table, default_params(300, 16, "flat"))
    assert not Retriever(index, exhaustive_below=301).active(case.catalogue)
    assert Retriever(index, exhaustive_below=300).active(case.catalogue)


def test_an_index_of_another_size_is_refused():
    case = Case(0)
    index = build_index(clustered_table(200), default_params(200, 16, "flat"))
    with pytest.raises(ValueError, match="200 tracks"):
        case.catalogue.with_retriever(Retriever(index))


@pytest.mark.filterwarnings("ignore::UserWarning")  # the cold-start query's warning
def test_recommender_ranks_through_the_index_with_every_option():
    rec = tiny_recommender()
    history = ids(1, 2, 3, 7)
    options = [{}, {"max_per_artist": 1}, {"block": ids(10, 11, 12)}, {"allow": ids(4, 5, 6, 20)}]
    expected = [rec.recommend(history, k=8, **o) for o in options]
    batch = rec.recommend_batch([history, []], k=8)
    rec.build_index("flat")
    rec.use_index(rec.catalogue.retriever.index, exhaustive_below=0)
    for o, e in zip(options, expected):
        got = rec.recommend(history, k=8, **o)
        assert got["track_id"].tolist() == e["track_id"].tolist()
    assert (
        rec.recommend_batch([history, []], k=8)["track_id"].tolist() == batch["track_id"].tolist()
    )
    state = rec.session(history)
    assert state.recommend(8)["track_id"].tolist() == expected[0]["track_id"].tolist()
    rec.use_index(None)
    assert rec.catalogue.retriever is None


def test_attach_by_path_checks_the_table(tmp_path):
    rec = tiny_recommender()
    path = tmp_path / "best.faiss"
    rec.build_index("ivf_flat", path=path, nlist=4, nprobe=4)
    other = tiny_recommender(seed=2)  # same size, other weights
    from segue.retrieval import IndexMismatchError

    with pytest.raises(IndexMismatchError, match="other embeddings"):
        other.use_index(path)
    assert attach_index(rec.catalogue, path).retriever.index.params.nlist == 4


def test_load_with_the_index_saved_next_to_the_checkpoint(tmp_path):
    from segue.io.checkpoint import Checkpoint, save_checkpoint
    from segue.retrieval import index_path_for

    rec = tiny_recommender()
    model = rec.model
    path = save_checkpoint(
        Checkpoint(model.config, model.state_dict(), rec.vocab), tmp_path / "best.pt"
    )
    rec.build_index("flat", path=index_path_for(path))
    served = Recommender.load(path, index=index_path_for(path))
    assert served.catalogue.retriever is not None
    assert served.catalogue.retriever.index.params.kind == "flat"
    history = ids(1, 2, 3)
    expected = rec.recommend(history, k=5)["track_id"].tolist()
    assert served.recommend(history, k=5)["track_id"].tolist() == expected
