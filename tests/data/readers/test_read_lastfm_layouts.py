"""Every Last.fm export layout we know reads, detected by header or content, rows conserved."""

import pytest

from segue.data.errors import DataError
from segue.data.readers import read_log

from .conftest import FIXTURES

LAYOUTS = FIXTURES / "lastfm_layouts"
TWO = ["sigur rós|hoppípolla", "beyoncé|halo"]
TIMES = ["2021-01-31T20:15:00+00:00", "2021-01-31T20:20:00+00:00"]


@pytest.mark.parametrize(
    ("name", "format", "tool", "user", "now_playing", "extras"),
    [
        ("lastfm_to_csv.csv", "lastfm_csv", "lastfm-to-csv", "user", 1, []),
        ("lastfm_to_csv_uts.csv", "lastfm_csv", "epoch times", "user", 1, []),
        ("lastfmstats.csv", "lastfm_csv", "lastfmstats.com", "rj", 0, ["album_mbid"]),
        ("ghan.csv", "lastfm_csv", "ghan.nl", "user", 0, ["track_mbid", "artist_mbid"]),
        ("lastexport.tsv", "lastfm_csv", "lastexport.py", "user", 0, ["track_mbid"]),
        ("backup_cli.csv", "lastfm_csv", "lastfm-backup-cli", "user", 0, []),
        ("odd_header.csv", "lastfm_csv", "with a header", "user", 0, []),
        ("recenttracks.json", "lastfm_json", "recenttracks", "rj", 1, ["track_mbid"]),
        ("lastfmstats.json", "lastfm_json", "lastfmstats.com", "rj", 0, []),
        (".scrobbler.log", "scrobbler_log", ".scrobbler.log", "user", 0, ["track_mbid"]),
    ],
)
def test_layout_is_detected_and_read(name, format, tool, user, now_playing, extras):
    log = read_log(LAYOUTS / name)
    report = log.report
    assert report.stage == f"read {format}"
    assert report.rows_in == report.rows_kept + report.rows_dropped
    assert report.dropped.get("now playing (no time yet)", 0) == now_playing
    events = log.events
    if name == "lastfm_to_csv.csv":  # three rows: the now-playing one and two plays
        assert events["track_id"].iloc[0] == TWO[0]
    else:
        assert events["track_id"].tolist() == TWO
        assert [t.isoformat() for t in events["timestamp"]] == TIMES
    assert events["user_id"].unique().tolist() == [user]
    assert all(col in events for col in extras)
    assert tool in next(iter(report.stats["layouts"].values()))
    forced = read_log(LAYOUTS / name, format=format)  # format= gives the same rows
    assert forced.events.equals(events)


def test_mbids_are_kept_beside_the_name_key():
    events = read_log(LAYOUTS / "ghan.csv").events
    assert events["track_mbid"].fillna("").tolist() == ["b0000000-0000-0000-0000-000000000001", ""]
    assert events["track_id"].tolist() == TWO  # one key across sources, MBID or not


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16"])
def test_latin1_and_utf16_files_read_as_the_utf8_original(tmp_path, encoding):
    text = (LAYOUTS / "odd_header.csv").read_text(encoding="utf-8")
    path = tmp_path / "export.csv"
    path.write_bytes(text.encode(encoding))
    log = read_log(path)
    assert log.events["track_id"].tolist() == TWO
    assert encoding.replace("-", "") in next(iter(log.report.stats["layouts"].values())).replace(
        "-", ""
    )


def test_timezone_applies_to_text_times_without_a_zone(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text("artist,track,date\nSigur Rós,Hoppípolla,2021-07-01 12:00\n")
    utc = read_log(path).events["timestamp"].iloc[0]
    berlin = read_log(path, timezone="Europe/Berlin").events["timestamp"].iloc[0]
    assert utc.hour == 12 and berlin.hour == 10  # CEST is UTC+2


def test_bad_timezone_is_refused_before_reading():
    with pytest.raises(ValueError, match="timezone='Mars/Olympus'"):
        read_log(LAYOUTS / "ghan.csv", timezone="Mars/Olympus")


def test_implausible_times_are_dropped_by_reason(tmp_path):
    path = tmp_path / "scrobbles.csv"
    path.write_text(
        "uts,artist,track\n0,A,x\n1,A,x\n946684800,A,y\n1612124100,A,z\n4102444700,A,w\n"
    )
    report = read_log(path).report
    assert report.rows_kept == 1
    assert report.dropped == {
        "time at 1970-01-01 (a placeholder, not a play)": 2,
        "time before the service existed (2002-01-01)": 1,
        "time in the future": 1,
    }


def test_unrecognised_header_says_what_was_found_and_what_is_missing(tmp_path):
    path = tmp_path / "library.csv"
    path.write_text("Artist,Title,Plays\nSigur Rós,Hoppípolla,3\n")
    with pytest.raises(DataError) as error:
        read_log(path)
    message = str(error.value)
    assert "library.csv" in message
    assert "artist='Artist'" in message and "track='Title'" in message
    assert "no column for time" in message


def test_unrecognised_table_in_a_folder_is_skipped_with_the_reason(tmp_path):
    (tmp_path / "library.csv").write_text("Artist,Title,Plays\nSigur Rós,Hoppípolla,3\n")
    (tmp_path / "scrobbles.csv").write_bytes((LAYOUTS / "ghan.csv").read_bytes())
    log = read_log(tmp_path)
    skipped = log.report.stats["files skipped"]
    assert list(skipped) == [str(tmp_path / "library.csv")]
    assert "no column for time" in skipped[str(tmp_path / "library.csv")]


def test_header_with_separate_day_and_clock_columns_joins_them(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text("Date,Time,Artist,Title\n2021-01-31,20:15:00,Sigur Rós,Hoppípolla\n")
    log = read_log(path)
    assert log.events["timestamp"].iloc[0].isoformat() == TIMES[0]  # not midnight
    assert "time='Date Time'" in next(iter(log.report.stats["layouts"].values()))


def test_scrobbler_log_keeps_skips_and_reads_local_clocks_in_the_zone_given():
    log = read_log(LAYOUTS / ".scrobbler.log")  # #TZ/UNKNOWN: the player's local clock
    assert log.events["skipped"].tolist() == [False, True]  # rating L, then S
    assert log.events["duration_ms"].tolist() == [268_000, 261_000]
    berlin = read_log(LAYOUTS / ".scrobbler.log", timezone="Europe/Berlin").events
    assert [t.isoformat() for t in berlin["timestamp"]] == [
        "2021-01-31T19:15:00+00:00",  # 20:15 on a clock in Berlin (UTC+1 in winter)
        "2021-01-31T19:20:00+00:00",
    ]


def test_script_header_with_ids_and_local_times(tmp_path):
    # Scripts that write datetime.fromtimestamp(uts): local times without a zone.
    path = tmp_path / "scrobbles.csv"
    path.write_text(
        "track,album,artist,time,track id,album id,artist id\n"
        "Hoppípolla,Takk...,Sigur Rós,2021-01-31 21:15:00,b0000000-0000-0000-0000-000000000001,,\n"
    )
    log = read_log(path, timezone="Europe/Berlin")
    assert log.events["timestamp"].iloc[0].isoformat() == TIMES[0]
    assert log.events["track_mbid"].tolist() == ["b0000000-0000-0000-0000-000000000001"]
    assert "track_mbid='track id'" in next(iter(log.report.stats["layouts"].values()))
