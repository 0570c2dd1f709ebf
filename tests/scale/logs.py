"""A small messy log, and the comparisons of the out-of-core path with the pandas path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from segue.data.sequences import SideInputs
from segue.scale import ShardedWindows

ALL_SIDE = SideInputs(artists=True, event_types=True, gap_buckets=True)


def messy_log(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Events in canonical dtypes, in file order that is not user / time order.

    Users whose ids sort differently as text and as numbers, timestamps that tie within a user
    (file order decides), missing play times, source skip flags, likes, artists with gaps.
    """
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.integers(0, 12 * 86400, n) // 30 * 30)  # 30 s grid: ties happen
    frame = pd.DataFrame(
        {
            "user_id": pd.array([f"u{k}" for k in rng.integers(0, 25, n)], dtype="string"),
            "track_id": pd.array([f"t{k}" for k in rng.integers(0, 70, n)], dtype="string"),
            "timestamp": pd.to_datetime(seconds, unit="s", utc=True),
            "artist": pd.array(
                [None if k == 0 else f"a{k}" for k in rng.integers(0, 12, n)], dtype="string"
            ),
            "ms_played": pd.array(
                [None if k < 20_000 else k for k in rng.integers(0, 240_000, n)], dtype="Int64"
            ),
            "duration_ms": pd.array(rng.integers(150_000, 250_000, n), dtype="Int64"),
            "skipped": pd.array(
                [None if k == 0 else k == 1 for k in rng.integers(0, 10, n)], dtype="boolean"
            ),
            "event_type": pd.array(
                rng.choice(["play", "play", "play", "like", None], n), dtype="string"
            ),
        }
    )
    frame["track_id"] = frame["track_id"].where(rng.random(n) > 0.1, "t1")  # repeats
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def write_parquet(frame: pd.DataFrame, folder: Path, name: str = "log.parquet") -> Path:
    path = folder / name
    frame.to_parquet(path, index=False)
    return path


def compare_events(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    assert sorted(expected.columns) == sorted(got.columns)
    assert len(expected) == len(got)
    for column in expected.columns:
        want, have = expected[column], got[column]
        if column == "timestamp":
            assert (want.to_numpy() == have.to_numpy()).all(), column
        else:
            # values, nulls as None: pandas keeps nullable dtypes, Parquet gives numpy ones
            assert _values(want) == _values(have), column


def _values(series: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in series.astype(object)]


def compare_windows(expected, got: ShardedWindows) -> None:
    assert len(got) == len(expected)
    assert (got.lengths() == expected.lengths()).all()
    order = np.random.default_rng(0).permutation(len(got))  # rows across shards, any order
    want, have = expected.batch(order), got.batch(order)
    for name in ("tracks", "artists", "event_types", "gap_buckets", "targets"):
        assert getattr(have, name).equal(getattr(want, name)), name
