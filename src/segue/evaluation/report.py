"""Figures of the per-point evaluation table, and a folder of PNGs with a markdown index.

Every figure draws a :func:`segue.evaluation.breakdown.breakdown` table: NDCG@k on the left,
HR@k on the right, one line (ordered buckets) or one bar group member (yes/no buckets) per
model, so models compare side by side in every situation. Tick labels carry the number of
points of each bucket, because a bucket of 5 points should not be read like one of 500.

Figures are built with :class:`matplotlib.figure.Figure`, never through ``pyplot``: nothing
depends on the backend, no window opens on a server, and figures are freed like any object
instead of piling up in pyplot's registry. In a notebook, a returned figure displays itself.

Usage::

    result = evaluate({"transformer": "runs/x/best.pt", "pop": MostPopular().fit(...)}, data)
    save_report(result, "runs/x/report")  # runs/x/report/index.md and one PNG per breakdown
"""

from __future__ import annotations

import textwrap
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

try:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
except ImportError as error:  # matplotlib is an optional dependency of segue
    raise ImportError(
        "segue.evaluation.report draws with matplotlib: pip install 'segue[notebooks]' "
        "(segue.evaluation.breakdown gives the same tables without it)"
    ) from error

from segue.evaluation.breakdown import BUCKETINGS, DESCRIPTIONS, breakdown
from segue.evaluation.tables import markdown_table, wide
from segue.io.atomic_write import atomic_write, atomic_write_text

if TYPE_CHECKING:
    from segue.evaluation.evaluate import Evaluation

ORDERED = ("history_length", "target_popularity", "position")
"""Breakdowns whose buckets have an order, drawn as lines; the others are drawn as bars."""

TITLES: dict[str, str] = {
    "history_length": "history length",
    "target_popularity": "target popularity",
    "position": "position in session",
    "after_skip": "skip vs full play",
    "is_repeat": "repeat vs new target",
}
"""Short name of each breakdown, for figure titles and the index."""


def plot_breakdown(points: pd.DataFrame, by: str, k: int = 10) -> Figure:
    """NDCG@k and HR@k per bucket of ``by``, every model side by side.

    Args:
        points: Per-point table (:attr:`segue.evaluation.evaluate.Evaluation.points`).
        by: A name of :data:`segue.evaluation.breakdown.BUCKETINGS`, or another column.
        k: Cut-off of the metrics.

    Returns:
        A figure with two axes, titled ``"NDCG@{k} by ..."`` and ``"HR@{k} by ..."``, with one
        legend entry per model.
    """
    table = breakdown(points, by, k)
    figure = Figure(figsize=(11.0, 4.0), layout="constrained")
    axes = figure.subplots(1, 2)
    title = TITLES.get(by, by)
    for ax, metric, label in zip(axes, (f"ndcg@{k}", f"hr@{k}"), (f"NDCG@{k}", f"HR@{k}")):
        if by in ORDERED:
            _draw_lines(ax, table, metric)
        else:
            _draw_bars(ax, table, metric)
        ax.set_title(f"{label} by {title}")
        ax.set_xlabel(DESCRIPTIONS.get(by, by))
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0.0)
        ax.grid(axis="y", alpha=0.3)
    _label_ticks(axes, table)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right upper", title="model")
    return figure


def report_figures(points: pd.DataFrame, k: int = 10) -> dict[str, Figure]:
    """One :func:`plot_breakdown` figure per breakdown of :data:`BUCKETINGS`, by name."""
    return {by: plot_breakdown(points, by, k) for by in BUCKETINGS}


def save_report(evaluation: Evaluation, out_dir: str | Path, k: int = 10) -> Path:
    """Write one PNG per breakdown and an ``index.md`` that shows them with their tables.

    Args:
        evaluation: The result of :func:`segue.evaluation.evaluate.evaluate`.
        out_dir: Folder to write into (created if missing; files of the same name replaced).
        k: Cut-off of the breakdown metrics.

    Returns:
        The path of ``index.md``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections = [
        "# Offline evaluation report",
        "",
        "## Summary",
        "",
        evaluation.to_markdown(),
    ]
    for by, figure in report_figures(evaluation.points, k).items():
        atomic_write(out / f"{by}.png", partial(figure.savefig, format="png", dpi=100))
        table = breakdown(evaluation.points, by, k)
        sections += ["", f"## By {TITLES[by]}", "", f"![{TITLES[by]}]({by}.png)"]
        for metric, label in ((f"ndcg@{k}", f"NDCG@{k}"), (f"hr@{k}", f"HR@{k}")):
            sections += ["", f"{label}:", "", markdown_table(wide(table, metric))]
    index = out / "index.md"
    atomic_write_text(index, "\n".join(sections) + "\n")
    return index


def _buckets(table: pd.DataFrame) -> list[str]:
    """Buckets of a breakdown table in plotting order (category order where there is one)."""
    column = table["bucket"]
    if isinstance(column.dtype, pd.CategoricalDtype):
        return [str(c) for c in column.cat.categories]
    return [str(b) for b in column.drop_duplicates()]


def _draw_lines(ax: Axes, table: pd.DataFrame, metric: str) -> None:
    """One line with markers per model over the ordered buckets."""
    position = {bucket: i for i, bucket in enumerate(_buckets(table))}
    for model, rows in table.groupby("model", sort=False):
        x = [position[str(b)] for b in rows["bucket"]]
        ax.plot(x, rows[metric].to_numpy(), marker="o", label=str(model))


def _draw_bars(ax: Axes, table: pd.DataFrame, metric: str) -> None:
    """Grouped bars: one group per bucket, one bar per model inside it."""
    position = {bucket: i for i, bucket in enumerate(_buckets(table))}
    models = list(table["model"].drop_duplicates())
    width = 0.8 / len(models)
    for i, (model, rows) in enumerate(table.groupby("model", sort=False)):
        offset = (i - (len(models) - 1) / 2) * width  # centres each group on its tick
        x = np.array([position[str(b)] for b in rows["bucket"]]) + offset
        ax.bar(x, rows[metric].to_numpy(), width=width, label=str(model))


def _label_ticks(axes: np.ndarray, table: pd.DataFrame) -> None:
    """Bucket names with their number of points (of the first model) under each axis."""
    buckets = _buckets(table)
    first = table[table["model"] == table["model"].iloc[0]]
    counts = dict(zip(first["bucket"].astype(str), first["count"]))
    # Wrap long bucket names ("unseen in train") so that neighbouring ticks never overlap.
    labels = [f"{textwrap.fill(b, 10)}\n(n={counts.get(b, 0):,})" for b in buckets]
    for ax in axes:
        ax.set_xticks(range(len(buckets)), labels)
        ax.set_xlim(-0.6, len(buckets) - 0.4)
