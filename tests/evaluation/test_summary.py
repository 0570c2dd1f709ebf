"""Every metric of the registry is summarised and can be monitored by training: one entry each."""

from __future__ import annotations

import numpy as np
import pytest

from segue.evaluation.summary import METRICS, metric_summary
from segue.training.trainer import monitor_k


def test_every_metric_is_summarised_at_every_k() -> None:
    ranks = np.array([1, 2, 7, 40])
    summary = metric_summary(ranks, ks=[5, 50])
    assert list(summary) == [f"{n}@{k}" for k in (5, 50) for n in METRICS] + ["points"]
    for name, metric in METRICS.items():
        assert summary[f"{name}@5"] == metric(ranks, 5)
    assert summary["points"] == 4


@pytest.mark.parametrize("name", list(METRICS))
def test_every_metric_can_be_monitored(name: str) -> None:
    assert monitor_k(f"{name}@50") == 50
    with pytest.raises(ValueError, match=f"{name}@K"):
        monitor_k(f"{name}x@50")
