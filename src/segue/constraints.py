"""What may be recommended: one :class:`Constraints` dataclass for every ranking call.

A request's rules (played tracks, allow / block lists, excluded artists, a per-artist cap, the
no-repeat window of a playlist) travel whole, as one frozen :class:`Constraints`, through
:class:`segue.Recommender`, :class:`segue.SessionState`, playlists and the retrieval path. The
ranking calls take its fields as keyword arguments too, and turn them into one object in one
place (:func:`constraints_from`), so a new field is a new keyword of every call at once.

This module imports neither torch nor pandas, so a torch-free server (the ONNX backend) can
take the same object. Each backend resolves it once per request against its catalogue: the
torch API in :func:`segue.api.constraints.resolve`, where every rule that is a property of a
track alone becomes one (V,) mask.

A new rule that bans tracks is a field here with its check in ``__post_init__``, its mask in
:func:`segue.api.constraints.resolve`, and a test: ``exclude_artists`` is one.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, TypedDict

import numpy as np

from segue.checks import check_integer

NOT_IDS = (list, tuple, set, frozenset, dict, np.ndarray)
"""Containers: never one track id inside a collection of ids."""


@dataclass(frozen=True)
class Constraints:
    """What a ranked list or a generated playlist may hold; every rule is off by default.

    Collections of ids are stored as tuples; one string is one id (``block="t1"``).

    Args:
        exclude_played: Ranked lists: never recommend a track of the history (the whole
            history). Playlists do not read it: their repeats are ``no_repeat_window``'s.
        allow: If given, recommend only these track ids.
        block: Never recommend these track ids.
        exclude_artists: Never recommend a track by these artists (names as in the ``artist``
            column of the results).
        max_per_artist: At most this many tracks of one artist in a list (tracks of unknown
            artist are never capped); in a playlist, of the generated tracks (seeds do not count).
        no_repeat_window: Playlists only: a track may not reappear within this many positions
            (seeds included); None never repeats a track, 0 allows any repeat.

    Ids and artists the vocabulary does not know are ignored: a list may name tracks of a
    newer catalogue than the model's.

    Raises:
        TypeError, ValueError: For a field of the wrong kind or range, naming it.
    """

    exclude_played: bool = True
    allow: Iterable[object] | None = None
    block: Iterable[object] | None = None
    exclude_artists: Iterable[object] | None = None
    max_per_artist: int | None = None
    no_repeat_window: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.exclude_played, bool | np.bool_):
            raise TypeError(f"exclude_played must be True or False, got {self.exclude_played!r}")
        for name in ("allow", "block", "exclude_artists"):
            value = getattr(self, name)
            if value is not None:  # a tuple: a one-shot iterator would be empty on second use
                object.__setattr__(self, name, tuple(id_list(name, value)))
        if self.max_per_artist is not None:
            check_integer("max_per_artist", self.max_per_artist, minimum=1)
        if self.no_repeat_window is not None:
            check_integer("no_repeat_window", self.no_repeat_window, minimum=0)


class ConstraintFields(TypedDict, total=False):
    """The fields of :class:`Constraints`, as keyword arguments of the ranking calls."""

    exclude_played: bool
    allow: Iterable[object] | None
    block: Iterable[object] | None
    exclude_artists: Iterable[object] | None
    max_per_artist: int | None
    no_repeat_window: int | None


FIELDS = tuple(f.name for f in fields(Constraints))


PLAYLIST_CALLS = ("continue_playlist", "playlist_tracks")
"""Calls that generate playlists: they read ``no_repeat_window``, not ``exclude_played``."""


def constraints_from(
    constraints: Constraints | None, rules: Mapping[str, Any], call: str
) -> Constraints:
    """A call's constraints: ``constraints`` (default: none) with its keyword ``rules`` on top.

    The one place where the ranking calls' keyword arguments become a :class:`Constraints`.

    Args:
        constraints: Given whole by the caller, or None.
        rules: Keyword arguments naming fields of :class:`Constraints`.
        call: The public call, for messages: the playlist calls (:data:`PLAYLIST_CALLS`) read
            ``no_repeat_window`` and not ``exclude_played``; every other call the reverse.

    Raises:
        TypeError: For an unknown keyword or a ``constraints`` that is not a Constraints.
        ValueError: For a bad value, or a rule the call does not read.

    >>> constraints_from(None, {"block": "t1"}, "recommend").block
    ('t1',)
    >>> constraints_from(None, {"alow": ["t1"]}, "recommend")
    Traceback (most recent call last):
    TypeError: recommend() got an unexpected keyword argument 'alow'; the constraints are exclude_played, allow, block, exclude_artists, max_per_artist, no_repeat_window
    """  # noqa: E501
    if constraints is None:
        constraints = Constraints()
    elif not isinstance(constraints, Constraints):
        raise TypeError(f"constraints must be a Constraints, got {type(constraints).__name__}")
    unknown = [name for name in rules if name not in FIELDS]
    if unknown:
        raise TypeError(
            f"{call}() got an unexpected keyword argument {unknown[0]!r}; "
            f"the constraints are {', '.join(FIELDS)}"
        )
    if rules:
        constraints = replace(constraints, **rules)
    playlist = call in PLAYLIST_CALLS
    if playlist and not constraints.exclude_played:
        raise ValueError(
            f"{call} does not read exclude_played: repeats are set by "
            "no_repeat_window (0 allows any repeat)"
        )
    if not playlist and constraints.no_repeat_window is not None:
        raise ValueError(
            f"{call} does not read no_repeat_window (playlists only): use exclude_played"
        )
    return constraints


BATCH_HINT = " (for many histories use recommend_batch)"
"""Added where one history holds a list: the caller likely passed a batch to ``recommend``."""


def id_list(name: str, ids: object) -> list[object]:
    """A request's collection of track ids as a list; one string (or number) is one id, and
    bytes are decoded as UTF-8.

    A string is iterable, but ``block="trackA"`` means the track "trackA", never the tracks
    "t", "r", "a"...

    >>> id_list("block", "trackA"), id_list("allow", ("a", "b")), id_list("block", 7)
    (['trackA'], ['a', 'b'], [7])
    >>> id_list("allow", [b"a", "b"])  # bytes are text, as one bytes id is
    ['a', 'b']
    >>> id_list("allow", {"a": 1})
    Traceback (most recent call last):
    TypeError: allow must be a collection of track ids (a list, set or array), got a dict
    """
    if isinstance(ids, str | bytes | numbers.Number):
        return [ids.decode() if isinstance(ids, bytes) else ids]
    artists = name == "exclude_artists"
    what, one = ("artist names", "an artist name") if artists else ("track ids", "a track id")
    if isinstance(ids, Mapping) or not isinstance(ids, Iterable):
        raise TypeError(
            f"{name} must be a collection of {what} (a list, set or array), "
            f"got a {type(ids).__name__}"
        )
    items = list(ids)
    # A list inside the list (a batch given where one history belongs) would be one unknown
    # id "['a', 'b']": refused instead. One C-level pass over the types, then the culprit.
    kinds = set(map(type, items))
    if any(issubclass(kind, NOT_IDS) for kind in kinds):
        i = next(i for i, item in enumerate(items) if isinstance(item, NOT_IDS))
        raise TypeError(
            f"{name}[{i}] is a {type(items[i]).__name__}, not {one}"
            + (BATCH_HINT if name == "history" else "")
        )
    if any(issubclass(kind, bytes) for kind in kinds):  # as one bytes id: not the id "b't1'"
        items = [item.decode() if isinstance(item, bytes) else item for item in items]
    return items
