"""Per-position side inputs derived from an event log: time-gap buckets."""

from __future__ import annotations

import numpy as np

# Upper edges (seconds) of the time-gap buckets. Bucket 0 is padding, bucket 1 means "no earlier
# event" (a history's first position); then one bucket per interval below, and a last one beyond.
# The edges follow listening habits rather than a formula: within a track, one track, a few
# tracks, a session break, a day, a week, a month.
GAP_EDGES_SECONDS = np.array(
    [
        10,
        30,
        60,
        180,
        300,
        600,
        1800,
        3600,
        3 * 3600,
        6 * 3600,
        86400,
        3 * 86400,
        7 * 86400,
        30 * 86400,
    ],
    dtype=np.float64,
)
N_GAP_BUCKETS = len(GAP_EDGES_SECONDS) + 3  # padding, first, len(edges) intervals, beyond


def gap_buckets(gap_seconds: np.ndarray) -> np.ndarray:
    """Bucket the seconds since the previous event; NaN (no previous event) gives bucket 1.

    >>> gap_buckets(np.array([np.nan, 5.0, 200.0, 1e9])).tolist()
    [1, 2, 6, 16]
    """
    gaps = np.asarray(gap_seconds, dtype=np.float64)
    buckets = np.searchsorted(GAP_EDGES_SECONDS, gaps, side="right") + 2
    buckets[np.isnan(gaps)] = 1
    return buckets.astype(np.int64)
