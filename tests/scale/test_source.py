"""The out-of-core loader refuses what the pandas canonical checks refuse, named the same way."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from segue.data.errors import DataError
from segue.data.readers.canonical import finish
from segue.scale.engine import DuckDBEngine
from segue.scale.source import load_events

BAD = 7  # the file row made bad


def canonical_log(n: int = 20) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [f"u{i % 3}" for i in range(n)],
            "track_id": [f"t{i % 5}" for i in range(n)],
            "timestamp": [f"2024-01-01T00:{i:02d}:00Z" for i in range(n)],
            "ms_played": [1000 * i for i in range(n)],
            "skipped": ["false"] * n,
        },
        dtype=object,
    )


def sql_error(log: pd.DataFrame, tmp_path: Path) -> DataError:
    source = tmp_path / "log.csv"
    log.to_csv(source, index=False)
    engine = DuckDBEngine(tmp_path / "db.duckdb", memory_limit="256MB", threads=1)
    try:
        with pytest.raises(DataError) as caught:
            load_events(engine, [source])
    finally:
        engine.close()
    return caught.value


def pandas_error(log: pd.DataFrame) -> DataError:
    frame = log.assign(timestamp=pd.to_datetime(log["timestamp"], utc=True))
    with pytest.raises(DataError) as caught:
        finish(frame, file="log.csv")
    return caught.value


@pytest.mark.parametrize(
    ("column", "value", "phrase"),
    [
        ("user_id", " ", "missing value"),
        ("ms_played", "abc", "not a number"),
        ("ms_played", "1e30", "too large"),
        ("ms_played", "-5", "negative"),
        ("skipped", "maybe", "not true or false"),
    ],
)
def test_bad_values_fail_on_the_same_row_and_column_as_pandas(
    tmp_path: Path, column: str, value: str, phrase: str
) -> None:
    log = canonical_log()
    log.loc[BAD, column] = value
    for error in (sql_error(log, tmp_path), pandas_error(log)):
        assert (error.column, error.row) == (column, BAD)
        assert phrase in error.reason


def test_a_missing_column_is_named_with_the_pandas_message(tmp_path: Path) -> None:
    log = canonical_log().drop(columns=["user_id"])
    sql = sql_error(log, tmp_path)
    assert sql.reason.startswith("missing column 'user_id'; the file has columns: 'track_id'")
