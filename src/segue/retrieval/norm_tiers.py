"""IVF lists cut by direction *and* norm, probed in order of the best score they can hold.

A plain IVF index sends a track to the list whose centroid is nearest in angle and probes the
lists nearest the query in angle. That suits cosine search; the model ranks by inner product
``q . x = |q| |x| cos``, and a trained table gives popular tracks larger norms, so a query's top
tracks mix near tracks with loud tracks at wider angles, which sit in lists probed late. On the
benchmark's trained-looking table at 1M tracks (README "Scale") every exact top-10 track was
among the 2% loudest, and recall after the re-rank needed a tenth of the lists.

Here (norm-range partitioning, after Yan et al., "Norm-Ranging LSH for Maximum Inner Product
Search", NeurIPS 2018, applied to IVF lists):

* the catalogue is split into ``T`` norm tiers of equal size (quantiles of the track norms);
* a track's list is ``(direction, tier)``: its nearest direction centroid (spherical k-means, as
  before) and its tier, so every list holds tracks of similar direction and similar norm;
* each list keeps the smallest and largest norm of its tracks, and a query probes the lists with
  the largest upper bound of its inner product with a member, ``c . q * max_norm`` (``c`` the
  unit direction; ``* min_norm`` when ``c . q < 0``). Tracks are not exactly at their centroid's
  angle, so it is a ranking of lists, not a guarantee; the exact re-rank does the rest.

Measured on that table at 1M tracks, recall@10 after re-ranking 1,000 candidates: scanning 2%
of the codes, 0.886 probing by angle, 0.974 by the bound with direction lists, 0.994 with 4
tiers; scanning 10% by angle: 0.990 (the former default's 0.993).

Codes are not residuals of the list centroid (``by_residual = False``): one lookup table per
query serves every list, which keeps the per-list cost low when a query probes thousands of
small lists (recall was the same within 0.002 either way at 1M).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import faiss
import numpy as np

FAST_SCAN_IMPLEM = 11
"""FAISS's fast-scan search kernel for tiered indexes (``IndexIVFFastScan.implem``): the
query-blocked scan with a reservoir of candidates. For one query over 640 / 4,048 lists of a
32,000-list index it took 0.20 / 0.89 ms where FAISS's automatic choice took 0.39 / 2.04 ms (1
thread, p50 of 50). It keeps the same best codes up to ties of the quantized distances (994 to
999 of 1,000 candidates shared), which the exact re-rank makes irrelevant."""

ADD_BLOCK_ROWS = 1 << 18
"""Tracks added to the index at once: bounds the temporary copies while building."""


@dataclass(frozen=True)
class ListBounds:
    """Per-list facts for probing: unit directions and the norm range of each list's tracks.

    Args:
        directions: Unit direction centroids, (n_dir, D) float32.
        tiers: Norm tiers per direction (list ``d * tiers + t``).
        max_norm: Largest track norm in each list, (n_dir * tiers,) float32; 0 when empty.
        min_norm: Smallest track norm in each list, (n_dir * tiers,) float32; 0 when empty.
    """

    directions: np.ndarray
    tiers: int
    max_norm: np.ndarray
    min_norm: np.ndarray

    @cached_property
    def direction_max_norm(self) -> np.ndarray:
        """Largest track norm over each direction's tiers, (n_dir,) float32; 0 when empty."""
        return self.max_norm.reshape(-1, self.tiers).max(axis=1)

    def select(self, queries: np.ndarray, nprobe: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``nprobe`` lists with the largest score bounds per query, best first.

        Two stages, the same lists (ties aside) as bounding every list: a list's positive
        bound is at most its direction's ``cos * direction_max_norm``, which its loudest tier
        reaches. So a direction outside the ``nprobe`` best by that bound has ``nprobe`` lists
        (their loudest tiers) bounded at least as high as any of its own, and only the best
        ``nprobe`` directions' lists are bounded and ranked: at 10M tracks (25,298 directions
        x 4 tiers, 4,048 probes) p50 1.11 ms instead of 1.33 ms, the same lists for all of 300
        queries (one thread, the two versions interleaved). Rows whose ``nprobe``-th bound is
        not positive (fewer lists point towards the query) are ranked over every list.

        Args:
            queries: Listener vectors, (B, D) float32.
            nprobe: Lists to probe (at most the number of lists).

        Returns:
            List numbers (B, nprobe) int64 and their bounds (B, nprobe) float32.
        """
        cos = queries @ self.directions.T  # (B, n_dir): |q| cos(q, direction)
        nprobe = min(nprobe, len(self.max_norm))
        if nprobe >= len(self.directions):  # every direction is a candidate
            return self._best_lists(cos, self._every_direction(len(cos)), nprobe)
        reach = cos * self.direction_max_norm  # (B, n_dir)
        best = np.argpartition(-reach, nprobe - 1, axis=1)[:, :nprobe]  # (B, nprobe)
        lists, scores = self._best_lists(cos, best, nprobe)
        short = scores[:, -1] <= 0  # (B,): the two stages' argument needs positive bounds
        if short.any():
            every = self._every_direction(int(short.sum()))
            lists[short], scores[short] = self._best_lists(cos[short], every, nprobe)
        return lists, scores

    def _every_direction(self, rows: int) -> np.ndarray:
        """Every direction's number for each of ``rows`` rows, (rows, n_dir), a read-only view.

        Built only where every direction is a candidate, not on each query's common path."""
        n_dir = len(self.directions)
        return np.broadcast_to(np.arange(n_dir), (rows, n_dir))

    def _best_lists(
        self, cos: np.ndarray, directions: np.ndarray, nprobe: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``nprobe`` best lists of the given directions (B, m) by their bounds, best
        first: list numbers (B, nprobe) int64 and bounds (B, nprobe) float32."""
        tiers = self.tiers
        c = np.take_along_axis(cos, directions, axis=1)[:, :, None]  # (B, m, 1)
        high = self.max_norm.reshape(-1, tiers)[directions]  # (B, m, T)
        low = self.min_norm.reshape(-1, tiers)[directions]
        bound = np.where(c > 0, c * high, c * low)
        bound[high == 0] = -np.inf  # empty lists last
        bound = bound.reshape(len(cos), -1)  # (B, m * T): column j is tier j % T
        if nprobe < bound.shape[1]:
            top = np.argpartition(-bound, nprobe - 1, axis=1)[:, :nprobe]  # (B, nprobe)
        else:
            top = np.broadcast_to(np.arange(bound.shape[1]), bound.shape)
        scores = np.take_along_axis(bound, top, axis=1)
        order = np.argsort(-scores, axis=1)
        top, scores = np.take_along_axis(top, order, axis=1), np.take_along_axis(scores, order, 1)
        lists = np.take_along_axis(directions, top // tiers, axis=1) * tiers + top % tiers
        return lists.astype(np.int64), scores.astype(np.float32)


def tier_of(norms: np.ndarray, tiers: int) -> tuple[np.ndarray, np.ndarray]:
    """Each track's norm tier (0 = quietest) and the ``tiers - 1`` quantile edges.

    >>> tier, edges = tier_of(np.array([1.0, 2.0, 3.0, 4.0], np.float32), 2)
    >>> tier.tolist(), edges.tolist()
    ([0, 0, 1, 1], [2.5])
    """
    edges = np.quantile(norms, np.linspace(0.0, 1.0, tiers + 1)[1:-1]).astype(np.float32)
    return np.searchsorted(edges, norms, side="right").astype(np.int64), edges


def list_norm_range(lists: np.ndarray, norms: np.ndarray, nlist: int) -> tuple[np.ndarray, ...]:
    """Largest and smallest norm in each list, (nlist,) each; 0 for an empty list.

    >>> hi, lo = list_norm_range(np.array([0, 0, 2]), np.array([1.0, 3.0, 2.0]), 3)
    >>> hi.tolist(), lo.tolist()
    ([3.0, 0.0, 2.0], [1.0, 0.0, 2.0])
    """
    high = np.zeros(nlist, np.float32)
    np.maximum.at(high, lists, norms)
    low = np.full(nlist, np.inf, np.float32)
    np.minimum.at(low, lists, norms)
    low[np.isinf(low)] = 0.0
    return high, low


def add_to_lists(index: Any, tracks: np.ndarray, lists: np.ndarray) -> None:
    """Add ``tracks`` (row i gets id i) to the given lists of an empty IVF index, in place."""
    for first in range(0, tracks.shape[0], ADD_BLOCK_ROWS):
        stop = min(tracks.shape[0], first + ADD_BLOCK_ROWS)
        block = np.ascontiguousarray(tracks[first:stop], dtype=np.float32)
        ids = np.arange(first, stop, dtype=np.int64)
        assign = np.ascontiguousarray(lists[first:stop], dtype=np.int64)
        # add_core keeps no reference: the three arrays must outlive the call (they do here).
        index.add_core(
            stop - first, faiss.swig_ptr(block), faiss.swig_ptr(ids), faiss.swig_ptr(assign)
        )


def use_fast_kernel(index: Any) -> None:
    """Select :data:`FAST_SCAN_IMPLEM` on a fast-scan index, in place (not saved by FAISS)."""
    if isinstance(faiss.downcast_index(index), faiss.IndexIVFFastScan):
        index.implem = FAST_SCAN_IMPLEM


def list_members(index: Any) -> np.ndarray:
    """The list of every indexed row, (ntotal,) int64, read from the index's inverted lists."""
    ivf: Any = faiss.extract_index_ivf(index)
    lists = np.empty(ivf.ntotal, dtype=np.int64)
    invlists = ivf.invlists
    for number in range(ivf.nlist):
        size = invlists.list_size(number)
        if size:
            ids = faiss.rev_swig_ptr(invlists.get_ids(number), size)
            lists[np.asarray(ids, dtype=np.int64)] = number
    return lists


def bounds_from_index(index: Any, tiers: int, norms: np.ndarray) -> ListBounds:
    """:class:`ListBounds` of a built or loaded tiered index and its tracks' norms, (N,)."""
    ivf: Any = faiss.extract_index_ivf(index)
    centroids = ivf.quantizer.reconstruct_n(0, ivf.nlist)  # (nlist, D): direction d, T times
    directions = np.ascontiguousarray(centroids[::tiers], dtype=np.float32)
    high, low = list_norm_range(list_members(index), norms, ivf.nlist)
    return ListBounds(directions, tiers, high, low)


def search_lists(
    index: Any, queries: np.ndarray, n: int, lists: np.ndarray, bounds: np.ndarray
) -> np.ndarray:
    """Search ``index`` in the given lists only: (B, n) row labels, -1 where fewer were found.

    The probe count goes in per-call parameters (never set on the shared index), so concurrent
    requests do not race.
    """
    b, nprobe = lists.shape
    queries = np.ascontiguousarray(queries, dtype=np.float32)  # referenced until the call ends
    distances = np.empty((b, n), dtype=np.float32)
    labels = np.empty((b, n), dtype=np.int64)
    params: Any = faiss.SearchParametersIVF(nprobe=nprobe)  # type: ignore[call-arg]
    ivf: Any = faiss.extract_index_ivf(index)
    ivf.search_preassigned_c(
        b,
        faiss.swig_ptr(queries),
        n,
        faiss.swig_ptr(lists),
        faiss.swig_ptr(bounds),
        faiss.swig_ptr(distances),
        faiss.swig_ptr(labels),
        False,
        params,
    )
    return labels
