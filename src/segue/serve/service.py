"""What one worker holds while it serves: the model, the listener store, the admission queue.

The model is swapped whole on reload: a request takes ``service.backend`` once when it starts,
so requests in flight finish on the model they started with and new ones get the new model;
nothing waits for a reload and nothing is dropped. The new model is loaded on a thread of its
own (not the model pool), and a failed load leaves the old model serving.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass

from segue.serve.auth import load_keys
from segue.serve.backends import Backend, load_backend
from segue.serve.batching import RecommendBatcher
from segue.serve.limits import Admission
from segue.serve.metrics import Metrics
from segue.serve.redis_store import RedisStore
from segue.serve.settings import ServeSettings
from segue.serve.store import ListenerStore, MemoryStore

log = logging.getLogger(__name__)


@dataclass
class Reloaded:
    """The outcome of a reload."""

    model_version: str
    previous_version: str
    changed: bool
    rolling_restart: bool


class Service:
    """One worker's state; built in the app's startup, closed at shutdown.

    Args:
        settings: The server's settings.
        metrics: The worker's metrics.
    """

    def __init__(self, settings: ServeSettings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.keys = load_keys(settings.api_key_file)
        self.backend: Backend = self._load()
        self.metrics.set_model(self.backend.version, self.backend.kind)
        self.admission = Admission(
            settings.max_concurrency, settings.max_queue, settings.deadline_ms / 1000
        )
        self.batcher = RecommendBatcher(
            self.admission,
            settings.max_batch,
            on_batch=lambda kind, size: self.metrics.batch_size.labels(kind=kind).observe(size),
        )
        memory = MemoryStore(settings.max_history, settings.max_listeners, settings.listener_ttl_s)
        self.store: ListenerStore = memory
        self.redis: RedisStore | None = None
        if settings.redis_url is not None:
            self.redis = RedisStore(
                settings.redis_url,
                settings.max_history,
                settings.listener_ttl_s,
                fallback=memory,
                timeout_s=settings.redis_timeout_s,
                retry_s=settings.redis_retry_s,
                on_error=lambda _: self.metrics.store_errors.inc(),
            )
            self.store = self.redis
        self._reload_lock = asyncio.Lock()

    @property
    def store_kind(self) -> str:
        return "memory" if self.redis is None else "redis"

    def observe_store(self) -> None:
        """Publish whether the store is degraded (after each store call)."""
        if self.redis is not None:
            self.metrics.store_degraded.set(int(self.redis.degraded))
            self.metrics.store_invalid.set(self.redis.invalid_events)

    async def reload(self) -> Reloaded:
        """Load the model at the configured path again and swap it in.

        Under a supervisor with several workers, also asks the supervisor (SIGHUP) for a
        rolling restart, so every worker ends up on the new model; uvicorn starts each new
        worker before it stops the old one, which finishes its requests in flight.

        Raises:
            Exception: Whatever loading raised; the old model keeps serving.
        """
        async with self._reload_lock:
            try:
                backend = await asyncio.to_thread(self._load)
            except Exception:
                self.metrics.reloads.labels(outcome="failed").inc()
                raise
            previous, self.backend = self.backend, backend
            self.metrics.set_model(backend.version, backend.kind)
            self.metrics.reloads.labels(outcome="ok").inc()
            log.info(
                "model reloaded",
                extra={"model_version": backend.version, "previous_version": previous.version},
            )
            rolling = self.settings.supervised
            if rolling:
                os.kill(os.getppid(), signal.SIGHUP)
            changed = backend.version != previous.version
            return Reloaded(backend.version, previous.version, changed, rolling)

    async def close(self) -> None:
        """Let running model calls finish, then close the store."""
        await asyncio.to_thread(self.admission.close)
        await self.store.close()

    def _load(self) -> Backend:
        settings = self.settings
        return load_backend(settings.model, settings.max_listeners, settings.max_history)
