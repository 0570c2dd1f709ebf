import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segue.data.errors import DataError
from segue.data.readers import read_log

from .conftest import FIXTURES, shared

DATASETS = FIXTURES / "datasets"


@pytest.mark.parametrize("name", ["u.data", "ratings.dat", "ratings.csv"])
def test_movielens_layouts(name):
    log = read_log(DATASETS / name)
    assert log.report.stage == "read movielens"
    events = log.events
    assert events["user_id"].dtype == "string" and events["track_id"].dtype == "string"
    assert set(events["event_type"]) == {"rating"}
    assert "rating" in events


def test_movielens_ids_are_strings_and_sorted_by_user_then_time():
    events = read_log(DATASETS / "u.data").events
    assert events["track_id"].tolist() == ["503", "501", "502"]
    assert events["rating"].tolist() == [1.0, 3.0, 4.0]


def test_30music_keeps_source_session():
    events = read_log(DATASETS / "30music_sample.txt").events
    assert events.columns.tolist() == [
        "user_id",
        "track_id",
        "timestamp",
        "artist",
        "event_type",
        "source_session_id",
    ]
    assert events["source_session_id"].tolist() == ["100", "100", "101"]


def test_piki_likes_and_dislikes():
    events = read_log(DATASETS / "piki_sample.csv").events
    assert events["event_type"].tolist() == ["dislike", "like", "like"]
    assert events["liked"].tolist() == [0, 1, 2]


def _yambda(tmp_path, name, **extra):
    table = pa.table(
        {
            "uid": pa.array([5, 5, 6], pa.uint32()),
            "timestamp": pa.array([100, 40, 10], pa.uint32()),
            "item_id": pa.array([9, 8, 9], pa.uint32()),
            "is_organic": pa.array([1, 0, 1], pa.uint8()),
            **extra,
        }
    )
    path = tmp_path / name
    pq.write_table(table, path)
    return path


def test_yambda_listens(tmp_path):
    path = _yambda(
        tmp_path,
        "listens.parquet",
        played_ratio_pct=pa.array([50, 100, 0], pa.uint16()),
        track_length_seconds=pa.array([200, 180, 60], pa.uint32()),
    )
    events = read_log(path).events
    assert events["track_id"].tolist() == ["8", "9", "9"]
    assert events["ms_played"].tolist() == [180_000, 100_000, 0]
    assert events["duration_ms"].tolist() == [180_000, 200_000, 60_000]
    assert events["is_organic"].tolist() == [False, True, True]
    assert events["timestamp"].iloc[0] == pd.Timestamp(40, unit="s", tz="UTC")
    assert set(events["event_type"]) == {"play"}


def test_yambda_multi_event(tmp_path):
    path = _yambda(
        tmp_path,
        "multi_event.parquet",
        event_type=pa.array(["listen", "like", "undislike"]),
        played_ratio_pct=pa.array([50, None, None], pa.uint16()),
        track_length_seconds=pa.array([200, None, None], pa.uint32()),
    )
    events = read_log(path).events
    assert events["event_type"].tolist() == ["like", "play", "undislike"]
    assert events["ms_played"].isna().tolist() == [True, False, True]


def test_yambda_likes_file_named_event(tmp_path):
    events = read_log(_yambda(tmp_path, "likes.parquet")).events
    assert set(events["event_type"]) == {"like"}


def test_null_ids_are_errors_not_drops(tmp_path):
    bad = tmp_path / "ratings.csv"
    bad.write_text("userId,movieId,rating,timestamp\n1,7,4.0,960000100\n1,,4.5,960000000\n")
    with pytest.raises(DataError) as error:
        read_log(bad)
    assert (error.value.column, error.value.row) == ("movieId", 1)


def test_real_30music_folds():
    log = read_log(shared("30music-200ks-testfolds"))
    assert log.report.rows_kept == 121_547
    assert log.report.stats["users"] == 4_620


def test_real_movielens_100k():
    log = read_log(shared("movielens-100k"))
    assert log.report.rows_kept == 100_000
    assert log.report.stats["tracks"] == 1_682


def test_real_movielens_latest_small():
    log = read_log(shared("movielens-latest-small/ratings.csv"))
    assert (log.report.rows_kept, log.report.stats["users"]) == (100_836, 610)


def test_real_piki_sample():
    log = read_log(shared("piki-music-sample/piki_dataset_first500.csv"))
    assert (log.report.rows_kept, log.report.stats["users"]) == (500, 47)
    assert (log.events["event_type"] == "like").sum() == 218


def test_item_sequences_keep_order_and_source_line():
    log = read_log(DATASETS / "item_sequences.txt")
    assert log.report.stage == "read item_sequences"
    events = log.events
    third = events[events["user_id"] == "3"]
    assert third["track_id"].tolist() == ["15", "11", "12", "16", "17"]
    assert third["timestamp"].is_monotonic_increasing and third["timestamp"].is_unique
    assert third["source_line"].tolist() == [3] * 5
    assert len(events) == 3 + 2 + 5 + 1


def _read_sequences(tmp_path, text):
    (tmp_path / "seq.txt").write_text(text)
    return read_log(tmp_path / "seq.txt", format="item_sequences")


def test_item_sequences_a_repeated_user_is_an_error_naming_both_lines(tmp_path):
    with pytest.raises(DataError, match=r"line 3: user '7' has a second sequence .*line 1"):
        _read_sequences(tmp_path, "7 1 2\n8 3 4 5\n7 6\n")


def test_item_sequences_a_user_without_items_loses_nothing(tmp_path):
    log = _read_sequences(tmp_path, "7 1 2\n8\n9 3\n")
    assert log.report.rows_in == log.report.rows_kept == 3
    assert set(log.events["user_id"]) == {"7", "9"}


@pytest.mark.parametrize(
    "text",
    ["1 2 3\n4 5 6\n7 8 9\n", "1,2,3,4\n5,6\n", "a b c\nd e\n", "1 2 3 4\n"],
    ids=["fixed width table", "commas", "not numbers", "one line"],
)
def test_item_sequences_sniff_leaves_tables_alone(text):
    from segue.data.readers.head import Head
    from segue.data.readers.item_sequences import sniff

    assert not sniff(Head("x.txt", text.encode()))


def test_amazon_beauty_s3rec_file_reads_whole():
    log = read_log(shared("amazon-beauty-s3rec/Beauty.txt"))
    assert log.report.stage == "read item_sequences"
    assert len(log.events) == 198_502
    assert log.events["user_id"].nunique() == 22_363
    assert log.events["track_id"].nunique() == 12_101
