"""Scores of every track at each prediction point, for the transformer and baselines alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from segue.baselines.protocol import Baseline
from segue.data.sequences import PredictionSequences
from segue.evaluation.ranking import target_ranks, top_k
from segue.models.transformer import TrackTransformer

Scorer = TrackTransformer | Baseline


@torch.no_grad()
def score_points(scorer: Scorer, points: PredictionSequences, indices: np.ndarray) -> torch.Tensor:
    """Scores over the catalogue for the points at ``indices``, (B, n_tracks + 1).

    The transformer reads each point's last ``max_len`` events (with side inputs); baselines
    read the listener's whole history.
    """
    if isinstance(scorer, TrackTransformer):
        device = next(scorer.parameters()).device
        batch = points.batch(indices).to(device)  # the tracks feed a history prior, if any
        return scorer.score(scorer.next_hidden(batch), batch.tracks).float().cpu()
    histories = [points.full_history(int(i)) for i in indices]
    return torch.from_numpy(np.asarray(scorer.score(histories), dtype=np.float32))


@dataclass
class RankedPoints:
    """Ranks of the targets, (N,), and the top-k list at each point, (N, k) (k may be 0)."""

    ranks: np.ndarray
    top_k: np.ndarray


def rank_points(
    scorer: Scorer,
    points: PredictionSequences,
    *,
    exclude_seen: bool = False,
    batch_size: int = 256,
) -> np.ndarray:
    """Full-catalogue rank of every point's target (see :func:`target_ranks`), (N,)."""
    return rank_and_list(scorer, points, exclude_seen=exclude_seen, batch_size=batch_size).ranks


def rank_and_list(
    scorer: Scorer,
    points: PredictionSequences,
    *,
    k: int = 0,
    exclude_seen: bool = False,
    batch_size: int = 256,
) -> RankedPoints:
    """Ranks of the targets and, when ``k`` > 0, the top-k recommended at every point.

    Lists are always (N, k): past the catalogue's ``n_tracks`` items they trail with 0, the
    empty slot every beyond-accuracy metric ignores, so a cut-off larger than a small
    catalogue is a valid request, not a crash.
    """
    was_training = isinstance(scorer, TrackTransformer) and scorer.training
    if isinstance(scorer, TrackTransformer):
        scorer.eval()
    ranks = np.empty(len(points), dtype=np.int64)
    lists = np.zeros((len(points), k), dtype=np.int64)
    for start in range(0, len(points), batch_size):
        idx = np.arange(start, min(start + batch_size, len(points)))
        scores = score_points(scorer, points, idx)
        exclude: Sequence[np.ndarray] | None = (
            [points.full_history(int(i)) for i in idx] if exclude_seen else None
        )
        ranks[idx] = target_ranks(scores, points.targets[idx], exclude)
        if k:
            found = top_k(scores, k, exclude).indices  # (b, min(k, n_tracks))
            lists[idx, : found.shape[1]] = found
    if was_training and isinstance(scorer, TrackTransformer):
        scorer.train()
    return RankedPoints(ranks, lists)
