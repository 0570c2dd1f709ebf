"""The inference API misused as a careless caller would: every case is a clear error naming the
argument, raised before the state changes, or a documented, flagged result; never wrong data."""

from __future__ import annotations

import math
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from segue.api import COLD_START, ColdStartWarning, Recommender
from segue.api.ranking import popularity_logits
from tests.api.conftest import N_TRACKS, ids, tiny_recommender


@pytest.fixture(scope="module")
def rec() -> Recommender:
    torch.set_num_threads(1)
    return tiny_recommender()


BAD_REQUESTS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("recommend", {"k": 1.5}, TypeError, "k must be an integer"),
    ("recommend", {"k": None}, TypeError, "k must be an integer"),
    ("recommend", {"k": "10"}, TypeError, "k must be an integer"),
    ("recommend", {"k": True}, TypeError, "k must be an integer"),
    ("recommend", {"k": 0}, ValueError, "k must be an integer >= 1"),
    ("recommend", {"k": -3}, ValueError, "k must be an integer >= 1"),
    ("recommend", {"exclude_played": "no"}, TypeError, "exclude_played"),
    ("recommend", {"allow": {"t1": 1}}, TypeError, "allow must be a collection"),
    ("recommend", {"block": object()}, TypeError, "block must be a collection"),
    ("recommend", {"max_per_artist": 0}, ValueError, "max_per_artist"),
    ("recommend", {"max_per_artist": 1.5}, TypeError, "max_per_artist"),
    ("recommend", {"on_unknown": "skip"}, ValueError, "on_unknown"),
    ("recommend_batch", {"k": 1.5}, TypeError, "k must be an integer"),
    ("similar_tracks", {"k": 0}, ValueError, "k must be an integer"),
    ("continue_playlist", {"temperature": math.nan}, ValueError, "temperature"),
    ("continue_playlist", {"temperature": -1.0}, ValueError, "temperature"),
    ("continue_playlist", {"temperature": 0.0}, ValueError, "temperature"),
    ("continue_playlist", {"temperature": math.inf}, ValueError, "temperature"),
    ("continue_playlist", {"temperature": "hot"}, TypeError, "temperature"),
    ("continue_playlist", {"n": -1}, ValueError, "n must be"),
    ("continue_playlist", {"n": 2.5}, TypeError, "n must be"),
    ("continue_playlist", {"seed": 1.5}, TypeError, "seed"),
    ("continue_playlist", {"no_repeat_window": -1}, ValueError, "no_repeat_window"),
    ("continue_playlist", {"max_per_artist": 0}, ValueError, "max_per_artist"),
    ("session", {"keep": 0}, ValueError, "keep"),
    ("session", {"keep": 2.5}, TypeError, "keep"),
]


@pytest.mark.parametrize(("method", "kwargs", "error", "message"), BAD_REQUESTS)
def test_bad_arguments_raise_naming_the_argument(rec, method, kwargs, error, message) -> None:
    first = {
        "recommend": ids(1, 2),
        "recommend_batch": [ids(1, 2)],
        "similar_tracks": "t1",
        "continue_playlist": ids(1, 2),
        "session": ids(1, 2),
    }[method]
    with pytest.raises(error, match=message):
        getattr(rec, method)(first, **kwargs)


def test_a_string_is_one_id_never_its_letters(rec) -> None:
    # Ids made of letters that are themselves ids would expose letter-by-letter reading.
    blocked = rec.recommend(ids(5), k=N_TRACKS, block="t0")
    assert "t0" not in blocked["track_id"].tolist()
    pd.testing.assert_frame_equal(blocked, rec.recommend(ids(5), k=N_TRACKS, block=["t0"]))
    allowed = rec.recommend(ids(5), k=5, allow="t3")
    assert allowed["track_id"].tolist() == ["t3"]
    pd.testing.assert_frame_equal(rec.recommend("t5", k=5), rec.recommend(["t5"], k=5))
    playlist = rec.continue_playlist(ids(5), n=3, block="t0", allow=None)
    assert "t0" not in playlist["track_id"].tolist()


def test_one_id_given_where_one_id_is_expected(rec) -> None:
    with pytest.raises(TypeError, match="track_id must be one id"):
        rec.similar_tracks(["t1"])
    with pytest.raises(TypeError, match="histories must be"):
        rec.recommend_batch("t1")


BAD_EVENTS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"timestamp": "garbage"}, ValueError, "timestamp"),
    ({"timestamp": math.nan}, ValueError, "timestamp"),
    ({"timestamp": True}, TypeError, "timestamp"),
    ({"timestamp": [1.0]}, TypeError, "timestamp"),
    ({"event_type": "plya"}, ValueError, "event_type must be one of"),
    ({"event_type": 3}, ValueError, "event_type must be one of"),
    ({"skipped": "yes"}, TypeError, "skipped"),
    ({"track_id": ["t1"]}, TypeError, "track_id must be one id"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD_EVENTS)
def test_a_bad_event_raises_and_leaves_the_session_as_it_was(rec, kwargs, error, message) -> None:
    state = rec.session(ids(1, 2))
    before = state.recommend(5)
    with pytest.raises(error, match=message):
        state.add(**{"track_id": "t3", **kwargs})
    assert state.n_events == 2
    pd.testing.assert_frame_equal(state.recommend(5), before)


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("timestamp", ["2024-01-01", "garbage"], "timestamp"),
        ("timestamp", [1.0, math.nan], "timestamp"),
        ("event_type", ["play", "plya"], "event_type"),
    ],
)
def test_a_bad_event_table_names_the_column(rec, column, values, message) -> None:
    table = pd.DataFrame({"track_id": ids(1, 2), column: values})
    with pytest.raises(ValueError, match=message):
        rec.recommend(table)


@pytest.mark.parametrize("history", [[], ["nope", "zz"], None])
def test_cold_start_warns_is_flagged_and_scores_are_log_probabilities(rec, history) -> None:
    with pytest.warns(ColdStartWarning, match="popularity"):
        out = rec.recommend(history, k=N_TRACKS, exclude_played=False)
    assert out.attrs[COLD_START]
    # Log-probabilities: exp sums to 1 over the catalogue, as softmax(model scores) does.
    assert math.isclose(
        float(np.exp(out["score"].to_numpy(dtype=np.float64)).sum()), 1.0, rel_tol=1e-5
    )
    with pytest.warns(ColdStartWarning):
        state_out = rec.session(history).recommend(N_TRACKS, exclude_played=False)
    pd.testing.assert_frame_equal(state_out, out)


def test_cold_and_warm_rows_share_one_scale_in_a_batch(rec) -> None:
    with pytest.warns(ColdStartWarning, match="1 of the histories"):
        batch = rec.recommend_batch({"warm": ids(1, 2, 3), "cold": ["zz"]}, k=3)
    assert batch.attrs[COLD_START] == ["cold"]
    cold = batch[batch["query"] == "cold"]["score"].to_numpy()
    expected = popularity_logits(rec.catalogue.popularity)[1:4].numpy()  # t0..t2 most played
    np.testing.assert_allclose(cold, expected, rtol=1e-6)
    # Both are logits of a distribution over the same catalogue: within a few nats, not the
    # hundreds a raw play count would put the cold row above every model score.
    warm = batch[batch["query"] == "warm"]["score"].to_numpy()
    assert abs(float(cold.max()) - float(warm.max())) < 50


def test_known_history_does_not_warn(rec) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ColdStartWarning)
        rec.recommend(ids(1, 2), k=3)
        rec.session(ids(1)).recommend(3)


@pytest.mark.parametrize("kind", ["sasrec", "bert4rec"])
def test_one_session_shared_by_many_threads(kind) -> None:
    """Concurrent add / recommend / playlist on one state: no error, and the end state equals
    a session fed the same events one at a time in the order the lock let them in."""
    rec = tiny_recommender(kind)
    state = rec.session(ids(1, 2))
    tracks = [f"t{(7 * i) % N_TRACKS}" for i in range(120)]

    def work(i: int) -> None:
        state.add(tracks[i])
        assert len(state.recommend(5, exclude_played=False)) == 5
        if i % 20 == 0:
            rec.continue_playlist(ids(3), n=2)  # another state, same recommender

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, range(len(tracks))))
    assert state.n_events == 2 + len(tracks)
    order = rec.catalogue.track_ids[state.played].tolist()
    assert sorted(order[2:]) == sorted(tracks)
    sequential = rec.session(order[:2])
    for track in order[2:]:
        sequential.add(track)
    assert sequential.context == state.context
    got, want = state.recommend(10), sequential.recommend(10)
    assert got["track_id"].tolist() == want["track_id"].tolist()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"num_threads": 0}, ValueError, "num_threads"),
        ({"num_threads": 1.5}, TypeError, "num_threads"),
        ({"device": "gpu"}, ValueError, "device must be auto, cpu, cuda"),
    ],
)
def test_bad_load_arguments_raise_before_the_file_is_read(kwargs, error, message, tmp_path) -> None:
    with pytest.raises(error, match=message):
        Recommender.load(tmp_path / "missing.pt", **kwargs)
