"""A protocol's split written for peer libraries, and their ranked lists read back as ranks.

The peers (``benchmarks/peers/``) run in environments of their own, so they get files, not
objects: ``train.parquet`` (one row per training play: ``sequence_id``, ``item_id``,
``position``, ``timestamp``), ``validation.parquet`` and ``test.parquet`` (one row per prediction
point: ``point_id``, ``history`` (list of ids, oldest first), ``target`` (null when the track is
not in the training vocabulary: always a miss)) and ``spec.json`` (model sizes and training
settings). The training sequences are exactly the ones segue's baselines learn from
(:meth:`PreparedData.training_sequences`) and the points are segue's own test points, so a
peer's ranked lists are scored by segue's metric code on the same points.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segue.data.pipeline import PreparedData
from segue.data.sequences import PredictionSequences
from segue.data.vocab import TrackVocab


def export_protocol(
    data: PreparedData, spec: dict[str, Any], out: Path, train_by: str = "user"
) -> dict[str, int]:
    """Write ``data``'s split and ``spec`` to ``out``; returns row and point counts."""
    out.mkdir(parents=True, exist_ok=True)
    train = training_table(data.training_sequences(by=train_by), data.vocab)
    train.to_parquet(out / "train.parquet", index=False)
    counts = {"train_sequences": int(train["sequence_id"].nunique()), "train_rows": len(train)}
    for fold, points in (("validation", data.validation), ("test", data.test)):
        table = points_table(points, data.vocab)
        table.to_parquet(out / f"{fold}.parquet", index=False)
        counts[f"{fold}_points"] = len(table)
        counts[f"{fold}_unknown_targets"] = int(table["target"].isna().sum())
    (out / "spec.json").write_text(json.dumps(spec, indent=2))
    return counts


def training_table(sequences: list[np.ndarray], vocab: TrackVocab) -> pd.DataFrame:
    """One row per play; ``timestamp`` is the position (peers only need the order)."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    keep = lengths > 0
    tracks = np.concatenate([s for s, k in zip(sequences, keep) if k])
    positions = np.concatenate([np.arange(n) for n in lengths[keep]])
    return pd.DataFrame(
        {
            "sequence_id": np.repeat(np.flatnonzero(keep), lengths[keep]).astype(np.int64),
            "item_id": vocab.decode(tracks).astype(str),
            "position": positions.astype(np.int32),
            "timestamp": positions.astype(np.int64),
        }
    )


def points_table(points: PredictionSequences, vocab: TrackVocab) -> pd.DataFrame:
    """One row per point: its full known history as ids, and its target id (None if unknown)."""
    histories = []
    for i in range(len(points)):
        known = points.full_history(i)
        histories.append(vocab.decode(known[known > 0]).astype(str).tolist())
    targets = [vocab.decode([t])[0] if t > 0 else None for t in points.targets]
    return pd.DataFrame(
        {
            "point_id": np.arange(len(points), dtype=np.int64),
            "history": histories,
            "target": targets,
        }
    )


def ranks_from_lists(recs: pd.DataFrame, points: pd.DataFrame, n_tracks: int) -> np.ndarray:
    """1-based rank of each point's target in its ranked list, ``n_tracks + 1`` when absent.

    Ranks beyond the list's length are unknown, so a peer's lists must be at least as long as
    the largest cut-off reported (K = 20 for MRR@20; the suite asks for 100).

    >>> recs = pd.DataFrame({"point_id": [1, 0, 2], "items": [["c", "a"], ["b", "c"], ["a"]]})
    >>> pts = pd.DataFrame({"point_id": [0, 1, 2], "target": ["c", "a", None]})
    >>> ranks_from_lists(recs, pts, n_tracks=9).tolist()
    [2, 2, 10]
    """
    by_point = dict(zip(recs["point_id"].tolist(), recs["items"]))
    missing = sorted(set(points["point_id"]) - set(by_point))
    if missing:
        raise ValueError(f"the ranked lists miss {len(missing)} points, e.g. {missing[:5]}")
    ranks = np.full(len(points), n_tracks + 1, dtype=np.int64)
    for row, (point, target) in enumerate(zip(points["point_id"], points["target"])):
        items = list(by_point.get(point, []))
        if isinstance(target, str) and target in items:  # null targets read back as NaN
            ranks[row] = items.index(target) + 1
    return ranks
