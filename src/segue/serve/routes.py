"""The recommendation and listener routes (see :mod:`segue.serve.app` for the table).

Each route checks the server's caps, takes the model once (``service.backend``: a reload
during the request does not change it), and runs the model call through the admission queue:
in a batch (:mod:`segue.serve.batching`) when the request has no per-request filters (ranked
lists, listeners, plain playlists), else as a call of its own.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request

from segue.io.plain_data import short
from segue.serve.access import Reader, Writer, cap, check_caps
from segue.serve.backends import Backend, UnknownTrackError
from segue.serve.batching import Row
from segue.serve.events import Event, ListenerEvents
from segue.serve.limits import Overloaded
from segue.serve.listing import Listing
from segue.serve.protocol import ARRIVAL
from segue.serve.schemas import (
    LISTENER_ID_PATTERN,
    ContinueRequest,
    EventsRequest,
    ListenerTracks,
    RecommendRequest,
    TrackId,
    Tracks,
    history_events,
)
from segue.serve.service import Service

MAX_PROBLEM_CHARS = 300
"""A library error's message is cut to this many characters in the 422 it becomes."""

ListenerId = Annotated[str, Path(pattern=LISTENER_ID_PATTERN, description="Listener id")]
router = APIRouter()


@router.post(
    "/recommend", response_model=Tracks, response_model_exclude_none=True, tags=["recommend"]
)
async def recommend(body: RecommendRequest, request: Request, service: Reader) -> Tracks:
    """The next ``k`` tracks after a history (ids, or events with types and times)."""
    s = service.settings
    check_caps(
        [
            cap(("body", "k"), body.k, s.max_k, "k"),
            cap(("body", "history"), len(body.history), s.max_history, "history length"),
            cap(("body", "allow"), len(body.allow or ()), s.max_ids, "allow list"),
            cap(("body", "block"), len(body.block or ()), s.max_ids, "block list"),
        ]
    )
    backend, events = service.backend, history_events(body.history)
    call = partial(
        backend.recommend,
        events,
        body.k,
        body.exclude_played,
        body.allow,
        body.block,
        body.max_per_artist,
    )
    if body.allow is None and body.block is None and body.max_per_artist is None:
        row = Row(events, body.k, body.exclude_played, call)
        listing = await _answered(service.batcher.rank(backend, row, request.scope[ARRIVAL]))
        return _tracks(listing, backend.version)
    return _tracks(await _model_call(service, request, call, "recommend"), backend.version)


@router.post(
    "/playlists/continue",
    response_model=Tracks,
    response_model_exclude_none=True,
    tags=["recommend"],
)
async def continue_playlist(body: ContinueRequest, request: Request, service: Reader) -> Tracks:
    """Extend a playlist by ``n`` tracks, each pick fed back as context for the next."""
    s = service.settings
    check_caps(
        [
            cap(("body", "n"), body.n, s.max_playlist, "n"),
            cap(("body", "seed_tracks"), len(body.seed_tracks), s.max_history, "seed length"),
            cap(("body", "allow"), len(body.allow or ()), s.max_ids, "allow list"),
            cap(("body", "block"), len(body.block or ()), s.max_ids, "block list"),
        ]
    )
    backend, seeds = service.backend, history_events(body.seed_tracks)
    plain = (body.no_repeat_window, body.max_per_artist, body.allow, body.block, body.temperature)
    if all(value is None for value in plain) and backend.plain_playlist(seeds, body.n):
        arrival = request.scope[ARRIVAL]
        listing = await _answered(service.batcher.playlist(backend, seeds, body.n, arrival))
        return _tracks(listing, backend.version)
    call = partial(
        backend.continue_playlist,
        seeds,
        body.n,
        body.no_repeat_window,
        body.max_per_artist,
        body.allow,
        body.block,
        body.temperature,
        body.seed,
    )
    listing = await _model_call(service, request, call, f"continue/{body.n}")
    return _tracks(listing, backend.version)


@router.get(
    "/tracks/{track_id}/similar",
    response_model=Tracks,
    response_model_exclude_none=True,
    tags=["recommend"],
)
async def similar(
    track_id: Annotated[TrackId, Path()],
    request: Request,
    service: Reader,
    k: Annotated[int, Query(ge=1)] = 10,
) -> Tracks:
    """Tracks whose embeddings are closest (cosine) to ``track_id``'s; 404 if unknown."""
    s = service.settings
    check_caps([cap(("query", "k"), k, s.max_k, "k")])
    backend = service.backend
    try:
        listing = await _model_call(
            service, request, partial(backend.similar, track_id, k), "similar"
        )
    except UnknownTrackError:
        raise HTTPException(404, f"unknown track id: {track_id}") from None
    return _tracks(listing, backend.version)


@router.post(
    "/listeners/{listener_id}/events",
    response_model=ListenerTracks,
    response_model_exclude_none=True,
    tags=["listeners"],
)
async def add_events(
    listener_id: ListenerId, body: EventsRequest, request: Request, service: Writer
) -> ListenerTracks:
    """Append a listener's plays / skips and answer the re-ranked list (real-time).

    Events without a timestamp get the server's clock. When the ranking is refused for
    overload after the events were stored, the 503 says ``events_stored: true``."""
    s = service.settings
    check_caps(
        [
            cap(("body", "events"), len(body.events), s.max_events_per_post, "events per post"),
            cap(("body", "k"), body.k, s.max_k, "k"),
            cap(("body", "allow"), len(body.allow or ()), s.max_ids, "allow list"),
            cap(("body", "block"), len(body.block or ()), s.max_ids, "block list"),
        ]
    )
    filtered = (body.allow, body.block, body.max_per_artist)
    kind = "listener" if any(value is not None for value in filtered) else "lists"
    service.admission.check(request.scope[ARRIVAL], kind)  # refuse before storing
    now = time.time()
    events = [
        Event(e.track_id, e.event_type, now if e.timestamp is None else e.timestamp)
        for e in body.events
    ]
    held = await service.store.append(listener_id, events)
    service.observe_store()
    backend = service.backend
    call = partial(
        backend.listener,
        listener_id,
        held,
        body.k,
        body.exclude_played,
        body.allow,
        body.block,
        body.max_per_artist,
    )
    try:
        listing = await _listener_call(
            service, request, backend, call, held, body.k, body.exclude_played, filtered
        )
    except Overloaded as error:
        error.events_stored = True  # type: ignore[attr-defined]
        raise
    return _listener_tracks(service, listener_id, held.total, listing, backend.version)


@router.get(
    "/listeners/{listener_id}/recommendations",
    response_model=ListenerTracks,
    response_model_exclude_none=True,
    tags=["listeners"],
)
async def listener_recommendations(
    listener_id: ListenerId,
    request: Request,
    service: Reader,
    k: Annotated[int, Query(ge=1)] = 10,
    exclude_played: bool = True,
    max_per_artist: Annotated[int | None, Query(ge=1)] = None,
) -> ListenerTracks:
    """A listener's next tracks from the stored events (cold start if none)."""
    s = service.settings
    check_caps([cap(("query", "k"), k, s.max_k, "k")])
    held = await service.store.read(listener_id)
    service.observe_store()
    backend = service.backend
    call = partial(
        backend.listener, listener_id, held, k, exclude_played, None, None, max_per_artist
    )
    filtered = (None, None, max_per_artist)
    listing = await _listener_call(
        service, request, backend, call, held, k, exclude_played, filtered
    )
    return _listener_tracks(service, listener_id, held.total, listing, backend.version)


@router.delete("/listeners/{listener_id}", tags=["listeners"])
async def delete_listener(listener_id: ListenerId, service: Writer) -> dict:
    """Forget a listener's events (and this worker's cached state)."""
    deleted = await service.store.delete(listener_id)
    service.observe_store()
    service.backend.forget(listener_id)
    return {"listener_id": listener_id, "deleted": deleted}


async def _model_call(
    service: Service, request: Request, call: Callable[[], Listing], kind: str
) -> Listing:
    return await _answered(service.lane(kind).run(request.scope[ARRIVAL], call, kind))


async def _answered(job: Awaitable[Listing]) -> Listing:
    """``job``'s listing; a ``ValueError`` / ``TypeError`` the library raised for what the
    request holds (the schemas catch what they can, the library checks the rest) is the
    client's 422 naming the problem, not a 500."""
    try:
        return await job
    except (ValueError, TypeError) as error:
        raise HTTPException(
            422, f"invalid request: {short(str(error), MAX_PROBLEM_CHARS)}"
        ) from None


async def _listener_call(
    service: Service,
    request: Request,
    backend: Backend,
    call: Callable[[], Listing],
    held: ListenerEvents,
    k: int,
    exclude_played: bool,
    filters: tuple[object, ...],
) -> Listing:
    """A listener's list: batched (its stored events re-encoded) when it has no filters."""
    if any(value is not None for value in filters):
        return await _model_call(service, request, call, "listener")
    row = Row(list(held.events), k, exclude_played, call, source="reencoded")
    return await _answered(service.batcher.rank(backend, row, request.scope[ARRIVAL]))


def _tracks(listing: Listing, version: str) -> Tracks:
    return Tracks(
        items=listing.items,  # type: ignore[arg-type]
        model_version=version,
        unknown_ids=listing.unknown_ids,
        cold_start=listing.cold_start,
        exhausted=listing.exhausted,
    )


def _listener_tracks(
    service: Service, listener_id: str, total: int, listing: Listing, version: str
) -> ListenerTracks:
    service.metrics.encodes.labels(source=listing.source or "none").inc()
    return ListenerTracks(
        **_tracks(listing, version).model_dump(),
        listener_id=listener_id,
        events=total,
        source=listing.source,
    )
