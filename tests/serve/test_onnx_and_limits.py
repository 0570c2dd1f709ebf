"""The torch-free ONNX server, overload shedding, and a server whose reads need a key."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import httpx
import pytest

from segue.serve.client import SegueClient
from tests.serve.conftest import API_KEY, Server

HISTORY = ["t1", "t7", "t3", "t30"]


def test_onnx_server_never_imports_torch(models, tmp_path, server):
    """The CLI runs in a Python where ``import torch`` raises: every endpoint still answers."""
    with Server(models.int8_bundle, [], tmp_path / "onnx.log", block_torch=True) as onnx:
        ready = httpx.get(f"{onnx.url}/readyz").json()
        assert ready["model_kind"] == "onnx"
        body = {"history": HISTORY, "k": 5, "max_per_artist": 2}
        got = httpx.post(f"{onnx.url}/recommend", json=body).json()
        want = httpx.post(f"{server.url}/recommend", json=body).json()  # the float checkpoint
        assert got["items"][0]["track_id"] == want["items"][0]["track_id"]
        headers = {"X-API-Key": API_KEY}
        events = {"events": [{"track_id": "t1"}, {"track_id": "t2", "event_type": "skip"}]}
        listener = httpx.post(f"{onnx.url}/listeners/l1/events", json=events, headers=headers)
        assert listener.status_code == 200 and listener.json()["source"] == "reencoded"
        playlist = httpx.post(
            f"{onnx.url}/playlists/continue", json={"seed_tracks": HISTORY, "n": 4}
        )
        assert len(playlist.json()["items"]) == 4
        assert httpx.get(f"{onnx.url}/tracks/t3/similar").status_code == 200
        assert "import torch is blocked" not in onnx.log()


def test_the_int8_artefact_is_served_as_recommender_load_reads_it(models, tmp_path):
    """``segue export``'s default output (``best.int8.pt``) served by the checkpoint backend:
    its int8 encoder and its dequantized table, the lists ``Recommender.load`` gives."""
    from segue.api import Recommender

    rec = Recommender.load(models.int8_artefact)
    with Server(models.int8_artefact, [], tmp_path / "int8.log") as int8:
        ready = httpx.get(f"{int8.url}/readyz").json()
        assert ready["model_kind"] == "checkpoint"
        assert ready["model_version"].startswith("sha256:")
        body = {"history": HISTORY, "k": 6, "max_per_artist": 2}
        got = httpx.post(f"{int8.url}/recommend", json=body).json()
        want = rec.recommend(HISTORY, k=6, max_per_artist=2)
        assert [i["track_id"] for i in got["items"]] == list(want["track_id"])
        headers = {"X-API-Key": API_KEY}
        events = {"events": [{"track_id": "t1"}, {"track_id": "t2", "event_type": "skip"}]}
        listener = httpx.post(f"{int8.url}/listeners/l1/events", json=events, headers=headers)
        assert listener.status_code == 200 and len(listener.json()["items"]) > 0
        playlist = httpx.post(
            f"{int8.url}/playlists/continue", json={"seed_tracks": HISTORY, "n": 4}
        )
        assert len(playlist.json()["items"]) == 4
        assert httpx.get(f"{int8.url}/tracks/t3/similar").status_code == 200


@pytest.fixture(scope="module")
def guarded(models, tmp_path_factory):
    """Reads need a key; a queue of 4 in front of one model thread sheds a burst. The deadline
    (1 s) is long enough for the first calls to finish on a busy machine (at 100 ms, with a
    training job beside the suite, every call of the burst was shed); deadline shedding itself
    is tested in ``test_batching.py``."""
    log = tmp_path_factory.mktemp("guarded") / "server.log"
    args = ["--read-auth", "key", "--deadline-ms", "1000", "--max-queue", "4"]
    with Server(models.checkpoint, args, log) as running:
        yield running


def test_reads_need_a_key_when_configured(guarded):
    body = {"history": HISTORY}
    assert httpx.post(f"{guarded.url}/recommend", json=body).status_code == 401
    keyed = httpx.post(f"{guarded.url}/recommend", json=body, headers={"X-API-Key": API_KEY})
    assert keyed.status_code == 200
    assert httpx.get(f"{guarded.url}/healthz").status_code == 200  # probes stay open


def test_overload_is_shed_with_503_and_the_server_recovers(guarded):
    body = {"seed_tracks": HISTORY, "n": 150}  # one slow model call each

    async def burst() -> list[httpx.Response]:
        async with SegueClient(guarded.url, api_key=API_KEY) as client:
            calls = [client.http.post("/playlists/continue", json=body) for _ in range(40)]
            return await asyncio.gather(*calls)

    responses = asyncio.run(burst())
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 1 and statuses.count(503) >= 20
    shed = [r for r in responses if r.status_code == 503]
    assert all(r.headers["retry-after"] == "1" for r in shed)
    assert {r.json()["detail"]["reason"] for r in shed} <= {"queue_full", "deadline"}
    # Recovered: the queue drained, a normal request is served.
    after = httpx.post(
        f"{guarded.url}/recommend", json={"history": HISTORY}, headers={"X-API-Key": API_KEY}
    )
    assert after.status_code == 200
    metrics = httpx.get(f"{guarded.url}/metrics").text
    assert 'segue_shed_total{reason="queue_full"}' in metrics


def test_the_deadline_starts_when_the_request_reaches_the_server(guarded):
    # The request line arrives, then the rest 1.5 s later: past the 1 s deadline before
    # the app ever sees the request, so it is shed (the clock did not start in the app).
    body = json.dumps({"history": HISTORY}).encode()
    head = (
        f"POST /recommend HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()

    def send(pause_s: float, payload: bytes = body) -> tuple[int, bytes]:
        with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as conn:
            conn.sendall(head[:20])
            time.sleep(pause_s)
            conn.sendall(head[20:] + payload)
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
        status_line, _, rest = reply.partition(b"\r\n")
        return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]

    assert send(0.0)[0] == 200
    status, payload = send(1.5)
    assert status == 503 and json.loads(payload)["detail"]["reason"] == "deadline"
    # Shed before the body is even parsed: an invalid body of the same length gets 503 too,
    # where on time it gets 422.
    invalid = b"{" + b" " * (len(body) - 1)
    assert send(0.0, invalid)[0] == 422
    assert send(1.5, invalid)[0] == 503
    metrics = httpx.get(f"{guarded.url}/metrics").text  # counted under the route, not unmatched
    assert 'segue_requests_total{method="POST",route="/recommend",status="503"}' in metrics
    assert 'segue_shed_total{reason="deadline"}' in metrics
