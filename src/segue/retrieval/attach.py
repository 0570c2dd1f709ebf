"""Building an index for a catalogue and attaching one to it: what ``Recommender`` calls."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segue.api.catalogue import Catalogue
from segue.retrieval.index import TrackIndex, build_index
from segue.retrieval.params import EXHAUSTIVE_BELOW, IndexKind, IndexParams, default_params
from segue.retrieval.retriever import Retriever
from segue.retrieval.store import load_index, save_index


def catalogue_table(catalogue: Catalogue) -> np.ndarray:
    """The catalogue's float32 embeddings as numpy on the CPU, (V, D); a view on the CPU."""
    return catalogue.embeddings.detach().float().cpu().numpy()


def build_catalogue_index(
    catalogue: Catalogue,
    kind: IndexKind = "ivf_flat",
    params: IndexParams | None = None,
    path: str | Path | None = None,
    threads: int | None = None,
) -> TrackIndex:
    """Index ``catalogue``'s tracks, sized from it unless ``params`` are given; save if ``path``.

    Args:
        catalogue: The catalogue.
        kind: Index kind, when ``params`` is None.
        params: Explicit parameters (their ``kind`` wins over ``kind``).
        path: Where to save the index (``.faiss``, with its ``.faiss.json`` header), or None.
        threads: FAISS threads while building.
    """
    table = catalogue_table(catalogue)
    params = params or default_params(table.shape[0] - 1, table.shape[1], kind)
    index = build_index(table, params, threads)
    if path is not None:
        save_index(index, path)
    return index


def attach_index(
    catalogue: Catalogue,
    index: TrackIndex | str | Path | None,
    exhaustive_below: int = EXHAUSTIVE_BELOW,
) -> Catalogue:
    """``catalogue`` ranking through ``index`` (a built index, or a saved one checked against
    the catalogue's table before use); None detaches.

    Raises:
        segue.retrieval.IndexMismatchError: If a saved index was built for other embeddings.
    """
    if index is None:
        return catalogue.with_retriever(None)
    if not isinstance(index, TrackIndex):
        index = load_index(index, catalogue_table(catalogue))
    return catalogue.with_retriever(Retriever(index, exhaustive_below))
