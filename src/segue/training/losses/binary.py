"""Binary cross-entropy losses of SASRec and gSASRec.

``bce_one_negative`` is the original SASRec objective (Kang & McAuley 2018): the target against
one random negative. ``gbce`` is gSASRec's generalised BCE (Petrov & Macdonald 2023), which
raises the target's probability to a power ``beta`` so that a model trained with few negatives
is not overconfident: ``-log(sigmoid(s+) ** beta) - sum_k log(1 - sigmoid(s-_k))``.

Departures from the gSASRec code: the positive term is computed as ``beta * softplus(-s+)``,
which is exact and stable in float32 (gSASRec turns it back into a logit in float64), and
accidental hits (a negative equal to the target) are dropped from the sum.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from segue.training.losses._checks import (
    check_negatives,
    check_scoring_inputs,
    negative_logits,
    reduce,
)


def gbce_beta(n_negatives: int, n_items: int, t: float) -> float:
    """Calibration exponent of gBCE: ``beta = alpha * (t * (1 - 1/alpha) + 1/alpha)``.

    ``alpha = n_negatives / (n_items - 1)`` is the negative sampling rate; t = 0 gives plain BCE
    (beta = 1) and t = 1 gives beta = alpha, the fully calibrated setting.

    >>> gbce_beta(1, 3, t=0.0), gbce_beta(1, 3, t=1.0), gbce_beta(256, 1001, t=0.75)
    (1.0, 0.5, 0.442)
    """
    if n_items < 2 or n_negatives < 1:
        raise ValueError(f"need n_items >= 2 and n_negatives >= 1, got {n_items}, {n_negatives}")
    alpha = n_negatives / (n_items - 1)
    return alpha * (t * (1.0 - 1.0 / alpha) + 1.0 / alpha)


def _binary(
    hidden: torch.Tensor,
    item_emb: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    check_scoring_inputs(hidden, item_emb, targets)
    check_negatives(negatives, hidden.shape[0])
    pos = (hidden * item_emb[targets]).sum(dim=1)  # (N,)
    neg = negative_logits(hidden, item_emb, negatives)  # (N, K)
    keep = (negatives != targets[:, None]) & (negatives != 0)  # (N, K)
    # -log sigmoid(x) = softplus(-x); -log(1 - sigmoid(x)) = softplus(x).
    return beta * F.softplus(-pos) + (F.softplus(neg) * keep).sum(dim=1)  # (N,)


def gbce(
    hidden: torch.Tensor,
    item_emb: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    n_items: int,
    t: float = 0.75,
    reduction: str = "mean",
) -> torch.Tensor:
    """Generalised binary cross-entropy of gSASRec, summed over the target and its negatives.

    Args:
        hidden: Hidden states at the positions that have a target, (N, D).
        item_emb: Track embeddings with the padding row 0, (V, D).
        targets: Track indices in 1..V-1, (N,).
        negatives: Uniformly sampled track indices, shared (K,) or per row (N, K).
        n_items: Catalogue size the negatives were drawn from (n_tracks).
        t: Calibration strength in [0, 1]; gSASRec's recommended 0.75 by default.
        reduction: "mean", "sum" or "none" over the N rows.

    Returns:
        The loss, a scalar (or (N,) for ``reduction="none"``).
    """
    beta = gbce_beta(negatives.shape[-1], n_items, t)
    return reduce(_binary(hidden, item_emb, targets, negatives, beta), reduction)


def bce_one_negative(
    hidden: torch.Tensor,
    item_emb: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    reduction: str = "mean",
) -> torch.Tensor:
    """SASRec's loss: ``-log sigmoid(s+) - log(1 - sigmoid(s-))`` with one negative per row.

    Args:
        hidden: Hidden states at the positions that have a target, (N, D).
        item_emb: Track embeddings with the padding row 0, (V, D).
        targets: Track indices in 1..V-1, (N,).
        negatives: One sampled track per row, (N,) or (N, 1).
        reduction: "mean", "sum" or "none" over the N rows.

    Returns:
        The loss, a scalar (or (N,) for ``reduction="none"``).
    """
    negatives = negatives.reshape(-1, 1)  # (N, 1)
    if negatives.shape[0] != hidden.shape[0]:
        raise ValueError(f"need one negative per row, got {negatives.shape[0]} for {len(hidden)}")
    return reduce(_binary(hidden, item_emb, targets, negatives, beta=1.0), reduction)
