"""Every validation error names where the problem is."""

import pytest

from segue.data.errors import DataError
from segue.data.readers import FORMATS, read_log

from .conftest import FIXTURES


def _csv(tmp_path, text, name="log.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_unknown_format_lists_formats(tmp_path):
    path = _csv(tmp_path, "hello world\n", "notes.txt")
    with pytest.raises(DataError) as error:
        read_log(path)
    assert error.value.file == str(path)
    assert all(name in str(error.value) for name in FORMATS)


def test_unknown_format_name():
    with pytest.raises(DataError, match="unknown format 'mp3'"):
        read_log(FIXTURES / "datasets" / "u.data", format="mp3")


def test_missing_required_column_says_which_exist(tmp_path):
    path = _csv(tmp_path, "user_id,when\nu,2024-01-01\n")
    with pytest.raises(DataError, match=r"no column for \['track_id', 'timestamp'\].*'user_id'"):
        read_log(path, format="csv")


def test_unparseable_timestamp_names_row_and_value(tmp_path):
    path = _csv(tmp_path, "user_id,track_id,timestamp\nu,t,2024-01-01\nu,t,soon\n")
    with pytest.raises(DataError) as error:
        read_log(path)
    assert (error.value.file, error.value.column, error.value.row) == (str(path), "timestamp", 1)
    assert "'soon'" in str(error.value)


def test_null_user_id(tmp_path):
    path = _csv(tmp_path, "user_id,track_id,timestamp\nu,t,2024-01-01\n,t,2024-01-02\n")
    with pytest.raises(DataError, match="column 'user_id', row 1: missing value"):
        read_log(path)


def test_null_track_id(tmp_path):
    path = _csv(tmp_path, "user_id,track_id,timestamp\nu,,2024-01-01\n")
    with pytest.raises(DataError, match="column 'track_id', row 0"):
        read_log(path)


def test_negative_duration(tmp_path):
    text = "user_id,track_id,timestamp,duration_ms\nu,t,2024-01-01,5\nu,t,2024-01-01,-1\n"
    with pytest.raises(DataError, match="column 'duration_ms', row 1: negative"):
        read_log(_csv(tmp_path, text))


def test_bad_flag(tmp_path):
    text = "user_id,track_id,timestamp,skipped\nu,t,2024-01-01,maybe\n"
    with pytest.raises(DataError, match="column 'skipped', row 0: 'maybe'"):
        read_log(_csv(tmp_path, text))


def test_file_with_header_only(tmp_path):
    with pytest.raises(DataError, match="no rows"):
        read_log(_csv(tmp_path, "user_id,track_id,timestamp\n"))


def test_empty_file(tmp_path):
    with pytest.raises(DataError, match="empty file"):
        read_log(_csv(tmp_path, ""), format="csv")


def test_empty_folder(tmp_path):
    with pytest.raises(DataError, match="empty folder"):
        read_log(tmp_path)


def test_folder_without_logs(tmp_path):
    _csv(tmp_path, "nothing to see\n", "README.md")
    with pytest.raises(DataError, match="no listening log found"):
        read_log(tmp_path)


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_log(tmp_path / "nope.csv")


def test_mixed_formats_in_one_folder_read_each_by_its_own_format(tmp_path):
    for f in ("datasets/u.data", "datasets/piki_sample.csv"):
        (tmp_path / f.split("/")[1]).write_bytes((FIXTURES / f).read_bytes())
    log = read_log(tmp_path)
    assert log.report.stage == "read movielens + piki"
    assert log.report.stats["files per format"] == {"movielens": 1, "piki": 1}
    assert set(log.events["source"]) == {"movielens", "piki"}
