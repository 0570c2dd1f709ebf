"""What a batch of requests is scored with: last hidden states and the history prior's terms.

A model with a history prior (:mod:`segue.models.history_prior`) or a transition blend
(:mod:`segue.models.transition_blend`) scores ``h . e_j`` plus sparse terms computed from the
same left-padded tracks that gave ``h`` (``TrackTransformer.score_terms``; "the prior" below
means both). Every serving path (exhaustive
ranking, the retrieval index's exact re-rank, live sessions, playlists) takes one
:class:`Queries`, so none can drop the prior, and the served scores are the evaluated ones
(:func:`segue.evaluation.scoring.score_points`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from segue.data.batch import SequenceBatch
from segue.models.history_prior import PriorEntries, add_to_scores, values_at
from segue.models.transformer import TrackTransformer


@dataclass(frozen=True)
class Queries:
    """Listener vectors and, for a model with a history prior, its terms for each row.

    Args:
        hidden: Last hidden states, (B, D).
        prior: The prior's entries (rows in 0..B-1, coalesced), or None for a model without
            one. Rows without history have no entry.
    """

    hidden: torch.Tensor
    prior: PriorEntries | None = None

    @classmethod
    def encode(cls, model: TrackTransformer, batch: SequenceBatch) -> Queries:
        """Run ``model`` on a left-padded batch (on the model's device): its next-track states
        (B, D) and the prior's terms from the same tracks. Call under inference mode."""
        return cls.after(model, model.next_hidden(batch), batch.tracks)

    @classmethod
    def after(cls, model: TrackTransformer, hidden: torch.Tensor, tracks: torch.Tensor) -> Queries:
        """The queries of states ``hidden`` (B, D) computed from the left-padded ``tracks``
        (B, T), e.g. by an incremental step whose cache holds the earlier events."""
        return cls(hidden, model.score_terms(hidden, tracks))

    def __len__(self) -> int:
        return int(self.hidden.shape[0])

    def select(self, rows: torch.Tensor | np.ndarray | slice) -> Queries:
        """The queries of ``rows`` (distinct indices, or a slice), renumbered 0..len(rows)-1."""
        if isinstance(rows, slice):
            rows = torch.arange(len(self), device=self.hidden.device)[rows]
        rows = torch.as_tensor(rows, dtype=torch.long, device=self.hidden.device)
        if self.prior is None:
            return Queries(self.hidden[rows])
        new_row = torch.full((len(self),), -1, dtype=torch.long, device=rows.device)
        new_row[rows] = torch.arange(len(rows), device=rows.device)
        renumbered = new_row[self.prior.rows]  # (E,): -1 for rows left out
        keep = renumbered >= 0
        entries = PriorEntries(renumbered[keep], self.prior.items[keep], self.prior.values[keep])
        return Queries(self.hidden[rows], entries)

    def add_prior(self, scores: torch.Tensor) -> torch.Tensor:
        """Add the prior's terms to dense scores (B, V) in place; return them."""
        return scores if self.prior is None else add_to_scores(scores, self.prior)

    def prior_at(self, candidates: torch.Tensor) -> torch.Tensor:
        """The prior's term of each row's candidates, (B, C) float32; 0 where there is none.

        Args:
            candidates: Track indices per row, (B, C) int64 (0 = no candidate).
        """
        if self.prior is None:
            return torch.zeros(candidates.shape, dtype=torch.float32, device=candidates.device)
        rows = torch.arange(len(candidates), device=candidates.device)[:, None]  # (B, 1)
        return values_at(self.prior, rows, candidates).float()

    def with_prior_items(self, candidates: np.ndarray) -> np.ndarray:
        """Each row's candidates and its prior's tracks that are not among them, (B, C + P).

        Only a track with a prior entry can score above its dot product (the terms are >= 0),
        so the union holds every track that can enter a row's list ahead of the candidates'
        dot products. New columns are padded with 0 (no candidate).

        Args:
            candidates: Track indices per row, (B, C) int64 (0 = no candidate).
        """
        if self.prior is None or len(self.prior) == 0:
            return candidates
        rows = self.prior.rows.cpu().numpy()
        items = self.prior.items.cpu().numpy()
        stride = max(int(candidates.max(initial=0)), int(items.max())) + 1
        present = (np.arange(len(candidates))[:, None] * stride + candidates).ravel()
        new = ~np.isin(rows * stride + items, present)
        rows, items = rows[new], items[new]
        order = np.argsort(rows, kind="stable")
        rows, items = rows[order], items[order]
        per_row = np.bincount(rows, minlength=len(candidates))  # (B,)
        column = np.arange(len(rows)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
        extra = np.zeros((len(candidates), int(per_row.max(initial=0))), dtype=np.int64)
        extra[rows, column] = items
        return np.concatenate([candidates, extra], axis=1)


def as_queries(hidden: Queries | torch.Tensor | None) -> Queries | None:
    """``hidden`` as :class:`Queries`: bare states (B, D) are queries without prior terms."""
    if hidden is None or isinstance(hidden, Queries):
        return hidden
    return Queries(hidden)
