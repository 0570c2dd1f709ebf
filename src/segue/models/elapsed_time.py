"""Elapsed time along a history, recovered from its time-gap buckets.

Batches carry no timestamps, only :func:`segue.data.features.gap_buckets` (the time since the
previous event, bucketed). A block that needs the time between two events (HSTU's relative
time bias) sums a representative duration of each bucket instead: the geometric middle of the
bucket's interval, 5 s for the first one and twice the last edge beyond it. The result is
coarse within a bucket but exact in order of magnitude, which is all a log-bucketed time bias
reads. Durations are whole seconds in int64, so sums are exact and the same whether a history
is encoded at once or step by step through a cache.
"""

from __future__ import annotations

import itertools
import math

import torch

from segue.data.features import GAP_EDGES_SECONDS, N_GAP_BUCKETS


def _bucket_seconds() -> list[int]:
    """Representative seconds of each gap bucket, (N_GAP_BUCKETS,): 0 for padding and for
    "no earlier event", then one per interval of ``GAP_EDGES_SECONDS``, then beyond."""
    edges = [float(e) for e in GAP_EDGES_SECONDS]
    middles = [5] + [round(math.sqrt(lo * hi)) for lo, hi in itertools.pairwise(edges)]
    seconds = [0, 0, *middles, round(2 * edges[-1])]
    assert len(seconds) == N_GAP_BUCKETS
    return seconds


BUCKET_SECONDS = torch.tensor(_bucket_seconds(), dtype=torch.long)
"""Representative seconds of each gap bucket, (N_GAP_BUCKETS,) int64."""


def elapsed_seconds(gap_buckets: torch.Tensor, start: torch.Tensor | None = None) -> torch.Tensor:
    """Seconds from the row's first event to each position, (B, T) int64.

    Padding (bucket 0) adds nothing, so left padding does not move any real position's time.

    Args:
        gap_buckets: Gap bucket of each event, (B, T) int64.
        start: Elapsed seconds before the first column (a cache's last value), (B, 1); None
            for 0.

    >>> elapsed_seconds(torch.tensor([[0, 1, 2, 5]])).tolist()
    [[0, 0, 5, 109]]
    """
    table = BUCKET_SECONDS.to(gap_buckets.device)
    elapsed = table[gap_buckets].cumsum(dim=1)  # (B, T)
    return elapsed if start is None else start + elapsed
