"""The checkpoint backend: :class:`segue.Recommender`, with one KV cache per listener.

A listener's :class:`segue.SessionState` stays in this worker (an LRU of ``max_sessions``)
together with the store's event ``total`` it has consumed. It is opened with ``keep=max_len``,
so it always reads exactly the last ``max_len`` events, as ``Recommender.recommend`` of the
stored events does: the list is the same whether the KV cache or a batch of re-encoded
listeners (:mod:`segue.serve.batching`) computed it. When the store reports more events,
only the new ones are added (one incremental step each); when the state is missing, evicted,
from another model version, or out of step (another worker wrote more events than the store
still holds), the stored events are re-encoded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segue.api import Recommender, SessionState, UnknownTracksError
from segue.api.results import COLD_START, EXHAUSTED, UNKNOWN_IDS
from segue.api.track_lists import TrackLists, track_items
from segue.columns import Columns
from segue.serve.backends import UnknownTrackError
from segue.serve.events import Event, ListenerEvents
from segue.serve.listing import Listing


@dataclass
class _Cached:
    lock: threading.Lock = field(default_factory=threading.Lock)
    state: SessionState | None = None
    applied: int = 0  # the store's total when ``state`` was last brought up to date
    last: Event | None = None  # the last event applied, to check the store's list continues it


class TorchBackend:
    """A :class:`segue.serve.backends.Backend` over a :class:`Recommender`.

    Args:
        rec: The recommender.
        version: The model's version string.
        max_sessions: KV caches kept.
        max_events: Events the store keeps per listener; a cached state past twice this is
            rebuilt from the store, so a long session does not grow without bound.
    """

    kind = "checkpoint"

    def __init__(self, rec: Recommender, version: str, max_sessions: int, max_events: int) -> None:
        self.rec, self.version = rec, version
        self.max_sessions, self.max_events = max_sessions, max_events
        self.n_tracks = rec.model.config.n_tracks
        self.max_len = rec.model.config.max_len
        self._sessions: OrderedDict[str, _Cached] = OrderedDict()
        self._guard = threading.Lock()

    @classmethod
    def load(
        cls,
        path: Path,
        version: str,
        max_sessions: int,
        max_events: int,
        int8_screen: bool | None = None,
    ) -> TorchBackend:
        # One intra-op thread per call: the service runs calls side by side instead.
        rec = Recommender.load(path, num_threads=1, int8_screen=int8_screen)
        return cls(rec, version, max_sessions, max_events)

    @classmethod
    def from_payload(
        cls,
        path: Path,
        payload: dict[str, Any],
        version: str,
        max_sessions: int,
        max_events: int,
        int8_screen: bool | None = None,
    ) -> TorchBackend:
        """The backend of a checkpoint's or int8 artefact's payload read elsewhere (a reload's
        child process, :mod:`segue.serve.staging`), checked as ``Recommender.load`` checks
        the file's.

        Raises:
            segue.io.safe_load.CheckpointError: If the payload is not a valid checkpoint.
        """
        rec = Recommender.from_payload(path, payload, int8_screen=int8_screen)
        return cls(rec, version, max_sessions, max_events)

    def warm(self) -> None:
        """Run a lone list and a batch once, so the first requests do not pay for set-up."""
        plays = [Event(track) for track in self.rec.vocab.track_ids[:2]]
        self.recommend(plays, 1, True, None, None, None)
        self.recommend_many([plays, plays[:1]], [1, 1], [True, True])

    def recommend(
        self,
        history: list[Event],
        k: int,
        exclude_played: bool,
        allow: list[str] | None,
        block: list[str] | None,
        max_per_artist: int | None,
    ) -> Listing:
        lists = self.rec.track_lists(
            [_history(history)],
            k=k,
            exclude_played=exclude_played,
            allow=allow,
            block=block,
            max_per_artist=max_per_artist,
        )
        return self._listing_of(lists, 0, Columns.RANK)

    def recommend_many(
        self, histories: list[list[Event]], ks: list[int], exclude_played: list[bool]
    ) -> list[Listing]:
        """:meth:`recommend` of many histories (no filters): one batch per ``exclude_played``."""
        out: list[Listing] = [Listing([]) for _ in histories]
        for flag in (True, False):
            rows = [i for i, e in enumerate(exclude_played) if e == flag]
            if not rows:
                continue
            batch = [_history(histories[i]) for i in rows]
            k = max(ks[i] for i in rows)
            lists = self.rec.track_lists(batch, k=k, exclude_played=flag)
            for q, i in enumerate(rows):
                out[i] = self._listing_of(lists, q, Columns.RANK, limit=ks[i])
        return out

    def continue_playlist(
        self,
        seeds: list[Event],
        n: int,
        no_repeat_window: int | None,
        max_per_artist: int | None,
        allow: list[str] | None,
        block: list[str] | None,
        temperature: float | None,
        seed: int | None,
    ) -> Listing:
        lists = self.rec.playlist_tracks(
            _history(seeds),
            n=n,
            no_repeat_window=no_repeat_window,
            max_per_artist=max_per_artist,
            allow=allow,
            block=block,
            temperature=temperature,
            seed=seed,
        )
        return self._listing_of(lists, 0, Columns.POSITION)

    def continue_many(self, seeds: list[list[Event]], ns: list[int]) -> list[Listing]:
        """Plain greedy playlists generated together (each accepted by :meth:`plain_playlist`).

        Step ``i`` ranks every unfinished playlist's seeds and picks so far in one
        ``track_lists`` call (``recommend_batch``'s lists, ``k=1``, played tracks excluded):
        the best track not yet in the playlist, which is what ``continue_playlist`` without
        constraints picks. Re-encoding the (at most ``max_len``) events of a playlist in the
        batch costs less than the catalogue read the batch shares.
        """
        histories = [[e.track_id for e in s] for s in seeds]  # untimed plays: id lists
        picks: list[list[dict[str, Any]]] = [[] for _ in seeds]
        unknown: list[list[str]] = [[] for _ in seeds]
        exhausted = [False] * len(seeds)
        for step in range(max(ns, default=0)):
            live = [i for i, n in enumerate(ns) if len(picks[i]) < n and not exhausted[i]]
            if not live:
                break
            lists = self.rec.track_lists([histories[i] for i in live], k=1)
            for q, i in enumerate(live):
                if step == 0:
                    unknown[i] = list(lists.unknown_ids[q])
                indices, scores = lists.row(q)
                if not len(indices):  # nothing eligible is left
                    exhausted[i] = True
                    continue
                item = track_items(self.rec.catalogue, indices, scores, Columns.POSITION)[0]
                item[Columns.POSITION] = step + 1
                picks[i].append(item)
                histories[i].append(str(item[Columns.TRACK]))
        return [Listing(p, u, False, x) for p, u, x in zip(picks, unknown, exhausted)]

    def plain_playlist(self, seeds: list[Event], n: int) -> bool:
        # Untimed plays with at least one known id: the picks are then untimed plays after
        # known events in both forms (a session without known events moves the clock
        # differently). Seeds and picks within max_len: the session never rebuilds its cache.
        if not all(e.event_type == "play" and e.timestamp is None for e in seeds):
            return False
        index = self.rec.catalogue.index
        known = sum(e.track_id in index for e in seeds)
        return known >= 1 and known + n - 1 <= self.max_len

    def similar(self, track_id: str, k: int) -> Listing:
        try:
            frame = self.rec.similar_tracks(track_id, k=k)
        except UnknownTracksError as error:
            raise UnknownTrackError(track_id) from error
        return _listing(frame, Columns.RANK)

    def listener(
        self,
        listener_id: str,
        held: ListenerEvents,
        k: int,
        exclude_played: bool,
        allow: list[str] | None,
        block: list[str] | None,
        max_per_artist: int | None,
    ) -> Listing:
        cached = self._entry(listener_id)
        events = held.events
        with cached.lock:  # a SessionState takes one caller at a time
            new = held.total - cached.applied
            # The cache continues the store only if the event before the new ones is the last
            # one it applied (a listener deleted and written again restarts its total).
            state = cached.state
            if (
                state is not None
                and 0 <= new < len(events)
                and events[len(events) - new - 1] == cached.last
                and state.n_events <= 2 * self.max_events
            ):
                for event in events[len(events) - new :]:
                    _add(state, event)
                source = "kv_cache"
            else:  # re-encode the stored events (which also bounds the state's length)
                cached.state = self.rec.session(_history(list(events)), keep=self.max_len)
                source = "reencoded"
            cached.applied, cached.last = held.total, events[-1] if events else None
            assert cached.state is not None
            lists = cached.state.track_lists(
                k=k,
                exclude_played=exclude_played,
                allow=allow,
                block=block,
                max_per_artist=max_per_artist,
            )
        listing = self._listing_of(lists, 0, Columns.RANK)
        listing.source = source
        return listing

    def _listing_of(
        self, lists: TrackLists, query: int, order: str, limit: int | None = None
    ) -> Listing:
        """One query's list (its first ``limit`` tracks) as a :class:`Listing`, straight from
        the arrays (no table)."""
        indices, scores = lists.row(query)
        indices, scores = indices[:limit], scores[:limit]
        return Listing(
            track_items(self.rec.catalogue, indices, scores, order),
            unknown_ids=list(lists.unknown_ids[query]),
            cold_start=bool(lists.cold[query]),
            exhausted=lists.exhausted,
        )

    def forget(self, listener_id: str) -> None:
        with self._guard:
            self._sessions.pop(listener_id, None)

    def _entry(self, listener_id: str) -> _Cached:
        with self._guard:
            cached = self._sessions.get(listener_id)
            if cached is None:
                cached = self._sessions[listener_id] = _Cached()
                while len(self._sessions) > self.max_sessions:
                    self._sessions.popitem(last=False)
            else:
                self._sessions.move_to_end(listener_id)
            return cached


def _add(state: SessionState, event: Event) -> None:
    skipped = event.event_type == "skip"
    kind = None if event.event_type in ("play", "skip") else event.event_type
    state.add(event.track_id, skipped=skipped, timestamp=event.timestamp, event_type=kind)


def _history(events: list[Event]) -> list[str] | pd.DataFrame:
    """Plain plays without times as an id list; anything else as an event table."""
    if all(e.event_type == "play" and e.timestamp is None for e in events):
        return [e.track_id for e in events]
    columns: dict[str, list[Any]] = {
        Columns.TRACK: [e.track_id for e in events],
        Columns.EVENT_TYPE: ["play" if e.event_type == "skip" else e.event_type for e in events],
        Columns.IS_SKIP: [e.event_type == "skip" for e in events],
    }
    if all(e.timestamp is not None for e in events):
        columns[Columns.TIMESTAMP] = [e.timestamp for e in events]
    return pd.DataFrame(columns)


def _items(frame: pd.DataFrame, order: str) -> list[dict[str, Any]]:
    """Rows of an API table as JSON-ready dicts (each column to a Python list once)."""
    ids = frame[Columns.TRACK].to_numpy(dtype=object).tolist()
    scores = frame[Columns.SCORE].to_numpy(dtype=np.float64).tolist()
    places = frame[order].to_numpy(dtype=np.int64).tolist()
    items: list[dict[str, Any]] = [
        {"track_id": t, "score": v, order: p} for t, v, p in zip(ids, scores, places)
    ]
    for column in (Columns.ARTIST, Columns.TRACK_NAME):
        if column in frame:
            values = frame[column].to_numpy(dtype=object).tolist()
            for item, value in zip(items, values):
                item[column] = value if isinstance(value, str) else None  # NaN / None: unknown
    return items


def _listing(frame: pd.DataFrame, order: str) -> Listing:
    """A single request's table as a :class:`Listing`."""
    attrs = frame.attrs
    return Listing(
        _items(frame, order),
        unknown_ids=list(attrs.get(UNKNOWN_IDS, [])),
        cold_start=bool(attrs.get(COLD_START, False)),
        exhausted=bool(attrs.get(EXHAUSTED, False)),
    )
