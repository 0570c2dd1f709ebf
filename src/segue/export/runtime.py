"""Recommendations from an ONNX bundle with numpy and onnxruntime only: no torch, no pandas.

This module imports only two torch-free segue modules (``segue.side_inputs`` and
``segue.export.prior_numpy``, plain numpy), so it runs on a device that has only ``numpy`` and
``onnxruntime`` with those three files copied next to a bundle. It reproduces
:meth:`segue.api.Recommender.recommend` for histories of track ids (optionally with event types
and timestamps): the same history encoding, truncation to ``max_len``, [MASK] token for masked
models, exclusion of played tracks, popularity for cold start, and top-k.

Ties between equal scores are broken by the lower track index (``torch.topk`` leaves that order
unspecified; exact float ties do not happen with trained embeddings).

Opening a bundle checks it whole before the first request (:class:`BundleError` names the file
and the problem): ``bundle.json``'s keys and types, ``vocab.json`` with one id per catalogue
track, the catalogue arrays' dtypes and shapes read from their headers before any array is
allocated (a header cannot make the loader allocate more than the file holds), finite values,
the encoder's input names, and one run of the encoder on a one-event history (a finite vector
of the catalogue's width). A bundle is data: ``.npy`` files load without pickles, and
nothing in ``bundle.json`` names code. From bundle version 2, ``bundle.json`` holds the SHA-256 of
every other file of the bundle (``sha256``), checked before any of them is read: a flipped byte
anywhere is refused, naming the file. Version 1 bundles (no checksums) still load, with the
structural checks alone. (These checks live here, not in segue's checkpoint
module, so that this file still works alone.)

A model with a history prior (``model_config.history_prior``) is served with it: the bundle
carries its gate and transition table as ``.npy`` files (checksummed and shape-checked like the
catalogue), and :meth:`OnnxRecommender.scores` adds the prior's terms, computed in numpy from the
same padded tracks as the listener vectors (:mod:`segue.export.prior_numpy`, a port of the
torch code tested against it). A bundle whose config has a prior but no prior files is refused.
A model with a transition blend (``model_config.blend_weight`` or ``blend_cooccurrence`` > 0)
is served the same way: its table as two ``.npy`` files (two more for a co-occurrence memory),
its terms added in numpy after the prior's, on the dense scores
(:mod:`segue.models.transition_blend`, :mod:`segue.export.cooccurrence_numpy`).

Scoring is a numpy GEMV. For one request at a time on a busy machine, start the process with
``OPENBLAS_NUM_THREADS=1``: waking OpenBLAS's threads for a single GEMV was measured at ~5 ms on
a loaded 2-core machine, against 0.3 ms single-threaded (10k tracks).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import numbers
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import onnxruntime as ort

from segue.export.cooccurrence_numpy import COOCCURRENCE_FILES
from segue.export.prior_numpy import (
    BLEND_FILES,
    CHAIN_RULES,
    COMBINES,
    TABLE_FILES,
    BlendArrays,
    PriorArrays,
    enabled_features,
    enabled_tables,
    prior_files,
)
from segue.export.request_bounds import MAX_EPOCH_SECONDS
from segue.side_inputs import SIDE_INPUTS

BUNDLE_FORMAT = "segue-onnx-bundle"
BUNDLE_VERSION = 2
"""1: no checksums; 2: ``bundle.json["sha256"]`` holds every other file's SHA-256."""

SCORE_CHUNK_ROWS = 16384
"""Rows of an int8 catalogue converted to float32 at once (a few MB, never the whole table)."""

INPUT_NAMES = ("tracks", *(s.name for s in SIDE_INPUTS if not s.per_track))
"""Encoder inputs a bundle may declare; the graph looks per-track inputs (artists) up itself."""
META_KEYS = {
    "format",
    "version",
    "model_config",
    "inputs",
    "catalogue",
    "opset",
    "play_event",
    "event_types",
    "gap_edges_seconds",
    "assumed_gap_seconds",
}
CHECKSUM_KEY = "sha256"
"""``bundle.json`` key (version >= 2): file name -> hex SHA-256, for every file but itself."""
VOCAB_KEYS = {"track_ids", "counts", "artists", "albums", "names"}


class BundleError(ValueError):
    """An ONNX bundle that cannot be served: names the file and what is wrong.

    >>> str(BundleError("bundle/vocab.json", "track_ids must be a list"))
    'bundle/vocab.json: track_ids must be a list'
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


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
        # Cold start scores as segue.api.ranking.popularity_logits: log-probabilities of add-one
        # smoothed popularity, on the model's logit scale.
        plays = np.asarray(vocab["counts"], dtype=np.float64) + 1.0  # checked: finite, >= 0
        popularity = np.concatenate([[-np.inf], np.log(plays) - np.log(plays.sum())])
        self.popularity = popularity.astype(np.float32)  # (V,), padding -inf
        self.gap_edges = np.asarray(meta["gap_edges_seconds"], dtype=np.float64)
        if meta["catalogue"] == "int8":
            self.values: np.ndarray = _load_npy(bundle_dir / "catalogue_int8.npy")  # (V, D) int8
            self.scales: np.ndarray | None = _load_npy(bundle_dir / "catalogue_scales.npy")  # (V,)
        else:
            self.values, self.scales = _load_npy(bundle_dir / "catalogue.npy"), None  # (V, D)
        self.int8_kernel: Any = None  # see use_int8_kernel
        self.prior: PriorArrays | None = None
        if _has_prior(meta):
            combine, tables = prior_combine(meta), prior_tables(meta)
            arrays = {
                field: _load_npy(bundle_dir / name)
                for field, name in prior_files(combine, tables).items()
            }
            window, decay = self.config["prior_window"], self.config["prior_decay"]
            # Absent in a bundle written before these features existed: off, as then.
            plays, chain = (
                self.config.get("prior_plays", False),
                self.config.get("prior_chain", False),
            )
            self.prior = PriorArrays(
                **arrays,
                window=window,
                decay=float(decay),
                plays=plays,
                chain=chain,
                chain_rule=self.config.get("prior_chain_rule", "known"),
                plays_outside_chain=self.config.get("prior_plays_outside_chain", False),
                combine=combine,
                album_fresh=self.config.get("prior_album_fresh", 0) if "album" in tables else 0,
                album_run=self.config.get("prior_album_run", False),
            )
        self.blend: BlendArrays | None = None
        if has_blend(meta):
            self.blend = self._blend_arrays(bundle_dir, meta)

    def _blend_arrays(self, bundle_dir: Path, meta: Mapping[str, Any]) -> BlendArrays:
        """The blend's tables and settings, checked by :meth:`load` before."""
        blend = BlendArrays(
            successors=_load_npy(bundle_dir / BLEND_FILES["successors"]),
            successor_counts=_load_npy(bundle_dir / BLEND_FILES["successor_counts"]),
            weight=float(self.config.get("blend_weight", 0.0)),
        )
        if not has_cooccurrence(meta):
            return blend
        return dataclasses.replace(  # the memory's settings are present: load() checked them
            blend,
            neighbours=_load_npy(bundle_dir / COOCCURRENCE_FILES["neighbours"]),
            neighbour_weights=_load_npy(bundle_dir / COOCCURRENCE_FILES["neighbour_weights"]),
            cooccurrence=float(self.config["blend_cooccurrence"]),
            history=int(self.config["blend_history"]),
            decay=float(self.config["blend_decay"]),
        )

    @classmethod
    def load(cls, bundle_dir: str | Path, num_threads: int | None = None) -> OnnxRecommender:
        """Open a bundle, checking all of it first (see the module docstring).

        Args:
            bundle_dir: The folder written by ``export_onnx``.
            num_threads: onnxruntime intra-op threads (None: its default, all cores).

        Raises:
            FileNotFoundError: If ``bundle_dir`` is not a folder.
            BundleError: For a missing, unreadable or inconsistent part, naming the file.
        """
        if not isinstance(bundle_dir, str | os.PathLike):
            raise TypeError(f"bundle_dir must be a folder path, got {type(bundle_dir).__name__}")
        if num_threads is not None and (
            not isinstance(num_threads, numbers.Integral) or isinstance(num_threads, bool)
        ):
            raise TypeError(f"num_threads must be an integer >= 1 or None, got {num_threads!r}")
        if num_threads is not None and num_threads < 1:
            raise ValueError(f"num_threads must be an integer >= 1 or None, got {num_threads}")
        bundle_dir = Path(bundle_dir)
        if not bundle_dir.is_dir():
            is_file = bundle_dir.is_file()
            hint = " (a file: a bundle is the folder export_onnx writes)" if is_file else ""
            raise FileNotFoundError(f"no ONNX bundle folder at {bundle_dir}{hint}")
        meta = _checked_meta(bundle_dir / "bundle.json")
        if meta["version"] >= 2:  # before any other file is parsed
            verify_checksums(bundle_dir, meta[CHECKSUM_KEY])
        config = meta["model_config"]
        vocab = _checked_vocab(bundle_dir / "vocab.json", config["n_tracks"])
        rows, width = config["n_tracks"] + 1, config["d_model"]
        if meta["catalogue"] == "int8":
            _check_npy(bundle_dir / "catalogue_int8.npy", np.int8, (rows, width))
            _check_npy(bundle_dir / "catalogue_scales.npy", np.float32, (rows,))
        else:
            _check_npy(bundle_dir / "catalogue.npy", np.float32, (rows, width))
        if _has_prior(meta):
            features = len(
                enabled_features(
                    config.get("prior_plays", False),
                    config.get("prior_chain", False),
                    **{name: True for name in prior_tables(meta)},
                    album_run=config.get("prior_album_run", False),
                )
            )
            _check_prior_files(bundle_dir, rows, width, config, features, prior_combine(meta))
        if has_blend(meta):
            _check_blend_files(bundle_dir, rows, config["blend_successors"])
        if has_cooccurrence(meta):
            _check_cooccurrence_files(bundle_dir, rows, config["blend_neighbours"])
        options = ort.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = int(num_threads)
        encoder = bundle_dir / "encoder.onnx"
        try:
            session = ort.InferenceSession(
                str(encoder), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own classes (Fail, InvalidGraph...)
            reason = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
            raise BundleError(encoder, f"not a loadable ONNX model ({reason})") from None
        names = [i.name for i in session.get_inputs()]
        outputs = [o.name for o in session.get_outputs()]
        if names != meta["inputs"] or "listener" not in outputs:
            raise BundleError(
                encoder,
                f"the graph's inputs {names} / outputs {outputs} do not match "
                f"bundle.json's inputs {meta['inputs']} and output 'listener'",
            )
        recommender = cls(bundle_dir, session, meta, vocab)
        recommender._check_encoder(encoder)
        return recommender

    def _check_encoder(self, path: Path) -> None:
        """Run the encoder once on a one-event history: it must give one finite (1, D) vector.

        An encoder swapped in from another export (another width, or one that fails on this
        bundle's inputs) is refused when the bundle is opened, not at the first request.
        """
        play = np.array([int(self.meta["play_event"])])
        inputs = self.history_inputs([np.array([1])], [play], [np.array([1])])
        try:
            out = np.asarray(self.listener_vectors(inputs))
        except Exception as error:  # onnxruntime's own classes
            reason = str(error).strip().splitlines()[0] if str(error).strip() else "no detail"
            raise BundleError(path, f"fails on a one-event history ({reason})") from None
        width = self.config["d_model"]
        if out.shape != (1, width) or not np.isfinite(out).all():
            raise BundleError(
                path,
                f"gives listener vectors of shape {out.shape} (finite: {np.isfinite(out).all()}) "
                f"for one history; bundle.json's model_config needs (1, {width}), finite",
            )

    # ----------------------------------------------------------------------------------------
    # Model steps, usable on their own (benchmarks, custom batching)

    def listener_vectors(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The encoder's output for left-padded (B, T) int64 inputs, (B, D) float32.

        Args:
            inputs: ``tracks`` and the side inputs named in ``bundle.json["inputs"]``; a masked
                model's [MASK] column must already be appended.
        """
        missing = [name for name in self.inputs if name not in inputs]
        if missing:
            raise ValueError(f"inputs lacks {missing}: this bundle's encoder reads {self.inputs}")
        feed = {name: np.ascontiguousarray(inputs[name], dtype=np.int64) for name in self.inputs}
        shapes = {name: array.shape for name, array in feed.items()}
        if any(len(shape) != 2 for shape in shapes.values()) or len(set(shapes.values())) > 1:
            raise ValueError(f"inputs must be (B, T) arrays of one shape, got {shapes}")
        return self.session.run(["listener"], feed)[0]

    def history_scores(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Scores over the catalogue after left-padded encoder inputs (``history_inputs``),
        (B, V) float32: :meth:`listener_vectors` then :meth:`scores` with the same tracks, so
        a history prior is never left out."""
        return self.scores(self.listener_vectors(inputs), inputs["tracks"])

    def scores(self, listener: np.ndarray, tracks: np.ndarray | None = None) -> np.ndarray:
        """Scores over the catalogue, (B, V) float32; column 0 (padding) is -inf.

        ``TrackTransformer.score``'s contract: the dot products with the catalogue, plus the
        history prior's terms when the bundle's model has one.

        Args:
            listener: Listener vectors, (B, D).
            tracks: The left-padded tracks the vectors came from (``history_inputs``'s
                ``tracks``), (B, T); needed by (and only by) a bundle with a history prior.
        """
        out = self.dot_scores(listener)
        if self.prior is None and self.blend is None:
            return out
        tracks = None if tracks is None else np.asarray(tracks, dtype=np.int64)
        if tracks is None or tracks.ndim != 2 or len(tracks) != len(out):
            raise ValueError(
                "this bundle's model has a history prior or a transition blend: pass "
                "scores(listener, tracks) with the (B, T) left-padded tracks the listener "
                "vectors came from"
            )
        if self.prior is not None:
            self.prior.add_to(out, tracks, np.asarray(listener, dtype=np.float32))
        if self.blend is not None:  # on the scores with the prior's terms, as the model
            self.blend.add_to(out, tracks)
        return out

    def use_int8_kernel(self, kernel: Any) -> None:
        """Score an int8 catalogue with ``kernel`` instead of converting row chunks to float.

        ``kernel`` is a :class:`segue.export.int8_kernel.Int8Kernel` over this bundle's
        ``values`` and ``scales`` (built outside this file, which needs only numpy and
        onnxruntime: the kernel needs the ``onnx`` package too). Its scores differ from the
        chunked product's by at most its ``query_error_bound``, ~100x below the int8 table's
        own rounding.

        Raises:
            ValueError: For a float catalogue, or a kernel of another shape.
        """
        if self.scales is None:
            raise ValueError("this bundle's catalogue is float32: an int8 kernel does not apply")
        if (kernel.n_rows, kernel.dim) != self.values.shape:
            raise ValueError(
                f"the kernel covers {kernel.n_rows} x {kernel.dim}, the catalogue "
                f"{self.values.shape[0]} x {self.values.shape[1]}"
            )
        self.int8_kernel = kernel

    def dot_scores(self, listener: np.ndarray) -> np.ndarray:
        """Dot products of listener vectors (B, D) with the catalogue, (B, V) float32, column 0
        -inf: :meth:`scores` without the prior (for similarities between tracks)."""
        listener = np.asarray(listener, dtype=np.float32)
        width = self.values.shape[1]
        if listener.ndim != 2 or listener.shape[1] != width:
            raise ValueError(f"listener must be (B, {width}), got shape {listener.shape}")
        if self.scales is None:
            out = listener @ self.values.T  # (B, V)
        elif self.int8_kernel is not None:
            out = np.ascontiguousarray(self.int8_kernel.score_array(listener))  # (B, V)
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
        k = _check_k(k)
        if not isinstance(exclude_played, bool | np.bool_):
            raise TypeError(f"exclude_played must be True or False, got {exclude_played!r}")
        tracks, types, gaps = self.encode_history(history, event_types, timestamps)
        if len(tracks):
            inputs = self.history_inputs([tracks], [types], [gaps])
            scores = self.history_scores(inputs)[0]  # (V,)
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
        over every event, unknown ones included: from the timestamps when given, else
        assumed ``assumed_gap_seconds`` apart.
        """
        if isinstance(history, set | frozenset):  # hash order, which changes between processes
            raise TypeError(
                "history must be in listening order (a list, tuple or array, oldest first), "
                f"got a {type(history).__name__}"
            )
        ids = [h if isinstance(h, str) else str(h) for h in _id_list("history", history)]
        n = len(ids)
        for name, values in (("event_types", event_types), ("timestamps", timestamps)):
            if values is None:
                continue
            if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
                raise TypeError(f"{name} must be a list with one entry per event, got {values!r}")
            if len(values) != n:
                raise ValueError(f"{name} has {len(values)} entries, history has {n}")
        types = np.array(self._event_indices(event_types, n), dtype=np.int64)
        tracks = np.array([self.index.get(t, 0) for t in ids], dtype=np.int64)
        if timestamps is None:
            # over every event too: an unknown id before the first known one is an earlier
            # event, so that first known one gets the assumed gap, not "no earlier event"
            gap_seconds = np.full(n, float(self.meta["assumed_gap_seconds"]))
            gap_seconds[:1] = np.nan  # the first event has no earlier one
            known = tracks > 0
            return tracks[known], types[known], self._gap_buckets(gap_seconds)[known]
        times = _seconds(timestamps)
        order = np.argsort(times, kind="stable")  # equal times keep the given order
        tracks, types, times = tracks[order], types[order], times[order]
        gaps = self._gap_buckets(np.r_[np.nan, np.diff(times)])  # over every event
        known = tracks > 0
        return tracks[known], types[known], gaps[known]

    def _event_indices(self, event_types: Sequence[str] | None, n: int) -> list[int]:
        """Index of each event's type; a name outside the bundle's vocabulary is an error.

        As in ``segue.api.history``: a caller names the type itself, so a typo ("plya") is
        refused rather than read as ``other``; None (per event or for all) means a play.
        """
        play = int(self.meta["play_event"])
        if event_types is None:
            return [play] * n
        vocab = self.meta["event_types"]
        for i, name in enumerate(event_types):
            if name is not None and (not isinstance(name, str) or name not in vocab):
                raise ValueError(f"event_types[{i}] must be one of {vocab}, got {name!r}")
        return [play if name is None else vocab.index(name) for name in event_types]

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
    order = top_indices(scores, k)
    return order, scores[order]


def top_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the (at most) k best finite scores of a (V,) row, best first; ties go to
    the lower index, also among the scores tied with the k-th (a plain ``argpartition``
    keeps any of those).

    >>> top_indices(np.array([1.0, 3.0, 1.0, 1.0, 3.0]), 3).tolist()
    [1, 4, 0]
    """
    k = min(k, len(scores))
    part = np.arange(len(scores))
    if k < len(scores):  # the entries above the k-th value, then the lowest-index ties with it
        kth = -np.partition(-scores, k - 1)[k - 1]
        above = np.flatnonzero(scores > kth)
        part = np.concatenate([above, np.flatnonzero(scores == kth)[: k - len(above)]])
    order = part[np.lexsort((part, -scores[part]))]  # score descending, then index ascending
    return order[np.isfinite(scores[order])]


def _check_k(k: object) -> int:
    """A request's list length: an integer >= 1 (numpy integers too, never a bool)."""
    if not isinstance(k, numbers.Integral) or isinstance(k, bool):
        raise TypeError(f"k must be an integer >= 1, got {k!r} ({type(k).__name__})")
    if k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k}")
    return int(k)


def _id_list(name: str, ids: object) -> list[object]:
    """A collection of track ids as a list; one string (or number) is one id, not its letters;
    bytes are decoded as UTF-8, inside a list too (as ``segue.constraints.id_list``)."""
    if isinstance(ids, str | bytes | numbers.Number):
        return [ids.decode() if isinstance(ids, bytes) else ids]
    if isinstance(ids, Mapping) or not isinstance(ids, Iterable):
        raise TypeError(
            f"{name} must be a list of track ids (or one id), got a {type(ids).__name__}"
        )
    items = list(ids)
    containers = (list, tuple, set, frozenset, dict, np.ndarray)  # never one id
    if any(issubclass(kind, containers) for kind in set(map(type, items))):
        i = next(i for i, item in enumerate(items) if isinstance(item, containers))
        raise TypeError(f"{name}[{i}] is a {type(items[i]).__name__}, not a track id")
    return [item.decode() if isinstance(item, bytes) else item for item in items]


def _seconds(timestamps: Sequence[float]) -> np.ndarray:
    """Timestamps as finite float seconds, (n,), or a ``ValueError`` naming the bad one."""
    try:
        times = np.asarray(timestamps, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"timestamps must be seconds since the epoch ({error})") from None
    if times.ndim != 1:
        raise ValueError(f"timestamps must be one number per event, got shape {times.shape}")
    bad = np.flatnonzero(~(np.abs(times) <= MAX_EPOCH_SECONDS))  # NaN, inf, or not seconds
    if bad.size:
        raise ValueError(
            f"timestamps must be finite seconds since the epoch, at most {MAX_EPOCH_SECONDS:g} "
            f"(milliseconds? divide by 1000): timestamps[{bad[0]}] is {times[bad[0]]}"
        )
    return times


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or a :class:`BundleError` naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise BundleError(path, "missing from the bundle") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(path, f"not readable JSON ({error})") from None
    except RecursionError:  # json's parser recurses once per nested bracket
        raise BundleError(path, "not readable JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise BundleError(path, f"must hold a JSON object, got {type(data).__name__}")
    return data


def _checked_meta(path: Path) -> dict[str, Any]:
    """``bundle.json``, with every key the runtime reads present and of the right type."""
    meta = _read_json(path)
    if meta.get("format") != BUNDLE_FORMAT:
        raise BundleError(path, f"not a segue ONNX bundle (format {meta.get('format')!r})")
    version = meta.get("version")
    if not _is_int(version) or version < 1:
        raise BundleError(path, f"version must be an integer >= 1, got {version!r}")
    if version > BUNDLE_VERSION:
        raise BundleError(
            path,
            f"written by a newer segue (bundle version {version}; this runtime reads up "
            f"to {BUNDLE_VERSION}): upgrade segue",
        )
    keys = META_KEYS | {CHECKSUM_KEY} if version >= 2 else META_KEYS
    missing, extra = sorted(keys - set(meta)), sorted(set(meta) - keys)
    if missing or extra:
        raise BundleError(path, f"missing key(s) {missing}, unexpected key(s) {extra}")
    config = meta["model_config"]
    if not isinstance(config, dict):
        raise BundleError(path, "model_config must be an object")
    for key, value in config.items():  # a record of plain values: nothing in it names code
        if key.startswith("_") or not (value is None or isinstance(value, str | int | float)):
            raise BundleError(path, f"model_config.{key} must be a plain value (no '_' keys)")
    for key in ("n_tracks", "d_model", "max_len"):
        if not _is_int(config.get(key)) or config[key] < 1:
            raise BundleError(path, f"model_config.{key} must be an integer >= 1")
    if config.get("objective") not in ("causal", "masked"):
        raise BundleError(path, "model_config.objective must be 'causal' or 'masked'")
    if config["objective"] == "masked" and config["max_len"] < 2:
        raise BundleError(path, "model_config.max_len must be >= 2 for a masked model")
    if _has_prior(meta):
        _check_prior_config(path, config)
    _check_blend_config(path, config)
    if version >= 2:  # the files it lists depend on the prior's settings, checked just above
        prior = prior_combine(meta) if _has_prior(meta) else None
        tables = prior_tables(meta)
        _check_checksum_table(
            path,
            meta[CHECKSUM_KEY],
            meta["catalogue"],
            prior,
            tables,
            has_blend(meta),
            has_cooccurrence(meta),
        )
    inputs = meta["inputs"]
    if (
        not _is_list_of(inputs, str)
        or inputs[:1] != ["tracks"]
        or not set(inputs) <= set(INPUT_NAMES)
        or len(set(inputs)) != len(inputs)
    ):
        raise BundleError(path, f"inputs must be 'tracks' then some of {list(INPUT_NAMES[1:])}")
    if meta["catalogue"] not in ("float32", "int8"):
        raise BundleError(path, "catalogue must be 'float32' or 'int8'")
    types = meta["event_types"]
    if not _is_list_of(types, str) or "other" not in types or not types:
        raise BundleError(path, "event_types must be a list of strings including 'other'")
    if not _is_int(meta["play_event"]) or not 0 <= meta["play_event"] < len(types):
        raise BundleError(path, f"play_event must be an index of event_types (< {len(types)})")
    edges = meta["gap_edges_seconds"]
    if not _is_list_of(edges, (int, float)) or any(not math.isfinite(e) for e in edges):
        raise BundleError(path, "gap_edges_seconds must be a list of finite numbers")
    if any(a > b for a, b in itertools.pairwise(edges)):
        raise BundleError(path, "gap_edges_seconds must be sorted")
    gap = meta["assumed_gap_seconds"]
    if not isinstance(gap, (int, float)) or isinstance(gap, bool) or not 0 <= gap < math.inf:
        raise BundleError(path, "assumed_gap_seconds must be a finite number >= 0")
    if not _is_int(meta["opset"]):
        raise BundleError(path, "opset must be an integer")
    return meta


def bundle_files(
    catalogue: str,
    prior: str | None = None,
    tables: Collection[str] = (),
    blend: bool = False,
    cooccurrence: bool = False,
) -> list[str]:
    """The files of a bundle besides ``bundle.json``, for its ``catalogue`` kind, its
    model's history prior (its ``prior_combine``; None: no prior; ``tables``: its features
    that read a table of their own, :func:`prior_tables`) and blend (``blend``; with a
    co-occurrence memory, ``cooccurrence``).

    >>> bundle_files("float32")
    ['encoder.onnx', 'vocab.json', 'catalogue.npy']
    """
    arrays = ["catalogue_int8.npy", "catalogue_scales.npy"] if catalogue == "int8" else []
    extra = list(prior_files(prior, tables).values()) if prior is not None else []
    extra += list(BLEND_FILES.values()) if blend else []
    extra += list(COOCCURRENCE_FILES.values()) if blend and cooccurrence else []
    return ["encoder.onnx", "vocab.json", *(arrays or ["catalogue.npy"]), *extra]


def has_blend(meta: Mapping[str, Any]) -> bool:
    """Whether ``bundle.json``'s model has a blend (``blend_weight`` or
    ``blend_cooccurrence`` > 0; absent in bundles written before they existed); checked by
    :func:`_check_blend_config`."""
    return _positive_setting(meta, "blend_weight") or has_cooccurrence(meta)


def has_cooccurrence(meta: Mapping[str, Any]) -> bool:
    """Whether ``bundle.json``'s blend has a co-occurrence memory (``blend_cooccurrence`` >
    0; absent in bundles written before it existed)."""
    return _positive_setting(meta, "blend_cooccurrence")


def _positive_setting(meta: Mapping[str, Any], key: str) -> bool:
    config = meta.get("model_config")
    value = config.get(key, 0.0) if isinstance(config, dict) else 0.0
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _check_blend_config(path: Path, config: Mapping[str, Any]) -> None:
    """``blend_weight`` and ``blend_cooccurrence`` numbers in [0, 1) summing to less than 1
    and, for a blend, ``blend_successors`` an integer >= 1 and the causal objective (the
    blend reads the last track); with a co-occurrence memory, its settings."""
    weight = _blend_share(path, config, "blend_weight")
    cooccurrence = _blend_share(path, config, "blend_cooccurrence")
    if weight + cooccurrence >= 1:
        raise BundleError(path, "model_config.blend_weight + blend_cooccurrence must be < 1")
    if weight == 0 and cooccurrence == 0:
        return
    if not _is_int(config.get("blend_successors")) or config["blend_successors"] < 1:
        raise BundleError(path, "model_config.blend_successors must be an integer >= 1")
    if config["objective"] != "causal":
        raise BundleError(path, "model_config.blend_weight > 0 needs the causal objective")
    if cooccurrence == 0:
        return
    for key in ("blend_neighbours", "blend_history"):
        if not _is_int(config.get(key)) or config[key] < 1:
            raise BundleError(path, f"model_config.{key} must be an integer >= 1")
    decay = config.get("blend_decay")
    if not _is_number(decay) or not 0 < decay <= 1:
        raise BundleError(path, "model_config.blend_decay must be a number in (0, 1]")


def _blend_share(path: Path, config: Mapping[str, Any], key: str) -> float:
    """A blend share of the config (0 when absent), refused unless a number in [0, 1)."""
    value = config.get(key, 0.0)
    if not _is_number(value) or not 0 <= value < 1:
        raise BundleError(path, f"model_config.{key} must be a number in [0, 1)")
    return float(value)


def _is_number(value: object) -> TypeGuard[float]:
    """A finite int or float, not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_blend_files(bundle_dir: Path, rows: int, successors: int) -> None:
    """The blend's table: dtypes and shapes, successors in 0..n_tracks, counts >= 0."""
    files = {field: bundle_dir / name for field, name in BLEND_FILES.items()}
    _check_successor_table(files["successors"], files["successor_counts"], rows, successors)


def _check_cooccurrence_files(bundle_dir: Path, rows: int, neighbours: int) -> None:
    """The co-occurrence memory's table: neighbours in 0..n_tracks, similarities >= 0."""
    files = {field: bundle_dir / name for field, name in COOCCURRENCE_FILES.items()}
    _check_successor_table(files["neighbours"], files["neighbour_weights"], rows, neighbours)


def _check_successor_table(successors: Path, counts: Path, rows: int, width: int) -> None:
    """A transition table's files (the prior's or the blend's): (rows, width) int32 track
    indices in 0..rows - 1 and float32 counts >= 0."""
    _check_npy(successors, np.int32, (rows, width))
    _check_npy(counts, np.float32, (rows, width))
    _check_track_indices(successors, rows)
    _check_not_negative(counts, rows, "counts")


def _has_prior(meta: Mapping[str, Any]) -> bool:
    """Whether ``bundle.json``'s model has a history prior (and so the bundle its files)."""
    config = meta.get("model_config")
    return isinstance(config, dict) and config.get("history_prior") is True


def prior_tables(meta: Mapping[str, Any]) -> tuple[str, ...]:
    """The features of ``bundle.json``'s history prior that read a table of their own
    (``album``, ``artist``, ``album_entry``: those whose ``prior_<name>`` is true; off in
    bundles written before the setting existed); checked to be bools by
    :func:`_check_prior_config`."""
    config = meta.get("model_config")
    return enabled_tables(config) if _has_prior(meta) and isinstance(config, dict) else ()


def prior_combine(meta: Mapping[str, Any]) -> str:
    """``model_config.prior_combine`` of ``bundle.json`` ("sum" in bundles written before it
    existed); checked to be one of :data:`COMBINES` by :func:`_check_prior_config`."""
    config = meta.get("model_config")
    combine = config.get("prior_combine", "sum") if isinstance(config, dict) else "sum"
    return combine if isinstance(combine, str) else "sum"


def _check_prior_config(path: Path, config: Mapping[str, Any]) -> None:
    """The settings the prior's numpy port reads, when ``history_prior`` is true."""
    if config["objective"] != "causal":
        raise BundleError(path, "model_config.history_prior needs the causal objective")
    for key in ("prior_window", "prior_successors"):
        if not _is_int(config.get(key)) or config[key] < 1:
            raise BundleError(path, f"model_config.{key} must be an integer >= 1")
    decay = config.get("prior_decay")
    if not isinstance(decay, int | float) or isinstance(decay, bool) or not 0 < decay <= 1:
        raise BundleError(path, "model_config.prior_decay must be a number in (0, 1]")
    for key in (
        "prior_plays",
        "prior_chain",
        "prior_plays_outside_chain",
        *(f"prior_{name}" for name in TABLE_FILES),
        "prior_album_run",
    ):
        if not isinstance(config.get(key, False), bool):
            raise BundleError(path, f"model_config.{key} must be true or false")
    if config.get("prior_album", False):
        if not _is_int(config.get("prior_album_tracks")) or config["prior_album_tracks"] < 1:
            raise BundleError(path, "model_config.prior_album_tracks must be an integer >= 1")
        if not _is_int(config.get("prior_album_fresh")) or config["prior_album_fresh"] < 0:
            raise BundleError(path, "model_config.prior_album_fresh must be an integer >= 0")
    tracks = config.get("prior_artist_tracks")
    if config.get("prior_artist", False) and (not _is_int(tracks) or tracks < 1):
        raise BundleError(path, "model_config.prior_artist_tracks must be an integer >= 1")
    for key in ("prior_album_entry", "prior_album_run"):
        if config.get(key, False) and not config.get("prior_album", False):
            raise BundleError(path, f"model_config.{key} needs prior_album")
    if config.get("prior_plays_outside_chain", False) and not (
        config.get("prior_plays", False) and config.get("prior_chain", False)
    ):
        raise BundleError(path, "model_config.prior_plays_outside_chain needs plays and chain")
    if config.get("prior_chain_rule", "known") not in CHAIN_RULES:
        raise BundleError(path, f"model_config.prior_chain_rule must be one of {list(CHAIN_RULES)}")
    if config.get("prior_combine", "sum") not in COMBINES:
        raise BundleError(path, f"model_config.prior_combine must be one of {list(COMBINES)}")


def _check_prior_files(
    bundle_dir: Path,
    rows: int,
    width: int,
    config: Mapping[str, Any],
    features: int,
    combine: str,
) -> None:
    """The prior's arrays: dtypes and shapes from ``model_config`` (``features`` gate outputs),
    finite gate, successor and album-mate indices in 0..n_tracks and counts >= 0 (so no request
    can index out of the catalogue)."""
    tables = enabled_tables(config)
    files = {field: bundle_dir / name for field, name in prior_files(combine, tables).items()}
    successors = config["prior_successors"]
    _check_npy(files["gate_weight"], np.float32, (features, width))
    _check_npy(files["gate_bias"], np.float32, (features,))
    if combine == "mixture":
        _check_npy(files["count_power"], np.float32, (features,))
    _check_successor_table(files["successors"], files["successor_counts"], rows, successors)
    if "album" in tables:
        _check_npy(files["album_mates"], np.int32, (rows, config["prior_album_tracks"]))
        _check_track_indices(files["album_mates"], rows)
    if "artist" in tables:
        shape = (rows, config["prior_artist_tracks"])
        _check_npy(files["artist_mates"], np.int32, shape)
        _check_npy(files["artist_mate_plays"], np.float32, shape)
        _check_track_indices(files["artist_mates"], rows)
        _check_not_negative(files["artist_mate_plays"], rows, "plays")
    if "album_entry" in tables:
        _check_npy(files["album_entry_counts"], np.float32, (rows, 2))
        _check_not_negative(files["album_entry_counts"], rows, "counts")


def _check_not_negative(path: Path, rows: int, what: str) -> None:
    """No value of the float ``.npy`` table at ``path`` is negative (``_check_npy`` has
    already refused non-finite ones), read a chunk of rows at a time (no full copy)."""
    table = np.load(path, mmap_mode="r", allow_pickle=False)
    for start in range(0, rows, SCORE_CHUNK_ROWS):
        if table[start : start + SCORE_CHUNK_ROWS].min(initial=0) < 0:
            raise BundleError(path, f"holds negative {what}")


def _check_track_indices(path: Path, rows: int) -> None:
    """Every value of the ``.npy`` table at ``path`` is a track index in 0..rows - 1, read a
    chunk of rows at a time (no full copy)."""
    table = np.load(path, mmap_mode="r", allow_pickle=False)
    for start in range(0, rows, SCORE_CHUNK_ROWS):
        chunk = table[start : start + SCORE_CHUNK_ROWS]
        if chunk.min(initial=0) < 0 or chunk.max(initial=0) >= rows:
            raise BundleError(path, f"holds track indices outside 0..{rows - 1}")


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file, read in blocks (a catalogue is never held twice)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def verify_checksums(bundle_dir: Path, checksums: Mapping[str, str]) -> None:
    """Check every file named in ``checksums`` against its stored SHA-256.

    Raises:
        BundleError: Naming the first file that is missing or whose bytes changed.
    """
    for name, expected in checksums.items():
        path = bundle_dir / name
        try:
            actual = file_sha256(path)
        except FileNotFoundError:
            raise BundleError(path, "missing from the bundle") from None
        except OSError as error:
            raise BundleError(path, f"not readable ({error})") from None
        if actual != expected:
            raise BundleError(
                path,
                "its SHA-256 does not match bundle.json's: the file was changed or damaged "
                "after export (re-export the bundle)",
            )


def _check_checksum_table(
    path: Path,
    checksums: object,
    catalogue: object,
    prior: str | None = None,
    tables: Collection[str] = (),
    blend: bool = False,
    cooccurrence: bool = False,
) -> None:
    """``sha256`` must map exactly the bundle's other files to 64 hex digits each."""
    files = bundle_files(str(catalogue), prior, tables, blend, cooccurrence)
    if not isinstance(checksums, dict) or sorted(checksums) != sorted(files):
        hint = " (a model with a history prior: re-export the bundle)" if prior is not None else ""
        raise BundleError(path, f"{CHECKSUM_KEY} must map exactly {files} to their SHA-256{hint}")
    for name, digest in checksums.items():
        if not isinstance(digest, str) or len(digest) != 64 or digest.strip("0123456789abcdef"):
            raise BundleError(path, f"{CHECKSUM_KEY}[{name!r}] must be 64 lowercase hex digits")


def _checked_vocab(path: Path, n_tracks: int) -> dict[str, Any]:
    """``vocab.json``: one unique string id, one count (and metadata) per catalogue track.

    A vocabulary shorter than the catalogue would fail at request time, when a recommended
    index has no id; so it is refused here.
    """
    vocab = _read_json(path)
    extra = sorted(set(vocab) - VOCAB_KEYS)
    if extra:
        raise BundleError(path, f"unexpected key(s) {extra}")
    ids, counts = vocab.get("track_ids"), vocab.get("counts")
    if not _is_list_of(ids, str) or len(ids) != n_tracks or len(set(ids)) != len(ids):
        raise BundleError(
            path,
            f"track_ids must be {n_tracks} distinct strings (one per catalogue track: "
            "bundle.json's model_config.n_tracks)",
        )
    if (
        not _is_list_of(counts, (int, float))
        or len(counts) != n_tracks
        or not all(0 <= c < math.inf for c in counts)
    ):
        raise BundleError(path, f"counts must be {n_tracks} finite numbers >= 0")
    for key in ("artists", "albums", "names"):
        values = vocab.get(key)
        if values is not None and (
            not isinstance(values, list)
            or len(values) != n_tracks
            or not all(v is None or isinstance(v, str) for v in values)
        ):
            raise BundleError(path, f"{key} must be null or {n_tracks} strings / nulls")
    return vocab


def _check_npy(path: Path, dtype: type, shape: tuple[int, ...]) -> None:
    """Check a ``.npy`` file's header (dtype, shape, size) before its array is read.

    ``np.load`` allocates what the header claims before reading, so a small file claiming a
    huge shape is refused here. Float arrays must also be finite.
    """
    try:
        with open(path, "rb") as f:
            major, _ = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if major == 1
                else np.lib.format.read_array_header_2_0
            )
            stored_shape, fortran, stored_dtype = read_header(f)
            data_bytes = path.stat().st_size - f.tell()
    except FileNotFoundError:
        raise BundleError(path, "missing from the bundle") from None
    except (OSError, ValueError) as error:
        raise BundleError(path, f"not a readable .npy file ({error})") from None
    if stored_dtype != np.dtype(dtype) or tuple(stored_shape) != shape or fortran:
        raise BundleError(
            path,
            f"holds {stored_dtype} {tuple(stored_shape)}, expected {np.dtype(dtype)} "
            f"{shape} (C order) from bundle.json's model_config",
        )
    if data_bytes < math.prod(shape) * np.dtype(dtype).itemsize:
        raise BundleError(path, "truncated: the file is shorter than its header says")
    if np.dtype(dtype).kind == "f":
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        for start in range(0, shape[0], SCORE_CHUNK_ROWS):  # a chunk at a time: no full copy
            if not np.isfinite(array[start : start + SCORE_CHUNK_ROWS]).all():
                raise BundleError(path, "has NaN or infinite values")


def _load_npy(path: Path) -> np.ndarray:
    """An array of the bundle; pickled (object) arrays are refused."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise BundleError(path, f"not a readable .npy file ({error})") from None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_list_of(value: object, kind: type | tuple[type, ...]) -> TypeGuard[list[Any]]:
    return isinstance(value, list) and all(
        isinstance(v, kind) and not isinstance(v, bool) for v in value
    )
