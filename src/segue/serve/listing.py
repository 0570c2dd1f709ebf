"""What a backend returns: ranked rows plus what the response should say about them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Listing:
    """A ranked list (``rank``) or a generated playlist (``position``).

    Args:
        items: One dict per track: ``track_id``, ``score``, ``rank`` or ``position``, and
            ``artist`` / ``track_name`` when the vocabulary has them.
        unknown_ids: History ids the model does not know (dropped).
        cold_start: No known history event: ranked by popularity.
        exhausted: A playlist stopped early: the constraints left no eligible track.
        source: For a listener: "kv_cache" (this worker held the state) or "reencoded".
    """

    items: list[dict[str, Any]]
    unknown_ids: list[str] = field(default_factory=list)
    cold_start: bool = False
    exhausted: bool = False
    source: str | None = None
