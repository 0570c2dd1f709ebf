import numpy as np
import pandas as pd
import pytest

from segue.data.vocab import TrackVocab


def _events():
    return pd.DataFrame(
        {
            "track_id": ["t1", "t2", "t1", "t3", "t1", "t2"],
            "artist": ["Sigur Rós", "Beyoncé", "Sigur Rós", None, "Sigur Rós", "Beyoncé"],
            "track_name": ["Hoppípolla", "Halo", "Hoppípolla", "x", "Hoppípolla", "Halo"],
        }
    )


def test_indices_start_at_one_by_popularity_and_padding_is_zero():
    vocab, report = TrackVocab.build(_events())
    assert vocab.track_ids == ["t1", "t2", "t3"]
    assert vocab.encode(["t1", "t2", "t3", "nope"]).tolist() == [1, 2, 3, 0]
    assert vocab.decode([3, 1]).tolist() == ["t3", "t1"]
    assert vocab.popularity().tolist() == [0, 3, 2, 1]
    assert report.rows_in == 3 and report.rows_kept == 3
    with pytest.raises(IndexError):
        vocab.decode([0])


def test_artist_indices_with_unknown_as_zero():
    vocab, _ = TrackVocab.build(_events())
    assert vocab.artist_index([0, 1, 2, 3]).tolist() == [0, 1, 2, 0]
    assert vocab.artist_names == ["Sigur Rós", "Beyoncé"]
    assert vocab.names == ["Hoppípolla", "Halo", "x"]


def test_min_count_filter_is_reported_and_events_filtered_with_counts():
    events = _events()
    vocab, report = TrackVocab.build(events, min_count=2)
    assert vocab.track_ids == ["t1", "t2"]
    assert report.dropped == {"track played fewer than 2 times": 1}
    kept, filter_report = vocab.filter_events(events)
    assert len(kept) == 5 and filter_report.dropped == {"track not in vocabulary": 1}


def test_json_round_trip_without_pickle(tmp_path):
    vocab, _ = TrackVocab.build(_events())
    path = tmp_path / "vocab.json"
    vocab.save(path)
    assert "Sigur Rós" in path.read_text(encoding="utf-8")
    loaded = TrackVocab.load(path)
    assert loaded == vocab
    assert np.array_equal(loaded.artist_index([1, 2, 3]), vocab.artist_index([1, 2, 3]))
