"""The history prior in numpy, for the torch-free runtime (:mod:`segue.export.runtime`).

A line-for-line port of :func:`segue.models.history_prior.prior_features` and of the gate
(``softplus(A h + b)``, with torch's ``threshold=20``), so that an ONNX bundle scores
``h . e_j`` plus the same sparse terms as the torch model; tested against it on random
histories. The bundle carries the gate and the transition table as ``.npy`` data
(:data:`PRIOR_FILES`), never as code.

Like the runtime, this module imports nothing but numpy, so the two files work copied next to a
bundle on a device without torch.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from segue.export.cooccurrence_numpy import cooccurrence_mass, merged_mass, transition_mass

FEATURES = (
    "repeat",
    "sequel",
    "transition",
    "plays",
    "chain",
    "album",
    "album_chain",
    "artist",
    "album_entry",
    "album_run",
)
"""The prior's features, in the order of its gate's outputs when all are on; the first three are
always on (the whole prior of checkpoints written before ``plays`` and ``chain`` existed), each
later one was appended when it was added, so an earlier checkpoint's gate keeps its order."""


COMBINES = ("sum", "mixture")
"""Values of ``ModelConfig.prior_combine``: how the prior meets the model's scores (see
:mod:`segue.models.history_prior`)."""

CHAIN_RULES = ("known", "strongest")
"""Values of ``ModelConfig.prior_chain_rule``; here because the torch-free runtime checks them."""


def enabled_features(
    plays: bool,
    chain: bool,
    album: bool = False,
    artist: bool = False,
    album_entry: bool = False,
    album_run: bool = False,
) -> tuple[str, ...]:
    """The prior's features, in the order of its gate's outputs (as many as the gate has).

    >>> enabled_features(plays=False, chain=True)
    ('repeat', 'sequel', 'transition', 'chain')
    """
    optional = {
        "plays": plays,
        "chain": chain,
        "album": album,
        "album_chain": album,
        "artist": artist,
        "album_entry": album_entry,
        "album_run": album_run,
    }
    return tuple(f for f in FEATURES if optional.get(f, True))


PRIOR_FILES = {
    "gate_weight": "prior_gate_weight.npy",
    "gate_bias": "prior_gate_bias.npy",
    "successors": "prior_successors.npy",
    "successor_counts": "prior_successor_counts.npy",
}
"""The bundle files of a model with a history prior, by :class:`PriorArrays` field."""

MIXTURE_FILES = {"count_power": "prior_count_power.npy"}
"""The bundle file a mixture prior (``prior_combine="mixture"``) adds: its (F,) raw exponents."""


ALBUM_FILES = {"album_mates": "prior_album_mates.npy"}
"""The bundle file a prior with the ``album`` feature adds: its (V, A) int32 album table."""


ARTIST_FILES = {
    "artist_mates": "prior_artist_mates.npy",
    "artist_mate_plays": "prior_artist_mate_plays.npy",
}
"""The bundle files a prior with the ``artist`` feature adds: its (V, R) int32 artist table and
the (V, R) float32 plays of those tracks."""


ALBUM_ENTRY_FILES = {"album_entry_counts": "prior_album_entry_counts.npy"}
"""The bundle file a prior with the ``album_entry`` feature adds: its (V, 2) float32 counts of
plays entered from outside each track's album and of those that went on to it."""


TABLE_FILES = {"album": ALBUM_FILES, "artist": ARTIST_FILES, "album_entry": ALBUM_ENTRY_FILES}
"""The bundle files of each feature that reads a table of its own, by the feature's name: a
model config turns one on with ``prior_<name>``."""


def enabled_tables(model_config: Mapping[str, Any]) -> tuple[str, ...]:
    """The features of :data:`TABLE_FILES` a model config (a dict) turns on.

    >>> enabled_tables({"prior_album": True, "prior_artist": False})
    ('album',)
    """
    return tuple(name for name in TABLE_FILES if model_config.get(f"prior_{name}") is True)


def prior_files(combine: str, tables: Collection[str] = ()) -> dict[str, str]:
    """The bundle files of a history prior that meets the scores by ``combine`` and has the
    table-reading features ``tables`` (names of :data:`TABLE_FILES`).

    >>> sorted(prior_files("mixture")) == sorted([*PRIOR_FILES, "count_power"])
    True
    """
    optional = dict(MIXTURE_FILES) if combine == "mixture" else {}
    for name in tables:
        optional.update(TABLE_FILES[name])
    return {**PRIOR_FILES, **optional}


SOFTPLUS_THRESHOLD = 20.0
"""Above this, torch's ``softplus`` returns its input (``log1p(exp(x))`` would overflow)."""


def softplus(x: np.ndarray) -> np.ndarray:
    """``torch.nn.functional.softplus`` with its default ``threshold=20``.

    >>> softplus(np.array([0.0, 30.0])).round(4).tolist()
    [0.6931, 30.0]
    """
    safe = np.minimum(x, SOFTPLUS_THRESHOLD)  # no overflow warning in the branch not taken
    return np.where(x > SOFTPLUS_THRESHOLD, x, np.log1p(np.exp(safe)))


def prior_features(
    tracks: np.ndarray,
    queries: np.ndarray,
    window: int,
    decay: float,
    successors: np.ndarray,
    successor_counts: np.ndarray,
    plays: bool = False,
    chain: bool = False,
    chain_rule: str = "known",
    plays_outside_chain: bool = False,
    album_mates: np.ndarray | None = None,
    album_fresh: int = 0,
    artist_mates: np.ndarray | None = None,
    artist_mate_plays: np.ndarray | None = None,
    album_entry_counts: np.ndarray | None = None,
    album_run: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The feature counts of every (query, candidate) pair where one is non-zero.

    Args:
        tracks: Left-padded histories, (B, T) int64.
        queries: True at the positions whose next track is scored, (B, T); entries are
            numbered in ``np.nonzero(queries)`` order (row-major).
        window: Latest events the ``repeat`` and ``sequel`` features read.
        decay: Per-event decay of the ``repeat`` feature.
        successors: The transition table's successors of every track, (V, S) integers.
        successor_counts: Their counts, (V, S) float32.
        plays: Add the ``plays`` feature (undecayed plays in the window) as a column.
        chain: Add the ``chain`` feature (transition counts inside a chain) as the last column.
        chain_rule: "known" (the last step is in the table) or "strongest" (the last track is
            its predecessor's most counted successor), as ``chain_queries`` in torch.
        plays_outside_chain: ``plays`` is zero at queries inside a chain (needs both).
        album_mates: The album table, (V, A) integers: adds the ``album`` and ``album_chain``
            features (album-mates of the current track; the same where the last step stayed
            on the album) as the last two columns; None: no such features.
        album_fresh: Album-mates among the last this many events of the window are left out.
        artist_mates: The artist table, (V, R) integers, with ``artist_mate_plays`` (V, R)
            float32: adds the ``artist`` feature (the current artist's other tracks at their
            share of plays) as the last column; None: no such feature.
        album_entry_counts: The album-entry counts, (V, 2) float32, with ``album_mates``:
            adds the ``album_entry`` feature (at a track entered from outside its album, its
            successors on the album at their count times its entry rate) as the last column.
        album_run: With ``album_mates``, add the ``album_run`` feature (where the last step
            stayed on the album, the current track's successors on the album at their count)
            as the last column.

    Returns:
        Query number (E,) and track (E,) of each entry, coalesced and sorted by (query, track),
        and its counts (E, F) float32, F = ``len(enabled_features(...))``.

    >>> succ = np.array([[0], [2], [0]]); counts = np.array([[0.0], [5.0], [0.0]], np.float32)
    >>> rows, items, f = prior_features(np.array([[2, 1]]), np.array([[False, True]]), 4, 0.5,
    ...                                 succ, counts)
    >>> items.tolist(), f.tolist()  # 2: played one event back and follows 1 five times
    ([1, 2], [[1.0, 0.0, 0.0], [0.5, 0.0, 5.0]])
    """
    W = min(window, tracks.shape[1])
    batch_row, position = np.nonzero(queries)  # (N,) each
    lags = np.arange(W)  # (W,)
    back = position[:, None] - lags[None, :]  # (N, W): x_{t-l}
    history = np.where(back >= 0, tracks[batch_row[:, None], np.maximum(back, 0)], 0)  # (N, W)
    last = history[:, 0]  # (N,)

    repeat_value = np.broadcast_to(np.float32(decay) ** lags.astype(np.float32), history.shape)
    sequel_item = history[:, :-1]  # (N, W - 1): x_{t-l+1} for l = 1..W-1
    sequel_hit = (history[:, 1:] == last[:, None]) & (history[:, 1:] > 0)  # (N, W - 1)
    trans_item = successors[last].astype(np.int64)  # (N, S)
    trans_value = successor_counts[last]  # (N, S)
    prev = np.where(position >= 1, tracks[batch_row, np.maximum(position - 1, 0)], 0)  # x_{t-1}
    if chain:  # x_{t-1} -> x_t in the table: x_t itself continues a chain
        prev_item = successors[prev].astype(np.int64)  # (N, S)
        prev_counts = successor_counts[prev]  # (N, S)
        step = (prev_counts * (prev_item == last[:, None])).sum(axis=1)  # (N,)
        in_chain = (step > 0) & (prev > 0) & (last > 0)  # (N,)
        if chain_rule == "strongest":
            in_chain &= step >= prev_counts.max(axis=1)

    blocks = [history, sequel_item, trans_item]  # (N, W), (N, W - 1), (N, S)
    block_values = [repeat_value, sequel_hit.astype(np.float32), trans_value]
    if plays:  # plays: item x_{t-l} with weight 1, the same gather as repeat
        blocks.append(history)
        plays_value = np.ones(history.shape, dtype=np.float32)
        if plays_outside_chain:  # zero inside a chain
            plays_value *= ~in_chain[:, None]
        block_values.append(plays_value)
    if chain:  # chain: the transition block again, zero outside chains
        blocks.append(trans_item)
        block_values.append(trans_value * in_chain[:, None])
    if album_mates is not None:  # album: the current track's album-mates, unless heard now
        mates = album_mates[last].astype(np.int64)  # (N, A)
        heard = (mates[:, :, None] == history[:, None, :album_fresh]).any(axis=2)  # (N, A)
        fresh = (~heard).astype(np.float32)
        blocks.append(mates)
        block_values.append(fresh)
        on_album = (mates == prev[:, None]).any(axis=1) & (prev > 0)  # (N,)
        blocks.append(mates)  # album_chain: the same where the last step stayed on the album
        block_values.append(fresh * on_album[:, None])
    if artist_mates is not None and artist_mate_plays is not None:  # artist: shares of plays
        mates_of_artist = artist_mates[last].astype(np.int64)  # (N, R)
        mate_plays = artist_mate_plays[last]  # (N, R)
        blocks.append(mates_of_artist)
        block_values.append(mate_plays / np.maximum(mate_plays.sum(axis=1, keepdims=True), 1))
    if album_mates is not None and (album_entry_counts is not None or album_run):
        # the table's successors on the current album, which album_entry and album_run weigh
        on_album_item = (trans_item[:, :, None] == mates[:, None, :]).any(axis=2)  # (N, S)
        album_successors = trans_value * on_album_item  # (N, S)
    if album_mates is not None and album_entry_counts is not None:  # album_entry
        entry = album_entry_counts[last]  # (N, 2): entered, went on
        rate = entry[:, 1] / (entry[:, 0] + 1) * ~on_album  # (N,)
        blocks.append(trans_item)
        block_values.append(album_successors * rate[:, None])
    if album_mates is not None and album_run:  # album_run: inside a play-through
        blocks.append(trans_item)
        block_values.append(album_successors * on_album[:, None])
    feature = np.concatenate([np.full_like(b, k) for k, b in enumerate(blocks)], axis=1)
    items = np.concatenate(blocks, axis=1)  # (N, 2W - 1 + S [+ W] [+ S] [+ 2A] [+ R] [+ 2S])
    values = np.concatenate(block_values, axis=1, dtype=np.float32)
    rows = np.broadcast_to(np.arange(len(batch_row))[:, None], items.shape)
    keep = (items > 0) & (values > 0)
    rows, items, values, feature = rows[keep], items[keep], values[keep], feature[keep]
    n_items = successors.shape[0]
    keys, pair = np.unique(rows * n_items + items, return_inverse=True)  # (E,), (M,)
    counts = np.zeros((len(keys), len(blocks)), dtype=np.float32)
    np.add.at(counts, (pair.ravel(), feature), values)  # (E, n_features)
    return keys // n_items, keys % n_items, counts


@dataclass(frozen=True)
class PriorArrays:
    """A bundle's history prior: the gate and the transition table, read from its files.

    Args:
        gate_weight: (F, D) float32, F = ``len(enabled_features(...))``. gate_bias: (F,) float32.
        successors: (V, S) int32, track indices (0 = none). successor_counts: (V, S) float32.
        window: ``model_config.prior_window``. decay: ``model_config.prior_decay``.
        plays: ``model_config.prior_plays`` (False in bundles written before it existed).
        chain: ``model_config.prior_chain`` (likewise).
        chain_rule: ``model_config.prior_chain_rule`` ("known" in bundles written before it).
        plays_outside_chain: ``model_config.prior_plays_outside_chain`` (likewise False).
        combine: ``model_config.prior_combine`` ("sum" in bundles written before it).
        count_power: (F,) float32, the mixture's raw exponents; None for "sum".
        album_mates: (V, A) int32, the album table of a prior with the ``album`` feature;
            None without it. album_fresh: ``model_config.prior_album_fresh``.
        artist_mates: (V, R) int32, the artist table of a prior with the ``artist`` feature,
            and artist_mate_plays: (V, R) float32, its tracks' plays; None without it.
        album_entry_counts: (V, 2) float32, the album-entry counts of a prior with the
            ``album_entry`` feature; None without it.
        album_run: ``model_config.prior_album_run`` (False in bundles written before it).
    """

    gate_weight: np.ndarray
    gate_bias: np.ndarray
    successors: np.ndarray
    successor_counts: np.ndarray
    window: int
    decay: float
    plays: bool = False
    chain: bool = False
    chain_rule: str = "known"
    plays_outside_chain: bool = False
    combine: str = "sum"
    count_power: np.ndarray | None = None
    album_mates: np.ndarray | None = None
    album_fresh: int = 0
    artist_mates: np.ndarray | None = None
    artist_mate_plays: np.ndarray | None = None
    album_entry_counts: np.ndarray | None = None
    album_run: bool = False

    def entries(
        self,
        tracks: np.ndarray,
        listener: np.ndarray,
        own_scores: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The prior's terms after each history, as ``TrackTransformer.prior_entries``.

        Args:
            tracks: The left-padded tracks the listener vectors came from, (B, T).
            listener: The listener vectors (last hidden states), (B, D).
            own_scores: ``(rows, items) -> (E,)``: the model's dense scores ``h . e_j`` at
                batch rows ``rows`` and tracks ``items``; a mixture prior's terms depend on
                them (required with ``combine="mixture"``).

        Returns:
            Batch row (E,), track (E,) and the amount added to its score (E,) float32; rows
            without history have no entry.
        """
        found = self.counts(tracks, listener)
        return found.rows, found.items, self.values(found, own_scores)

    def counts(self, tracks: np.ndarray, listener: np.ndarray) -> PriorCounts:
        """The counts and gate outputs of every entry after each history (arguments as
        :meth:`entries`): what :meth:`values` turns into amounts, for a caller that needs
        them against two sets of dense scores (the ONNX server's int8 screen)."""
        queries = np.zeros(tracks.shape, dtype=bool)
        queries[:, -1] = tracks[:, -1] > 0  # the last column, for non-empty rows
        rows, items, counts = prior_features(
            tracks,
            queries,
            self.window,
            self.decay,
            self.successors,
            self.successor_counts,
            self.plays,
            self.chain,
            self.chain_rule,
            self.plays_outside_chain,
            self.album_mates,
            self.album_fresh,
            self.artist_mates,
            self.artist_mate_plays,
            self.album_entry_counts,
            self.album_run,
        )
        real = np.flatnonzero(queries[:, -1])  # entries are numbered over non-empty rows
        gate = listener[real].astype(np.float32) @ self.gate_weight.T + self.gate_bias  # (N, F)
        return PriorCounts(real[rows], items, counts, gate[rows])

    def values(
        self,
        found: PriorCounts,
        own_scores: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    ) -> np.ndarray:
        """The amount each entry adds to its score, (E,) float32 (``own_scores`` as in
        :meth:`entries`)."""
        if self.combine == "sum":
            return (np.log1p(found.counts) * softplus(found.gate)).sum(axis=1, dtype=np.float32)
        if own_scores is None or self.count_power is None:
            raise ValueError("a mixture prior needs the model's own scores and count_power")
        mass = mixture_log_mass(found.gate, found.counts, softplus(self.count_power))  # (E,)
        own = np.asarray(own_scores(found.rows, found.items), dtype=np.float32)  # (E,)
        return softplus(mass - own).astype(np.float32)

    def add_to(self, scores: np.ndarray, tracks: np.ndarray, listener: np.ndarray) -> np.ndarray:
        """Add the prior's terms to dense scores (B, V) in place and return them."""
        return self.add_counts(scores, self.counts(tracks, listener))

    def add_counts(self, scores: np.ndarray, found: PriorCounts) -> np.ndarray:
        """:meth:`add_to` from counts already found, in place; returns ``scores``."""
        values = self.values(found, lambda r, i: scores[r, i])
        np.add.at(scores, (found.rows, found.items), values)
        return scores


@dataclass(frozen=True)
class PriorCounts:
    """The prior's entries before their amounts: batch row (E,) and track (E,) of each, its
    counts (E, F) float32 and its row's gate outputs (E, F) float32."""

    rows: np.ndarray
    items: np.ndarray
    counts: np.ndarray
    gate: np.ndarray


def mixture_log_mass(gate: np.ndarray, counts: np.ndarray, power: np.ndarray) -> np.ndarray:
    """``log sum_k exp(gate_k) counts_k ** power_k`` over the features present, (E,) float32,
    as ``HistoryPrior.log_mass``.

    >>> mixture_log_mass(np.zeros((1, 2), np.float32), np.array([[2.0, 0.0]], np.float32),
    ...                  np.ones(2, np.float32)).astype(float).round(4).tolist()  # absent: adds 0
    [0.6931]
    """
    present = counts > 0  # (E, F)
    log_counts = np.log(np.maximum(counts, np.float32(1e-30)))
    terms = np.where(present, gate + power * log_counts, -np.inf).astype(np.float32)  # (E, F)
    peak = terms.max(axis=1, keepdims=True)  # (E, 1): every entry has a present feature
    return (peak[:, 0] + np.log(np.exp(terms - peak).sum(axis=1))).astype(np.float32)


BLEND_FILES = {
    "successors": "blend_successors.npy",
    "successor_counts": "blend_successor_counts.npy",
}
"""The transition blend's table in a bundle (:mod:`segue.models.transition_blend`), for a
model whose ``blend_weight`` is > 0: (V, S) int32 successors and float32 counts."""


def blend_terms(
    scores: np.ndarray,
    last: np.ndarray,
    successors: np.ndarray,
    counts: np.ndarray,
    weight: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`segue.models.transition_blend.blend_entries` in numpy: the blend's rows, tracks
    and terms for dense scores (B, V) after histories whose last tracks are ``last`` (B,)."""
    succ, count = successors[last].astype(np.int64), counts[last].astype(np.float32)  # (B, S)
    keep = (succ > 0) & (count > 0) & (last > 0)[:, None]
    if weight <= 0.0 or not keep.any():
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    rows, cols = np.nonzero(keep)
    items, kept = succ[rows, cols], count[rows, cols]
    totals = count.sum(axis=1)  # (B,)
    top = scores.max(axis=1)  # (B,): a row with history has a finite score
    with np.errstate(divide="ignore", invalid="ignore"):
        normaliser = top + np.log(np.exp(scores - top[:, None]).sum(axis=1))  # (B,)
        share = kept / totals[rows]
    log_mass = np.float32(np.log(weight / (1.0 - weight))) + np.log(share)
    values = softplus((log_mass + normaliser[rows] - scores[rows, items]).astype(np.float32))
    return rows, items, values.astype(np.float32)


def mixture_terms(
    scores: np.ndarray,
    transitions: tuple[np.ndarray, np.ndarray, np.ndarray],
    cooccurrence: tuple[np.ndarray, np.ndarray, np.ndarray],
    keep_share: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The terms of a blend with both memories (``segue.models.transition_blend``'s
    ``_mixture_entries``): ``softplus(log(mass / keep_share) + L - s_j)`` at each entry."""
    rows, items, mass = merged_mass(transitions, cooccurrence, scores.shape[1])
    if len(rows) == 0:
        return rows, items, mass
    top = scores.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        normaliser = top + np.log(np.exp(scores - top[:, None]).sum(axis=1))  # (B,)
    log_mass = np.log(np.maximum(mass, np.float32(1e-30))) - np.float32(np.log(keep_share))
    values = softplus((log_mass + normaliser[rows] - scores[rows, items]).astype(np.float32))
    return rows, items, values.astype(np.float32)


@dataclass
class BlendArrays:
    """A bundle's blend: its transition table (:data:`BLEND_FILES`) and weight, and its
    co-occurrence memory's table (:data:`COOCCURRENCE_FILES`) and settings when it has one."""

    successors: np.ndarray
    successor_counts: np.ndarray
    weight: float
    neighbours: np.ndarray | None = None
    neighbour_weights: np.ndarray | None = None
    cooccurrence: float = 0.0
    history: int = 20
    decay: float = 0.8

    def add_to(self, scores: np.ndarray, tracks: np.ndarray) -> None:
        """Add the blend's terms to dense scores (B, V) after the left-padded ``tracks``
        (B, T), in place: what ``TrackTransformer.score`` adds after the prior's."""
        if self.neighbours is None or self.neighbour_weights is None or self.cooccurrence <= 0:
            rows, items, values = blend_terms(
                scores, tracks[:, -1], self.successors, self.successor_counts, self.weight
            )
        else:
            memory = cooccurrence_mass(
                tracks,
                self.neighbours,
                self.neighbour_weights,
                self.cooccurrence,
                self.history,
                self.decay,
            )
            table = transition_mass(
                tracks[:, -1], self.successors, self.successor_counts, self.weight
            )
            keep_share = 1.0 - self.weight - self.cooccurrence
            rows, items, values = mixture_terms(scores, table, memory, keep_share)
        np.add.at(scores, (rows, items), values)
