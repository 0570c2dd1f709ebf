"""Full softmax that does not count the listener's other items in the window as negatives.

In logs without repeats (MovieLens: a movie is rated once) an item of the same history can never
be the answer at inference, where already-seen items are excluded from the ranking; and an item
the listener rates *later* is a positive in disguise, especially when a whole sitting shares one
timestamp and its order is arbitrary. Treating those items as negatives trains the model against
the evaluation. This loss masks them out of each row's softmax. It builds the (N, V) logits, so
it is meant for catalogues of up to a few hundred thousand tracks; for music with repeats, keep
the plain full softmax.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from segue.models.history_prior import PriorEntries, add_to_scores


def window_items_mask(window_tracks: torch.Tensor, n_items: int) -> torch.Tensor:
    """Which items occur in each row's window, (B, V); column 0 (padding) is always True.

    Indices >= ``n_items`` are ignored: the [MASK] token of a BERT4Rec batch is not an item.

    >>> window_items_mask(torch.tensor([[0, 2, 3, 6]]), 5).int().tolist()
    [[1, 0, 1, 1, 0]]
    """
    window_tracks = window_tracks.masked_fill(window_tracks >= n_items, 0)  # (B, T')
    seen = torch.zeros(
        window_tracks.shape[0], n_items, dtype=torch.bool, device=window_tracks.device
    )
    seen.scatter_(1, window_tracks, True)
    seen[:, 0] = True
    return seen


def window_masked_softmax_ce(
    hidden: torch.Tensor,
    item_emb: torch.Tensor,
    targets: torch.Tensor,
    window_tracks: torch.Tensor,
    rows: torch.Tensor,
    prior: PriorEntries | None = None,
) -> torch.Tensor:
    """Mean cross-entropy where each row's other window items are not negatives.

    Args:
        hidden: Hidden states at target positions, (N, D).
        item_emb: Item embeddings incl. padding row 0, (V, D).
        targets: Target indices in 1..V-1, (N,).
        window_tracks: Every track of each batch row's window (inputs and targets), (B, T').
        rows: Batch row of each target, (N,).
        prior: A history prior's terms added to the logits, or None.
    """
    logits = hidden @ item_emb.T  # (N, V)
    if prior is not None:
        logits = add_to_scores(logits, prior)  # in place on a fresh tensor
    excluded = window_items_mask(window_tracks, item_emb.shape[0])[rows]  # (N, V)
    excluded[torch.arange(len(targets), device=targets.device), targets] = False
    return F.cross_entropy(logits.masked_fill(excluded, float("-inf")), targets)
