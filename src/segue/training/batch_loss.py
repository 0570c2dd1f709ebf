"""The training loss of one batch: the one definition the loop and the FLOP counter share."""

from __future__ import annotations

import torch

from segue.data.batch import SequenceBatch
from segue.models.transformer import TrackTransformer
from segue.training.losses import LossInputs, TrackLoss


def batch_loss(
    model: TrackTransformer,
    hidden: torch.Tensor,
    batch: SequenceBatch,
    loss: TrackLoss,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The loss of ``batch`` from the model's hidden states at every position.

    Args:
        model: The model; its track table is the output layer, and its history prior (if any)
            adds its terms to the logits.
        hidden: The model's output on ``batch``, (B, T, D).
        batch: The batch, with targets, (B, T).
        loss: A configured loss.
        generator: Random generator of the negative samplers.
    """
    if batch.targets is None:
        raise ValueError("a training batch needs targets")
    queries = batch.targets > 0  # (B, T)
    at_targets = hidden[queries].float()  # (N, D)
    targets = batch.targets[queries]  # (N,)
    prior = None
    if model.prior is not None:  # the training transition is left out of its own count
        prior = model.prior.entries(batch.tracks, queries, at_targets, targets)
    inputs = LossInputs(
        at_targets,
        model.catalogue_embeddings().float(),
        targets,
        batch=batch,
        queries=queries,
        prior=prior,
        generator=generator,
    )
    return loss(inputs)
