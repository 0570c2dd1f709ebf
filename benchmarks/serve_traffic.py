"""Traffic for the ``segue serve`` benchmarks: the request mix, closed- and open-loop load, and
the figures (latency percentiles, statuses) of a phase. Loopback only, bounded in count and time.

The mix is the issue's: 70% ``POST /recommend`` (a 20-track history), 20% ``POST
/listeners/{id}/events`` (one play or skip, re-ranked; 1,000 listeners), 10% ``POST
/playlists/continue`` (10 seeds, 10 tracks). Track ids are drawn Zipf-like, so popular tracks
recur as in real traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MIX = (("recommend", 0.7), ("event", 0.2), ("continue", 0.1))
N_LISTENERS = 1000


class Requests:
    """Draws the mixed requests for a catalogue of ``n_tracks`` ids ``t0..``."""

    def __init__(self, n_tracks: int, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.n_tracks = n_tracks
        self.kinds = [k for k, _ in MIX]
        self.weights = [w for _, w in MIX]

    def track(self) -> str:
        # Zipf-like popularity: index ~ n^u, many requests for the head of the catalogue.
        return f"t{int(self.n_tracks ** self.rng.random()) - 1}"

    def next(self) -> tuple[str, str, dict]:
        """``(kind, path, json body)`` of one request of the mix."""
        kind = self.rng.choices(self.kinds, self.weights)[0]
        if kind == "recommend":
            return kind, "/recommend", {"history": [self.track() for _ in range(20)], "k": 10}
        if kind == "event":
            listener = f"listener-{self.rng.randrange(N_LISTENERS)}"
            event = {"track_id": self.track(), "event_type": self.rng.choice(["play", "skip"])}
            return kind, f"/listeners/{listener}/events", {"events": [event], "k": 10}
        seeds = [self.track() for _ in range(10)]
        return kind, "/playlists/continue", {"seed_tracks": seeds, "n": 10}


@dataclass
class Phase:
    """What one phase saw: per-request latency (s) and status (0 = connection error)."""

    name: str
    seconds: float = 0.0
    latency: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    sent: list[float] = field(default_factory=list)
    pool_wait: list[float] = field(default_factory=list)
    origin: float = 0.0

    def record(
        self, seconds: float, status: int, kind: str = "", sent: float = 0.0, pool_wait: float = 0.0
    ) -> None:
        self.latency.append(seconds)
        self.status.append(status)
        self.kinds.append(kind)
        self.sent.append(sent - self.origin)
        self.pool_wait.append(pool_wait)

    def shed_between(self, first_s: float, last_s: float) -> int:
        """503s among the requests sent from ``first_s`` to ``last_s`` into the phase: what a
        fault in that window could have caused, apart from the phase's other 503s."""
        sent, status = np.asarray(self.sent), np.asarray(self.status)
        return int(((status == 503) & (sent >= first_s) & (sent <= last_s)).sum())

    def p99_between(self, first_s: float, last_s: float) -> float | None:
        """p99 (ms) of the accepted requests sent from ``first_s`` to ``last_s`` into the
        phase: what a fault in that window did to the latency of what it did not shed."""
        sent, status, lat = np.asarray(self.sent), np.asarray(self.status), np.asarray(self.latency)
        return _ms(lat[(status == 200) & (sent >= first_s) & (sent <= last_s)], 99)

    def summary(self) -> dict:
        """Counts, throughput, and p50 / p99 (ms) of the accepted (200) and the shed (503);
        ``p99_ms_<kind>``: the p99 of each kind of the mix's accepted requests;
        ``p99_ms_on_connection``: the accepted requests' p99 from the moment they had a
        connection (without the wait in this client's pool, which the server never sees)."""
        lat, status = np.asarray(self.latency), np.asarray(self.status)
        wire = lat - np.asarray(self.pool_wait)
        ok, shed = lat[status == 200], lat[status == 503]
        counts = Counter(self.status)
        kinds = np.asarray(self.kinds)
        by_kind = {
            f"p99_ms_{kind}": _ms(lat[(status == 200) & (kinds == kind)], 99)
            for kind, _ in MIX
            if (kinds == kind).any()
        }
        return {
            "phase": self.name,
            "requests": len(status),
            "seconds": round(self.seconds, 2),
            "ok_per_s": round(len(ok) / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": _ms(ok, 50),
            "p99_ms": _ms(ok, 99),
            "p99_ms_on_connection": _ms(wire[status == 200], 99),
            "shed_503": int(counts.get(503, 0)),
            "shed_p50_ms": _ms(shed, 50),
            "errors": int(sum(n for s, n in counts.items() if s not in (200, 503))),
            "statuses": {str(s): n for s, n in sorted(counts.items())},
            **by_kind,
        }


def _ms(values: np.ndarray, q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 2) if len(values) else None


class Connections:
    """A pool of keep-alive HTTP/1.1 connections speaking just enough HTTP for the benchmark.

    httpx costs about a millisecond of CPU per request, which on a 2-core machine is taken
    from the server being measured; this client writes a pre-built request and reads the
    status line, headers and ``Content-Length`` body (what uvicorn sends), a few tens of
    microseconds. A connection that fails is dropped and counted as status 0.
    """

    def __init__(self, url: str, api_key: str, size: int) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port, self.api_key = host, int(port), api_key
        self.free: asyncio.Queue = asyncio.Queue()
        for _ in range(size):
            self.free.put_nowait(None)  # opened on first use

    async def post(self, path: str, body: dict) -> int:
        return (await self.timed_post(path, body))[0]

    async def timed_post(self, path: str, body: dict) -> tuple[int, float]:
        """:meth:`post`, and the seconds spent waiting for a free connection."""
        waited = time.perf_counter()
        conn = await self.free.get()
        waited = time.perf_counter() - waited
        return await self._post(conn, path, body), waited

    async def _post(self, conn: Any, path: str, body: dict) -> int:
        payload = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nX-API-Key: {self.api_key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        try:
            reused = conn is not None
            if conn is None:
                conn = await asyncio.open_connection(self.host, self.port)
            reader, writer = conn
            writer.write(head.encode() + payload)
            try:
                status_line = await reader.readline()
            except ConnectionResetError:
                if not reused:
                    raise
                status_line = b""
            if not status_line and reused:
                # The server closed this idle keep-alive connection before reading the request
                # (as every HTTP client does, send it again once on a new connection).
                writer.close()
                conn = reader, writer = await asyncio.open_connection(self.host, self.port)
                writer.write(head.encode() + payload)
                status_line = await reader.readline()
            length, closing = 0, False
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection" and "close" in value.lower():
                    closing = True
            await reader.readexactly(length)
            if not status_line:
                raise ConnectionError("closed")
            if closing:
                writer.close()
                conn = None
            return int(status_line.split()[1])
        except (OSError, ConnectionError, asyncio.IncompleteReadError, IndexError, ValueError):
            conn = None
            return 0
        finally:
            self.free.put_nowait(conn)

    async def close(self) -> None:
        while not self.free.empty():
            conn = self.free.get_nowait()
            if conn is not None:
                conn[1].close()


async def _send(client: Connections, requests: Requests, phase: Phase) -> int:
    kind, path, body = requests.next()
    start = time.perf_counter()
    status, waited = await client.timed_post(path, body)
    phase.record(time.perf_counter() - start, status, kind, sent=start, pool_wait=waited)
    return status


@contextlib.asynccontextmanager
async def client(url: str, api_key: str, connections: int) -> AsyncIterator[Connections]:
    pool = Connections(url, api_key, connections)
    try:
        yield pool
    finally:
        await pool.close()


async def closed_loop(
    url: str,
    api_key: str,
    requests: Requests,
    clients: int,
    total: int,
    max_s: float,
    name: str,
    retry_after_s: float = 1.0,
) -> Phase:
    """``clients`` clients each send their next request as soon as the last one is answered,
    or ``retry_after_s`` after a 503 (the server's ``Retry-After``, as a polite client would)."""
    phase = Phase(name)
    stop = time.perf_counter() + max_s
    budget = iter(range(total))

    async def one_client(http: Connections) -> None:
        while time.perf_counter() < stop and next(budget, None) is not None:
            if await _send(http, requests, phase) == 503:
                await asyncio.sleep(retry_after_s)

    async with client(url, api_key, clients) as http:
        start = time.perf_counter()
        await asyncio.gather(*(one_client(http) for _ in range(clients)))
        phase.seconds = time.perf_counter() - start
    return phase


async def open_loop(
    url: str,
    api_key: str,
    requests: Requests,
    rate: float,
    seconds: float,
    name: str,
    connections: int = 64,
    max_outstanding: int = 4096,
    during=None,
) -> Phase:
    """Poisson arrivals at ``rate`` per second for ``seconds``, whatever the answers take.

    Requests beyond ``connections`` wait in the client's pool (they are still timed from their
    send); ``during(elapsed_s)`` is awaited every 100 ms (fault injection).
    """
    phase = Phase(name)
    gen = np.random.default_rng(1)
    tasks: set[asyncio.Task] = set()
    async with client(url, api_key, connections) as http:
        start = phase.origin = time.perf_counter()
        next_at, next_hook = start, start
        while (now := time.perf_counter()) - start < seconds:
            if during is not None and now >= next_hook:
                await during(now - start)
                next_hook = now + 0.1
            if now < next_at:
                await asyncio.sleep(min(next_at - now, 0.01))
                continue
            next_at += gen.exponential(1.0 / rate)
            if len(tasks) < max_outstanding:
                task = asyncio.create_task(_send(http, requests, phase))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        phase.seconds = time.perf_counter() - start
    return phase
