"""A model with a history prior is served as it is evaluated: requests, batches, sessions,
playlists and the retrieval path all add the prior's terms (:class:`segue.api.queries.Queries`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from segue.api import Recommender
from segue.api.queries import Queries
from segue.data.encoding import encode_events
from segue.data.sequences import PredictionSequences
from segue.evaluation.scoring import score_points
from segue.models.history_prior import PriorEntries
from tests.api.prior_model import prior_model, prior_vocab, random_histories
from tests.conftest import make_log

N_TRACKS, MAX_LEN = 40, 8


@pytest.fixture(scope="module", params=[{}, {"plays": True, "chain": True, "combine": "mixture"}])
def prior_rec(request) -> Recommender:
    """The three-feature sum prior, and the mixture prior of five features."""
    return Recommender(prior_model(N_TRACKS, MAX_LEN, **request.param), prior_vocab(N_TRACKS))


def served_scores(rec: Recommender, history: list[str]) -> np.ndarray:
    """Every track's served score after ``history``, in index order 1..n_tracks, (n_tracks,)."""
    out = rec.recommend(history, k=N_TRACKS, exclude_played=False)
    by_id = dict(zip(out["track_id"], out["score"], strict=True))
    return np.array([by_id[t] for t in rec.vocab.track_ids], dtype=np.float32)


def dot_scores(rec: Recommender, history: list[str]) -> np.ndarray:
    """The scores without the prior's terms (h . e only), (n_tracks,)."""
    from segue.api.history import encode_history
    from segue.api.ranking import next_hidden

    with torch.inference_mode():
        h = next_hidden(rec.model, rec.catalogue, [encode_history(history, rec.catalogue)])
        assert h is not None
        return (h @ rec.catalogue.embeddings.T)[0, 1:].numpy()


def test_recommend_scores_equal_the_evaluated_scores(prior_rec):
    """The served model is the evaluated one: ``score_points`` on prediction points of a log
    and ``recommend`` on the same histories give the same scores (histories longer than
    max_len included, so both cut them the same way)."""
    histories = random_histories(6, N_TRACKS, 14, seed=4)
    rows, t = [], 0
    for user, history in enumerate(histories):
        for track in [*history, "t0"]:  # t0: the point's target, after the history
            rows.append((f"u{user}", track, t))
            t += 60
    events = make_log(rows)
    encoded = encode_events(events, prior_rec.vocab)
    points_at = np.cumsum([len(h) + 1 for h in histories]) - 1  # each user's last row
    targets = prior_rec.vocab.encode(events.track_id.to_numpy()[points_at])
    points = PredictionSequences(encoded, points_at, targets, MAX_LEN)
    evaluated = score_points(prior_rec.model, points, np.arange(len(points)))[:, 1:].numpy()
    for row, history in enumerate(histories):
        served = served_scores(prior_rec, history)
        np.testing.assert_allclose(served, evaluated[row], rtol=1e-5, atol=1e-5)
        # The prior moved the scores: dropping it would fail the comparison above.
        assert np.abs(served - dot_scores(prior_rec, history)).max() > 0.1


def test_batch_rows_equal_single_requests_and_cold_rows_keep_popularity(prior_rec):
    histories = random_histories(5, N_TRACKS, 12, seed=5)
    with pytest.warns(UserWarning):  # the cold-start row
        batch = prior_rec.recommend_batch([*histories, []], k=N_TRACKS, exclude_played=False)
    for query, history in enumerate(histories):
        rows = batch[batch["query"] == query]
        single = prior_rec.recommend(history, k=N_TRACKS, exclude_played=False)
        assert rows["track_id"].tolist() == single["track_id"].tolist()
        np.testing.assert_allclose(rows["score"], single["score"], rtol=1e-5, atol=1e-5)
    cold = batch[batch["query"] == len(histories)]
    assert cold["track_id"].tolist()[:3] == ["t0", "t1", "t2"]  # popularity order


@pytest.mark.parametrize("keep", [None, MAX_LEN])
def test_a_session_scores_as_recommend_on_the_same_history(prior_rec, keep):
    """Events added one at a time (incremental steps) give the scores of one request on the
    whole history: while it fits the cache, and past it when each rebuild keeps max_len."""
    history = random_histories(1, N_TRACKS, 1, seed=6)[0] + ["t5", "t6", "t5", "t7", "t5"]
    extra = ["t6", "t5", "t9", "t6", "t5", "t1"]
    state = prior_rec.session(history[:2], keep=keep)
    for n, track in enumerate(history[2:] + (extra if keep else []), start=3):
        state.add(track)
        expected = served_scores(prior_rec, (history + extra)[:n])
        np.testing.assert_allclose(state.scores()[1:].numpy(), expected, rtol=1e-5, atol=1e-5)
    listed = state.recommend(k=5, exclude_played=False)
    seen = (history + extra)[: state.n_events]
    reference = prior_rec.recommend(seen, k=5, exclude_played=False)
    assert listed["track_id"].tolist() == reference["track_id"].tolist()


def test_a_playlist_picks_by_the_scores_with_the_prior(prior_rec):
    seeds = ["t3", "t4", "t3"]
    playlist = prior_rec.continue_playlist(seeds, n=1, no_repeat_window=0)
    best = prior_rec.recommend(seeds, k=1, exclude_played=False)
    assert playlist["track_id"].tolist() == best["track_id"].tolist()
    assert playlist["score"].iloc[0] == pytest.approx(best["score"].iloc[0], abs=1e-5)


@pytest.mark.parametrize("combine", ["sum", "mixture"])
def test_retrieval_with_an_exhaustive_index_equals_exhaustive_ranking_with_the_prior(
    monkeypatch: pytest.MonkeyPatch, combine: str
):
    """Through a flat index, candidates are the index's and the prior's tracks, re-ranked with
    the prior: the lists equal the exhaustive ones, including tracks that only the prior
    lifts into the list (far from the listener vector), in one search per request (the
    prior's tracks are candidates, so no row needs a wider search)."""
    pytest.importorskip("faiss", reason="segue.retrieval needs faiss-cpu (extra 'scale')")
    from segue.retrieval.index import TrackIndex

    searches: list[int] = []
    search = TrackIndex.search
    monkeypatch.setattr(
        TrackIndex, "search", lambda self, *a, **kw: searches.append(1) or search(self, *a, **kw)
    )
    n_tracks, k = 400, 5
    model = prior_model(n_tracks, MAX_LEN, seed=8, combine=combine)
    exact = Recommender(model, prior_vocab(n_tracks))
    indexed = Recommender(exact.model, exact.vocab)
    indexed.build_index("flat", candidates=8)
    indexed.use_index(indexed.catalogue.retriever.index, exhaustive_below=0)
    histories = random_histories(16, n_tracks, 12, seed=9)
    lifted = 0
    for exclude_played, block in ((False, ()), (True, ()), (True, ("t1", "t2"))):
        # A block list leaves few enough tracks to score them all (the allow-list path).
        rules = {"exclude_played": exclude_played, "max_per_artist": 2, "block": block}
        got = indexed.recommend_batch(histories, k=k, **rules)
        expected = exact.recommend_batch(histories, k=k, **rules)
        assert got["track_id"].tolist() == expected["track_id"].tolist()
        np.testing.assert_allclose(got["score"], expected["score"], rtol=1e-5, atol=1e-5)
        for query, history in enumerate(histories):
            top_dots = set(np.argsort(-dot_scores(exact, history))[: 4 * k].tolist())
            listed = exact.vocab.encode(got[got["query"] == query]["track_id"].to_numpy()) - 1
            lifted += len(set(listed.tolist()) - top_dots)
    assert lifted > 0  # the union with the prior's tracks was needed
    assert len(searches) == 2  # the two requests without a block list, one search each


def test_queries_select_prior_at_and_union_against_dense_references():
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(4, 3, generator=gen)
    prior = PriorEntries(
        torch.tensor([0, 0, 2, 3, 3]), torch.tensor([5, 1, 2, 7, 5]), torch.arange(1.0, 6.0)
    )
    queries = Queries(hidden, prior)
    dense = queries.add_prior(torch.zeros(4, 9))  # (B, V) reference
    candidates = torch.tensor([[1, 2, 5], [0, 5, 1], [2, 4, 6], [5, 0, 7]])
    expected = torch.gather(dense, 1, candidates)
    expected[candidates == 0] = 0
    torch.testing.assert_close(queries.prior_at(candidates), expected)
    chosen = queries.select(np.array([3, 0]))
    torch.testing.assert_close(chosen.hidden, hidden[[3, 0]])
    torch.testing.assert_close(chosen.add_prior(torch.zeros(2, 9)), dense[[3, 0]])
    union = queries.with_prior_items(np.array([[5, 0], [1, 2], [3, 4], [7, 6]]))
    assert [sorted(set(row) - {0}) for row in union.tolist()] == [
        [1, 5],
        [1, 2],
        [2, 3, 4],
        [5, 6, 7],
    ]
    for row in union:  # no track twice in a row
        real = row[row > 0]
        assert len(set(real.tolist())) == len(real)


def test_models_without_a_prior_have_no_terms(rec):
    assert rec.model.prior is None
    with torch.inference_mode():
        frame = rec.recommend(["t1", "t2"], k=3)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 3
