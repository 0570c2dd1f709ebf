from segue.data.readers import read_log

from .conftest import FIXTURES

LB = FIXTURES / "listenbrainz"


def test_dump_lines():
    log = read_log(LB / "1.listens_sample.json")
    assert log.report.stage == "read listenbrainz"
    assert log.report.rows_in == log.report.rows_kept == 100
    assert log.report.stats["users"] == 98
    spotify = log.events["track_id"].str.startswith("spotify:track:")
    assert spotify.sum() > 0
    assert log.events["timestamp"].min().isoformat() == "2024-01-01T00:00:00+00:00"


def test_json_array_export_prefers_mbid_then_spotify_then_names():
    log = read_log(LB / "listens_export.json")
    assert log.events["track_id"].tolist() == [
        "11111111-1111-1111-1111-111111111111",
        "spotify:track:2sSpotifyId000000000000",
        "宇多田ヒカル|first love",
    ]
    assert log.events["duration_ms"].tolist()[::2] == [268000, 255000]  # 255 s -> ms
    assert log.report.dropped == {"no track": 1}
    assert log.report.rows_in == 4
