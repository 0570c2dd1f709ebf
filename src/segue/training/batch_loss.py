"""One training batch, from windows to loss: the definitions the loop and the FLOP counter share.

:func:`training_batch` applies the model's objective to a batch of windows (BERT4Rec masking for
the masked objective); :func:`batch_loss` turns the model's hidden states into the loss.
"""

from __future__ import annotations

import torch

from segue.data.batch import SequenceBatch
from segue.models.transformer import TrackTransformer
from segue.training.losses import LossInputs, TrackLoss
from segue.training.masking import mask_for_bert4rec


def training_batch(
    model: TrackTransformer,
    batch: SequenceBatch,
    mask_prob: float,
    generator: torch.Generator | None = None,
) -> SequenceBatch:
    """The batch ``model`` trains on: a masked model's windows get BERT4Rec's [MASK]s and
    targets (:func:`segue.training.masking.mask_for_bert4rec`); a causal model's are unchanged
    (their targets are the next tracks already).

    Args:
        model: The model being trained.
        batch: Windows with next-track targets (causal) or without (masked), (B, T).
        mask_prob: Masking probability of the masked objective.
        generator: Random generator of the masking.
    """
    if model.config.objective == "masked":
        return mask_for_bert4rec(batch, mask_prob, model.config.mask_token, generator)
    return batch


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
    item_emb = model.catalogue_embeddings().float()  # (V, D)
    prior = None
    if model.prior is not None:  # the training transition is left out of its own count
        rows_of = item_emb.__getitem__  # a mixture prior reads the loss's own scores
        prior = model.prior.entries(batch.tracks, queries, at_targets, targets, rows_of)
    inputs = LossInputs(
        at_targets,
        item_emb,
        targets,
        batch=batch,
        queries=queries,
        prior=prior,
        generator=generator,
    )
    return loss(inputs)
