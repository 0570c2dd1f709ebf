"""The transition blend: the model's next-track distribution mixed with a transition table's.

A first-order transition table and a transformer err in different places: the table knows
exactly which item followed which in the training log, rare items included; the transformer
generalises but blurs rare items into their neighbours. A fixed mixture of the two
distributions,

    p(j) = (1 - w) softmax(s)_j + w P(j | x_t),      P(j | x_t) = count(x_t -> j) / count(x_t -> .)

with ``x_t`` the history's last item and ``w`` chosen on validation, often beats both. Unlike
the history prior (:mod:`segue.models.history_prior`), whose weights are learned jointly with
the transformer, the blend is set after training: on Amazon Beauty the jointly learned prior
lowered validation NDCG@10 (0.0672 -> 0.0616), while this blend of the same checkpoint's
softmax with the table raised it (README, "Amazon Beauty"). Learned jointly, the memory is
judged against the transformer's fit to its own training rows, which is far more confident
than on unseen histories; chosen on validation, ``w`` weighs the two as they do on unseen ones.

The mixture needs the softmax's normaliser ``L = logsumexp(s)`` at each query, so the blend
reads the dense scores. It is written as sparse terms added to them (at the table's successors
only), ranking exactly as ``log p``::

    s_j + softplus(log(w / (1 - w)) + log P(j | x_t) + L - s_j)  =  log p(j) + L - log(1 - w)

and every other track keeps ``s_j`` (``= log((1 - w) softmax(s)_j) + L - log(1 - w)``): one
constant per query apart, the scores are ``log p``. ``s`` already holds the history prior's
terms when the model has one.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from segue.models.cooccurrence_memory import CooccurrenceMemory, fit_neighbour_table
from segue.models.history_prior import PriorEntries, fill_transition_table, merge_entries


def blend_entries(
    scores: torch.Tensor,
    last: torch.Tensor,
    successors: torch.Tensor,
    counts: torch.Tensor,
    weight: float,
    memory: CooccurrenceMemory | None = None,
    history: torch.Tensor | None = None,
) -> PriorEntries:
    """The blend's terms for dense scores, as entries to add to them (coalesced).

    Args:
        scores: Dense scores after each history, (B, V); column 0 (padding) may be -inf.
        last: The last track of each history, (B,); 0 for an empty history (no terms).
        successors: The transition table's successors, (V, S); 0 = none.
        counts: Their counts, (V, S), >= 0.
        weight: The table's share ``w`` of the mixture, in [0, 1); 0 gives no terms.
        memory: The co-occurrence memory, when the blend has one (its share ``c`` > 0).
        history: The left-padded histories (B, T) the memory reads; needed with ``memory``.

    >>> s = torch.tensor([[float("-inf"), 0.0, 0.0]])
    >>> e = blend_entries(s, torch.tensor([1]), torch.tensor([[0], [2], [0]]),
    ...                   torch.tensor([[0.0], [3.0], [0.0]]), weight=0.5)
    >>> e.items.tolist(), [round(v, 4) for v in e.values.tolist()]  # log 3 = log(1/2 + 1) - log 1/2
    ([2], [1.0986])
    """
    if memory is not None:
        if history is None:
            raise ValueError("a blend with a co-occurrence memory reads the whole history")
        return _mixture_entries(scores, last, successors, counts, weight, memory, history)
    succ, count = successors[last], counts[last].to(scores.dtype)  # (B, S) each
    keep = (succ > 0) & (count > 0) & (last > 0)[:, None]
    if weight <= 0.0 or not bool(keep.any()):
        empty = torch.zeros(0, dtype=torch.long, device=scores.device)
        return PriorEntries(empty, empty, scores.new_zeros(0))
    normaliser = torch.logsumexp(scores, dim=1)  # (B,): -inf at column 0 adds nothing
    share = count / count.sum(dim=1, keepdim=True).clamp(min=1e-30)  # (B, S): P(j | x_t)
    own = scores.gather(1, succ)  # (B, S)
    log_mass = math.log(weight / (1.0 - weight)) + share.clamp(min=1e-30).log()
    values = F.softplus(log_mass + normaliser[:, None] - own)  # (B, S)
    rows = torch.arange(len(succ), device=scores.device)[:, None].expand_as(succ)
    return PriorEntries(rows[keep], succ[keep], values[keep])


def _mixture_entries(
    scores: torch.Tensor,
    last: torch.Tensor,
    successors: torch.Tensor,
    counts: torch.Tensor,
    weight: float,
    memory: CooccurrenceMemory,
    history: torch.Tensor,
) -> PriorEntries:
    """The terms of a blend with both memories: each entry's mass ``w P + c P_c`` summed
    where the two meet, then ``softplus(log(mass / (1 - w - c)) + L - s_j)``."""
    transitions = PriorEntries(*_transition_mass(last, successors, counts, weight))
    masses = merge_entries(transitions, PriorEntries(*memory.mass(history)))
    if len(masses) == 0:
        return masses
    rows, items = masses.rows, masses.items
    normaliser = torch.logsumexp(scores, dim=1)  # (B,)
    keep_share = 1.0 - weight - memory.share
    log_mass = masses.values.to(scores.dtype).clamp(min=1e-30).log() - math.log(keep_share)
    values = F.softplus(log_mass + normaliser[rows] - scores[rows, items])
    return PriorEntries(rows, items, values)


def _transition_mass(
    last: torch.Tensor, successors: torch.Tensor, counts: torch.Tensor, weight: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``w P(j | x_t)`` as (rows, items, mass); none for ``w = 0`` or an empty history."""
    succ, count = successors[last], counts[last].float()  # (B, S)
    keep = (succ > 0) & (count > 0) & (last > 0)[:, None] & (weight > 0)
    share = count / count.sum(dim=1, keepdim=True).clamp(min=1e-30)
    rows = torch.arange(len(succ), device=succ.device)[:, None].expand_as(succ)
    return rows[keep], succ[keep], weight * share[keep]


class TransitionBlend(nn.Module):
    """The blend's tables (buffers) and weights; see the module docstring.

    Args:
        n_tracks: Catalogue size.
        n_successors: Successors kept per track.
        weight: The transition table's share of the mixture, in [0, 1).
        cooccurrence: The co-occurrence memory's share, in [0, 1); 0: no such memory (and no
            neighbour buffers, so a blend without one loads as before it existed).
        n_neighbours: Neighbours kept per track in that memory.
        history: Last history tracks the memory reads.
        decay: Weight ``decay ** age`` of a history track.
    """

    successors: torch.Tensor  # (n_tracks + 1, n_successors), 0 = none
    successor_counts: torch.Tensor  # (n_tracks + 1, n_successors), float
    neighbours: torch.Tensor  # (n_tracks + 1, n_neighbours), 0 = none; with a memory only
    neighbour_weights: torch.Tensor  # (n_tracks + 1, n_neighbours), float

    def __init__(
        self,
        n_tracks: int,
        n_successors: int,
        weight: float,
        cooccurrence: float = 0.0,
        n_neighbours: int = 64,
        history: int = 20,
        decay: float = 0.8,
    ) -> None:
        super().__init__()
        if not (0.0 <= weight < 1.0 and 0.0 <= cooccurrence < 1.0):
            raise ValueError(f"the blend's weights must be in [0, 1), got {weight}, {cooccurrence}")
        if not 0.0 < weight + cooccurrence < 1.0:
            raise ValueError(
                f"the blend's weights must sum to a number in (0, 1), got {weight} + {cooccurrence}"
            )
        self.weight, self.cooccurrence = weight, cooccurrence
        self.history, self.decay = history, decay
        self.register_buffer(
            "successors", torch.zeros(n_tracks + 1, n_successors, dtype=torch.long)
        )
        self.register_buffer("successor_counts", torch.zeros(n_tracks + 1, n_successors))
        if cooccurrence > 0:
            self.register_buffer(
                "neighbours", torch.zeros(n_tracks + 1, n_neighbours, dtype=torch.long)
            )
            self.register_buffer("neighbour_weights", torch.zeros(n_tracks + 1, n_neighbours))

    def fit_table(
        self, tracks: np.ndarray, group_start: np.ndarray, is_skip: np.ndarray | None = None
    ) -> None:
        """Count the tables from training rows, grouped and in time order
        (:func:`segue.models.history_prior.fit_transition_table`,
        :func:`segue.models.cooccurrence_memory.fit_neighbour_table`)."""
        fill_transition_table(self.successors, self.successor_counts, tracks, group_start, is_skip)
        if self.cooccurrence > 0:
            n_tracks, width = self.neighbours.shape[0] - 1, self.neighbours.shape[1]
            found = fit_neighbour_table(tracks, group_start, n_tracks, width, is_skip)
            with torch.no_grad():
                self.neighbours.copy_(torch.from_numpy(found[0]))
                self.neighbour_weights.copy_(torch.from_numpy(found[1]))

    def memory(self) -> CooccurrenceMemory | None:
        """The co-occurrence memory, None for a blend without one."""
        if self.cooccurrence <= 0:
            return None
        return CooccurrenceMemory(
            self.neighbours.to(torch.long),  # an int8 copy stores int32
            self.neighbour_weights,
            self.cooccurrence,
            self.history,
            self.decay,
        )

    def entries(self, scores: torch.Tensor, history: torch.Tensor) -> PriorEntries:
        """The blend's terms for dense scores (B, V) after left-padded histories (B, T)."""
        successors = self.successors.to(torch.long)  # an int8 copy stores int32
        return blend_entries(
            scores,
            history[:, -1],
            successors,
            self.successor_counts,
            self.weight,
            self.memory(),
            history,
        )
