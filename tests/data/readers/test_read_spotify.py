import zipfile
from pathlib import Path

import pandas as pd
import pytest

from segue.data.errors import DataError
from segue.data.readers import read_log

from .conftest import FIXTURES

ACCOUNT = FIXTURES / "spotify_account"
EXTENDED = FIXTURES / "spotify_extended"


def test_account_folder_counts_every_dropped_row():
    log = read_log(ACCOUNT, user="ana")
    report = log.report
    # 6 + 4 rows in the music files, 1 in the podcast file; 2 music rows repeated across files.
    assert (report.rows_in, report.rows_kept) == (11, 6)
    assert report.dropped == {
        "podcast episode (podcast history file)": 1,  # StreamingHistory_podcast_0.json
        "no track": 2,  # "Unknown Track" and a null trackName
        "duplicate across export files": 2,
    }
    assert report.stage == "read spotify_account"
    assert len(report.sources) == 3
    assert report.stats["plays of 0 ms"] == 2
    skipped = report.stats["files skipped"]
    assert sorted(Path(n).name for n in skipped) == ["Playlist1.json", "Userdata.json"]
    reasons = {Path(n).name: why for n, why in skipped.items()}
    assert reasons["Playlist1.json"] == "Spotify playlists, not listening"
    assert "Spotify account details" in reasons["Userdata.json"]


def test_account_ids_are_normalised_names_and_starts_keep_order():
    events = read_log(ACCOUNT, user="ana").events
    assert events["user_id"].unique().tolist() == ["ana"]
    assert events["track_id"].tolist() == [
        "sigur rós|svefn-g-englar",
        "beyoncé|halo",
        "宇多田ヒカル|first love",
        "sigur rós|svefn-g-englar",  # "  sigur  rós " / "SVEFN-G-ENGLAR" fold to one id
        "beyoncé|halo",
        "yoasobi|夜に駆ける",  # full-width ＹＯＡＳＯＢＩ folds by NFKC
    ]
    # The first play ended 13:02 after 200 s: it started 12:58:40. The next two also end at
    # 13:02 and keep their file order although 13:02 - 40 s would come before 13:02 - 10 s.
    times = events["timestamp"].dt.strftime("%H:%M:%S").tolist()
    assert times[:3] == ["12:58:40", "13:01:50", "13:01:50"]
    assert str(events["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert events["ms_played"].dtype == "Int64"


def test_extended_history_start_is_end_minus_ms_played():
    log = read_log(EXTENDED)
    events = log.events
    first = events.iloc[0]
    assert first["track_id"] == "spotify:track:0aaaaaaaaaaaaaaaaaaaaa"
    assert first["timestamp"] == pd.Timestamp("2023-03-01T10:00:00Z")  # 10:03:20 - 200 s
    assert events["user_id"].unique().tolist() == ["anna_s"]
    assert events["skipped"].tolist()[:3] == [pd.NA, True, False]
    assert events["album"].iloc[0] == "Ágætis byrjun"


def test_extended_history_drops_podcasts_no_track_and_repeats_only_across_files():
    report = read_log(EXTENDED).report
    assert report.dropped == {
        "podcast episode": 1,
        "no track": 1,
        "duplicate across export files": 1,
    }
    # The two equal YOASOBI plays sit in one file: both are kept.
    assert report.rows_kept == 5
    assert report.rows_in == report.rows_kept + report.rows_dropped
    skipped = report.stats["files skipped"]
    assert [Path(s).name for s in skipped] == ["Streaming_History_Video_2023.json"]


def test_zip_of_an_export_folder(tmp_path):
    archive = tmp_path / "my_spotify_data.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in EXTENDED.iterdir():
            zf.write(f, f"Spotify Extended Streaming History/{f.name}")
        zf.writestr("__MACOSX/._junk", b"\0\1")
    log = read_log(archive)
    assert log.report.rows_kept == 5
    assert log.report.sources[0].startswith(str(archive) + "/Spotify Extended")


def test_single_file_with_user_name():
    log = read_log(ACCOUNT / "StreamingHistory_music_1.json", user="bo")
    assert log.report.rows_in == 4
    assert log.report.dropped == {"no track": 1}
    assert log.events["user_id"].unique().tolist() == ["bo"]


def test_empty_export_file_is_an_error_when_named(tmp_path):
    empty = tmp_path / "StreamingHistory0.json"
    empty.write_text("[]")
    with pytest.raises(DataError, match=r"StreamingHistory0\.json: no rows"):
        read_log(empty, format="spotify_account")


def test_negative_ms_played_names_file_column_and_row(tmp_path):
    bad = tmp_path / "StreamingHistory0.json"
    bad.write_text(
        '[{"endTime": "2023-01-05 13:02", "artistName": "A", "trackName": "B", "msPlayed": 5},'
        ' {"endTime": "2023-01-05 13:03", "artistName": "A", "trackName": "B", "msPlayed": -5}]'
    )
    with pytest.raises(DataError) as error:
        read_log(bad)
    assert (error.value.column, error.value.row) == ("msPlayed", 1)
    assert "StreamingHistory0.json" in str(error.value)


def test_bad_end_time_names_the_value(tmp_path):
    bad = tmp_path / "StreamingHistory0.json"
    bad.write_text('[{"endTime": "yesterday", "artistName": "A", "trackName": "B", "msPlayed": 5}]')
    with pytest.raises(DataError, match="column 'endTime', row 0: cannot parse 'yesterday'"):
        read_log(bad)
