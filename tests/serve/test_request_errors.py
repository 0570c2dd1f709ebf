"""Requests the library would refuse are the client's 4xx, never a 500, and store nothing.

A numeric time above 1e10 s is milliseconds to the library (refused, not read as a date
centuries ahead): the schema refuses it too, before a listener's events are stored. Any other
``ValueError`` / ``TypeError`` the library raises for a request's content is a 422 naming it,
and a batched row that raises it fails alone. Sampling temperatures at the ends of the float
range give a playlist on both backends.
"""

from __future__ import annotations

import asyncio
from functools import partial

import httpx
import numpy as np
import pytest
from fastapi import HTTPException

from segue.serve.backends import load_backend
from segue.serve.batching import RecommendBatcher, Row
from segue.serve.events import Event
from segue.serve.limits import Admission
from segue.serve.onnx_backend import _pick
from segue.serve.routes import _answered
from tests.serve.conftest import API_KEY

HISTORY = ["t1", "t7", "t3"]
EXTREME_TEMPERATURES = [1e-300, 1e-45, 5e-324, 1e39, 1e300]


def test_a_millisecond_timestamp_is_a_422_naming_the_field(server):
    body = {"history": [{"track_id": "t1", "timestamp": 1.7e12}]}
    response = httpx.post(f"{server.url}/recommend", json=body)
    assert response.status_code == 422, response.text
    fields = [d["field"] for d in response.json()["detail"]]
    assert "body.history.0.timestamp" in fields


def test_a_refused_event_is_not_stored(server):
    url, headers = f"{server.url}/listeners/ms-clock", {"X-API-Key": API_KEY}
    httpx.delete(url, headers=headers)
    events = {
        "events": [{"track_id": "t1", "timestamp": 1000.0}, {"track_id": "t2", "timestamp": 1e11}]
    }
    refused = httpx.post(f"{url}/events", json=events, headers=headers)
    assert refused.status_code == 422, refused.text
    assert "body.events.1.timestamp" in [d["field"] for d in refused.json()["detail"]]
    after = httpx.get(f"{url}/recommendations")  # was a 500 for ever: the event was stored
    assert after.status_code == 200 and after.json()["events"] == 0
    edge = {"events": [{"track_id": "t1", "timestamp": 1e10}]}  # the limit itself is seconds
    assert httpx.post(f"{url}/events", json=edge, headers=headers).status_code == 200
    httpx.delete(url, headers=headers)


@pytest.mark.parametrize("temperature", EXTREME_TEMPERATURES)
def test_any_finite_positive_temperature_gives_a_playlist(server, temperature):
    body = {"seed_tracks": HISTORY, "n": 4, "temperature": temperature, "seed": 3}
    response = httpx.post(f"{server.url}/playlists/continue", json=body)
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == 4


@pytest.mark.parametrize("temperature", EXTREME_TEMPERATURES)
def test_the_onnx_backend_samples_at_any_temperature(models, temperature):
    backend = load_backend(models.bundle, 10, 50)
    seeds = [Event(t) for t in HISTORY]
    listing = backend.continue_playlist(seeds, 4, None, None, None, None, temperature, 3)
    assert len(listing.items) == 4


def test_a_tiny_temperature_picks_the_best_and_a_huge_one_draws_uniformly():
    scores = np.array([3.0, 1.0, -np.inf, 2.0], dtype=np.float32)
    rng = np.random.default_rng(0)
    assert {_pick(scores, 1e-300, rng) for _ in range(50)} == {0}
    picks = [_pick(scores, 1e300, rng) for _ in range(600)]
    assert set(picks) == {0, 1, 3}  # never the masked track, each of the others often
    assert min(picks.count(i) for i in (0, 1, 3)) > 150


def test_a_library_value_error_is_a_422_naming_it():
    async def refuses() -> None:
        raise ValueError("timestamps must be seconds, got 1.7e12")

    with pytest.raises(HTTPException) as error:
        asyncio.run(_answered(refuses()))  # type: ignore[arg-type]
    assert error.value.status_code == 422
    assert "timestamps must be seconds" in str(error.value.detail)


class _FailingBatch:
    """A backend whose batched call fails for one row's content."""

    def recommend_many(self, histories, ks, exclude):
        raise ValueError("row 2 holds a bad history")


def test_a_bad_row_fails_alone_not_its_batch():
    def alone(i: int) -> str:
        if i == 2:
            raise ValueError("a bad history")
        return f"listing {i}"

    admission = Admission(concurrency=1, max_queue=64, deadline_s=60.0)
    try:
        batcher = RecommendBatcher(admission, 8)
        rows = [Row([Event("t1")], 3, True, partial(alone, i)) for i in range(4)]
        outcomes = batcher._run(_FailingBatch(), "lists", rows)  # type: ignore[arg-type]
    finally:
        admission.close()
    assert isinstance(outcomes[2], ValueError)  # settled as that request's error alone
    assert [o for i, o in enumerate(outcomes) if i != 2] == ["listing 0", "listing 1", "listing 3"]
