"""Breakdown tables as text: one row per bucket, one column per model, GitHub markdown.

Only pandas: reports, logs and benchmark files use these without matplotlib (the figures of
:mod:`segue.evaluation.report` draw the same tables).
"""

from __future__ import annotations

import pandas as pd

from segue.evaluation.breakdown import DESCRIPTIONS, breakdown
from segue.evaluation.comparison import DEFAULT_CLUSTER, compare_by_bucket


def wide(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per bucket, its point count, then one column of ``metric`` per model.

    Args:
        table: A :func:`segue.evaluation.breakdown.breakdown` table.
        metric: One of its metric columns, e.g. ``"ndcg@10"``.

    Returns:
        Columns ``bucket``, ``points`` (of the first model) and the models in table order.
    """
    models = list(table["model"].drop_duplicates())
    values = table.pivot(index="bucket", columns="model", values=metric)[models]
    first = table[table["model"] == models[0]].set_index("bucket")["count"]
    out = values.rename_axis(columns=None).reset_index()
    out.insert(1, "points", out["bucket"].map(first).fillna(0).astype(int).to_numpy())
    out["bucket"] = out["bucket"].astype(str)
    return out


def markdown_table(table: pd.DataFrame) -> str:
    """A DataFrame as a GitHub markdown table, floats to 4 decimals.

    >>> print(markdown_table(pd.DataFrame({"model": ["a"], "hr@10": [0.5]})))
    | model | hr@10 |
    |---|---|
    | a | 0.5000 |
    """
    header = "| " + " | ".join(str(c) for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = [
        "| " + " | ".join(_cell(v) for v in row) + " |" for row in table.itertuples(index=False)
    ]
    return "\n".join([header, rule, *rows])


def _cell(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


REPORTED_BREAKDOWNS = ("is_repeat", "target_popularity")
"""The breakdowns every text report carries: why a model wins is mostly repeats and rarity."""


def breakdown_sections(
    points: pd.DataFrame,
    *,
    reference: str | None = None,
    k: int = 10,
    by: tuple[str, ...] = REPORTED_BREAKDOWNS,
    cluster: str | None = DEFAULT_CLUSTER,
    n_resamples: int = 1000,
) -> list[str]:
    """Markdown lines: NDCG@k per bucket and model for each breakdown of ``by``, then, with a
    ``reference``, its cluster-bootstrap difference with every other model in each bucket.

    Args:
        points: Per-point table of :func:`segue.evaluation.evaluate.evaluate`.
        reference: Model compared with the others per bucket; None skips the comparison.
        k: Cut-off of NDCG and HR.
        by: Names of :data:`segue.evaluation.breakdown.BUCKETINGS`.
        cluster: Resampling unit of the bootstrap (None: points).
        n_resamples: Bootstrap resamples.
    """
    lines: list[str] = []
    for name in by:
        table = breakdown(points, name, k)
        lines += [
            "",
            f"NDCG@{k} by {DESCRIPTIONS[name]}:",
            "",
            markdown_table(wide(table, f"ndcg@{k}")),
        ]
        if reference is None:
            continue
        tests = compare_by_bucket(
            points, reference, name, k=k, cluster=cluster, n_resamples=n_resamples
        )
        strongest = strongest_per_bucket(tests, k)
        unit = UNIT_NAMES.get(cluster or "point", str(cluster))
        lines += [
            "",
            f"{reference} minus the strongest other model of each bucket, NDCG@{k} "
            f"(95% bootstrap interval, {unit} resampled):",
            "",
            markdown_table(strongest),
        ]
    return lines


UNIT_NAMES = {"user_id": "listeners", "session_id": "sessions", "point": "points"}


def strongest_per_bucket(tests: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    """Per bucket, the row of :func:`compare_by_bucket` whose other model scores highest.

    >>> tests = pd.DataFrame({"bucket": ["a", "a", "b"], "other": ["x", "y", "x"],
    ...     "points": [5, 5, 2], "clusters": [2, 2, 1], "other ndcg@10": [0.1, 0.3, 0.2],
    ...     "diff": [0.2, 0.0, -0.1], "ci_low": [0.1, -0.1, -0.2], "ci_high": [0.3, 0.1, 0.0]})
    >>> strongest_per_bucket(tests)["other"].tolist()
    ['y', 'x']
    """
    other = f"other ndcg@{k}"
    best = tests.loc[tests.groupby("bucket", sort=False)[other].idxmax()]
    columns = ["bucket", "points", "clusters", "other", other, "diff", "ci_low", "ci_high"]
    return best[columns].reset_index(drop=True)
