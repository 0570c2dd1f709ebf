"""Recommendations from an ONNX bundle with numpy and onnxruntime only: no torch, no pandas.

This module imports nothing from segue, so it also works as a single file copied next to a
bundle on a device that has only ``numpy`` and ``onnxruntime``. It reproduces
:meth:`segue.api.Recommender.recommend` for histories of track ids (optionally with event types
and timestamps): the same history encoding, truncation to ``max_len``, [MASK] token for masked
models, exclusion of played tracks, popularity for cold start, and top-k.

Ties between equal scores are broken by the lower track index (``torch.topk`` leaves that order
unspecified; exact float ties do not happen with trained embeddings).

Scoring is a numpy GEMV. For one request at a time on a busy machine, start the process with
``OPENBLAS_NUM_THREADS=1``: waking OpenBLAS's threads for a single GEMV was measured at ~5 ms on
a loaded 2-core machine, against 0.3 ms single-threaded (10k tracks).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

BUNDLE_FORMAT = "segue-onnx-bundle"
BUNDLE_VERSION = 1

SCORE_CHUNK_ROWS = 16384
"""Rows of an int8 catalogue converted to float32 at once (a few MB, never the whole table)."""


class OnnxRecommender:
    """Top-k next tracks from a bundle written by :func:`segue.export.export_onnx`.

    Args:
        bundle_dir: The bundle folder.
        session: The encoder's onnxruntime session.
        meta: ``bundle.json``.
        vocab: ``vocab.json``.
    """

    def __init__(
        self, bundle_dir: Path, session: ort.InferenceSession, meta: dict, vocab: dict
    ) -> None:
        self.bundle_dir, self.session, self.meta = bundle_dir, session, meta
        self.config: dict[str, Any] = meta["model_config"]
        self.track_ids: list[str] = vocab["track_ids"]
        self.index = {t: i + 1 for i, t in enumerate(self.track_ids)}
        self.artists: list[str | None] | None = vocab.get("artists")
        self.names: list[str | None] | None = vocab.get("names")
        popularity = np.concatenate([[-np.inf], np.asarray(vocab["counts"], dtype=np.float32)])
        self.popularity = popularity.astype(np.float32)  # (V,), padding -inf
        self.gap_edges = np.asarray(meta["gap_edges_seconds"], dtype=np.float64)
        if meta["catalogue"] == "int8":
            self.values: np.ndarray = np.load(bundle_dir / "catalogue_int8.npy")  # (V, D) int8
            self.scales: np.ndarray | None = np.load(bundle_dir / "catalogue_scales.npy")  # (V,)
        else:
            self.values, self.scales = np.load(bundle_dir / "catalogue.npy"), None  # (V, D)

    @classmethod
    def load(cls, bundle_dir: str | Path, num_threads: int | None = None) -> OnnxRecommender:
        """Open a bundle.

        Args:
            bundle_dir: The folder written by ``export_onnx``.
            num_threads: onnxruntime intra-op threads (None: its default, all cores).
        """
        bundle_dir = Path(bundle_dir)
        meta = _read_json(bundle_dir / "bundle.json")
        if meta.get("format") != BUNDLE_FORMAT:
            raise ValueError(f"{bundle_dir} is not a segue ONNX bundle")
        if meta["version"] > BUNDLE_VERSION:
            raise ValueError(f"{bundle_dir} was written by a newer segue (v{meta['version']})")
        options = ort.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = num_threads
        session = ort.InferenceSession(
            str(bundle_dir / "encoder.onnx"), options, providers=["CPUExecutionProvider"]
        )
        return cls(bundle_dir, session, meta, _read_json(bundle_dir / "vocab.json"))

    # ----------------------------------------------------------------------------------------
    # Model steps, usable on their own (benchmarks, custom batching)

    def listener_vectors(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The encoder's output for left-padded (B, T) int64 inputs, (B, D) float32.

        Args:
            inputs: ``tracks`` and the side inputs named in ``bundle.json["inputs"]``; a masked
                model's [MASK] column must already be appended.
        """
        feed = {name: np.ascontiguousarray(inputs[name], dtype=np.int64) for name in self.inputs}
        return self.session.run(["listener"], feed)[0]

    def scores(self, listener: np.ndarray) -> np.ndarray:
        """Scores over the catalogue, (B, V) float32; column 0 (padding) is -inf.

        Args:
            listener: Listener vectors, (B, D).
        """
        listener = np.asarray(listener, dtype=np.float32)
        if self.scales is None:
            out = listener @ self.values.T  # (B, V)
        else:
            out = np.empty((listener.shape[0], len(self.values)), dtype=np.float32)
            for start in range(0, len(self.values), SCORE_CHUNK_ROWS):
                rows = slice(start, start + SCORE_CHUNK_ROWS)
                block = self.values[rows].astype(np.float32)  # (n, D): one chunk only
                out[:, rows] = (listener @ block.T) * self.scales[rows]
        out[:, 0] = -np.inf
        return out

    @property
    def inputs(self) -> list[str]:
        return list(self.meta["inputs"])

    # ----------------------------------------------------------------------------------------
    # Ranked lists

    def recommend(
        self,
        history: Sequence[object],
        k: int = 10,
        exclude_played: bool = True,
        event_types: Sequence[str] | None = None,
        timestamps: Sequence[float] | None = None,
    ) -> list[dict[str, Any]]:
        """The k tracks most likely to come next after ``history``, best first.

        Args:
            history: Track ids, oldest first; ids not in the vocabulary are ignored.
            k: List length; fewer when fewer tracks are eligible.
            exclude_played: Never recommend a track of the history.
            event_types: Per event ``play`` / ``skip`` / ``like`` / ...; None means all plays.
            timestamps: Per event, seconds since the epoch; None means back-to-back events.

        Returns:
            One dict per track: ``track_id``, ``score``, ``rank`` (1-based), and ``artist`` /
            ``track_name`` when the vocabulary has them. Cold start (no known id) ranks by
            popularity.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        tracks, types, gaps = self.encode_history(history, event_types, timestamps)
        if len(tracks):
            inputs = self.history_inputs([tracks], [types], [gaps])
            scores = self.scores(self.listener_vectors(inputs))[0]  # (V,)
        else:
            scores = self.popularity.copy()
        if exclude_played and len(tracks):
            scores[tracks] = -np.inf
        return self._rows(*_top_k(scores, k))

    def encode_history(
        self,
        history: Sequence[object],
        event_types: Sequence[str] | None = None,
        timestamps: Sequence[float] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Track indices, event-type indices and gap buckets of the known events, (n,) each.

        As in ``segue.api.history``: events are sorted by timestamp (stably); gaps are measured
        over every event, unknown ones included, when timestamps are given, else assumed
        ``assumed_gap_seconds`` apart over the known events.
        """
        ids = [h if isinstance(h, str) else str(h) for h in history]
        n = len(ids)
        for name, values in (("event_types", event_types), ("timestamps", timestamps)):
            if values is not None and len(values) != n:
                raise ValueError(f"{name} has {len(values)} entries, history has {n}")
        vocab = self.meta["event_types"]
        play = int(self.meta["play_event"])
        types = np.array(
            [play] * n
            if event_types is None
            else [vocab.index(e) if e in vocab else vocab.index("other") for e in event_types],
            dtype=np.int64,
        )
        tracks = np.array([self.index.get(t, 0) for t in ids], dtype=np.int64)
        if timestamps is None:
            known = tracks > 0
            gap_seconds = np.full(int(known.sum()), float(self.meta["assumed_gap_seconds"]))
            gap_seconds[:1] = np.nan  # the first known event has no earlier one
            return tracks[known], types[known], self._gap_buckets(gap_seconds)
        times = np.asarray(timestamps, dtype=np.float64)
        order = np.argsort(times, kind="stable")  # equal times keep the given order
        tracks, types, times = tracks[order], types[order], times[order]
        gaps = self._gap_buckets(np.r_[np.nan, np.diff(times)])  # over every event
        known = tracks > 0
        return tracks[known], types[known], gaps[known]

    def history_inputs(
        self,
        tracks: Sequence[np.ndarray],
        event_types: Sequence[np.ndarray],
        gap_buckets: Sequence[np.ndarray],
    ) -> dict[str, np.ndarray]:
        """Encoder inputs of encoded histories: their last events, left-padded, (B, T) each.

        A causal model reads the last ``max_len`` events; a masked model the last
        ``max_len - 1`` and a [MASK] token (side inputs 0) after them.
        """
        masked = self.config["objective"] == "masked"
        keep = self.config["max_len"] - (1 if masked else 0)
        cut = [len(t[-keep:]) for t in tracks]
        width = max(cut, default=0) + (1 if masked else 0)
        out = {name: np.zeros((len(tracks), width), dtype=np.int64) for name in self.inputs}
        columns = {"tracks": tracks, "event_types": event_types, "gap_buckets": gap_buckets}
        end = width - (1 if masked else 0)
        for name in self.inputs:
            for row, (values, n) in enumerate(zip(columns[name], cut)):
                if n:
                    out[name][row, end - n : end] = values[-n:]
        if masked:
            out["tracks"][:, -1] = self.config["n_tracks"] + 1
        return out

    def _gap_buckets(self, gap_seconds: np.ndarray) -> np.ndarray:
        """``segue.data.features.gap_buckets``: 1 for no earlier event, then one per interval."""
        buckets = np.searchsorted(self.gap_edges, gap_seconds, side="right") + 2
        buckets[np.isnan(gap_seconds)] = 1
        return buckets.astype(np.int64)

    def _rows(self, indices: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
        rows = []
        for rank, (i, score) in enumerate(zip(indices.tolist(), scores.tolist()), start=1):
            row: dict[str, Any] = {"track_id": self.track_ids[i - 1], "score": score, "rank": rank}
            if self.artists is not None:
                row["artist"] = self.artists[i - 1]
            if self.names is not None:
                row["track_name"] = self.names[i - 1]
            rows.append(row)
        return rows


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The (at most) k best finite scores of a (V,) row, best first: indices and scores.

    >>> _top_k(np.array([-np.inf, 0.5, 2.0, -np.inf, 1.0], dtype=np.float32), 5)[0].tolist()
    [2, 4, 1]
    """
    k = min(k, len(scores))
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    order = part[np.lexsort((part, -scores[part]))]  # score descending, then index ascending
    order = order[np.isfinite(scores[order])]
    return order, scores[order]


def _read_json(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
