"""Choose the transition blend's weight on validation and give a trained model its blend.

The blend (:mod:`segue.models.transition_blend`) is set after training: its table is counted
from the training rows, its weight ``w`` is the one of a grid with the best validation NDCG@10
(``w = 0``, no blend, always competes). Each point's dense scores are computed once and every
weight is ranked from them, so a grid costs one scoring pass plus a ranking per weight.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from segue.data.encoding import EncodedEvents
from segue.data.pipeline import PreparedData
from segue.evaluation.ranking import target_ranks
from segue.evaluation.scoring import score_points
from segue.evaluation.summary import metric_summary
from segue.models.history_prior import add_to_scores, fit_transition_table
from segue.models.transformer import TrackTransformer
from segue.models.transition_blend import blend_entries

VALIDATION = "validation"


@dataclass(frozen=True)
class BlendChoice:
    """The chosen weight and the validation NDCG@10 of every weight tried (0 included)."""

    weight: float
    validation_ndcg: dict[float, float]


def with_blend(model: TrackTransformer, weight: float, events: EncodedEvents) -> TrackTransformer:
    """A copy of ``model`` with a transition blend of ``weight`` (0: none), its table counted
    from the training rows ``events`` (grouped and in time order, as the prior's table is).

    The copy shares nothing with ``model``; an existing blend is replaced.
    """
    config = dataclasses.replace(model.config, blend_weight=float(weight))
    blended = TrackTransformer(config)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("blend.")}
    blended.load_state_dict(state, strict=config.blend_weight == 0)
    if blended.blend is not None:
        blended.blend.fit_table(events.tracks, events.group_start, events.is_skip)
    return blended.to(next(model.parameters()).device).eval()


def choose_blend_weight(
    model: TrackTransformer,
    data: PreparedData,
    weights: Sequence[float],
    *,
    exclude_seen: bool = False,
    batch_size: int = 256,
) -> BlendChoice:
    """The weight of ``weights`` (and 0) with the best validation NDCG@10 (ties: the smaller).

    Args:
        model: A trained model without a blend (its scores are what the blend mixes).
        data: The data it was trained on; its training rows give the table, its validation
            points the choice.
        weights: Weights to try, each in [0, 1); 0 (no blend) is tried whether listed or not.
        exclude_seen: Rank as the evaluation does (seen tracks removed).
        batch_size: Points scored at once.

    Raises:
        ValueError: On a weight outside (0, 1), a model that already has a blend, or data
            without validation points, before any scoring.
    """
    grid = sorted({0.0, *(float(w) for w in weights)})
    if any(not 0.0 <= w < 1.0 for w in grid):
        raise ValueError(f"blend weights must be in [0, 1) (0 is always tried): {list(weights)}")
    if model.blend is not None:
        raise ValueError("the model already has a transition blend: choose from one without")
    points = data.points(VALIDATION)
    if len(points) == 0:
        raise ValueError("choosing the blend's weight needs validation points; the data has none")
    events, width = data.train.events, model.config.blend_successors
    table = fit_transition_table(
        events.tracks, events.group_start, data.vocab.n_tracks, width, events.is_skip
    )
    successors, counts = torch.from_numpy(table[0]), torch.from_numpy(table[1])
    ranks: dict[float, list[np.ndarray]] = {w: [] for w in grid}
    for start in range(0, len(points), batch_size):
        idx = np.arange(start, min(start + batch_size, len(points)))
        scores = score_points(model, points, idx)  # (B, V), the prior's terms included
        last = points.batch(idx).tracks[:, -1]
        exclude = [points.full_history(int(i)) for i in idx] if exclude_seen else None
        for w in grid:
            blended = scores.clone()
            add_to_scores(blended, blend_entries(blended, last, successors, counts, weight=w))
            ranks[w].append(target_ranks(blended, points.targets[idx], exclude))
    ndcg = {w: ndcg_at_10(np.concatenate(r)) for w, r in ranks.items()}
    best = max(grid, key=lambda w: (ndcg[w], -w))
    return BlendChoice(best, ndcg)


def ndcg_at_10(ranks: np.ndarray) -> float:
    """Mean NDCG@10 of full-catalogue ranks."""
    return float(metric_summary(ranks, ks=[10])["ndcg@10"])
