"""benchmarks.reproduce: which figures are compared, and what counts as the same."""

from __future__ import annotations

from benchmarks import reproduce


def test_validation_and_test_figures_are_compared_where_both_runs_have_them():
    base = {"validation": {"ndcg@10": 0.1, "hr@10": 0.2, "lr": 1.0}, "test": {"ndcg@10": 0.3}}
    here = {"validation": {"ndcg@10": 0.1, "hr@10": 0.25}, "test": {"ndcg@10": 0.3, "mrr@20": 1}}
    assert reproduce.rows(base, here) == [
        ("validation ndcg@10", 0.1, 0.1),
        ("validation hr@10", 0.2, 0.25),
        ("test ndcg@10", 0.3, 0.3),
    ]


def test_figures_are_the_same_when_they_print_the_same_to_4_decimals():
    compared = [("a", 0.12344, 0.12336), ("b", 0.12344, 0.12356), ("c", 0.5, 0.5)]
    lines = reproduce.table(compared).splitlines()
    assert lines[2].endswith("| 0.1234 | 0.1234 | yes | no |")
    assert lines[3].endswith("| 0.1234 | 0.1236 | NO | no |")
    assert lines[4].endswith("| 0.5000 | 0.5000 | yes | yes |")
