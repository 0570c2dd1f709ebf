"""The array forms of lists equal the tables built from them, and warn of nothing."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tests.api.conftest import ids, tiny_recommender


def test_track_lists_equal_recommend_batch():
    rec = tiny_recommender()
    histories = [ids(1, 2, 3), ["nope"], ids(4), []]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # cold queries are flagged, not warned about
        lists = rec.track_lists(histories, k=4, block=["t5"])
    with pytest.warns(Warning):
        frame = rec.recommend_batch(histories, k=4, block=["t5"])
    for q in range(len(histories)):
        indices, scores = lists.row(q)
        part = frame[frame["query"] == q]
        assert rec.catalogue.track_ids[indices].tolist() == part["track_id"].tolist()
        np.testing.assert_array_equal(scores, part["score"].to_numpy())
    assert lists.unknown_ids == [[], ["nope"], [], []]
    assert lists.cold.tolist() == [False, True, False, True]


def test_session_and_playlist_arrays_equal_their_tables():
    rec = tiny_recommender()
    state = rec.session(ids(1, 2))
    indices, scores = state.track_lists(k=5, max_per_artist=1).row(0)
    frame = state.recommend(k=5, max_per_artist=1)
    assert rec.catalogue.track_ids[indices].tolist() == frame["track_id"].tolist()
    np.testing.assert_array_equal(scores, frame["score"].to_numpy())
    lists = rec.playlist_tracks(ids(1, 2), n=6, no_repeat_window=3, seed=1)
    playlist = rec.continue_playlist(ids(1, 2), n=6, no_repeat_window=3, seed=1)
    picks, _ = lists.row(0)
    assert rec.catalogue.track_ids[picks].tolist() == playlist["track_id"].tolist()
    assert lists.exhausted is False
    allowed = rec.playlist_tracks(ids(1), n=6, allow=ids(2, 3))
    assert allowed.exhausted and len(allowed.row(0)[0]) == 2


def test_bad_arguments_are_named():
    rec = tiny_recommender()
    with pytest.raises(TypeError, match="list of histories"):
        rec.track_lists("t1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list of histories"):
        rec.track_lists({"a": ids(1)})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="track_lists does not read no_repeat_window"):
        rec.track_lists([ids(1)], no_repeat_window=2)
    with pytest.raises(ValueError, match="playlist_tracks does not read exclude_played"):
        rec.playlist_tracks(ids(1), n=2, exclude_played=False)
    with pytest.raises(ValueError, match="n"):
        rec.playlist_tracks(ids(1), n=-1)
