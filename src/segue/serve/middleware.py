"""The ASGI layer every request passes: request id, body-size cap, early shedding, metrics and
access log.

A plain ASGI middleware (not Starlette's ``BaseHTTPMiddleware``, which costs a task and a
queue per request). A body larger than ``max_body_bytes`` is refused with 413 from its
``Content-Length`` before any of it is read, or as soon as a chunked body passes the cap (an
``HTTPException`` raised from ``receive``, which FastAPI's body reader passes on).

A request for the model that cannot make its deadline whatever it asks (its deadline passed
while it waited for the event loop, the admission queue is full, or the work queued ahead
alone outlasts it) is answered 503 here, before its body is parsed, validated and routed:
under overload, refusing must cost far less than serving, or the event loop itself falls
behind and every answer, 503s included, comes late. Each answered request also reports how
long its answer took after its model call returned (the tail that admission control adds to
its predictions, :mod:`segue.serve.limits`).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.exceptions import HTTPException

from segue.serve.errors import OVERLOADED
from segue.serve.limits import REQUEST_TIMING, Timing
from segue.serve.logs import new_request_id, request_id
from segue.serve.metrics import Metrics
from segue.serve.protocol import ARRIVAL

log = logging.getLogger("segue.serve.access")

SHED_ROUTE = "segue.shed_route"
"""Scope key: the route template of a request shed before routing (for its metrics)."""


class ServiceMiddleware:
    """Wraps the app; see the module docstring."""

    def __init__(self, app: Any, metrics: Metrics, max_body_bytes: int, access_log: bool) -> None:
        self.app, self.metrics = app, metrics
        self.max_body_bytes, self.access_log = max_body_bytes, access_log

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Stamped by the HTTP protocol when it read the request (segue.serve.protocol).
        arrival = scope.setdefault(ARRIVAL, time.perf_counter())
        headers = dict(scope["headers"])
        rid = new_request_id(_text(headers.get(b"x-request-id")))
        token = request_id.set(rid)
        timing = Timing()
        timing_token = REQUEST_TIMING.set(timing)
        status = {"code": 500, "started": False}
        received = 0

        async def counting_receive() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:  # the app's error handlers answer 413
                raise HTTPException(413, f"request body larger than {self.max_body_bytes} bytes")
            return message

        async def tagged_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            length = _text(headers.get(b"content-length"))
            route = model_route(scope["method"], scope["path"])
            refusal = None if route is None else _refusal(scope, route, arrival)
            if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
                await self._too_large(tagged_send, rid)
            elif refusal is not None:
                scope[SHED_ROUTE] = route
                await self._overloaded(tagged_send, rid, refusal)
            else:
                await self.app(scope, counting_receive, tagged_send)
        except Exception:  # answered here, inside the request id's context
            log.exception("unhandled error")
            if not status["started"]:
                await self._problem(tagged_send, 500, "internal error (logged with this id)", rid)
        finally:
            self.metrics.in_flight.dec()
            if status["code"] == 200:
                _served(scope, timing)
            self._record(scope, status["code"], time.perf_counter() - arrival)
            REQUEST_TIMING.reset(timing_token)
            request_id.reset(token)

    async def _too_large(self, send: Any, rid: str) -> None:
        error = f"request body larger than {self.max_body_bytes} bytes"
        await self._problem(send, 413, error, rid)

    async def _overloaded(self, send: Any, rid: str, reason: str) -> None:
        """The 503 of :func:`segue.serve.errors.install_error_handlers`, keeping the connection."""
        self.metrics.shed.labels(reason=reason).inc()
        detail = {"reason": reason, "events_stored": False}
        body = json.dumps({"error": OVERLOADED, "detail": detail, "request_id": rid}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", b"1"),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _problem(self, send: Any, status: int, error: str, rid: str) -> None:
        body = json.dumps({"error": error, "detail": None, "request_id": rid}).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _record(self, scope: dict, code: int, seconds: float) -> None:
        route = scope.get("route")
        name = getattr(route, "path", None) or scope.get(SHED_ROUTE, "unmatched")
        self.metrics.requests.labels(route=name, method=scope["method"], status=str(code)).inc()
        self.metrics.latency.labels(route=name).observe(seconds)
        if code >= 500 and code != 503:
            self.metrics.errors.labels(route=name).inc()
        if self.access_log:
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": name,
                    "status": code,
                    "ms": round(seconds * 1000, 2),
                },
            )


def model_route(method: str, path: str) -> str | None:
    """The route template of a request that calls the model, or None.

    >>> model_route("POST", "/listeners/ada/events"), model_route("DELETE", "/listeners/ada")
    ('/listeners/{listener_id}/events', None)
    """
    if method == "POST" and path in ("/recommend", "/playlists/continue"):
        return path
    parts = path.split("/")  # "", first, id, last
    if len(parts) != 4 or parts[0]:
        return None
    template = _MODEL_ROUTES.get((method, parts[1], parts[3]))
    return template


_MODEL_ROUTES = {
    ("GET", "tracks", "similar"): "/tracks/{track_id}/similar",
    ("POST", "listeners", "events"): "/listeners/{listener_id}/events",
    ("GET", "listeners", "recommendations"): "/listeners/{listener_id}/recommendations",
}


def _refusal(scope: dict, route: str, arrival: float) -> str | None:
    """Why the model would refuse the request now, or None: a plain request of a batched
    route is checked as a row of its batch (:meth:`RecommendBatcher.refusal`), anything else
    as a call whose kind is not known yet (:meth:`Admission.refusal`)."""
    service = getattr(scope["app"].state, "service", None)  # None while starting
    if service is None:
        return None
    kind = _BATCHED.get((scope["method"], route))
    if kind is None:
        return service.admission.refusal(arrival)
    return service.batcher.refusal(kind, arrival)


_BATCHED = {
    ("POST", "/recommend"): "lists",
    ("POST", "/playlists/continue"): "playlists",
    ("POST", "/listeners/{listener_id}/events"): "lists",
    ("GET", "/listeners/{listener_id}/recommendations"): "lists",
}
"""The batch a plain request of each route joins (requests with filters run alone and are
checked again, by their kind, once their body is read)."""


def _served(scope: dict, timing: Timing) -> None:
    """Teach admission control how long answering took after the model call (its tail)."""
    service = getattr(scope["app"].state, "service", None)
    if service is not None:
        service.admission.served(timing)


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")
