"""Micro-batching: concurrent ranked lists share one model call.

Scoring one list reads the whole catalogue embedding matrix (25 MB for 100k tracks at d_model
64), which makes a lone request a memory-bound GEMV; B lists scored together read it once, as
one (B, D) x (D, V) product, after one padded encoder batch. So under concurrency throughput
grows with the batch instead of queueing one GEMV behind another.

What joins a ranked-list batch (a :class:`Row`: a history, ``k`` and ``exclude_played``, no
per-request filters):

* ``POST /recommend`` without allow / block lists or an artist cap;
* a listener's re-ranked list (``POST /listeners/{id}/events``,
  ``GET /listeners/{id}/recommendations``) without filters: the row is the listener's stored
  events, which is what the listener's KV cache encodes (see :mod:`segue.serve.torch_backend`).

Plain greedy playlists (``POST /playlists/continue`` without constraints, see
:meth:`segue.serve.backends.Backend.plain_playlist`) are batched too, in batches of their own:
the playlists of a batch are generated together, one (B, D) x (D, V) product per step, so that
no playlist holds the model for a whole playlist while others wait behind it. (Riding along
the ranked-list batches one step at a time would make a playlist of n tracks wait for n
batches, past the deadline under load.)

How a batch forms (no timer, so a lone request never waits): the first row to find no open
batch of its kind opens one, which queues for the model thread through
:class:`segue.serve.limits.Admission` like any call; rows arriving meanwhile join it. When a
thread is free the batch closes and runs; later rows open the next batch. A batch of one row
runs that row's own single-request call (a listener's KV cache, ``continue_playlist``), so an
idle server answers exactly as without batching.

Deadlines are each row's own. A row joins the open batch only if the batch, with the row,
still ends within the row's deadline and within the earliest deadline of the rows already in
it (a batch costs more with every row: its size is bounded by time, and by ``max_batch``);
else it opens the next batch, or is refused at once if even this batch ends too late for it.
When the batch gets its thread, rows that can no longer finish in time (the wait was longer
than predicted) are dropped and answered 503, earliest first, which also shortens the batch;
a client that went away drops its row too. A row whose batch runs past the row's deadline is
answered 503 then (:meth:`segue.serve.limits.Admission.in_time`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from segue.serve.backends import Backend
from segue.serve.events import Event
from segue.serve.limits import Admission, Overloaded, Ticket, model_done
from segue.serve.listing import Listing


@dataclass(frozen=True)
class Row:
    """One ranked list of a batch.

    Args:
        history: The events the list follows, oldest first.
        k: List length.
        exclude_played: Never list a track of the history.
        alone: The same list computed as a single request (used by a batch of one row).
        source: Put in the listing's ``source`` when the row is batched (listeners).
    """

    history: list[Event]
    k: int
    exclude_played: bool
    alone: Callable[[], Listing]
    source: str | None = None


@dataclass(frozen=True)
class PlaylistRow:
    """One plain greedy playlist of a batch: ``n`` tracks after ``seeds``."""

    seeds: list[Event]
    n: int
    alone: Callable[[], Listing]


@dataclass
class _Batch:
    backend: Backend
    kind: str  # "lists" (Row) or "playlists" (PlaylistRow)
    ticket: Ticket  # its place in the admission queue
    rows: list[Any] = field(default_factory=list)  # Row or PlaylistRow, as ``kind`` says
    arrivals: list[float] = field(default_factory=list)  # each row's request's arrival
    units: list[int] = field(default_factory=list)  # each row's work (a playlist: n steps)
    futures: list[asyncio.Future] = field(default_factory=list)  # (listing, model end) per row
    closed: bool = False

    def add(self, row: Any, arrival: float, units: int) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.rows.append(row)
        self.arrivals.append(arrival)
        self.units.append(units)
        self.futures.append(future)
        return future


class RecommendBatcher:
    """Groups concurrent plain ranked lists (and plain playlists) into one backend call.

    Args:
        admission: The worker's admission control (one batch = one model call), or one per
            kind of batch ("lists", "playlists": lanes of their own).
        max_batch: Rows in one batch (1: every row runs alone).
        on_batch: Called with each batch's kind ("lists" or "playlists") and size (metrics).
    """

    def __init__(
        self,
        admission: Admission | Mapping[str, Admission],
        max_batch: int,
        on_batch: Callable[[str, int], None] | None = None,
    ) -> None:
        lanes = admission if isinstance(admission, Mapping) else {}
        default = admission if isinstance(admission, Admission) else lanes["lists"]
        self.lanes = {kind: lanes.get(kind, default) for kind in ("lists", "playlists")}
        self.max_batch, self._on_batch = max_batch, on_batch
        self._open: dict[str, _Batch] = {}
        self._drivers: set[asyncio.Task] = set()
        self._last_units = {"lists": 1, "playlists": 1}  # a row's work, for :meth:`refusal`

    async def rank(self, backend: Backend, row: Row, arrival: float) -> Listing:
        """The listing of ``row``, computed with whatever rows joined its batch.

        Args:
            backend: The model (a batch holds rows of one model: a reload opens a new batch).
            row: The list to compute.
            arrival: ``time.perf_counter()`` when the request arrived (its deadline).

        Raises:
            segue.serve.limits.Overloaded: If the row cannot be computed within its deadline
                (at once, or when its batch got a thread), or the queue is full.
        """
        return await self._submit("lists", backend, row, arrival, 1)

    async def playlist(
        self, backend: Backend, seeds: list[Event], n: int, arrival: float
    ) -> Listing:
        """A plain greedy playlist of ``n`` tracks after ``seeds``, generated together with
        whatever playlists joined its batch.

        Only for what :meth:`Backend.plain_playlist` accepts; the result then equals
        ``backend.continue_playlist(seeds, n)`` without constraints (tested).
        """
        alone = partial(backend.continue_playlist, seeds, n, *_PLAIN)
        row = PlaylistRow(seeds, n, alone)
        return await self._submit("playlists", backend, row, arrival, max(n, 1))

    async def _submit(
        self, kind: str, backend: Backend, row: Row | PlaylistRow, arrival: float, units: int
    ) -> Listing:
        self._last_units[kind] = units
        future, batch = self._join(kind, backend, row, arrival, units)
        lane = self.lanes[kind]
        listing, done = await lane.in_time(future, arrival, batch.ticket)
        model_done(done)
        return listing

    def refusal(self, kind: str, arrival: float) -> str | None:
        """Why a row of ``kind`` arriving at ``arrival`` would be refused now ("queue_full" or
        "deadline"), or None: the check :meth:`rank` and :meth:`playlist` make, for the
        middleware to refuse before it parses a request's body (which says the row's work:
        the last row's is assumed)."""
        try:
            self._place(kind, None, arrival, self._last_units[kind])
        except Overloaded as error:
            return error.reason
        return None

    def _place(
        self, kind: str, backend: Backend | None, arrival: float, units: int
    ) -> _Batch | None:
        """The open batch a row joins (None: it opens a new one), or raise
        :class:`Overloaded`. ``backend`` None: any model's batch."""
        admission = self.lanes[kind]
        batch = self._open.get(kind)
        if batch is None or batch.closed or backend not in (None, batch.backend):
            batch = None
        elif len(batch.rows) < self.max_batch:
            if admission.remaining(arrival) <= 0:
                raise Overloaded("deadline")
            rows, work = len(batch.rows) + 1, sum(batch.units) + units
            cost = admission.expected(kind, rows, work, high=True)
            ahead = admission.ahead(batch.ticket)
            # Late in this batch is late in any later one. Making the batch's earliest row
            # late is refused too: opening a batch behind this one instead would queue a
            # train of small batches, each paying a call's fixed cost, and the throughput
            # would shrink as the load grows.
            if admission.late(arrival, cost, ahead) or admission.late(
                min(batch.arrivals), cost, ahead
            ):
                raise Overloaded("deadline")
            return batch
        reason = admission.refusal(arrival, kind, 1, units)
        if reason is not None:
            raise Overloaded(reason)
        return None

    def _join(
        self, kind: str, backend: Backend, row: Row | PlaylistRow, arrival: float, units: int
    ) -> tuple[asyncio.Future, _Batch]:
        """The future of ``row``'s result in the open batch, or in a new one, and the batch;
        or raise :class:`Overloaded`."""
        batch = self._place(kind, backend, arrival, units)
        if batch is not None:
            batch.ticket.expected = self.lanes[kind].expected(
                kind, len(batch.rows) + 1, sum(batch.units) + units
            )
            return batch.add(row, arrival, units), batch
        old = self._open.get(kind)
        if old is not None:
            old.closed = True  # full, or of the previous model: later rows open the next batch
        ticket = self.lanes[kind].enter(arrival, kind, 1, units)
        batch = self._open[kind] = _Batch(backend, kind, ticket)
        future = batch.add(row, arrival, units)
        driver = asyncio.get_running_loop().create_task(self._drive(batch))
        self._drivers.add(driver)  # held until done (the loop keeps only weak references)
        driver.add_done_callback(self._drivers.discard)
        return future, batch

    async def _drive(self, batch: _Batch) -> None:
        """Wait for a thread, drop the rows that can no longer make it, run the rest."""
        admission = self.lanes[batch.kind]
        try:
            await admission.acquire(batch.ticket)
            self._close(batch)
            live = self._in_time(batch)
            if live:
                rows = [batch.rows[i] for i in live]
                units = sum(batch.units[i] for i in live)
                run = partial(self._run, batch.backend, batch.kind, rows)
                listings = await admission.execute(batch.ticket, run, len(rows), units)
                done = time.perf_counter()
                for i, outcome in zip(live, listings):
                    if isinstance(outcome, Exception):  # that row's own error (see _run)
                        _settle(batch.futures[i], error=outcome)
                    else:
                        _settle(batch.futures[i], result=(outcome, done))
        except Exception as error:  # shed, or the model failed: every row's request says so
            for future in batch.futures:
                _settle(future, error=error)
        finally:
            self._close(batch)
            admission.leave(batch.ticket)
            for future in batch.futures:  # cancelled by shutdown: nothing is left waiting
                _settle(future, error=Overloaded("deadline"))

    def _close(self, batch: _Batch) -> None:
        batch.closed = True
        if self._open.get(batch.kind) is batch:
            del self._open[batch.kind]

    def _in_time(self, batch: _Batch) -> list[int]:
        """The rows still worth running, in order: not abandoned by their client, and, if the
        batch waited, able to end within their deadline (the earliest are dropped first)."""
        live = sorted(
            (i for i, f in enumerate(batch.futures) if not f.done()),
            key=lambda i: batch.arrivals[i],
        )
        admission = self.lanes[batch.kind]
        while live and batch.ticket.waited:
            units = sum(batch.units[i] for i in live)
            cost = admission.expected(batch.kind, len(live), units, high=True)
            if not admission.late(batch.arrivals[live[0]], cost):
                break
            _settle(batch.futures[live.pop(0)], error=Overloaded("deadline"))
        return sorted(live)

    def _run(self, backend: Backend, kind: str, rows: list[Any]) -> list[Listing | Exception]:
        """Each row's listing; where the batch fails for what a request holds (a
        ``ValueError`` / ``TypeError``), each row's own outcome, so one bad request fails
        alone instead of taking the requests batched with it down too."""
        if self._on_batch is not None:
            self._on_batch(kind, len(rows))
        if len(rows) == 1:
            return [rows[0].alone()]
        try:
            return list(self._run_many(backend, kind, rows))
        except (ValueError, TypeError):
            return [_outcome(row.alone) for row in rows]

    @staticmethod
    def _run_many(backend: Backend, kind: str, rows: list[Any]) -> list[Listing]:
        if kind == "playlists":
            return backend.continue_many([r.seeds for r in rows], [r.n for r in rows])
        histories = [r.history for r in rows]
        ks, exclude = [r.k for r in rows], [r.exclude_played for r in rows]
        listings = backend.recommend_many(histories, ks, exclude)
        for row, listing in zip(rows, listings):
            listing.source = row.source
        return listings


def _outcome(call: Callable[[], Listing]) -> Listing | Exception:
    """``call()``, or the ``ValueError`` / ``TypeError`` it raised."""
    try:
        return call()
    except (ValueError, TypeError) as error:
        return error


def _settle(future: asyncio.Future, result: Any = None, error: BaseException | None = None) -> None:
    """Give ``future`` its outcome unless it has one (a cancelled request's future has)."""
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
        future.exception()  # retrieved: the request may be gone by the time it is read


_PLAIN = (None, None, None, None, None, None)
"""A plain playlist's constraints: no repeat window, artist cap, allow / block list, temperature
or seed (the arguments of :meth:`Backend.continue_playlist` after ``seeds`` and ``n``)."""
