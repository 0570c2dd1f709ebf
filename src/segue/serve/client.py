"""``SegueClient``: a small async client of ``segue serve`` (httpx), used by the tests.

Every method returns the decoded JSON body; a non-2xx answer raises :class:`ServeError`
carrying the status, the server's message, its field details and the request id. Overload
(503) is retried ``retries`` times after the server's ``Retry-After`` (capped by
``max_retry_wait_s``); nothing else is retried, so a write is never sent twice unless the
server said it did not store it.

Example::

    async with SegueClient("http://127.0.0.1:8000", api_key=key) as client:
        await client.add_events("listener-1", [{"track_id": "t1"}])
        listing = await client.listener_recommendations("listener-1", k=10)
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx


class ServeError(Exception):
    """A request the server refused or failed.

    Args:
        status: HTTP status.
        error: The server's message.
        detail: Field-level details (validation) or overload details.
        request_id: The id the server logged the request under.
    """

    def __init__(self, status: int, error: str, detail: Any, request_id: str | None) -> None:
        super().__init__(f"{status}: {error}")
        self.status, self.error, self.detail, self.request_id = status, error, detail, request_id


class SegueClient:
    """Async client of one server.

    Args:
        base_url: ``http://host:port``.
        api_key: Sent as ``Authorization: Bearer`` when given.
        timeout_s: Per-request timeout.
        retries: Retries of a 503 that says nothing was stored.
        max_retry_wait_s: Longest wait before a retry.
        transport: An httpx transport (tests, custom connection limits).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout_s: float = 10.0,
        retries: int = 0,
        max_retry_wait_s: float = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=timeout_s,
            limits=limits,
            transport=transport,
        )
        self.retries, self.max_retry_wait_s = retries, max_retry_wait_s

    async def __aenter__(self) -> SegueClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    # ----------------------------------------------------------------------------------------
    # Recommendations

    async def recommend(self, history: list[Any], k: int = 10, **options: Any) -> dict:
        """``POST /recommend``; ``options``: exclude_played, allow, block, max_per_artist."""
        return await self.request(
            "POST", "/recommend", json={"history": history, "k": k, **options}
        )

    async def continue_playlist(self, seed_tracks: list[Any], n: int = 30, **options: Any) -> dict:
        """``POST /playlists/continue``; ``options`` as in ``Recommender.continue_playlist``."""
        body = {"seed_tracks": seed_tracks, "n": n, **options}
        return await self.request("POST", "/playlists/continue", json=body)

    async def similar(self, track_id: str, k: int = 10) -> dict:
        """``GET /tracks/{track_id}/similar``."""
        return await self.request(
            "GET", f"/tracks/{quote(track_id, safe='')}/similar", params={"k": k}
        )

    # ----------------------------------------------------------------------------------------
    # Listeners

    async def add_events(
        self, listener_id: str, events: list[dict[str, Any]], k: int = 10, **options: Any
    ) -> dict:
        """``POST /listeners/{id}/events``: append events, get the re-ranked list."""
        body = {"events": events, "k": k, **options}
        return await self.request("POST", f"/listeners/{_segment(listener_id)}/events", json=body)

    async def listener_recommendations(self, listener_id: str, k: int = 10, **params: Any) -> dict:
        """``GET /listeners/{id}/recommendations``."""
        path = f"/listeners/{_segment(listener_id)}/recommendations"
        return await self.request("GET", path, params={"k": k, **params})

    async def delete_listener(self, listener_id: str) -> dict:
        """``DELETE /listeners/{id}``."""
        return await self.request("DELETE", f"/listeners/{_segment(listener_id)}")

    # ----------------------------------------------------------------------------------------
    # Operations

    async def reload(self) -> dict:
        """``POST /admin/reload``: load the model file again."""
        return await self.request("POST", "/admin/reload")

    async def ready(self) -> dict:
        """``GET /readyz`` (raises :class:`ServeError` while not ready)."""
        return await self.request("GET", "/readyz")

    async def metrics(self) -> str:
        """``GET /metrics``, the Prometheus text."""
        response = await self.http.get("/metrics")
        _raise_for(response)
        return response.text

    async def request(self, method: str, path: str, **kwargs: Any) -> dict:
        """One call; 503s that stored nothing are retried ``retries`` times."""
        for attempt in range(self.retries + 1):
            response = await self.http.request(method, path, **kwargs)
            if response.status_code != 503 or attempt == self.retries or _stored(response):
                break
            wait = float(response.headers.get("retry-after", "1") or 1)
            await asyncio.sleep(min(wait, self.max_retry_wait_s))
        _raise_for(response)
        return response.json()


def _segment(value: str) -> str:
    return quote(value, safe="")


def _stored(response: httpx.Response) -> bool:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return False
    return isinstance(detail, dict) and bool(detail.get("events_stored"))


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text}
    raise ServeError(
        response.status_code,
        str(body.get("error", "")),
        body.get("detail"),
        body.get("request_id") or response.headers.get("x-request-id"),
    )
