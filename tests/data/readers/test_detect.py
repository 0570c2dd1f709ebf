import pytest

from segue.data.readers.detect import detect
from segue.data.readers.sources import expand

from .conftest import FIXTURES


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("spotify_account/StreamingHistory_music_0.json", "spotify_account"),
        ("spotify_account/StreamingHistory_podcast_0.json", "spotify_account"),
        ("spotify_account/Userdata.json", None),
        ("spotify_extended/Streaming_History_Audio_2023_0.json", "spotify_extended"),
        ("spotify_extended/Streaming_History_Video_2023.json", None),
        ("listenbrainz/1.listens_sample.json", "listenbrainz"),
        ("listenbrainz/listens_export.json", "listenbrainz"),
        ("lastfm/lastfm1k_sample.tsv", "lastfm_1k"),
        ("lastfm/scrobbles_header.csv", "lastfm_csv"),
        ("lastfm/scrobbles_noheader.csv", "lastfm_csv"),
        ("datasets/30music_sample.txt", "30music"),
        ("datasets/u.data", "movielens"),
        ("datasets/ratings.dat", "movielens"),
        ("datasets/ratings.csv", "movielens"),
        ("datasets/piki_sample.csv", "piki"),
        ("datasets/item_sequences.txt", "item_sequences"),
        ("generic/canonical.tsv", "tsv"),
        ("generic/plays_ms.csv", None),
    ],
)
def test_detect(relative, expected):
    (file,) = expand(FIXTURES / relative)
    assert detect(file) == expected
