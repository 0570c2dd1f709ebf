"""Overload protection: a bounded queue in front of the model, and per-request deadlines.

Model calls run on a small thread pool (``concurrency`` threads; torch and onnxruntime release
the GIL while they compute), so the event loop keeps accepting, parsing and refusing requests
while the model is busy. Every call queued or running holds a :class:`Ticket` with its
predicted duration (:class:`segue.serve.estimates.CallCost` of its kind and size), so the work
ahead of a new request is known. A request is refused with 503 at once when ``max_queue``
calls already wait, or when its predicted finish passes its deadline::

    time since arrival + loop lag + work ahead + its own call + tail > deadline

* *loop lag*: the event loop's current lag (:class:`segue.serve.estimates.LoopWatch`), the
  wait in the socket before the server could stamp the arrival, which no clock sees;
* *work ahead*: the predicted rest of the running calls and the queued calls before it;
* *its own call*: the call's predicted duration, for a batch the whole batch with its row;
* *tail*: from the end of the model call to the response written (waking the request's task,
  serialising, the event loop's queue), measured per response (:func:`model_done`) because on
  a busy loop it is a large share of the latency and grows with the batch's size.

Each estimate is a mean plus two mean deviations (:meth:`Estimate.high`), so a spell of slow
calls (the event loop taking a core from the model on a 2-core machine) raises them within a
few calls. The predictions are checked again when a call gets its thread: the time spent
waiting may have been longer than predicted, so a request that can no longer finish in time
is refused then (a batch drops such rows, which also shortens it). And a request stops waiting
for its call once an answer could no longer be in time (its deadline less the tail): it gets
503 then, as a client past its deadline has given up anyway, while the call runs to its end
(a model call cannot be interrupted) and frees its thread. This bounds what the predictions
cannot see, such as the model thread losing its core to another process mid-call.

A call admitted with nothing ahead of it always runs: refusing it on its estimate alone would
refuse that kind for ever once one slow spell raised its estimate past the deadline. It is
waited for past its deadline only when it could not end in time even at the speed of the
fastest recent calls of its kind (a kind of call longer than the deadline still gets answers);
one that could, and overruns (under overload the event loop takes turns at the GIL with the
model threads: 10-track playlists that take ~30 ms alone took 300-600 ms on 2026-12-05),
answers 503 at its deadline like any other, so the answers given stay within the deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

from segue.serve.estimates import CallCost, Estimate, LoopWatch

T = TypeVar("T")


class Overloaded(Exception):
    """The request cannot be served in time; ``reason`` is "queue_full" or "deadline"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Timing:
    """A request's model timestamps, set while it is served (see :func:`model_done`)."""

    model_done: float | None = None  # time.perf_counter() when its model call returned


REQUEST_TIMING: ContextVar[Timing | None] = ContextVar("segue_request_timing", default=None)
"""The current request's :class:`Timing` (set by the middleware for each request)."""


def model_done(at: float) -> None:
    """Note, for the current request, that its model call returned at ``at``."""
    timing = REQUEST_TIMING.get()
    if timing is not None:
        timing.model_done = at


@dataclass(eq=False)
class Ticket:
    """One model call, queued or running.

    Args:
        kind: Which :class:`CallCost` predicts it.
        expected: Its predicted seconds (a batch updates it as rows join).
        waited: Whether work was ahead of it when it was admitted.
        fits: Whether it could end within the deadline when it was admitted, at the speed of
            the fastest recent calls of its kind (:attr:`segue.serve.estimates.Estimate.floor`).
    """

    kind: str
    expected: float
    waited: bool
    fits: bool = True
    started: float | None = None  # time.perf_counter() when it got a thread
    queued: float = field(default_factory=time.perf_counter)


class Admission:
    """Runs model calls on a thread pool, at most ``concurrency`` at once, within deadlines.

    Args:
        concurrency: Calls running at once (pool threads).
        max_queue: Calls waiting for a thread; more are refused.
        deadline_s: Budget of a request from its arrival.
        loop: The event loop's lag; one is made if not given (share one across admissions).
        tail: Seconds from a model call's end to its response written (shareable too).
        name: Prefix of the pool's thread names.
    """

    def __init__(
        self,
        concurrency: int,
        max_queue: int,
        deadline_s: float,
        loop: LoopWatch | None = None,
        tail: Estimate | None = None,
        name: str = "segue-model",
    ) -> None:
        self.concurrency, self.max_queue, self.deadline_s = concurrency, max_queue, deadline_s
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix=name)
        self.loop = loop or LoopWatch()
        self.tail = tail or Estimate()
        self.costs: dict[str, CallCost] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self._tickets: list[Ticket] = []  # queued and running, in the order they queued

    @property
    def waiting(self) -> int:
        """Calls queued for a thread."""
        return sum(t.started is None for t in self._tickets)

    def cost(self, kind: str) -> CallCost:
        return self.costs.setdefault(kind, CallCost())

    def expected(self, kind: str, rows: int = 1, units: int = 1, high: bool = False) -> float:
        """Predicted seconds of a call of ``kind`` (0 until one has run); ``high``: a high
        estimate (:meth:`CallCost.expected`), for the call whose deadline is checked."""
        return self.cost(kind).expected(rows, units, high)

    def remaining(self, arrival: float) -> float:
        """Seconds left of the deadline of a request that arrived at ``arrival``, less the
        loop's lag (its wait before the arrival stamp)."""
        return self.deadline_s - (time.perf_counter() - arrival) - self.loop.lag()

    def ahead(self, before: Ticket | None = None) -> float:
        """Predicted seconds until a thread is free for ``before`` (None: a new call)."""
        now, total = time.perf_counter(), 0.0
        for ticket in self._tickets:
            if ticket is before:
                break
            started = ticket.started
            left = ticket.expected if started is None else ticket.expected - (now - started)
            total += max(0.0, left)
        return total / self.concurrency

    def late(self, arrival: float, seconds: float, ahead: float = 0.0) -> bool:
        """Whether a request that arrived at ``arrival`` would end past its deadline if its
        call of ``seconds`` started after ``ahead`` seconds."""
        return ahead + seconds + self.tail.high() > self.remaining(arrival)

    def refusal(
        self, arrival: float, kind: str | None = None, rows: int = 1, units: int = 1
    ) -> str | None:
        """Why a new call of ``kind`` for a request that arrived at ``arrival`` would be
        refused now ("queue_full" or "deadline"), or None. Without ``kind``, only what refuses
        any call: a full queue, a passed deadline, or the work queued ahead alone too long."""
        if self.waiting >= self.max_queue:
            return "queue_full"
        if self.remaining(arrival) <= 0:
            return "deadline"
        own = 0.0 if kind is None else self.expected(kind, rows, units, high=True)
        if self._tickets and self.late(arrival, own, self.ahead()):  # never when idle
            return "deadline"
        return None

    def check(self, arrival: float, kind: str = "call") -> None:
        """Raise :class:`Overloaded` if a call of ``kind`` would be refused now."""
        reason = self.refusal(arrival, kind)
        if reason is not None:
            raise Overloaded(reason)

    def enter(self, arrival: float, kind: str, rows: int = 1, units: int = 1) -> Ticket:
        """Queue a call (a :class:`Ticket`), or raise :class:`Overloaded`; pair with
        :meth:`leave`."""
        self.loop.start()
        reason = self.refusal(arrival, kind, rows, units)
        if reason is not None:
            raise Overloaded(reason)
        fastest = self.cost(kind).expected(rows, units, floor=True)
        ticket = Ticket(
            kind,
            self.expected(kind, rows, units),
            waited=bool(self._tickets),
            fits=not self.late(arrival, fastest),
        )
        self._tickets.append(ticket)
        return ticket

    async def acquire(self, ticket: Ticket) -> None:
        """Wait for a thread for ``ticket``; pair with :meth:`leave`.

        Raises:
            Overloaded: If no thread came within a whole deadline (a stuck model: the
                predictions admitted the call expecting far less).
        """
        try:
            async with asyncio.timeout(self.deadline_s):
                await self._slots.acquire()
        except TimeoutError:
            raise Overloaded("deadline") from None
        ticket.started = time.perf_counter()

    async def execute(self, ticket: Ticket, call: Callable[[], T], rows: int, units: int) -> T:
        """Run ``call`` on the pool (``ticket`` holds a thread) and learn its duration."""
        ticket.expected = self.expected(ticket.kind, rows, units)
        start = ticket.started = time.perf_counter()
        result = await asyncio.get_running_loop().run_in_executor(self.pool, call)
        self.cost(ticket.kind).update(time.perf_counter() - start, rows, units)
        return result

    def leave(self, ticket: Ticket) -> None:
        """The call is over (done, failed or refused): free its thread and its place."""
        self._tickets.remove(ticket)
        if ticket.started is not None:
            self._slots.release()

    async def run(self, arrival: float, call: Callable[[], T], kind: str = "call") -> T:
        """Run one request's ``call`` on the pool in time, or raise :class:`Overloaded`.

        Args:
            arrival: ``time.perf_counter()`` when the request arrived.
            call: The model call (blocking).
            kind: Which :class:`CallCost` predicts its duration.
        """
        ticket = self.enter(arrival, kind)
        try:
            await self.acquire(ticket)
            if ticket.waited and self.late(arrival, self.expected(kind, high=True)):
                raise Overloaded("deadline")  # the wait was longer than predicted
        except BaseException:
            self.leave(ticket)
            raise
        job = asyncio.ensure_future(self.execute(ticket, call, 1, 1))
        job.add_done_callback(lambda _: self.leave(ticket))  # the thread is free only then
        result = await self.in_time(job, arrival, ticket)
        model_done(time.perf_counter())
        return result

    async def in_time(self, job: asyncio.Future[T], arrival: float, ticket: Ticket) -> T:
        """``job``'s result, or :class:`Overloaded` once it is too late to answer within the
        deadline of a request that arrived at ``arrival`` (its deadline less the tail). The
        job itself runs on (a model call cannot be interrupted) and frees its thread when it
        ends; its result is dropped. A call admitted with nothing ahead whose estimate did not
        fit the deadline (``ticket``) is waited for to its end (module docstring)."""
        if not ticket.waited and not ticket.fits:
            return await job
        cutoff = self.remaining(arrival) - self.tail.high()
        try:
            result = await asyncio.wait_for(asyncio.shield(job), max(cutoff, 0.0))
        except TimeoutError:
            job.add_done_callback(_retrieved)
            raise Overloaded("deadline") from None
        # The timer only fires when the loop runs: a loop kept busy (overload) can come back to
        # a finished call after the cutoff. The answer would be late, so it is a 503 too.
        if self.remaining(arrival) - self.tail.high() < 0:
            raise Overloaded("deadline")
        return result

    def served(self, timing: Timing) -> None:
        """Learn the tail (model call's end to response written) of a request just answered."""
        if timing.model_done is not None:
            self.tail.update(time.perf_counter() - timing.model_done)

    def close(self) -> None:
        """Finish the calls already running, then stop the pool."""
        self.loop.stop()
        self.pool.shutdown(wait=True)


def _retrieved(job: asyncio.Future) -> None:
    """Mark the outcome of a job whose request gave up on it as seen (no warning)."""
    if not job.cancelled():
        job.exception()
