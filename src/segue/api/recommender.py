"""``Recommender``: ranked next tracks, playlists, similar tracks and live sessions from a model.

Needs only a checkpoint (weights, model config and vocabulary): no Hydra, no training data.
What can be computed once is computed at construction (:class:`Catalogue`); a request is then
one forward pass, one matrix product with the catalogue embeddings, the masks and one
``torch.topk``, and the output table is built once at the end.

Thread safety: a ``Recommender`` holds no mutable state after construction, every call runs
under ``torch.inference_mode()`` and builds its own tensors, so any number of threads may call
it at once. A :class:`SessionState` belongs to one listener (see its module).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from segue.api.catalogue import Catalogue
from segue.api.constraints import Filters, Ranked, resolve_filters, top_k
from segue.api.history import (
    EncodedHistory,
    History,
    OnUnknown,
    UnknownTracksError,
    encode_history,
)
from segue.api.playlist import continue_playlist
from segue.api.ranking import last_hidden, rank
from segue.api.results import COLD_START, UNKNOWN_IDS, recommendations_frame
from segue.api.session_state import SessionState
from segue.data.vocab import TrackVocab
from segue.models.transformer import TrackTransformer
from segue.training.checkpoint import load_checkpoint


class Recommender:
    """Recommendations from a trained :class:`TrackTransformer` and its :class:`TrackVocab`.

    Args:
        model: The model; it is put in eval mode and used on its current device.
        vocab: The vocabulary it was trained with.
    """

    def __init__(self, model: TrackTransformer, vocab: TrackVocab) -> None:
        self.model = model.eval()
        self.vocab = vocab
        self.catalogue = Catalogue.build(model, vocab)

    @classmethod
    def load(
        cls, path: str | Path, device: str | torch.device = "cpu", num_threads: int | None = None
    ) -> Recommender:
        """Load a checkpoint written by training (``best.pt``).

        Args:
            path: The checkpoint file.
            device: Where the model runs.
            num_threads: If given, ``torch.set_num_threads(num_threads)``: note that this sets
                torch's intra-op thread pool for the whole process.
        """
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        checkpoint = load_checkpoint(path, map_location=device)
        return cls(checkpoint.build_model(device), checkpoint.vocab)

    # ----------------------------------------------------------------------------------------
    # Ranked lists

    def recommend(
        self,
        history: History,
        k: int = 10,
        exclude_played: bool = True,
        allow: Iterable[object] | None = None,
        block: Iterable[object] | None = None,
        max_per_artist: int | None = None,
        on_unknown: OnUnknown = "ignore",
    ) -> pd.DataFrame:
        """The k tracks most likely to come next after ``history``.

        The model reads the last ``max_len`` events (masked models: ``max_len - 1`` and a
        [MASK]); an empty or all-unknown history falls back to popularity (cold start).

        Args:
            history: Track ids oldest first, or an event table (see :mod:`segue.api.history`).
            k: List length; fewer rows when fewer tracks are eligible.
            exclude_played: Never recommend a track of the history (the whole history).
            allow: If given, recommend only these ids.
            block: Never recommend these ids.
            max_per_artist: At most this many tracks of one artist.
            on_unknown: "ignore" drops unknown history ids (listed in ``attrs``); "raise"
                raises :class:`UnknownTracksError`.

        Returns:
            ``track_id, score, rank[, artist, track_name]``, best first; ``attrs`` holds
            ``unknown_ids`` (list) and ``cold_start`` (bool), see :mod:`segue.api.results`.
        """
        encoded = encode_history(history, self.catalogue, on_unknown)
        filters = resolve_filters(self.catalogue, allow, block, max_per_artist)
        frame = recommendations_frame(
            self.catalogue, self._rank([encoded], k, exclude_played, filters)
        )
        frame.attrs = {UNKNOWN_IDS: encoded.unknown_ids, COLD_START: len(encoded) == 0}
        return frame

    def recommend_batch(
        self,
        histories: Sequence[History] | Mapping[Any, History],
        k: int = 10,
        exclude_played: bool = True,
        allow: Iterable[object] | None = None,
        block: Iterable[object] | None = None,
        max_per_artist: int | None = None,
        on_unknown: OnUnknown = "ignore",
    ) -> pd.DataFrame:
        """:meth:`recommend` for many histories at once: one padded batch, one top-k.

        Args:
            histories: A list (queries 0..B-1) or a mapping query -> history.
            k, exclude_played, allow, block, max_per_artist, on_unknown: As in
                :meth:`recommend`, shared by every query.

        Returns:
            ``query, track_id, score, rank[, artist, track_name]``; ``attrs`` holds
            ``unknown_ids`` (dict query -> list, queries with any) and ``cold_start`` (list of
            queries).
        """
        if isinstance(histories, Mapping):
            queries, items = list(histories.keys()), list(histories.values())
        else:
            queries, items = list(range(len(histories))), list(histories)
        encoded = [encode_history(h, self.catalogue, on_unknown) for h in items]
        filters = resolve_filters(self.catalogue, allow, block, max_per_artist)
        ranked = self._rank(encoded, k, exclude_played, filters)
        frame = recommendations_frame(self.catalogue, ranked, queries)
        frame.attrs = {
            UNKNOWN_IDS: {q: e.unknown_ids for q, e in zip(queries, encoded) if e.unknown_ids},
            COLD_START: [q for q, e in zip(queries, encoded) if len(e) == 0],
        }
        return frame

    def _rank(
        self, encoded: list[EncodedHistory], k: int, exclude_played: bool, filters: Filters
    ) -> Ranked:
        cold = np.array([len(e) == 0 for e in encoded], dtype=bool)
        excluded = [e.tracks for e in encoded] if exclude_played else None
        with torch.inference_mode():
            hidden = last_hidden(self.model, self.catalogue, encoded)  # (B, D) or None
            return rank(self.catalogue, hidden, cold, excluded, filters, k)

    def similar_tracks(self, track_id: object, k: int = 10) -> pd.DataFrame:
        """The k tracks whose output embeddings are closest in cosine similarity.

        Returns:
            ``track_id, score, rank[, artist, track_name]``; the score is the cosine
            similarity; the track itself is never listed.

        Raises:
            UnknownTracksError: If ``track_id`` is not in the vocabulary.
        """
        index = self.catalogue.index.get(str(track_id))
        if index is None:
            raise UnknownTracksError(f"unknown track id: {track_id}")
        with torch.inference_mode():
            sims = self.catalogue.cosine(index)  # (V,)
            sims[index] = float("-inf")
            ranked = top_k(sims[None], k, self.catalogue.artist_of_track, None)
        return recommendations_frame(self.catalogue, ranked)

    # ----------------------------------------------------------------------------------------
    # Sessions and playlists

    def session(
        self, history: History = None, on_unknown: OnUnknown = "ignore", keep: int | None = None
    ) -> SessionState:
        """A live session starting from ``history``: ``add`` events, ``recommend`` after each.

        Args:
            history: Earlier events, or None.
            on_unknown: As in :meth:`recommend`, for the history and every ``add``.
            keep: Events re-encoded when the KV cache is full (default ``max_len // 2``); see
                :mod:`segue.api.session_state` for the policy.
        """
        return SessionState(self.model, self.catalogue, history, on_unknown, keep)

    def continue_playlist(
        self,
        seed_tracks: History,
        n: int = 30,
        no_repeat_window: int | None = None,
        max_per_artist: int | None = None,
        allow: Iterable[object] | None = None,
        block: Iterable[object] | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        on_unknown: OnUnknown = "ignore",
    ) -> pd.DataFrame:
        """Extend a playlist by ``n`` tracks, each pick fed back as context for the next.

        Args:
            seed_tracks: The playlist so far (ids or an event table); may be empty.
            n: Tracks to add.
            no_repeat_window: A track may not reappear within this many positions (seeds
                included); None (default) never repeats a track, 0 allows repeats.
            max_per_artist: At most this many generated tracks per artist.
            allow: If given, pick only these ids.
            block: Never pick these ids.
            temperature: None picks the best track (greedy); a value > 0 samples from
                ``softmax(score / temperature)``.
            seed: Seed of the sampling, for reproducible playlists.
            on_unknown: As in :meth:`recommend`, for the seed tracks.

        Returns:
            ``position, track_id, score[, artist, track_name]`` with positions 1..n; fewer rows
            (and ``attrs["exhausted"]``) when the constraints run out of tracks.
        """
        state = self.session(seed_tracks, on_unknown=on_unknown)
        return continue_playlist(
            state, n, no_repeat_window, max_per_artist, allow, block, temperature, seed
        )
