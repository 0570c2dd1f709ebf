"""Listeners in Redis, shared by every worker and replica, degrading to process memory.

Per listener two keys, both expiring ``ttl_s`` after the last write: ``<prefix>:<id>:events``,
a list of the last ``max_events`` events as compact JSON, and ``<prefix>:<id>:n``, the running
total. An append is one MULTI/EXEC transaction (push, trim, count, expire, read back), so
concurrent writers to one listener from several workers each see a consistent list and total.

When Redis does not answer within ``timeout_s`` (restart, network), the store degrades: reads
and writes go to an in-process :class:`MemoryStore` and Redis is retried at most every
``retry_s``. When it answers again, a listener's events written while degraded are pushed to
Redis on that listener's next read or write, after what Redis already held. A stored event that
does not parse (another program wrote the key) is skipped and counted, never given to the model.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from segue.serve.events import Event, ListenerEvents
from segue.serve.store import MemoryStore

log = logging.getLogger(__name__)

KEY_PREFIX = "segue:listener"


class RedisStore:
    """A :class:`segue.serve.store.ListenerStore` in Redis with an in-process fallback.

    Args:
        url: ``redis://host:port/db``.
        max_events: Events kept per listener.
        ttl_s: Seconds a listener lives after its last write.
        fallback: Where listeners go while Redis is unreachable.
        timeout_s: Connect and socket timeout of one call.
        retry_s: While degraded, how often Redis is tried again.
        on_error: Called with the exception each time a call to Redis fails (metrics).
    """

    def __init__(
        self,
        url: str,
        max_events: int,
        ttl_s: int,
        fallback: MemoryStore,
        timeout_s: float = 0.25,
        retry_s: float = 1.0,
        on_error=None,
    ) -> None:
        # No retries inside redis-py: a failed call degrades at once instead of waiting out
        # backoffs while the request's deadline runs.
        self.redis = Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self.max_events, self.ttl_s, self.fallback = max_events, int(ttl_s), fallback
        self.retry_s, self._on_error = retry_s, on_error
        self._down_until = 0.0
        self.reconnects = 0
        self.invalid_events = 0

    @property
    def degraded(self) -> bool:
        """Whether the last call to Redis failed (reads and writes go to process memory)."""
        return self._down_until > 0.0

    async def append(self, listener: str, events: list[Event]) -> ListenerEvents:
        if not self._try_redis():
            return self.fallback.append_now(listener, events)
        pending = self.fallback.pop(listener)
        batch = ([*pending.events] if pending else []) + events
        try:
            return await self._append(listener, batch)
        except (RedisError, OSError) as error:
            self._failed(error)
            if pending:  # put back what was held, then the new events
                self.fallback.append_now(listener, list(pending.events))
            return self.fallback.append_now(listener, events)

    async def read(self, listener: str) -> ListenerEvents:
        if not self._try_redis():
            return await self.fallback.read(listener)
        if len(self.fallback):
            pending = self.fallback.pop(listener)
            if pending:
                return await self.append(listener, list(pending.events))
        try:
            raw, total = await self._read(listener)
        except (RedisError, OSError) as error:
            self._failed(error)
            return await self.fallback.read(listener)
        return ListenerEvents(self._decode(raw), int(total or 0))

    async def delete(self, listener: str) -> bool:
        held = self.fallback.pop(listener) is not None
        if not self._try_redis():
            return held
        try:
            removed = await self.redis.delete(*self._keys(listener))
        except (RedisError, OSError) as error:
            self._failed(error)
            return held
        self._recovered()
        return held or removed > 0

    async def ping(self) -> bool:
        """Whether Redis answers now (readiness reports it; it does not gate traffic)."""
        try:
            await self.redis.ping()
        except (RedisError, OSError) as error:
            self._failed(error)
            return False
        self._recovered()
        return True

    async def close(self) -> None:
        await self.redis.aclose()

    # ----------------------------------------------------------------------------------------

    def _keys(self, listener: str) -> tuple[str, str]:
        return f"{KEY_PREFIX}:{listener}:events", f"{KEY_PREFIX}:{listener}:n"

    async def _append(self, listener: str, events: list[Event]) -> ListenerEvents:
        events_key, total_key = self._keys(listener)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(events_key, *[e.to_json() for e in events])
            pipe.ltrim(events_key, -self.max_events, -1)
            pipe.incrby(total_key, len(events))
            pipe.expire(events_key, self.ttl_s)
            pipe.expire(total_key, self.ttl_s)
            pipe.lrange(events_key, 0, -1)
            results = await pipe.execute()
        self._recovered()
        return ListenerEvents(self._decode(results[5]), int(results[2]))

    async def _read(self, listener: str) -> tuple[list[bytes], int | None]:
        events_key, total_key = self._keys(listener)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lrange(events_key, 0, -1)
            pipe.get(total_key)
            raw, total = await pipe.execute()
        self._recovered()
        return raw, total

    def _decode(self, raw: list[bytes]) -> tuple[Event, ...]:
        """The stored events that parse; others (written by something else) are skipped and
        counted in :attr:`invalid_events`, never passed to the model."""
        events = []
        for item in raw:
            try:
                events.append(Event.from_json(item))
            except ValueError:  # bad JSON, bad UTF-8 or a bad field
                self.invalid_events += 1
                log.warning("skipped an invalid stored event")
        return tuple(events)

    def _try_redis(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, error: BaseException) -> None:
        if not self.degraded:
            log.warning("redis unreachable, listener state degrades to this process: %s", error)
        self._down_until = time.monotonic() + self.retry_s
        if self._on_error is not None:
            self._on_error(error)

    def _recovered(self) -> None:
        if self.degraded:
            self.reconnects += 1
            log.info("redis reachable again, listener state back in redis")
        self._down_until = 0.0
