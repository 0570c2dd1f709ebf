"""Shape checks shared by the losses, raising errors that name the bad shape."""

from __future__ import annotations

import torch


def check_scoring_inputs(
    hidden: torch.Tensor, item_emb: torch.Tensor, targets: torch.Tensor
) -> None:
    """Raise ``ValueError`` unless hidden (N, D), item_emb (V, D), targets (N,) in 1..V-1."""
    if hidden.dim() != 2 or item_emb.dim() != 2 or hidden.shape[1] != item_emb.shape[1]:
        raise ValueError(
            f"hidden must be (N, D) and item_emb (V, D), got {tuple(hidden.shape)} and "
            f"{tuple(item_emb.shape)}"
        )
    if targets.shape != hidden.shape[:1]:
        raise ValueError(f"targets must be ({hidden.shape[0]},), got {tuple(targets.shape)}")
    if targets.numel() and (int(targets.min()) < 1 or int(targets.max()) >= item_emb.shape[0]):
        raise ValueError(
            f"targets must be track indices in 1..{item_emb.shape[0] - 1} (0 is padding)"
        )


def check_negatives(negatives: torch.Tensor, n_rows: int) -> None:
    """Raise ``ValueError`` unless negatives are shared (K,) or per row (N, K)."""
    if negatives.dim() == 1 or (negatives.dim() == 2 and negatives.shape[0] == n_rows):
        return
    raise ValueError(f"negatives must be (K,) or ({n_rows}, K), got {tuple(negatives.shape)}")


def negative_logits(
    hidden: torch.Tensor, item_emb: torch.Tensor, negatives: torch.Tensor
) -> torch.Tensor:
    """Scores of the negatives, (N, K), for shared (K,) or per-row (N, K) negatives."""
    if negatives.dim() == 1:
        return hidden @ item_emb[negatives].T  # (N, D) @ (D, K) -> (N, K)
    return torch.einsum("nd,nkd->nk", hidden, item_emb[negatives])  # (N, K)


def reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply "mean", "sum" or "none" to a per-row loss (N,)."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be mean, sum or none, got {reduction!r}")
