"""A FAISS index over the track embeddings: build, search, and what it was built from.

The model scores a track by the dot product of the listener vector with the track's output
embedding, with no per-track bias (:mod:`segue.models.transformer`), so the index uses FAISS's
inner-product metric on the embeddings as they are: an exhaustive index ("flat", or IVF with
``nprobe == nlist``) returns exactly the model's top tracks. (A model with a per-track bias
would index ``[e, b]`` and query with ``[h, 1]``; segue's models have none.)

Row ``i`` of the index is track index ``i + 1``: the padding row 0 is never indexed, so a search
can never return it, and FAISS's ``-1`` (fewer results than asked) becomes 0, the padding index,
which callers already treat as "no track".
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np

from segue.retrieval.params import IndexParams, default_params

CHECKSUM_BLOCK_ROWS = 1 << 16
"""Rows hashed at once: the checksum never copies the whole table."""


@dataclass
class TrackIndex:
    """A built or loaded index and the facts needed to check it against a model.

    Args:
        index: The FAISS index over tracks 1..n_tracks (row i = track i + 1).
        params: How it was built and is searched.
        n_tracks: Tracks indexed.
        dim: Embedding width.
        checksum: SHA-256 of the float32 table (padding row included) it was built from.
        build_seconds: Wall time of the build (0 for a loaded index).
    """

    index: faiss.Index
    params: IndexParams
    n_tracks: int
    dim: int
    checksum: str
    build_seconds: float = 0.0

    @property
    def exhaustive(self) -> bool:
        """True when a search scans every track, so retrieval returns the exact top list."""
        p = self.params
        return p.kind == "flat" or (
            p.kind == "ivf_flat" and p.nprobe >= p.nlist and not p.coarse_hnsw
        )

    @property
    def nbytes(self) -> int:
        """Bytes of the index as FAISS serializes it (codes, lists, centroids, graph)."""
        return int(faiss.serialize_index(self.index).nbytes)

    def search(self, queries: np.ndarray, n: int, widen: int = 1) -> np.ndarray:
        """The (at most) ``n`` best track indices of each query, (B, n) int64; 0 pads.

        Search-time knobs are passed per call (FAISS ``SearchParameters``), never set on the
        shared index, so concurrent requests do not race.

        Args:
            queries: Listener vectors, (B, D) float32.
            n: Candidates per query.
            widen: Scan this many times more IVF lists / HNSW candidates than ``params`` say:
                a second try when constraints removed too many candidates.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"queries must be (B, {self.dim}), got {queries.shape}")
        n = min(n, self.n_tracks)
        _, labels = self.index.search(queries, n, params=self._search_params(n, widen))
        return labels + 1  # row i is track i + 1; -1 (nothing found) becomes 0, the padding

    def _search_params(self, n: int, widen: int) -> Any:
        p = self.params
        if p.kind in ("ivf_flat", "ivf_pq"):
            nprobe = min(p.nlist, p.nprobe * widen)
            if not p.coarse_hnsw:
                return faiss.SearchParametersIVF(nprobe=nprobe)  # type: ignore[call-arg]
            # The centroid graph must keep at least nprobe candidates to return nprobe lists.
            graph = faiss.SearchParametersHNSW(efSearch=2 * nprobe)  # type: ignore[attr-defined]
            return faiss.SearchParametersIVF(nprobe=nprobe, quantizer_params=graph)  # type: ignore[call-arg]
        if p.kind == "hnsw":
            return faiss.SearchParametersHNSW(efSearch=max(p.ef_search * widen, n))  # type: ignore[attr-defined]
        return None


def table_checksum(table: np.ndarray) -> str:
    """SHA-256 of a float32 table's bytes, shape included, hashed in blocks of rows.

    >>> table_checksum(np.zeros((2, 3), np.float32))[:12]
    'c9bea1934944'
    """
    table = np.asarray(table)
    if table.dtype != np.float32 or table.ndim != 2:
        raise ValueError(f"expected a (V, D) float32 table, got {table.dtype} {table.shape}")
    digest = hashlib.sha256(f"{table.shape[0]}x{table.shape[1]}".encode())
    for start in range(0, table.shape[0], CHECKSUM_BLOCK_ROWS):
        digest.update(np.ascontiguousarray(table[start : start + CHECKSUM_BLOCK_ROWS]).data)
    return digest.hexdigest()


def build_index(
    table: np.ndarray, params: IndexParams | None = None, threads: int | None = None
) -> TrackIndex:
    """Index the tracks of a catalogue embedding table.

    Args:
        table: Output embeddings, (V, D) float32 with V = n_tracks + 1; row 0 is padding and
            is not indexed.
        params: Index parameters; None sizes them from the table (:func:`default_params`).
        threads: FAISS OpenMP threads while building (None: FAISS's default, all cores).
    """
    table = np.asarray(table)
    if table.ndim != 2 or table.shape[0] < 2:
        raise ValueError(f"table must be (n_tracks + 1, D) with n_tracks >= 1, got {table.shape}")
    table = table.astype(np.float32, copy=False)
    tracks = table[1:]  # (N, D): a view, padding left out
    n, dim = tracks.shape
    params = params or default_params(n, dim)
    if params.kind in ("ivf_flat", "ivf_pq") and params.nlist > n:
        raise ValueError(f"nlist={params.nlist} is larger than the catalogue ({n} tracks)")
    if params.kind == "ivf_pq" and dim % params.pq_m:
        raise ValueError(f"pq_m={params.pq_m} does not divide the embedding width {dim}")
    if threads is not None:
        faiss.omp_set_num_threads(threads)
    start = time.perf_counter()
    index = _new_index(params, dim)
    if not index.is_trained:
        index.train(_training_sample(tracks, params))
    for first in range(0, n, CHECKSUM_BLOCK_ROWS * 4):  # add in blocks: no contiguous copy
        index.add(np.ascontiguousarray(tracks[first : first + CHECKSUM_BLOCK_ROWS * 4]))
    seconds = time.perf_counter() - start
    return TrackIndex(index, params, n, dim, table_checksum(table), seconds)


def factory_string(params: IndexParams) -> str:
    """FAISS ``index_factory`` description of ``params``.

    >>> factory_string(IndexParams("ivf_pq", nlist=4000, nprobe=64, pq_m=32))
    'IVF4000,PQ32x8'
    >>> factory_string(IndexParams("ivf_flat", nlist=12649, nprobe=448, coarse_hnsw=True))
    'IVF12649_HNSW32,Flat'
    """
    if params.kind == "flat":
        return "Flat"
    if params.kind == "hnsw":
        return f"HNSW{params.hnsw_m},Flat"
    coarse = f"IVF{params.nlist}_HNSW32" if params.coarse_hnsw else f"IVF{params.nlist}"
    if params.kind == "ivf_flat":
        return f"{coarse},Flat"
    return f"{coarse},PQ{params.pq_m}x{params.pq_bits}"


def _new_index(params: IndexParams, dim: int) -> Any:
    index: Any = faiss.index_factory(dim, factory_string(params), faiss.METRIC_INNER_PRODUCT)
    if params.kind == "hnsw":
        index.hnsw.efConstruction = params.ef_construction
    elif params.kind != "flat":
        faiss.extract_index_ivf(index).cp.seed = params.seed  # reproducible k-means
    if params.kind == "ivf_pq":
        # The factory turns on polysemous training (a Hamming-distance filter we never use),
        # which anneals for minutes: off.
        ivf_pq: Any = faiss.downcast_index(index)
        ivf_pq.do_polysemous_training = False
    return index


def _training_sample(tracks: np.ndarray, params: IndexParams) -> np.ndarray:
    """``params.train_rows`` rows drawn without replacement (all rows if fewer), (n, D)."""
    n = tracks.shape[0]
    rows = params.train_rows or n
    if rows >= n:
        return np.ascontiguousarray(tracks)
    pick = np.sort(np.random.default_rng(params.seed).choice(n, size=rows, replace=False))
    return np.ascontiguousarray(tracks[pick])
