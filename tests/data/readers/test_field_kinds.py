"""A JSON field of the wrong kind, a missing play length or a ragged CSV row is a DataError
naming the source field and the row."""

import json

import pytest

from segue.data.errors import DataError
from segue.data.readers import read_log

ACCOUNT = {"endTime": "2023-01-05 14:03", "artistName": "A", "trackName": "T", "msPlayed": 1000}
LISTEN = {"listened_at": 1612124100, "track_metadata": {"artist_name": "A", "track_name": "T"}}


def _account(tmp_path, **second):
    path = tmp_path / "StreamingHistory_music_0.json"
    path.write_text(json.dumps([ACCOUNT, {**ACCOUNT, **second}]))
    return path


def _listens(tmp_path, second):
    path = tmp_path / "listens.jsonl"
    path.write_text(json.dumps(LISTEN) + "\n" + json.dumps(second) + "\n")
    return path


def _meta(**fields):
    return {**LISTEN, "track_metadata": {**LISTEN["track_metadata"], **fields}}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("msPlayed", None, "missing value"),  # once named 'endTime'
        ("msPlayed", float("nan"), "missing value"),
        ("msPlayed", True, "is a bool, not a number"),  # once read as 1 ms
        ("msPlayed", [1], "is a list, not a number"),
        ("artistName", {"x": 1}, "is a dict, not text"),
        ("trackName", ["T"], "is a list, not text"),
    ],
)
def test_account_field_of_the_wrong_kind_names_field_and_row(tmp_path, field, value, message):
    with pytest.raises(DataError, match=message) as error:
        read_log(_account(tmp_path, **{field: value}))
    assert (error.value.column, error.value.row) == (field, 1)


def test_a_json_integer_beyond_float_names_field_and_row(tmp_path):
    path = tmp_path / "StreamingHistory_music_0.json"
    path.write_text(json.dumps([ACCOUNT, ACCOUNT]).replace("1000}]", "1" + "0" * 400 + "}]"))
    with pytest.raises(DataError, match="too large") as error:
        read_log(path)
    assert (error.value.column, error.value.row) == ("msPlayed", 1)


def test_extended_csv_with_an_empty_ms_played_names_it(tmp_path):
    path = tmp_path / "Streaming_History_Audio_2021.csv"
    path.write_text(
        "ts,ms_played,master_metadata_track_name,master_metadata_album_artist_name\n"
        "2021-01-01T10:00:00Z,1000,T,A\n2021-01-01T10:05:00Z,,T,A\n"
    )
    with pytest.raises(DataError, match="missing value") as error:
        read_log(path)
    assert (error.value.column, error.value.row) == ("ms_played", 1)


@pytest.mark.parametrize(
    ("listen", "column"),
    [
        ({**LISTEN, "listened_at": float("nan")}, "listened_at"),  # once named 'timestamp'
        (_meta(artist_name=["A", "B"]), "track_metadata.artist_name"),  # once id "['a', 'b']|t"
        (_meta(mbid_mapping={"recording_mbid": ["x"]}), "mbid_mapping.recording_mbid"),
        (_meta(additional_info={"duration_ms": True}), "additional_info.duration_ms"),
        ({**LISTEN, "user_name": 7}, "user_name"),
    ],
)
def test_listen_field_of_the_wrong_kind_names_field_and_row(tmp_path, listen, column):
    with pytest.raises(DataError, match="must be") as error:
        read_log(_listens(tmp_path, listen))
    assert (error.value.column, error.value.row) == (column, 1)


def test_listen_fields_of_the_right_kind_still_read(tmp_path):
    listen = _meta(additional_info={"duration_ms": "268000", "spotify_id": None})
    log = read_log(_listens(tmp_path, {**listen, "listened_at": "1612124400"}))
    assert log.events["duration_ms"].tolist()[1] == 268000


ROWS = [f'A{i},Alb,T{i},"31 Jan 2021, 20:{i:02d}"' for i in range(40)]


@pytest.mark.parametrize("bad", [ROWS[30] + ",extra", 'A,Alb,"31 Jan 2021, 20:15"'])
def test_a_ragged_headerless_row_is_named(tmp_path, bad):
    path = tmp_path / "lastfm.csv"
    path.write_text("\n".join([*ROWS[:30], bad, *ROWS[31:]]) + "\n")
    with pytest.raises(DataError, match="fields where the file has 4 columns") as error:
        read_log(path)
    assert (error.value.file, error.value.row) == (str(path), 30)


def test_a_ragged_row_under_a_header_is_named_by_data_row(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text("user_id,track_id,timestamp\nu,a,2024-01-01\n\nu,b,2024-01-02,x\n")
    with pytest.raises(DataError, match="4 fields where the file has 3 columns") as error:
        read_log(path)
    assert error.value.row == 1
