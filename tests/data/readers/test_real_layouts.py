"""Exports as the real tools write them: more layouts, the bytes around them, and the folders
and archives people keep them in. Every file is detected, not named with ``format=``."""

import io
import json
import shutil
import zipfile

import pandas as pd
import pytest

from segue.data.errors import DataError
from segue.data.readers import read_log

from .conftest import FIXTURES

LAYOUTS = FIXTURES / "lastfm_layouts"
TWO = ["sigur rós|hoppípolla", "beyoncé|halo"]
TIMES = ["2021-01-31T20:15:00+00:00", "2021-01-31T20:20:00+00:00"]
NOW_PLAYING = "now playing (no time yet)"
SAME_PLAY = "same play in two sources"


def _conserved(report):
    return report.rows_in == report.rows_kept + report.rows_dropped


@pytest.mark.parametrize(
    ("name", "format", "tool", "user", "now_playing"),
    [
        ("recenttracks-rj-1612125000.json", "lastfm_json", "ghan.nl JSON", "rj", 1),
        ("maloja_export_2021_02_01_00_00_00.json", "lastfm_json", "Maloja", "user", 0),
        ("openscrobbler.csv", "lastfm_csv", "Open Scrobbler", "user", 0),
        ("lastfm_archive_scrobbles.tsv", "lastfm_csv", "Last.fm data archive", "user", 0),
        ("lastfm_to_csv_header.csv", "lastfm_csv", "lastfm-to-csv", "user", 1),
    ],
)
def test_more_tool_layouts_are_detected_and_read(name, format, tool, user, now_playing):
    log = read_log(LAYOUTS / name)
    assert log.report.stage == f"read {format}"
    assert _conserved(log.report)
    assert log.report.dropped.get(NOW_PLAYING, 0) == now_playing
    assert log.events["track_id"].tolist() == TWO
    assert [t.isoformat() for t in log.events["timestamp"]] == TIMES
    assert log.events["user_id"].unique().tolist() == [user]
    assert tool in next(iter(log.report.stats["layouts"].values()))


def test_last_fm_archive_reads_the_corrected_names_and_unix_times():
    log = read_log(LAYOUTS / "lastfm_archive_scrobbles.tsv")
    used = next(iter(log.report.stats["layouts"].values()))
    assert "artist='artist name'" in used and "time='unixtime'" in used
    assert log.events["track_mbid"].iloc[0] == "b0000000-0000-0000-0000-000000000001"


TABLES = sorted(p.name for p in LAYOUTS.iterdir() if p.suffix in (".csv", ".tsv"))


@pytest.mark.parametrize("name", TABLES)
def test_bom_crlf_and_trailing_blank_lines_change_nothing(tmp_path, name):
    """Windows tools and spreadsheets save UTF-8 with a byte-order mark and CRLF endings."""
    text = (LAYOUTS / name).read_text(encoding="utf-8").lstrip("\ufeff")
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + (text.replace("\n", "\r\n") + "\r\n\r\n").encode())
    original, saved = read_log(LAYOUTS / name), read_log(path)
    assert saved.events.equals(original.events)
    assert saved.report.rows_in == original.report.rows_in
    assert saved.report.dropped == original.report.dropped


def test_windows_1252_names_with_accents_read_as_utf8(tmp_path):
    path = tmp_path / "lastexport.txt"
    path.write_bytes("1612124100\tHoppípolla\tSigur Rós\tTakk...\t\t\t\n".encode("cp1252"))
    log = read_log(path)
    assert log.events["track_id"].tolist() == [TWO[0]]
    assert "cp1252" in next(iter(log.report.stats["layouts"].values()))


def test_emoji_in_names_survive(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text("artist,track,uts\n🐝 Bee,Buzz 🎵,1612124100\n", encoding="utf-8")
    assert read_log(path).events["track_id"].tolist() == ["🐝 bee|buzz 🎵"]


EXTENDED = [
    {"ts": "2021-01-31T20:19:30Z", "username": "rj_sp", "platform": "Android", "ms_played": 255000,
     "conn_country": "SE", "master_metadata_track_name": "Hoppípolla",
     "master_metadata_album_artist_name": "Sigur Rós",
     "master_metadata_album_album_name": "Takk...",
     "spotify_track_uri": "spotify:track:1", "episode_name": None, "episode_show_name": None,
     "spotify_episode_uri": None, "skipped": None, "offline": False, "incognito_mode": False},
    {"ts": "2021-01-31T20:23:20Z", "username": "rj_sp", "platform": "Android", "ms_played": 200000,
     "conn_country": "SE", "master_metadata_track_name": "Halo",
     "master_metadata_album_artist_name": "Beyoncé",
     "master_metadata_album_album_name": "I Am... Sasha Fierce",
     "spotify_track_uri": "spotify:track:2", "episode_name": None, "episode_show_name": None,
     "spotify_episode_uri": None, "skipped": True, "offline": False, "incognito_mode": False},
    {"ts": "2021-01-31T21:00:00Z", "username": "rj_sp", "platform": "Android", "ms_played": 60000,
     "conn_country": "SE", "master_metadata_track_name": None,
     "master_metadata_album_artist_name": None, "master_metadata_album_album_name": None,
     "spotify_track_uri": None, "episode_name": "Ep. 1", "episode_show_name": "The Daily",
     "spotify_episode_uri": "spotify:episode:1", "skipped": None, "offline": False,
     "incognito_mode": False},
]  # fmt: skip
ACCOUNT = [
    {"endTime": "2021-01-31 20:19", "artistName": "Sigur Rós", "trackName": "Hoppípolla",
     "msPlayed": 255000},
    {"endTime": "2021-01-31 20:23", "artistName": "Beyoncé", "trackName": "Halo",
     "msPlayed": 200000},
]  # fmt: skip


@pytest.mark.parametrize(
    "save",
    [
        lambda df, p: df.to_csv(p),  # pandas' default: an unnamed index column first
        lambda df, p: df.to_csv(p, sep=";", index=False, encoding="utf-8-sig"),  # Excel (EU)
        lambda df, p: df.to_csv(p, index=False, lineterminator="\r\n"),
    ],
    ids=["pandas-index", "semicolon-bom", "crlf"],
)
def test_extended_history_csv_conversions_read_like_the_json(tmp_path, save):
    (tmp_path / "Streaming_History_Audio_2021.json").write_text(json.dumps(EXTENDED))
    save(pd.DataFrame(EXTENDED), tmp_path / "Streaming_History_Audio_2021.csv")
    from_json = read_log(tmp_path / "Streaming_History_Audio_2021.json")
    from_csv = read_log(tmp_path / "Streaming_History_Audio_2021.csv")
    assert from_csv.report.stage == "read spotify_extended"
    assert from_csv.report.dropped == from_json.report.dropped == {"podcast episode": 1}
    cols = ["user_id", "track_id", "timestamp", "ms_played", "skipped"]
    assert from_csv.events[cols].astype(str).equals(from_json.events[cols].astype(str))


def _zip(path, members):
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _account_zip(path, username):
    _zip(
        path,
        {
            "Spotify Account Data/StreamingHistory_music_0.json": json.dumps(ACCOUNT),
            "Spotify Account Data/Userdata.json": json.dumps({"username": username}),
            "Spotify Account Data/Read Me First.pdf": b"%PDF-1.4",
        },
    )


def _extended_zip(path):
    _zip(
        path,
        {
            "Spotify Extended Streaming History/Streaming_History_Audio_2021.json": json.dumps(
                EXTENDED
            ),
            "Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf": b"%PDF",
        },
    )


def test_one_persons_spotify_downloads_and_lastfm_are_one_user(tmp_path):
    """Spotify names both downloads my_spotify_data.zip: side by side they are one person's."""
    me = tmp_path / "me"
    _account_zip(me / "my_spotify_data.zip", "rj_sp")
    _extended_zip(me / "my_spotify_data (1).zip")
    (me / "lastfm").mkdir()
    shutil.copy(LAYOUTS / "ghan.csv", me / "lastfm" / "scrobbles.csv")  # 20:15 and 20:20
    log = read_log(me)
    events, report = log.events, log.report
    assert events["user_id"].unique().tolist() == ["rj_sp"]
    assert events["track_id"].tolist() == TWO  # one id per song across the three sources
    assert events["source"].tolist() == ["spotify_extended"] * 2
    assert report.dropped == {
        "podcast episode": 1,
        f"{SAME_PLAY} (spotify_account copy dropped)": 2,
        f"{SAME_PLAY} (lastfm_csv copy dropped)": 2,
    }
    assert _conserved(report)
    skipped = report.stats["files skipped"]
    assert any(n.endswith("Read Me First.pdf") for n in skipped)
    assert any("username is the user id" in why for why in skipped.values())


def test_unzipped_spotify_folders_beside_each_other_are_one_person(tmp_path):
    for name in ("Spotify Account Data", "Spotify Extended Streaming History"):
        (tmp_path / name).mkdir()
    (tmp_path / "Spotify Account Data" / "StreamingHistory_music_0.json").write_text(
        json.dumps(ACCOUNT)
    )
    path = tmp_path / "Spotify Extended Streaming History" / "Streaming_History_Audio_2021.json"
    path.write_text(json.dumps(EXTENDED))
    log = read_log(tmp_path)
    assert log.events["user_id"].unique().tolist() == ["rj_sp"]
    assert len(log.events) == 2


def test_account_exports_named_alike_are_kept_apart_by_their_usernames(tmp_path):
    for i, username in enumerate(["ana_sp", "bo_sp", "cy_sp"]):
        _account_zip(tmp_path / f"my_spotify_data{f' ({i})' if i else ''}.zip", username)
    log = read_log(tmp_path)
    assert sorted(log.events["user_id"].unique()) == ["ana_sp", "bo_sp", "cy_sp"]
    assert log.report.rows_kept == 6 and _conserved(log.report)


def test_people_folders_stay_apart_beside_a_stray_note(tmp_path):
    for person in ("ana", "bo"):
        (tmp_path / person).mkdir()
        (tmp_path / person / "StreamingHistory0.json").write_text(json.dumps(ACCOUNT))
    (tmp_path / "notes.txt").write_text("exports of my friends\n")
    log = read_log(tmp_path)
    assert sorted(log.events["user_id"].unique()) == ["ana", "bo"]
    assert log.report.rows_kept == 4  # neither person's plays is a "duplicate" of the other's
    assert "notes.txt" in " ".join(log.report.stats["files skipped"])


def test_multi_person_folder_of_zips_folders_and_mixed_formats(tmp_path):
    _account_zip(tmp_path / "ana" / "my_spotify_data.zip", "ana_sp")
    _extended_zip(tmp_path / "ana" / "my_spotify_data (1).zip")  # username rj_sp: ana's anyway
    shutil.copy(LAYOUTS / "lastfmstats.csv", tmp_path / "ana" / "lastfmstats.csv")
    (tmp_path / "bo").mkdir()
    shutil.copy(LAYOUTS / "recenttracks-rj-1612125000.json", tmp_path / "bo")
    _zip(tmp_path / "cy.zip", {"MyData/StreamingHistory0.json": json.dumps(ACCOUNT)})
    log = read_log(tmp_path)
    assert sorted(log.events["user_id"].unique()) == ["ana", "bo", "cy"]
    per_user = log.events.groupby("user_id")["track_id"].apply(list).to_dict()
    assert per_user == {"ana": TWO, "bo": TWO, "cy": TWO}
    assert _conserved(log.report)


def test_a_zip_inside_a_zip_is_read(tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("Spotify Account Data/StreamingHistory_music_0.json", json.dumps(ACCOUNT))
    _zip(tmp_path / "ana.zip", {"my_spotify_data.zip": inner.getvalue()})
    log = read_log(tmp_path / "ana.zip")
    assert log.events["track_id"].tolist() == TWO
    assert "ana.zip/my_spotify_data.zip/Spotify Account Data" in log.report.sources[0]


def test_a_zip_three_deep_is_named_not_opened(tmp_path):
    deepest = io.BytesIO()
    with zipfile.ZipFile(deepest, "w") as archive:
        archive.writestr("StreamingHistory0.json", json.dumps(ACCOUNT))
    middle = io.BytesIO()
    with zipfile.ZipFile(middle, "w") as archive:
        archive.writestr("deep.zip", deepest.getvalue())
    _zip(tmp_path / "outer.zip", {"middle.zip": middle.getvalue(), "plays.csv": "x,y\n1,2\n"})
    with pytest.raises(DataError, match="no listening log found") as error:
        read_log(tmp_path / "outer.zip")
    assert "inside a .zip inside a .zip" in str(error.value)


@pytest.mark.parametrize("userdata", ["not json", '{"username": null}', "[1, 2]", '{"x": 1}'])
def test_a_broken_userdata_file_names_nobody_and_reads_the_rest(tmp_path, userdata):
    (tmp_path / "StreamingHistory_music_0.json").write_text(json.dumps(ACCOUNT))
    (tmp_path / "Userdata.json").write_text(userdata)
    log = read_log(tmp_path)
    assert log.events["user_id"].unique().tolist() == ["user"]
    assert log.report.rows_kept == 2


def test_extended_history_half_json_half_csv_with_account_data_and_lastfm(tmp_path):
    """One person: 2020 as JSON, 2021 only as a CSV conversion, 2021 also as the JSON it was
    made from (kept by mistake), account data with a BOM, and Last.fm scrobbles."""
    earlier = [dict(EXTENDED[0], ts="2020-06-01T10:04:15Z")]
    (tmp_path / "Streaming_History_Audio_2020.json").write_text(json.dumps(earlier))
    pd.DataFrame(EXTENDED).to_csv(tmp_path / "Streaming_History_Audio_2021.csv", index=False)
    (tmp_path / "Streaming_History_Audio_2021.json").write_text(json.dumps(EXTENDED))
    (tmp_path / "StreamingHistory_music_0.json").write_bytes(
        b"\xef\xbb\xbf" + json.dumps(ACCOUNT, ensure_ascii=False).encode()
    )
    shutil.copy(LAYOUTS / "lastfm_to_csv_header.csv", tmp_path / "scrobbles.csv")
    log = read_log(tmp_path)
    events, report = log.events, log.report
    assert events["user_id"].unique().tolist() == ["rj_sp"]
    assert events["track_id"].tolist() == [TWO[0], *TWO]  # 2020, then the two 2021 plays
    assert set(events["source"]) == {"spotify_extended"}
    assert report.dropped == {
        "podcast episode": 2,  # in the 2021 JSON and in its CSV conversion
        "duplicate across export files": 2,
        f"{SAME_PLAY} (spotify_account copy dropped)": 2,
        f"{SAME_PLAY} (lastfm_csv copy dropped)": 2,
        NOW_PLAYING: 1,
    }
    assert _conserved(report)


def test_format_on_a_whole_account_download_skips_its_other_files(tmp_path):
    _account_zip(tmp_path / "my_spotify_data.zip", "rj_sp")
    with zipfile.ZipFile(tmp_path / "my_spotify_data.zip", "a") as archive:
        archive.writestr("Spotify Account Data/Follow.json", '{"followerCount": 3}')
        archive.writestr("Spotify Account Data/Playlist1.json", '{"playlists": []}')
    log = read_log(tmp_path / "my_spotify_data.zip", format="spotify_account")
    assert log.events["track_id"].tolist() == TWO
    skipped = {n.rsplit("/", 1)[1]: why for n, why in log.report.stats["files skipped"].items()}
    assert "not a spotify_account file (JSON records" in skipped["Follow.json"]
    assert skipped["Playlist1.json"] == "Spotify playlists, not listening"


def test_format_in_a_folder_still_reads_a_damaged_file_to_name_the_fault(tmp_path):
    (tmp_path / "StreamingHistory_music_0.json").write_text(json.dumps(ACCOUNT))
    (tmp_path / "StreamingHistory_music_1.json").write_text('[{"endTime": "2021-01-31 2')
    assert len(read_log(tmp_path).events) == 2  # detected: the damaged file is skipped, named
    with pytest.raises(DataError, match=r"StreamingHistory_music_1\.json.*not valid JSON"):
        read_log(tmp_path, format="spotify_account")


def test_a_person_whose_folder_holds_nothing_readable_still_names_the_others(tmp_path):
    (tmp_path / "ana").mkdir()
    (tmp_path / "ana" / "StreamingHistory0.json").write_text(json.dumps(ACCOUNT))
    (tmp_path / "bo").mkdir()
    (tmp_path / "bo" / "README.md").write_text("bo's export is still on its way\n")
    log = read_log(tmp_path)
    assert log.events["user_id"].unique().tolist() == ["ana"]
