"""uvicorn's HTTP protocol with the request's arrival time in its ASGI scope.

A request's deadline should start when it reached the server, not when the app first sees it:
under load the event loop runs many callbacks between reading a request's bytes and starting its
ASGI task, and that wait is part of what the client sees. The earliest point Python code can
observe is the parser's first callback for the request (``on_message_begin``, inside the
``data_received`` that read its first bytes), so the protocol stamps
``time.perf_counter()`` there, under :data:`ARRIVAL`. Bytes still in the kernel's socket
buffer are not seen (no asyncio transport exposes receive timestamps); that wait is bounded
by one pass of the event loop. :class:`segue.serve.middleware.ServiceMiddleware` stamps the
time itself when another protocol (h11) serves the request.
"""

from __future__ import annotations

import importlib.util
import time

ARRIVAL = "segue.arrival"
"""Scope key: ``time.perf_counter()`` when the request arrived (its deadline starts there)."""

PROTOCOL = "segue.serve.protocol:ArrivalHttpToolsProtocol"
"""The import string uvicorn is given as ``http`` when httptools is installed."""


def http_protocol() -> str:
    """uvicorn's ``http`` setting: the stamping httptools protocol, else uvicorn's choice."""
    return PROTOCOL if importlib.util.find_spec("httptools") is not None else "auto"


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is not installed: http_protocol() never names this class
    pass
else:

    class ArrivalHttpToolsProtocol(HttpToolsProtocol):
        """:class:`HttpToolsProtocol` that stamps each request's arrival in its scope."""

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.scope[ARRIVAL] = time.perf_counter()  # type: ignore[literal-required]
