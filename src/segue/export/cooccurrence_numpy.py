"""The blend's co-occurrence memory in numpy, for the torch-free ONNX runtime.

:mod:`segue.models.cooccurrence_memory` and the two-memory mixture of
:mod:`segue.models.transition_blend`, written again with numpy alone so that a bundle is served
without torch; the parity tests hold the two to the same scores.
"""

from __future__ import annotations

import numpy as np

COOCCURRENCE_FILES = {
    "neighbours": "blend_neighbours.npy",
    "neighbour_weights": "blend_neighbour_weights.npy",
}
"""The co-occurrence memory's table in a bundle, for a model whose ``blend_cooccurrence`` is
> 0: (V, S) int32 neighbours and float32 similarities."""


def cooccurrence_mass(
    tracks: np.ndarray,
    neighbours: np.ndarray,
    weights: np.ndarray,
    share: float,
    history: int,
    decay: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``share * P_c(j | h)`` after left-padded ``tracks`` (B, T), as coalesced (rows, items,
    mass): :meth:`segue.models.cooccurrence_memory.CooccurrenceMemory.mass` in numpy."""
    recent = tracks[:, -history:]  # (B, H): the last column is age 0
    ages = np.arange(recent.shape[1] - 1, -1, -1)
    fade = np.power(np.float32(decay), ages).astype(np.float32)
    items = neighbours[recent].astype(np.int64)  # (B, H, S)
    similar = weights[recent].astype(np.float32) * fade[None, :, None]
    keep = (recent > 0)[:, :, None] & (items > 0) & (similar > 0)
    rows = np.broadcast_to(np.arange(len(recent))[:, None, None], items.shape)[keep]
    items, similar = items[keep], similar[keep]
    return _coalesced(rows, items, similar, len(neighbours), len(recent), share)


def _coalesced(
    rows: np.ndarray, items: np.ndarray, mass: np.ndarray, stride: int, n_rows: int, share: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum the mass of repeated (row, item) pairs, then scale each row to ``share``."""
    rows, items, summed = _summed(rows, items, mass, stride)
    if len(rows) == 0:
        return rows, items, summed
    totals = np.zeros(n_rows, dtype=np.float32)
    np.add.at(totals, rows, summed)
    return rows, items, (np.float32(share) * summed / totals[rows]).astype(np.float32)


def _summed(
    rows: np.ndarray, items: np.ndarray, mass: np.ndarray, stride: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each (row, item) pair once, its float32 mass summed, sorted by row then item
    (``segue.models.history_prior.coalesce`` in numpy)."""
    if len(rows) == 0:
        return rows, items, mass.astype(np.float32)
    keys, pair = np.unique(rows * stride + items, return_inverse=True)
    summed = np.zeros(len(keys), dtype=np.float32)
    np.add.at(summed, pair, mass.astype(np.float32))
    return keys // stride, keys % stride, summed


def transition_mass(
    last: np.ndarray, successors: np.ndarray, counts: np.ndarray, weight: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``w P(j | x_t)`` as (rows, items, mass); none for ``w = 0`` or an empty history."""
    succ, count = successors[last].astype(np.int64), counts[last].astype(np.float32)  # (B, S)
    keep = (succ > 0) & (count > 0) & (last > 0)[:, None] & (weight > 0)
    totals = np.maximum(count.sum(axis=1, keepdims=True), np.float32(1e-30))
    rows, cols = np.nonzero(keep)
    share = count[rows, cols] / totals[rows, 0]
    return rows, succ[rows, cols], (np.float32(weight) * share).astype(np.float32)


def merged_mass(
    first: tuple[np.ndarray, np.ndarray, np.ndarray],
    second: tuple[np.ndarray, np.ndarray, np.ndarray],
    stride: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two sets of (rows, items, mass) as one, a pair in both getting the sum."""
    rows, items, mass = (np.concatenate([a, b]) for a, b in zip(first, second, strict=True))
    return _summed(rows, items, mass, stride)
