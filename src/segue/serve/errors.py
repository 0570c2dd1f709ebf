"""Error bodies: ``{"error": ..., "detail": ..., "request_id": ...}`` for every failure.

Validation errors (422) list each field at fault as ``body.k``, ``query.k``,
``path.listener_id``; overload answers 503 with ``Retry-After`` and says whether events were
stored before the ranking was refused. Anything unexpected is logged with its request id and
answered 500 without internals by :mod:`segue.serve.middleware`.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from segue.serve.limits import Overloaded
from segue.serve.logs import request_id
from segue.serve.metrics import Metrics

OVERLOADED = "overloaded, retry later"
"""The ``error`` of every 503."""


def field_name(loc: tuple | list) -> str:
    """``("body", "history", 3, "str")`` -> ``"body.history.3"`` (pydantic's union tags cut).

    >>> field_name(("body", "history", 3, "HistoryEvent", "track_id"))
    'body.history.3.track_id'
    """
    parts = [str(p) for p in loc if p not in ("str", "HistoryEvent", "function-after[_finite()]")]
    parts = [p for p in parts if not p.startswith(("constrained-str", "function-"))]
    return ".".join(parts)


def _problem(status: int, error: str, detail: object = None, headers=None) -> JSONResponse:
    body = {"error": error, "detail": detail, "request_id": request_id.get()}
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI, metrics: Metrics) -> None:
    """Register the handlers above on ``app``."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        fields = [
            {"field": field_name(e.get("loc", ())), "message": e.get("msg"), "type": e.get("type")}
            for e in error.errors()
        ]
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        return _problem(422, f"invalid request: {summary}", fields)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return _problem(error.status_code, str(error.detail), None, error.headers)

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, error: Overloaded) -> JSONResponse:
        metrics.shed.labels(reason=error.reason).inc()
        detail = {"reason": error.reason, "events_stored": getattr(error, "events_stored", False)}
        return _problem(503, OVERLOADED, detail, {"Retry-After": "1"})
