"""The checkpoint backend builds its answers from arrays (no DataFrame): every listing equals
the one read from ``Recommender``'s tables, field by field."""

from __future__ import annotations

import pytest

from segue.columns import Columns
from segue.serve.backends import load_backend
from segue.serve.events import Event, ListenerEvents
from segue.serve.torch_backend import _history, _listing

HISTORY = [Event("t1"), Event("t7", "skip"), Event("t3"), Event("nope"), Event("t30", "like")]
TIMED = [Event(e.track_id, e.event_type, 1000.0 + 200 * i) for i, e in enumerate(HISTORY)]
UNKNOWN_ONLY = [Event("nope"), Event("also-not")]


@pytest.fixture(scope="module")
def backend(models):
    return load_backend(models.checkpoint, 10, 50)


def same(a, b) -> None:
    assert a.items == b.items  # ids, scores (float64 of the float32), ranks, artist, name
    assert (a.unknown_ids, a.cold_start, a.exhausted) == (b.unknown_ids, b.cold_start, b.exhausted)


@pytest.mark.parametrize("history", [HISTORY, TIMED, UNKNOWN_ONLY, []])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"block": ["t24", "t31"], "max_per_artist": 1},
        {"allow": [f"t{i}" for i in range(0, 40, 3)], "exclude_played": False},
    ],
)
@pytest.mark.filterwarnings("ignore::segue.api.ColdStartWarning")
def test_lists_equal_the_tables(backend, history, options):
    args = {"exclude_played": True, "allow": None, "block": None, "max_per_artist": None}
    args.update(options)
    got = backend.recommend(history, 8, **args)
    frame = backend.rec.recommend(_history(history), k=8, **args)
    same(got, _listing(frame, Columns.RANK))
    assert got.items and all(Columns.ARTIST in item for item in got.items)


@pytest.mark.filterwarnings("ignore::segue.api.ColdStartWarning")
def test_batched_lists_equal_single_ones(backend):
    histories = [HISTORY, TIMED[:2], UNKNOWN_ONLY, [Event("t5")]]
    ks, flags = [3, 8, 5, 1], [True, False, True, True]
    batched = backend.recommend_many(histories, ks, flags)
    for history, k, flag, got in zip(histories, ks, flags, batched):
        frame = backend.rec.recommend(_history(history), k=k, exclude_played=flag)
        want = _listing(frame, Columns.RANK)
        assert [i["track_id"] for i in got.items] == [i["track_id"] for i in want.items]
        assert [i["rank"] for i in got.items] == list(range(1, k + 1))
        assert (got.unknown_ids, got.cold_start) == (want.unknown_ids, want.cold_start)


@pytest.mark.parametrize(
    "options",
    [
        (None, None, None, None, None, None),
        (2, 1, None, ["t4"], None, None),
        (None, None, ["t2", "t3", "t5"], None, None, None),  # runs out: exhausted
        (None, None, None, None, 0.7, 3),
    ],
)
def test_playlists_equal_the_tables(backend, options):
    window, cap, allow, block, temperature, seed = options
    got = backend.continue_playlist(HISTORY, 6, window, cap, allow, block, temperature, seed)
    frame = backend.rec.continue_playlist(
        _history(HISTORY),
        n=6,
        no_repeat_window=window,
        max_per_artist=cap,
        allow=allow,
        block=block,
        temperature=temperature,
        seed=seed,
    )
    same(got, _listing(frame, Columns.POSITION))
    assert got.exhausted == (allow is not None)


def test_batched_playlists_equal_single_ones(backend):
    seeds = [[Event("t1"), Event("t2")], [Event("t9")], [Event("t3"), Event("nope")]]
    batched = backend.continue_many(seeds, [4, 2, 3])
    for seed, n, got in zip(seeds, [4, 2, 3], batched):
        want = backend.continue_playlist(seed, n, None, None, None, None, None, None)
        assert [i["track_id"] for i in got.items] == [i["track_id"] for i in want.items]
        assert [i["position"] for i in got.items] == list(range(1, n + 1))
        assert got.unknown_ids == want.unknown_ids


def test_listener_lists_equal_the_session_tables(backend):
    held = ListenerEvents(HISTORY[:3], total=3)
    got = backend.listener("ada", held, 6, True, None, ["t24"], None)
    state = backend.rec.session(_history(HISTORY[:3]), keep=backend.max_len)
    want = _listing(state.recommend(k=6, block=["t24"]), Columns.RANK)
    same(got, want)
    assert got.source == "reencoded"
