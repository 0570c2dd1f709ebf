"""Malformed input for every reader: a DataError naming the culprit, never a raw traceback.

Each case writes one bad file and asserts the exact error type and that the message names the
file and, where it applies, the column and row. No case may return data silently.
"""

import io
import json
import random
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segue.data.errors import DataError
from segue.data.readers import read_log


def _parquet_bytes() -> bytes:
    table = pa.table({"user_id": ["u"], "track_id": ["t"], "timestamp": ["2024-01-01"]})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _parquet_year_3000() -> bytes:
    when = pa.array([0, 32503680000], pa.timestamp("s"))  # 1970, then 3000-01-01
    table = pa.table({"user_id": ["u", "u"], "track_id": ["t", "t"], "timestamp": when})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _yambda_text_times() -> bytes:
    table = pa.table({"uid": [1, 1], "item_id": [2, 3], "timestamp": ["10", "later"]})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


_LFM1K_ROW = "user_000001\t2009-05-04T23:08:57Z\t\tSigur Rós\t\tHoppípolla\n"


def _zip_bytes() -> bytes:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w") as archive:
        archive.writestr("x.csv", "user_id,track_id,timestamp\nu,t,2024-01-01\n")
    return sink.getvalue()[:40]


# (case, file name, bytes, read_log options, column named (or None), row named (or None))
CASES = [
    ("generic: date out of range", "log.csv",
     b"user_id,track_id,timestamp\nu,t,2024-01-01\nu,t,3000-01-01\n", {}, "timestamp", 1),
    ("generic: ms read as seconds", "log.csv",
     b"user_id,track_id,timestamp\nu,t,1700000000000\n", {"timestamp_unit": "s"}, "timestamp", 0),
    ("generic: text in epoch column", "log.csv",
     b"user_id,track_id,timestamp\nu,t,1700000000\nu,t,soon\n", {"timestamp_unit": "s"},
     "timestamp", None),
    ("parquet: truncated", "log.parquet", _parquet_bytes()[:-30], {}, None, None),
    ("parquet: date out of range", "log.parquet", _parquet_year_3000(), {}, "timestamp", 1),
    ("zip: truncated", "export.zip", _zip_bytes(), {}, None, None),
    ("yambda: text in timestamp", "listens.parquet", _yambda_text_times(), {}, "timestamp", 1),
    ("lastfm-1k: bad time in row 6", "lastfm1k.tsv",
     (_LFM1K_ROW * 6 + "user_000001\tyesterday\t\tA\t\tx\n").encode(), {},
     "timestamp", 6),
    ("scrobbler.log: bad unix time", "scrobbler.log",
     b"#AUDIOSCROBBLER/1.1\n#TZ/UTC\nA\tB\tx\t1\t200\tL\tsoon\t\n", {}, "timestamp", 0),
    ("scrobbler.log: bad duration", "scrobbler.log",
     b"#AUDIOSCROBBLER/1.1\n#TZ/UTC\nA\tB\tx\t1\tlong\tL\t1612124100\t\n", {},
     "duration", 0),
    ("movielens: rating not a number", "ratings.csv",
     b"userId,movieId,rating,timestamp\n1,2,4.5,964982703\n1,3,great,964982703\n", {},
     "rating", 1),
    ("movielens: 13-digit stamp", "u.data", b"1\t2\t3\t1700000000000\n", {}, "timestamp", 0),
    ("30music: time not a number", "sessions.tsv",
     b"UserId\tSessionId\tItemId\tTime\tArtistId\n1\t1\t1\tnoon\t1\n", {}, "Time", 0),
    ("piki: liked out of range", "piki.csv",
     b"id,liked,personalized,song_id,spotify_popularity,timestamp,user_id\n"
     b"1,5,0,7,50,2020-01-01 10:00:00,3\n", {}, "liked", 0),
    ("listenbrainz: ms timestamps", "listens.json",
     json.dumps([{"listened_at": 1700000000000, "track_metadata": {
         "artist_name": "A", "track_name": "x"}}]).encode(), {}, "listened_at", 0),
    ("spotify account: msPlayed not a number", "StreamingHistory0.json",
     json.dumps([{"endTime": "2023-01-05 13:02", "artistName": "A", "trackName": "x",
                  "msPlayed": "long"}]).encode(), {}, "msPlayed", 0),
    ("spotify extended: ms_played beyond a week", "Streaming_History_Audio_2023.json",
     json.dumps([{"ts": "2023-03-01T10:03:20Z", "ms_played": 10**17,
                  "master_metadata_track_name": "x"}]).encode(), {}, "ms_played", 0),
    ("spotify account: msPlayed beyond int64", "StreamingHistory0.json",
     json.dumps([{"endTime": "2023-01-05 13:02", "artistName": "A", "trackName": "x",
                  "msPlayed": 10**19}]).encode(), {}, "msPlayed", 0),
    ("spotify extended: bad ts", "Streaming_History_Audio_2023.json",
     json.dumps([{"ts": "yesterday", "ms_played": 1, "master_metadata_track_name": "x",
                  "spotify_track_uri": "spotify:track:1"}]).encode(), {}, "ts", 0),
    ("spotify: invalid JSON", "StreamingHistory0.json",
     b'[{"endTime": "2023-01-05 13:02", "msPlayed": 1', {"format": "spotify_account"}, None,
     None),
    ("lastfm json: track not an object", "recent.json",
     b'{"recenttracks": {"track": ["oops"]}}', {}, None, 0),
    ("lastfm csv: date not a date", "scrobbles.csv",
     b"artist,track,date\nA,x,31 Jan 2021 20:15\nA,y,later\n", {}, "date", 1),
    ("lastfm csv: no time column", "scrobbles.csv", b"artist,track,plays\nA,x,3\n", {}, None,
     None),
    ("item sequences: a user on two lines", "seq.txt",
     b"1 5 6 7\n2 5 8\n1 9 10\n", {"format": "item_sequences"}, None, None),
    ("item sequences: broken bytes after the head", "seq.txt",
     b"1 5 6 7\n2 5 8\n" * 8000 + b"3 \xff\xfe\xc3\n", {"format": "item_sequences"}, None,
     None),
    ("utf-8 declared, broken bytes", "scrobbles.csv",
     b"artist,track,date\n" + b"A,x,31 Jan 2021 20:15\n" * 5000 + b"\xff\xfe,\xc3,\n",
     {}, None, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "data", "options", "column", "row"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_malformed_input_is_a_data_error_naming_the_culprit(
    tmp_path, name, data, options, column, row
):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DataError) as error:
        read_log(path, **options)
    assert type(error.value) is DataError or issubclass(type(error.value), DataError)
    message = str(error.value)
    assert name in message, message
    if column is not None:
        assert error.value.column is not None and column in error.value.column, message
    if row is not None:
        assert error.value.row == row, message


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "utf-8-sig"])
def test_other_encodings_read_correctly(tmp_path, encoding):
    path = tmp_path / "log.csv"
    path.write_bytes("user_id,track_id,timestamp\nu,Rós,2024-01-01\n".encode(encoding))
    assert read_log(path).events["track_id"].tolist() == ["Rós"]


def test_duplicate_column_mapping_is_supported(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text("user,song,when\nu,Halo,2024-01-01\n")
    columns = {"user_id": "user", "track_id": "song", "track_name": "song", "timestamp": "when"}
    events = read_log(path, columns=columns).events
    assert events[["track_id", "track_name"]].values.tolist() == [["Halo", "Halo"]]


def test_generic_table_builds_the_name_key(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text("user,artist,title,when\nu,Beyoncé,Halo,2024-01-01\n")
    columns = {"user_id": "user", "track_name": "title", "timestamp": "when"}
    events = read_log(path, format="csv", columns=columns).events
    assert events["track_id"].tolist() == ["beyoncé|halo"]


def test_bad_option_values_fail_before_reading(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user_id,track_id,timestamp\nu,t,2024-01-01\n")
    with pytest.raises(ValueError, match="timestamp_unit"):
        read_log(path, timestamp_unit="minutes")
    with pytest.raises(ValueError, match="same_play_window"):
        read_log(path, same_play_window="soon")
    with pytest.raises(ValueError, match="track_ids"):
        read_log(path, track_ids="mbid")
    assert isinstance(pd.Timestamp.now(), pd.Timestamp)


def _mutations(data: bytes, rng: random.Random, n: int) -> list[bytes]:
    """Truncations, flipped bytes and inserted separators of one good file."""
    out = []
    for _ in range(n):
        d = bytearray(data)
        op = rng.choice(["truncate", "flip", "insert"])
        if op == "truncate":
            d = d[: rng.randrange(1, len(d))]
        elif op == "flip":
            for _ in range(rng.randint(1, 4)):
                d[rng.randrange(len(d))] = rng.randrange(256)
        else:
            at = rng.randrange(len(d))
            d[at:at] = rng.choice([b'"', b",", b"\t", b"\n", b"9999999999999", b"{", b"\xff"])
        out.append(bytes(d))
    return out


FIXTURES = Path(__file__).parents[1] / "data" / "readers" / "fixtures"
GOOD = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.suffix != ".md")


@pytest.mark.parametrize("good", GOOD, ids=lambda p: p.name)
def test_damaged_copies_of_every_fixture_read_or_raise_data_error(tmp_path, good):
    rng = random.Random(good.name)  # fixed per file: the same cases every run
    for i, data in enumerate(_mutations(good.read_bytes(), rng, 6)):
        path = tmp_path / f"{i}" / good.name
        path.parent.mkdir()
        path.write_bytes(data)
        try:
            log = read_log(path)
        except DataError:
            continue
        report = log.report
        assert (
            report.rows_in
            == report.rows_kept + report.rows_dropped
            == len(log) + sum(report.dropped.values())
        )


def test_a_corrupt_zip_inside_a_zip_is_an_error_naming_it(tmp_path):
    with zipfile.ZipFile(tmp_path / "ana.zip", "w") as archive:
        archive.writestr("my_spotify_data.zip", b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match=r"ana\.zip/my_spotify_data\.zip.*not a readable \.zip"):
        read_log(tmp_path / "ana.zip")


def test_an_empty_json_list_is_named_as_such(tmp_path):
    play = {"endTime": "2021-01-31 20:19", "artistName": "A", "trackName": "B", "msPlayed": 1}
    (tmp_path / "StreamingHistory_music_0.json").write_text(json.dumps([play]))
    empty = tmp_path / "StreamingHistory_audiobook_0.json"
    empty.write_text("[]\n")
    skipped = read_log(tmp_path).report.stats["files skipped"]
    assert skipped == {str(empty): "no records (an empty JSON list)"}


LASTFM_PAGES = FIXTURES / "lastfm_layouts" / "recenttracks.json"


@pytest.mark.parametrize("odd", ["true", 1.5, -1, True, [1, 2], ""], ids=repr)
@pytest.mark.parametrize("where", ["track", "page"])
def test_a_lastfm_page_whose_attr_is_no_object_is_a_data_error(tmp_path, odd, where):
    pages = json.loads(LASTFM_PAGES.read_text())
    block = pages[0]["recenttracks"]
    (block["track"][0] if where == "track" else block)["@attr"] = odd
    path = tmp_path / "recenttracks.json"
    path.write_text(json.dumps(pages))
    with pytest.raises(DataError, match=r"'@attr' must be a JSON object") as caught:
        read_log(path)
    assert caught.value.file is not None and "recenttracks.json" in caught.value.file
    assert caught.value.row == (0 if where == "track" else None)


LISTENBRAINZ = FIXTURES / "listenbrainz" / "listens_export.json"


@pytest.mark.parametrize("odd", ["text", 1.5, True, [1, 2]], ids=repr)
@pytest.mark.parametrize("key", ["track_metadata", "additional_info", "mbid_mapping"])
def test_a_listen_whose_nested_object_is_no_object_is_a_data_error(tmp_path, odd, key):
    listens = json.loads(LISTENBRAINZ.read_text())
    listens[1]["track_metadata"].setdefault("additional_info", {})
    (listens[1] if key == "track_metadata" else listens[1]["track_metadata"])[key] = odd
    path = tmp_path / "listens.json"
    path.write_text(json.dumps(listens))
    with pytest.raises(DataError, match=rf"'{key}' must be a JSON object") as caught:
        read_log(path)
    assert caught.value.row == 1 and "listens.json" in str(caught.value.file)


def test_a_listen_whose_duration_in_seconds_is_no_number_is_a_data_error(tmp_path):
    listens = json.loads(LISTENBRAINZ.read_text())
    info = listens[0]["track_metadata"].setdefault("additional_info", {})
    info.pop("duration_ms", None)
    info["duration"] = "three minutes"
    path = tmp_path / "listens.json"
    path.write_text(json.dumps(listens))
    with pytest.raises(DataError, match=r"'additional_info.duration' must be a number"):
        read_log(path)
