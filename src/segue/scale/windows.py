"""Training windows written to disk in shards, from the train fold of table ``split``.

The engine returns the train fold's known-track rows in row order, already encoded (vocabulary
index, artist index, event type, time gap); this module cuts that stream into shards at group
boundaries (a user's or a session's rows never straddle two shards), computes each shard's
windows exactly as :class:`segue.data.TrainingSequences` does, and writes one ``.npy`` per array,
so that a reader memory-maps or loads one shard at a time.

Shard layout (``shards/shard_00000/``): ``tracks`` int32, ``artists`` int32, ``event_types``
int8, ``gap_buckets`` int8, ``is_skip`` bool, one value per row; ``starts`` and ``ends`` int64,
one per window, in the shard's rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from segue.columns import TRAIN, Columns, EventTypes
from segue.data.features import gap_buckets
from segue.data.sequences import training_windows
from segue.scale.engine import SqlEngine

ARRAYS = {
    "tracks": np.int32,
    "artists": np.int32,
    "event_types": np.int8,
    "gap_buckets": np.int8,
    "is_skip": np.bool_,
}


def window_bounds(
    group_start: np.ndarray, is_skip: np.ndarray, max_len: int, causal: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Window ``[start, end)`` of each training example, as :class:`TrainingSequences` builds
    them: tiles from each group's end, causal inputs one row shorter, windows with no
    non-skipped target left out.

    >>> starts, ends = window_bounds(np.array([0, 0, 0, 3, 3]), np.zeros(5, bool), 2, True)
    >>> list(zip(starts.tolist(), ends.tolist()))
    [(0, 2), (3, 4)]
    """
    window = max_len + 1 if causal else max_len
    starts, ends = training_windows(group_start, window, max_len)
    if causal:
        ends = ends - 1  # inputs are the window minus its last row
    playable = np.r_[0, np.cumsum(~is_skip)]
    shift = 1 if causal else 0
    has_target = playable[ends + shift] - playable[starts + shift] > 0
    return starts[has_target], ends[has_target]


def _event_type_sql(has_event_type: bool) -> str:
    """:func:`segue.data.encoding.event_type_indices` in SQL."""
    skip, play, other = (EventTypes.index(k) for k in ("skip", "play", "other"))
    if not has_event_type:
        return f"CASE WHEN s.is_skip THEN {skip} ELSE {play} END"
    kinds = " ".join(
        f"WHEN s.{Columns.EVENT_TYPE} = '{name}' THEN {i}"
        for i, name in enumerate(EventTypes.VOCAB)
    )
    return (
        f"CASE WHEN s.is_skip THEN {skip} WHEN s.{Columns.EVENT_TYPE} IS NULL THEN {play} "
        f"{kinds} ELSE {other} END"
    )


def encoded_train_sql(has_event_type: bool) -> str:
    """The train fold's rows whose track is in the vocabulary, encoded, in row order.

    Group starts and time gaps are left to the reader (:func:`_encode`): they compare each row
    with the one before, which a stream in row order gives for free, where SQL would need a
    window (one more sort of the log).
    """
    return (
        "SELECT v.idx AS tracks, v.artist_index AS artists, "
        f"{_event_type_sql(has_event_type)} AS event_types, s.is_skip AS is_skip, "
        f"s.ts_us, s.user_index, s.{Columns.SESSION} AS session "
        f"FROM split AS s JOIN vocab AS v ON s.{Columns.TRACK} = v.{Columns.TRACK} "
        f"WHERE s.fold = '{TRAIN}' ORDER BY s.ord"
    )


@dataclass
class ShardInfo:
    """One written shard: its folder (relative to the data folder), rows and windows."""

    path: str
    rows: int
    windows: int


@dataclass
class _Previous:
    """The last row of the previous batch: the first row of a batch is compared with it."""

    user: int = -1
    session: int = -1
    ts_us: int = 0


def _encode(table: pa.Table, by: str, previous: _Previous) -> dict[str, np.ndarray]:
    """Arrays of one batch, with ``new_group`` and ``gap_buckets`` as
    :func:`segue.data.encoding.encode_events` computes them (gaps within a user, in seconds)."""
    out = {name: table.column(name).to_numpy() for name in table.column_names}
    user, ts = out.pop("user_index"), out.pop("ts_us")
    session = out.pop("session")
    new_user = np.r_[user[0] != previous.user, user[1:] != user[:-1]]
    new_group = new_user
    if by == "session":
        new_group = new_user | np.r_[session[0] != previous.session, session[1:] != session[:-1]]
    # nanoseconds / 1e9, as the pandas path divides its nanosecond diffs
    gaps = np.diff(np.r_[previous.ts_us, ts]) * 1000 / 1e9
    gaps[new_user] = np.nan  # a user's first event has no earlier event
    out["new_group"], out["gap_buckets"] = new_group, gap_buckets(gaps)
    previous.user, previous.session, previous.ts_us = int(user[-1]), int(session[-1]), int(ts[-1])
    return out


def _chunks(
    batches: Iterator[pa.Table], shard_rows: int, by: str
) -> Iterator[dict[str, np.ndarray]]:
    """Row arrays cut at the first group start at or after ``shard_rows`` rows."""
    pending: list[dict[str, np.ndarray]] = []
    n_pending = 0
    previous = _Previous()
    for table in batches:
        if table.num_rows == 0:
            continue
        pending.append(_encode(table, by, previous))
        n_pending += table.num_rows
        while n_pending >= shard_rows:
            merged = {k: np.concatenate([p[k] for p in pending]) for k in pending[0]}
            cuts = np.flatnonzero(merged["new_group"][shard_rows:])
            if not len(cuts):
                pending, n_pending = [merged], len(merged["new_group"])
                break
            cut = shard_rows + int(cuts[0])
            yield {k: v[:cut] for k, v in merged.items()}
            pending = [{k: v[cut:] for k, v in merged.items()}]
            n_pending = len(merged["new_group"]) - cut
    if n_pending:
        yield {k: np.concatenate([p[k] for p in pending]) for k in pending[0]}


def write_shards(
    engine: SqlEngine,
    directory: Path,
    *,
    by: str,
    max_len: int,
    causal: bool,
    shard_rows: int,
) -> list[ShardInfo]:
    """Stream the encoded train fold into shards under ``directory / "shards"``."""
    shards: list[ShardInfo] = []
    if by not in ("user", "session"):
        raise ValueError(f"by must be 'user' or 'session', got {by!r}")
    has_event_type = Columns.EVENT_TYPE in engine.columns("split")
    batches = engine.batches(encoded_train_sql(has_event_type), min(shard_rows, 1_000_000))
    for i, rows in enumerate(_chunks(batches, shard_rows, by)):
        n = len(rows["tracks"])
        group_start = np.maximum.accumulate(np.where(rows["new_group"], np.arange(n), 0))
        is_skip = rows["is_skip"].astype(bool)
        starts, ends = window_bounds(group_start, is_skip, max_len, causal)
        name = f"shards/shard_{i:05d}"
        folder = directory / name
        folder.mkdir(parents=True, exist_ok=True)
        for array, dtype in ARRAYS.items():
            np.save(folder / f"{array}.npy", rows[array].astype(dtype))
        np.save(folder / "starts.npy", starts.astype(np.int64))
        np.save(folder / "ends.npy", ends.astype(np.int64))
        shards.append(ShardInfo(name, n, len(starts)))
    return shards
