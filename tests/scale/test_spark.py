"""The same SQL on Spark (local mode) equals the pandas path and the DuckDB path.

Slow: a Spark session takes seconds to a minute to start; one session serves the module.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from segue import SessionOptions, prepare_data
from segue.scale import SparkEngine, prepare_out_of_core
from tests.scale.logs import ALL_SIDE, compare_events, compare_windows, messy_log, write_parquet

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs a Java runtime (java not on PATH)")
    return SparkEngine(master="local[1]")


CASES = {
    "defaults by user": (SessionOptions(), "global_temporal", {"test_days": 3}, "user"),
    "drops and cuts by session": (
        SessionOptions(
            gap="20min", drop_skips=True, collapse_repeats=True, max_length=4, min_length=2
        ),
        "held_out_sessions",
        {},
        "session",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_spark_equals_pandas_and_duckdb(spark, tmp_path, case):
    sessions, split, options, train_by = CASES[case]
    log = messy_log()
    source = write_parquet(log, tmp_path)
    kwargs = dict(
        sessions=sessions, split=split, split_options=options, max_len=5, train_by=train_by
    )
    expected = prepare_data(log, side=ALL_SIDE, **kwargs)
    on_spark = prepare_out_of_core(
        [source], tmp_path / "spark", engine=spark, shard_rows=50, **kwargs
    )
    on_duckdb = prepare_out_of_core([source], tmp_path / "duckdb", shard_rows=50, **kwargs)

    want = [r.to_dict() for r in expected.reports]
    assert [r.to_dict() for r in on_spark.reports[1:]] == want
    assert [r.to_dict() for r in on_duckdb.reports[1:]] == want
    spark_events = pd.read_parquet(tmp_path / "spark" / "events.parquet")  # a folder of parts
    compare_events(expected.split.events, spark_events)
    compare_events(pd.read_parquet(tmp_path / "duckdb" / "events.parquet"), spark_events)
    assert on_spark.vocab().to_dict() == expected.vocab.to_dict()
    compare_windows(expected.train, on_spark.windows(ALL_SIDE))
