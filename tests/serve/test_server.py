"""Every endpoint of a real checkpoint server, its validation errors and its auth."""

from __future__ import annotations

import asyncio
import json

import httpx
import pandas as pd
import pytest

from segue.api import Recommender
from segue.serve.client import SegueClient, ServeError
from tests.serve.conftest import API_KEY

HISTORY = ["t1", "t7", "t3", "t30"]


def run(coro):
    return asyncio.run(coro)


async def _call(server, method: str, *args, api_key: str | None = API_KEY, **kwargs):
    async with SegueClient(server.url, api_key=api_key) as client:
        return await getattr(client, method)(*args, **kwargs)


def _ids(listing: dict) -> list[str]:
    return [item["track_id"] for item in listing["items"]]


def test_recommend_matches_the_in_process_recommender(server, models):
    rec = Recommender.load(models.checkpoint)
    options = {"block": ["t24"], "max_per_artist": 1}
    got = run(_call(server, "recommend", HISTORY, k=5, **options))
    expected = rec.recommend(HISTORY, k=5, **options)
    assert _ids(got) == expected["track_id"].tolist()
    assert [i["rank"] for i in got["items"]] == [1, 2, 3, 4, 5]
    assert len({i["artist"] for i in got["items"]}) == 5  # the cap held
    assert got["model_version"].startswith("sha256:")
    assert not got["cold_start"]


def test_recommend_with_events_and_unknown_ids(server, models):
    events = [
        {"track_id": "t1", "event_type": "play", "timestamp": 1000.0},
        {"track_id": "nope", "event_type": "play", "timestamp": 1100.0},
        {"track_id": "t7", "event_type": "skip", "timestamp": 1200.0},
    ]
    got = run(_call(server, "recommend", events, k=3, allow=[f"t{i}" for i in range(20)]))
    assert got["unknown_ids"] == ["nope"]
    assert all(int(t[1:]) < 20 for t in _ids(got))
    cold = run(_call(server, "recommend", [], k=3))
    assert cold["cold_start"] and _ids(cold) == ["t0", "t1", "t2"]  # popularity


def test_continue_playlist_and_similar(server, models):
    rec = Recommender.load(models.checkpoint)
    got = run(_call(server, "continue_playlist", ["t1", "t2"], n=4))
    assert _ids(got) == rec.continue_playlist(["t1", "t2"], n=4)["track_id"].tolist()
    assert [i["position"] for i in got["items"]] == [1, 2, 3, 4]
    similar = run(_call(server, "similar", "t3", k=4))
    assert _ids(similar) == rec.similar_tracks("t3", k=4)["track_id"].tolist()
    with pytest.raises(ServeError) as error:
        run(_call(server, "similar", "unknown-track"))
    assert error.value.status == 404


def test_listener_events_rerank_in_real_time(server, models):
    rec = Recommender.load(models.checkpoint)

    async def scenario() -> tuple[dict, dict, dict, dict]:
        async with SegueClient(server.url, api_key=API_KEY) as client:
            await client.delete_listener("alice")
            first = await client.add_events(
                "alice",
                [{"track_id": "t1", "timestamp": 1000}, {"track_id": "t7", "timestamp": 1200}],
            )
            skip = {"track_id": "t3", "event_type": "skip", "timestamp": 1230}
            second = await client.add_events("alice", [skip])
            read = await client.listener_recommendations("alice", k=10)
            gone = await client.delete_listener("alice")
            return first, second, read, gone

    first, second, read, gone = run(scenario())
    assert first["events"] == 2 and first["source"] == "reencoded"
    assert second["events"] == 3 and second["source"] == "kv_cache"  # one incremental step
    assert _ids(first) != _ids(second)  # the skip re-ranked the list
    assert "t3" not in _ids(second) and "t1" not in _ids(second)  # played tracks excluded
    assert _ids(read) == _ids(second)
    assert gone == {"listener_id": "alice", "deleted": True}
    # The same events through the in-process session give the same list.
    session = rec.session(pd.DataFrame({"track_id": ["t1", "t7"], "timestamp": [1000, 1200]}))
    session.add("t3", skipped=True, timestamp=1230)
    assert _ids(read) == session.recommend(k=10)["track_id"].tolist()
    after = run(_call(server, "listener_recommendations", "alice", k=3))
    assert after["events"] == 0 and after["cold_start"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"history": ["t1"], "k": 0}, "body.k"),
        ({"history": ["t1"], "k": 26}, "body.k"),  # over this server's cap of 25
        ({"history": ["t1"] * 21}, "body.history"),  # over the history cap of 20
        ({"history": ["t1"], "max_per_artsit": 2}, "body.max_per_artsit"),
        ({"history": ["bad\nid"]}, "body.history.0"),
        ({"history": [{"track_id": "t1", "event_type": "rewind"}]}, "body.history.0.event_type"),
        ({"history": [{"track_id": "t1", "timestamp": 5}, {"track_id": "t2"}]}, "body"),
        ({"history": "t1"}, "body.history"),
        ({"history": ["t1"], "max_per_artist": 0}, "body.max_per_artist"),
    ],
)
def test_invalid_requests_answer_422_naming_the_field(server, body, field):
    response = httpx.post(f"{server.url}/recommend", json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert field in [d["field"] for d in problem["detail"]], problem
    assert problem["request_id"] == response.headers["x-request-id"]


def test_invalid_path_and_query_values(server):
    bad_listener = httpx.get(f"{server.url}/listeners/a%20b/recommendations")
    assert bad_listener.status_code == 422
    assert bad_listener.json()["detail"][0]["field"] == "path.listener_id"
    too_many = httpx.get(f"{server.url}/tracks/t1/similar", params={"k": 1000})
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["field"] == "query.k"
    no_json = httpx.post(
        f"{server.url}/recommend", content=b"{", headers={"content-type": "application/json"}
    )
    assert no_json.status_code == 422


def test_body_over_the_cap_is_refused_with_413(server):
    body = json.dumps({"history": ["t1"] * 2000}).encode()  # > 4096 bytes
    response = httpx.post(
        f"{server.url}/recommend", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    chunked = httpx.post(
        f"{server.url}/recommend",
        content=iter([body[:1000], body[1000:]]),  # no Content-Length: counted as it arrives
        headers={"content-type": "application/json"},
    )
    assert chunked.status_code == 413


def test_writes_need_a_valid_key(server):
    url = f"{server.url}/listeners/bob/events"
    body = {"events": [{"track_id": "t1"}]}
    assert httpx.post(url, json=body).status_code == 401
    assert httpx.post(url, json=body, headers={"X-API-Key": "x" * 24}).status_code == 401
    assert httpx.post(url, json=body, headers={"X-API-Key": API_KEY}).status_code == 200
    bearer = {"Authorization": f"Bearer {API_KEY}"}
    assert httpx.delete(f"{server.url}/listeners/bob", headers=bearer).status_code == 200
    assert httpx.post(f"{server.url}/admin/reload").status_code == 401
    assert httpx.post(f"{server.url}/recommend", json={"history": []}).status_code == 200


def test_health_readiness_metrics_openapi_and_request_ids(server):
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz").json()
    assert ready["status"] == "ready" and ready["store"] == "memory" and ready["store_ok"]
    mine = httpx.post(
        f"{server.url}/recommend", json={"history": ["t1"]}, headers={"X-Request-ID": "req-42"}
    )
    assert mine.headers["x-request-id"] == "req-42"
    metrics = httpx.get(f"{server.url}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'segue_requests_total{method="POST",route="/recommend",status="200"}' in text
    assert 'segue_request_duration_seconds_bucket{le="0.005",route="/recommend"}' in text
    assert f'segue_model_info{{kind="checkpoint",version="{ready["model_version"]}"}} 1.0' in text
    spec = httpx.get(f"{server.url}/openapi.json").json()
    for path in (
        "/recommend",
        "/playlists/continue",
        "/tracks/{track_id}/similar",
        "/listeners/{listener_id}/events",
        "/listeners/{listener_id}/recommendations",
        "/listeners/{listener_id}",
        "/admin/reload",
    ):
        assert path in spec["paths"], path
    assert httpx.get(f"{server.url}/docs").status_code == 200
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    logged = [x for x in lines if x.get("request_id") == "req-42" and x["msg"] == "request"]
    assert logged and logged[0]["route"] == "/recommend" and logged[0]["status"] == 200


def test_concurrent_recommendations_are_batched_and_exact(server, models):
    rec = Recommender.load(models.checkpoint)
    histories = [[f"t{(i * 7 + j) % 40}" for j in range(3 + i % 5)] for i in range(24)]

    async def burst() -> list[dict]:
        async with SegueClient(server.url) as client:
            return await asyncio.gather(*(client.recommend(h, k=6) for h in histories))

    before = _batch_calls(server)
    results = run(burst())
    for history, got in zip(histories, results):
        assert _ids(got) == rec.recommend(history, k=6)["track_id"].tolist()
    calls = _batch_calls(server) - before
    assert 1 <= calls < len(histories)  # several requests shared a model call


def _batch_calls(server) -> float:
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith('segue_batch_size_count{kind="lists"}'):
            return float(line.split()[-1])
    return 0.0
