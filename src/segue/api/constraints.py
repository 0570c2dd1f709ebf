"""What may be recommended: allow / block lists, already-played tracks, a per-artist cap, and the
no-repeat window of a generated playlist. Everything is vectorised over the catalogue.

Masks set scores to -inf before the top-k, so a masked track can never be returned. The
per-artist cap cannot be a mask (whether a track fits depends on the better tracks chosen before
it): :func:`top_k` takes a few times more candidates than asked, keeps each artist's best
``max_per_artist`` in one vectorised pass, and asks for more candidates in the rare rows where
that was not enough, so the result is always exact.
"""

from __future__ import annotations

import numbers
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from segue.api.catalogue import Catalogue
from segue.checks import check_integer

NEG_INF = float("-inf")

NOT_IDS = (list, tuple, set, frozenset, dict, np.ndarray)
"""Containers: never one track id inside a collection of ids."""

CANDIDATE_FACTOR = 4
"""With a per-artist cap, the first top-k asks for this many times k candidates."""


@dataclass(frozen=True)
class Filters:
    """Request-wide constraints resolved to indices once per request.

    Args:
        disallowed: True for tracks outside the allow list, (V,) bool, or None (all allowed).
        blocked: Indices never recommended, (n,) int64 tensor, or None.
        max_per_artist: At most this many tracks of one artist in a list, or None. Tracks of
            unknown artist are never capped.
    """

    disallowed: torch.Tensor | None = None
    blocked: torch.Tensor | None = None
    max_per_artist: int | None = None


@dataclass
class Ranked:
    """The best tracks of each row, best first.

    Args:
        indices: Track indices, (B, k) int64; 0 where a row has fewer than k eligible tracks.
        scores: Their scores, (B, k) float32; -inf where ``indices`` is 0.
    """

    indices: np.ndarray
    scores: np.ndarray


def id_list(name: str, ids: object) -> list[object]:
    """A request's collection of track ids as a list; one string (or number) is one id.

    A string is iterable, but ``block="trackA"`` means the track "trackA", never the tracks
    "t", "r", "a"...

    >>> id_list("block", "trackA"), id_list("allow", ("a", "b")), id_list("block", 7)
    (['trackA'], ['a', 'b'], [7])
    >>> id_list("allow", {"a": 1})
    Traceback (most recent call last):
    TypeError: allow must be a collection of track ids (a list, set or array), got a dict
    """
    if isinstance(ids, str | bytes | numbers.Number):
        return [ids.decode() if isinstance(ids, bytes) else ids]
    if isinstance(ids, Mapping) or not isinstance(ids, Iterable):
        raise TypeError(
            f"{name} must be a collection of track ids (a list, set or array), "
            f"got a {type(ids).__name__}"
        )
    items = list(ids)
    # A list inside the list (a batch given where one history belongs) would be one unknown
    # id "['a', 'b']": refused instead. One C-level pass over the types, then the culprit.
    if any(issubclass(kind, NOT_IDS) for kind in set(map(type, items))):
        i = next(i for i, item in enumerate(items) if isinstance(item, NOT_IDS))
        raise TypeError(
            f"{name}[{i}] is a {type(items[i]).__name__}, not a track id"
            + (" (for many histories use recommend_batch)" if name == "history" else "")
        )
    return items


def check_request(k: object, exclude_played: object = True) -> int:
    """Check a ranked request's list length and flag before any work; returns ``k``.

    >>> check_request(10)
    10
    >>> check_request(1.5)
    Traceback (most recent call last):
    TypeError: k must be an integer >= 1, got 1.5 (float)
    """
    if not isinstance(exclude_played, bool | np.bool_):
        raise TypeError(f"exclude_played must be True or False, got {exclude_played!r}")
    return check_integer("k", k, minimum=1)


def check_cap(name: str, value: object) -> int | None:
    """A per-artist cap: None (no cap) or an integer >= 1."""
    return None if value is None else check_integer(name, value, minimum=1)


def resolve_filters(
    catalogue: Catalogue,
    allow: Iterable[object] | None = None,
    block: Iterable[object] | None = None,
    max_per_artist: int | None = None,
) -> Filters:
    """Turn external-id lists into masks; ids the vocabulary does not know are ignored.

    Raises:
        TypeError, ValueError: For an id collection that is not one, or a cap below 1.
    """
    cap = check_cap("max_per_artist", max_per_artist)
    disallowed = None
    if allow is not None:
        allowed = catalogue.lookup(id_list("allow", allow))[0]
        disallowed = torch.ones(catalogue.size, dtype=torch.bool, device=catalogue.device)
        disallowed[torch.as_tensor(allowed, device=catalogue.device)] = False
    blocked = None
    if block is not None:
        blocked = torch.as_tensor(
            catalogue.lookup(id_list("block", block))[0], device=catalogue.device
        )
    return Filters(disallowed, blocked, cap)


def mask_scores(
    scores: torch.Tensor, filters: Filters, excluded: Sequence[np.ndarray] | None = None
) -> None:
    """Set the scores of tracks that may not be recommended to -inf, in place.

    Args:
        scores: Scores, (B, V).
        filters: The request's allow / block lists.
        excluded: Per row, indices never recommended to that row (the played tracks), or None.
    """
    if excluded is not None:
        lengths = [len(e) for e in excluded]
        if sum(lengths):
            rows = np.repeat(np.arange(len(excluded)), lengths)
            cols = np.concatenate([np.asarray(e, dtype=np.int64) for e in excluded])
            device = scores.device
            scores[torch.from_numpy(rows).to(device), torch.from_numpy(cols).to(device)] = NEG_INF
    if filters.blocked is not None and len(filters.blocked):
        scores.index_fill_(1, filters.blocked, NEG_INF)
    if filters.disallowed is not None:
        scores.masked_fill_(filters.disallowed, NEG_INF)  # (V,) broadcast over rows


def within_cap(artists: np.ndarray, cap: int) -> np.ndarray:
    """True where a candidate is among the first ``cap`` of its artist in its row.

    Args:
        artists: Artist index of each candidate, best first, (B, m); 0 (unknown) is never capped.
        cap: Tracks allowed per artist.

    Returns:
        Bool mask, (B, m).

    >>> within_cap(np.array([[3, 3, 0, 3, 0, 5], [1, 2, 1, 1, 2, 2]]), cap=2).astype(int).tolist()
    [[1, 1, 1, 0, 1, 1], [1, 1, 1, 0, 1, 0]]
    """
    B, m = artists.shape
    keys = (np.arange(B)[:, None] * (int(artists.max(initial=0)) + 1) + artists).ravel()  # (B*m,)
    order = np.argsort(keys, kind="stable")  # stable: rank order kept within each artist
    sorted_keys = keys[order]
    position = np.arange(keys.size)
    first = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    group_start = np.maximum.accumulate(np.where(first, position, 0))
    occurrence = np.empty_like(position)
    occurrence[order] = position - group_start  # 0 for an artist's best candidate in the row
    return (occurrence.reshape(B, m) < cap) | (artists == 0)


def top_k(scores: torch.Tensor, k: int, artist_of_track: np.ndarray, cap: int | None) -> Ranked:
    """The k best tracks of each row under the per-artist cap; -inf scores are never returned.

    Args:
        scores: Masked scores, (B, V).
        k: List length (>= 1).
        artist_of_track: Artist index of each track, (V,).
        cap: At most this many tracks per artist, or None.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    B, V = scores.shape
    k = min(k, V)
    if cap is None:
        values, indices = torch.topk(scores, k, dim=1)  # (B, k), sorted
        return _ranked(indices.cpu().numpy(), values.float().cpu().numpy())
    out_idx = np.zeros((B, k), dtype=np.int64)
    out_val = np.full((B, k), NEG_INF, dtype=np.float32)
    pending = np.arange(B)
    m = min(V, CANDIDATE_FACTOR * k)
    while pending.size:
        rows = (
            scores if pending.size == B else scores[torch.as_tensor(pending, device=scores.device)]
        )
        top = torch.topk(rows, m, dim=1)
        vals, idx = top.values.float().cpu().numpy(), top.indices.cpu().numpy()  # (p, m)
        keep = within_cap(artist_of_track[idx], cap) & np.isfinite(vals)
        taken = np.cumsum(keep, axis=1)  # (p, m)
        # Done when k were kept, or when no later candidate could be eligible.
        done = (taken[:, -1] >= k) | (m == V) | ~np.isfinite(vals[:, -1])
        r, c = np.nonzero(keep & (taken <= k) & done[:, None])
        slot = taken[r, c] - 1
        out_idx[pending[r], slot] = idx[r, c]
        out_val[pending[r], slot] = vals[r, c]
        pending = pending[~done]
        m = min(V, m * CANDIDATE_FACTOR)
    return Ranked(out_idx, out_val)


def _ranked(indices: np.ndarray, values: np.ndarray) -> Ranked:
    invalid = ~np.isfinite(values)
    return Ranked(np.where(invalid, 0, indices), np.where(invalid, NEG_INF, values))


class PlaylistConstraints:
    """The running constraints of a playlist generated one track at a time.

    Args:
        catalogue: The catalogue.
        filters: Allow / block lists (``filters.max_per_artist`` is ignored; see below).
        context: Tracks already in the playlist (the seeds), oldest first, (n,) int64.
        window: A track may not appear again within this many positions of the playlist (seeds
            included); None means never again, 0 allows any repeat.
        max_per_artist: At most this many generated tracks per artist (seeds do not count), or
            None.
    """

    def __init__(
        self,
        catalogue: Catalogue,
        filters: Filters,
        context: np.ndarray,
        window: int | None,
        max_per_artist: int | None,
    ) -> None:
        if window is not None:
            check_integer("no_repeat_window", window, minimum=0)
        check_cap("max_per_artist", max_per_artist)
        self.catalogue, self.window, self.cap = catalogue, window, max_per_artist
        # Permanently excluded tracks, (V,): padding, lists, capped artists, and all played
        # tracks when repeats are never allowed.
        self.blocked = torch.zeros(catalogue.size, dtype=torch.bool, device=catalogue.device)
        self.blocked[0] = True
        if filters.blocked is not None:
            self.blocked[filters.blocked] = True
        if filters.disallowed is not None:
            self.blocked |= filters.disallowed
        recent = [] if window is None or window == 0 else context[-window:].tolist()
        self.recent: deque[int] = deque(recent, maxlen=window or 0)
        if window is None:
            self.blocked[torch.as_tensor(context, device=catalogue.device)] = True
        self.per_artist: dict[int, int] = {}

    def apply(self, scores: torch.Tensor) -> None:
        """Set the scores of tracks that may not come next to -inf, in place, (V,)."""
        scores.masked_fill_(self.blocked, NEG_INF)
        if self.recent:
            recent = torch.tensor(list(self.recent), device=scores.device)
            scores.index_fill_(0, recent, NEG_INF)

    def push(self, index: int) -> None:
        """Record that track ``index`` was appended to the playlist."""
        if self.window is None:
            self.blocked[index] = True
        else:
            self.recent.append(index)
        artist = int(self.catalogue.artist_of_track[index])
        if self.cap is None or artist == 0:
            return
        self.per_artist[artist] = self.per_artist.get(artist, 0) + 1
        if self.per_artist[artist] >= self.cap:
            tracks = torch.as_tensor(self.catalogue.tracks_of_artist(artist))
            self.blocked[tracks.to(self.blocked.device)] = True
