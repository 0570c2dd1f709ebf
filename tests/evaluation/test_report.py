import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from segue.evaluation.breakdown import BUCKETINGS, UNSEEN, breakdown
from segue.evaluation.evaluate import Evaluation
from segue.evaluation.ranking import MISS
from segue.evaluation.report import (
    markdown_table,
    plot_breakdown,
    report_figures,
    save_report,
    wide,
)


@pytest.fixture
def points() -> pd.DataFrame:
    """Two models on five points, as in tests/evaluation/test_breakdown.py."""
    five = {
        "position": [1, 2, 4, 12, 1],
        "history_length": [0, 2, 5, 40, 7],
        "target_popularity": [500, 12, 1, 2, 0],
        "target_known": [True, True, True, True, False],
        "is_repeat": [True, False, False, True, False],
        "after_skip": [False, True, False, True, False],
    }
    a = pd.DataFrame({"model": "a", **five, "rank": [1, 3, 11, 2, MISS]})
    b = pd.DataFrame({"model": "b", **five, "rank": [2, 1, 1, 20, MISS]})
    return pd.concat([a, b], ignore_index=True)


def test_an_ordered_breakdown_draws_one_line_per_model(points):
    figure = plot_breakdown(points, "history_length", k=10)
    assert isinstance(figure, Figure)
    ndcg_ax, hr_ax = figure.axes
    assert ndcg_ax.get_title() == "NDCG@10 by history length"
    assert hr_ax.get_title() == "HR@10 by history length"
    assert ndcg_ax.get_ylabel() == "NDCG@10" and hr_ax.get_ylabel() == "HR@10"
    assert ndcg_ax.get_xlabel() == "events the listener played before the point"
    assert [line.get_label() for line in ndcg_ax.get_lines()] == ["a", "b"]
    # Model a's NDCG per bucket 0, 1–2, 3–9, 30–99: ranks 1 | 3 | 11, MISS | 2.
    np.testing.assert_allclose(
        np.asarray(ndcg_ax.get_lines()[0].get_ydata(), dtype=float), [1.0, 0.5, 0.0, 1 / np.log2(3)]
    )
    ticks = [t.get_text() for t in ndcg_ax.get_xticklabels()]
    assert ticks == ["0\n(n=1)", "1–2\n(n=1)", "3–9\n(n=2)", "30–99\n(n=1)"]
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["a", "b"]


def test_a_yes_no_breakdown_draws_grouped_bars(points):
    figure = plot_breakdown(points, "is_repeat", k=5)
    ndcg_ax, hr_ax = figure.axes
    assert hr_ax.get_title() == "HR@5 by repeat vs new target"
    assert len(ndcg_ax.patches) == 4  # 2 models x 2 buckets
    heights = [
        p.get_height() for p in hr_ax.patches if isinstance(p, Rectangle)
    ]  # model a's bars, then b's
    np.testing.assert_allclose(heights, [1 / 3, 1.0, 2 / 3, 0.5])
    ticks = [t.get_text() for t in hr_ax.get_xticklabels()]
    assert ticks == ["new track\n(n=3)", "repeat\n(n=2)"]


def test_unseen_targets_have_their_own_tick(points):
    ticks = [
        t.get_text() for t in plot_breakdown(points, "target_popularity").axes[0].get_xticklabels()
    ]
    assert ticks[0] == "unseen in\ntrain\n(n=1)"


def test_report_figures_has_one_figure_per_breakdown(points):
    figures = report_figures(points)
    assert list(figures) == list(BUCKETINGS)
    assert all(isinstance(f, Figure) and len(f.axes) == 2 for f in figures.values())


def test_save_report_writes_pngs_and_a_markdown_index(points, tmp_path):
    summary = pd.DataFrame({"model": ["a", "b"], "ndcg@10": [0.4262, 0.4262]})
    evaluation = Evaluation(points=points, summary=summary, top_k={})
    index = save_report(evaluation, tmp_path / "report")
    assert index == tmp_path / "report" / "index.md"
    for by in BUCKETINGS:
        png = tmp_path / "report" / f"{by}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = index.read_text()
    assert text.startswith("# Offline evaluation report")
    assert "| model | ndcg@10 |" in text
    assert "![history length](history_length.png)" in text
    assert "| bucket | points | a | b |" in text
    assert "| after a skip | 2 | 0.5655 | 0.5000 |" in text  # NDCG@10 by skip context


def test_wide_puts_models_side_by_side_in_bucket_order(points):
    table = wide(breakdown(points, "target_popularity"), "hr@10")
    assert list(table.columns) == ["bucket", "points", "a", "b"]
    assert table["bucket"].tolist() == [UNSEEN, "1–2", "10–29", "300–999"]
    assert table["points"].tolist() == [1, 2, 1, 1]
    np.testing.assert_allclose(table["b"], [0.0, 0.5, 1.0, 1.0])


def test_markdown_table_formats_floats_only():
    table = pd.DataFrame({"model": ["a"], "count": [3], "hr@10": [1 / 3]})
    assert markdown_table(table).splitlines()[-1] == "| a | 3 | 0.3333 |"
