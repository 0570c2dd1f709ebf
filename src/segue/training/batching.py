"""The batches of one training epoch: a random order, grouped by window length.

Shared by the trainer and by the training-speed benchmark, which counts the FLOPs of the very
batches an epoch trains on (their shapes depend on this grouping).
"""

from __future__ import annotations

import torch

from segue.training.windows import TrainingWindows

POOL_BATCHES = 50
"""Batches per pool within which windows are sorted by length."""


def epoch_batches(
    data: TrainingWindows, batch_size: int, generator: torch.Generator, bucket_by_length: bool
) -> list[torch.Tensor]:
    """Window indices of each batch of one epoch, in training order.

    With ``bucket_by_length``, windows are sorted by length within random pools of 50 batches,
    so that a batch holds windows of similar length and is trimmed to little padding (2x fewer
    tokens on MovieLens, same examples per epoch); the batches are then shuffled.
    """
    order = torch.randperm(len(data), generator=generator)
    if not bucket_by_length:
        return list(order.split(batch_size))
    lengths = torch.from_numpy(data.lengths())
    pools = [
        p[torch.argsort(lengths[p], stable=True)] for p in order.split(batch_size * POOL_BATCHES)
    ]
    batches = list(torch.cat(pools).split(batch_size))
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffle]
