"""Track embeddings that start from the training log's co-occurrence graph.

A row of the tied track table is trained only through its own track's plays (as input and as
target) and through the softmax's push-away when it is not the target. A track with a handful of
plays gets few of the former, so from a random start its row stays close to noise for most of
the run: on Amazon Beauty a third of the test targets have fewer than 10 training plays, and
there the item co-occurrence baseline ranks them better than the transformer does.

``embedding_init="cooccurrence"`` starts the table instead from a spectral embedding of the
cosine co-occurrence matrix the item co-occurrence baseline and the blend's co-occurrence memory
use (:func:`segue.models.cooccurrence_memory.cooccurrence_similarity`): its top ``d_model``
singular vectors, each scaled by the root of its singular value (the factorisation PureSVD
ranks with, applied to track-track instead of user-track counts). Tracks that are played
together start close together, rare ones included; the rows are rescaled to the random
initialisation's spread, so the blocks see inputs of the size they were built for. Only the
starting point changes: the model, its scores and everything that serves it are as before.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.decomposition import TruncatedSVD

from segue.data.encoding import EncodedEvents
from segue.models.cooccurrence_memory import cooccurrence_similarity
from segue.models.transformer import TrackTransformer

EMBEDDING_INITS = ("random", "cooccurrence")
"""Values of ``TrainerConfig.embedding_init``."""


def spectral_rows(similarity: sp.csr_matrix, dim: int, seed: int) -> np.ndarray:
    """``dim`` columns per row of a symmetric similarity: singular vectors times the root of
    their singular values; columns beyond the matrix's rank, and rows without entries, are zero
    (exactly: the solver leaves them at rounding noise).

    >>> sim = sp.csr_matrix(np.array([[0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]]))
    >>> rows = spectral_rows(sim, 4, seed=0)
    >>> rows.shape, rows[0].tolist(), bool(rows[:, 2:].any())  # row 0 has no entries; rank 2
    ((3, 4), [0.0, 0.0, 0.0, 0.0], False)
    """
    n = similarity.shape[0]
    rank = min(dim, n - 1)  # TruncatedSVD needs fewer components than columns
    rows = np.zeros((n, dim), dtype=np.float32)
    if rank < 1 or similarity.nnz == 0:
        return rows
    svd = TruncatedSVD(n_components=rank, random_state=seed).fit(similarity)
    rows[:, :rank] = svd.components_.T * np.sqrt(svd.singular_values_)
    rows[np.diff(similarity.tocsr().indptr) == 0] = 0.0
    return rows


@torch.no_grad()
def init_track_embeddings(model: TrackTransformer, events: EncodedEvents, seed: int) -> int:
    """Overwrite the rows of ``model``'s track table that have co-occurrences in ``events``
    (the training rows) with their spectral embedding, scaled to the rows' current spread.

    Tracks without any co-occurrence, the padding row and the [MASK] row keep their random
    start. Returns the number of rows set.
    """
    table = model.track_emb.weight
    n_tracks = model.config.n_tracks
    tracks, groups, skips = events.tracks, events.group_start, events.is_skip
    similarity = cooccurrence_similarity(tracks, groups, n_tracks, skips)
    rows = torch.from_numpy(spectral_rows(similarity, table.shape[1], seed))
    known = torch.from_numpy(np.flatnonzero(np.diff(similarity.indptr) > 0))
    known = known[(known >= 1) & (known <= n_tracks)]
    if len(known) < 2:  # one row has no spread to match
        return 0
    start = table[known]
    scale = start.std() / rows[known].std()
    table[known] = (rows[known] * scale).to(table.dtype).to(table.device)
    return len(known)
