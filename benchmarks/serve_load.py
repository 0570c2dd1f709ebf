"""Load, overload and faults of ``segue serve`` on loopback, with the in-process baseline.

Run (bounded: about 3 minutes on 2 cores; loopback only; from the repository root)::

    python -m benchmarks.serve_load                  # 100k tracks, 64 clients, all phases
    python -m benchmarks.serve_load --phases load    # without overload and faults (~1.5 min)
    python -m benchmarks.serve_load --phases reload --reloads 5 --fault-rate 100

The model is a SASRec checkpoint with random weights of the stated shape (100k tracks,
d_model 64, 2 layers, max_len 50): latency depends on the shapes, not on what was learned.

Phases, each printed as one row (p50 / p99 of accepted requests, 503s, other errors, the p99 of
each kind of the mix, and the machine's load average when the phase ended):

* ``inprocess``: the same mix through :class:`segue.Recommender` in this process, one thread,
  one call at a time: the model's own throughput, against which the service is compared.
* ``capacity``: 64 clients in a closed loop (each sends its next request when answered, or
  1 s after a 503, as its ``Retry-After`` asks): the throughput the service sustains. By
  Little's law 64 clients see a mean latency of 64 / throughput, so p99 <= 25 ms in a closed
  loop needs over 2,560 requests/s; on 2 cores shared with the load generator that is out of
  reach, and the row shows what 64 clients at full tilt get.
* ``rate@N``: open-loop Poisson arrivals at N requests/s over 64 connections, a few short
  steps of a bisection for the highest rate whose p99 stays within ``--target-p99-ms`` with no
  error and no 503 (the ``sustained`` row names it, or says that no rate tried met it, and
  names the highest rate tried at which recommendations and listener events alone met it:
  playlists, 10% of the mix, set its p99).
* ``overload``: arrivals at 4x the capacity: accepted p99 against the deadline, the 503s, the
  server's memory before / peak / after, then ``recovery`` (sequential requests once it stops).
* faults (:mod:`benchmarks.serve_faults`): hot reload, Redis restart (with ``redis-server``
  installed) and a killed worker (``--workers 2``), each in the middle of a paced phase. The
  pace is the sustained rate (:func:`fault_rate`; without one, the highest rate of the
  bisection that the service took with no 503 and no error): at a rate it already sheds
  without a fault, a 503 during the fault says nothing of the fault.

The server runs playlists on a thread of their own (``--playlist-threads 1``, the server's
default); ``--playlist-threads 0`` measures them sharing the model's thread.

The load generator shares the machine with the server. Once the in-process phase is done, this
process (the generator) is pinned to one core (``--client-cpu``, default the last one) with
``os.sched_setaffinity``; the server process is started before that and may use every core.
Both facts are printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.serve_faults import redis_restart, reload_under_load, worker_kill
from benchmarks.serve_harness import (
    API_KEY,
    RedisProcess,
    ServerProcess,
    build_checkpoint,
    cpu_seconds,
    load_average,
    rss_mb,
    start_server,
)
from benchmarks.serve_traffic import Requests, closed_loop, open_loop
from segue.serve.heap import settle_heap

SEARCH_STEPS = 5
"""Open-loop steps of the bisection for the highest rate meeting the p99 target."""


def in_process(
    checkpoint: Path, n_tracks: int, calls: int, int8_screen: bool | None = None
) -> dict:
    """The mix through ``Recommender`` directly: one thread, sequential calls."""
    from segue.api import Recommender

    rec = Recommender.load(checkpoint, num_threads=1, int8_screen=int8_screen)
    requests = Requests(n_tracks, seed=9)
    sessions: dict = {}
    latency = []
    start = time.perf_counter()
    for _ in range(calls):
        kind, path, body = requests.next()
        t0 = time.perf_counter()
        if kind == "recommend":
            rec.recommend(body["history"], k=body["k"])
        elif kind == "event":
            session = sessions.setdefault(path, rec.session())
            event = body["events"][0]
            session.add(
                event["track_id"], skipped=event["event_type"] == "skip", timestamp=time.time()
            )
            session.recommend(k=body["k"])
        else:
            rec.continue_playlist(body["seed_tracks"], n=body["n"])
        latency.append(time.perf_counter() - t0)
    seconds = time.perf_counter() - start
    lat = np.asarray(latency)
    return {
        "phase": "inprocess",
        "requests": calls,
        "seconds": round(seconds, 2),
        "ok_per_s": round(calls / seconds, 1),
        "p50_ms": round(float(np.percentile(lat, 50)) * 1000, 2),
        "p99_ms": round(float(np.percentile(lat, 99)) * 1000, 2),
    }


def overload(server: ServerProcess, n_tracks: int, rate: float, seconds: float) -> list[dict]:
    """4x arrivals, memory sampled throughout, then sequential requests to show recovery."""
    memory = {"before_mb": round(rss_mb(server.process.pid), 1), "peak_mb": 0.0}

    async def during(elapsed: float) -> None:
        memory["peak_mb"] = max(memory["peak_mb"], round(rss_mb(server.process.pid), 1))

    phase = asyncio.run(
        open_loop(
            server.url,
            API_KEY,
            Requests(n_tracks, 5),
            rate,
            seconds,
            "overload",
            connections=256,
            during=during,
        )
    )
    time.sleep(1.0)
    memory["after_mb"] = round(rss_mb(server.process.pid), 1)
    recovery = asyncio.run(
        closed_loop(server.url, API_KEY, Requests(n_tracks, 6), 1, 100, 30, "recovery")
    )
    return [
        {
            **phase.summary(),
            "offered_per_s": round(rate, 1),
            **memory,
            "load_average": load_average(),
        },
        recovery.summary(),
    ]


def sustained_rate(
    url: str, n_tracks: int, capacity: float, target_ms: float, seconds: float, clients: int
) -> list[dict]:
    """Bisect (:data:`SEARCH_STEPS` open-loop steps) for the highest arrival rate whose p99 is
    within ``target_ms`` with no 503 and no error; the last row names it (None: none met it)."""
    low, high, best = 0.0, capacity, None
    rows = []
    rate = capacity / 2
    for step in range(SEARCH_STEPS):
        phase = asyncio.run(
            open_loop(
                url,
                API_KEY,
                Requests(n_tracks, 20 + step),
                rate,
                seconds,
                f"rate@{rate:.0f}",
                connections=clients,
            )
        )
        row = {**phase.summary(), "offered_per_s": round(rate, 1), "load_average": load_average()}
        rows.append(row)
        met = row["p99_ms"] is not None and row["p99_ms"] <= target_ms
        if met and row["shed_503"] == 0 and row["errors"] == 0:
            low, best = rate, row
        else:
            high = rate
        rate = (low + high) / 2
    # Playlists (10% of the mix) set the p99; also say which rates tried kept the other kinds,
    # recommendations and listener events, within the target.
    quick = [
        r["offered_per_s"]
        for r in rows
        if r["shed_503"] == 0
        and r["errors"] == 0
        and all((r.get(f"p99_ms_{kind}") or 0) <= target_ms for kind in ("recommend", "event"))
    ]
    rows.append(
        {
            "phase": "sustained",
            "target_p99_ms": target_ms,
            "rate_per_s": None if best is None else best["offered_per_s"],
            "p99_ms": None if best is None else best["p99_ms"],
            "lowest_rate_tried": round(min(r["offered_per_s"] for r in rows), 1),
            "highest_rate_recommend_and_event_within_target": max(quick, default=None),
        }
    )
    return rows


def fault_rate(rows: list[dict], capacity: float) -> float:
    """Pace of the fault phases: the sustained rate (the bisection's highest step within the
    p99 target with no 503 and no error: the load the service is specified for); without one,
    the highest ``rate@N`` step with no 503 and no error; else a quarter of the capacity.

    Not simply the fastest shed-free step: one 6 s step without a 503 is weak evidence. On
    2026-12-06 a step at 181/s had none (p99 43 ms), and 12 s phases at that pace then shed
    13 to 42 requests with no fault at all, so a 503 in a fault's window said nothing of it.
    """
    sustained = [r.get("rate_per_s") for r in rows if r.get("phase") == "sustained"]
    if sustained and sustained[-1] is not None:
        return float(sustained[-1])
    clean = [
        r["offered_per_s"]
        for r in rows
        if str(r.get("phase", "")).startswith("rate@") and r["shed_503"] == 0 and r["errors"] == 0
    ]
    return max(clean, default=capacity / 4)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tracks", type=int, default=100_000)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--max-len", type=int, default=50)
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--requests", type=int, default=3000, help="capacity phase: request count")
    p.add_argument("--phase-seconds", type=float, default=12.0, help="paced / overload / faults")
    p.add_argument("--step-seconds", type=float, default=6.0, help="each open-loop rate step")
    p.add_argument("--target-p99-ms", type=float, default=25.0)
    p.add_argument("--deadline-ms", type=float, default=200.0)
    p.add_argument("--max-concurrency", type=int, default=1, help="model calls at once")
    p.add_argument(
        "--playlist-threads", type=int, default=1, help="server's playlist lane (0: none)"
    )
    p.add_argument("--max-batch", type=int, default=None, help="server's --max-batch")
    p.add_argument("--workers", type=int, default=1, help="server's --workers (Redis store)")
    p.add_argument(
        "--client-cpu",
        type=int,
        default=(os.cpu_count() or 1) - 1,
        help="pin the load generator to this core after the in-process phase (-1: no pinning)",
    )
    p.add_argument(
        "--int8-screen",
        choices=["auto", "on", "off"],
        default="auto",
        help="server's --int8-screen (and the in-process phase's Recommender)",
    )
    p.add_argument(
        "--phases",
        default="load,overload,faults",
        help="any of load, overload, faults (reload, Redis restart, killed worker), reload",
    )
    p.add_argument(
        "--reloads", type=int, default=1, help="reload phases, each a swap to the other model"
    )
    p.add_argument(
        "--fault-rate", type=float, default=None, help="pace of the faults (default: fault_rate)"
    )
    p.add_argument("--work-dir", type=Path, default=None, help="keep the model here")
    p.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    args = p.parse_args(argv)
    phases = set(args.phases.split(","))
    os.environ["SEGUE_BENCH_TRACKS"] = str(args.tracks)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="segue-serve-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    shape = (args.tracks, args.d_model, args.layers, args.max_len)
    model = build_checkpoint(work / "model.pt", *shape, seed=0)
    other = build_checkpoint(work / "other.pt", *shape, seed=1)
    first = work / "first.pt"  # the served file is overwritten by each reload
    shutil.copyfile(model, first)
    server_args = [
        "--deadline-ms",
        str(args.deadline_ms),
        "--max-concurrency",
        str(args.max_concurrency),
        "--playlist-threads",
        str(args.playlist_threads),
        "--int8-screen",
        args.int8_screen,
    ]
    if args.max_batch is not None:
        server_args += ["--max-batch", str(args.max_batch)]
    if args.workers > 1:
        server_args += ["--workers", str(args.workers)]
    redis = RedisProcess(work) if RedisProcess.available() else None
    rows: list[dict] = [
        {
            "phase": "setup",
            "load_average": load_average(),
            "cpus": os.cpu_count(),
            "tracks": args.tracks,
            "store": "redis" if redis else "memory",
            "server_args": " ".join(server_args),
        }
    ]
    screen = {"auto": None, "on": True, "off": False}[args.int8_screen]
    rows.append({**in_process(model, args.tracks, 300, screen), "load_average": load_average()})
    if redis is not None:
        redis.start()
        server_args += ["--redis-url", redis.url]
    server = start_server(model, server_args, work / "server.log")
    if args.client_cpu >= 0:  # after the server started: it keeps every core
        os.sched_setaffinity(0, {args.client_cpu})
    rows[0]["client_cpus"] = sorted(os.sched_getaffinity(0))
    # The load generator is Python too: its full collections (up to ~135 ms, measured) would
    # stall its clocks and its sends. Its start-up heap is settled as the server's is.
    settle_heap()
    try:
        server.wait_ready()
        cpu_before = cpu_seconds(server.process.pid)
        capacity = asyncio.run(
            closed_loop(
                server.url,
                API_KEY,
                Requests(args.tracks, 4),
                args.clients,
                args.requests,
                60,
                "capacity",
            )
        ).summary()
        # The server's own CPU per request: what bounds its throughput on a quiet machine.
        cpu_s = cpu_seconds(server.process.pid) - cpu_before
        cpu_ms = round(cpu_s * 1000 / capacity["requests"], 2)
        rows.append(
            {**capacity, "load_average": load_average(), "server_cpu_ms_per_request": cpu_ms}
        )
        rate = capacity["ok_per_s"]
        rows[-1]["overhead_ratio"] = round(rows[1]["ok_per_s"] / max(rate, 1e-9), 2)
        if "load" in phases:
            rows += sustained_rate(
                server.url,
                args.tracks,
                rate,
                args.target_p99_ms,
                args.step_seconds,
                args.clients,
            )
        if "overload" in phases:
            rows += overload(server, args.tracks, 4 * rate, args.phase_seconds)
        pace = args.fault_rate or fault_rate(rows, rate)
        if phases & {"faults", "reload"}:
            for i in range(args.reloads):  # alternately the other model and the first again
                source = other if i % 2 == 0 else first
                rows.append(reload_under_load(server, model, source, pace, args.phase_seconds))
                rows[-1]["offered_per_s"] = round(pace, 1)
        if "faults" in phases and redis is not None:
            rows.append(redis_restart(server, redis, pace, args.phase_seconds))
            rows[-1]["offered_per_s"] = round(pace, 1)
    finally:
        server.stop()
        if redis is not None:
            redis.stop()
    if "faults" in phases:
        rows.append(worker_kill(model, server_args, work / "workers.log", pace, args.phase_seconds))
        rows[-1]["offered_per_s"] = round(pace, 1)
    rows.append({"phase": "done", "load_average": load_average()})
    _print(rows)
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=2))
    return 0


def _print(rows: list[dict]) -> None:
    columns = [
        "phase",
        "requests",
        "ok_per_s",
        "p50_ms",
        "p99_ms",
        "p99_ms_on_connection",
        "shed_503",
        "errors",
        "p99_ms_recommend",
        "p99_ms_event",
        "p99_ms_continue",
        "load_average",
    ]
    names = [c.replace("p99_ms_", "p99_") for c in columns]
    print(" | ".join(f"{c:>11}" for c in names))
    for row in rows:
        if "requests" in row:
            print(" | ".join(f"{row.get(c)!s:>11}" for c in columns))
    for row in rows:
        extra = {k: v for k, v in row.items() if k not in columns or "requests" not in row}
        print(json.dumps(extra))


if __name__ == "__main__":
    raise SystemExit(main())
