import pandas as pd
import pytest

from segue.data.errors import DataError
from segue.data.readers import read_log

from .conftest import FIXTURES

GENERIC = FIXTURES / "generic"
MAPPING = {"user_id": "uid", "track_id": "item", "timestamp": "ts_ms", "ms_played": "secs_played"}


def test_csv_with_mapping_and_epoch_ms():
    log = read_log(GENERIC / "plays_ms.csv", columns=MAPPING, timestamp_unit="ms")
    events = log.events
    assert log.report.stage == "read csv"
    assert events["user_id"].tolist() == ["1", "1", "2"]
    assert events["timestamp"].iloc[2] == pd.Timestamp(1700000000500, unit="ms", tz="UTC")
    assert events["ms_played"].tolist() == [30000, pd.NA, 0]
    assert events["artist"].tolist() == ["Sigur Rós", "Beyoncé", pd.NA]  # same-named column


def test_tsv_detected_from_canonical_header_with_iso_offsets():
    events = read_log(GENERIC / "canonical.tsv").events
    assert events["timestamp"].dt.strftime("%H:%M").tolist() == ["09:05", "10:00"]
    assert events["skipped"].tolist() == [False, True]


def test_parquet_roundtrip(tmp_path):
    frame = pd.DataFrame(
        {"u": [3, 3], "t": ["x", "y"], "when": ["2024-01-01 10:00:00", "2024-01-01 09:00:00"]}
    )
    path = tmp_path / "log.parquet"
    frame.to_parquet(path)
    log = read_log(
        path,
        columns={"user_id": "u", "track_id": "t", "timestamp": "when"},
        timestamp_format="%Y-%m-%d %H:%M:%S",
    )
    assert log.report.stage == "read parquet"
    assert log.events["track_id"].tolist() == ["y", "x"]


def test_epoch_unit_is_inferred_when_unset():
    inferred = read_log(GENERIC / "plays_ms.csv", columns=MAPPING).events["timestamp"]
    given = read_log(GENERIC / "plays_ms.csv", columns=MAPPING, timestamp_unit="ms")
    assert inferred.tolist() == given.events["timestamp"].tolist()


def test_epoch_in_the_wrong_unit_names_column_and_likely_unit():
    with pytest.raises(DataError) as error:
        read_log(GENERIC / "plays_ms.csv", columns=MAPPING, timestamp_unit="s")
    assert error.value.column == "ts_ms" and error.value.file.endswith("plays_ms.csv")
    assert "look like milliseconds" in str(error.value)
    assert "timestamp_unit='ms'" in str(error.value)


def test_missing_mapped_column_lists_existing_ones():
    with pytest.raises(DataError) as error:
        read_log(GENERIC / "plays_ms.csv", columns={**MAPPING, "track_id": "song"})
    message = str(error.value)
    assert "plays_ms.csv" in message and "'song'" in message and "'uid', 'item'" in message


def test_options_a_format_does_not_take_are_refused():
    with pytest.raises(TypeError, match="timestamp_unit"):
        read_log(FIXTURES / "datasets" / "u.data", timestamp_unit="s")
