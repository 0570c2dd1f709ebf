"""Choose the transition blend's weight on validation and give a trained model its blend.

The blend (:mod:`segue.models.transition_blend`) is set after training: its table is counted
from the training rows, its weight ``w`` is the one of a grid with the best validation NDCG@10
(``w = 0``, no blend, always competes). With co-occurrence shares ``c`` to try as well
(:mod:`segue.models.cooccurrence_memory`), every pair ``(w, c)`` with ``w + c < 1`` competes.
Each point's dense scores are computed once and every pair is ranked from them, so a grid
costs one scoring pass plus a ranking per pair.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from segue.data.encoding import EncodedEvents
from segue.data.pipeline import PreparedData
from segue.evaluation.ranking import target_ranks
from segue.evaluation.scoring import score_points
from segue.evaluation.summary import metric_summary
from segue.models.config import ModelConfig
from segue.models.cooccurrence_memory import CooccurrenceMemory, fit_neighbour_table
from segue.models.history_prior import add_to_scores, fit_transition_table
from segue.models.transformer import TrackTransformer
from segue.models.transition_blend import blend_entries

VALIDATION = "validation"


@dataclass(frozen=True)
class BlendChoice:
    """The chosen weights and the validation NDCG@10 of every pair tried.

    Attributes:
        weight: The transition table's chosen share ``w``.
        validation_ndcg: NDCG@10 by ``w`` without the co-occurrence memory (0 included).
        cooccurrence: The co-occurrence memory's chosen share ``c`` (0: none).
        cooccurrence_ndcg: NDCG@10 by ``c`` > 0, then by ``w``; empty when none was tried.
    """

    weight: float
    validation_ndcg: dict[float, float]
    cooccurrence: float = 0.0
    cooccurrence_ndcg: dict[float, dict[float, float]] = field(default_factory=dict)


def with_blend(
    model: TrackTransformer, weight: float, events: EncodedEvents, cooccurrence: float = 0.0
) -> TrackTransformer:
    """A copy of ``model`` with a blend of transition share ``weight`` and co-occurrence share
    ``cooccurrence`` (both 0: none), its tables counted from the training rows ``events``
    (grouped and in time order, as the prior's table is).

    The copy shares nothing with ``model``; an existing blend is replaced.
    """
    config = dataclasses.replace(
        model.config, blend_weight=float(weight), blend_cooccurrence=float(cooccurrence)
    )
    blended = TrackTransformer(config)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("blend.")}
    blended.load_state_dict(state, strict=not config.has_blend)
    if blended.blend is not None:
        blended.blend.fit_table(events.tracks, events.group_start, events.is_skip)
    return blended.to(next(model.parameters()).device).eval()


def choose_blend_weight(
    model: TrackTransformer,
    data: PreparedData,
    weights: Sequence[float],
    *,
    cooccurrence_weights: Sequence[float] = (),
    exclude_seen: bool = False,
    batch_size: int = 256,
) -> BlendChoice:
    """The pair ``(w, c)`` of ``weights`` and ``cooccurrence_weights`` (each with 0) with the
    best validation NDCG@10 (ties: the smaller ``c``, then the smaller ``w``).

    Args:
        model: A trained model without a blend (its scores are what the blend mixes).
        data: The data it was trained on; its training rows give the tables, its validation
            points the choice.
        weights: Transition shares to try, each in [0, 1); 0 is tried whether listed or not.
        cooccurrence_weights: Co-occurrence shares to try, each in [0, 1); pairs summing to 1
            or more are left out. Empty: no co-occurrence memory.
        exclude_seen: Rank as the evaluation does (seen tracks removed).
        batch_size: Points scored at once.

    Raises:
        ValueError: On a weight outside (0, 1), a model that already has a blend, or data
            without validation points, before any scoring.
    """
    grid = sorted({0.0, *(float(w) for w in weights)})
    shares = sorted({0.0, *(float(c) for c in cooccurrence_weights)})
    if any(not 0.0 <= w < 1.0 for w in grid):
        raise ValueError(f"blend weights must be in [0, 1) (0 is always tried): {list(weights)}")
    if any(not 0.0 <= c < 1.0 for c in shares):
        raise ValueError(f"co-occurrence weights must be in [0, 1): {list(cooccurrence_weights)}")
    if model.blend is not None:
        raise ValueError("the model already has a transition blend: choose from one without")
    points = data.points(VALIDATION)
    if len(points) == 0:
        raise ValueError("choosing the blend's weight needs validation points; the data has none")
    pairs = [(w, c) for c in shares for w in grid if w + c < 1.0]
    events, config = data.train.events, model.config
    table = fit_transition_table(
        events.tracks,
        events.group_start,
        data.vocab.n_tracks,
        config.blend_successors,
        events.is_skip,
    )
    successors, counts = torch.from_numpy(table[0]), torch.from_numpy(table[1])
    neighbours = _neighbour_table(data, config.blend_neighbours) if len(shares) > 1 else None
    ranks: dict[tuple[float, float], list[np.ndarray]] = {pair: [] for pair in pairs}
    for start in range(0, len(points), batch_size):
        idx = np.arange(start, min(start + batch_size, len(points)))
        scores = score_points(model, points, idx)  # (B, V), the prior's terms included
        history = points.batch(idx).tracks
        exclude = [points.full_history(int(i)) for i in idx] if exclude_seen else None
        for w, c in pairs:
            memory = _memory(neighbours, c, config) if c > 0 else None
            blended = scores.clone()
            terms = blend_entries(blended, history[:, -1], successors, counts, w, memory, history)
            add_to_scores(blended, terms)
            ranks[(w, c)].append(target_ranks(blended, points.targets[idx], exclude))
    ndcg = {pair: ndcg_at_10(np.concatenate(r)) for pair, r in ranks.items()}
    best = max(pairs, key=lambda pair: (ndcg[pair], -pair[1], -pair[0]))
    by_share: dict[float, dict[float, float]] = {}
    for (w, c), value in ndcg.items():
        by_share.setdefault(c, {})[w] = value
    return BlendChoice(best[0], by_share.pop(0.0), best[1], by_share)


def _memory(
    table: tuple[torch.Tensor, torch.Tensor] | None, share: float, config: ModelConfig
) -> CooccurrenceMemory:
    """The co-occurrence memory at ``share``, read as ``config`` says."""
    assert table is not None  # counted whenever a share > 0 is tried
    return CooccurrenceMemory(*table, share, config.blend_history, config.blend_decay)


def _neighbour_table(data: PreparedData, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The co-occurrence memory's table counted from the training rows."""
    events = data.train.events
    found = fit_neighbour_table(
        events.tracks, events.group_start, data.vocab.n_tracks, width, events.is_skip
    )
    return torch.from_numpy(found[0]), torch.from_numpy(found[1])


def ndcg_at_10(ranks: np.ndarray) -> float:
    """Mean NDCG@10 of full-catalogue ranks."""
    return float(metric_summary(ranks, ks=[10])["ndcg@10"])
