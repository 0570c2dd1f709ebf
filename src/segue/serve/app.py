"""The HTTP API: FastAPI routes over a :class:`segue.serve.service.Service`.

=======  ==============================  =====  ==========================================
method   path                            auth   what
=======  ==============================  =====  ==========================================
POST     /recommend                      read   next tracks after a history
POST     /playlists/continue             read   extend a playlist by n tracks
GET      /tracks/{track_id}/similar      read   tracks with the closest embeddings
POST     /listeners/{id}/events          write  append events, answer the re-ranked list
GET      /listeners/{id}/recommendations read   a listener's list from the stored events
DELETE   /listeners/{id}                 write  forget a listener
POST     /admin/reload                   write  load the model file again, swap it in
GET      /healthz, /readyz, /metrics     none   liveness, readiness, Prometheus text
=======  ==============================  =====  ==========================================

"read" needs a key only when the server runs with ``read_auth="key"``. The OpenAPI page is
at ``/docs`` (schema at ``/openapi.json``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from segue.serve.access import Writer, service_of
from segue.serve.errors import install_error_handlers
from segue.serve.metrics import Metrics
from segue.serve.middleware import ServiceMiddleware
from segue.serve.routes import router
from segue.serve.service import Service
from segue.serve.settings import ServeSettings

log = logging.getLogger("segue.serve")


def create_app(settings: ServeSettings) -> FastAPI:
    """The ASGI app of one worker; the model is loaded at startup (before it is ready)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            service = Service(settings, metrics)
        except Exception as error:  # one clear line before uvicorn's traceback
            log.error("cannot serve %s: %s", settings.model, error)
            raise
        app.state.service = service
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(_reload(service)))
        log.info(
            "serving",
            extra={"model_version": service.backend.version, "store": service.store_kind},
        )
        yield
        loop.remove_signal_handler(signal.SIGHUP)
        await service.close()

    app = FastAPI(
        title="segue",
        summary="Next-track recommendations: ranked lists, playlists, live listeners.",
        lifespan=lifespan,
    )
    metrics = Metrics()
    install_error_handlers(app, metrics)
    app.include_router(router)
    _operations(app)
    app.add_middleware(
        ServiceMiddleware,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        access_log=settings.access_log,
    )
    return app


def app_from_env() -> FastAPI:
    """The app of a worker started by :mod:`segue.serve.cli` (settings from the environment)."""
    logging.captureWarnings(True)
    return create_app(ServeSettings.from_env())


async def _reload(service: Service) -> None:
    try:
        await service.reload()
    except Exception:
        log.exception("reload on SIGHUP failed; the previous model keeps serving")


def _operations(app: FastAPI) -> None:
    @app.post("/admin/reload", tags=["operations"])
    async def reload(service: Writer) -> dict:
        """Load the model file again and swap it in without dropping requests in flight."""
        try:
            outcome = await service.reload()
        except Exception as error:
            log.exception("reload failed; the previous model keeps serving")
            raise HTTPException(500, f"reload failed, previous model kept: {error}") from None
        return vars(outcome)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: the model is loaded; says whether the listener store is reachable."""
        service = getattr(request.app.state, "service", None)
        if service is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        store_ok = await service.store.ping()
        service.observe_store()
        return JSONResponse(
            {
                "status": "ready",
                "model_version": service.backend.version,
                "model_kind": service.backend.kind,
                "store": service.store_kind,
                "store_ok": store_ok,
            }
        )

    @app.get("/metrics", tags=["operations"])
    async def metrics(request: Request) -> Response:
        """Prometheus text format: requests, latency histograms, errors, shedding, model."""
        service = service_of(request)
        return Response(service.metrics.exposition(), media_type=service.metrics.content_type)
