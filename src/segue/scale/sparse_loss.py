"""Sampled softmax that reads only the table rows a batch needs, for a sparse gradient.

:func:`segue.training.losses.sampled_softmax` takes the whole table and indexes it, so autograd
gives the table a dense gradient: at 10M tracks x 64 dims that is a 2.6 GB tensor written on
every step (and read by the optimizer), for a batch that touches a few thousand rows. Here the
rows of the targets and negatives are gathered first with a sparse lookup
(``F.embedding(..., sparse=True)``), the loss runs on that compact table with remapped indices,
and the table's gradient is a sparse tensor of those rows only. Value and gradient equal the
dense form (tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from segue.training.losses.sampled_softmax import sampled_softmax


def sampled_softmax_rows(
    hidden: torch.Tensor,
    table: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    log_q: torch.Tensor | None,
) -> torch.Tensor:
    """Mean sampled-softmax cross-entropy, logQ corrected, with a sparse table gradient.

    Args:
        hidden: Hidden states at positions with a target, (N, D).
        table: The whole track-embedding table with the padding row 0, (V, D).
        targets: Track indices in 1..V-1, (N,).
        negatives: Sampled track indices, shared (K,) or per row (N, K).
        log_q: Log sampling probability of every track, (V,); None for no correction.

    Returns:
        The loss, a scalar.
    """
    n = len(targets)
    pad = torch.zeros(1, dtype=targets.dtype, device=targets.device)
    # Row 0 first: unique() sorts, so local index 0 stays the padding row, which
    # sampled_softmax masks out of the negatives.
    rows, local = torch.unique(
        torch.cat((pad, targets, negatives.reshape(-1))), return_inverse=True
    )
    compact = F.embedding(rows, table, sparse=True)  # (R, D)
    local_targets = local[1 : 1 + n]  # (N,)
    local_negatives = local[1 + n :].reshape(negatives.shape)  # (K,) or (N, K)
    compact_log_q = log_q[rows] if log_q is not None else None  # (R,)
    return sampled_softmax(hidden, compact, local_targets, local_negatives, compact_log_q)
