"""Tests of the synthetic listening-log generator: shape, determinism, and the music structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segue.columns import Columns, EventTypes
from segue.data.synthetic import SKIP_MS, SyntheticConfig, generate_listening_log
from segue.data.synthetic_catalogue import GroupedSampler, build_catalogue

SMALL = SyntheticConfig(n_users=200, n_events=30_000, n_artists=60, seed=3)
HOUR_S = 3600.0


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return generate_listening_log(SMALL).events


def _same_user(events: pd.DataFrame) -> np.ndarray:
    users = events[Columns.USER].to_numpy()
    return users[1:] == users[:-1]


def _gaps_s(events: pd.DataFrame) -> np.ndarray:
    ns = events[Columns.TIMESTAMP].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    return np.diff(ns) / 1e9


def _within_session(events: pd.DataFrame) -> np.ndarray:
    """For each consecutive pair of rows: same user and under 30 minutes apart."""
    return _same_user(events) & (_gaps_s(events) < 1800)


def _genres(events: pd.DataFrame, config: SyntheticConfig) -> np.ndarray:
    # The generator's catalogue comes from the first child of the seed; rebuild it for genres.
    rng = np.random.default_rng(np.random.SeedSequence(config.seed).spawn(2)[0])
    catalogue = build_catalogue(
        config.n_artists, config.albums_per_artist, config.tracks_per_album, config.n_genres, rng
    )
    table = catalogue.table()
    genre = dict(zip(table["track_id"], table["genre"]))
    return events[Columns.TRACK].map(genre).to_numpy()


def test_same_seed_same_log_and_other_seed_other_log(events: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(generate_listening_log(SMALL).events, events)
    other = generate_listening_log(SMALL, seed=4).events
    assert not other[Columns.TRACK].equals(events[Columns.TRACK])


def test_canonical_columns_and_dtypes(events: pd.DataFrame) -> None:
    assert list(events.columns) == [c for c in Columns.CANONICAL if c != Columns.IS_ORGANIC]
    assert events[Columns.TIMESTAMP].dtype == pd.DatetimeTZDtype("ns", "UTC")
    assert events[Columns.SKIPPED].dtype == bool
    for column in (Columns.MS_PLAYED, Columns.DURATION_MS):
        assert events[column].dtype == np.int64
    for column in (Columns.USER, Columns.TRACK, Columns.ARTIST, Columns.ALBUM, Columns.EVENT_TYPE):
        assert pd.api.types.is_string_dtype(events[column])
    assert not events.isna().any().any()
    assert set(events[Columns.EVENT_TYPE]) == {EventTypes.PLAY, EventTypes.LIKE}
    assert 0.005 < (events[Columns.EVENT_TYPE] == EventTypes.LIKE).mean() < 0.1


def test_sizes_match_the_config(events: pd.DataFrame) -> None:
    log = generate_listening_log(SMALL)
    assert len(events) == SMALL.n_events
    assert events[Columns.USER].nunique() == SMALL.n_users
    assert events[Columns.ARTIST].nunique() <= SMALL.n_artists
    assert events[Columns.TRACK].nunique() <= SMALL.n_tracks == 60 * 2 * 8
    assert events.groupby(Columns.USER).size().min() >= SMALL.min_events_per_user
    assert (log.report.stage, log.report.rows_in, log.report.rows_kept) == (
        "synthetic",
        SMALL.n_events,
        SMALL.n_events,
    )
    assert log.report.stats["tracks"] == SMALL.n_tracks


def test_sorted_by_user_then_time(events: pd.DataFrame) -> None:
    users = events[Columns.USER].to_numpy()
    assert (users[1:] >= users[:-1]).all()
    assert (_gaps_s(events)[_same_user(events)] > 0).all()


def test_durations_are_songs_and_skips_are_short(events: pd.DataFrame) -> None:
    minutes = events[Columns.DURATION_MS] / 60_000
    assert 3.0 < minutes.median() < 4.0 and minutes.min() >= 1.5
    skipped = events[Columns.SKIPPED].to_numpy()
    played = events[Columns.MS_PLAYED].to_numpy()
    assert (played[skipped] < SKIP_MS).all()
    assert (played[~skipped] >= SKIP_MS).all()
    assert (played <= events[Columns.DURATION_MS].to_numpy()).all()
    assert 0.05 < skipped.mean() < 0.35


def test_popularity_is_heavy_tailed(events: pd.DataFrame) -> None:
    plays = events[Columns.TRACK].value_counts().to_numpy()  # descending
    top_tenth = plays[: SMALL.n_tracks // 10].sum() / plays.sum()
    assert top_tenth > 0.4


def test_albums_are_played_in_order(events: pd.DataFrame) -> None:
    track = events[Columns.TRACK].str[1:].astype(int).to_numpy()
    album = events[Columns.ALBUM].to_numpy()
    next_on_album = (track[1:] == track[:-1] + 1) & (album[1:] == album[:-1])
    within = _within_session(events)
    # A random next track would be the album's next one about once in n_tracks.
    assert next_on_album[within].mean() > 0.1


def test_sessions_gap_by_track_length_and_hours_apart(events: pd.DataFrame) -> None:
    gaps, same_user = _gaps_s(events), _same_user(events)
    previous_play_s = events[Columns.MS_PLAYED].to_numpy()[:-1] / 1000
    within = same_user & (gaps < 1800)
    pause = gaps[within] - previous_play_s[within]
    assert (pause >= 0).all() and np.median(pause) < 5
    between = gaps[same_user & ~within]
    assert between.min() >= HOUR_S and np.median(between) > 3 * HOUR_S
    mean_session = len(events) / (len(between) + SMALL.n_users)
    assert 5 < mean_session < 25


def test_users_concentrate_on_few_genres(events: pd.DataFrame) -> None:
    genres = pd.crosstab(events[Columns.USER], _genres(events, SMALL))
    top_genre_share = (genres.max(axis=1) / genres.sum(axis=1)).mean()
    assert top_genre_share > 2.5 / SMALL.n_genres  # a uniform listener would be near 1/8


def test_off_taste_tracks_are_skipped_more(events: pd.DataFrame) -> None:
    genre = _genres(events, SMALL)
    counts = pd.crosstab(events[Columns.USER], genre)
    top = counts.idxmax(axis=1)
    in_top = genre == events[Columns.USER].map(top).to_numpy()
    skipped = events[Columns.SKIPPED].to_numpy()
    assert skipped[~in_top].mean() > 1.5 * skipped[in_top].mean()


def test_users_replay_their_favourites(events: pd.DataFrame) -> None:
    # A listener's own 10 most played tracks cover more of their plays than the 10 global hits.
    own = events.groupby(Columns.USER)[Columns.TRACK].agg(
        lambda s: s.value_counts().iloc[:10].sum() / len(s)
    )
    hits = set(events[Columns.TRACK].value_counts().index[:10])
    global_share = events[Columns.TRACK].isin(hits).mean()
    assert own.mean() > 2 * global_share


def test_bad_sizes_raise() -> None:
    with pytest.raises(ValueError, match="cannot give"):
        generate_listening_log(n_users=100, n_events=50)
    with pytest.raises(ValueError, match="genre"):
        generate_listening_log(n_users=2, n_events=100, n_artists=3, n_genres=8)


def test_grouped_sampler_matches_weights() -> None:
    groups = np.array([1, 0, 1, 0, 1])
    weights = np.array([1.0, 1.0, 2.0, 3.0, 1.0])
    sampler = GroupedSampler.build(groups, weights)
    rng = np.random.default_rng(0)
    draws = sampler.sample(np.ones(40_000, np.int64), rng.random(40_000))
    share = np.bincount(draws, minlength=5) / len(draws)
    np.testing.assert_allclose(share, [0.25, 0, 0.5, 0, 0.25], atol=0.01)
