"""Prometheus metrics of one worker, or of all workers through prometheus_client's
multi-process mode (``PROMETHEUS_MULTIPROC_DIR``, set by the CLI when it starts several).

Routes are labelled by their template (``/listeners/{listener_id}/events``), never by the raw
path, so a client cannot grow the label set.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    """The service's metrics, in a registry of their own."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "segue_requests", "HTTP requests answered", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "segue_request_duration_seconds",
            "Time from arrival to response, by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.shed = Counter(
            "segue_shed", "Requests refused with 503 to protect latency", ["reason"], registry=r
        )
        self.errors = Counter("segue_errors", "Requests failed with 5xx", ["route"], registry=r)
        self.in_flight = Gauge(
            "segue_in_flight", "Requests being served", registry=r, multiprocess_mode="livesum"
        )
        self.model = Gauge(
            "segue_model_info",
            "The model being served (value 1)",
            ["version", "kind"],
            registry=r,
            multiprocess_mode="liveall",
        )
        self.reloads = Counter("segue_reloads", "Model reloads", ["outcome"], registry=r)
        self.store_errors = Counter(
            "segue_store_errors", "Listener-store calls that failed", registry=r
        )
        self.store_invalid = Gauge(
            "segue_store_invalid_events",
            "Stored events skipped because they did not parse (since start)",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.store_degraded = Gauge(
            "segue_store_degraded",
            "1 while listener state is held in process because Redis is unreachable",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.batch_size = Histogram(
            "segue_batch_size",
            "Ranked lists (kind=lists) or playlists (kind=playlists) computed per model call",
            ["kind"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=r,
        )
        self.encodes = Counter(
            "segue_listener_states",
            "Listener requests by where the model state came from",
            ["source"],
            registry=r,
        )

    def set_model(self, version: str, kind: str) -> None:
        """Report ``version`` as the one model served by this worker."""
        self.model.clear()
        self.model.labels(version=version, kind=kind).set(1)

    def exposition(self) -> bytes:
        """The text format of every metric (all workers' in multi-process mode)."""
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
