"""Full-catalogue ranking: the rank of each target and the top-k lists of a score matrix.

Every item of the catalogue is ranked; there are no sampled negatives. Score matrices have
shape (B, n_tracks + 1) whose column ``j`` is the score of vocabulary index ``j``. Column 0 is
padding and is never ranked nor recommended, whatever score it holds.

Definitions:
    * **Ties are pessimistic.** The rank of a target is ``1 + #(items scored strictly higher) +
      #(other items scored equal)``, so a model that gives every item the same score ranks every
      target last instead of first (the well-known inflation of metrics by constant scores).
    * **Exclusion removes items from the ranking, except the target.** Excluded items (e.g.
      tracks already heard) neither count above the target nor appear in a top-k list. The target
      itself is never excluded: in music a repeat is a legitimate next track, so a target that is
      also in the history is still ranked, against the non-excluded rest of the catalogue. (In
      the MovieLens leave-last-out protocol the target never is in the history, so this rule
      changes nothing there.)
    * **A target of 0** (a track unknown at training time, mapped to padding) gets the rank
      :data:`MISS`, which every metric counts as a miss.
    * **Top-k ties go to the lower index**, so a list is the same on every device and batch.

:func:`top_k` is also the serving top-k (:mod:`segue.api`), with an optional per-artist cap, so
the lists that are evaluated are the lists that are served.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

MISS: int = int(np.iinfo(np.int64).max)
"""Rank given to a target that cannot be ranked (index 0). Larger than any ``k``: always a miss."""

Exclude = Sequence[np.ndarray] | np.ndarray | torch.Tensor | None
"""Items to remove from the ranking: one index array per row, or a (B, V) bool mask."""


CANDIDATE_FACTOR = 4
"""With a per-artist cap, the first pass takes this many times k candidates per row."""


@dataclass
class Ranked:
    """The k best items of each row, best first.

    Args:
        indices: Vocabulary indices, (B, k) int64; 0 where a row has fewer than k rankable items
            (such entries only ever trail a row).
        scores: Their scores, (B, k) float32; -inf where ``indices`` is 0.
    """

    indices: np.ndarray
    scores: np.ndarray


def target_ranks(
    scores: torch.Tensor | np.ndarray,
    targets: torch.Tensor | np.ndarray | Sequence[int],
    exclude: Exclude = None,
    *,
    chunk_size: int = 1024,
) -> np.ndarray:
    """1-based full-catalogue rank of each target, with pessimistic ties.

    Args:
        scores: Scores, (B, V) with V = n_tracks + 1; column 0 (padding) is ignored.
        targets: Vocabulary index of the true next track, (B,); 0 means unknown -> :data:`MISS`.
        exclude: Items removed from the ranking except the target itself: a list of B index
            arrays (ragged, e.g. the histories) or a (B, V) bool mask; None removes nothing.
        chunk_size: Rows processed at once, to bound temporary memory.

    Returns:
        Ranks, (B,) int64, in 1..V-1, or :data:`MISS`.

    Raises:
        ValueError: On bad shapes, out-of-range targets or NaN scores.

    >>> s = np.array([[-np.inf, 0.9, 0.5, 0.5, 0.1]])
    >>> target_ranks(s, [2]).tolist()  # 0.9 is higher, the other 0.5 ties: 1 + 1 + 1
    [3]
    >>> target_ranks(s, [3], exclude=[np.array([1, 3])]).tolist()  # 1 removed, target kept
    [2]
    >>> target_ranks(np.zeros((1, 5)), [4]).tolist()  # a constant model ranks the target last
    [4]
    >>> target_ranks(s, [0]).tolist() == [MISS]
    True
    """
    s = _check_scores(scores)
    n_rows, n_cols = s.shape
    if isinstance(targets, torch.Tensor):
        t = targets.to(s.device).long()
    else:
        t = torch.as_tensor(np.asarray(targets), device=s.device).long()
    if t.shape != (n_rows,):
        raise ValueError(f"targets must be ({n_rows},), got shape {tuple(t.shape)}")
    if n_rows and (t.min() < 0 or t.max() >= n_cols):
        raise ValueError(f"targets must be in [0, {n_cols}), got [{t.min()}, {t.max()}]")
    _check_exclude(exclude, (n_rows, n_cols))
    ranks = torch.empty(n_rows, dtype=torch.int64, device=s.device)
    for start in range(0, n_rows, chunk_size):
        rows = slice(start, min(start + chunk_size, n_rows))
        chunk, chunk_t = s[rows], t[rows]  # (b, V), (b,)
        _check_nan(chunk)
        arange = torch.arange(len(chunk_t), device=s.device)
        at_least = chunk >= chunk[arange, chunk_t][:, None]  # (b, V), includes the target
        at_least[:, 0] = False
        if isinstance(exclude, torch.Tensor | np.ndarray) and np.ndim(exclude) == 2:
            at_least &= ~torch.as_tensor(exclude[rows], device=s.device)
            at_least[arange, chunk_t] = True  # the target is never excluded
        elif exclude is not None:
            row_ids, cols = _excluded_pairs(exclude[rows], n_cols, s.device)
            keep = cols != chunk_t[row_ids]  # the target is never excluded
            at_least[row_ids[keep], cols[keep]] = False
        ranks[rows] = _count_true(at_least)
    ranks[t == 0] = MISS
    return ranks.cpu().numpy()


def top_k(
    scores: torch.Tensor | np.ndarray,
    k: int,
    exclude: Exclude = None,
    *,
    artist_of_track: np.ndarray | None = None,
    max_per_artist: int | None = None,
    chunk_size: int = 1024,
) -> Ranked:
    """The k highest-scored items of each row, never padding nor excluded items.

    Ties are broken by the lower vocabulary index, so the result is deterministic. Items scored
    -inf count as not recommendable, like excluded ones. With ``max_per_artist``, a row keeps at
    most that many items of one artist (each artist's best; artist 0, unknown, is never capped):
    whether an item fits depends on the better items before it, so this cannot be a mask.
    The best ``4 k`` items are tried first and more only in the rare rows where the cap left
    fewer than ``k``, so the result is always exact.

    Args:
        scores: Scores, (B, V) with V = n_tracks + 1; column 0 (padding) is never returned.
        k: List length, >= 1; lists are at most V - 1 long.
        exclude: Items never returned: a list of B index arrays or a (B, V) bool mask.
        artist_of_track: Artist index of each item, (V,) int; needed by ``max_per_artist``.
        max_per_artist: At most this many items of one artist in a row, or None.
        chunk_size: Rows processed at once, to bound temporary memory.

    Returns:
        :class:`Ranked` with (B, min(k, V - 1)) indices and scores, best first.

    >>> s = np.array([[-np.inf, 0.2, 0.7, 0.2, 0.9], [0.0, 0.1, 0.1, 0.1, 0.1]])
    >>> top_k(s, 3).indices.tolist()  # 1 and 3 tie: the lower index wins
    [[4, 2, 1], [1, 2, 3]]
    >>> top_k(s, 3, exclude=[np.array([4, 2]), np.array([], dtype=int)]).indices.tolist()
    [[1, 3, 0], [1, 2, 3]]
    >>> artists = np.array([0, 7, 7, 0, 7])  # items 1, 2 and 4 by artist 7
    >>> top_k(s, 3, artist_of_track=artists, max_per_artist=1).indices.tolist()
    [[4, 3, 0], [1, 3, 0]]
    """
    s = _check_scores(scores)
    n_rows, n_cols = s.shape
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if max_per_artist is not None:
        if max_per_artist < 1:
            raise ValueError(f"max_per_artist must be >= 1, got {max_per_artist}")
        if artist_of_track is None or np.shape(artist_of_track) != (n_cols,):
            raise ValueError(f"max_per_artist needs artist_of_track of shape ({n_cols},)")
    _check_exclude(exclude, (n_rows, n_cols))
    width = min(int(k), n_cols - 1)
    indices = np.zeros((n_rows, width), dtype=np.int64)
    values = np.full((n_rows, width), -np.inf, dtype=np.float32)
    for start in range(0, n_rows, chunk_size):
        rows = slice(start, min(start + chunk_size, n_rows))
        # (b, V), a copy: the caller's scores stay intact.
        chunk = s[rows].clone() if s.is_floating_point() else s[rows].float()
        _check_nan(chunk)
        chunk[:, 0] = -torch.inf
        if isinstance(exclude, torch.Tensor | np.ndarray) and np.ndim(exclude) == 2:
            chunk.masked_fill_(torch.as_tensor(exclude[rows], device=s.device), -torch.inf)
        elif exclude is not None:
            chunk[_excluded_pairs(exclude[rows], n_cols, s.device)] = -torch.inf
        if max_per_artist is None:
            idx_t, val_t = _top_k_ties_by_index(chunk, width)
            idx, val = idx_t.cpu().numpy(), val_t.float().cpu().numpy()
        else:
            assert artist_of_track is not None  # checked above
            idx, val = _capped_top_k(chunk, width, np.asarray(artist_of_track), max_per_artist)
        idx[np.isneginf(val)] = 0
        indices[rows], values[rows] = idx, val
    return Ranked(indices=indices, scores=values)


def _capped_top_k(
    s: torch.Tensor, k: int, artist_of_track: np.ndarray, cap: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of (b, V) scores under the per-artist cap, (b, k) numpy; -inf where short."""
    b, n_cols = s.shape
    out_idx = np.zeros((b, k), dtype=np.int64)
    out_val = np.full((b, k), -np.inf, dtype=np.float32)
    pending = np.arange(b)
    m = min(n_cols, CANDIDATE_FACTOR * k)
    while pending.size:
        rows = s if pending.size == b else s[torch.as_tensor(pending, device=s.device)]
        idx_t, val_t = _top_k_ties_by_index(rows, m)  # (p, m) candidates, best first
        idx, vals = idx_t.cpu().numpy(), val_t.float().cpu().numpy()
        keep = within_cap(artist_of_track[idx], cap) & np.isfinite(vals)
        taken = np.cumsum(keep, axis=1)  # (p, m)
        # Done when k were kept, or when no later candidate could be eligible.
        done = (taken[:, -1] >= k) | (m == n_cols) | ~np.isfinite(vals[:, -1])
        r, c = np.nonzero(keep & (taken <= k) & done[:, None])
        out_idx[pending[r], taken[r, c] - 1] = idx[r, c]
        out_val[pending[r], taken[r, c] - 1] = vals[r, c]
        pending = pending[~done]
        m = min(n_cols, m * CANDIDATE_FACTOR)
    return out_idx, out_val


def within_cap(artists: np.ndarray, cap: int) -> np.ndarray:
    """True where a candidate is among the first ``cap`` of its artist in its row.

    Args:
        artists: Artist index of each candidate, best first, (B, m); 0 (unknown) is never capped.
        cap: Items allowed per artist.

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


def _top_k_ties_by_index(s: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k of (b, V) scores, best first, ties broken by the lower column index."""
    # One more than k: an item left out ties with the k-th one exactly when the (k+1)-th does
    # (scores are sorted), so no (b, V) comparison is needed to find the ambiguous rows.
    val, idx = torch.topk(s, min(k + 1, s.shape[1]), dim=1)  # (b, k + 1), tie order unspecified
    if val.shape[1] > k:
        ambiguous = (val[:, k] == val[:, k - 1]) & ~torch.isneginf(val[:, k - 1])  # (b,)
        val, idx = val[:, :k], idx[:, :k]
    else:  # every item is in the list: only their order is left to fix
        ambiguous = torch.zeros(len(s), dtype=torch.bool, device=s.device)
    kth = val[:, -1:]  # (b, 1)
    if ambiguous.any():
        amb, amb_kth = s[ambiguous], kth[ambiguous]  # (a, V), (a, 1)
        chosen = amb > amb_kth  # at most k - 1 per row
        room = k - _count_true(chosen).to(s.device)  # (a,), >= 1
        tie_rows, tie_cols = _nonzero(amb == amb_kth)  # row-major: ascending index per row
        first = torch.searchsorted(tie_rows, torch.arange(len(amb), device=s.device))
        ordinal = torch.arange(len(tie_rows), device=s.device) - first[tie_rows]
        keep = ordinal < room[tie_rows]
        chosen[tie_rows[keep], tie_cols[keep]] = True  # exactly k per row
        idx[ambiguous] = _nonzero(chosen)[1].view(-1, k)
    idx = idx.sort(dim=1).values  # ascending index, then a stable sort by score
    val = s.gather(1, idx)
    order = torch.sort(val, dim=1, descending=True, stable=True).indices
    return idx.gather(1, order), val.gather(1, order)


def _count_true(mask: torch.Tensor) -> torch.Tensor:
    """Number of True per row of a (b, V) bool tensor, (b,) int64 (numpy is faster on CPU)."""
    if mask.device.type == "cpu":
        return torch.from_numpy(np.count_nonzero(mask.numpy(), axis=1).astype(np.int64))
    return mask.sum(dim=1)


def _nonzero(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices of the True entries of a (b, V) bool tensor, row-major order."""
    if mask.device.type == "cpu":  # flat: numpy's 2-D nonzero is 15x slower on a (1, 1M) row
        np_rows, np_cols = np.divmod(np.flatnonzero(mask.numpy()), mask.shape[1])
        return torch.from_numpy(np_rows), torch.from_numpy(np_cols)
    rows, cols = mask.nonzero(as_tuple=True)
    return rows.contiguous(), cols.contiguous()


def _check_scores(scores: torch.Tensor | np.ndarray) -> torch.Tensor:
    s = torch.as_tensor(scores)
    if s.dim() != 2:
        raise ValueError(f"scores must be (B, V), got shape {tuple(s.shape)}")
    return s


def _check_nan(chunk: torch.Tensor) -> None:
    """Raise on a NaN score of a track; column 0 is padding, ignored whatever it holds."""
    # amax keeps NaN, so one reduction per row finds it; an empty catalogue has nothing to check
    tracks = chunk[:, 1:]  # (b, V - 1)
    if tracks.is_floating_point() and tracks.numel() and torch.isnan(tracks.amax(dim=1)).any():
        raise ValueError("scores contain NaN")


def _check_exclude(exclude: Exclude, shape: tuple[int, int]) -> None:
    """Raise if ``exclude`` does not describe one set of items per row of a (B, V) matrix."""
    if exclude is None:
        return
    if isinstance(exclude, torch.Tensor | np.ndarray) and np.ndim(exclude) == 2:
        if tuple(exclude.shape) != shape or exclude.dtype not in (np.bool_, torch.bool):
            raise ValueError(
                f"an exclusion mask must be bool of shape {shape}, "
                f"got {exclude.dtype} {tuple(exclude.shape)}"
            )
    elif len(exclude) != shape[0]:
        raise ValueError(f"exclude must hold {shape[0]} index arrays, got {len(exclude)}")


def _excluded_pairs(
    arrays: Iterable[Any], n_cols: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, column) index tensors of the excluded items of a chunk, one array per row."""
    parts = [np.asarray(a, dtype=np.int64).ravel() for a in arrays]
    cols = np.concatenate([np.zeros(0, np.int64), *parts])
    if cols.size and (cols.min() < 0 or cols.max() >= n_cols):
        raise ValueError(f"excluded indices must be in [0, {n_cols})")
    row_ids = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
    return torch.as_tensor(row_ids, device=device), torch.as_tensor(cols, device=device)
