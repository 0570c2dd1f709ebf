"""Constraints resolved against the catalogue, once per request: one mask and the cap.

:class:`segue.constraints.Constraints` is what a request asks for; :func:`resolve` turns it
into track indices of one :class:`Catalogue`: every rule that is a property of a track alone
(allow / block lists, excluded artists) becomes one (V,) ``banned`` mask, so the exhaustive
path, the retrieval path and playlists apply all of them with one ``masked_fill``. The
per-artist cap cannot be a mask (whether a track fits depends on the better tracks chosen
before it): :func:`segue.evaluation.ranking.top_k` applies it to ranked lists, and
:class:`segue.api.playlist.PlaylistGuard` to a playlist as it grows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from segue.api.catalogue import Catalogue
from segue.checks import check_integer
from segue.constraints import Constraints

NEG_INF = float("-inf")


@dataclass(frozen=True)
class ResolvedConstraints:
    """:class:`Constraints` resolved against one catalogue, once per request.

    Args:
        banned: True for the tracks no list may hold (padding included), (V,) bool on the
            catalogue's device; None when no rule bans a track.
        max_per_artist: At most this many tracks of one artist in a list, or None.
    """

    banned: torch.Tensor | None = None
    max_per_artist: int | None = None

    def mask(self, scores: torch.Tensor) -> None:
        """Set the scores of banned tracks to -inf, in place, (B, V) or (V,)."""
        if self.banned is not None:
            scores.masked_fill_(self.banned, NEG_INF)  # (V,) broadcast over rows


def resolve(constraints: Constraints, catalogue: Catalogue) -> ResolvedConstraints:
    """``constraints`` as track indices of ``catalogue``: one (V,) mask and the cap.

    Raises:
        ValueError: For ``exclude_artists`` when the vocabulary has no artist names.
    """
    if constraints.allow is None and not constraints.block and not constraints.exclude_artists:
        return ResolvedConstraints(None, constraints.max_per_artist)
    banned = torch.zeros(catalogue.size, dtype=torch.bool, device=catalogue.device)
    if constraints.allow is not None:
        banned.fill_(True)
        banned[_indices(catalogue.lookup(constraints.allow)[0], catalogue)] = False
    if constraints.block:
        banned[_indices(catalogue.lookup(constraints.block)[0], catalogue)] = True
    if constraints.exclude_artists:
        tracks = tracks_of_artists(catalogue, constraints.exclude_artists)
        banned[_indices(tracks, catalogue)] = True
    banned[0] = True  # padding
    return ResolvedConstraints(banned, constraints.max_per_artist)


def tracks_of_artists(catalogue: Catalogue, artists: Iterable[object]) -> np.ndarray:
    """Track indices of every artist named in ``artists``, (n,) int64; unknown names ignored.

    Raises:
        ValueError: If the vocabulary has no artist names.
    """
    if catalogue.artists is None:
        raise ValueError("exclude_artists: the model's vocabulary has no artist names")
    offsets = catalogue.artist_offsets  # tracks of artist a: tracks_by_artist[offsets[a]:...]
    present = np.flatnonzero(np.diff(offsets)[1:] > 0) + 1  # artist indices >= 1 with tracks
    names = catalogue.artists[catalogue.tracks_by_artist[offsets[present]]]  # one per artist
    wanted = {a if isinstance(a, str) else str(a) for a in artists}
    hit = present[pd.Index(names).isin(wanted)]  # a hash lookup per artist, not per track
    parts = [catalogue.tracks_of_artist(int(a)) for a in hit]
    return np.concatenate([np.zeros(0, dtype=np.int64), *parts])


def _indices(indices: np.ndarray, catalogue: Catalogue) -> torch.Tensor:
    return torch.as_tensor(indices, dtype=torch.int64, device=catalogue.device)


def check_request(k: object) -> int:
    """Check a ranked request's list length before any work; returns ``k``.

    >>> check_request(10)
    10
    >>> check_request(1.5)
    Traceback (most recent call last):
    TypeError: k must be an integer >= 1, got 1.5 (float)
    """
    return check_integer("k", k, minimum=1)
