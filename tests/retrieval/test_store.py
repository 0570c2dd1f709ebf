"""Saving and loading an index: round trip, and refusal of anything that does not match."""

from __future__ import annotations

import json

import numpy as np
import pytest

from segue.retrieval import (
    IndexMismatchError,
    build_index,
    default_params,
    index_path_for,
    load_index,
    save_index,
)
from segue.retrieval.store import header_path
from tests.retrieval.conftest import clustered_table


@pytest.fixture
def saved(tmp_path):
    table = clustered_table(500)
    index = build_index(table, default_params(500, 16, "ivf_flat", nprobe=3))
    return table, index, save_index(index, tmp_path / "best.faiss")


@pytest.mark.parametrize(
    ("kind", "overrides"),
    [
        ("flat", {}),
        ("ivf_flat", {}),
        ("ivf_pq", {}),  # 4-bit fast-scan codes, the default
        ("ivf_pq", {"pq_bits": 5, "pq_m": 8}),  # classic IVF-PQ
        ("ivf_flat", {"coarse_hnsw": True}),
        ("hnsw", {}),
    ],
)
def test_round_trip_keeps_parameters_and_results(tmp_path, kind, overrides):
    table = clustered_table(500)
    params = default_params(500, 16, kind, **overrides)
    index = build_index(table, params)
    path = save_index(index, tmp_path / "m.faiss")
    loaded = load_index(path, table)
    assert loaded.params == index.params and loaded.checksum == index.checksum
    queries = table[1:9] + 0.05
    np.testing.assert_array_equal(loaded.search(queries, 30), index.search(queries, 30))
    header = json.loads(header_path(path).read_text())
    assert header["format"] == "segue-track-index" and header["n_tracks"] == 500


def test_index_of_another_model_is_refused(saved):
    table, _, path = saved
    with pytest.raises(IndexMismatchError, match="other embeddings"):
        load_index(path, table + np.float32(1e-3))
    with pytest.raises(IndexMismatchError, match="499 tracks"):
        load_index(path, table[:500])
    with pytest.raises(IndexMismatchError, match="8 dims"):
        load_index(path, np.ascontiguousarray(table[:, :8]))


def test_tampered_or_truncated_index_file_is_refused(saved):
    _, _, path = saved
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexMismatchError, match="altered"):
        load_index(path)
    path.write_bytes(bytes(data[:100]))
    with pytest.raises(IndexMismatchError, match="altered"):
        load_index(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"format": "pickle"}, "not a segue index header"),
        ({"version": 99}, "newer segue"),
        ({"params": {"kind": "flat", "exec": "x"}}, "unknown index parameters"),
        ({"n_tracks": 400}, "header says"),
    ],
)
def test_bad_headers_are_refused(saved, edit, message):
    _, _, path = saved
    header = json.loads(header_path(path).read_text())
    header.update(edit)
    header_path(path).write_text(json.dumps(header))
    with pytest.raises((IndexMismatchError, ValueError), match=message):
        load_index(path)


def test_missing_files_are_named(tmp_path, saved):
    _, _, path = saved
    header_path(path).unlink()
    with pytest.raises(FileNotFoundError, match="json"):
        load_index(path)
    with pytest.raises(FileNotFoundError, match=r"nothing\.faiss"):
        load_index(tmp_path / "nothing.faiss")


def test_default_location_is_next_to_the_model():
    assert index_path_for("runs/7/best.pt").name == "best.faiss"


def test_index_files_are_shared_modes_and_stale_temporaries_go(tmp_path):
    """Like every file segue writes: 0644 whatever the umask, and a killed write's leftovers
    (this pid's prefix, older than the stale age) are removed by the next save."""
    import os
    import time

    from segue.io.atomic_write import STALE_SECONDS, temporary_prefix

    path = tmp_path / "best.faiss"
    leftover = tmp_path / f"{temporary_prefix(path)}deadbeef.tmp"  # mkstemp-shaped
    leftover.write_bytes(b"partial")
    old = time.time() - 2 * STALE_SECONDS
    os.utime(leftover, (old, old))
    table = clustered_table(500)
    index = build_index(table, default_params(500, 16, "flat"))
    previous = os.umask(0o077)
    try:
        save_index(index, path)
    finally:
        os.umask(previous)
    assert (path.stat().st_mode & 0o777, header_path(path).stat().st_mode & 0o777) == (
        0o644,
        0o644,
    )
    assert not leftover.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, header_path(path).name]


def test_an_index_saved_with_a_coarse_graph_searches_lists_exactly(tmp_path):
    """Files written before searches compared every centroid still hold the HNSW quantizer:
    loading gives them the exact one, so a full scan is exhaustive again."""
    import faiss

    from segue.retrieval.index import TrackIndex

    table = clustered_table(500)
    params = default_params(500, 16, nlist=12, nprobe=12, coarse_hnsw=True)
    raw = faiss.index_factory(16, "IVF12_HNSW32,Flat", faiss.METRIC_INNER_PRODUCT)
    raw.train(table[1:])
    raw.add(table[1:])
    from segue.retrieval.index import table_checksum

    path = save_index(TrackIndex(raw, params, 500, 16, table_checksum(table)), tmp_path / "o.faiss")
    loaded = load_index(path, table)
    quantizer = faiss.downcast_index(faiss.extract_index_ivf(loaded.index).quantizer)
    assert isinstance(quantizer, faiss.IndexFlatIP) and loaded.exhaustive
    queries = table[1:6] + 0.05
    scores = queries @ table[1:].T
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :20] + 1
    np.testing.assert_array_equal(loaded.search(queries, 20), expected)
