"""IVF lists cut by norm: exact when every list is scanned, bounds against a naive reference,
loud tracks at wide angles found with few probes, saved and loaded with the same results."""

from __future__ import annotations

import numpy as np
import pytest

from segue.retrieval.index import build_index, row_norms
from segue.retrieval.norm_tiers import ListBounds
from segue.retrieval.params import default_params
from segue.retrieval.store import load_index, save_index
from tests.retrieval.conftest import clustered_table


def loud_table(n_tracks: int, seed: int = 0) -> np.ndarray:
    """Clustered tracks with log-normal norms: a few loud tracks win many inner products."""
    table = clustered_table(n_tracks, seed=seed)
    scale = np.exp(np.random.default_rng(seed + 1).standard_normal(n_tracks) * 0.8)
    table[1:] *= scale[:, None].astype(np.float32)
    return table


def exact_top(table: np.ndarray, queries: np.ndarray, n: int) -> np.ndarray:
    return np.argsort(-(queries @ table[1:].T), axis=1, kind="stable")[:, :n] + 1


def test_every_list_scanned_gives_the_exact_top_tracks():
    table = loud_table(2000)
    params = default_params(2000, 16, "ivf_flat", nlist=80, nprobe=80, norm_tiers=4)
    index = build_index(table, params)
    assert index.exhaustive and index.bounds is not None
    queries = np.random.default_rng(2).standard_normal((6, 16)).astype(np.float32)
    np.testing.assert_array_equal(index.search(queries, 25), exact_top(table, queries, 25))


def test_lists_hold_one_direction_and_one_norm_tier():
    table = loud_table(3000)
    index = build_index(table, default_params(3000, 16, "ivf_flat", nlist=40, norm_tiers=4))
    bounds = index.bounds
    assert bounds is not None and bounds.directions.shape == (10, 16)
    np.testing.assert_allclose(np.linalg.norm(bounds.directions, axis=1), 1.0, rtol=1e-5)
    norms = row_norms(table[1:])
    edges = np.quantile(norms, [0.25, 0.5, 0.75])
    tier_of_list = np.arange(40) % 4
    filled = bounds.max_norm > 0
    # every list's norms lie inside its tier's range
    low_edge = np.concatenate([[0.0], edges])[tier_of_list]
    high_edge = np.concatenate([edges, [np.inf]])[tier_of_list]
    assert (bounds.min_norm[filled] >= low_edge[filled] - 1e-5).all()
    assert (bounds.max_norm[filled] <= high_edge[filled] + 1e-5).all()


def test_selection_matches_a_naive_reference():
    rng = np.random.default_rng(3)
    directions = rng.standard_normal((7, 5)).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    high = rng.uniform(1, 5, 21).astype(np.float32)
    low = (high * rng.uniform(0.1, 1, 21)).astype(np.float32)
    high[4] = low[4] = 0.0  # an empty list
    bounds = ListBounds(directions, 3, high, low)
    queries = rng.standard_normal((4, 5)).astype(np.float32)
    lists, scores = bounds.select(queries, 6)
    for q, query in enumerate(queries):
        naive = []
        for number in range(21):
            cos = float(directions[number // 3] @ query)
            value = cos * (high[number] if cos > 0 else low[number])
            naive.append(-np.inf if high[number] == 0 else value)
        order = np.argsort(naive)[::-1][:6]
        assert lists[q].tolist() == order.tolist()
        np.testing.assert_allclose(scores[q], np.asarray(naive)[order], rtol=1e-5)


def test_a_loud_track_at_a_wide_angle_is_found_with_few_probes():
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((10, 16))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    members = rng.integers(0, 10, 4000)
    table = np.zeros((4001, 16), dtype=np.float32)
    table[1:] = centres[members] + rng.normal(0, 0.05, (4000, 16))  # tight clusters
    query = centres[0]
    cos = centres @ query
    other = int(np.argsort(cos)[-2])  # the next cluster, at a wide angle from the query
    assert 0.2 < cos[other] < 0.7, cos[other]
    loud = int(np.flatnonzero(members == other)[0]) + 1
    table[loud] *= 3 * float(np.max(table[1:] @ query)) / float(table[loud] @ query)
    assert int(exact_top(table, query[None], 1)[0, 0]) == loud  # the best inner product
    found = {}
    for tiers in (1, 4):
        params = default_params(4000, 16, "ivf_flat", nlist=40, nprobe=2, norm_tiers=tiers)
        found[tiers] = build_index(table, params).search(query[None].astype(np.float32), 10)[0]
    assert loud in found[4]  # its list has the largest bound
    assert loud not in found[1]  # the 2 lists nearest in angle are the query's own cluster's


@pytest.mark.parametrize("kind", ["ivf_flat", "ivf_pq"])
def test_round_trip_recomputes_the_bounds(tmp_path, kind):
    table = loud_table(1500)
    params = default_params(1500, 16, kind, nlist=60, nprobe=9, norm_tiers=4)
    index = build_index(table, params)
    path = save_index(index, tmp_path / "t.faiss")
    loaded = load_index(path, table)
    assert loaded.bounds is not None and index.bounds is not None
    np.testing.assert_array_equal(loaded.bounds.max_norm, index.bounds.max_norm)
    np.testing.assert_array_equal(loaded.bounds.directions, index.bounds.directions)
    queries = table[1:9] + 0.05
    np.testing.assert_array_equal(loaded.search(queries, 30), index.search(queries, 30))
    without_table = load_index(path)
    with pytest.raises(ValueError, match=r"norm tiers.*without the model.s table"):
        without_table.search(queries, 30)


def test_tiers_must_divide_the_lists():
    with pytest.raises(ValueError, match="norm_tiers must be >= 1 and divide nlist"):
        default_params(1000, 16, "ivf_flat", nlist=30, norm_tiers=4)


def test_a_version_1_index_loads_untiered(tmp_path):
    import json

    from segue.retrieval.store import header_path

    table = clustered_table(800)
    params = default_params(800, 16, "ivf_flat", nlist=16, nprobe=4)  # untiered, as v1 built
    index = build_index(table, params)
    path = save_index(index, tmp_path / "old.faiss")
    header = json.loads(header_path(path).read_text())
    header["version"] = 1
    del header["params"]["norm_tiers"]  # a version-1 header has no such key
    header_path(path).write_text(json.dumps(header))
    loaded = load_index(path, table)
    assert loaded.params.norm_tiers == 1 and loaded.bounds is None
    queries = table[1:5] + 0.05
    np.testing.assert_array_equal(loaded.search(queries, 20), index.search(queries, 20))


@pytest.mark.parametrize("nprobe", [1, 7, 30, 61, 199, 200])
def test_two_stage_selection_equals_bounding_every_list(nprobe):
    """Only the best directions' lists are bounded; the chosen lists are those of a naive
    bound of every list, for queries near the directions, away from them (every bound
    negative: the fallback) and with empty lists."""
    rng = np.random.default_rng(nprobe)
    n_dir, tiers, dim = 50, 4, 6
    directions = rng.standard_normal((n_dir, dim)).astype(np.float32)
    directions[:, 0] = np.abs(directions[:, 0]) + 0.5  # all in one half-space
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    high = rng.uniform(1, 5, n_dir * tiers).astype(np.float32)
    low = (high * rng.uniform(0.1, 1, n_dir * tiers)).astype(np.float32)
    empty = rng.choice(n_dir * tiers, 15, replace=False)
    high[empty] = low[empty] = 0.0
    bounds = ListBounds(directions, tiers, high, low)
    queries = rng.standard_normal((6, dim)).astype(np.float32)
    queries[0] = -np.eye(dim, dtype=np.float32)[0]  # points away from every direction
    lists, scores = bounds.select(queries, nprobe)
    cos = np.repeat(queries @ directions.T, tiers, axis=1)  # (B, nlist)
    naive = np.where(cos > 0, cos * high, cos * low)
    naive[:, high == 0] = -np.inf
    for q in range(len(queries)):
        expected = np.argsort(-naive[q], kind="stable")[:nprobe]
        assert sorted(lists[q].tolist()) == sorted(expected.tolist())
        np.testing.assert_allclose(scores[q], naive[q][expected], rtol=1e-5)
        assert (scores[q][:-1] >= scores[q][1:]).all()  # best first
