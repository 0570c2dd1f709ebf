"""The out-of-core path equals the pandas path: every column, every report count, every window."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from segue import DataError, SessionOptions, prepare_data
from segue.scale import prepare_out_of_core
from segue.scale.dataset import MANIFEST
from tests.scale.logs import ALL_SIDE, compare_events, compare_windows, messy_log, write_parquet

CASES = {
    "defaults": (SessionOptions(), "global_temporal", {"test_days": 3, "validation_days": 2}),
    "drops and cuts": (
        SessionOptions(
            gap="20min", drop_skips=True, collapse_repeats=True, max_length=4, min_length=2
        ),
        "held_out_sessions",
        {},
    ),
    "fraction rule": (
        SessionOptions(skip_min_ms=None, skip_min_fraction=0.4, max_length=6),
        "leave_last_out",
        {"min_points": 4},
    ),
    "sessions, refit": (SessionOptions(), "held_out_sessions", {"validation": False}),
    "leave last out, refit": (SessionOptions(), "leave_last_out", {"validation": False}),
    "gap before validation": (
        SessionOptions(collapse_repeats=True),
        "global_temporal",
        {"test_days": 2, "validation_days": 2, "gap_days": 1, "predict_first_track": True},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("train_by", ["user", "session"])
def test_out_of_core_equals_pandas(tmp_path, case, train_by):
    sessions, split, options = CASES[case]
    log = messy_log()
    source = write_parquet(log, tmp_path)
    kwargs = dict(split=split, split_options=options, min_count=2, max_len=5, train_by=train_by)
    expected = prepare_data(log, sessions=sessions, side=ALL_SIDE, **kwargs)
    got = prepare_out_of_core(
        [source], tmp_path / "out", sessions=sessions, shard_rows=40, **kwargs
    )

    assert [r.to_dict() for r in got.reports[1:]] == [r.to_dict() for r in expected.reports]
    assert got.reports[0].rows_in == got.reports[0].rows_kept == len(log)
    compare_events(expected.split.events, pd.read_parquet(tmp_path / "out" / "events.parquet"))
    vocab = got.vocab()
    assert vocab.to_dict() == expected.vocab.to_dict()
    assert vocab.artist_names == expected.vocab.artist_names
    windows = got.windows(ALL_SIDE)
    assert len(windows.shards) > 1  # shards cut at group boundaries still give the same windows
    compare_windows(expected.train, windows)


def test_masked_windows_and_csv_input_equal_pandas(tmp_path):
    log = messy_log(seed=1)
    source = tmp_path / "log.csv"
    log.to_csv(source, index=False)
    expected = prepare_data(log, split="global_temporal", max_len=6, causal=False, side=ALL_SIDE)
    got = prepare_out_of_core([source], tmp_path / "out", max_len=6, causal=False)
    assert [r.to_dict() for r in got.reports[1:]] == [r.to_dict() for r in expected.reports]
    compare_windows(expected.train, got.windows(ALL_SIDE))


def test_a_second_run_replaces_the_folder(tmp_path):
    source = write_parquet(messy_log(), tmp_path)
    prepare_out_of_core([source], tmp_path / "out", max_len=5, shard_rows=100)
    many = len(list((tmp_path / "out" / "shards").iterdir()))
    prepare_out_of_core([source], tmp_path / "out", max_len=5, shard_rows=10**6)
    assert many > 1 and len(list((tmp_path / "out" / "shards").iterdir())) == 1
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert manifest["reports"][0]["stage"] == "read canonical files"


def test_missing_column_named_before_work(tmp_path):
    source = write_parquet(messy_log().drop(columns=["user_id"]), tmp_path)
    with pytest.raises(DataError, match="user_id"):
        prepare_out_of_core([source], tmp_path / "out")


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("user_id", None, "missing value"),
        ("track_id", "  ", "missing value"),
        ("timestamp", "yesterday", "timestamp"),
        ("ms_played", -5, "negative"),
        ("skipped", "maybe", "true or false"),
    ],
)
def test_bad_values_name_column_and_row(tmp_path, column, value, message):
    log = messy_log(n=50)
    log = log.astype({column: object})
    log.loc[17, column] = value
    source = tmp_path / "log.csv"
    log.to_csv(source, index=False)
    with pytest.raises(DataError, match=message) as error:
        prepare_out_of_core([source], tmp_path / "out")
    assert error.value.column == column and error.value.row == 17


def test_bad_options_fail_fast(tmp_path):
    source = write_parquet(messy_log(n=50), tmp_path)
    with pytest.raises(ValueError, match="split must be one of"):
        prepare_out_of_core([source], tmp_path / "out", split="random")
    with pytest.raises(DataError, match="suffix"):
        prepare_out_of_core([tmp_path / "log.json"], tmp_path / "out")
    with pytest.raises(DataError, match="no such file"):
        prepare_out_of_core([tmp_path / "absent.parquet"], tmp_path / "out")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"split": "held_out_sessions", "split_options": {"min_train_sessions": 500}},
        {"split": "global_temporal", "split_options": {"test_start": "2030-01-01"}},
        {"split": "global_temporal", "min_count": 10_000},
        {"split": "leave_last_out", "split_options": {"min_points": 10_000}},
    ],
)
def test_data_errors_equal_the_pandas_ones(tmp_path, kwargs):
    log = messy_log(n=300)
    source = write_parquet(log, tmp_path)
    with pytest.raises(DataError) as pandas_error:
        prepare_data(log, **kwargs)
    with pytest.raises(DataError) as sql_error:
        prepare_out_of_core([source], tmp_path / "out", **kwargs)
    assert str(sql_error.value) == str(pandas_error.value)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"split_options": {"test_day": 2}}, ValueError),
        ({"sessions": SessionOptions(gap="-5min")}, ValueError),
        ({"max_len": 0}, ValueError),
        ({"train_by": "artist"}, ValueError),
        ({"min_count": 1.5}, TypeError),
    ],
)
def test_settings_checked_as_in_pandas(tmp_path, kwargs, error):
    log = messy_log(n=50)
    source = write_parquet(log, tmp_path)
    with pytest.raises(error) as pandas_error:
        prepare_data(log, split="global_temporal", **kwargs)
    with pytest.raises(error) as sql_error:
        prepare_out_of_core([source], tmp_path / "out", **kwargs)
    assert str(sql_error.value) == str(pandas_error.value)


def test_several_files_read_in_file_order(tmp_path):
    log = messy_log(seed=5)
    first = write_parquet(log.iloc[:700], tmp_path, "a.parquet")
    second = write_parquet(log.iloc[700:], tmp_path, "b.parquet")
    expected = prepare_data(log, split="global_temporal", max_len=5, side=ALL_SIDE)
    got = prepare_out_of_core([first, second], tmp_path / "out", split="global_temporal", max_len=5)
    assert got.reports[0].rows_in == len(log)
    assert [r.to_dict() for r in got.reports[1:]] == [r.to_dict() for r in expected.reports]
    compare_events(expected.split.events, pd.read_parquet(tmp_path / "out" / "events.parquet"))
    compare_windows(expected.train, got.windows(ALL_SIDE))


def test_source_sessions_start_sessions_as_in_pandas(tmp_path):
    log = messy_log(seed=6)
    ids = np.random.default_rng(6).integers(0, 4, len(log))
    log["source_session_id"] = pd.array([None if k == 0 else f"s{k}" for k in ids], dtype="string")
    source = write_parquet(log, tmp_path)
    sessions = SessionOptions(gap="2h", source_session_column="source_session_id")
    expected = prepare_data(log, sessions=sessions, split="global_temporal", max_len=5)
    got = prepare_out_of_core([source], tmp_path / "out", sessions=sessions, max_len=5)
    assert [r.to_dict() for r in got.reports[1:]] == [r.to_dict() for r in expected.reports]
    compare_events(expected.split.events, pd.read_parquet(tmp_path / "out" / "events.parquet"))
