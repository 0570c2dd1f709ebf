"""A live listening session: add events one at a time and re-rank after each.

For a causal model the state keeps the keys and values of every encoded position (a
:class:`segue.models.transformer.KVCache`), so one new event costs one incremental step of the
model (one token through each layer, attending to the cache) instead of re-encoding the history.

Cache policy when the history outgrows the model: positions are learned up to ``max_len``, so
the cache can hold at most ``max_len`` events. When a new event would be the ``max_len + 1``-th
in the cache, the state re-encodes only the last ``keep`` events (``max_len // 2`` by default)
and goes on incrementally from there. Re-encoding ``keep`` events once every
``max_len - keep + 1`` events costs about one extra token per event amortised, but after the
first rebuild the model reads between ``keep`` and ``max_len`` recent events, where
:meth:`Recommender.recommend` on the whole history would read exactly the last ``max_len``.
``keep=max_len`` gives exactly that (a full re-encode on every event once the history is full).

Models without incremental encoding (``supports_incremental`` false: the masked objective,
which attends in both directions, so an earlier position's keys change when an event is
appended) re-encode their last ``history_length`` events at every recommendation
(:meth:`TrackTransformer.next_hidden`, which appends a masked model's [MASK]).

A model with a history prior adds its terms computed from the events the hidden state was
encoded from (the cached window), as :meth:`Recommender.recommend` adds them from its batch.

Thread safety: every public method of a state holds the state's re-entrant :attr:`lock`, so
one state may be shared by several threads (a listener's requests served by a thread pool):
calls run one at a time, each ``recommend`` sees a whole number of ``add`` calls, and the cache
is never written by two threads at once. To make several calls one atomic step (add, then
recommend), hold ``state.lock`` around them. Different states, and the recommender that made
them, run in parallel without waiting for each other.
"""

from __future__ import annotations

import numbers
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from segue.api.catalogue import Catalogue
from segue.api.constraints import check_request, resolve
from segue.api.history import (
    ASSUMED_GAP_SECONDS,
    PLAY,
    SKIP,
    EncodedHistory,
    History,
    OnUnknown,
    UnknownTracksError,
    encode_history,
    event_type_index,
    history_batch,
    timestamp_seconds,
)
from segue.api.int8_screen import screened_best
from segue.api.numpy_step import numpy_step_for
from segue.api.queries import Queries
from segue.api.ranking import catalogue_scores, encode_queries, rank
from segue.api.results import COLD_START, UNKNOWN_IDS, recommendations_frame, warn_cold_start
from segue.api.track_lists import TrackLists
from segue.checks import check_integer
from segue.constraints import ConstraintFields, Constraints, constraints_from
from segue.data.features import gap_buckets
from segue.models.transformer import KVCache, TrackTransformer

if TYPE_CHECKING:
    from typing import Unpack  # Python 3.11; annotations are never evaluated at run time


class SessionState:
    """One listener's session; made by :meth:`segue.Recommender.session`.

    Args:
        model: The model, in eval mode.
        catalogue: Its catalogue.
        history: Events before the session goes live (ids or an event table), or None.
        on_unknown: "ignore" drops unknown ids and lists them in :attr:`unknown_ids`; "raise"
            raises :class:`UnknownTracksError` (in ``add`` too).
        keep: Events re-encoded when the cache is full; 1..max_len, default ``max_len // 2``.
    """

    def __init__(
        self,
        model: TrackTransformer,
        catalogue: Catalogue,
        history: History = None,
        on_unknown: OnUnknown = "ignore",
        keep: int | None = None,
    ) -> None:
        if not isinstance(model, TrackTransformer):
            raise TypeError(f"model must be a TrackTransformer, got {type(model).__name__}")
        if not isinstance(catalogue, Catalogue):
            raise TypeError(
                f"catalogue must be a Catalogue (use Recommender.session()), got "
                f"{type(catalogue).__name__}"
            )
        self._model, self._on_unknown = model, on_unknown
        self.catalogue = catalogue
        self.lock = threading.RLock()
        self._max_len = model.config.max_len
        self.incremental = model.supports_incremental
        if keep is not None:
            check_integer("keep", keep, minimum=1)
        self.keep = max(1, self._max_len // 2) if keep is None else keep
        if not 1 <= self.keep <= self._max_len:
            raise ValueError(f"keep must be in 1..{self._max_len}, got {keep}")
        encoded = encode_history(history, catalogue, on_unknown)
        self._tracks: list[int] = encoded.tracks.tolist()
        self._event_types: list[int] = encoded.event_types.tolist()
        self._gaps: list[int] = encoded.gap_buckets.tolist()
        self.unknown_ids: list[str] = list(encoded.unknown_ids)
        self._seen_any = bool(len(encoded) or encoded.unknown_ids)
        self._last_time = encoded.last_timestamp
        self._start = max(0, len(self._tracks) - self._max_len)  # first cached event
        self._cache: KVCache | None = None
        self._hidden: torch.Tensor | None = None  # (1, D) after the last cached event
        if self.incremental and self._tracks:
            self._rebuild(self._start)

    # ----------------------------------------------------------------------------------------
    # Reading

    @property
    def n_events(self) -> int:
        """Known events in the session so far."""
        return len(self._tracks)

    @property
    def played(self) -> np.ndarray:
        """Track indices of every known event, oldest first, (n_events,) int64."""
        with self.lock:
            return np.asarray(self._tracks, dtype=np.int64)

    @property
    def context(self) -> list[str]:
        """Ids of the events the next recommendation reads (the cached window), oldest first."""
        with self.lock:
            n_read = self._model.history_length
            start = self._start if self.incremental else max(0, self.n_events - n_read)
            return self.catalogue.track_ids[self._tracks[start:]].tolist()

    def scores(self) -> torch.Tensor:
        """Scores of every track after the session so far, (V,); popularity when cold.

        An inference-mode tensor: clone it before modifying it outside ``torch.inference_mode``.
        """
        with self.lock, torch.inference_mode():
            queries = self._current_queries()
            return catalogue_scores(self.catalogue, queries, np.array([queries is None]))[0]

    def best_next(self, mask: Callable[[torch.Tensor], None]) -> tuple[int, float] | None:
        """The best next track and its score, or None when ``mask`` leaves no track.

        Through the catalogue's int8 screen when it has one and the session has history
        (:func:`segue.api.int8_screen.screened_best`: the argmax of :meth:`scores`, float
        rounding aside, without scoring the whole table in float); ties go to the lower index.

        Args:
            mask: Sets the scores of tracks that may not come next to -inf, in place, (V,).
        """
        with self.lock, torch.inference_mode():
            queries = self._current_queries()
            screen = self.catalogue.screen
            if screen is not None and queries is not None:
                return screened_best(screen, self.catalogue.embeddings, queries, mask)
            scores = catalogue_scores(self.catalogue, queries, np.array([queries is None]))[0]
            mask(scores)
            best = int(torch.argmax(scores))
            if not bool(torch.isfinite(scores[best])):
                return None
            return best, float(scores[best])

    def recommend(
        self,
        k: int = 10,
        *,
        constraints: Constraints | None = None,
        **rules: Unpack[ConstraintFields],
    ) -> pd.DataFrame:
        """The next k tracks; same arguments and table as :meth:`segue.Recommender.recommend`."""
        lists = self._lists(check_request(k), constraints_from(constraints, rules, "recommend"))
        unknown, cold = lists.unknown_ids[0], bool(lists.cold[0])
        if cold:
            warn_cold_start(unknown)
        frame = recommendations_frame(self.catalogue, lists.ranked)
        frame.attrs = {UNKNOWN_IDS: unknown, COLD_START: cold}
        return frame

    def track_lists(
        self,
        k: int = 10,
        *,
        constraints: Constraints | None = None,
        **rules: Unpack[ConstraintFields],
    ) -> TrackLists:
        """:meth:`recommend`'s list as arrays (one row), for callers that format it themselves:
        no table and no cold-start warning."""
        return self._lists(check_request(k), constraints_from(constraints, rules, "track_lists"))

    def _lists(self, k: int, wanted: Constraints) -> TrackLists:
        resolved = resolve(wanted, self.catalogue)
        with self.lock, torch.inference_mode():
            queries = self._current_queries()
            cold = np.array([queries is None])
            excluded = [self.played] if wanted.exclude_played else None
            ranked = rank(self.catalogue, queries, cold, excluded, resolved, k)
            unknown = list(self.unknown_ids)
        return TrackLists(ranked, [unknown], cold)

    # ----------------------------------------------------------------------------------------
    # Writing

    def add(
        self,
        track_id: object,
        skipped: bool = False,
        timestamp: object = None,
        event_type: str | None = None,
    ) -> None:
        """Append one event and, for a causal model, encode it (one incremental step).

        Args:
            track_id: External id; unknown ids are dropped and listed (or raise).
            skipped: Whether the listener skipped this play.
            timestamp: When it happened (datetime, string, or seconds since the epoch); None
                assumes it followed the previous event back to back.
            event_type: An :class:`segue.columns.EventTypes` name; None means a play.

        Raises:
            TypeError, ValueError: For a bad ``skipped``, ``timestamp`` or ``event_type``,
                before the state changes.
            UnknownTracksError: For an unknown id with ``on_unknown="raise"``.
        """
        if isinstance(track_id, bool) or not isinstance(track_id, str | numbers.Number):
            raise TypeError(f"track_id must be one id (a string or a number), got {track_id!r}")
        if not isinstance(skipped, bool | np.bool_):
            raise TypeError(f"skipped must be True or False, got {skipped!r}")
        seconds = timestamp_seconds(timestamp)
        kind = PLAY if event_type is None else event_type_index(event_type)
        with self.lock:
            self._add(track_id, bool(skipped), seconds, kind)

    def _add(self, track_id: object, skipped: bool, seconds: float | None, kind: int) -> None:
        key = track_id if isinstance(track_id, str) else str(track_id)
        index = self.catalogue.index.get(key)
        if index is None and self._on_unknown == "raise":
            raise UnknownTracksError(f"unknown track id: {key}")  # the state is unchanged
        if not self._seen_any:
            gap = np.nan
        elif seconds is None or self._last_time is None:
            gap = ASSUMED_GAP_SECONDS
        else:
            gap = seconds - self._last_time
        self._seen_any, self._last_time = True, seconds
        if index is None:
            self.unknown_ids.append(key)  # still an event: it moved the clock, as in training
            return
        self._tracks.append(index)
        self._event_types.append(SKIP if skipped and kind == PLAY else kind)
        self._gaps.append(int(gap_buckets(np.array([gap]))[0]))
        if not self.incremental:
            return
        if self.n_events - self._start > self._max_len:
            self._rebuild(self.n_events - self.keep)
        else:
            self._step()

    # ----------------------------------------------------------------------------------------
    # Encoding

    def _window(self, start: int) -> EncodedHistory:
        return EncodedHistory(
            np.asarray(self._tracks[start:], dtype=np.int64),
            np.asarray(self._event_types[start:], dtype=np.int64),
            np.asarray(self._gaps[start:], dtype=np.int64),
        )

    def _encode(self, start: int, cache: KVCache | None) -> None:
        batch = history_batch([self._window(start)], self.catalogue, self._model.config)
        fast = numpy_step_for(self._model)  # numpy where it matches the model (numpy_step)
        with torch.inference_mode():
            if fast is None:
                hidden, self._cache = self._model.forward_incremental(
                    batch.to(self.catalogue.device), cache
                )
            elif cache is None:
                hidden, self._cache = fast.encode(batch)
            else:
                hidden, self._cache = fast.step(batch, cache)
        self._hidden = hidden[:, -1]  # (1, D)

    def _rebuild(self, start: int) -> None:
        """Re-encode the events from ``start`` on, dropping the cache."""
        self._start = start
        self._encode(start, None)

    def _step(self) -> None:
        """Encode the last event on top of the cache: one token through each layer."""
        self._encode(self.n_events - 1, self._cache)

    def _current_queries(self) -> Queries | None:
        """What the next recommendation is scored with; None when the session is cold.

        A history prior reads the cached window, the events the hidden state was encoded from
        (as :meth:`Recommender.recommend` reads the batch its states came from).
        """
        if not self._tracks:
            return None
        if not self.incremental:
            return encode_queries(self._model, self.catalogue, [self._window(0)])
        assert self._hidden is not None  # encoded whenever there are tracks
        window = torch.as_tensor(self._tracks[self._start :], device=self.catalogue.device)
        return Queries.after(self._model, self._hidden, window[None])  # (1, n) tracks
