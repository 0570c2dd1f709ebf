"""Micro-batching of ``POST /recommend``: concurrent requests share one model call.

Scoring a request reads the whole catalogue embedding matrix (25 MB for 100k tracks at
d_model 64); B requests scored together read it once, as one (B, D) x (D, V) product, and go
through the encoder as one padded batch. So under concurrency throughput grows with the batch
instead of queueing one GEMV behind another.

How a batch forms (no timer, so a lone request never waits): the first request to find no open
batch opens one and waits for a model slot through :class:`segue.serve.limits.Admission` like
any call; requests arriving meanwhile join it (up to ``max_batch``). When the slot is granted,
the batch closes and runs; later arrivals open the next one. The leader's deadline covers the
whole batch (followers arrived later), and if the leader is shed, its batch is shed with it.

Only requests without allow / block lists or an artist cap are batched (their filters are per
request); those run alone.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from segue.serve.backends import Backend
from segue.serve.events import Event
from segue.serve.limits import Admission
from segue.serve.listing import Listing


@dataclass
class _Batch:
    backend: Backend
    histories: list[list[Event]] = field(default_factory=list)
    ks: list[int] = field(default_factory=list)
    exclude: list[bool] = field(default_factory=list)
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: asyncio.Future | None = None


class RecommendBatcher:
    """Groups concurrent plain recommendations into one backend call.

    Args:
        admission: The worker's admission control (one batch = one model call).
        max_batch: Requests in one batch.
        on_batch: Called with each batch's size (metrics).
    """

    def __init__(self, admission: Admission, max_batch: int, on_batch=None) -> None:
        self.admission, self.max_batch, self._on_batch = admission, max_batch, on_batch
        self._open: _Batch | None = None

    async def recommend(
        self, backend: Backend, history: list[Event], k: int, exclude_played: bool, arrival: float
    ) -> Listing:
        """The listing of one request, computed with whatever requests joined its batch."""
        batch, slot = self._join(backend, history, k, exclude_played)
        if slot == 0:  # the leader runs the batch once admitted
            assert batch.done is not None
            try:
                results = await self.admission.run(arrival, lambda: self._run(batch), "batch")
            except BaseException as error:
                batch.done.set_exception(error)
                batch.done.exception()  # retrieved: followers may all be gone
                raise
            batch.done.set_result(results)
            return results[0]
        assert batch.done is not None
        return (await asyncio.shield(batch.done))[slot]

    def _join(
        self, backend: Backend, history: list[Event], k: int, exclude: bool
    ) -> tuple[_Batch, int]:
        batch = self._open
        if batch is not None and batch.backend is backend:
            with batch.lock:  # the model thread closes the batch under this lock
                if not batch.closed and len(batch.histories) < self.max_batch:
                    return batch, _append(batch, history, k, exclude)
        batch = self._open = _Batch(backend, done=asyncio.get_running_loop().create_future())
        return batch, _append(batch, history, k, exclude)

    def _run(self, batch: _Batch) -> list[Listing]:
        with batch.lock:
            batch.closed = True  # later arrivals open the next batch
        if self._on_batch is not None:
            self._on_batch(len(batch.histories))
        return batch.backend.recommend_many(batch.histories, batch.ks, batch.exclude)


def _append(batch: _Batch, history: list[Event], k: int, exclude: bool) -> int:
    batch.histories.append(history)
    batch.ks.append(k)
    batch.exclude.append(exclude)
    return len(batch.histories) - 1
