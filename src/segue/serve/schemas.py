"""Request and response bodies: pydantic models, so every 4xx names the field at fault.

The bounds here are hard ceilings of the format; the server's own, usually tighter, caps
(:class:`segue.serve.settings.ServeSettings`) are checked by :mod:`segue.serve.limits`. Unknown
fields are refused (a misspelt ``max_per_artsit`` is an error, not a silently ignored option).
Ids are plain strings of printable characters: they are looked up in dictionaries and never
reach a file path, a format string or a shell.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from segue.export.request_bounds import MAX_EPOCH_SECONDS
from segue.serve.events import Event

MAX_ID_CHARS = 256
TrackId = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS, pattern=r"^[^\x00-\x1f\x7f]+$")
]
LISTENER_ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,128}$"
"""Listener ids: they become part of a Redis key, so a short, plain alphabet."""

CEILING_EVENTS = 10_000
CEILING_K = 10_000
CEILING_IDS = 100_000
EventType = Literal["play", "skip", "like", "dislike", "other"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HistoryEvent(_Strict):
    """One event of a history: a play (or skip, like, ...) of a track, optionally timed."""

    track_id: TrackId
    event_type: EventType = "play"
    # Bounded as the library bounds numeric times: a larger number is milliseconds, refused
    # here (a 422 naming the field) before a listener's events are stored, not at encoding.
    timestamp: float | None = Field(
        default=None,
        ge=0,
        le=MAX_EPOCH_SECONDS,
        description="Seconds since the epoch (at most 1e10, the year 2286); the server's clock "
        "if absent.",
    )

    @model_validator(mode="after")
    def _finite(self) -> HistoryEvent:
        if self.timestamp is not None and not math.isfinite(self.timestamp):
            raise ValueError("timestamp must be a finite number of seconds")
        return self

    def event(self) -> Event:
        return Event(self.track_id, self.event_type, self.timestamp)


History = Annotated[
    list[TrackId | HistoryEvent],
    Field(
        default_factory=list,
        max_length=CEILING_EVENTS,
        description="Oldest first: track ids, or events with a type and timestamp.",
    ),
]


def history_events(history: list[str | HistoryEvent]) -> list[Event]:
    """The history as events (bare ids are untimed plays)."""
    return [Event(h) if isinstance(h, str) else h.event() for h in history]


def _all_or_none_timed(history: list[str | HistoryEvent], field: str) -> None:
    timed = [isinstance(h, HistoryEvent) and h.timestamp is not None for h in history]
    if any(timed) and not all(timed):
        raise ValueError(f"{field}: give every event a timestamp, or none")


class Filters(_Strict):
    """What may be recommended, shared by the ranked-list requests."""

    exclude_played: bool = True
    allow: list[TrackId] | None = Field(default=None, max_length=CEILING_IDS)
    block: list[TrackId] | None = Field(default=None, max_length=CEILING_IDS)
    max_per_artist: int | None = Field(default=None, ge=1)


class RecommendRequest(Filters):
    """``POST /recommend``: the next tracks after a history."""

    history: History
    k: int = Field(default=10, ge=1, le=CEILING_K)

    @model_validator(mode="after")
    def _timestamps(self) -> RecommendRequest:
        _all_or_none_timed(self.history, "history")
        return self


class ContinueRequest(_Strict):
    """``POST /playlists/continue``: extend a playlist, each pick fed back as context."""

    seed_tracks: History
    n: int = Field(default=30, ge=1, le=CEILING_K)
    no_repeat_window: int | None = Field(default=None, ge=0)
    max_per_artist: int | None = Field(default=None, ge=1)
    allow: list[TrackId] | None = Field(default=None, max_length=CEILING_IDS)
    block: list[TrackId] | None = Field(default=None, max_length=CEILING_IDS)
    temperature: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    seed: int | None = Field(default=None, ge=0, lt=2**63)

    @model_validator(mode="after")
    def _timestamps(self) -> ContinueRequest:
        _all_or_none_timed(self.seed_tracks, "seed_tracks")
        return self


class EventsRequest(Filters):
    """``POST /listeners/{id}/events``: append events, answer the re-ranked list."""

    events: list[HistoryEvent] = Field(min_length=1, max_length=CEILING_EVENTS)
    k: int = Field(default=10, ge=1, le=CEILING_K)


class Track(BaseModel):
    """One recommended track."""

    track_id: str
    score: float
    rank: int | None = None
    position: int | None = None
    artist: str | None = None
    track_name: str | None = None


class Tracks(BaseModel):
    """A ranked list or playlist, with the model that made it."""

    items: list[Track]
    model_version: str
    unknown_ids: list[str] = []
    cold_start: bool = False
    exhausted: bool = False


class ListenerTracks(Tracks):
    """A listener's list: how many events it was based on and where the state came from."""

    listener_id: str
    events: int
    source: str | None = None


class Problem(BaseModel):
    """An error: what went wrong and, for invalid requests, each field at fault."""

    error: str
    detail: list[dict] | str | None = None
    request_id: str | None = None
