"""Saving an index next to its model, and loading it back only if it still matches.

Layout: two files, ``<name>.faiss`` written by ``faiss.write_index`` (FAISS's own binary format:
arrays and sizes, read back by ``faiss.read_index``, which instantiates only FAISS's index
classes named by the file's fourcc codes, never Python objects) and ``<name>.faiss.json``, a
small header::

    {"format": "segue-track-index", "version": 2, "params": {...}, "n_tracks": N, "dim": D,
     "table_sha256": "...", "index_sha256": "...", "faiss_version": "1.x"}

Loading refuses, before reading the index: a header of another format or a newer version, an
index file whose SHA-256 differs from the header's (a truncated or edited file), and, given the
model's table, a different catalogue size, width or table checksum (an index built for another
model or an older training run would silently return wrong tracks).

Version 2 added ``norm_tiers`` to the parameters (:mod:`segue.retrieval.norm_tiers`); a version
1 header has none and loads as an untiered index. A tiered index's list bounds are not stored:
they are recomputed at load from its inverted lists and the model's table.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from segue.io.atomic_write import (
    FILE_MODE,
    atomic_write_text,
    clean_stale_temporaries,
    temporary_prefix,
)
from segue.retrieval.index import (
    TrackIndex,
    exact_list_selection,
    faiss_class,
    table_checksum,
    tiered_bounds,
)
from segue.retrieval.params import IndexParams

FORMAT = "segue-track-index"
VERSION = 2


class IndexMismatchError(ValueError):
    """A saved index does not belong to the model it is loaded for, or was altered."""


def index_path_for(model_path: str | Path) -> Path:
    """Where the index of a model file is saved by default: ``best.pt`` -> ``best.faiss``.

    >>> index_path_for("outputs/best.pt").as_posix()
    'outputs/best.faiss'
    """
    return Path(model_path).with_suffix(".faiss")


def header_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def save_index(track_index: TrackIndex, path: str | Path) -> Path:
    """Write the index to ``path`` and its header next to it, atomically; returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path)
    tmp = _temp_name(path)
    try:
        # faiss writes to a file name, so the index cannot go through atomic_write's file object
        # (serialising it in memory first would double its peak: 2.5 GB at 10M tracks).
        faiss.write_index(track_index.index, str(tmp))
        os.chmod(tmp, FILE_MODE)
        header = {
            "format": FORMAT,
            "version": VERSION,
            "params": track_index.params.to_dict(),
            "n_tracks": track_index.n_tracks,
            "dim": track_index.dim,
            "table_sha256": track_index.checksum,
            "index_sha256": _file_sha256(tmp),
            "faiss_version": faiss.__version__,
        }
        atomic_write_text(header_path(path), json.dumps(header, indent=2) + "\n")
        os.replace(tmp, path)  # the header is written first: an index never lacks its header
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_index(path: str | Path, table: np.ndarray | None = None) -> TrackIndex:
    """Read an index written by :func:`save_index`, checked against the model's table.

    Args:
        path: The ``.faiss`` file.
        table: The model's output embeddings, (n_tracks + 1, D) float32; None skips the check
            against the model (the file and header are still checked).

    Raises:
        FileNotFoundError: If the index or its header is missing.
        IndexMismatchError: If the header, the file or the table do not match (see module).
    """
    path = Path(path)
    for file in (path, header_path(path)):
        if not file.is_file():
            raise FileNotFoundError(f"no index file at {file}")
    header = _read_header(header_path(path))
    if _file_sha256(path) != header["index_sha256"]:
        raise IndexMismatchError(f"{path} does not match the checksum in its header: altered?")
    params = IndexParams.from_dict(header["params"])
    n_tracks, dim = int(header["n_tracks"]), int(header["dim"])
    if table is not None:
        check_table(table, n_tracks, dim, header["table_sha256"], path)
    index = faiss.read_index(str(path))
    found = type(faiss.downcast_index(index)).__name__
    if found != faiss_class(params) or index.ntotal != n_tracks or index.d != dim:
        raise IndexMismatchError(
            f"{path} holds a {found} of {index.ntotal} x {index.d}, but its header says "
            f"{params.kind} of {n_tracks} x {dim}"
        )
    exact_list_selection(index)  # saved with an HNSW coarse quantizer (older segue builds)
    bounds = None if table is None else tiered_bounds(index, params, table)
    return TrackIndex(index, params, n_tracks, dim, header["table_sha256"], bounds=bounds)


def check_table(table: np.ndarray, n_tracks: int, dim: int, checksum: str, path: Path) -> None:
    """Raise :class:`IndexMismatchError` unless ``table`` is the one the index was built from."""
    if table.shape != (n_tracks + 1, dim):
        raise IndexMismatchError(
            f"{path} indexes {n_tracks} tracks x {dim} dims, but the model has "
            f"{table.shape[0] - 1} tracks x {table.shape[1]} dims"
        )
    if table_checksum(table) != checksum:
        raise IndexMismatchError(
            f"{path} was built from other embeddings than the model's (table checksum differs):"
            " rebuild it with build_index"
        )


def _read_header(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            header = json.load(f)
    except json.JSONDecodeError as err:
        raise IndexMismatchError(f"{path} is not a JSON index header: {err}") from err
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise IndexMismatchError(f"{path} is not a segue index header")
    if header.get("version", VERSION + 1) > VERSION:
        raise IndexMismatchError(f"{path} was written by a newer segue (v{header['version']})")
    missing = {"params", "n_tracks", "dim", "table_sha256", "index_sha256"} - set(header)
    if missing:
        raise IndexMismatchError(f"{path} lacks {sorted(missing)}")
    return header


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _temp_name(path: Path) -> Path:
    """A temporary beside ``path``, named as every segue write names them (so it is cleaned)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path), suffix=".tmp")
    os.close(fd)
    return Path(tmp)
