"""What one worker holds while it serves: the model, the listener store, the admission queue.

The model is swapped whole on reload: a request takes ``service.backend`` once when it starts,
so requests in flight finish on the model they started with and new ones get the new model;
nothing waits for a reload and nothing is dropped. A failed load leaves the old model serving.

Reading the new model must not slow the requests being served (under load a slower model call
means shed requests): a checkpoint is read in a child process at a lower CPU priority
(:mod:`segue.serve.staging`, which says why), then checked and built on a thread of its own
(not the model pool), and warmed there with a few calls before the swap, so its first requests
do not pay for set-up and the warm-up calls never enter the admission's estimates. An ONNX
bundle is opened on that thread, and warmed there too.

That thread still needs the GIL (checks, building the vocabulary's id index, warm-up). A
serving thread gives the GIL up around every larger numpy or torch operation and asks for it
again, and while another thread runs Python, each time it waits until that thread is made to
drop it: up to the interpreter's switch interval. A call gives it up a hundred times or more,
so with a 0.2 ms interval a 2 ms call took up to 25-29 ms while a model was built (measured
2026-12-06: a 100k-track model built beside a thread making the same call in a loop; up to
48 ms with the server's own 0.5 ms). So while a new model is built, the switch interval is cut
to :data:`RELOAD_SWITCH_INTERVAL_S` (restored after): 10-19 ms at 20 microseconds in the same
measurement, the build no slower. The build
also holds the GIL in no step longer than ~5-8 ms: the staged bytes are decoded in short parts
(:mod:`segue.serve.staging`), the content digest is hashed in pieces
(:mod:`segue.io.canonical_json`), and the catalogue shares the vocabulary's id index.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from segue.serve.auth import load_keys
from segue.serve.backends import Backend, load_backend
from segue.serve.batching import RecommendBatcher
from segue.serve.estimates import Estimate, LoopWatch
from segue.serve.heap import settle_heap
from segue.serve.limits import Admission
from segue.serve.metrics import Metrics
from segue.serve.redis_store import RedisStore
from segue.serve.settings import ServeSettings
from segue.serve.store import ListenerStore, MemoryStore

log = logging.getLogger(__name__)

RELOAD_SWITCH_INTERVAL_S = 0.00002
"""The interpreter's switch interval while a new model is built (module docstring)."""


@dataclass
class Reloaded:
    """The outcome of a reload."""

    model_version: str
    previous_version: str
    changed: bool
    rolling_restart: bool
    read_in_child: bool  # the checkpoint was read by a child process (segue.serve.staging)


class Service:
    """One worker's state; built in the app's startup, closed at shutdown.

    Args:
        settings: The server's settings.
        metrics: The worker's metrics.
    """

    def __init__(self, settings: ServeSettings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        sys.setswitchinterval(settings.switch_interval_ms / 1000)  # why: ServeSettings
        self.keys = load_keys(settings.api_key_file)
        self.backend: Backend = self._load()
        self.backend.warm()  # lazy set-up paid now, before the heap is settled
        settle_heap()  # the start-up heap out of later full collections (segue.serve.heap)
        self.metrics.set_model(self.backend.version, self.backend.kind)
        # Two lanes sharing the loop's lag and the tail estimates: the model's threads, and the
        # playlists' own (a playlist is n model steps: a recommendation queued behind one
        # would wait for all of them).
        loop, tail, deadline_s = LoopWatch(), Estimate(), settings.planned_deadline_s
        self.admission = Admission(
            settings.max_concurrency, settings.max_queue, deadline_s, loop, tail
        )
        self.playlist_admission = self.admission
        if settings.playlist_threads:
            self.playlist_admission = Admission(
                settings.playlist_threads,
                settings.max_queue,
                deadline_s,
                loop,
                tail,
                name="segue-playlists",
            )
        self.batcher = RecommendBatcher(
            {"lists": self.admission, "playlists": self.playlist_admission},
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

    def lane(self, kind: str) -> Admission:
        """The admission (threads) that runs a call of ``kind``: playlists have their own."""
        if kind == "playlists" or kind.startswith("continue"):
            return self.playlist_admission
        return self.admission

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
                backend, staged = await self._load_new()
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
            return Reloaded(backend.version, previous.version, changed, rolling, staged)

    async def close(self) -> None:
        """Let running model calls finish, then close the store."""
        await asyncio.to_thread(self.admission.close)
        await asyncio.to_thread(self.playlist_admission.close)
        await self.store.close()

    async def _load_new(self) -> tuple[Backend, bool]:
        """The model file read again, checked and warmed, off the event loop and the GIL's
        busiest holders (see the module docstring); and whether a child process read it."""
        path = Path(self.settings.model)
        data = None
        if path.is_file():
            from segue.serve import staging  # imports torch: only for a checkpoint

            try:
                data = await staging.read_in_child(path)
            except staging.StagingError as error:
                log.warning("reading the model in a child process failed (%s): in process", error)
        with short_gil_turns():  # the child's read above takes no GIL from the serving threads
            backend = None
            if data is not None:
                backend = await asyncio.to_thread(self._from_staged, path, data)
            staged = backend is not None
            if backend is None:
                backend = await asyncio.to_thread(self._load)
            await asyncio.to_thread(backend.warm)
        return backend, staged

    def _from_staged(self, path: Path, data: bytes | bytearray) -> Backend | None:
        """The backend of what the child read (None: not a float checkpoint, read in process)."""
        from segue.io.checkpoint import FORMAT
        from segue.serve import staging
        from segue.serve.torch_backend import TorchBackend

        payload, version = staging.decode(data)
        if payload.get("format") != FORMAT:
            return None
        settings = self.settings
        return TorchBackend.from_payload(
            path,
            payload,
            version,
            settings.max_listeners,
            settings.max_history,
            settings.int8_screen,
        )

    def _load(self) -> Backend:
        settings = self.settings
        return load_backend(
            settings.model, settings.max_listeners, settings.max_history, settings.int8_screen
        )


@contextmanager
def short_gil_turns(interval_s: float = RELOAD_SWITCH_INTERVAL_S) -> Iterator[None]:
    """Cut the interpreter's switch interval for the block (module docstring), then restore
    it, whatever the block raised."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, interval_s))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)
