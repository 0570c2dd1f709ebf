"""Listener state: the recent events of each listener, in process or in Redis.

Only events are stored, never model state: any worker or replica can serve a listener by
re-encoding the stored events, and a worker that already holds the listener's KV cache appends
only the new ones (see :mod:`segue.serve.sessions`). Each listener keeps its last
``max_events`` events and a running ``total``, which tells a worker whether its cache is
current.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Protocol

from segue.serve.events import Event, ListenerEvents


class ListenerStore(Protocol):
    """Where listeners' events live; every method is safe to call concurrently."""

    async def append(self, listener: str, events: list[Event]) -> ListenerEvents: ...

    async def read(self, listener: str) -> ListenerEvents: ...

    async def delete(self, listener: str) -> bool: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


class MemoryStore:
    """Listeners in this process: an LRU of at most ``max_listeners``, idle ones expiring.

    Args:
        max_events: Events kept per listener (the oldest are dropped).
        max_listeners: Listeners kept; the least recently used is evicted past this.
        ttl_s: A listener not written for this long is forgotten.
        clock: Seconds, monotonic (injectable for tests).
    """

    def __init__(
        self, max_events: int, max_listeners: int, ttl_s: float, clock=time.monotonic
    ) -> None:
        self.max_events, self.max_listeners, self.ttl_s = max_events, max_listeners, ttl_s
        self._clock = clock
        self._listeners: OrderedDict[str, tuple[list[Event], int, float]] = OrderedDict()
        self.evicted = 0

    async def append(self, listener: str, events: list[Event]) -> ListenerEvents:
        return self.append_now(listener, events)

    def append_now(self, listener: str, events: list[Event]) -> ListenerEvents:
        """:meth:`append` without awaiting (the store never blocks)."""
        held, total = self._live(listener)
        held = (held + events)[-self.max_events :]
        total += len(events)
        self._listeners[listener] = (held, total, self._clock() + self.ttl_s)
        self._listeners.move_to_end(listener)
        while len(self._listeners) > self.max_listeners:
            self._listeners.popitem(last=False)
            self.evicted += 1
        return ListenerEvents(tuple(held), total)

    async def read(self, listener: str) -> ListenerEvents:
        held, total = self._live(listener)
        if total:
            self._listeners.move_to_end(listener)
        return ListenerEvents(tuple(held), total)

    async def delete(self, listener: str) -> bool:
        return self.pop(listener) is not None

    def pop(self, listener: str) -> ListenerEvents | None:
        """Remove a listener, returning what it held (None if nothing)."""
        held, total = self._live(listener)
        self._listeners.pop(listener, None)
        return ListenerEvents(tuple(held), total) if total else None

    def __len__(self) -> int:
        return len(self._listeners)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        await asyncio.sleep(0)

    def _live(self, listener: str) -> tuple[list[Event], int]:
        entry = self._listeners.get(listener)
        if entry is None:
            return [], 0
        if entry[2] <= self._clock():
            del self._listeners[listener]
            return [], 0
        return list(entry[0]), entry[1]
