"""Micro-batching in process: batched rows answer exactly what single requests answer.

Recommendations, listeners (stored events, past the model's ``max_len``) and plain greedy
playlists are sent concurrently through one :class:`RecommendBatcher`, so they share batches, and
are compared with the single-request calls: same ids in the same order, scores within float
tolerance, same flags.
"""

from __future__ import annotations

import asyncio
import threading
import time
from functools import partial

import pytest

from segue.serve.backends import load_backend
from segue.serve.batching import RecommendBatcher, Row
from segue.serve.estimates import Estimate
from segue.serve.events import Event, ListenerEvents
from segue.serve.limits import Admission, Overloaded

NO_FILTERS = (None, None, None)


@pytest.fixture(scope="module")
def backend(models):
    return load_backend(models.checkpoint, 10, 50)


def _ids(listing) -> list[str]:
    return [item["track_id"] for item in listing.items]


def _assert_same(got, want) -> None:
    assert _ids(got) == _ids(want)
    assert [i["score"] for i in got.items] == pytest.approx(
        [i["score"] for i in want.items], rel=1e-5, abs=1e-5
    )
    assert (got.unknown_ids, got.cold_start, got.exhausted) == (
        want.unknown_ids,
        want.cold_start,
        want.exhausted,
    )


def _run(coroutine_of_batcher, max_batch: int = 8, deadline_s: float = 60.0):
    """Run ``coroutine_of_batcher(batcher)`` on a fresh loop; also return the batches' kinds
    and sizes."""
    sizes: list[tuple[str, int]] = []

    async def scenario():
        admission = Admission(concurrency=1, max_queue=64, deadline_s=deadline_s)
        try:
            batcher = RecommendBatcher(admission, max_batch, on_batch=lambda *b: sizes.append(b))
            return await coroutine_of_batcher(batcher)
        finally:
            admission.close()

    return asyncio.run(scenario()), sizes


def _listener_events(n: int) -> list[Event]:
    kinds = ["play", "skip", "play", "like"]
    return [Event(f"t{(5 * i + 3) % 40}", kinds[i % 4], 1000.0 + 90 * i) for i in range(n)]


def test_batched_rows_equal_single_requests(backend):
    histories = [[Event(f"t{(i * 7 + j) % 40}") for j in range(1 + i % 6)] for i in range(12)] + [
        [],
        [Event("nope"), Event("t5")],
        _listener_events(5),
    ]
    rows = [
        Row(
            h,
            3 + i % 4,
            i % 3 != 0,
            partial(backend.recommend, h, 3 + i % 4, i % 3 != 0, *NO_FILTERS),
        )
        for i, h in enumerate(histories)
    ]
    # Listeners whose sessions were built event by event through the KV cache, some past the
    # model's max_len (12): the batched row re-encodes the stored events instead.
    for n_events in (3, 12, 13, 30):
        events = _listener_events(n_events)
        for i in range(1, n_events + 1):  # the cache follows the store one event at a time
            listing = backend.listener(
                f"l{n_events}", ListenerEvents(tuple(events[:i]), i), 5, True, *NO_FILTERS
            )
        assert listing.source == "kv_cache"
        alone = partial(
            backend.listener,
            f"l{n_events}",
            ListenerEvents(tuple(events), n_events),
            5,
            True,
            *NO_FILTERS,
        )
        rows.append(Row(events, 5, True, alone, source="reencoded"))

    async def all_at_once(batcher):
        now = time.perf_counter()
        return await asyncio.gather(*(batcher.rank(backend, row, now) for row in rows))

    batched, batches = _run(all_at_once)
    sizes = [size for kind, size in batches if kind == "lists"]
    assert sum(sizes) == len(rows) and max(sizes) > 1  # rows really shared model calls
    for row, got in zip(rows, batched):
        _assert_same(got, row.alone())
        assert [i["rank"] for i in got.items] == list(range(1, len(got.items) + 1))


def test_batched_playlists_equal_continue_playlist(backend):
    seeds = [
        [Event("t1"), Event("t7"), Event("t3")],
        [Event("t20")],
        [Event("nope"), Event("t11"), Event("t12"), Event("t13")],  # an unknown seed
        [Event(f"t{i}") for i in range(0, 24, 3)],
        [Event("t2"), Event("t4")],
        [Event("t9")],
    ]
    n = [6, 10, 4, 5, 11, 1]
    assert all(backend.plain_playlist(s, k) for s, k in zip(seeds, n))
    histories = [[Event(f"t{(i * 11) % 40}") for i in range(j, j + 4)] for j in range(6)]

    async def mixed(batcher):
        now = time.perf_counter()
        playlists = [batcher.playlist(backend, s, k, now) for s, k in zip(seeds, n)]
        lists = [
            batcher.rank(
                backend, Row(h, 5, True, partial(backend.recommend, h, 5, True, *NO_FILTERS)), now
            )
            for h in histories
        ]
        return await asyncio.gather(*playlists, *lists)

    results, batches = _run(mixed)
    playlist_sizes = [size for kind, size in batches if kind == "playlists"]
    assert sum(playlist_sizes) == len(seeds) and max(playlist_sizes) > 1
    assert sum(size for kind, size in batches if kind == "lists") == len(histories)
    for h, got in zip(histories, results[len(seeds) :]):
        _assert_same(got, backend.recommend(h, 5, True, *NO_FILTERS))
    for s, k, got in zip(seeds, n, results):
        want = backend.continue_playlist(s, k, None, None, None, None, None, None)
        _assert_same(got, want)
        assert [i["position"] for i in got.items] == list(range(1, k + 1))
        assert all("rank" not in i for i in got.items)


def test_only_plain_playlists_are_batched(backend):
    plays = [Event("t1"), Event("t2")]
    assert backend.plain_playlist(plays, 11)  # 2 seeds + 10 encoded picks = max_len 12
    assert not backend.plain_playlist(plays, 12)  # would rebuild the session's cache
    assert not backend.plain_playlist([Event("nope")], 3)  # cold start moves the clock
    assert not backend.plain_playlist([Event("t1", "skip")], 3)
    assert not backend.plain_playlist([Event("t1", "play", 100.0)], 3)


def test_a_leader_past_its_deadline_is_shed_and_later_rows_still_served(backend):
    history = [Event("t1")]
    want = _ids(backend.recommend(history, 3, True, *NO_FILTERS))

    async def late_leader(batcher):
        long_ago, now = time.perf_counter() - 1.0, time.perf_counter()  # deadline: 0.5 s

        def row() -> Row:
            return Row(history, 3, True, partial(backend.recommend, history, 3, True, *NO_FILTERS))

        calls = [batcher.rank(backend, row(), long_ago) for _ in range(2)]
        calls += [batcher.rank(backend, row(), now) for _ in range(3)]
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes, batches = _run(late_leader, deadline_s=0.5)
    assert all(isinstance(o, Overloaded) and o.reason == "deadline" for o in outcomes[:2])
    assert [_ids(o) for o in outcomes[2:]] == [want] * 3
    assert sum(size for _, size in batches) == 3  # the late rows never reached the model


def _per_row(admission: Admission, seconds: float) -> None:
    """Teach ``admission`` that a list costs ``seconds`` per row, alone or batched."""
    for key in ((True, 1), (False, 2)):
        admission.cost("lists").classes[key] = Estimate(mean=seconds, dev=0.0, known=True)


def test_a_batch_grows_only_while_its_earliest_row_stays_in_time(backend):
    history = [Event("t1")]

    async def scenario(batcher):
        admission = batcher.lanes["lists"]
        _per_row(admission, 0.1)  # predicted: a batch of r rows takes 0.1 r s
        admission.cost("hold").classes[True, 1] = Estimate(mean=0.2, dev=0.0, known=True)
        release = threading.Event()
        hold = asyncio.ensure_future(admission.run(time.perf_counter(), release.wait, "hold"))
        await asyncio.sleep(0.01)  # the thread is taken for a predicted 0.2 s
        now = time.perf_counter()

        def row() -> Row:
            return Row(history, 3, True, partial(backend.recommend, history, 3, True, *NO_FILTERS))

        calls = [asyncio.ensure_future(batcher.rank(backend, row(), now)) for _ in range(12)]
        await asyncio.sleep(0.01)
        release.set()
        await hold
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes, batches = _run(scenario, max_batch=32, deadline_s=1.05)
    served = [o for o in outcomes if not isinstance(o, Exception)]
    # 0.2 s ahead + 8 rows x 0.1 s = 1.0 s fits in 1.05 s; a ninth row would end at 1.1 s.
    assert len(served) == 8 and batches == [("lists", 8)]
    assert all(isinstance(o, Overloaded) and o.reason == "deadline" for o in outcomes[8:])


def test_rows_that_can_no_longer_finish_are_dropped_when_their_batch_starts(backend):
    history = [Event("t1")]
    want = _ids(backend.recommend(history, 3, True, *NO_FILTERS))

    async def scenario(batcher):
        admission = batcher.lanes["lists"]
        _per_row(admission, 0.02)
        admission.cost("hold").classes[True, 1] = Estimate(mean=0.05, dev=0.0, known=True)
        release = threading.Event()
        hold = asyncio.ensure_future(admission.run(time.perf_counter(), release.wait, "hold"))
        await asyncio.sleep(0.01)

        def row() -> Row:
            return Row(history, 3, True, partial(backend.recommend, history, 3, True, *NO_FILTERS))

        early, now = time.perf_counter() - 0.15, time.perf_counter()
        calls = [asyncio.ensure_future(batcher.rank(backend, row(), early)) for _ in range(2)]
        calls += [asyncio.ensure_future(batcher.rank(backend, row(), now)) for _ in range(3)]
        await asyncio.sleep(0.3)  # the hold, predicted 0.05 s, lasts 0.3 s
        release.set()
        await hold
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes, batches = _run(scenario, deadline_s=0.5)
    # When the thread comes the early rows have 0.05 s left, less than the batch: dropped.
    assert all(isinstance(o, Overloaded) and o.reason == "deadline" for o in outcomes[:2])
    assert [_ids(o) for o in outcomes[2:]] == [want] * 3
    assert batches == [("lists", 3)]


def test_playlists_in_their_own_lane_never_hold_up_ranked_lists(backend):
    history, seeds = [Event("t1")], [Event("t2"), Event("t5")]

    async def scenario():
        lists = Admission(concurrency=1, max_queue=8, deadline_s=60.0)
        playlists = Admission(1, 8, 60.0, lists.loop, lists.tail, name="segue-playlists")
        batcher = RecommendBatcher({"lists": lists, "playlists": playlists}, max_batch=8)
        release = threading.Event()
        try:  # the playlists' thread is busy (as with a long playlist)...
            hold = asyncio.ensure_future(playlists.run(time.perf_counter(), release.wait))
            await asyncio.sleep(0.01)
            playlist = asyncio.ensure_future(
                batcher.playlist(backend, seeds, 3, time.perf_counter())
            )
            alone = partial(backend.recommend, history, 3, True, *NO_FILTERS)
            row = Row(history, 3, True, alone)
            listing = await asyncio.wait_for(batcher.rank(backend, row, time.perf_counter()), 10)
            waiting = not playlist.done()  # ...while a list was served on the other lane
            release.set()
            await hold
            return listing, waiting, await playlist
        finally:
            release.set()
            lists.close()
            playlists.close()

    listing, waiting, playlist = asyncio.run(scenario())
    assert waiting and _ids(listing) == _ids(backend.recommend(history, 3, True, *NO_FILTERS))
    assert len(playlist.items) == 3
