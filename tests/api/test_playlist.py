"""continue_playlist: constraints hold, seeds make it reproducible, picks are fed back."""

from __future__ import annotations

import pandas as pd
import pytest

from segue.api import COLD_START, EXHAUSTED, UNKNOWN_IDS, ColdStartWarning, Recommender
from tests.api.conftest import MAX_LEN, N_TRACKS, ids, tiny_recommender


@pytest.mark.parametrize("kind", ["sasrec", "side", "bert4rec"])
def test_greedy_steps_equal_recommend_on_the_growing_playlist(kind: str) -> None:
    rec = tiny_recommender(kind)
    seeds = ids(1, 2, 3)
    # Within max_len the session reads the whole playlist, as recommend does (masked models
    # always re-encode, so they are checked past max_len too).
    n = 3 * MAX_LEN if kind == "bert4rec" else MAX_LEN - len(seeds)
    out = rec.continue_playlist(seeds, n=n)
    assert out["position"].tolist() == list(range(1, n + 1))
    assert list(out.columns[:3]) == ["position", "track_id", "score"]
    playlist = list(seeds)
    for track, score in zip(out["track_id"], out["score"]):
        best = rec.recommend(playlist, k=1).iloc[0]
        assert best["track_id"] == track and best["score"] == pytest.approx(score, abs=1e-5)
        playlist.append(track)
    assert out.attrs == {UNKNOWN_IDS: [], COLD_START: False, EXHAUSTED: False}


def test_long_playlists_cross_the_cache_boundary(rec: Recommender) -> None:
    out = rec.continue_playlist(ids(1, 2), n=3 * MAX_LEN, no_repeat_window=4)
    assert len(out) == 3 * MAX_LEN and not out.attrs[EXHAUSTED]


@pytest.mark.parametrize("window", [0, 2, 5])
def test_no_repeat_window(rec: Recommender, window: int) -> None:
    seeds = ids(1, 2)
    out = rec.continue_playlist(seeds, n=30, no_repeat_window=window, temperature=2.0, seed=1)
    playlist = seeds + out["track_id"].tolist()
    for i in range(len(seeds), len(playlist)):
        assert playlist[i] not in playlist[max(0, i - window) : i]
    assert len(out) == 30


def test_default_never_repeats_and_reports_exhaustion(rec: Recommender) -> None:
    out = rec.continue_playlist(ids(1, 2), n=50)
    assert len(out) == N_TRACKS - 2 and out["track_id"].is_unique
    assert not set(out["track_id"]) & set(ids(1, 2))
    assert out.attrs[EXHAUSTED]


def test_artist_cap_and_lists(rec: Recommender) -> None:
    allow = ids(*range(20))
    out = rec.continue_playlist(
        ids(1), n=20, max_per_artist=2, allow=allow, block=ids(4), temperature=1.0, seed=0
    )
    assert set(out["track_id"]) <= set(allow) - {"t4", "t1"}
    assert out["artist"].value_counts().max() <= 2
    assert len(out) == 10  # 5 artists x 2 within t0..t19


def test_sampling_is_reproducible_with_a_seed(rec: Recommender) -> None:
    def run(seed: int) -> pd.DataFrame:
        return rec.continue_playlist(ids(1, 2), n=15, temperature=1.0, seed=seed)

    pd.testing.assert_frame_equal(run(7), run(7))
    assert run(7)["track_id"].tolist() != run(8)["track_id"].tolist()


def test_cold_start_playlist_and_bad_arguments(rec: Recommender) -> None:
    with pytest.warns(ColdStartWarning, match="zz"):
        out = rec.continue_playlist(["zz"], n=3)
    assert out.attrs[COLD_START] and out.attrs[UNKNOWN_IDS] == ["zz"]
    assert out["track_id"].iloc[0] == "t0"  # the most played track, then the model
    with pytest.raises(ValueError, match="temperature"):
        rec.continue_playlist(ids(1), temperature=0.0)
    with pytest.raises(ValueError, match="no_repeat_window"):
        rec.continue_playlist(ids(1), no_repeat_window=-1)
