"""From last hidden states to ranked lists: score the catalogue, mask, top-k.

The one path shared by single requests, batches and live sessions, so that they agree. Scoring
is one matrix product with the contiguous catalogue embedding matrix (a GEMV for one request),
plus the history prior's sparse terms for a model that has one (:class:`Queries`: the same
scores as :func:`segue.evaluation.scoring.score_points`); rows without history (cold start)
score tracks by popularity instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from segue.api.catalogue import Catalogue
from segue.api.constraints import ResolvedConstraints
from segue.api.history import EncodedHistory, history_batch
from segue.api.int8_screen import SCREEN_MAX_ROWS, screened_rank
from segue.api.numpy_step import numpy_step_for
from segue.api.queries import Queries, as_queries
from segue.evaluation.ranking import Ranked, top_k
from segue.models.transformer import TrackTransformer

MAX_SCORE_ELEMENTS = 2**26
"""Rows of a batch are scored in chunks of at most this many scores (256 MB of float32). A chunk
reads the whole embedding matrix once, so chunks are as large as memory allows."""


def next_hidden(
    model: TrackTransformer, catalogue: Catalogue, histories: Sequence[EncodedHistory]
) -> torch.Tensor | None:
    """The model's next-track state after each history, (B, D); None if all are empty.

    One left-padded batch through the model; rows without history give meaningless (finite)
    states that :func:`catalogue_scores` replaces by popularity. Call under inference mode.
    """
    if not any(len(h) for h in histories):
        return None
    batch = history_batch(histories, catalogue, model.config).to(catalogue.device)
    return model.next_hidden(batch)  # (B, D), whatever the objective


def encode_queries(
    model: TrackTransformer, catalogue: Catalogue, histories: Sequence[EncodedHistory]
) -> Queries | None:
    """What each history is scored with: :func:`next_hidden`'s states and, for a model with a
    history prior, its terms from the same padded batch; None if all histories are empty.
    Call under inference mode."""
    if not any(len(h) for h in histories):
        return None
    batch = history_batch(histories, catalogue, model.config).to(catalogue.device)
    fast = numpy_step_for(model) if len(histories) == 1 else None
    if fast is not None:  # one history (no padding) in numpy: segue.api.numpy_step
        hidden, _ = fast.encode(batch)
        return Queries.after(model, hidden[:, -1], batch.tracks)
    return Queries.encode(model, batch)


def catalogue_scores(
    catalogue: Catalogue, queries: Queries | torch.Tensor | None, cold: np.ndarray
) -> torch.Tensor:
    """Scores over the catalogue, a new (B, V) tensor; padding is -inf.

    Args:
        catalogue: The catalogue.
        queries: What the rows are scored with (bare (B, D) states: no prior terms), or None
            when every row is cold.
        cold: True for rows without history, which get popularity scores, (B,).
    """
    queries = as_queries(queries)
    if queries is None:
        return popularity_logits(catalogue.popularity).expand(len(cold), -1).clone()  # (B, V)
    scores = queries.add_prior(catalogue.score(queries.hidden))  # (B, V); cold rows: no entry
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
    queries: Queries | torch.Tensor | None,
    cold: np.ndarray,
    excluded: Sequence[np.ndarray] | None,
    constraints: ResolvedConstraints,
    k: int,
) -> Ranked:
    """The k best eligible tracks of each row.

    Goes through the catalogue's approximate-retrieval index when one is attached and the
    catalogue is large enough for it to be faster (:mod:`segue.retrieval`); otherwise through
    its int8 screen when it has one, no row is cold and the batch is small (the exhaustive
    lists, found reading a quarter of the bytes: :mod:`segue.api.int8_screen`); exhaustive
    otherwise.

    Args:
        catalogue: The catalogue.
        queries: What the rows are scored with (:func:`encode_queries`; bare (B, D) states
            mean no prior terms), or None when every row is cold.
        cold: True for rows without history, (B,).
        excluded: Per row, track indices never recommended (the played tracks), or None.
        constraints: The request's bans and per-artist cap.
        k: List length.

    Returns:
        (B, min(k, n_tracks)) indices and scores, best first; index 0 / -inf pad rows with
        fewer eligible tracks.
    """
    retriever = catalogue.retriever
    if retriever is not None and retriever.active(catalogue):
        return retriever.rank(catalogue, queries, cold, excluded, constraints, k)
    queries = as_queries(queries)
    screen_fits = len(cold) <= SCREEN_MAX_ROWS and not cold.any()
    if catalogue.screen is not None and queries is not None and screen_fits:
        ranked = screened_rank(
            catalogue.screen,
            catalogue.embeddings,
            queries,
            excluded,
            constraints,
            k,
            catalogue.artist_of_track,
        )
        if ranked is not None:
            return ranked
    return exhaustive_rank(catalogue, queries, cold, excluded, constraints, k)


def exhaustive_rank(
    catalogue: Catalogue,
    queries: Queries | torch.Tensor | None,
    cold: np.ndarray,
    excluded: Sequence[np.ndarray] | None,
    constraints: ResolvedConstraints,
    k: int,
) -> Ranked:
    """:func:`rank` by scoring every track: the exact reference, and the fallback of
    :class:`segue.retrieval.Retriever` for rows its candidates could not fill."""
    queries = as_queries(queries)
    n_rows = len(cold)
    step = max(1, MAX_SCORE_ELEMENTS // catalogue.size)
    width = min(k, catalogue.size - 1)
    parts = [Ranked(np.zeros((0, width), dtype=np.int64), np.zeros((0, width), dtype=np.float32))]
    for start in range(0, n_rows, step):
        rows = slice(start, min(start + step, n_rows))
        chunk = None if queries is None else queries.select(rows)
        scores = catalogue_scores(catalogue, chunk, cold[rows])
        constraints.mask(scores)
        ranked = top_k(
            scores,
            k,
            None if excluded is None else excluded[rows],
            artist_of_track=catalogue.artist_of_track,
            max_per_artist=constraints.max_per_artist,
            chunk_size=max(1, step // 4),  # top_k copies its chunk: a quarter more memory
        )
        parts.append(ranked)
    if len(parts) == 2:
        return parts[1]
    return Ranked(
        np.concatenate([p.indices for p in parts]), np.concatenate([p.scores for p in parts])
    )
