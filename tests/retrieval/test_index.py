"""The FAISS index: exhaustive kinds return the exact inner-product top list, offsets by one."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from segue.retrieval.index import build_index, table_checksum
from segue.retrieval.params import default_params
from tests.retrieval.conftest import clustered_table


def exact_top(table: np.ndarray, queries: np.ndarray, n: int) -> np.ndarray:
    scores = queries @ table[1:].T  # (B, N)
    return np.argsort(-scores, axis=1, kind="stable")[:, :n] + 1


@pytest.mark.parametrize("overrides", [{"kind": "flat"}, {"kind": "ivf_flat", "nprobe": 25}])
def test_exhaustive_index_returns_the_exact_top_tracks(overrides):
    table = clustered_table(1000)
    params = default_params(1000, 16, **overrides)
    index = build_index(table, params)
    assert index.exhaustive
    queries = np.random.default_rng(1).standard_normal((5, 16)).astype(np.float32)
    np.testing.assert_array_equal(index.search(queries, 20), exact_top(table, queries, 20))


def test_padding_is_never_indexed_and_short_results_pad_with_zero():
    table = clustered_table(50)
    table[0] = 100.0  # a padding row that would win every query if it were indexed
    index = build_index(table, default_params(50, 16, "flat"))
    found = index.search(table[1:3], 80)  # more than the catalogue
    assert found.shape == (2, 50) and (found > 0).all() and found.max() == 50


@pytest.mark.parametrize("kind", ["ivf_flat", "ivf_pq", "hnsw"])
def test_approximate_kinds_find_most_of_the_true_neighbours(kind):
    table = clustered_table(3000)
    params = default_params(3000, 16, kind, pq_bits=6 if kind == "ivf_pq" else 8)
    index = build_index(table, params)
    assert not index.exhaustive and index.nbytes > 0
    queries = table[1:21] + 0.1
    found = index.search(queries, 50)
    recall = np.mean(
        [len(set(f) & set(e)) / 10 for f, e in zip(found, exact_top(table, queries, 10))]
    )
    assert recall >= 0.9, recall


def test_widening_scans_more_lists():
    table = clustered_table(2000)
    index = build_index(table, default_params(2000, 16, nprobe=1, candidates=10))
    queries = table[1:11]
    narrow, wide = index.search(queries, 200), index.search(queries, 200, widen=64)
    assert (wide > 0).sum() >= (narrow > 0).sum()
    assert (wide > 0).all()  # every list scanned: 200 results always exist


def test_checksum_changes_with_any_value_and_the_shape():
    table = clustered_table(100)
    other = table.copy()
    other[57, 3] += 1e-6
    assert table_checksum(table) != table_checksum(other)
    assert table_checksum(table[:50]) != table_checksum(table)
    with pytest.raises(ValueError, match="float32"):
        table_checksum(table.astype(np.float64))


def test_bad_tables_and_parameters_are_refused_before_building():
    with pytest.raises(ValueError, match="n_tracks"):
        build_index(np.zeros((1, 8), np.float32))
    with pytest.raises(ValueError, match="nlist"):
        build_index(clustered_table(10), default_params(10, 16, nlist=50, nprobe=1))
    with pytest.raises(ValueError, match="pq_m"):
        build_index(clustered_table(500), default_params(500, 16, "ivf_pq", pq_m=5))
    index = build_index(clustered_table(20), default_params(20, 16, "flat"))
    with pytest.raises(ValueError, match="queries"):
        index.search(np.zeros((2, 8), np.float32), 5)


def test_a_coarse_graph_only_builds_searches_choose_lists_exactly():
    """Large catalogues assign tracks to lists through an HNSW graph over the centroids; the
    built index compares queries with every centroid, so scanning every list is exhaustive."""
    assert default_params(10_000_000, 64).coarse_hnsw and not default_params(10_000, 64).coarse_hnsw
    table = clustered_table(3000)
    params = default_params(3000, 16, coarse_hnsw=True, nprobe=76)
    index = build_index(table, params)
    assert params.nprobe == params.nlist and index.exhaustive
    quantizer = faiss.downcast_index(faiss.extract_index_ivf(index.index).quantizer)
    assert isinstance(quantizer, faiss.IndexFlatIP) and quantizer.ntotal == params.nlist
    queries = np.random.default_rng(3).standard_normal((6, 16)).astype(np.float32)
    np.testing.assert_array_equal(index.search(queries, 30), exact_top(table, queries, 30))


def test_two_level_training_for_many_lists(monkeypatch):
    """From TWO_LEVEL_FROM lists the centroids come from two levels of spherical k-means."""
    monkeypatch.setattr("segue.retrieval.index.TWO_LEVEL_FROM", 16)
    table = clustered_table(4000)
    params = default_params(4000, 16, "ivf_pq", nlist=64, nprobe=16, pq_m=8)
    index = build_index(table, params)
    centroids = faiss.extract_index_ivf(index.index).quantizer.reconstruct_n(0, 64)
    np.testing.assert_allclose(np.linalg.norm(centroids, axis=1), 1.0, rtol=1e-5)  # spherical
    queries = table[1:21] + 0.1
    assert _recall(index.search(queries, 100), exact_top(table, queries, 10)) >= 0.9


def test_spherical_centroids_have_unit_norm_and_plain_ones_do_not():
    table = clustered_table(2000) * 3.0
    for spherical in (True, False):
        params = default_params(2000, 16, nlist=20, nprobe=2, spherical=spherical)
        index = build_index(table, params)  # kept alive: the quantizer belongs to it
        quantizer = faiss.extract_index_ivf(index.index).quantizer
        norms = np.linalg.norm(quantizer.reconstruct_n(0, 20), axis=1)
        assert np.allclose(norms, 1.0, rtol=1e-4) == spherical


def _recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / exact.shape[1] for f, e in zip(found, exact)]))
