"""Hot reload (endpoint and SIGHUP) without dropped requests, graceful shutdown, and uvicorn's
supervisor replacing a killed worker."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from pathlib import Path

import httpx
import pytest

from segue.api import Recommender
from segue.serve.client import SegueClient
from tests.serve.conftest import API_KEY, Server

KEY = {"X-API-Key": API_KEY}
HISTORY = ["t1", "t7", "t3", "t30"]


def _swap(source: Path, target: Path) -> None:
    """Replace the served file atomically, as a deployment would."""
    staging = target.with_suffix(".new")
    shutil.copyfile(source, staging)
    os.replace(staging, target)


def _wait_for(condition, timeout_s: float = 30.0, server: Server | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:  # the log is read once, on failure
            log = "" if server is None else "; the server's log ends:\n" + server.log()[-3000:]
            pytest.fail("condition not met in time" + log)
        time.sleep(0.2)


def _ids(body: dict) -> list[str]:
    return [item["track_id"] for item in body["items"]]


def test_reload_swaps_the_model_without_dropping_requests(models, tmp_path):
    served = tmp_path / "model.pt"
    shutil.copyfile(models.checkpoint, served)
    want_new = Recommender.load(models.other_checkpoint).recommend(HISTORY, k=5)
    # Generous deadlines, on the server and the client: only the reload could fail a request
    # here, not overload shedding or a client timeout on a loaded CI machine (a 10 s client
    # timeout expired once while two training jobs shared the 2 cores; a failed reload's child
    # took over httpx's default 5 s while a benchmark, a training run and the suite shared them).
    with Server(served, ["--deadline-ms", "30000"], tmp_path / "server.log") as server:
        before = httpx.post(f"{server.url}/recommend", json={"history": HISTORY, "k": 5}).json()
        _swap(models.other_checkpoint, served)

        async def load_and_reload() -> tuple[list[int], dict]:
            async with SegueClient(server.url, api_key=API_KEY, timeout_s=60) as client:
                calls = [
                    client.http.post("/recommend", json={"history": HISTORY, "k": 5})
                    for _ in range(30)
                ]
                results = await asyncio.gather(client.reload(), *calls)
                return [r.status_code for r in results[1:]], results[0]

        statuses, reloaded = asyncio.run(load_and_reload())
        assert statuses == [200] * 30  # nothing dropped while the model was swapped
        assert reloaded["changed"] and reloaded["previous_version"] == before["model_version"]
        assert reloaded["read_in_child"]  # off the serving process's GIL (serve.staging)
        after = httpx.post(f"{server.url}/recommend", json={"history": HISTORY, "k": 5}).json()
        assert after["model_version"] == reloaded["model_version"]
        assert _ids(after) == want_new["track_id"].tolist()
        # SIGHUP reloads too: back to the first model.
        _swap(models.checkpoint, served)
        server.process.send_signal(signal.SIGHUP)
        # 120 s: the reload's child read side.pt in over 30 s once, with a training run and a
        # screen sharing CI's 2 cores (2026-12-08); the wait ends as soon as the version shows.
        _wait_for(
            lambda: (
                httpx.get(f"{server.url}/readyz").json()["model_version"] == before["model_version"]
            ),
            120,
            server,
        )
        # A file that is not a model: the reload fails, the old model keeps serving.
        served.write_bytes(b"not a checkpoint")
        failed = httpx.post(f"{server.url}/admin/reload", headers=KEY, timeout=60)
        assert failed.status_code == 500 and "previous model kept" in failed.json()["error"]
        still = httpx.post(f"{server.url}/recommend", json={"history": HISTORY, "k": 5})
        assert still.json()["model_version"] == before["model_version"]


@pytest.mark.slow
def test_graceful_shutdown_finishes_requests_in_flight(models, tmp_path):
    server = Server(models.checkpoint, [], tmp_path / "server.log").wait_ready()

    async def slow_call_then_stop() -> int:
        async with SegueClient(server.url) as client:
            call = asyncio.ensure_future(
                client.http.post("/playlists/continue", json={"seed_tracks": HISTORY, "n": 200})
            )
            await asyncio.sleep(0.05)  # the request is in flight
            server.process.send_signal(signal.SIGTERM)
            return (await call).status_code

    try:
        assert asyncio.run(slow_call_then_stop()) == 200
        # uvicorn re-raises SIGTERM once it has shut down cleanly (the exit a supervisor expects).
        assert server.process.wait(30) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in server.log()
    finally:
        server.stop()


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_reload_rolls_over_workers(models, tmp_path):
    served = tmp_path / "model.pt"
    shutil.copyfile(models.checkpoint, served)
    with Server(served, ["--workers", "2"], tmp_path / "server.log") as server:
        # The supervisor also has a resource-tracker child on some platforms: wait for 2 workers.
        _wait_for(lambda: len(_workers(server)) == 2, 60)
        before = _workers(server)
        victim = sorted(before)[0]
        os.kill(victim, signal.SIGKILL)
        # A fresh worker imports torch and loads the model: on 2 busy cores (the CI suite)
        # that once took past 60 s. The log is printed if it never comes.
        replaced = lambda: len(_workers(server)) == 2 and victim not in _workers(server)  # noqa: E731
        _wait_for(replaced, 120, server)
        _wait_for(lambda: httpx.get(f"{server.url}/readyz").status_code == 200, 60, server)
        statuses = {
            httpx.post(f"{server.url}/recommend", json={"history": HISTORY}).status_code
            for _ in range(10)
        }
        assert statuses == {200}
        assert "died" in server.log()
        metrics = httpx.get(f"{server.url}/metrics").text  # summed over the workers
        assert 'segue_requests_total{method="POST",route="/recommend",status="200"}' in metrics
        # A reload on one worker restarts every worker, one at a time, on the new file.
        old_version = httpx.get(f"{server.url}/readyz").json()["model_version"]
        _swap(models.other_checkpoint, served)
        reloaded = httpx.post(f"{server.url}/admin/reload", headers=KEY, timeout=60).json()
        assert reloaded["rolling_restart"] and reloaded["model_version"] != old_version
        new_version = reloaded["model_version"]
        _wait_for(lambda: _versions(server, 12) == {new_version}, 120, server)
        # uvicorn gives up a rolling restart whose new worker is not ready in time (5 s unless
        # told otherwise; segue says 60 s): workers would then serve different models.
        assert "aborting the restart" not in server.log()
        assert httpx.post(f"{server.url}/recommend", json={"history": HISTORY}).status_code == 200


def _versions(server: Server, n: int) -> set[str]:
    """Model versions answered by ``n`` fresh connections (spread over the workers)."""
    found = set()
    for _ in range(n):
        with httpx.Client() as client:  # a new connection each time
            found.add(client.get(f"{server.url}/readyz").json()["model_version"])
    return found


def _workers(server: Server) -> set[int]:
    return set(server.workers())


def test_the_access_log_is_on_by_default_and_off_with_its_flag(models, tmp_path):
    for args, logged in (([], True), (["--no-access-log"], False)):
        server = Server(models.checkpoint, args, tmp_path / f"server{len(args)}.log").wait_ready()
        try:
            response = httpx.post(f"{server.url}/recommend", json={"history": HISTORY, "k": 3})
            assert response.status_code == 200
        finally:
            server.stop()
        lines = [line for line in server.log().splitlines() if '"msg": "request"' in line]
        assert bool(lines) is logged, server.log()[-2000:]
        if logged:
            assert '"route": "/recommend"' in lines[-1] and '"request_id"' in lines[-1]
