"""The track vocabulary in SQL, ordered as :meth:`segue.TrackVocab.build` orders it.

Index 1.. by decreasing train-fold play count, ties by track id (byte order, which is code point
order for UTF-8, as Python sorts strings); metadata is each track's first non-null artist, album
and title in row order; artist indices number artists by their first track in vocabulary order.
The table goes to ``vocab.parquet``, which :func:`load_vocab` turns into a :class:`TrackVocab`
when a checkpoint needs one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from segue.columns import TRAIN, Columns
from segue.data.report import Report
from segue.data.vocab import TrackVocab
from segue.scale.engine import SqlEngine

METADATA = (Columns.ARTIST, Columns.ALBUM, Columns.TRACK_NAME)


def build_vocab_sql(engine: SqlEngine, min_count: int = 1) -> tuple[Report, Report, int]:
    """Table ``split`` -> table ``vocab`` (idx, track_id, count, metadata, artist_index).

    Returns:
        The vocabulary report (unit: tracks), the vocabulary filter report (unit: train
        events) and the number of tracks.
    """
    meta = [c for c in METADATA if c in engine.columns("split")]
    firsts = "".join(
        f", min_by({c}, CASE WHEN {c} IS NULL THEN NULL ELSE ord END) AS {c}" for c in meta
    )
    engine.create(
        "vocab_counts",
        f"SELECT {Columns.TRACK}, COUNT(*) AS count{firsts} FROM split "
        f"WHERE fold = '{TRAIN}' GROUP BY {Columns.TRACK}",
    )
    meta_cols = "".join(f", {c}" for c in meta)
    engine.create(
        "vocab_base",
        f"SELECT ROW_NUMBER() OVER (ORDER BY count DESC, {Columns.TRACK}) AS idx, "
        f"{Columns.TRACK}, count{meta_cols} FROM vocab_counts WHERE count >= {int(min_count)}",
    )
    if Columns.ARTIST in meta:
        engine.create(
            "vocab",
            "SELECT v.*, COALESCE(a.artist_index, 0) AS artist_index FROM vocab_base AS v "
            "LEFT JOIN (SELECT artist, ROW_NUMBER() OVER (ORDER BY first_idx) AS artist_index "
            "FROM (SELECT artist, MIN(idx) AS first_idx FROM vocab_base "
            "WHERE artist IS NOT NULL GROUP BY artist) AS f) AS a ON v.artist = a.artist",
        )
    else:
        engine.create("vocab", "SELECT *, 0 AS artist_index FROM vocab_base")
    n_seen, n_kept, train_rows, kept_rows = engine.rows(
        "SELECT COUNT(*), SUM(CASE WHEN count >= "
        f"{int(min_count)} THEN 1 ELSE 0 END), SUM(count), "
        f"SUM(CASE WHEN count >= {int(min_count)} THEN count ELSE 0 END) FROM vocab_counts"
    )[0]
    engine.drop("vocab_counts")
    engine.drop("vocab_base")
    report = Report("vocabulary", rows_in=int(n_seen), rows_kept=int(n_kept or 0))
    report.drop(f"track played fewer than {min_count} times", int(n_seen) - int(n_kept or 0))
    report.stats["unit"] = "tracks"
    filtered = Report(
        "vocabulary filter", rows_in=int(train_rows or 0), rows_kept=int(kept_rows or 0)
    )
    filtered.drop("track not in vocabulary", int(train_rows or 0) - int(kept_rows or 0))
    return report.check(), filtered.check(), int(n_kept or 0)


def track_counts(path: str | Path) -> np.ndarray:
    """Train play counts by track index, entry 0 (padding) 0, (n_tracks + 1,), from a
    ``vocab.parquet`` without building the id map (what samplers need)."""
    table = pq.read_table(path, columns=["idx", "count"])
    counts = np.zeros(table.num_rows + 1, dtype=np.int64)
    counts[table.column("idx").to_numpy()] = table.column("count").to_numpy()
    return counts


def load_vocab(path: str | Path) -> TrackVocab:
    """The :class:`TrackVocab` of a ``vocab.parquet`` written by the out-of-core path.

    Holds every id as a Python string: about 100 bytes a track, 1 GB at 10M tracks.
    """
    table = pq.read_table(path).to_pandas().sort_values("idx")

    def column(name: str) -> list[str | None] | None:
        if name not in table:
            return None
        return [None if pd.isna(v) else str(v) for v in table[name].to_numpy(dtype=object)]

    return TrackVocab(
        track_ids=[str(t) for t in table[Columns.TRACK]],
        counts=[int(c) for c in table["count"]],
        artists=column(Columns.ARTIST),
        albums=column(Columns.ALBUM),
        names=column(Columns.TRACK_NAME),
    )
