"""Sampled softmax with the logQ correction (Bengio & Senecal 2008; Yi et al. 2019).

Scoring the target against K sampled negatives instead of the whole catalogue biases the model
towards whatever the sampler over-represents. Subtracting ``log q(item)`` from every logit, the
target's included, makes the sampled softmax an unbiased-in-the-limit estimate of the full one.
"""

from __future__ import annotations

import torch

from segue.training.losses._checks import (
    check_negatives,
    check_scoring_inputs,
    negative_logits,
    reduce,
)


def sampled_softmax(
    hidden: torch.Tensor,
    item_emb: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    log_q: torch.Tensor | None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Cross-entropy of the target against sampled negatives, logQ corrected.

    A negative equal to the row's target (an accidental hit) or to padding is masked out.

    Args:
        hidden: Hidden states at the positions that have a target, (N, D).
        item_emb: Track embeddings with the padding row 0, (V, D).
        targets: Track indices in 1..V-1, (N,).
        negatives: Sampled track indices, shared (K,) or per row (N, K).
        log_q: Log sampling probability of every track, (V,); None for no correction.
        reduction: "mean", "sum" or "none" over the N rows.

    Returns:
        The loss, a scalar (or (N,) for ``reduction="none"``).
    """
    check_scoring_inputs(hidden, item_emb, targets)
    check_negatives(negatives, hidden.shape[0])
    pos = (hidden * item_emb[targets]).sum(dim=1, keepdim=True)  # (N, 1)
    neg = negative_logits(hidden, item_emb, negatives)  # (N, K)
    if log_q is not None:
        pos = pos - log_q[targets][:, None]
        neg = neg - log_q[negatives]  # broadcasts (K,) over rows
    hits = (negatives == targets[:, None]) | (negatives == 0)  # (N, K)
    neg = neg.masked_fill(hits, float("-inf"))
    logits = torch.cat((pos, neg), dim=1)  # (N, 1 + K), the target in column 0
    return reduce(torch.logsumexp(logits, dim=1) - logits[:, 0], reduction)
