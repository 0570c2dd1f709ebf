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

from segue.models.history_prior import PriorEntries, fill_transition_table


def blend_entries(
    scores: torch.Tensor,
    last: torch.Tensor,
    successors: torch.Tensor,
    counts: torch.Tensor,
    weight: float,
) -> PriorEntries:
    """The blend's terms for dense scores, as entries to add to them (coalesced).

    Args:
        scores: Dense scores after each history, (B, V); column 0 (padding) may be -inf.
        last: The last track of each history, (B,); 0 for an empty history (no terms).
        successors: The transition table's successors, (V, S); 0 = none.
        counts: Their counts, (V, S), >= 0.
        weight: The table's share ``w`` of the mixture, in [0, 1); 0 gives no terms.

    >>> s = torch.tensor([[float("-inf"), 0.0, 0.0]])
    >>> e = blend_entries(s, torch.tensor([1]), torch.tensor([[0], [2], [0]]),
    ...                   torch.tensor([[0.0], [3.0], [0.0]]), weight=0.5)
    >>> e.items.tolist(), [round(v, 4) for v in e.values.tolist()]  # log 3 = log(1/2 + 1) - log 1/2
    ([2], [1.0986])
    """
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


class TransitionBlend(nn.Module):
    """The blend's transition table (buffers) and weight; see the module docstring.

    Args:
        n_tracks: Catalogue size.
        n_successors: Successors kept per track.
        weight: The table's share of the mixture, in (0, 1).
    """

    successors: torch.Tensor  # (n_tracks + 1, n_successors), 0 = none
    successor_counts: torch.Tensor  # (n_tracks + 1, n_successors), float

    def __init__(self, n_tracks: int, n_successors: int, weight: float) -> None:
        super().__init__()
        if not 0.0 < weight < 1.0:
            raise ValueError(f"the blend's weight must be in (0, 1), got {weight}")
        self.weight = weight
        self.register_buffer(
            "successors", torch.zeros(n_tracks + 1, n_successors, dtype=torch.long)
        )
        self.register_buffer("successor_counts", torch.zeros(n_tracks + 1, n_successors))

    def fit_table(
        self, tracks: np.ndarray, group_start: np.ndarray, is_skip: np.ndarray | None = None
    ) -> None:
        """Count the table from training rows, grouped and in time order
        (:func:`segue.models.history_prior.fit_transition_table`)."""
        fill_transition_table(self.successors, self.successor_counts, tracks, group_start, is_skip)

    def entries(self, scores: torch.Tensor, history: torch.Tensor) -> PriorEntries:
        """The blend's terms for dense scores (B, V) after left-padded histories (B, T)."""
        successors = self.successors.to(torch.long)  # an int8 copy stores int32
        return blend_entries(scores, history[:, -1], successors, self.successor_counts, self.weight)
