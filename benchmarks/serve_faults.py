"""Faults under load for the ``segue serve`` benchmark: a hot reload, a Redis restart and a
killed worker, each injected in the middle of a paced (open-loop) phase of mixed traffic."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from pathlib import Path

import httpx

from benchmarks.serve_harness import (
    API_KEY,
    RedisProcess,
    ServerProcess,
    shed_counts,
    shed_since,
    start_server,
)
from benchmarks.serve_traffic import Requests, open_loop


def reload_under_load(
    server: ServerProcess, model: Path, other: Path, rate: float, seconds: float
) -> dict:
    """Swap the model file and ``POST /admin/reload`` halfway through; count what failed.

    The reload is a task of its own: arrivals go on at the same pace while it runs (awaited
    in the arrival loop, it would pause them, and the missed arrivals would then be sent at
    once as a burst)."""
    shutil.copyfile(other, model.with_suffix(".new"))
    os.replace(model.with_suffix(".new"), model)
    outcome: dict = {}
    tasks: list[asyncio.Task] = []

    async def reload(http: httpx.AsyncClient) -> None:
        start = time.perf_counter()
        reply = await http.post("/admin/reload", headers={"X-API-Key": API_KEY})
        outcome.update(reply.json(), reload_s=round(time.perf_counter() - start, 2))

    async def run() -> dict:
        # The client is made before the arrivals start: making one (its TLS context) takes
        # this process's event loop for tens of milliseconds, which the requests in flight
        # would count as the server's latency.
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:

            async def during(elapsed: float) -> None:
                if elapsed >= seconds / 2 and not tasks:
                    outcome["started_at_s"] = round(elapsed, 2)
                    tasks.append(asyncio.create_task(reload(http)))

            requests = Requests(_n_tracks(server))
            phase = await open_loop(
                server.url, API_KEY, requests, rate, seconds, "reload", during=during
            )
            await asyncio.gather(*tasks)
        # From the reload's request to a second after its answer (requests then in flight).
        window = (outcome["started_at_s"], outcome["started_at_s"] + outcome["reload_s"] + 1.0)
        return {
            **phase.summary(),
            "reload": outcome,
            "shed_in_window": phase.shed_between(*window),
            "p99_ms_in_window": phase.p99_between(*window),
        }

    before = shed_counts(server.url)
    return {**_fire(run()), "shed_reasons": shed_since(server.url, before)}


def redis_restart(server: ServerProcess, redis: RedisProcess, rate: float, seconds: float) -> dict:
    """Stop redis-server at a third of the phase, start it again at two thirds (on a thread:
    the arrivals go on meanwhile)."""
    marks: dict = {}
    tasks: list[asyncio.Task] = []

    async def during(elapsed: float) -> None:
        if elapsed >= seconds / 3 and "stopped" not in marks:
            marks["stopped"] = round(elapsed, 2)
            tasks.append(asyncio.create_task(asyncio.to_thread(redis.stop)))
        if elapsed >= 2 * seconds / 3 and "started" not in marks:
            marks["started"] = round(elapsed, 2)
            await asyncio.gather(*tasks)  # stopped before it starts again
            tasks.append(asyncio.create_task(asyncio.to_thread(redis.start)))

    async def run() -> dict:
        phase = await open_loop(
            server.url,
            API_KEY,
            Requests(_n_tracks(server), seed=2),
            rate,
            seconds,
            "redis",
            during=during,
        )
        await asyncio.gather(*tasks)
        window = (marks["stopped"], marks["started"] + 1.0)  # down, then a second to reconnect
        return {
            **phase.summary(),
            "shed_in_window": phase.shed_between(*window),
            "p99_ms_in_window": phase.p99_between(*window),
        }

    before = shed_counts(server.url)
    summary = _fire(run())
    summary["shed_reasons"] = shed_since(server.url, before)
    deadline = time.monotonic() + 15
    while not (ready := httpx.get(f"{server.url}/readyz").json())["store_ok"]:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return {**summary, "redis": marks, "reconnected": ready["store_ok"]}


def worker_kill(model: Path, args: list[str], log: Path, rate: float, seconds: float) -> dict:
    """Two workers; SIGKILL one at a third of the phase; time until its replacement serves."""
    server = start_server(model, ["--workers", "2", *args], log).wait_ready()
    try:
        _wait(lambda: len(server.workers()) >= 2, 120)
        before = set(server.workers())
        marks: dict = {}

        async def during(elapsed: float) -> None:
            if elapsed >= seconds / 3 and "killed" not in marks:
                marks.update(killed=min(before), at=time.monotonic())
                os.kill(marks["killed"], signal.SIGKILL)

        async def run() -> dict:
            phase = await open_loop(
                server.url,
                API_KEY,
                Requests(_n_tracks(server), seed=3),
                rate,
                seconds,
                "kill",
                during=during,
            )
            return phase.summary()

        summary = _fire(run())
        # A new worker process is spawned at once; it serves once it has loaded the model.
        replaced = _wait(lambda: _two_live_workers(server, marks["killed"]), 120)
        marks["replaced_after_s"] = (
            round(time.monotonic() - marks.pop("at"), 2) if replaced else None
        )
        return {**summary, "worker": marks}
    finally:
        server.stop()


def _two_live_workers(server: ServerProcess, dead: int) -> bool:
    pids = [p for p in server.workers() if p != dead and _state(p) not in ("Z", "X", "")]
    return len(pids) >= 2 and "Application startup complete" in _log_tail(server)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


def _log_tail(server: ServerProcess) -> str:
    text = server.log_path.read_text()
    return text[text.rfind("died") :] if "died" in text else ""


def _wait(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _n_tracks(server: ServerProcess) -> int:
    return int(os.environ.get("SEGUE_BENCH_TRACKS", "100000"))


def _fire(coro) -> dict:
    return asyncio.run(coro)
