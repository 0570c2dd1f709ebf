"""Ranked lists from index candidates re-ranked exactly, with every constraint exact.

How a request is answered when a :class:`Retriever` is attached to the catalogue:

1. **Candidates.** The index returns the ``C`` tracks nearest each listener vector, with
   ``C = max(params.candidates, 4 k) + (played tracks)``: the played tracks are excluded later
   and are usually among the nearest, so they must not eat the list.
2. **Exact re-rank.** Each candidate is scored with the model's own float table
   (``hidden . e_track``), so the returned scores are the exhaustive path's scores, and the
   order among candidates is exact whatever the index's approximation. A model with a history
   prior adds its terms (:class:`segue.api.queries.Queries`): the tracks with a term join each
   row's candidates, and a row is complete only when its k-th score is at least the smallest
   dot product the index returned (no track outside the candidates scores more than that,
   because only candidates carry a term, and the terms are >= 0).
3. **Constraints on the final list.** Allow / block lists and played tracks are masks on the
   candidates; the per-artist cap keeps each artist's best ``max_per_artist`` in score order
   (:func:`segue.evaluation.ranking.within_cap`). Nothing outside the constraints can be
   returned, because only masked, capped candidates are.
4. **Widening.** A row left with fewer than ``k`` tracks is searched again with 4x the
   candidates and 4x the IVF lists / HNSW breadth; once that would cover more than
   ``1 / EXHAUSTIVE_FRACTION`` of the catalogue, the row is ranked exhaustively instead. So a
   list is short only when the constraints leave fewer than ``k`` eligible tracks in the whole
   catalogue, as on the exhaustive path.

Two cases skip the index: when the constraints leave at most ``ALLOW_EXACT_MAX`` eligible
tracks (a short allow list) they are scored directly (exact and cheaper than a search), and
cold-start rows (no history) are ranked by popularity on the exhaustive path. With an
exhaustive index ("flat", or ``nprobe == nlist``) every step is exact, so the result equals
:func:`segue.api.ranking.exhaustive_rank`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from segue.api.catalogue import Catalogue
from segue.api.constraints import NEG_INF, ResolvedConstraints
from segue.api.cpu_product import catalogue_product, gathered_product
from segue.api.queries import Queries, as_queries
from segue.api.ranking import exhaustive_rank
from segue.evaluation.ranking import Ranked, within_cap
from segue.retrieval.index import TrackIndex
from segue.retrieval.params import EXHAUSTIVE_BELOW

WIDEN_FACTOR = 4
"""Each retry fetches this many times more candidates and scans this many times more lists."""

EXHAUSTIVE_FRACTION = 8
"""A row that would need more than 1/8 of the catalogue as candidates is scored exhaustively:
past that, one GEMV over the table costs less than gathering and re-ranking the candidates."""

ALLOW_EXACT_MAX = 50_000
"""Allow lists up to this many tracks are scored directly instead of through the index."""


@dataclass(frozen=True)
class Retriever:
    """Approximate retrieval for a catalogue: an index and when to use it.

    Args:
        index: Index over the catalogue's embeddings (built or loaded for this table).
        exhaustive_below: Catalogues with fewer tracks are ranked exhaustively.
    """

    index: TrackIndex
    exhaustive_below: int = EXHAUSTIVE_BELOW

    def active(self, catalogue: Catalogue) -> bool:
        """Whether ``catalogue`` is large enough for the index to be faster than a GEMV."""
        return catalogue.size - 1 >= self.exhaustive_below

    def rank(
        self,
        catalogue: Catalogue,
        queries: Queries | torch.Tensor | None,
        cold: np.ndarray,
        excluded: Sequence[np.ndarray] | None,
        filters: ResolvedConstraints,
        k: int,
    ) -> Ranked:
        """:func:`segue.api.ranking.rank` through the index (same arguments, same result type).

        Returns:
            (B, k) indices and exact scores, best first; index 0 / -inf pad rows that have
            fewer than k eligible tracks.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        queries = as_queries(queries)
        if queries is None:  # every row cold: popularity, exhaustive
            return exhaustive_rank(catalogue, queries, cold, excluded, filters, k)
        k = min(k, catalogue.size - 1)  # as wide as the exhaustive path's lists
        out = Ranked(
            np.zeros((len(cold), k), dtype=np.int64), np.full((len(cold), k), NEG_INF, np.float32)
        )
        exhaustive = np.asarray(cold, dtype=bool).copy()  # (B,): rows left to the GEMV path
        pending = np.flatnonzero(~exhaustive)
        allowed = _small_allow_list(filters)
        played = max((len(e) for e in _rows(excluded, pending) or []), default=0)
        n_candidates = max(self.index.params.candidates, 4 * k) + played
        widen = 1
        while pending.size:
            if allowed is None and n_candidates * EXHAUSTIVE_FRACTION > catalogue.size:
                exhaustive[pending] = True
                break
            rows = queries.select(pending)
            floor = torch.full((pending.size,), NEG_INF)  # (p,): no track outside scores more
            if allowed is not None:  # the allowed tracks are the candidates of every row
                candidates = np.repeat(allowed[None], pending.size, axis=0)  # (p, n_allowed)
                vectors = catalogue.embeddings[torch.as_tensor(allowed, device=catalogue.device)]
                scores = catalogue_product(rows.hidden.to(vectors.dtype), vectors)  # (p, n)
                scores += rows.prior_at(torch.as_tensor(candidates, device=scores.device))
                complete = True
            else:
                found = self.index.search(rows.hidden.float().cpu().numpy(), n_candidates, widen)
                candidates, scores, floor = _scored_candidates(catalogue, rows, found)
                complete = n_candidates >= catalogue.size - 1
            _mask(scores, candidates, filters, _rows(excluded, pending))
            picked = _pick(scores, candidates, catalogue.artist_of_track, filters.max_per_artist, k)
            full = ((picked.indices > 0).sum(axis=1) >= k) & (
                picked.scores[:, -1] >= floor.float().cpu().numpy()
            )  # (p,)
            done = np.ones(pending.size, dtype=bool) if complete else full
            out.indices[pending[done]] = picked.indices[done]
            out.scores[pending[done]] = picked.scores[done]
            pending = pending[~done]
            n_candidates *= WIDEN_FACTOR
            widen *= WIDEN_FACTOR
        rest = np.flatnonzero(exhaustive)
        if rest.size:
            sub = exhaustive_rank(
                catalogue, queries.select(rest), cold[rest], _rows(excluded, rest), filters, k
            )
            out.indices[rest], out.scores[rest] = sub.indices, sub.scores
        return out


def _rows(excluded: Sequence[np.ndarray] | None, rows: np.ndarray) -> list[np.ndarray] | None:
    return None if excluded is None else [excluded[r] for r in rows.tolist()]


def _small_allow_list(filters: ResolvedConstraints) -> np.ndarray | None:
    """The tracks no rule bans when there are at most ``ALLOW_EXACT_MAX``, (n,) int64."""
    if filters.banned is None:
        return None
    allowed = torch.nonzero(~filters.banned[1:]).flatten() + 1  # padding is never allowed
    if allowed.numel() > ALLOW_EXACT_MAX:
        return None
    return allowed.cpu().numpy()


def _scored_candidates(
    catalogue: Catalogue, rows: Queries, found: np.ndarray
) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """The index's candidates with the rows' prior tracks added, their exact scores, and the
    smallest dot product among the index's own candidates (-inf when it returned fewer than
    asked, i.e. all it could reach).

    Returns:
        Candidates (p, C'), scores (p, C') with the prior's terms, floor (p,).
    """
    dots = _exact_scores(catalogue, rows.hidden, found)  # (p, C)
    floor = dots.min(dim=1).values if dots.shape[1] else torch.full((len(rows),), NEG_INF)
    if rows.prior is None:
        return found, dots, floor
    candidates = rows.with_prior_items(found)  # (p, C'): C' >= C, the index's columns first
    if candidates.shape[1] > found.shape[1]:
        extra = _exact_scores(catalogue, rows.hidden, candidates[:, found.shape[1] :])
        dots = torch.cat((dots, extra), dim=1)
    cand = torch.as_tensor(np.ascontiguousarray(candidates), device=dots.device)
    return candidates, dots + rows.prior_at(cand), floor


def _exact_scores(
    catalogue: Catalogue, queries: torch.Tensor, candidates: np.ndarray
) -> torch.Tensor:
    """The model's scores of each row's candidates, (p, C) float32; padding candidates -inf.

    Args:
        catalogue: The catalogue.
        queries: Listener vectors of the rows, (p, D).
        candidates: Track indices per row, (p, C); 0 where the index found fewer.
    """
    candidates = np.ascontiguousarray(candidates, dtype=np.int64)
    scores = gathered_product(queries, catalogue.embeddings, candidates)  # (p, C)
    return scores.masked_fill(torch.as_tensor(candidates == 0, device=scores.device), NEG_INF)


def _mask(
    scores: torch.Tensor,
    candidates: np.ndarray,
    filters: ResolvedConstraints,
    excluded: Sequence[np.ndarray] | None,
) -> None:
    """Set the scores of candidates that may not be recommended to -inf, in place, (p, C)."""
    cand = torch.as_tensor(np.ascontiguousarray(candidates), device=scores.device)
    if filters.banned is not None:
        scores.masked_fill_(filters.banned[cand], NEG_INF)
    if excluded is not None:
        for row, played in enumerate(excluded):
            if len(played):
                hit = np.isin(candidates[row], played)
                scores[row, torch.as_tensor(hit, device=scores.device)] = NEG_INF


def _pick(
    scores: torch.Tensor,
    candidates: np.ndarray,
    artist_of_track: np.ndarray,
    cap: int | None,
    k: int,
) -> Ranked:
    """The k best finite-scored candidates of each row under the per-artist cap, (p, k)."""
    values, order = torch.sort(scores, dim=1, descending=True)  # (p, C)
    vals = values.float().cpu().numpy()
    idx = np.take_along_axis(np.asarray(candidates), order.cpu().numpy(), axis=1)  # (p, C)
    keep = np.isfinite(vals)
    if cap is not None:
        keep &= within_cap(artist_of_track[idx], cap)
    taken = np.cumsum(keep, axis=1)  # (p, C)
    p = len(vals)
    out_idx = np.zeros((p, k), dtype=np.int64)
    out_val = np.full((p, k), NEG_INF, dtype=np.float32)
    r, c = np.nonzero(keep & (taken <= k))
    out_idx[r, taken[r, c] - 1] = idx[r, c]
    out_val[r, taken[r, c] - 1] = vals[r, c]
    return Ranked(out_idx, out_val)
