"""Choose a baseline's setting on the validation points, never on the test points.

A baseline compared with a tuned transformer must be tuned too, or "beats every baseline"
means little. :func:`choose_on_validation` fits one baseline per candidate value on the
training sequences, ranks the validation targets over the whole catalogue with the same code
as every evaluation, and keeps the value of the best validation NDCG@k (the first one on a
tie, so list the simplest value first). The chosen value is then refitted wherever the protocol
says (on train for the train-window protocol, on train + validation for the refit protocol).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from segue.baselines.protocol import Baseline
from segue.data.sequences import PredictionSequences
from segue.evaluation.ranking_metrics import ndcg
from segue.evaluation.scoring import rank_points


@dataclass(frozen=True)
class Choice:
    """The chosen value and the validation NDCG@k of every candidate, in the order tried.

    Args:
        value: The candidate with the best validation metric.
        metric: Name of the metric, e.g. ``"ndcg@10"``.
        scores: ``(candidate, validation metric)`` pairs.
    """

    value: Any
    metric: str
    scores: list[tuple[Any, float]]


def choose_on_validation(
    make: Callable[[Any], Baseline],
    values: Sequence[Any],
    sequences: Sequence[np.ndarray],
    n_tracks: int,
    validation: PredictionSequences,
    *,
    k: int = 10,
    exclude_seen: bool = False,
) -> Choice:
    """Fit ``make(value)`` on ``sequences`` for every value; keep the best on validation.

    Args:
        make: Builds an unfitted baseline from one candidate value, e.g.
            ``lambda l2: EASE(l2=l2)``.
        values: Candidate values, tried in order; ties keep the earlier one.
        sequences: Training sequences (what the chosen value will be judged on).
        n_tracks: Catalogue size.
        validation: Validation prediction points.
        k: Cut-off of NDCG.
        exclude_seen: Rank as the protocol does (see :func:`segue.evaluation.evaluate`).

    Returns:
        A :class:`Choice`.

    Raises:
        ValueError: On no candidates or no validation points (nothing to choose on).
    """
    if len(values) == 0:
        raise ValueError("choose_on_validation needs at least one candidate value")
    if len(validation) == 0:
        raise ValueError(
            "there are no validation points to choose on: choose with a split that has a "
            "validation fold, then refit with the chosen value"
        )
    scores: list[tuple[Any, float]] = []
    for value in values:
        model = make(value).fit(sequences, n_tracks)
        scores.append((value, ndcg(rank_points(model, validation, exclude_seen=exclude_seen), k)))
    best = max(range(len(scores)), key=lambda i: (scores[i][1], -i))
    return Choice(value=scores[best][0], metric=f"ndcg@{k}", scores=scores)
