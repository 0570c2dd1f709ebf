"""What a server is started with: one dataclass, passed to the workers as JSON.

uvicorn's multi-process mode imports the app in each worker process, so the settings travel
through the environment variable :data:`SETTINGS_ENV` (JSON of this dataclass). They never hold
the API key itself: a worker reads the key from its own environment or from the key file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from typing import Literal

SETTINGS_ENV = "SEGUE_SERVE_SETTINGS"
API_KEY_ENV = "SEGUE_API_KEY"

ReadAuth = Literal["open", "key"]


@dataclass(frozen=True)
class ServeSettings:
    """A server's configuration; every limit is per worker process.

    Args:
        model: Checkpoint (``.pt``) or ONNX bundle folder; reloads re-read this same path.
        deadline_ms: A request not started within this budget (from its arrival) answers 503.
        deadline_headroom: Share of ``deadline_ms`` the admission keeps in reserve: it plans
            every request to be answered within ``(1 - headroom) * deadline_ms``. The reserve
            covers what the server's clock cannot see, the wait in the socket before its arrival
            stamp and the write of the response on a busy loop (under 4x overload the p99 of
            answered requests was 171-233 ms in six runs with no reserve, 142-174 ms in seven
            with 0.1, 2026-12-06).
        switch_interval_ms: The interpreter's thread switch interval in the server process
            (Python's default is 5 ms). The event loop, the model's thread and the playlists'
            thread take turns at the GIL, and a thread that wants it back waits up to one
            interval: 0.5 ms cut the p99 of the mix by 3-5 ms at every rate of two back-to-back
            load runs (2026-12-06).
        max_concurrency: Model calls running at once (threads of the inference pool).
        playlist_threads: Threads of a lane of their own for playlist continuations, so that a
            playlist (n model steps) never holds up the ranked lists queued behind it; 0: the
            playlists share the inference pool.
        max_queue: Requests waiting for a model call; one more answers 503 at once.
        max_batch: Concurrent plain recommendations scored in one model call (1: none).
        max_body_bytes: Larger request bodies answer 413 before they are read in full.
        max_history: Events in a request's history (and kept per listener in the store).
        max_k: Largest ``k`` of a ranked list.
        max_playlist: Largest ``n`` of a playlist continuation.
        max_ids: Largest allow / block list.
        max_events_per_post: Events in one ``POST /listeners/{id}/events``.
        read_auth: "open": reads need no key; "key": every endpoint but health needs one.
        api_key_file: File holding the API key(s), one per line; else :data:`API_KEY_ENV`.
        redis_url: Listener store; None keeps listeners in process (bounded LRU).
        listener_ttl_s: A listener's events expire this long after their last write.
        max_listeners: Listeners held in process (LRU), and KV caches held per worker.
        redis_timeout_s: Socket timeout of a Redis call; past it the store degrades.
        redis_retry_s: While degraded, Redis is retried at most this often.
        supervised: Set by the CLI when uvicorn runs several workers under a supervisor.
        access_log: One JSON log line per request (``--no-access-log`` turns it off).
        int8_screen: A checkpoint's lists and greedy playlist picks through an int8 copy of
            the track table (:mod:`segue.api.int8_screen`: the same lists, a quarter of the
            bytes read); None: by catalogue size (``Recommender``'s default). ONNX bundles
            score in float or int8 as exported.
    """

    model: str
    deadline_ms: float = 200.0
    deadline_headroom: float = 0.1
    switch_interval_ms: float = 0.5
    max_concurrency: int = 1
    playlist_threads: int = 1
    max_queue: int = 64
    max_batch: int = 32
    max_body_bytes: int = 256 * 1024
    max_history: int = 500
    max_k: int = 200
    max_playlist: int = 200
    max_ids: int = 10_000
    max_events_per_post: int = 100
    read_auth: ReadAuth = "open"
    api_key_file: str | None = None
    redis_url: str | None = None
    listener_ttl_s: int = 7 * 24 * 3600
    max_listeners: int = 100_000
    redis_timeout_s: float = 0.25
    redis_retry_s: float = 1.0
    supervised: bool = False
    access_log: bool = True
    int8_screen: bool | None = None

    def __post_init__(self) -> None:
        positive = (
            "deadline_ms max_concurrency max_queue max_batch max_body_bytes max_history max_k "
            "max_playlist max_ids max_events_per_post listener_ttl_s max_listeners redis_timeout_s "
            "switch_interval_ms"
        )
        for name in positive.split():
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.deadline_headroom < 1:
            raise ValueError(f"deadline_headroom must be in [0, 1), got {self.deadline_headroom}")
        if self.playlist_threads < 0:
            raise ValueError(f"playlist_threads must be >= 0, got {self.playlist_threads}")
        if self.read_auth not in ("open", "key"):
            raise ValueError(f"read_auth must be 'open' or 'key', got {self.read_auth!r}")

    @property
    def planned_deadline_s(self) -> float:
        """The budget the admission plans each request for: the deadline less the reserve."""
        return self.deadline_ms / 1000 * (1 - self.deadline_headroom)

    def to_env(self) -> str:
        """JSON for :data:`SETTINGS_ENV`."""
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServeSettings:
        """The settings a worker was started with, from :data:`SETTINGS_ENV`."""
        raw = os.environ.get(SETTINGS_ENV)
        if raw is None:
            raise RuntimeError(f"{SETTINGS_ENV} is not set: start the server with `segue serve`")
        values = json.loads(raw)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{SETTINGS_ENV} has unknown settings: {', '.join(unknown)}")
        return cls(**values)
