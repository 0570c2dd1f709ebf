"""Several people's exports read at once keep distinct user ids."""

import shutil

import pytest

from segue.data.errors import DataError
from segue.data.readers import read_log

from .conftest import FIXTURES

ACCOUNT = FIXTURES / "spotify_account"
NOHEADER = FIXTURES / "lastfm" / "scrobbles_noheader.csv"


def test_per_person_subfolders(tmp_path):
    for person in ("ana", "bo"):
        shutil.copytree(ACCOUNT, tmp_path / person / "Spotify Account Data")
    log = read_log(tmp_path)
    assert log.events["user_id"].unique().tolist() == ["ana", "bo"]
    # Same plays for two people are not duplicates of each other.
    assert log.report.rows_kept == 12
    assert log.report.dropped["duplicate across export files"] == 4


def test_list_of_sources_with_list_of_users():
    log = read_log([NOHEADER, FIXTURES / "lastfm" / "scrobbles_header.csv"], user=["rj", "kim"])
    assert log.events.groupby("user_id").size().to_dict() == {"kim": 4, "rj": 3}


def test_one_user_for_several_files_of_one_person():
    files = sorted(ACCOUNT.glob("StreamingHistory_music_*.json"))
    log = read_log(files, user="ana")
    assert log.report.dropped["duplicate across export files"] == 2


def test_several_unnamed_sources_are_an_error():
    with pytest.raises(DataError, match="several sources name no user"):
        read_log([NOHEADER, NOHEADER])


def test_user_count_must_match_sources():
    with pytest.raises(ValueError, match="2 names for 1 sources"):
        read_log(NOHEADER, user=["a", "b"])


def test_naming_one_user_for_a_multi_user_file_is_an_error():
    with pytest.raises(DataError, match="holds 2 users"):
        read_log(FIXTURES / "datasets" / "u.data", user="ana")


def test_single_unnamed_export_gets_the_default_user():
    assert read_log(NOHEADER).events["user_id"].unique().tolist() == ["user"]
