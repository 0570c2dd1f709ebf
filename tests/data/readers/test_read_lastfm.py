from segue.data.readers import read_log

from .conftest import FIXTURES, shared

LASTFM = FIXTURES / "lastfm"


def test_csv_with_header_keeps_band_names_that_look_missing():
    events = read_log(LASTFM / "scrobbles_header.csv").events
    assert events["track_id"].tolist() == [
        "sigur rós|hoppípolla",
        "crosby, stills & nash|suite: judy blue eyes",
        "na|nan",  # the band "NA", album "Null", track "NaN" are names
        "宇多田ヒカル|first love",
    ]
    assert events["album"].isna().tolist() == [False, False, False, True]
    assert events["timestamp"].iloc[0].isoformat() == "2021-01-31T20:15:00+00:00"


def test_csv_without_header():
    log = read_log(LASTFM / "scrobbles_noheader.csv", user="rj")
    assert log.report.stage == "read lastfm_csv"
    assert log.report.rows_in == log.report.rows_kept == 3
    assert log.events["track_id"].tolist() == ["beyoncé|halo", "beyoncé|halo", "yoasobi|夜に駆ける"]


def test_1k_layout_uses_mbid_else_names_and_sorts_by_time():
    events = read_log(LASTFM / "lastfm1k_sample.tsv").events
    assert events["user_id"].tolist() == ["u1", "u1", "u2"]
    assert events["track_id"].tolist() == [
        "b0000000-0000-0000-0000-000000000002",
        "坂本龍一|mc2 (live)",
        "null|na",
    ]
    assert events["track_name"].iloc[0] == 'Composition "0919"'  # stray quotes survive


def test_real_lastfm_1k_head():
    path = shared("lastfm-1k-head5000/userid-timestamp-artid-artname-traid-traname.head5000.tsv")
    log = read_log(path)
    assert log.report.rows_in == log.report.rows_kept == 5000
    assert log.report.stats["users"] == 2
    assert log.events["timestamp"].is_monotonic_increasing is False  # sorted per user, not overall
    assert (
        log.events.groupby("user_id")["timestamp"].apply(lambda t: t.is_monotonic_increasing).all()
    )
