"""Every reader accounts for every row: rows in = rows kept + rows dropped."""

import pytest

from segue.data.readers import read_log

from .conftest import FIXTURES


@pytest.mark.parametrize(
    ("relative", "options"),
    [
        ("spotify_account", {"user": "ana"}),
        ("spotify_extended", {}),
        ("listenbrainz/listens_export.json", {}),
        ("listenbrainz/1.listens_sample.json", {}),
        ("lastfm/scrobbles_header.csv", {}),
        ("lastfm/lastfm1k_sample.tsv", {}),
        ("datasets/30music_sample.txt", {}),
        ("datasets/ratings.dat", {}),
        ("datasets/piki_sample.csv", {}),
        ("datasets/item_sequences.txt", {}),
        ("generic/canonical.tsv", {}),
        ("lastfm_layouts", {}),
        ("lastfm_layouts/recenttracks.json", {}),
    ],
)
def test_rows_in_equals_kept_plus_dropped(relative, options):
    log = read_log(FIXTURES / relative, **options)
    report = log.report
    assert report.rows_in == report.rows_kept + sum(report.dropped.values())
    assert report.rows_kept == len(log.events)
    assert report.sources
    events = log.events
    assert list(events.columns[:3]) == ["user_id", "track_id", "timestamp"]
    assert str(events["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert events["user_id"].dtype == "string" and events["track_id"].dtype == "string"
