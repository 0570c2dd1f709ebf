"""The ASGI layer every request passes: request id, body-size cap, metrics and access log.

A plain ASGI middleware (not Starlette's ``BaseHTTPMiddleware``, which costs a task and a
queue per request). A body larger than ``max_body_bytes`` is refused with 413 from its
``Content-Length`` before any of it is read, or as soon as a chunked body passes the cap (an
``HTTPException`` raised from ``receive``, which FastAPI's body reader passes on).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.exceptions import HTTPException

from segue.serve.logs import new_request_id, request_id
from segue.serve.metrics import Metrics
from segue.serve.protocol import ARRIVAL

log = logging.getLogger("segue.serve.access")


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
            if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
                await self._too_large(tagged_send, rid)
            else:
                await self.app(scope, counting_receive, tagged_send)
        except Exception:  # answered here, inside the request id's context
            log.exception("unhandled error")
            if not status["started"]:
                await self._problem(tagged_send, 500, "internal error (logged with this id)", rid)
        finally:
            self.metrics.in_flight.dec()
            self._record(scope, status["code"], time.perf_counter() - arrival)
            request_id.reset(token)

    async def _too_large(self, send: Any, rid: str) -> None:
        error = f"request body larger than {self.max_body_bytes} bytes"
        await self._problem(send, 413, error, rid)

    async def _problem(self, send: Any, status: int, error: str, rid: str) -> None:
        body = json.dumps({"error": error, "detail": None, "request_id": rid}).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _record(self, scope: dict, code: int, seconds: float) -> None:
        route = scope.get("route")
        name = getattr(route, "path", "unmatched")
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


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")
