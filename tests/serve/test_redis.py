"""The Redis listener store against a real redis-server: replicas sharing listeners, TTLs, and
a Redis restart under a running server (degrade to process memory, reconnect, catch up)."""

from __future__ import annotations

import time

import httpx
import pytest
import redis

from tests.serve.conftest import API_KEY, Server

KEY = {"X-API-Key": API_KEY}


def _events(*tracks: str, start: float = 1000.0) -> dict:
    return {"events": [{"track_id": t, "timestamp": start + 60 * i} for i, t in enumerate(tracks)]}


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["track_id"] for item in response.json()["items"]]


@pytest.fixture(scope="module")
def replicas(models, redis_server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("replicas")
    args = ["--redis-url", redis_server.url, "--listener-ttl-s", "600"]
    first = Server(models.checkpoint, args, folder / "a.log")
    second = Server(models.checkpoint, args, folder / "b.log")  # both start at once
    try:
        yield first.wait_ready(), second.wait_ready()
    finally:
        first.stop()
        second.stop()


@pytest.mark.slow
def test_two_replicas_serve_one_listener(replicas, redis_server):
    a, b = replicas
    httpx.delete(f"{a.url}/listeners/carol", headers=KEY)
    first = httpx.post(f"{a.url}/listeners/carol/events", json=_events("t1", "t7"), headers=KEY)
    assert first.json()["source"] == "reencoded"
    # Replica b has no state for carol: it re-encodes the events a stored.
    more = _events("t3", start=1200.0)
    on_b = httpx.post(f"{b.url}/listeners/carol/events", json=more, headers=KEY)
    assert on_b.json()["events"] == 3 and on_b.json()["source"] == "reencoded"
    # Back on a: its cache is one event behind the store and catches up incrementally.
    on_a = httpx.get(f"{a.url}/listeners/carol/recommendations")
    assert on_a.json()["source"] == "kv_cache" and _ids(on_a) == _ids(on_b)
    # The store holds events with a TTL, not model state.
    client = redis.Redis.from_url(redis_server.url)
    assert client.llen("segue:listener:carol:events") == 3
    assert 0 < client.ttl("segue:listener:carol:events") <= 600
    assert httpx.delete(f"{b.url}/listeners/carol", headers=KEY).json()["deleted"]
    assert httpx.get(f"{a.url}/listeners/carol/recommendations").json()["events"] == 0
    ready = httpx.get(f"{a.url}/readyz").json()
    assert ready["store"] == "redis" and ready["store_ok"]
    # Something else wrote to a listener's key: bad entries are skipped and counted.
    client.rpush("segue:listener:erin:events", b"not json", b'{"t":"t1","e":"play","s":1.0}')
    client.set("segue:listener:erin:n", 2)
    read = httpx.get(f"{a.url}/listeners/erin/recommendations")
    assert read.status_code == 200 and not read.json()["cold_start"]
    assert "segue_store_invalid_events 1.0" in httpx.get(f"{a.url}/metrics").text


@pytest.mark.slow
def test_redis_restart_degrades_then_reconnects(replicas, redis_server):
    a, _ = replicas
    httpx.delete(f"{a.url}/listeners/dave", headers=KEY)
    assert httpx.post(f"{a.url}/listeners/dave/events", json=_events("t1"), headers=KEY)
    redis_server.stop()
    try:
        during = httpx.post(
            f"{a.url}/listeners/dave/events", json=_events("t2", start=2000.0), headers=KEY
        )
        assert during.status_code == 200  # served from process memory, no error
        assert not httpx.get(f"{a.url}/readyz").json()["store_ok"]
        metrics = httpx.get(f"{a.url}/metrics").text
        assert "segue_store_degraded 1.0" in metrics
        assert "segue_store_errors_total" in metrics
    finally:
        redis_server.start()
    deadline = time.monotonic() + 15
    while not httpx.get(f"{a.url}/readyz").json()["store_ok"]:
        assert time.monotonic() < deadline, "the server did not reconnect to redis"
        time.sleep(0.2)
    after = httpx.post(
        f"{a.url}/listeners/dave/events", json=_events("t3", start=3000.0), headers=KEY
    )
    assert after.status_code == 200
    # The event written while degraded was pushed to redis on reconnection (the one before the
    # restart was lost with the unsaved redis, as a real restart without persistence loses it).
    stored = redis.Redis.from_url(redis_server.url).lrange("segue:listener:dave:events", 0, -1)
    assert [b'"t2"' in e for e in stored] == [True, False]
    assert "segue_store_degraded 0.0" in httpx.get(f"{a.url}/metrics").text
