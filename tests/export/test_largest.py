"""The block-maxima floor keeps every entry that can be among a row's m largest."""

from __future__ import annotations

import numpy as np
import pytest

from segue.export.largest import BLOCK, largest_candidates, largest_floor


def rows(seed: int) -> list[np.ndarray]:
    """Rows of several lengths (below, at and past block multiples), with ties and -inf."""
    rng = np.random.default_rng(seed)
    out = []
    for n in (1, 7, BLOCK, BLOCK + 1, 5 * BLOCK - 3, 20_000):
        row = rng.standard_normal(n).astype(np.float32)
        row[rng.random(n) < 0.3] = -np.inf
        if n > 10:
            row[rng.integers(0, n, size=n // 10)] = np.float32(1.5)  # many ties near the top
        out.append(row)
    sorted_row = np.arange(20_000, dtype=np.float32)  # the largest all in the last block
    out += [sorted_row, sorted_row[::-1].copy(), np.full(3 * BLOCK, -np.inf, np.float32)]
    return out


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("m", [1, 2, 10, 64, 500])
def test_candidates_hold_the_m_largest_and_every_tie(seed, m):
    for row in rows(seed):
        pool = largest_candidates(row, m)
        assert np.all(np.diff(pool) > 0)  # ascending, no repeats
        m_th = np.sort(row)[::-1][min(m, len(row)) - 1]  # the m-th largest value
        must = np.flatnonzero(row >= m_th)  # the m largest and everything tied with them
        assert np.isin(must, pool).all()
        assert len(pool) >= min(m, len(row))
        floor = largest_floor(row, m)
        assert floor == -np.inf or (row >= floor).sum() >= m


def test_the_floor_narrows_a_long_row():
    row = np.random.default_rng(0).standard_normal(100_000).astype(np.float32)
    assert len(largest_candidates(row, 10)) < 100  # not the whole row
    assert largest_floor(row, 10) > 0
    assert largest_floor(row, 10_000) == -np.inf  # more than there are blocks
    row[5] = np.nan
    assert largest_floor(row, 10) > 0 or largest_floor(row, 10) == -np.inf  # never NaN


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("m", [1, 5, 50])
def test_best_equals_a_full_sort(seed, m):
    """np_ranking's best, now partitioning only the candidates, against a stable full sort:
    score descending, ties to the lower index, -inf never returned."""
    pytest.importorskip("onnxruntime", reason="the ONNX backend's ranking (extra 'onnx')")
    from segue.serve.np_ranking import best

    for row in rows(seed):
        order = np.lexsort((np.arange(len(row)), -row))
        expected = order[np.isfinite(row[order])][:m]
        np.testing.assert_array_equal(best(row, m), expected)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("k", [1, 5, 50])
def test_the_runtime_top_k_breaks_ties_at_the_kth_score_to_the_lower_index(seed, k):
    """The ONNX runtime's own top-k (whole row, no candidates) against the same full sort."""
    pytest.importorskip("onnxruntime", reason="the ONNX runtime (extra 'onnx')")
    from segue.export.runtime import top_indices

    for row in rows(seed):
        order = np.lexsort((np.arange(len(row)), -row))
        np.testing.assert_array_equal(top_indices(row, k), order[np.isfinite(row[order])][:k])
