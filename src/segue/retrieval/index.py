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

from segue.retrieval.norm_tiers import (
    ListBounds,
    add_to_lists,
    bounds_from_index,
    list_norm_range,
    search_lists,
    tier_of,
    use_fast_kernel,
)
from segue.retrieval.params import TWO_LEVEL_FROM, IndexParams, default_params

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
        bounds: For an index with norm tiers (``params.norm_tiers > 1``), what its lists are
            probed by; None for other indexes, and for a tiered index loaded without the
            model's table (it cannot be searched then).
    """

    index: faiss.Index
    params: IndexParams
    n_tracks: int
    dim: int
    checksum: str
    build_seconds: float = 0.0
    bounds: ListBounds | None = None

    @property
    def exhaustive(self) -> bool:
        """True when a search scans every track, so retrieval returns the exact top list.

        Lists are always chosen by an exact comparison with every centroid at search time
        (:func:`exact_list_selection`), so IVF-Flat with ``nprobe == nlist`` scans everything.
        """
        p = self.params
        return p.kind == "flat" or (p.kind == "ivf_flat" and p.nprobe >= p.nlist)

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
        if self.params.tiered:
            labels = self._search_tiered(queries, n, widen)
        else:
            _, labels = self.index.search(queries, n, params=self._search_params(n, widen))
        return labels + 1  # row i is track i + 1; -1 (nothing found) becomes 0, the padding

    def _search_tiered(self, queries: np.ndarray, n: int, widen: int) -> np.ndarray:
        if self.bounds is None:
            raise ValueError(
                "this index has norm tiers and was loaded without the model's table: load it "
                "with load_index(path, table) (Recommender.load(..., index=...) does)"
            )
        lists, _ = self.bounds.select(queries, min(self.params.nlist, self.params.nprobe * widen))
        # by_residual is off, so the lists' coarse scores do not enter the codes' scores
        zeros = np.zeros(lists.shape, dtype=np.float32)
        return search_lists(self.index, queries, n, lists, zeros)

    def _search_params(self, n: int, widen: int) -> Any:
        p = self.params
        if p.kind in ("ivf_flat", "ivf_pq"):
            nprobe = min(p.nlist, p.nprobe * widen)
            return faiss.SearchParametersIVF(nprobe=nprobe)  # type: ignore[call-arg]
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
    if params.tiered:
        index, bounds = _build_tiered(tracks, params)
        seconds = time.perf_counter() - start
        return TrackIndex(index, params, n, dim, table_checksum(table), seconds, bounds)
    index = _new_index(params, dim)
    if not index.is_trained:
        sample = _training_sample(tracks, params)
        if params.nlist >= TWO_LEVEL_FROM:
            _two_level_centroids(index, sample, params)
        index.train(sample)  # the lists' centroids when not set above, the PQ codebooks
    for first in range(0, n, CHECKSUM_BLOCK_ROWS * 4):  # add in blocks: no contiguous copy
        index.add(np.ascontiguousarray(tracks[first : first + CHECKSUM_BLOCK_ROWS * 4]))
    exact_list_selection(index)
    seconds = time.perf_counter() - start
    return TrackIndex(index, params, n, dim, table_checksum(table), seconds)


def _build_tiered(tracks: np.ndarray, params: IndexParams) -> tuple[Any, ListBounds]:
    """An IVF index whose lists are (direction, norm tier), see :mod:`.norm_tiers`."""
    dim = tracks.shape[1]
    tiers = params.norm_tiers
    sample = _training_sample(tracks, params)
    directions = _directions(sample, params.nlist // tiers, params)  # (n_dir, D), unit
    norms = row_norms(tracks)  # (N,)
    tier, _ = tier_of(norms, tiers)
    lists = _nearest_direction(tracks, directions, params.coarse_hnsw) * tiers + tier  # (N,)
    quantizer: Any = faiss.IndexFlatIP(dim)
    quantizer.add(np.ascontiguousarray(np.repeat(directions, tiers, axis=0)))  # list d*T + t
    if params.kind == "ivf_pq":
        built: Any = faiss.IndexIVFPQ(
            quantizer, dim, params.nlist, params.pq_m, params.pq_bits, faiss.METRIC_INNER_PRODUCT
        )
        built.by_residual = False  # one lookup table per query for all lists (module doc)
        built.do_polysemous_training = False
    else:
        built = faiss.IndexIVFFlat(quantizer, dim, params.nlist, faiss.METRIC_INNER_PRODUCT)
    built.train(sample)  # the quantizer is full: only the PQ codebooks are trained
    add_to_lists(built, tracks, lists)
    if params.kind == "ivf_pq" and params.pq_bits == 4:
        built = faiss.IndexIVFPQFastScan(built)  # the SIMD layout; shares the quantizer
        use_fast_kernel(built)
    quantizer.this.disown()  # the returned index frees it
    built.own_fields = True
    high, low = list_norm_range(lists, norms, params.nlist)
    return built, ListBounds(directions, tiers, high, low)


def _directions(sample: np.ndarray, n_dir: int, params: IndexParams) -> np.ndarray:
    """Unit direction centroids by spherical k-means, two-level from ``TWO_LEVEL_FROM``."""
    if n_dir >= TWO_LEVEL_FROM:
        centroids = _two_level_kmeans(sample, n_dir, spherical=True, seed=params.seed)
    else:
        kmeans: Any = faiss.Kmeans(sample.shape[1], n_dir, spherical=True, seed=params.seed)
        kmeans.train(sample)
        centroids = kmeans.centroids
    centroids = np.ascontiguousarray(centroids, dtype=np.float32)
    faiss.normalize_L2(centroids)
    return centroids


def _nearest_direction(tracks: np.ndarray, directions: np.ndarray, graph: bool) -> np.ndarray:
    """Each track's nearest direction in angle, (N,) int64; through an HNSW graph when
    ``graph`` (exhaustively 10M x 25k is 1.6e13 multiply-adds, see ``HNSW_COARSE_FROM``)."""
    dim = directions.shape[1]
    search: Any = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT) if graph else None
    if search is not None:
        search.hnsw.efSearch = 16  # FAISS's default for IVF assignment: 64 took 4x longer
    else:
        search = faiss.IndexFlatIP(dim)
    search.add(directions)
    out = np.empty(tracks.shape[0], dtype=np.int64)
    for first in range(0, tracks.shape[0], CHECKSUM_BLOCK_ROWS * 4):
        block = np.ascontiguousarray(tracks[first : first + CHECKSUM_BLOCK_ROWS * 4])
        _, nearest = search.search(block, 1)
        out[first : first + len(block)] = nearest[:, 0]
    return out


def row_norms(table: np.ndarray) -> np.ndarray:
    """Euclidean norm of each row, (N,) float32, computed in blocks (no full-size temporary).

    >>> row_norms(np.array([[3.0, 4.0], [0.0, 1.0]], np.float32)).tolist()
    [5.0, 1.0]
    """
    out = np.empty(table.shape[0], dtype=np.float32)
    for first in range(0, table.shape[0], CHECKSUM_BLOCK_ROWS):
        block = table[first : first + CHECKSUM_BLOCK_ROWS]
        out[first : first + len(block)] = np.sqrt(np.einsum("ij,ij->i", block, block))
    return out


def tiered_bounds(index: Any, params: IndexParams, table: np.ndarray) -> ListBounds | None:
    """The probing bounds of a loaded index with norm tiers (None for other indexes)."""
    if not params.tiered:
        return None
    use_fast_kernel(index)
    return bounds_from_index(index, params.norm_tiers, row_norms(np.asarray(table)[1:]))


def factory_string(params: IndexParams) -> str:
    """FAISS ``index_factory`` description of ``params``; 4-bit PQ codes use FAISS's SIMD
    "fast scan" layout (``fs``), which scans codes from registers instead of table lookups.

    >>> factory_string(IndexParams("ivf_pq", nlist=4000, nprobe=64, pq_m=32, pq_bits=8))
    'IVF4000,PQ32x8'
    >>> factory_string(IndexParams("ivf_pq", nlist=50596, nprobe=448, pq_m=32, coarse_hnsw=True))
    'IVF50596_HNSW32,PQ32x4fs'
    """
    if params.kind == "flat":
        return "Flat"
    if params.kind == "hnsw":
        return f"HNSW{params.hnsw_m},Flat"
    coarse = f"IVF{params.nlist}_HNSW32" if params.coarse_hnsw else f"IVF{params.nlist}"
    if params.kind == "ivf_flat":
        return f"{coarse},Flat"
    fast_scan = "fs" if params.pq_bits == 4 else ""
    return f"{coarse},PQ{params.pq_m}x{params.pq_bits}{fast_scan}"


def faiss_class(params: IndexParams) -> str:
    """Name of the FAISS class that ``params`` build (checked when an index is loaded).

    >>> faiss_class(IndexParams("ivf_pq", nlist=10, nprobe=1, pq_m=8))
    'IndexIVFPQFastScan'
    """
    if params.kind == "ivf_pq":
        return "IndexIVFPQFastScan" if params.pq_bits == 4 else "IndexIVFPQ"
    return {"flat": "IndexFlatIP", "ivf_flat": "IndexIVFFlat", "hnsw": "IndexHNSWFlat"}[params.kind]


def exact_list_selection(index: Any) -> None:
    """Give an IVF index an exact coarse quantizer over its centroids, in place.

    An HNSW graph over the centroids (``coarse_hnsw``) makes assigning millions of tracks to
    lists cheap while building, but at search time the exact comparison is cheaper than the
    graph (25,298 centroids x 64 dims is 1.6M multiply-adds, ~0.2 ms; the graph needs a search
    breadth of at least ``nprobe``, thousands of lists at 10M tracks) and it never misses a
    list. A no-op for other indexes and for IVF indexes whose quantizer is already exact.
    """
    try:
        ivf: Any = faiss.extract_index_ivf(index)
    except RuntimeError:  # not an IVF index
        return
    old: Any = faiss.downcast_index(ivf.quantizer)
    if isinstance(old, faiss.IndexFlat):
        return
    flat: Any = faiss.IndexFlatIP(ivf.d)
    flat.add(old.reconstruct_n(0, ivf.nlist))  # (nlist, D): the same centroids, same order
    if ivf.own_fields:
        old.this.acquire()  # the IVF index owned its quantizer: Python frees it now
    ivf.quantizer = flat
    flat.this.disown()  # ...and the IVF index owns the new one
    ivf.own_fields = True


def _new_index(params: IndexParams, dim: int) -> Any:
    index: Any = faiss.index_factory(dim, factory_string(params), faiss.METRIC_INNER_PRODUCT)
    if params.kind == "hnsw":
        index.hnsw.efConstruction = params.ef_construction
    elif params.kind != "flat":
        ivf: Any = faiss.extract_index_ivf(index)
        ivf.cp.seed = params.seed  # reproducible k-means
        # Inner-product k-means without normalised centroids collapses onto a few long
        # centroids (recall 0.83 against 0.97 spherical at 1M, benchmarks/retrieval.py);
        # with unit centroids a track joins, and a query scans, the lists nearest in angle.
        ivf.cp.spherical = params.spherical
    if params.kind == "ivf_pq" and params.pq_bits != 4:
        # The factory turns on polysemous training (a Hamming-distance filter we never use),
        # which anneals for minutes: off.
        ivf_pq: Any = faiss.downcast_index(index)
        ivf_pq.do_polysemous_training = False
    return index


def _two_level_centroids(index: Any, sample: np.ndarray, params: IndexParams) -> None:
    """Set an untiered IVF index's ``nlist`` centroids from :func:`_two_level_kmeans`."""
    centroids = _two_level_kmeans(sample, params.nlist, params.spherical, params.seed)
    ivf: Any = faiss.extract_index_ivf(index)
    ivf.quantizer.add(centroids)  # (nlist, D)


def _two_level_kmeans(sample: np.ndarray, k: int, spherical: bool, seed: int) -> np.ndarray:
    """``k`` centroids trained in two levels: ``sqrt(k)`` coarse clusters, then each split,
    (k, D) float32, unit rows when ``spherical``.

    One-level k-means costs ``rows x k x D`` per iteration, and rows grow with k: 2M rows x 50k
    centroids is 6.5e12 multiply-adds an iteration. Two levels cost ``rows x sqrt(k) x D``
    (FAISS's ``two_level_clustering``, sub-cluster counts in proportion to the coarse
    clusters' sizes).
    """
    from faiss.contrib.clustering import two_level_clustering

    centroids, _ = two_level_clustering(
        sample, max(2, round(k**0.5)), k, spherical=spherical, seed=seed
    )
    centroids = np.ascontiguousarray(centroids, dtype=np.float32)
    if spherical:
        faiss.normalize_L2(centroids)
    return centroids


def _training_sample(tracks: np.ndarray, params: IndexParams) -> np.ndarray:
    """``params.train_rows`` rows drawn without replacement (all rows if fewer), (n, D)."""
    n = tracks.shape[0]
    rows = params.train_rows or n
    if rows >= n:
        return np.ascontiguousarray(tracks)
    pick = np.sort(np.random.default_rng(params.seed).choice(n, size=rows, replace=False))
    return np.ascontiguousarray(tracks[pick])
