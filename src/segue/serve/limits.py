"""Overload protection: a bounded queue in front of the model with a per-request deadline.

Model calls run on a small thread pool (``max_concurrency`` threads; torch and onnxruntime
release the GIL while they compute), so the event loop keeps accepting, parsing and refusing
requests while the model is busy. Each kind of call (a batch of recommendations, a listener
update, a playlist of n tracks) keeps a running average of its duration. A request is refused
with 503 at once when ``max_queue`` calls already wait, or when the work queued ahead of it
plus its own expected duration would end after its deadline; it is also refused if it has not
started when its deadline passes. So the accepted requests finish within their deadline (as
far as the averages predict), and the excess is answered at once instead of piling up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

EWMA_WEIGHT = 0.1
"""Weight of the newest duration in a kind's running average."""


class Overloaded(Exception):
    """The request cannot be served in time; ``reason`` is "queue_full" or "deadline"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Admission:
    """Runs model calls on a thread pool, at most ``concurrency`` at once, within deadlines.

    Args:
        concurrency: Calls running at once (pool threads).
        max_queue: Calls waiting for a thread; more are refused.
        deadline_s: Budget of a request from its arrival.
    """

    def __init__(self, concurrency: int, max_queue: int, deadline_s: float) -> None:
        self.concurrency, self.max_queue, self.deadline_s = concurrency, max_queue, deadline_s
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="segue-model")
        self._slots = asyncio.Semaphore(concurrency)
        self.waiting = 0
        self.active = 0  # calls waiting or running
        self.queued_seconds = 0.0  # their expected duration
        self.durations: dict[str, float] = {}  # running average per kind of call

    def expected(self, kind: str) -> float:
        """Expected seconds of a call of ``kind`` (0 until one has run)."""
        return self.durations.get(kind, 0.0)

    def refusal(self, arrival: float, kind: str | None = None) -> str | None:
        """Why a call of ``kind`` arriving at ``arrival`` would be refused now ("queue_full" or
        "deadline"), or None. Without ``kind``, only what refuses any call: a full queue, a
        passed deadline, or the work queued ahead alone past the deadline (a request joining
        a batch already queued finishes no earlier than that)."""
        remaining = self.deadline_s - (time.perf_counter() - arrival)
        if self.waiting >= self.max_queue:
            return "queue_full"
        if remaining <= 0:
            return "deadline"
        # With nothing queued the call is always tried: refusing it on its average alone would
        # refuse that kind for ever once one slow spell raised the average past the deadline.
        own = 0.0 if kind is None else self.expected(kind)
        if self.active and self.queued_seconds / self.concurrency + own > remaining:
            return "deadline"
        return None

    def check(self, arrival: float, kind: str = "call") -> float:
        """Raise :class:`Overloaded` if a call of ``kind`` arriving at ``arrival`` would be
        refused now; else return the seconds left of its deadline."""
        reason = self.refusal(arrival, kind)
        if reason is not None:
            raise Overloaded(reason)
        return self.deadline_s - (time.perf_counter() - arrival)

    async def run(self, arrival: float, call: Callable[[], T], kind: str = "call") -> T:
        """Run ``call`` on the pool once a slot is free, or raise :class:`Overloaded`.

        Args:
            arrival: ``time.perf_counter()`` when the request arrived.
            call: The model call (blocking).
            kind: Which running average predicts its duration.
        """
        remaining = self.check(arrival, kind)
        expected = self.expected(kind)
        self.waiting += 1
        self.active += 1
        self.queued_seconds += expected
        try:
            try:
                async with asyncio.timeout(remaining):
                    await self._slots.acquire()
            except TimeoutError:
                raise Overloaded("deadline") from None
            finally:
                self.waiting -= 1
            try:
                start = time.perf_counter()
                result = await asyncio.get_running_loop().run_in_executor(self.pool, call)
                elapsed = time.perf_counter() - start
                self.durations[kind] = expected + EWMA_WEIGHT * (elapsed - expected)
                if expected == 0.0:
                    self.durations[kind] = elapsed
                return result
            finally:
                self._slots.release()
        finally:
            self.active -= 1
            # Back to exactly 0 when idle: float residue must not count as queued work.
            self.queued_seconds = self.queued_seconds - expected if self.active else 0.0

    def close(self) -> None:
        """Finish the calls already running, then stop the pool."""
        self.pool.shutdown(wait=True)
