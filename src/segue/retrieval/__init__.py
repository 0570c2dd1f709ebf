"""Approximate retrieval over large catalogues: a FAISS index, candidates, exact re-rank.

Needs FAISS (``pip install segue[scale]``). Typical use::

    from segue.api import Recommender

    rec = Recommender.load("outputs/best.pt")
    rec.build_index("ivf_pq", path="outputs/best.faiss")  # once, after training
    rec = Recommender.load("outputs/best.pt", index="outputs/best.faiss")  # when serving

See :mod:`segue.retrieval.retriever` for how constraints stay exact, and
:mod:`segue.retrieval.params` for how the index is sized.
"""

from segue.retrieval.index import TrackIndex, build_index, table_checksum
from segue.retrieval.params import (
    EXHAUSTIVE_BELOW,
    INDEX_KINDS,
    IndexKind,
    IndexParams,
    default_params,
)
from segue.retrieval.retriever import Retriever
from segue.retrieval.store import (
    IndexMismatchError,
    index_path_for,
    load_index,
    save_index,
)

__all__ = [
    "EXHAUSTIVE_BELOW",
    "INDEX_KINDS",
    "IndexKind",
    "IndexMismatchError",
    "IndexParams",
    "Retriever",
    "TrackIndex",
    "build_index",
    "default_params",
    "index_path_for",
    "load_index",
    "save_index",
    "table_checksum",
]
