"""Negative samplers for the sampled losses, each returning items and their log-probabilities.

Every sampler returns a :class:`NegativeSample`: the sampled track indices and a (V,) table of
log sampling probabilities indexed by track, which :func:`sampled_softmax` uses for the logQ
correction of both the target and the negatives. Padding (index 0) is never sampled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class NegativeSample:
    """Sampled negatives and the distribution they came from.

    Args:
        items: Track indices, shared by all rows (K,) or one set per row (N, K).
        log_q: Log sampling probability of every track, (V,); -inf for padding and for tracks
            that cannot be drawn.
    """

    items: torch.Tensor
    log_q: torch.Tensor


def _shape(n_negatives: int, n_rows: int | None) -> tuple[int, ...]:
    return (n_negatives,) if n_rows is None else (n_rows, n_negatives)


def uniform_negatives(
    n_tracks: int,
    n_negatives: int,
    n_rows: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> NegativeSample:
    """Tracks drawn uniformly, with replacement, from 1..n_tracks.

    Args:
        n_tracks: Catalogue size.
        n_negatives: K, negatives per row.
        n_rows: None for one set shared by every row, (K,); else N for (N, K).
        generator: Random generator (on ``device``) for reproducibility.
        device: Where to put the samples.

    >>> s = uniform_negatives(4, 3, generator=torch.Generator().manual_seed(0))
    >>> s.items.shape, s.log_q.tolist()[:2]
    (torch.Size([3]), [-inf, -1.3862943649291992])
    """
    items = torch.randint(
        1, n_tracks + 1, _shape(n_negatives, n_rows), generator=generator, device=device
    )
    log_q = torch.full((n_tracks + 1,), -math.log(n_tracks), device=device)
    log_q[0] = float("-inf")
    return NegativeSample(items, log_q)


def popularity_negatives(
    counts: torch.Tensor,
    n_negatives: int,
    n_rows: int | None = None,
    alpha: float = 1.0,
    generator: torch.Generator | None = None,
) -> NegativeSample:
    """Tracks drawn with replacement with probability proportional to ``counts ** alpha``.

    Args:
        counts: Training-set play count of every track, (V,); ``counts[0]`` (padding) is ignored.
        n_negatives: K, negatives per row.
        n_rows: None for one set shared by every row, (K,); else N for (N, K).
        alpha: Smoothing exponent; 0 gives uniform over tracks with a non-zero count, 0.75 is
            word2vec's choice.
        generator: Random generator for reproducibility.

    >>> s = popularity_negatives(torch.tensor([5.0, 0.0, 1.0, 3.0]), 2)
    >>> s.log_q.exp().tolist()
    [0.0, 0.0, 0.25, 0.75]
    """
    weights = counts.double().clamp(min=0) ** alpha
    weights[counts <= 0] = 0.0  # 0 ** 0 would make unseen tracks drawable at alpha = 0
    weights[0] = 0.0
    if not weights.sum() > 0:
        raise ValueError("counts must have a positive entry besides padding")
    probs = weights / weights.sum()  # (V,)
    n_draws = n_negatives * (n_rows or 1)
    items = torch.multinomial(probs.float(), n_draws, replacement=True, generator=generator)
    return NegativeSample(items.view(_shape(n_negatives, n_rows)), probs.log().float())


def in_batch_negatives(targets: torch.Tensor, n_tracks: int) -> NegativeSample:
    """The batch's own targets as shared negatives, deduplicated.

    Targets are a sample of the training distribution, so the logQ correction uses each track's
    frequency in the batch; accidental hits (a row's own target) are masked by the loss.

    Args:
        targets: Track indices of the batch, (N,).
        n_tracks: Catalogue size.

    >>> s = in_batch_negatives(torch.tensor([2, 2, 3, 1]), 4)
    >>> s.items.tolist(), s.log_q.exp().tolist()
    ([1, 2, 3], [0.0, 0.25, 0.5, 0.25, 0.0])
    """
    counts = torch.bincount(targets, minlength=n_tracks + 1).float()  # (V,)
    counts[0] = 0.0
    return NegativeSample(torch.unique(targets), (counts / counts.sum()).log())
