"""Is model A better than model B, overall and in each bucket, with a cluster bootstrap?

:func:`compare` tests the per-point NDCG@k difference between a reference model and every
other model of a points table; :func:`compare_by_bucket` does the same inside each bucket of a
breakdown (repeat vs new target, target popularity...), which is where a model that wins on
average can lose: a transformer that beats a transition baseline overall may still lose on
rare tracks. Both resample listeners by default (see :mod:`segue.evaluation.bootstrap`): their
points are correlated, so resampling points would overstate the evidence.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segue.columns import Columns
from segue.evaluation.bootstrap import paired_bootstrap
from segue.evaluation.breakdown import BUCKETINGS
from segue.evaluation.ranking_metrics import point_ndcg

DEFAULT_CLUSTER = Columns.USER
"""Resampling unit of every comparison unless told otherwise: the listener."""

MIN_CLUSTERS = 20
"""Below this many resampling units a bootstrap interval says little (with 2 listeners a
resample is one of 3 mixtures); reports flag such intervals instead of presenting them."""


def resampling_unit(points: pd.DataFrame) -> str:
    """The bootstrap's unit for a points table: the listener, or the session where the points
    hold fewer than :data:`MIN_CLUSTERS` listeners but at least that many sessions.

    A personal export is one listener: a listener bootstrap is then degenerate (every resample
    is that listener), and the listener's sessions are the most independent units left.

    >>> table = pd.DataFrame({"user_id": ["u"] * 30, "session_id": range(30)})
    >>> resampling_unit(table), resampling_unit(table.assign(user_id=range(30)))
    ('session_id', 'user_id')
    """
    if Columns.USER in points and points[Columns.USER].nunique() >= MIN_CLUSTERS:
        return Columns.USER
    if Columns.SESSION in points and points[Columns.SESSION].nunique() >= MIN_CLUSTERS:
        return Columns.SESSION
    return Columns.USER


def per_model_ndcg(points: pd.DataFrame, k: int = 10) -> dict[str, np.ndarray]:
    """Per-point NDCG@k of every model, (N,) each, all in the order of the reference's points.

    Raises:
        ValueError: When the models were not evaluated on the same points.
    """
    _require(points, ["model", "query", Columns.RANK])
    out = {}
    reference_queries: np.ndarray | None = None
    for name, group in points.groupby("model", sort=False):
        ordered = group.sort_values("query", kind="stable")
        queries = ordered["query"].to_numpy()
        if reference_queries is None:
            reference_queries = queries
        elif not np.array_equal(queries, reference_queries):
            raise ValueError(f"model {name!r} was evaluated on other points than the first model")
        out[str(name)] = point_ndcg(ordered[Columns.RANK].to_numpy(), k)
    return out


def compare(
    points: pd.DataFrame,
    reference: str,
    *,
    k: int = 10,
    cluster: str | None = DEFAULT_CLUSTER,
    n_resamples: int = 1000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Paired bootstrap of NDCG@k, ``reference`` minus every other model, on all points.

    Args:
        points: Per-point table of :func:`segue.evaluation.evaluate.evaluate`.
        reference: Name of the model the others are compared with.
        k: Cut-off of NDCG.
        cluster: Column of the resampling unit (``user_id``, ``session_id``); None resamples
            points.
        n_resamples: Bootstrap resamples.
        seed: Seed of the resampling.

    Returns:
        One dict per other model: ``reference``, ``other``, ``ndcg@{k} diff``, ``ci_low``,
        ``ci_high``, ``p_value``, ``points``, ``clusters`` (number of resampling units) and
        ``resampled`` (the unit's column, or ``"point"``).
    """
    return _compare_rows(points, reference, k, cluster, n_resamples, seed)


def compare_by_bucket(
    points: pd.DataFrame,
    reference: str,
    by: str,
    *,
    k: int = 10,
    cluster: str | None = DEFAULT_CLUSTER,
    n_resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`compare` inside each bucket of a breakdown, plus each model's NDCG@k there.

    Args:
        points: Per-point table of :func:`segue.evaluation.evaluate.evaluate`.
        reference: Name of the model the others are compared with.
        by: A name of :data:`segue.evaluation.breakdown.BUCKETINGS`.
        k, cluster, n_resamples, seed: As :func:`compare`.

    Returns:
        One row per (bucket, other model), buckets in order: ``bucket``, ``other``, ``points``,
        ``clusters``, ``reference ndcg@{k}``, ``other ndcg@{k}``, ``diff``, ``ci_low``,
        ``ci_high``, ``p_value``; ``significant`` is True when the interval excludes 0 and
        rests on at least :data:`MIN_CLUSTERS` resampling units (a bucket of one listener has a
        zero-width interval that excludes 0 whatever the difference).
    """
    if by not in BUCKETINGS:
        raise ValueError(f"unknown breakdown {by!r}; choose from {sorted(BUCKETINGS)}")
    first = points[points["model"] == points["model"].iloc[0]].sort_values("query", kind="stable")
    buckets = BUCKETINGS[by](first)
    bucket_of = pd.Series(np.asarray(buckets, dtype=object), index=first["query"].to_numpy())
    rows = []
    for bucket in buckets.categories:
        queries = bucket_of.index[bucket_of.to_numpy() == bucket]
        if len(queries) == 0:
            continue
        subset = points[points["query"].isin(queries)]
        for row in _compare_rows(subset, reference, k, cluster, n_resamples, seed):
            ndcg = per_model_ndcg(subset, k)
            rows.append(
                {
                    "bucket": str(bucket),
                    "other": row["other"],
                    "points": row["points"],
                    "clusters": row["clusters"],
                    f"reference ndcg@{k}": float(ndcg[reference].mean()),
                    f"other ndcg@{k}": float(ndcg[row["other"]].mean()),
                    "diff": row[f"ndcg@{k} diff"],
                    "ci_low": row["ci_low"],
                    "ci_high": row["ci_high"],
                    "p_value": row["p_value"],
                    "significant": _significant(row),
                }
            )
    return pd.DataFrame(rows)


def _significant(row: dict[str, Any]) -> bool:
    """The interval excludes 0 and rests on enough units to mean it."""
    excludes_zero = row["ci_low"] > 0 or row["ci_high"] < 0
    return bool(excludes_zero and row["clusters"] >= MIN_CLUSTERS)


def _compare_rows(
    points: pd.DataFrame,
    reference: str,
    k: int,
    cluster: str | None,
    n_resamples: int,
    seed: int,
) -> list[dict[str, Any]]:
    per_model = per_model_ndcg(points, k)
    if reference not in per_model:
        raise ValueError(f"reference {reference!r} is not among the models {list(per_model)}")
    units = None
    if cluster is not None:
        _require(points, [cluster])
        of_reference = points[points["model"] == reference].sort_values("query", kind="stable")
        units = of_reference[cluster].to_numpy()
    n_units = len(per_model[reference]) if units is None else len(pd.unique(units))
    rows = []
    for name, values in per_model.items():
        if name == reference:
            continue
        test = paired_bootstrap(
            per_model[reference], values, n_resamples=n_resamples, seed=seed, clusters=units
        )
        rows.append(
            {
                "reference": reference,
                "other": name,
                f"ndcg@{k} diff": test.mean_diff,
                "ci_low": test.low,
                "ci_high": test.high,
                "p_value": test.p_value,
                "points": len(values),
                "clusters": n_units,
                "resampled": cluster or "point",
            }
        )
    return rows


def _require(points: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in points]
    if missing:
        raise ValueError(f"the points table has no column {missing}; it has {list(points)}")
