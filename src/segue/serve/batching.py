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
batch of its kind opens one and waits for the model thread through
:class:`segue.serve.limits.Admission` like any call; rows arriving meanwhile join it (up to
``max_batch``). When the thread is free the batch closes and runs; later rows open the next
batch. A batch of one row runs that row's own single-request call (a listener's KV cache,
``continue_playlist``), so an idle server answers exactly as without batching.

The leader's deadline covers the batch (the others arrived later). If the leader is shed for
its deadline, the batch closes and the rows that arrived after it try again (the first one
leads a new batch, admitted on its own deadline); if the queue is full, they are shed too.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from segue.serve.backends import Backend
from segue.serve.events import Event
from segue.serve.limits import Admission, Overloaded
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
    arrival: float  # the leader's, the earliest: its deadline covers the batch
    rows: list[Any] = field(default_factory=list)  # Row or PlaylistRow, as ``kind`` says
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: asyncio.Future | None = None


class RecommendBatcher:
    """Groups concurrent plain ranked lists into one backend call.

    Args:
        admission: The worker's admission control (one batch = one model call).
        max_batch: Rows in one batch (1: every row runs alone).
        on_batch: Called with each batch's kind ("lists" or "playlists") and size (metrics).
    """

    def __init__(
        self,
        admission: Admission,
        max_batch: int,
        on_batch: Callable[[str, int], None] | None = None,
    ) -> None:
        self.admission, self.max_batch, self._on_batch = admission, max_batch, on_batch
        self._open: dict[str, _Batch] = {}

    async def rank(self, backend: Backend, row: Row, arrival: float) -> Listing:
        """The listing of ``row``, computed with whatever rows joined its batch.

        Args:
            backend: The model (a batch holds rows of one model: a reload opens a new batch).
            row: The list to compute.
            arrival: ``time.perf_counter()`` when the request arrived (its deadline).

        Raises:
            segue.serve.limits.Overloaded: If the row's batch is shed: the queue is full, or
                the row's own deadline has passed.
        """
        return await self._submit("lists", backend, row, arrival)

    async def playlist(
        self, backend: Backend, seeds: list[Event], n: int, arrival: float
    ) -> Listing:
        """A plain greedy playlist of ``n`` tracks after ``seeds``, generated together with
        whatever playlists joined its batch.

        Only for what :meth:`Backend.plain_playlist` accepts; the result then equals
        ``backend.continue_playlist(seeds, n)`` without constraints (tested).
        """
        alone = partial(backend.continue_playlist, seeds, n, *_PLAIN)
        return await self._submit("playlists", backend, PlaylistRow(seeds, n, alone), arrival)

    async def _submit(
        self, kind: str, backend: Backend, row: Row | PlaylistRow, arrival: float
    ) -> Listing:
        while True:
            batch, slot = self._join(kind, backend, row, arrival)
            assert batch.done is not None
            if slot == 0:  # the leader runs the batch once admitted
                return (await self._lead(batch))[0]
            try:
                return (await asyncio.shield(batch.done))[slot]
            except Overloaded as error:
                # The leader's deadline passed; this row arrived later and may still make it:
                # it tries again, as the leader of a new batch or in a younger one.
                if error.reason != "deadline" or arrival <= batch.arrival:
                    raise

    async def _lead(self, batch: _Batch) -> list[Listing]:
        assert batch.done is not None
        run = partial(self._run, batch)
        try:
            results = await self.admission.run(batch.arrival, run, batch.kind)
        except BaseException as error:
            with batch.lock:
                batch.closed = True  # a shed batch takes no more rows
            batch.done.set_exception(error)
            batch.done.exception()  # retrieved: followers may all be gone
            raise
        batch.done.set_result(results)
        return results

    def _join(
        self, kind: str, backend: Backend, row: Row | PlaylistRow, arrival: float
    ) -> tuple[_Batch, int]:
        batch = self._open.get(kind)
        if batch is not None and batch.backend is backend:
            with batch.lock:  # the model thread closes the batch under this lock
                if not batch.closed and len(batch.rows) < self.max_batch:
                    batch.rows.append(row)
                    return batch, len(batch.rows) - 1
        done = asyncio.get_running_loop().create_future()
        batch = self._open[kind] = _Batch(backend, kind, arrival, [row], done=done)
        return batch, 0

    def _run(self, batch: _Batch) -> list[Listing]:
        with batch.lock:
            batch.closed = True  # later rows open the next batch
        rows = batch.rows
        if self._on_batch is not None:
            self._on_batch(batch.kind, len(rows))
        if len(rows) == 1:
            return [rows[0].alone()]
        if batch.kind == "playlists":
            return batch.backend.continue_many([r.seeds for r in rows], [r.n for r in rows])
        histories = [r.history for r in rows]
        ks, exclude = [r.k for r in rows], [r.exclude_played for r in rows]
        listings = batch.backend.recommend_many(histories, ks, exclude)
        for row, listing in zip(rows, listings):
            listing.source = row.source
        return listings


_PLAIN = (None, None, None, None, None, None)
"""A plain playlist's constraints: no repeat window, artist cap, allow / block list, temperature
or seed (the arguments of :meth:`Backend.continue_playlist` after ``seeds`` and ``n``)."""
