"""What every loss receives: the loss contract of the training loop."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from segue.data.batch import SequenceBatch
from segue.models.history_prior import PriorEntries


@dataclass
class LossInputs:
    """One batch's scoring inputs, at the N positions that have a target.

    Losses read what they need: most only ``hidden``, ``item_emb`` and ``targets``; the
    window-masked softmax reads the batch; a model with a history prior adds ``prior``.

    Args:
        hidden: Hidden states at the target positions, (N, D).
        item_emb: Track embeddings with the padding row 0, (V, D).
        targets: Track indices in 1..V-1, (N,).
        batch: The batch the positions come from, (B, T) tensors.
        queries: True at the target positions of ``batch``, (B, T); ``hidden`` follows its
            ``nonzero()`` order.
        prior: The history prior's logit terms, or None.
        generator: Random generator of the negative samplers (the loop's, for exact resume).
    """

    hidden: torch.Tensor
    item_emb: torch.Tensor
    targets: torch.Tensor
    batch: SequenceBatch | None = None
    queries: torch.Tensor | None = None
    prior: PriorEntries | None = None
    generator: torch.Generator | None = None

    @classmethod
    def plain(
        cls,
        hidden: torch.Tensor,
        item_emb: torch.Tensor,
        targets: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> LossInputs:
        """Inputs of a loss that needs only the scores' ingredients (tests, benchmarks)."""
        return cls(hidden, item_emb, targets, generator=generator)

    def batch_rows(self) -> torch.Tensor:
        """The batch row of each target position, (N,)."""
        if self.queries is None:
            raise ValueError("this loss needs the batch: build LossInputs with batch and queries")
        return self.queries.nonzero()[:, 0]
