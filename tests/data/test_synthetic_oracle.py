"""The generator's next-track distribution, checked against the plays the generator drew.

A wrong reconstruction (a mis-weighted move, a wrong previous track, the album mode off by one
play) shows up as realised tracks the model calls impossible, or as a realised mean probability
(or top-1 rate, or skip count) several standard errors from what the model expects.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pandas as pd
import pytest

from segue.data.synthetic import SyntheticConfig, draw_listening, generate_listening_log
from segue.data.synthetic_catalogue import GroupedSampler
from segue.data.synthetic_listeners import (
    ALBUM,
    ALBUM_NEXT,
    FAVOURITE_ARTIST,
    FAVOURITE_TRACK,
    SAME_ARTIST,
)
from segue.data.synthetic_oracle import (
    NextTrackModel,
    PlayStates,
    album_mode_posterior,
    group_probabilities,
    history_tastes,
    play_states,
)

TINY = SyntheticConfig(n_users=40, n_events=4_000, n_artists=30, seed=7)
TINY_DIGEST = "5c3ea9f397bba1ab7f2ef29677c7c35513abea2b54844b4db0965c19ffecf2ee"
"""Digest of ``generate_listening_log(TINY)`` by the generator before ``draw_listening`` was
split out of it (commit 89ab425): the split must not change a single draw."""


@pytest.fixture(scope="module")
def draw():
    return draw_listening(TINY)


@pytest.fixture(scope="module")
def model(draw) -> NextTrackModel:
    return NextTrackModel.of(draw)


@pytest.fixture(scope="module")
def states(draw) -> PlayStates:
    return play_states(draw)


def _next_track(model: NextTrackModel, states: PlayStates, plays: np.ndarray, **kw) -> np.ndarray:
    """P(track | state) at ``plays``, in batches to bound memory, (len(plays), n_tracks)."""
    parts = [
        model.next_track(s.user[j], s.previous[j], s.first[j], s.in_album[j], **kw)
        for s in [states]
        for j in np.array_split(plays, max(1, len(plays) // 500))
    ]
    return np.concatenate(parts)


@pytest.fixture(scope="module")
def drawn_probabilities(model, states) -> np.ndarray:
    """P(track | state) of every play, not conditioned on the skip, (n_plays, n_tracks)."""
    return _next_track(model, states, np.arange(len(states.user)), kept=False)


def _z(realised: np.ndarray, expected: np.ndarray, variance: np.ndarray) -> float:
    """Standardised sum of realised - expected: each play's term has mean 0 given its state."""
    return float((realised - expected).sum() / np.sqrt(variance.sum()))


def _digest(events: pd.DataFrame) -> str:
    h = hashlib.sha256()
    for name in events.columns:
        column = events[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            h.update(column.to_numpy(dtype="datetime64[ns]").astype(np.int64).tobytes())
        elif column.dtype.kind in "biuf":
            h.update(column.to_numpy().tobytes())
        else:
            h.update("\n".join(column.astype(str)).encode())
    return h.hexdigest()


def test_the_log_is_bit_identical_to_the_generator_before_the_hook() -> None:
    assert _digest(generate_listening_log(TINY).events) == TINY_DIGEST


def test_the_log_writes_out_the_draw(draw) -> None:
    events = generate_listening_log(TINY).events
    ids = draw.catalogue.names()["track_id"]
    assert events["track_id"].tolist() == ids[draw.walk.track].tolist()
    assert np.array_equal(events["skipped"].to_numpy(), draw.walk.skipped)
    assert np.array_equal(events["ms_played"].to_numpy(), draw.ms_played)


def test_group_probabilities_are_the_normalised_weights() -> None:
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 7, size=200)
    weights = rng.random(200) * (rng.random(200) < 0.8)  # some zero weights, some first
    weights[np.unique(groups, return_index=True)[1]] += 0.1  # every group has mass
    p = group_probabilities(GroupedSampler.build(groups, weights), groups)
    totals = np.bincount(groups, weights=weights)
    np.testing.assert_allclose(p, weights / totals[groups], atol=1e-12)


def test_rows_sum_to_one_and_every_realised_track_is_possible(
    draw, model, states, drawn_probabilities
) -> None:
    p, walk = drawn_probabilities, draw.walk
    plays = np.arange(len(walk.track))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    assert (p[plays, walk.track] > 0).all()
    kept = plays[~walk.skipped]
    p_kept = _next_track(model, states, kept)
    np.testing.assert_allclose(p_kept.sum(axis=1), 1.0, atol=1e-9)
    assert (p_kept[np.arange(len(kept)), walk.track[kept]] > 0).all()


def _calibration_z(p: np.ndarray, track: np.ndarray) -> float:
    """z of the realised tracks' mean probability: E[P(X)] = sum p^2, Var = sum p^3 - E^2."""
    second, third = (p**2).sum(axis=1), (p**3).sum(axis=1)
    return _z(p[np.arange(len(track)), track], second, third - second**2)


def test_realised_tracks_are_as_probable_as_the_model_expects(draw, drawn_probabilities) -> None:
    p, track = drawn_probabilities, draw.walk.track
    assert abs(_calibration_z(p, track)) < 4
    top = p.max(axis=1)
    assert abs(_z((p.argmax(axis=1) == track).astype(float), top, top * (1 - top))) < 4


def test_skips_are_as_frequent_as_the_model_expects(draw, model, states) -> None:
    keep = np.empty(len(draw.walk.track))
    for start in range(0, len(keep), 500):
        j = np.arange(start, min(start + 500, len(keep)))
        weights = model.move_weights(states.first[j], states.in_album[j], states.previous[j])
        tracks = model.move_tracks(states.user[j], states.previous[j])
        joint = weights[:, :, None] * tracks
        keep[j] = (joint * model.keep_chances(states.user[j])).sum(axis=(1, 2))
    skip = 1.0 - keep
    assert abs(_z(draw.walk.skipped.astype(float), skip, skip * (1 - skip))) < 4


def _drawn_move_chances(model: NextTrackModel, states: PlayStates, move, track) -> np.ndarray:
    """P(move drawn | state) * P(track drawn | move, state) for each play's own move, (n,)."""
    out = np.empty(len(track))
    for j in np.array_split(np.arange(len(track)), max(1, len(track) // 500)):
        weights = model.move_weights(states.first[j], states.in_album[j], states.previous[j])
        tracks = model.move_tracks(states.user[j], states.previous[j])
        rows = np.arange(len(j))
        out[j] = weights[rows, move[j]] * tracks[rows, move[j], track[j]]
    return out


def test_every_play_is_possible_under_the_move_that_drew_it(draw, model, states) -> None:
    # Stricter than P(track) > 0, which chart hits alone make true of almost every track.
    assert (_drawn_move_chances(model, states, draw.walk.move, draw.walk.track) > 0).all()


def test_a_wrong_state_is_caught(draw, model, states) -> None:
    plays, walk = np.arange(len(states.user)), draw.walk
    # The album mode one play late: play-throughs are predicted where they have stopped.
    late = np.r_[False, states.in_album[:-1]] & ~states.first
    p = _next_track(model, dataclasses.replace(states, in_album=late), plays, kept=False)
    assert abs(_calibration_z(p, walk.track)) > 4
    # Another listener's tastes, or the previous track shifted: some draws become impossible.
    other = dataclasses.replace(states, user=(states.user + 1) % TINY.n_users)
    assert (_drawn_move_chances(model, other, walk.move, walk.track) == 0).any()
    shifted = dataclasses.replace(states, previous=np.r_[0, states.previous[:-1]])
    assert (_drawn_move_chances(model, shifted, walk.move, walk.track) == 0).any()


def test_album_mode_posterior_is_calibrated_and_informative(draw, model, states) -> None:
    plays = np.arange(len(draw.walk.track))
    posterior = album_mode_posterior(model, states, plays)
    truth = states.in_album.astype(float)
    assert (posterior[states.first] == 0).all()
    assert abs(_z(truth, posterior, posterior * (1 - posterior))) < 4
    assert posterior[states.in_album].mean() > 0.7 > 0.2 > posterior[~states.in_album].mean()


def test_album_mode_posterior_needs_whole_sessions(model, states) -> None:
    second = int(np.flatnonzero(states.position == 1)[0])
    with pytest.raises(ValueError, match="whole sessions"):
        album_mode_posterior(model, states, np.array([second]))
    with pytest.raises(ValueError, match="sorted"):
        album_mode_posterior(model, states, np.array([second, second - 1]))


def test_a_longer_album_habit_is_read_from_the_config() -> None:
    habits = dataclasses.replace(TINY.habits, album_continue=0.5)
    other = draw_listening(dataclasses.replace(TINY, habits=habits))
    states = play_states(other)
    weights = NextTrackModel.of(other).move_weights(states.first, states.in_album, states.previous)
    last = other.catalogue.tracks_per_album - 1
    on = states.in_album & (other.catalogue.track_position[states.previous] < last)
    np.testing.assert_allclose(weights[on, -1], 0.5)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)


# The plug-in: the generator's form with each listener's tastes estimated from their plays.


def test_history_tastes_are_play_shares(draw) -> None:
    cat = draw.catalogue
    a, b = 0, cat.tracks_per_album * cat.albums_per_artist  # first tracks of artists 0 and 1
    tastes = history_tastes(draw, [np.array([a, a, a, b]), np.array([], dtype=np.int64)])
    expected = np.zeros(cat.n_tracks)
    expected[[a, b]] = [0.75, 0.25]
    np.testing.assert_allclose(tastes.track_share[0], expected)
    artists = np.zeros(cat.n_artists)
    np.add.at(artists, cat.track_artist[[a, b]], [0.75, 0.25])
    np.testing.assert_allclose(tastes.artist_share[0], artists)
    genres = np.zeros(tastes.genre_share.shape[1])
    np.add.at(genres, cat.track_genre[[a, b]], [0.75, 0.25])
    np.testing.assert_allclose(tastes.genre_share[0], genres)
    assert not tastes.track_share[1].any() and not tastes.genre_share[1].any()  # no history


def test_estimated_listener_moves_read_the_shares(draw, model, states) -> None:
    cat = draw.catalogue
    plays = np.flatnonzero(states.user == 3)
    history = draw.walk.track[plays]
    tastes = history_tastes(draw, [history])
    moves = model.move_tracks(np.array([0]), np.array([history[-1]]), tastes)[0]
    np.testing.assert_allclose(moves[FAVOURITE_TRACK], tastes.track_share[0])
    np.testing.assert_allclose(
        moves[FAVOURITE_ARTIST], tastes.artist_share[0] @ model.artist_tracks
    )
    # An album start opens an album (position 0) of an artist, in proportion to its share.
    started = np.flatnonzero(moves[ALBUM])
    assert (cat.track_position[started] == 0).all()
    per_artist = np.bincount(cat.track_artist[started], moves[ALBUM][started], cat.n_artists)
    np.testing.assert_allclose(per_artist, tastes.artist_share[0])
    # Moves that read no taste are the drawn model's: the other user index changes nothing.
    drawn = model.move_tracks(np.array([3]), np.array([history[-1]]))[0]
    for move in (SAME_ARTIST, ALBUM_NEXT):
        np.testing.assert_allclose(moves[move], drawn[move])


def test_the_plug_in_learns_the_listener_from_their_own_plays(draw, model, states) -> None:
    # Every listener's later plays are likelier under tastes read from their own earlier plays
    # than under another listener's: the estimates carry who the listener is.
    own, swapped = [], []
    for user in range(0, TINY.n_users, 4):  # 10 of the 40 listeners
        plays = np.flatnonzero(states.user == user)
        half = len(plays) // 2
        later = plays[half:]
        histories = {
            who: draw.walk.track[np.flatnonzero(states.user == who)[:half]]
            for who in (user, (user + 1) % TINY.n_users)
        }
        for sink, who in ((own, user), (swapped, (user + 1) % TINY.n_users)):
            tastes = history_tastes(draw, [histories[who]] * len(later))
            p = model.next_track(
                states.user[later],
                states.previous[later],
                states.first[later],
                states.in_album[later],
                kept=False,
                tastes=tastes,
            )
            sink.append(np.log(p[np.arange(len(later)), draw.walk.track[later]] + 1e-12).mean())
    assert np.mean(own) > np.mean(swapped) + 0.5
    rows = model.next_track(
        states.user[:5],
        states.previous[:5],
        states.first[:5],
        states.in_album[:5],
        tastes=history_tastes(draw, [draw.walk.track[:50]] * 5),
    )
    np.testing.assert_allclose(rows.sum(axis=1), 1.0)
