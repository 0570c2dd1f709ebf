"""Recommender.recommend / recommend_batch / similar_tracks on tiny models."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from segue.api import COLD_START, UNKNOWN_IDS, ColdStartWarning, Recommender, UnknownTracksError
from segue.data.batch import SequenceBatch
from segue.models.mask_token import append_mask_token
from tests.api.conftest import MAX_LEN, N_TRACKS, ids, tiny_recommender

ALL = N_TRACKS  # k large enough for the whole catalogue


def full_scores(rec: Recommender, tracks: list[int]) -> torch.Tensor:
    """Reference: the model on the last events, scored over the catalogue, (V,)."""
    config = rec.model.config
    keep = config.max_len - 1 if config.objective == "masked" else config.max_len
    batch = SequenceBatch(torch.tensor([tracks[-keep:]]))
    if config.objective == "masked":
        batch = append_mask_token(batch, config.mask_token)
    with torch.no_grad():
        return rec.model.score(rec.model.last_hidden(batch))[0]


def test_output_columns_and_ranks(rec: Recommender) -> None:
    out = rec.recommend(ids(1, 2, 3), k=5)
    assert list(out.columns) == ["track_id", "score", "rank", "artist", "track_name"]
    assert out["rank"].tolist() == [1, 2, 3, 4, 5]
    assert out["score"].is_monotonic_decreasing
    assert out.attrs == {UNKNOWN_IDS: [], COLD_START: False}


@pytest.mark.parametrize("kind", ["sasrec", "bert4rec"])
def test_scores_equal_the_model_on_the_last_max_len_events(kind: str) -> None:
    rec = tiny_recommender(kind)
    history = [int(i) for i in np.random.default_rng(0).integers(1, N_TRACKS + 1, 20)]
    out = rec.recommend(ids(*(i - 1 for i in history)), k=ALL, exclude_played=False)
    expected = full_scores(rec, history)
    indices = rec.vocab.encode(out["track_id"].to_numpy())
    np.testing.assert_allclose(out["score"], expected.numpy()[indices], atol=1e-5)
    assert len(out) == N_TRACKS  # every track but padding


def test_never_returns_played_blocked_or_disallowed(rec: Recommender) -> None:
    history = ids(0, 1, 2, 3)
    out = rec.recommend(history, k=ALL, block=ids(4, 5))
    assert len(out) == N_TRACKS - 6
    assert not set(out["track_id"]) & set(history + ids(4, 5))
    allowed = rec.recommend(history, k=ALL, allow=ids(3, 8, 9, 10), block=ids(9))
    assert sorted(allowed["track_id"]) == ids(10, 8)
    repeats = rec.recommend(history, k=ALL, exclude_played=False)
    assert set(history) <= set(repeats["track_id"])


def test_per_artist_cap(rec: Recommender) -> None:
    out = rec.recommend(ids(1, 2), k=12, max_per_artist=2)
    counts = out.loc[out["artist"].notna(), "artist"].value_counts()
    assert counts.max() <= 2 and len(out) == 11  # 5 artists x 2 + the one unknown-artist track


def test_unknown_ids_are_reported_or_raise(rec: Recommender) -> None:
    out = rec.recommend(["t1", "zz", "t2"], k=3)
    assert out.attrs[UNKNOWN_IDS] == ["zz"] and not out.attrs[COLD_START]
    pd.testing.assert_frame_equal(out, rec.recommend(["t1", "t2"], k=3))
    with pytest.raises(UnknownTracksError):
        rec.recommend(["t1", "zz"], on_unknown="raise")


@pytest.mark.parametrize("history", [[], ["zz", "yy"], None])
def test_cold_start_falls_back_to_popularity(rec: Recommender, history) -> None:
    with pytest.warns(ColdStartWarning, match="ranked by popularity"):
        out = rec.recommend(history, k=3, block=["t0"])
    assert out.attrs[COLD_START]
    assert out["track_id"].tolist() == ids(1, 2, 3)  # most played first
    # Log-probabilities of add-one smoothed popularity: counts 100..61, so the total is
    # sum(101..62) = 3260, and t1 (99 plays) scores log(100 / 3260).
    expected = np.log(np.array([100.0, 99.0, 98.0]) / 3260.0)
    np.testing.assert_allclose(out["score"].to_numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("kind", ["sasrec", "side", "bert4rec"])
@pytest.mark.filterwarnings("ignore::segue.api.ColdStartWarning")  # cold rows on purpose
def test_batch_equals_one_by_one(kind: str) -> None:
    rec = tiny_recommender(kind)
    rng = np.random.default_rng(3)
    histories = {
        f"q{i}": ids(*rng.integers(0, N_TRACKS, int(rng.integers(0, 2 * MAX_LEN))))
        for i in range(7)
    }
    histories["unknown"] = ["zz"]
    options: dict[str, Any] = {"k": 6, "block": ids(7), "max_per_artist": 2}
    batch = rec.recommend_batch(histories, **options)
    assert list(batch.columns[:4]) == ["query", "track_id", "score", "rank"]
    for query, history in histories.items():
        one = rec.recommend(history, **options)
        got = batch[batch["query"] == query].drop(columns="query").reset_index(drop=True)
        assert got["track_id"].tolist() == one["track_id"].tolist()
        np.testing.assert_allclose(got["score"], one["score"], atol=1e-5)
    assert batch.attrs[UNKNOWN_IDS] == {"unknown": ["zz"]}
    assert "unknown" in batch.attrs[COLD_START]


def test_batch_of_a_list_numbers_queries(rec: Recommender) -> None:
    out = rec.recommend_batch([ids(1), ids(2)], k=2)
    assert out["query"].tolist() == [0, 0, 1, 1]
    assert rec.recommend_batch([], k=2).empty


def test_a_bad_history_in_a_batch_is_named_by_its_query(rec: Recommender) -> None:
    """The error names the query, and the hint to use recommend_batch is left out inside it;
    ``recommend`` given a batch keeps the hint."""
    with pytest.raises(TypeError, match=r"^histories\['b'\]: history\[0\] is a list") as caught:
        rec.recommend_batch({"a": ids(1), "b": [ids(2)]})
    assert "recommend_batch" not in str(caught.value)
    with pytest.raises(TypeError, match=r"^histories\[1\]: history must be a collection"):
        rec.recommend_batch([ids(1), {"t1": 1}])
    with pytest.raises(TypeError, match=r"for many histories use recommend_batch"):
        rec.recommend([ids(1, 2)])


def test_similar_tracks_is_brute_force_cosine_without_itself(rec: Recommender) -> None:
    out = rec.similar_tracks("t4", k=5)
    emb = rec.model.catalogue_embeddings().detach()[1:]  # (n, D)
    sims = torch.nn.functional.cosine_similarity(emb, emb[4][None], dim=1)
    sims[4] = -2.0
    best = torch.argsort(sims, descending=True)[:5]
    assert out["track_id"].tolist() == ids(*best.tolist())
    np.testing.assert_allclose(out["score"], sims[best].numpy(), atol=1e-5)
    with pytest.raises(UnknownTracksError):
        rec.similar_tracks("zz")


@pytest.mark.filterwarnings("ignore::segue.api.ColdStartWarning")  # cold rows on purpose
def test_concurrent_calls_equal_sequential_calls(rec: Recommender) -> None:
    rng = np.random.default_rng(5)
    histories = [ids(*rng.integers(0, N_TRACKS, int(rng.integers(0, 20)))) for _ in range(24)]

    def work(history: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        state = rec.session(history[:3])
        for track in history[3:]:
            state.add(track)
        return (
            rec.recommend(history, k=5, max_per_artist=1),
            state.recommend(5),
            rec.continue_playlist(history, n=5, temperature=1.0, seed=0),
        )

    sequential = [work(h) for h in histories]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(work, histories))
    for seq, conc in zip(sequential, concurrent):
        for a, b in zip(seq, conc):
            pd.testing.assert_frame_equal(a, b)


def test_the_api_imports_without_hydra() -> None:
    code = "import sys, segue.api; sys.exit('hydra' in sys.modules or 'omegaconf' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
