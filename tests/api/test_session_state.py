"""Live sessions: the KV-cache path equals re-encoding, across the max_len boundary too."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from segue.api import COLD_START, UNKNOWN_IDS, ColdStartWarning, UnknownTracksError
from segue.api import session_state as session_state_module
from segue.api.history import history_batch
from segue.api.session_state import SessionState
from tests.api.conftest import MAX_LEN, N_TRACKS, ids, tiny_recommender


def reencoded(state: SessionState) -> torch.Tensor:
    """Reference: the model re-encoding the state's whole context window, scores (V,)."""
    window = state._window(state._start if state.incremental else 0)
    batch = history_batch([window], state.catalogue, state._model.config)
    with torch.no_grad():
        return state._model.score(state._model.next_hidden(batch))[0]


def events(n: int, seed: int = 0) -> pd.DataFrame:
    """n events with timestamps, skips and likes, some of unknown tracks."""
    rng = np.random.default_rng(seed)
    tracks = ids(*rng.integers(0, N_TRACKS, n))
    tracks[3] = "zz"
    return pd.DataFrame(
        {
            "track_id": tracks,
            "timestamp": np.cumsum(rng.integers(1, 4000, n)).astype(float),
            "skipped": rng.random(n) < 0.3,
            "event_type": rng.choice(["play", "play", "like"], n),
        }
    )


@pytest.mark.parametrize("kind", ["sasrec", "side", "hstu"])
@pytest.mark.parametrize("keep", [None, 1, 5, MAX_LEN])
def test_incremental_equals_reencoding_across_the_boundary(kind: str, keep: int | None) -> None:
    rec = tiny_recommender(kind)
    log = events(3 * MAX_LEN + 3)
    state = rec.session(log.iloc[:3], keep=keep)
    for i in range(3, len(log)):
        row = log.iloc[i]
        state.add(row.track_id, bool(row.skipped), row.timestamp, row.event_type)
        torch.testing.assert_close(state.scores(), reencoded(state), atol=1e-5, rtol=0)
        assert 1 <= len(state.context) <= MAX_LEN
    assert state.unknown_ids == ["zz"]


@pytest.mark.parametrize("kind", ["side", "hstu", "bert4rec"])
def test_keeping_max_len_equals_recommend_on_the_whole_history(kind: str) -> None:
    rec = tiny_recommender(kind)
    log = events(2 * MAX_LEN + 5, seed=1)
    state = rec.session(log.iloc[:2], keep=MAX_LEN)
    for i in range(2, len(log)):
        row = log.iloc[i]
        state.add(row.track_id, bool(row.skipped), row.timestamp, row.event_type)
        live = state.recommend(k=N_TRACKS, exclude_played=False)
        full = rec.recommend(log.iloc[: i + 1], k=N_TRACKS, exclude_played=False)
        assert live["track_id"].tolist() == full["track_id"].tolist()
        np.testing.assert_allclose(live["score"], full["score"], atol=1e-5)


def test_default_policy_rebuilds_from_the_last_half() -> None:
    rec = tiny_recommender()
    state = rec.session(ids(*range(MAX_LEN)))
    assert state.context == ids(*range(MAX_LEN))
    state.add("t20")  # the cache is full: re-encode the last max_len // 2
    assert state.context == ids(5, 6, 7, 20)
    state.add("t21")  # then grow incrementally
    assert state.context == ids(5, 6, 7, 20, 21)


def test_session_recommend_excludes_the_whole_session_and_reports() -> None:
    rec = tiny_recommender()
    state = rec.session()
    with pytest.warns(ColdStartWarning):
        cold = state.recommend(3)
    assert cold.attrs[COLD_START] and cold["track_id"].tolist() == ids(0, 1, 2)
    for track in [*ids(*range(12)), "zz"]:
        state.add(track)
    out = state.recommend(k=N_TRACKS)
    assert not set(out["track_id"]) & set(ids(*range(12)))
    assert out.attrs == {UNKNOWN_IDS: ["zz"], COLD_START: False}
    with pytest.raises(UnknownTracksError):
        rec.session(on_unknown="raise").add("zz")


def test_masked_model_sessions_reencode() -> None:
    rec = tiny_recommender("bert4rec")
    state = rec.session(ids(1, 2))
    assert not state.incremental
    state.add("t3")
    torch.testing.assert_close(state.scores(), reencoded(state), atol=1e-5, rtol=0)


def test_an_added_event_is_one_incremental_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's step (the numpy step is switched off here; see the next test)."""
    monkeypatch.setattr(session_state_module, "numpy_step_for", lambda model: None)
    rec = tiny_recommender()
    state = rec.session(ids(1, 2, 3))
    widths: list[int] = []
    original = rec.model.forward_incremental

    def spy(batch_step, cache=None):
        widths.append(batch_step.tracks.shape[1])
        return original(batch_step, cache)

    monkeypatch.setattr(rec.model, "forward_incremental", spy)
    state.add("t4")
    state.recommend(3)
    assert widths == [1]


def test_an_added_event_is_one_numpy_step_where_it_matches_the_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from segue.api.numpy_step import NumpyStep

    rec = tiny_recommender()
    state = rec.session(ids(1, 2, 3))
    widths: list[int] = []
    original = NumpyStep.step

    def spy(self, event, cache):  # type: ignore[no-untyped-def]
        widths.append(event.tracks.shape[1])
        return original(self, event, cache)

    def forbidden(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("torch's step ran")

    monkeypatch.setattr(NumpyStep, "step", spy)
    monkeypatch.setattr(rec.model, "forward_incremental", forbidden)
    state.add("t4")
    state.recommend(3)
    assert widths == [1]
