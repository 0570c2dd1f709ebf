"""Shared test helpers: tiny inline logs and the location of the shared real datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SEGUE_DATA_DIR", REPO.parent / "shared" / "data"))


def shared_file(*parts: str) -> Path:
    """A file of ../shared/data, or skip the test saying why."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real dataset not available: {path} (set SEGUE_DATA_DIR)")
    return path


def make_log(
    rows: list[tuple], columns: tuple[str, ...] = ("user_id", "track_id", "t")
) -> pd.DataFrame:
    """Events from (user, track, seconds, ...) tuples, with a UTC timestamp column."""
    df = pd.DataFrame(rows, columns=list(columns))
    df["timestamp"] = pd.to_datetime(df.pop("t"), unit="s", utc=True)
    df["user_id"] = df["user_id"].astype(str)
    df["track_id"] = df["track_id"].astype(str)
    return df
