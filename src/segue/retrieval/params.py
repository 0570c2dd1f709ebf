"""Index kinds and their parameters, sized from the catalogue by default.

The defaults follow FAISS's own guidance (wiki "Guidelines to choose an index") and were then
checked by ``benchmarks/retrieval.py`` on its clustered, popularity-skewed tables (README
"Scale" has the figures and commands):

* IVF: ``8 sqrt(N)`` direction centroids (8,000 at 1M tracks, 25,298 at 10M), each cut into
  ``NORM_TIERS`` lists by track norm from 20k tracks (:mod:`segue.retrieval.norm_tiers`: lists
  probed by the best inner product they can hold, so loud tracks at wider angles are found;
  ``nlist`` counts the lists, 32,000 at 1M). The directions are trained by spherical k-means on
  ``40`` sampled rows per direction (FAISS warns below 39 per centroid). Inner-product k-means
  without unit centroids collapses onto a few long centroids (recall 0.83 against 0.97 at 1M);
  unit centroids put a track, and send a query, to the lists nearest in angle. The share of the
  exact top-10 lying in the scanned tenth of the lists at 10M was 0.955 / 0.977 / 0.988 with 4 / 8
  / 16 sqrt(N) lists (1M, after the re-rank: 0.990 / 0.993 / 0.993); each scanned list costs ~0.8
  us of fast-scan setup, so 8 sqrt(N) is the middle of FAISS's 4-16 range. From 4,096 lists the
  centroids are trained in two levels, from 8,192 the catalogue is assigned to its lists through
  an HNSW graph over them (build time only: searches compare the query with every centroid).
* ``nprobe``: a *fraction* of the lists, because the share of the true top tracks inside the
  scanned lists follows the fraction scanned, not a multiple of ``sqrt(nlist)`` (which scanned
  9.5% of the lists at 1M but 5.3% at 10M, recall 0.943). With norm tiers 2% of the lists up to
  1M tracks (``TIERED_PROBE_FRACTION``); without, a tenth; doubled for each tenfold beyond
  (:func:`growth`). The figures in this paragraph before were measured without tiers.
* IVF-PQ: ``m = D / 2`` sub-quantizers of 4 bits in FAISS's SIMD fast-scan layout (16 bytes of
  code per track at D = 64, plus its 8-byte id); PQ scores are coarse, so the best 1,000 by PQ
  score are re-ranked exactly up to 1M tracks (recall@10 0.979 / 0.990 / 0.991 with 300 / 1,000
  / 3,000 at 1M), three times more per tenfold beyond (3,000 at 10M: recall 0.984 with norm
  tiers, 0.979 with 2,000 and 0.985 with 4,000 at 1.1 ms more p99).
* HNSW: ``M = 32`` links per node, ``efConstruction = 80``, ``efSearch`` a few times the
  number of candidates.

Every field can be overridden with ``dataclasses.replace`` or by passing an ``IndexParams``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

IndexKind = Literal["flat", "ivf_flat", "ivf_pq", "hnsw"]
INDEX_KINDS: tuple[str, ...] = ("flat", "ivf_flat", "ivf_pq", "hnsw")

EXHAUSTIVE_BELOW = 50_000
"""Catalogues with fewer tracks are scored exhaustively even when an index is attached: below
this size one GEMV over the table costs about as much as a probe plus an exact re-rank, and the
sized index is coarse (IVF-PQ at 30k tracks: CPU 3.35 ms exhaustive vs 2.65 ms, recall 0.928;
100k: 4.65 vs 2.84 ms, recall 0.996; ``benchmarks/retrieval.py --crossover``, README "Scale")."""

HNSW_COARSE_FROM = 8192
"""IVF indexes with at least this many lists assign the catalogue to its lists through an HNSW
graph over the centroids while building: assigning 10M tracks to 25,298 lists by brute force is
1.6e13 multiply-adds, over half an hour on one core of this loaded machine. Searches still compare
the query with every centroid (:func:`segue.retrieval.index.exact_list_selection`)."""

TWO_LEVEL_FROM = 4096
"""IVF indexes with at least this many lists train their centroids in two levels of k-means
(``sqrt(nlist)`` clusters, then each split), whose cost grows with ``sqrt(nlist)`` instead of
``nlist`` per training row."""

LISTS_PER_SQRT_N = 8
"""IVF lists per square root of the catalogue size (FAISS suggests 4 to 16)."""

PROBE_FRACTION = 0.1
"""IVF lists scanned per query up to 1M tracks, as a fraction of ``nlist``; doubled per 10x
more tracks (:func:`growth`)."""

PQ_CANDIDATES = 1000
"""IVF-PQ candidates re-ranked exactly up to 1M tracks; tripled per 10x more tracks."""

NORM_TIERS = 4
"""Norm tiers per direction of the sized IVF indexes (:mod:`segue.retrieval.norm_tiers`)."""

NORM_TIERS_FROM = 20_000
"""Smaller catalogues get one list per direction: tiers would leave lists of a handful of
tracks (4 tiers of 8 sqrt(N) directions hold N / (32 sqrt(N)) tracks a list, 4 at 20k)."""

TIERED_PROBE_FRACTION = 0.02
"""Lists probed up to 1M tracks when lists are cut by norm and probed by their score bound:
2% of the lists scanned about 2% of the codes for recall@10 0.994 at 1M, where probing by angle
needed 10% for 0.990 (:mod:`segue.retrieval.norm_tiers`). Doubled per 10x, like ``nprobe``."""

TRAIN_ROWS_PER_LIST = 40
"""k-means training rows per IVF list: FAISS warns below 39. More rows cost build time in
proportion (k-means is the longest step of an IVF build) for centroids that barely move."""


@dataclass(frozen=True)
class IndexParams:
    """How to build and search an index over the track embeddings.

    Args:
        kind: "flat" (exhaustive, the exact reference), "ivf_flat", "ivf_pq" or "hnsw".
        candidates: Tracks fetched from the index per query and re-ranked exactly; a request
            asks for at least ``4 k`` plus its exclusions.
        nlist: IVF lists (IVF kinds).
        nprobe: IVF lists scanned per query (IVF kinds); ``nprobe == nlist`` is exhaustive.
        pq_m: Sub-quantizers of IVF-PQ; must divide the embedding width.
        pq_bits: Bits per sub-quantizer code (IVF-PQ).
        hnsw_m: Links per HNSW node.
        ef_construction: HNSW candidate list while building.
        ef_search: HNSW candidate list while searching (>= ``candidates``).
        train_rows: Rows sampled to train IVF centroids and PQ codebooks.
        coarse_hnsw: Assign the catalogue to IVF lists with an HNSW graph over the centroids
            while building (large ``nlist``); searches compare with every centroid anyway.
        spherical: Spherical k-means (unit centroids), so that tracks and queries meet in the
            lists nearest in angle; False is FAISS's plain inner-product k-means.
        norm_tiers: IVF kinds: norm tiers per direction (:mod:`segue.retrieval.norm_tiers`):
            ``nlist / norm_tiers`` direction centroids, each cut into this many lists by track
            norm, probed by the best score a list can hold. 1: one list per centroid, probed
            by angle (FAISS's plain IVF, residual PQ codes).
        seed: Seed of that sample and of k-means.
    """

    kind: IndexKind = "ivf_flat"
    candidates: int = 200
    nlist: int = 0
    nprobe: int = 0
    pq_m: int = 0
    pq_bits: int = 4
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 0
    train_rows: int = 0
    coarse_hnsw: bool = False
    spherical: bool = False
    norm_tiers: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in INDEX_KINDS:
            raise ValueError(f"index kind must be one of {INDEX_KINDS}, got {self.kind!r}")
        if self.candidates < 1:
            raise ValueError(f"candidates must be >= 1, got {self.candidates}")
        if self.kind in ("ivf_flat", "ivf_pq") and not 1 <= self.nprobe <= self.nlist:
            raise ValueError(f"need 1 <= nprobe <= nlist, got {self.nprobe} and {self.nlist}")
        if self.kind == "hnsw" and (self.hnsw_m < 2 or self.ef_search < 1):
            raise ValueError(f"HNSW needs hnsw_m >= 2 and ef_search >= 1, got {self}")
        if self.norm_tiers < 1 or (self.nlist and self.nlist % self.norm_tiers):
            raise ValueError(
                f"norm_tiers must be >= 1 and divide nlist, got {self.norm_tiers} and {self.nlist}"
            )

    @property
    def tiered(self) -> bool:
        """Whether the index's lists are cut by norm (an IVF kind with ``norm_tiers > 1``)."""
        return self.kind in ("ivf_flat", "ivf_pq") and self.norm_tiers > 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> IndexParams:
        """Parameters read back from an index header; unknown keys are an error."""
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown index parameters: {sorted(unknown)}")
        return cls(**values)


def default_params(
    n_tracks: int, dim: int, kind: IndexKind | str = "ivf_flat", **overrides: Any
) -> IndexParams:
    """Parameters sized for a catalogue of ``n_tracks`` rows of width ``dim``.

    Args:
        n_tracks: Tracks indexed (padding excluded).
        dim: Embedding width.
        kind: Index kind (checked by :class:`IndexParams`).
        **overrides: Any :class:`IndexParams` field, replacing the sized value.

    >>> p = default_params(1_000_000, 64, "ivf_pq")
    >>> p.nlist, p.norm_tiers, p.nprobe, p.train_rows, p.candidates, p.pq_m, p.spherical
    (32000, 4, 640, 320000, 1000, 32, True)
    >>> p = default_params(10_000_000, 64, "ivf_pq")
    >>> p.nlist, p.nprobe, p.candidates, p.train_rows, p.coarse_hnsw
    (101192, 4048, 3000, 1011920, True)
    >>> default_params(10_000, 16, "ivf_flat").norm_tiers  # small: one list per direction
    1
    >>> default_params(100, 8).nlist  # >= 39 training rows per list
    2
    """
    if n_tracks < 1 or dim < 1:
        raise ValueError(f"need n_tracks >= 1 and dim >= 1, got {n_tracks} and {dim}")
    ivf = kind in ("ivf_flat", "ivf_pq")
    directions = max(1, min(n_tracks // 39, round(LISTS_PER_SQRT_N * math.sqrt(n_tracks))))
    tiers = NORM_TIERS if ivf and n_tracks >= NORM_TIERS_FROM else 1
    nlist = directions * tiers
    steps = growth(n_tracks)
    # IVF-Flat scores candidates exactly in the index: its list only has to outlast the filters.
    candidates = round(PQ_CANDIDATES * 3**steps) if kind == "ivf_pq" else 200
    base = TIERED_PROBE_FRACTION if tiers > 1 else PROBE_FRACTION
    fraction = min(1.0, base * 2**steps)
    values: dict[str, Any] = {
        "kind": kind,
        "candidates": candidates,
        "nlist": nlist if ivf else 0,
        "nprobe": max(1, round(nlist * fraction)) if ivf else 0,
        "pq_m": _pq_m(dim) if kind == "ivf_pq" else 0,
        "ef_search": 2 * candidates if kind == "hnsw" else 0,
        "train_rows": min(n_tracks, TRAIN_ROWS_PER_LIST * directions),
        "coarse_hnsw": ivf and directions >= HNSW_COARSE_FROM,
        "spherical": ivf,
        "norm_tiers": tiers,
    }
    values.update(overrides)
    return IndexParams(**values)


def growth(n_tracks: int) -> float:
    """Tenfold steps of the catalogue beyond 1M tracks (0 up to 1M), for the search effort.

    At a fixed fraction of the lists, recall@10 fell from 0.993 at 1M to 0.947 at 10M (more
    clusters per list, and ten times more codes competing for the re-ranked candidates; lists
    probed by angle). With norm tiers, twice the fraction and three times the candidates gave
    0.984 at 10M. Both sizes measured are reproduced exactly; beyond 10M the rule is an
    extrapolation.

    >>> growth(500_000), growth(1_000_000), growth(10_000_000), round(growth(150_000_000), 2)
    (0.0, 0.0, 1.0, 2.18)
    """
    return max(0.0, math.log10(n_tracks / 1_000_000))


def _pq_m(dim: int) -> int:
    """Largest divisor of ``dim`` that is at most ``dim / 2`` (two dimensions per code byte)."""
    for m in range(max(1, dim // 2), 0, -1):
        if dim % m == 0:
            return m
    return 1
