"""From last hidden states to ranked lists: score the catalogue, mask, top-k.

The one path shared by single requests, batches and live sessions, so that they agree. Scoring
is one matrix product with the contiguous catalogue embedding matrix (a GEMV for one request);
rows without history (cold start) score tracks by popularity instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from segue.api.catalogue import Catalogue
from segue.api.constraints import Filters, Ranked, mask_scores, top_k
from segue.api.history import EncodedHistory, history_batch
from segue.models.transformer import TrackTransformer

MAX_SCORE_ELEMENTS = 2**26
"""Rows of a batch are scored in chunks of at most this many scores (256 MB of float32). A chunk
reads the whole embedding matrix once, so chunks are as large as memory allows."""


def last_hidden(
    model: TrackTransformer, catalogue: Catalogue, histories: Sequence[EncodedHistory]
) -> torch.Tensor | None:
    """The model's last hidden state after each history, (B, D); None if all are empty.

    One left-padded batch through the model; rows without history give meaningless (finite)
    states that :func:`catalogue_scores` replaces by popularity. Call under inference mode.
    """
    if not any(len(h) for h in histories):
        return None
    batch = history_batch(histories, catalogue, model.config).to(catalogue.device)
    return model.last_hidden(batch)  # (B, D)


def catalogue_scores(
    catalogue: Catalogue, hidden: torch.Tensor | None, cold: np.ndarray
) -> torch.Tensor:
    """Scores over the catalogue, a new (B, V) tensor; padding is -inf.

    Args:
        catalogue: The catalogue.
        hidden: Last hidden states, (B, D), or None when every row is cold.
        cold: True for rows without history, which get popularity scores, (B,).
    """
    if hidden is None:
        return popularity_logits(catalogue.popularity).expand(len(cold), -1).clone()  # (B, V)
    scores = catalogue.score(hidden)  # (B, V)
    if cold.any():
        scores[torch.as_tensor(cold, device=scores.device)] = popularity_logits(
            catalogue.popularity
        ).to(scores.dtype)
    return scores


def popularity_logits(counts: torch.Tensor) -> torch.Tensor:
    """Cold-start scores: log-probabilities of the tracks under smoothed popularity, (V,).

    The model's scores are logits (``softmax`` of a row is its next-track distribution), so the
    fallback is one too: ``log((count + 1) / (total + n_tracks))``. A cold-start row then reads
    on the model's scale, mixes with model rows in a batch, and ``continue_playlist``'s
    ``softmax(score / temperature)`` samples popular tracks in proportion to their plays instead
    of always the top one (raw counts of 99 and 98 at temperature 1 differ by a factor e). Add-one
    smoothing keeps tracks with no recorded play rankable. Padding (index 0) stays -inf.

    Args:
        counts: Play counts, (V,); entry 0 is padding (its value is ignored).

    >>> popularity_logits(torch.tensor([float("-inf"), 2.0, 0.0])).exp().tolist()
    [0.0, 0.75, 0.25]
    """
    plays = counts[1:].double().clamp_min(0.0) + 1.0  # (V - 1,)
    logits = torch.full_like(counts, float("-inf"), dtype=torch.float32)
    logits[1:] = (plays.log() - plays.sum().log()).float()
    return logits


def rank(
    catalogue: Catalogue,
    hidden: torch.Tensor | None,
    cold: np.ndarray,
    excluded: Sequence[np.ndarray] | None,
    filters: Filters,
    k: int,
) -> Ranked:
    """The k best eligible tracks of each row.

    Goes through the catalogue's approximate-retrieval index when one is attached and the
    catalogue is large enough for it to be faster (:mod:`segue.retrieval`); exhaustive otherwise.

    Args:
        catalogue: The catalogue.
        hidden: Last hidden states, (B, D), or None when every row is cold.
        cold: True for rows without history, (B,).
        excluded: Per row, track indices never recommended (the played tracks), or None.
        filters: Allow / block lists and the per-artist cap.
        k: List length.

    Returns:
        (B, k) indices and scores, best first; index 0 / -inf pad rows with fewer eligible tracks.
    """
    retriever = catalogue.retriever
    if retriever is not None and retriever.active(catalogue):
        return retriever.rank(catalogue, hidden, cold, excluded, filters, k)
    return exhaustive_rank(catalogue, hidden, cold, excluded, filters, k)


def exhaustive_rank(
    catalogue: Catalogue,
    hidden: torch.Tensor | None,
    cold: np.ndarray,
    excluded: Sequence[np.ndarray] | None,
    filters: Filters,
    k: int,
) -> Ranked:
    """:func:`rank` by scoring every track: the exact reference, and the fallback of
    :class:`segue.retrieval.Retriever` for rows its candidates could not fill."""
    n_rows = len(cold)
    step = max(1, MAX_SCORE_ELEMENTS // catalogue.size)
    parts = []
    for start in range(0, n_rows, step):
        rows = slice(start, min(start + step, n_rows))
        scores = catalogue_scores(catalogue, None if hidden is None else hidden[rows], cold[rows])
        mask_scores(scores, filters, None if excluded is None else excluded[rows])
        parts.append(top_k(scores, k, catalogue.artist_of_track, filters.max_per_artist))
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return Ranked(np.zeros((0, k), dtype=np.int64), np.zeros((0, k), dtype=np.float32))
    return Ranked(
        np.concatenate([p.indices for p in parts]), np.concatenate([p.scores for p in parts])
    )
