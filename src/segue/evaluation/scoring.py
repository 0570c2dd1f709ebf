"""Scores of every track at each prediction point, for the transformer and baselines alike."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from segue.baselines.protocol import Recommender
from segue.data.sequences import PredictionSequences
from segue.evaluation.ranking import target_ranks
from segue.models.transformer import TrackTransformer
from segue.training.masking import append_mask_token

Scorer = TrackTransformer | Recommender


@torch.no_grad()
def score_points(scorer: Scorer, points: PredictionSequences, indices: np.ndarray) -> torch.Tensor:
    """Scores over the catalogue for the points at ``indices``, (B, n_tracks + 1).

    The transformer reads each point's last ``max_len`` events (with side inputs); baselines
    read the listener's whole history.
    """
    if isinstance(scorer, TrackTransformer):
        device = next(scorer.parameters()).device
        batch = points.batch(indices)
        if scorer.config.objective == "masked":
            batch = append_mask_token(batch, scorer.config.mask_token, scorer.config.max_len)
        return scorer.score(scorer.last_hidden(batch.to(device))).float().cpu()
    histories = [points.full_history(int(i)) for i in indices]
    return torch.from_numpy(np.asarray(scorer.score(histories), dtype=np.float32))


def rank_points(
    scorer: Scorer,
    points: PredictionSequences,
    *,
    exclude_seen: bool = False,
    batch_size: int = 256,
) -> np.ndarray:
    """Full-catalogue rank of every point's target (see :func:`target_ranks`), (N,)."""
    if isinstance(scorer, TrackTransformer):
        was_training = scorer.training
        scorer.eval()
    ranks = np.empty(len(points), dtype=np.int64)
    for start in range(0, len(points), batch_size):
        idx = np.arange(start, min(start + batch_size, len(points)))
        scores = score_points(scorer, points, idx)
        exclude: Sequence[np.ndarray] | None = (
            [points.full_history(int(i)) for i in idx] if exclude_seen else None
        )
        ranks[idx] = target_ranks(scores, points.targets[idx], exclude)
    if isinstance(scorer, TrackTransformer) and was_training:
        scorer.train()
    return ranks
