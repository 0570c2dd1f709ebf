"""Epoch units are inferred from the typical number, and a number in another unit is an error."""

import pandas as pd
import pytest

from segue.data.errors import DataError
from segue.data.readers import read_log
from segue.data.readers.timestamps import from_epoch, infer_unit

GHAN = "uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\n"


def _write(tmp_path, text):
    path = tmp_path / "scrobbles.csv"
    path.write_text(text)
    return path


def _ghan(rows):
    return GHAN + "".join(f'{t},"x",A{i},,Alb,,T{i},\n' for i, t in enumerate(rows))


def test_one_millisecond_value_among_seconds_is_an_error_naming_its_row(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text(
        "user_id,track_id,timestamp\nu,a,1612124100\nu,b,1612124400\nu,c,1612124700000\n"
    )
    with pytest.raises(DataError) as error:
        read_log(path)  # once read every row as 1970-01-19
    assert (error.value.file, error.value.column, error.value.row) == (str(path), "timestamp", 2)
    assert "seconds" in str(error.value) and "milliseconds" in str(error.value)


def test_one_second_value_among_milliseconds_is_an_error_naming_its_row(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text(
        "user_id,track_id,timestamp\nu,a,1612124100000\nu,b,1612124400\nu,c,1612124700000\n"
    )
    with pytest.raises(DataError, match=r"column 'timestamp', row 1: .*milliseconds.* in 1970"):
        read_log(path)


@pytest.mark.parametrize("stray", ["1612124100000", "253402300799"])
def test_ghan_uts_with_a_stray_value_is_an_error_not_all_rows_dropped(tmp_path, stray):
    rows = [str(1612124100 + i) for i in range(40)]
    rows[30] = stray  # milliseconds, or year 9999 in seconds
    with pytest.raises(DataError) as error:
        read_log(_write(tmp_path, _ghan(rows)))
    assert (error.value.column, error.value.row) == ("uts", 30)
    assert "after 2100" in str(error.value)


def test_placeholder_zeros_do_not_move_the_unit(tmp_path):
    rows = ["0", "0", "0", "1612124100000", "1612124400000"]  # lastfmstats-like milliseconds
    log = read_log(_write(tmp_path, _ghan(rows)))
    assert log.events["timestamp"].dt.year.tolist() == [2021, 2021]
    assert log.report.dropped == {"time at 1970-01-01 (a placeholder, not a play)": 3}


def test_infer_unit_follows_the_typical_value():
    numbers = pd.Series([1_612_124_100] * 5 + [1_612_124_100_000])
    assert infer_unit(numbers) == "s"
    assert infer_unit(pd.Series([0, 0, 1_612_124_100_000])) == "ms"
    times = from_epoch(pd.Series([1_612_124_100, 0]), None, file="f", column="ts")
    assert times.dt.year.tolist() == [2021, 1970]
