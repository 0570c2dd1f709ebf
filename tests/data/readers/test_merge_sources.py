"""One person's sources merge into one history; several people stay apart."""

import json
import shutil

import pytest

import segue
from segue.data.errors import DataError
from segue.data.readers import read_log

from .conftest import FIXTURES

LAYOUTS = FIXTURES / "lastfm_layouts"
SAME_PLAY = "same play in two sources"


def _person(folder):
    """Account data, extended history and a Last.fm table of one person; 2 plays in all three."""
    folder.mkdir(parents=True, exist_ok=True)
    account = [
        {"endTime": "2021-01-31 20:19", "artistName": "Sigur Rós", "trackName": "Hoppípolla",
         "msPlayed": 240000},
        {"endTime": "2021-01-31 20:23", "artistName": "Beyoncé", "trackName": "Halo",
         "msPlayed": 200000},
        {"endTime": "2021-02-01 09:00", "artistName": "The Daily", "trackName": "Episode 1",
         "msPlayed": 1500000},
    ]  # fmt: skip
    (folder / "StreamingHistory0.json").write_text(json.dumps(account))
    extended = [
        {"ts": "2021-01-31T20:19:10Z", "username": "rj_sp", "ms_played": 240000,
         "master_metadata_track_name": "Hoppípolla",
         "master_metadata_album_artist_name": "Sigur Rós",
         "spotify_track_uri": "spotify:track:1"},
        {"ts": "2021-01-31T20:23:30Z", "username": "rj_sp", "ms_played": 200000,
         "master_metadata_track_name": "Halo", "master_metadata_album_artist_name": "Beyoncé",
         "spotify_track_uri": "spotify:track:2"},
    ]  # fmt: skip
    (folder / "Streaming_History_Audio_2021.json").write_text(json.dumps(extended))
    shutil.copy(LAYOUTS / "ghan.csv", folder / "scrobbles.csv")  # 20:15 and 20:20


def test_one_person_three_sources_one_id_per_song_and_each_play_once(tmp_path):
    _person(tmp_path / "me")
    log = read_log(tmp_path / "me", podcast_shows=["The Daily"])
    events, report = log.events, log.report
    assert report.stage == "read spotify_extended + spotify_account + lastfm_csv"
    assert events["user_id"].unique().tolist() == ["rj_sp"]  # account + Last.fm take the name
    assert events["track_id"].tolist() == ["sigur rós|hoppípolla", "beyoncé|halo"]
    assert events["source"].tolist() == ["spotify_extended", "spotify_extended"]
    assert events["source_track_id"].tolist() == ["spotify:track:1", "spotify:track:2"]
    assert report.dropped == {
        "podcast episode (show named in podcast_shows)": 1,
        f"{SAME_PLAY} (spotify_account copy dropped)": 2,
        f"{SAME_PLAY} (lastfm_csv copy dropped)": 2,
    }
    assert report.rows_in == 7 == report.rows_kept + report.rows_dropped


def test_same_song_twice_in_a_row_is_two_plays(tmp_path):
    path = tmp_path / "me"
    _person(path)
    (path / "scrobbles.csv").write_text(
        "uts,artist,track\n1612124100,Sigur Rós,Hoppípolla\n1612124340,Sigur Rós,Hoppípolla\n"
    )
    log = read_log(path, same_play_window="3min")
    plays = log.events[log.events["track_id"] == "sigur rós|hoppípolla"]
    assert len(plays) == 2  # 20:15 matches the Spotify play; 20:19 is a second play


def test_track_ids_source_keeps_each_formats_ids(tmp_path):
    _person(tmp_path / "me")
    events = read_log(tmp_path / "me", track_ids="source", same_play_window=None).events
    assert "spotify:track:1" in set(events["track_id"])
    assert "sigur rós|hoppípolla" in set(events["track_key"])


def test_folder_of_people_with_mixed_export_kinds(tmp_path):
    _person(tmp_path / "ana")
    (tmp_path / "bo").mkdir()
    shutil.copy(LAYOUTS / "lastfm_to_csv.csv", tmp_path / "bo" / "lastfm.csv")
    shutil.copytree(FIXTURES / "spotify_account", tmp_path / "cy")
    log = read_log(tmp_path)
    # One id per person folder, whatever usernames the exports inside carry.
    assert sorted(log.events["user_id"].unique()) == ["ana", "bo", "cy"]
    report = log.report
    assert report.rows_in == report.rows_kept + report.rows_dropped
    assert "cy/Userdata.json" in " ".join(report.stats["files skipped"])


def test_one_user_for_several_people_is_refused(tmp_path):
    _person(tmp_path / "ana")
    _person(tmp_path / "bo")
    with pytest.raises(DataError, match="names one person, but the source holds 2 people"):
        read_log(tmp_path, user="me")


def test_format_inside_a_folder_reads_only_that_format_and_says_why(tmp_path):
    _person(tmp_path)
    log = read_log(tmp_path, format="lastfm_csv")
    assert log.report.stage == "read lastfm_csv"
    skipped = log.report.stats["files skipped"]
    assert "reads as spotify_account" in skipped[str(tmp_path / "StreamingHistory0.json")]


def test_extended_history_as_csv_conversion(tmp_path):
    rows = json.loads((FIXTURES / "spotify_extended" / "Streaming_History_Audio_2023_1.json")
                      .read_text())  # fmt: skip
    fields = list(rows[0])
    lines = [",".join(fields)] + [
        ",".join("" if r.get(f) is None else f'"{r[f]}"' for f in fields) for r in rows
    ]
    (tmp_path / "Streaming_History_Audio_2023_1.csv").write_text("\n".join(lines) + "\n")
    from_csv = read_log(tmp_path / "Streaming_History_Audio_2023_1.csv")
    from_json = read_log(FIXTURES / "spotify_extended" / "Streaming_History_Audio_2023_1.json")
    assert from_csv.report.stage == "read spotify_extended"
    cols = ["user_id", "track_id", "timestamp", "ms_played"]
    assert from_csv.events[cols].equals(from_json.events[cols])


def test_concat_logs_keeps_people_apart_and_merges_reports(tmp_path):
    a = read_log(LAYOUTS / "ghan.csv")
    b = read_log(LAYOUTS / "backup_cli.csv")
    with pytest.raises(DataError, match="both name their user 'user'"):
        segue.concat_logs([a, b])
    apart = segue.concat_logs([a, b], users=["ana", "bo"])
    assert apart.report.rows_kept == 4 and apart.report.stats["users"] == 2
    same = segue.concat_logs([a, b], user="ana")  # the same two plays in both: counted once
    assert same.report.rows_kept == 2
    assert same.report.dropped == {f"{SAME_PLAY} (log 1 copy dropped)": 2}
    assert same.report.rows_in == 4


def test_shows_saved_in_the_library_drop_podcasts_of_old_exports(tmp_path):
    _person(tmp_path)
    (tmp_path / "YourLibrary.json").write_text(
        json.dumps({"tracks": [], "shows": [{"name": "The Daily", "publisher": "NYT"}]})
    )
    report = read_log(tmp_path / "StreamingHistory0.json").report  # named file: no library
    assert "podcast episode (show saved in YourLibrary.json)" not in report.dropped
    report = read_log(tmp_path, same_play_window=None).report
    assert report.dropped["podcast episode (show saved in YourLibrary.json)"] == 1
    assert "YourLibrary.json" in " ".join(report.stats["files skipped"])


def test_one_show_name_is_one_show_not_its_letters(tmp_path):
    _person(tmp_path)
    log = read_log(tmp_path / "StreamingHistory0.json", podcast_shows="The Daily")
    assert log.report.dropped == {"podcast episode (show named in podcast_shows)": 1}


def test_account_data_as_csv_conversion(tmp_path):
    (tmp_path / "StreamingHistory0.csv").write_text(
        "endTime,artistName,trackName,msPlayed\n"
        "2021-01-31 20:19,Sigur Rós,Hoppípolla,240000\n"
        "2021-01-31 20:23,Beyoncé,Halo,200000\n"
    )
    log = read_log(tmp_path / "StreamingHistory0.csv")
    assert log.report.stage == "read spotify_account"
    assert log.events["track_id"].tolist() == ["sigur rós|hoppípolla", "beyoncé|halo"]
    assert log.events["timestamp"].iloc[0].isoformat() == "2021-01-31T20:15:00+00:00"


def test_concat_of_merged_logs_keeps_source_ids(tmp_path):
    _person(tmp_path / "me")
    mine = read_log(tmp_path / "me", podcast_shows=["The Daily"])
    theirs = read_log(LAYOUTS / "lastfmstats.csv")  # user "rj", named by the file
    both = segue.concat_logs([mine, theirs])
    assert sorted(both.events["user_id"].unique()) == ["rj", "rj_sp"]
    spotify = both.events[both.events["user_id"] == "rj_sp"]
    assert spotify["source_track_id"].tolist() == ["spotify:track:1", "spotify:track:2"]
    assert both.report.rows_in == mine.report.rows_in + theirs.report.rows_in
    assert both.report.rows_kept == len(both.events) == 4


def test_concat_refuses_logs_past_the_read_stage_and_bad_windows():
    log = read_log(LAYOUTS / "ghan.csv")
    with pytest.raises(ValueError, match="same_play_window needs a unit"):
        segue.concat_logs([log], same_play_window=30)
    with pytest.raises(TypeError, match="list of EventLog"):
        segue.concat_logs(log)


def test_two_lastfm_tools_of_one_account_count_each_play_once(tmp_path):
    shutil.copy(LAYOUTS / "lastfm_to_csv.csv", tmp_path / "a.csv")  # minutes: 20:15, 20:19
    (tmp_path / "b.csv").write_text(  # seconds: the same 20:15 play, and one more
        "uts,artist,track\n1612124130,Sigur Rós,Hoppípolla\n1612125000,Beyoncé,Halo\n"
    )
    log = read_log(tmp_path)
    assert log.report.stage == "read lastfm_csv"
    assert log.events["track_id"].tolist() == [
        "sigur rós|hoppípolla",
        "crosby, stills & nash|suite: judy blue eyes",
        "beyoncé|halo",
    ]
    reason = f"{SAME_PLAY} (lastfm_csv from a scrobble table with a header copy dropped)"
    assert log.report.dropped == {"now playing (no time yet)": 1, reason: 1}


def test_hidden_files_and_archive_litter_are_named_in_the_report(tmp_path):
    _person(tmp_path)
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (tmp_path / "__MACOSX").mkdir()
    (tmp_path / "__MACOSX" / "._scrobbles.csv").write_bytes(b"\x00\x05\x16\x07")
    skipped = read_log(tmp_path).report.stats["files skipped"]
    assert skipped[str(tmp_path / ".DS_Store")] == "hidden file or macOS archive litter"
    assert str(tmp_path / "__MACOSX" / "._scrobbles.csv") in skipped
