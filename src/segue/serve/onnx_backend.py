"""The torch-free backend: an ONNX bundle through :class:`segue.export.runtime.OnnxRecommender`.

numpy and onnxruntime only (this module must not import torch or pandas). The runtime gives
the encoder, the history encoding and the catalogue scores (float or int8 catalogue); the
request-level rules of :class:`segue.Recommender` are applied here in numpy: allow / block
lists, exclusion of played tracks, the per-artist cap (:mod:`segue.serve.np_ranking`), cosine
similar tracks, and playlist continuation. Departures from the checkpoint backend:

* no KV cache: a listener's stored events are re-encoded on every call (at most ``max_len``
  of them reach the encoder), and a playlist re-encodes its window at every step;
* sampled continuations (``temperature``) draw from numpy's generator, so a seed gives a
  different (still reproducible) playlist than the checkpoint backend's torch generator.

With an int8 kernel installed (extra ``onnx``), a float bundle of at least
:data:`~segue.export.screen.SCREEN_MIN_TRACKS` tracks ranks single lists and greedy playlist
picks through an int8 screen as :class:`segue.Recommender` does (:mod:`segue.api.int8_screen`;
the numpy arithmetic is :mod:`segue.export.screen`): every track scored by the int8 kernel
(:mod:`segue.export.int8_kernel`: Numba, or onnxruntime's integer GEMM), then only the tracks
that can still make the list re-scored in float, so the lists are the float product's. An int8
bundle is scored by that kernel directly (its scores are within the kernel's query error bound
of the runtime's chunked product).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from segue.export.int8_kernel import Int8Kernel, backend_installed
from segue.export.request_bounds import sampling_weights
from segue.export.runtime import OnnxRecommender
from segue.export.screen import (
    SCREEN_DIGITS,
    SCREEN_MIN_TRACKS,
    ScreenBounds,
    floor_below,
    quantize_table,
)
from segue.serve.backends import UnknownTrackError
from segue.serve.events import Event, ListenerEvents
from segue.serve.listing import Listing
from segue.serve.np_ranking import best, top_k

NORM_CHUNK_ROWS = 16384


class OnnxBackend:
    """A :class:`segue.serve.backends.Backend` over an ONNX bundle.

    Args:
        rec: The runtime.
        version: The bundle's version string.
    """

    kind = "onnx"

    def __init__(
        self, rec: OnnxRecommender, version: str, screen: tuple[Any, ScreenBounds] | None = None
    ) -> None:
        self.rec, self.version = rec, version
        self.screen = screen  # (Int8Kernel, its bounds): see the module docstring
        self.n_tracks = len(rec.track_ids)
        artists = rec.artists or [None] * self.n_tracks
        names = {a: i for i, a in enumerate(sorted({a for a in artists if a is not None}), 1)}
        numbers = [0 if a is None else names[a] for a in artists]
        self.artist_of_track = np.array([0, *numbers], dtype=np.int64)  # (V,), 0 = unknown
        self.norms = _row_norms(rec)  # (V,), for cosine similarity
        play = int(rec.meta["play_event"])
        assumed = np.array([float(rec.meta["assumed_gap_seconds"])])
        self._play = play
        self._assumed_bucket = int(rec._gap_buckets(assumed)[0])  # same buckets as the runtime

    @classmethod
    def load(cls, path: Path, version: str, screen_min_tracks: int | None = None) -> OnnxBackend:
        """Open a bundle; ``screen_min_tracks``: a float bundle's screen from this many tracks
        (default :data:`~segue.export.screen.SCREEN_MIN_TRACKS`)."""
        rec = OnnxRecommender.load(path, num_threads=1)
        if not backend_installed():  # Numba, or onnx to build onnxruntime's GEMM graph
            return cls(rec, version)
        if rec.scales is not None:
            # An int8 catalogue through the int8 kernel: faster than the runtime's
            # float conversion of row chunks. No screen: it would read the same int8 table
            # and only add passes (0.75-0.85x on 2026-12-05).
            rec.use_int8_kernel(Int8Kernel(rec.values, rec.scales, threads=1))
            return cls(rec, version)
        minimum = SCREEN_MIN_TRACKS if screen_min_tracks is None else screen_min_tracks
        if len(rec.values) - 1 < minimum or rec.blend is not None:
            # A transition blend's terms read every track's score (their normaliser), so its
            # bundle is scored exhaustively, never from the few tracks a screen keeps.
            return cls(rec, version)
        values, scales, bounds = quantize_table(rec.values)
        kernel = Int8Kernel(values, scales, threads=1, digits=SCREEN_DIGITS)
        return cls(rec, version, (kernel, bounds))

    def warm(self) -> None:
        """Run a lone list and a batch once, so the first requests do not pay for set-up."""
        plays = [Event(track) for track in self.rec.track_ids[:2]]
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
        tracks, types, gaps, unknown = self._encode(history)

        def mask(scores: np.ndarray) -> None:
            if exclude_played:
                scores[tracks] = -np.inf
            self._mask(scores, allow, block)

        screened = self._screened(tracks, types, gaps, mask, k, max_per_artist)
        if screened is not None:  # the list from the few tracks that can make it
            candidates, exact = screened
            local = top_k(exact, k, self.artist_of_track[candidates], max_per_artist)
            picks, picked = candidates[local], exact[local]
        else:
            scores = self._scores(tracks, types, gaps)
            mask(scores)
            picks = top_k(scores, k, self.artist_of_track, max_per_artist)
            picked = scores[picks]
        return Listing(self._rows(picks, picked, "rank"), unknown, len(tracks) == 0)

    def recommend_many(
        self, histories: list[list[Event]], ks: list[int], exclude_played: list[bool]
    ) -> list[Listing]:
        """:meth:`recommend` of many histories (no filters): one encoder batch, one GEMM."""
        encoded = [self._encode(h) for h in histories]
        warm = [i for i, e in enumerate(encoded) if len(e[0])]
        scores = np.tile(self.rec.popularity, (len(histories), 1))  # (B, V); cold rows keep it
        if warm:
            inputs = self.rec.history_inputs(
                [encoded[i][0] for i in warm],
                [encoded[i][1] for i in warm],
                [encoded[i][2] for i in warm],
            )
            scores[warm] = self.rec.history_scores(inputs)  # (B', V), the prior included
        out = []
        for i, (tracks, _, _, unknown) in enumerate(encoded):
            row = scores[i]
            if exclude_played[i]:
                row[tracks] = -np.inf
            picks = best(row, ks[i])
            out.append(Listing(self._rows(picks, row[picks], "rank"), unknown, not len(tracks)))
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
        tracks, types, gaps, unknown = self._encode(seeds)
        cold = len(tracks) == 0
        blocked = np.zeros(self.n_tracks + 1, dtype=bool)
        blocked[0] = True
        if no_repeat_window is None:
            blocked[tracks] = True
        self._mask_bool(blocked, allow, block)
        per_artist: dict[int, int] = {}
        rng = np.random.default_rng(seed)
        picks: list[int] = []
        picked_scores: list[float] = []
        while len(picks) < n:
            recent = tracks[-no_repeat_window:] if no_repeat_window else tracks[:0]

            def mask(scores: np.ndarray, recent: np.ndarray = recent) -> None:
                scores[blocked] = -np.inf
                scores[recent] = -np.inf

            screened = None
            if temperature is None:  # greedy: only the best track's score is needed
                screened = self._screened(tracks, types, gaps, mask, 1, None)
            if screened is not None:
                candidates, exact = screened
                best_local = int(exact.argmax())  # the first of equal maxima: the lower index
                pick, score = int(candidates[best_local]), float(exact[best_local])
            else:
                scores = self._scores(tracks, types, gaps)
                mask(scores)
                found = _pick(scores, temperature, rng)
                if found is None:
                    break
                pick, score = found, float(scores[found])
            picks.append(pick)
            picked_scores.append(score)
            if no_repeat_window is None:
                blocked[pick] = True
            artist = int(self.artist_of_track[pick])
            if max_per_artist is not None and artist:
                per_artist[artist] = per_artist.get(artist, 0) + 1
                if per_artist[artist] >= max_per_artist:
                    blocked[self.artist_of_track == artist] = True
            gap = 1 if len(tracks) == 0 and not unknown else self._assumed_bucket
            tracks = np.r_[tracks, pick]
            types, gaps = np.r_[types, self._play], np.r_[gaps, gap]
        rows = self._rows(np.asarray(picks, dtype=np.int64), np.asarray(picked_scores), "position")
        return Listing(rows, unknown, cold, exhausted=len(picks) < n)

    def continue_many(self, seeds: list[list[Event]], ns: list[int]) -> list[Listing]:
        return [self.continue_playlist(s, n, *_PLAIN) for s, n in zip(seeds, ns)]

    def plain_playlist(self, seeds: list[Event], n: int) -> bool:
        return False  # no batched generation: each playlist runs whole (continue_many loops)

    def similar(self, track_id: str, k: int) -> Listing:
        index = self.rec.index.get(track_id)
        if index is None:
            raise UnknownTrackError(track_id)
        vector = self._row(index)  # (D,)
        sims = self.rec.dot_scores(vector[None])[0] / np.maximum(
            self.norms * self.norms[index], 1e-12
        )
        sims[[0, index]] = -np.inf
        picks = best(sims, k)
        return Listing(self._rows(picks, sims[picks], "rank"))

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
        listing = self.recommend(list(held.events), k, exclude_played, allow, block, max_per_artist)
        listing.source = "reencoded"
        return listing

    def forget(self, listener_id: str) -> None:
        return None  # nothing is cached per listener

    # ----------------------------------------------------------------------------------------

    def _encode(self, events: list[Event]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
        ids = [e.track_id for e in events]
        times = [e.timestamp for e in events]
        timestamps = times if events and all(t is not None for t in times) else None
        types = [e.event_type for e in events]
        tracks, kinds, gaps = self.rec.encode_history(ids, types, timestamps)  # type: ignore[arg-type]
        unknown = [i for i in ids if i not in self.rec.index]
        return tracks, kinds, gaps, unknown

    def _scores(self, tracks: np.ndarray, types: np.ndarray, gaps: np.ndarray) -> np.ndarray:
        """Scores over the catalogue after the history, (V,); popularity when it is empty."""
        if not len(tracks):
            return self.rec.popularity.copy()
        inputs = self.rec.history_inputs([tracks], [types], [gaps])
        return self.rec.history_scores(inputs)[0]

    def _screened(
        self,
        tracks: np.ndarray,
        types: np.ndarray,
        gaps: np.ndarray,
        mask: Callable[[np.ndarray], None],
        k: int,
        cap: int | None,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The tracks that can make a list of ``k`` under ``cap`` after ``mask`` (ascending)
        and the runtime's own scores for them, prior included: the list taken from them is the
        list of the full scores. None without a screen, without history, or when fewer than
        ``k`` tracks are eligible (the caller then scores every track)."""
        if self.screen is None or not len(tracks):
            return None
        kernel, bounds = self.screen
        rec = self.rec
        inputs = rec.history_inputs([tracks], [types], [gaps])
        listener = rec.listener_vectors(inputs)  # (1, D)
        approx = kernel.score_array(listener)  # (1, V), a fresh array
        prior, found = rec.prior, None
        if prior is not None:  # counted once: added here, then to the exact candidates
            found = prior.counts(inputs["tracks"], listener)
            prior.add_counts(approx, found)
        row = approx[0]
        row[0] = -np.inf
        mask(row)
        first = top_k(row, k, self.artist_of_track, cap)
        if len(first) < k:
            return None
        kth, best = row[first[-1:]], row[first[:1]]
        floor = floor_below(kth, best, listener, bounds, kernel.digits)[0]
        candidates = np.flatnonzero(row >= floor)
        exact = self._dots(candidates, listener[0])
        if prior is not None and found is not None:  # the prior's terms, as full scoring adds

            def own(_rows: np.ndarray, items: np.ndarray) -> np.ndarray:
                return self._dots(items, listener[0])  # one row: the exact scores of items

            items, values = found.items, prior.values(found, own)
            at = np.minimum(np.searchsorted(candidates, items), len(candidates) - 1)
            hit = candidates[at] == items
            np.add.at(exact, at[hit], values[hit])
        return candidates, exact

    def _dots(self, candidates: np.ndarray, listener: np.ndarray) -> np.ndarray:
        """The runtime's dot products of ``listener`` with the ``candidates``' rows, (n,)."""
        rows = self.rec.values[candidates]
        if self.rec.scales is None:
            return rows @ listener
        return (rows.astype(np.float32) @ listener) * self.rec.scales[candidates]

    def _mask(self, scores: np.ndarray, allow: list[str] | None, block: list[str] | None) -> None:
        blocked = np.zeros(len(scores), dtype=bool)
        self._mask_bool(blocked, allow, block)
        scores[blocked] = -np.inf

    def _mask_bool(
        self, blocked: np.ndarray, allow: list[str] | None, block: list[str] | None
    ) -> None:
        """Mark what allow / block forbid, in place, (V,) bool; unknown ids are ignored."""
        if block:
            blocked[self._indices(block)] = True
        if allow is not None:
            allowed = np.zeros(len(blocked), dtype=bool)
            allowed[self._indices(allow)] = True
            blocked |= ~allowed

    def _indices(self, ids: list[str]) -> np.ndarray:
        found = (self.rec.index.get(i) for i in ids)
        return np.array([i for i in found if i is not None], dtype=np.int64)

    def _row(self, index: int) -> np.ndarray:
        row = self.rec.values[index].astype(np.float32)
        return row if self.rec.scales is None else row * self.rec.scales[index]

    def _rows(self, picks: np.ndarray, scores: np.ndarray, order: str) -> list[dict[str, Any]]:
        rows = []
        for place, (i, score) in enumerate(zip(picks.tolist(), scores.tolist()), start=1):
            row: dict[str, Any] = {"track_id": self.rec.track_ids[i - 1], "score": score}
            row[order] = place
            if self.rec.artists is not None:
                row["artist"] = self.rec.artists[i - 1]
            if self.rec.names is not None:
                row["track_name"] = self.rec.names[i - 1]
            rows.append(row)
        return rows


def _row_norms(rec: OnnxRecommender) -> np.ndarray:
    """L2 norm of every catalogue row as the runtime scores it (int8 rows times their scale)."""
    norms = np.empty(len(rec.values), dtype=np.float32)
    for start in range(0, len(rec.values), NORM_CHUNK_ROWS):
        rows = slice(start, start + NORM_CHUNK_ROWS)
        norms[rows] = np.linalg.norm(rec.values[rows].astype(np.float32), axis=1)
    return norms if rec.scales is None else norms * np.abs(rec.scales)


def _pick(scores: np.ndarray, temperature: float | None, rng: np.random.Generator) -> int | None:
    """The next track among the finite scores, (V,); None when none is eligible."""
    finite = np.isfinite(scores)
    if not finite.any():
        return None
    if temperature is None:
        return int(best(scores, 1)[0])
    weights = sampling_weights(scores, temperature)  # stable for any temperature > 0
    return int(rng.choice(len(scores), p=weights / weights.sum()))


_PLAIN = (None, None, None, None, None, None)
"""No window, artist cap, allow or block list, temperature or seed: a plain greedy playlist."""
