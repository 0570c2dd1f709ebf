"""Who may do what: the API-key dependencies of the routes, and the server's caps.

``Reader`` and ``Writer`` are FastAPI dependencies that check the key (see
:mod:`segue.serve.auth`) and hand the route the worker's :class:`Service`. They are ``async``
although they never wait: FastAPI runs a plain ``def`` dependency on its thread pool, a thread
hand-off per request for a few dictionary lookups. Caps are the
server's own limits (``--max-k``, ``--max-history``, ...), tighter than the request schema's
ceilings, reported like any validation error: a 422 naming the field.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from segue.serve.auth import key_matches, presented_key
from segue.serve.service import Service

# Declared so that the OpenAPI page shows both ways of passing a key; checked in _authorise.
_bearer = HTTPBearer(auto_error=False)
_header_key = APIKeyHeader(name="X-API-Key", auto_error=False)


def service_of(request: Request) -> Service:
    """The worker's service (set at startup)."""
    return request.app.state.service


def _authorise(request: Request, write: bool, header: str | None) -> None:
    service = service_of(request)
    if not write and service.settings.read_auth == "open":
        return
    if not service.keys:
        raise HTTPException(
            403, "this server has no API key configured: requests that need one are refused"
        )
    token = presented_key(request.headers.get("authorization"), header)
    if token is None:
        raise HTTPException(401, "an API key is required", {"WWW-Authenticate": "Bearer"})
    if not key_matches(token, service.keys):
        raise HTTPException(401, "invalid API key", {"WWW-Authenticate": "Bearer"})


async def reader(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header_key)],
) -> Service:
    """Dependency of the read routes: a key only under ``read_auth="key"``."""
    _authorise(request, False, header)
    return service_of(request)


async def writer(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header_key)],
) -> Service:
    """Dependency of the write routes: always a valid key."""
    _authorise(request, True, header)
    return service_of(request)


Reader = Annotated[Service, Depends(reader)]
Writer = Annotated[Service, Depends(writer)]


def cap(field: tuple[str, ...], value: int | None, limit: int, what: str) -> dict | None:
    """A validation error for ``field`` when ``value`` passes the server's ``limit``, else None."""
    if value is None or value <= limit:
        return None
    return {
        "loc": field,
        "msg": f"{what} is capped at {limit} on this server, got {value}",
        "type": "server_cap",
        "input": value,
    }


def check_caps(errors: list[dict | None]) -> None:
    """Raise one 422 listing every cap that was passed."""
    found = [e for e in errors if e is not None]
    if found:
        raise RequestValidationError(found)
