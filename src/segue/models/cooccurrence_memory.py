"""The transition blend's second memory: tracks that co-occur with the recent history.

A first-order transition table reads only the last track. On catalogues where the next item
depends on the whole recent history and many items are rare (Amazon Beauty: a third of the test
targets have fewer than 10 training plays), the item co-occurrence baseline
(:class:`segue.baselines.ItemCooccurrence`) beats the transformer on rare targets: it sums,
over the last ``history`` tracks with weight ``decay ** age``, each one's cosine co-occurrence
with every other track. This module keeps that similarity as a table of each track's
``n_neighbours`` most similar tracks, and turns a history into a distribution

    P_c(j | h) = sum_a decay**a sim(h_a, j) / Z(h)

over the neighbours of its tracks, which :mod:`segue.models.transition_blend` mixes into the
model's softmax beside the transition table's ``P(j | x_t)``.

Similarity is counted as the baseline counts it (two plays at most ``SPAN`` positions apart in
one group, the diagonal dropped, divided by ``sqrt(n_i n_j)``), from the plays a model learns
to predict: skipped plays are left out, as the transition table leaves them out as targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from segue.baselines.item_cooccurrence import ItemCooccurrence
from segue.models.history_prior import coalesce, top_per_row

SPAN = 5
"""Largest distance, in plays, at which two plays co-occur (the baseline's default window)."""


def fit_neighbour_table(
    tracks: np.ndarray,
    group_start: np.ndarray,
    n_tracks: int,
    n_neighbours: int,
    is_skip: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each track's ``n_neighbours`` most similar tracks (cosine co-occurrence) and their
    similarities; ties go to the smaller track index, so the table is deterministic.

    Args:
        tracks: Track index per row, grouped and in time order, (M,).
        group_start: First row of each row's group, (M,).
        n_tracks: Catalogue size.
        n_neighbours: Neighbours kept per track.
        is_skip: Whether each row is a skipped play, (M,); None: no skips.

    Returns:
        Neighbour indices (n_tracks + 1, n_neighbours), 0 where a track has fewer, and their
        similarities (float32, same shape, > 0 where a neighbour is kept).

    >>> nb, sim = fit_neighbour_table(np.array([1, 2, 3]), np.zeros(3, np.int64), 3, 2)
    >>> nb[2].tolist(), sim[2].round(3).tolist()  # 2 co-occurs with 1 and 3, once each
    ([1, 3], [1.0, 1.0])
    """
    pairs = cooccurrence_similarity(tracks, group_start, n_tracks, is_skip).tocoo()
    keep = (pairs.data > 0) & (pairs.row > 0) & (pairs.col > 0)
    src, dst = pairs.row[keep].astype(np.int64), pairs.col[keep].astype(np.int64)
    return top_per_row(src, dst, pairs.data[keep], n_tracks, n_neighbours)


def cooccurrence_similarity(
    tracks: np.ndarray,
    group_start: np.ndarray,
    n_tracks: int,
    is_skip: np.ndarray | None = None,
) -> sp.csr_matrix:
    """The cosine co-occurrence of training rows, (n_tracks + 1, n_tracks + 1), as the item
    co-occurrence baseline counts it within ``SPAN`` plays; skipped plays left out.

    Args: as :func:`fit_neighbour_table`'s.

    >>> sim = cooccurrence_similarity(np.array([1, 2, 0, 3]), np.zeros(4, np.int64), 3)
    >>> sim.toarray()[1].round(3).tolist()  # the unknown row (0) is left out: 1, 2, 3 adjacent
    [0.0, 0.0, 1.0, 1.0]
    """
    kept = tracks > 0
    if is_skip is not None:
        kept &= ~np.asarray(is_skip, dtype=bool)
    groups, plays = group_start[kept], tracks[kept]
    bounds = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    sequences = np.split(plays, bounds[1:]) if len(plays) else []
    similarity = ItemCooccurrence(window=SPAN).fit(sequences, n_tracks).similarity_
    assert similarity is not None
    return similarity


@dataclass(frozen=True)
class CooccurrenceMemory:
    """A neighbour table and how a history reads it.

    Args:
        neighbours: (V, S) track indices, 0 = none.
        weights: Their similarities, (V, S), >= 0.
        share: The memory's share of the blend's mixture.
        history: Last history tracks that contribute.
        decay: Weight ``decay ** age`` of a history track (age 0: the last one).
    """

    neighbours: torch.Tensor
    weights: torch.Tensor
    share: float
    history: int
    decay: float

    def mass(self, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``share * P_c(j | h)`` after left-padded histories (B, T), as coalesced (rows,
        items, mass); a history without neighbours gets no entries.

        >>> memory = CooccurrenceMemory(torch.tensor([[0, 0], [2, 3], [1, 0], [1, 0]]),
        ...     torch.tensor([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [1.0, 0.0]]), 0.5, 2, 0.5)
        >>> rows, items, mass = memory.mass(torch.tensor([[2, 1]]))  # 1: age 0, 2: age 1
        >>> items.tolist(), mass.tolist()  # 2 and 3 at 1 each, 1 at 0.5; total 2.5
        ([1, 2, 3], [0.10000000149011612, 0.20000000298023224, 0.20000000298023224])
        """
        recent = history[:, -self.history :]  # (B, H): the last column is age 0
        ages = torch.arange(recent.shape[1] - 1, -1, -1, device=recent.device)
        fade = torch.pow(torch.full_like(ages, self.decay, dtype=torch.float32), ages)
        items = self.neighbours[recent].to(torch.long)  # (B, H, S)
        similar = self.weights[recent].float() * fade[None, :, None]  # (B, H, S)
        keep = (recent > 0)[:, :, None] & (items > 0) & (similar > 0)
        rows = torch.arange(len(recent), device=recent.device)[:, None, None].expand_as(items)
        summed = coalesce(rows[keep], items[keep], similar[keep])
        if len(summed) == 0:
            return summed.rows, summed.items, summed.values
        totals = summed.values.new_zeros(len(recent)).index_add_(0, summed.rows, summed.values)
        return summed.rows, summed.items, self.share * summed.values / totals[summed.rows]
