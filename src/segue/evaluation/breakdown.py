"""Metrics per bucket of prediction points: where does a model win or lose?

A summary row hides that models differ by situation: a popularity baseline does well on chart
hits and badly on niche tracks, a transition model needs a previous track, a model that learned
replays shines on repeats. :func:`breakdown` cuts the per-point table of
:func:`segue.evaluation.evaluate.evaluate` along one of :data:`BUCKETINGS` and gives NDCG@k and
HR@k per model and bucket, as a tidy table that the figures of
:mod:`segue.evaluation.report` draw. Numeric columns use fixed, roughly logarithmic edges
(1, 3, 10, 30...), so buckets mean the same thing on every dataset and the heavy tail of
popularity and history length stays readable.

Only pandas and numpy: this module works without matplotlib.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from segue.columns import Columns
from segue.evaluation.ranking_metrics import point_hit, point_ndcg

HISTORY_EDGES: tuple[int, ...] = (0, 1, 3, 10, 30, 100, 300, 1_000)
"""Bucket edges of ``history_length`` (events of the listener before the point)."""

POPULARITY_EDGES: tuple[int, ...] = (1, 3, 10, 30, 100, 300, 1_000, 3_000, 10_000, 30_000)
"""Bucket edges of ``target_popularity`` (plays of the target in train)."""

POSITION_EDGES: tuple[int, ...] = (0, 1, 2, 3, 5, 10, 20, 50)
"""Bucket edges of ``position`` (0-based; the session's first track is 0)."""

UNSEEN = "unseen in train"
"""The popularity bucket of targets with no training plays: missing from the vocabulary (always
misses), or in it with 0 plays (``catalogue="log"``: rankable only through the history)."""

AFTER_SKIP, AFTER_PLAY = "after a skip", "after a play"
REPEAT, NEW = "repeat", "new track"


def edge_buckets(values: Sequence[int] | np.ndarray, edges: Sequence[int]) -> pd.Categorical:
    """Integers into buckets ``[edges[i], edges[i + 1])`` labelled by their range.

    A bucket of one value is labelled by that value, the last one is open (``"30+"``).

    Args:
        values: Non-negative integers, (N,).
        edges: Increasing integer edges; values below ``edges[0]`` are an error.

    Returns:
        An ordered categorical of (N,) labels whose categories are every bucket, in order.

    Raises:
        ValueError: On edges that do not increase or values below the first edge.

    >>> edge_buckets([0, 1, 2, 5, 40], (0, 1, 3, 10)).tolist()
    ['0', '1–2', '1–2', '3–9', '10+']
    """
    values = np.asarray(values)
    if len(edges) == 0 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"edges must be non-empty and increasing, got {tuple(edges)}")
    if len(values) and values.min() < edges[0]:
        raise ValueError(f"values must be >= {edges[0]}, got a minimum of {values.min()}")
    labels = [_range_label(a, b) for a, b in itertools.pairwise(edges)]
    labels.append(f"{edges[-1]}+")
    codes = np.searchsorted(np.asarray(edges), values, side="right") - 1
    return pd.Categorical(np.asarray(labels)[codes], categories=labels, ordered=True)


def _range_label(low: int, high: int) -> str:
    return str(low) if high == low + 1 else f"{low}–{high - 1}"


def flag_buckets(values: Sequence[bool] | np.ndarray, false: str, true: str) -> pd.Categorical:
    """Booleans as two named buckets, ``false`` first.

    >>> flag_buckets([True, False], "new track", "repeat").tolist()
    ['repeat', 'new track']
    """
    codes = np.asarray(values, dtype=bool).astype(np.int64)
    return pd.Categorical(np.asarray([false, true])[codes], categories=[false, true], ordered=True)


def history_buckets(points: pd.DataFrame) -> pd.Categorical:
    """Buckets of the listener's history length before each point (:data:`HISTORY_EDGES`)."""
    return edge_buckets(points["history_length"].to_numpy(), HISTORY_EDGES)


def popularity_buckets(points: pd.DataFrame) -> pd.Categorical:
    """Buckets of the target's train plays, with targets unseen in train first, on their own.

    Unseen targets are ranked :data:`segue.evaluation.ranking.MISS` by every model, or, in a
    ``catalogue="log"`` vocabulary, ranked from the history alone; mixing them into the least
    popular bucket would make every model look worse (or better) at the long tail than it is.
    """
    popularity = points["target_popularity"].to_numpy()
    known = points["target_known"].to_numpy(dtype=bool) & (popularity > 0)
    plays = np.where(known, popularity, POPULARITY_EDGES[0])
    by_plays = edge_buckets(plays, POPULARITY_EDGES)
    labels = np.where(known, np.asarray(by_plays, dtype=object), UNSEEN)
    return pd.Categorical(labels, categories=[UNSEEN, *by_plays.categories], ordered=True)


def position_buckets(points: pd.DataFrame) -> pd.Categorical:
    """Buckets of the point's position in its session (:data:`POSITION_EDGES`)."""
    return edge_buckets(points[Columns.POSITION].to_numpy(), POSITION_EDGES)


def skip_buckets(points: pd.DataFrame) -> pd.Categorical:
    """Whether the last event before the point was a skip or a play."""
    return flag_buckets(points["after_skip"].to_numpy(), AFTER_PLAY, AFTER_SKIP)


def repeat_buckets(points: pd.DataFrame) -> pd.Categorical:
    """Whether the target is already in the listener's history (a replay) or new to them."""
    return flag_buckets(points["is_repeat"].to_numpy(), NEW, REPEAT)


BUCKETINGS: dict[str, Callable[[pd.DataFrame], pd.Categorical]] = {
    "history_length": history_buckets,
    "target_popularity": popularity_buckets,
    "position": position_buckets,
    "after_skip": skip_buckets,
    "is_repeat": repeat_buckets,
}
"""The breakdowns of a report: name -> bucketing of a points table."""

DESCRIPTIONS: dict[str, str] = {
    "history_length": "events the listener played before the point",
    "target_popularity": "plays of the target in train",
    "position": "position in session (0 = first track)",
    "after_skip": "previous event",
    "is_repeat": "target already in the listener's history?",
}
"""Axis label of each breakdown."""


def breakdown(points: pd.DataFrame, by: str, k: int = 10) -> pd.DataFrame:
    """NDCG@k, HR@k and the number of points per model and bucket.

    Args:
        points: Per-point table with ``model`` and ``rank`` columns, as
            :attr:`segue.evaluation.evaluate.Evaluation.points`.
        by: A name of :data:`BUCKETINGS`, or any other column of ``points``, whose values are
            then the buckets.
        k: Cut-off of the metrics.

    Returns:
        One row per (model, bucket) holding points: ``model`` (in order of first appearance),
        ``bucket`` (in bucket order), ``ndcg@{k}``, ``hr@{k}`` (means over the bucket's points)
        and ``count``.

    Raises:
        ValueError: On an empty table or a column it lacks.

    >>> pts = pd.DataFrame({"model": ["a", "a", "b", "b"], "rank": [1, 30, 3, 1],
    ...                     "is_repeat": [True, False, True, False]})
    >>> breakdown(pts, "is_repeat").to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'model': 'a', 'bucket': 'new track', 'ndcg@10': 0.0, 'hr@10': 0.0, 'count': 1},
     {'model': 'a', 'bucket': 'repeat', 'ndcg@10': 1.0, 'hr@10': 1.0, 'count': 1},
     {'model': 'b', 'bucket': 'new track', 'ndcg@10': 1.0, 'hr@10': 1.0, 'count': 1},
     {'model': 'b', 'bucket': 'repeat', 'ndcg@10': 0.5, 'hr@10': 1.0, 'count': 1}]
    """
    needed = ["model", Columns.RANK] + ([] if by in BUCKETINGS else [by])
    missing = [c for c in needed if c not in points]
    if missing:
        raise ValueError(f"the points table has no column {missing}; it has {list(points)}")
    if len(points) == 0:
        raise ValueError("cannot break down an empty points table")
    ranks = points[Columns.RANK].to_numpy()
    bucket = BUCKETINGS[by](points) if by in BUCKETINGS else points[by].to_numpy()
    ndcg, hr = f"ndcg@{k}", f"hr@{k}"
    table = pd.DataFrame(
        {
            "model": pd.Categorical(points["model"], categories=points["model"].unique()),
            "bucket": bucket,
            ndcg: point_ndcg(ranks, k),
            hr: point_hit(ranks, k),
        }
    )
    grouped = table.groupby(["model", "bucket"], observed=True, sort=True)
    out = grouped.agg(**{ndcg: (ndcg, "mean"), hr: (hr, "mean"), "count": (ndcg, "size")})
    out = out.reset_index()
    out["model"] = out["model"].astype(str)
    if isinstance(out["bucket"].dtype, pd.CategoricalDtype):
        # Keep bucket order for plots but only buckets that hold points.
        out["bucket"] = out["bucket"].cat.remove_unused_categories()
    return out
