"""One listening event as the service stores it, and its compact JSON form for the store."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

EVENT_TYPES = ("play", "skip", "like", "dislike", "other")
"""What a client may send; ``skip`` is a play the listener skipped (see ``segue.columns``)."""


@dataclass(frozen=True)
class Event:
    """A listener's event.

    Args:
        track_id: External track id.
        event_type: One of :data:`EVENT_TYPES`.
        timestamp: Seconds since the epoch (the server's clock when the client sent none).
    """

    track_id: str
    event_type: str = "play"
    timestamp: float | None = None

    def to_json(self) -> str:
        """``{"t": id, "e": type, "s": seconds}``, as stored per listener.

        >>> Event("t1", "skip", 10.0).to_json()
        '{"t":"t1","e":"skip","s":10.0}'
        """
        return json.dumps(
            {"t": self.track_id, "e": self.event_type, "s": self.timestamp}, separators=(",", ":")
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        """Parse a stored event, checking every field (the store is not trusted blindly).

        >>> Event.from_json('{"t":"t1","e":"skip","s":10.0}')
        Event(track_id='t1', event_type='skip', timestamp=10.0)
        >>> Event.from_json('{"t":"t1","e":"rm -rf","s":1}')
        Traceback (most recent call last):
        ...
        ValueError: stored event has an unknown event type
        """
        value = json.loads(raw)
        if not isinstance(value, dict) or not isinstance(value.get("t"), str):
            raise ValueError("stored event has no track id")
        if value.get("e") not in EVENT_TYPES:
            raise ValueError("stored event has an unknown event type")
        seconds = value.get("s")
        if seconds is not None and not (
            isinstance(seconds, int | float) and math.isfinite(seconds)
        ):
            raise ValueError("stored event has an invalid timestamp")
        return cls(value["t"], value["e"], None if seconds is None else float(seconds))


@dataclass(frozen=True)
class ListenerEvents:
    """What the store holds for one listener after a read or an append.

    Args:
        events: The most recent events, oldest first (at most the store's cap).
        total: Events ever appended since the listener was created or deleted; the events
            appended by a write are the last ones of ``events``, numbered up to ``total``.
    """

    events: tuple[Event, ...]
    total: int
