"""The admission queue in process: refusals by queue length and by predicted finish (work ahead,
the call itself, the tail after it, the event loop's lag), a second check when the call gets
its thread, and never a refusal when idle."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from segue.serve.estimates import Estimate, LoopWatch
from segue.serve.limits import Admission, Overloaded, Ticket


def _known(mean: float) -> Estimate:
    """An estimate that has seen ``mean`` many times (no deviation)."""
    return Estimate(mean=mean, dev=0.0, known=True, floor=mean)


def _costs(admission: Admission, **per_call: float) -> None:
    for kind, seconds in per_call.items():
        admission.cost(kind).classes[True, 1] = _known(seconds)


def test_queue_full_and_deadline_refusals_and_idle_admission():
    async def scenario() -> None:
        admission = Admission(concurrency=1, max_queue=2, deadline_s=0.5)
        release = threading.Event()
        first = asyncio.ensure_future(admission.run(time.perf_counter(), release.wait, "slow"))
        await asyncio.sleep(0.05)  # first holds the only thread
        waiting = [
            asyncio.ensure_future(admission.run(time.perf_counter(), lambda: 1, "fast"))
            for _ in range(2)
        ]
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded) as full:
            await admission.run(time.perf_counter(), lambda: 1, "fast")
        assert full.value.reason == "queue_full"
        with pytest.raises(Overloaded) as late:  # its deadline passed before it arrived here
            await admission.run(time.perf_counter() - 1.0, lambda: 1, "fast")
        assert late.value.reason in ("deadline", "queue_full")
        release.set()
        assert await first is True
        assert await asyncio.gather(*waiting) == [1, 1]
        # An estimate above the deadline does not refuse a call when nothing is queued.
        _costs(admission, slow=10.0)
        assert await admission.run(time.perf_counter(), lambda: 2, "slow") == 2
        assert admission.expected("slow") < 10.0  # and the estimate comes down again
        admission.close()

    asyncio.run(scenario())


def test_work_ahead_the_call_itself_the_tail_and_the_loop_lag_all_count():
    async def scenario() -> None:
        admission = Admission(concurrency=1, max_queue=8, deadline_s=0.5)
        _costs(admission, batch=0.3, small=0.1)
        now = time.perf_counter()
        assert admission.refusal(now, "batch") is None  # idle: always tried
        assert admission.refusal(now - 0.6) == "deadline"
        ticket = admission.enter(now, "batch")  # 0.3 s queued
        assert admission.ahead() == pytest.approx(0.3)
        assert admission.refusal(now) is None  # 0.3 s ahead fits in 0.5 s
        assert admission.refusal(now, "batch") == "deadline"  # but not with a batch of its own
        assert admission.refusal(now, "small") is None  # 0.3 + 0.1
        admission.tail = _known(0.15)  # answering after the model call takes time too
        assert admission.refusal(now) is None and admission.refusal(now, "small") == "deadline"
        admission.loop.estimate = _known(0.1)  # so does the loop before the arrival stamp
        assert admission.refusal(now) == "deadline"
        admission.leave(ticket)
        admission.close()

    asyncio.run(scenario())


def test_a_call_that_waited_longer_than_predicted_is_refused_when_its_thread_comes():
    async def scenario() -> None:
        admission = Admission(concurrency=1, max_queue=8, deadline_s=0.3)
        _costs(admission, blocker=0.01, fast=0.01)  # the blocker is predicted short...
        release, ran = threading.Event(), []
        blocker = asyncio.ensure_future(admission.run(time.perf_counter(), release.wait, "blocker"))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(
            admission.run(time.perf_counter(), lambda: ran.append(1), "fast")
        )
        await asyncio.sleep(0.35)  # ...but holds the thread past the second one's deadline
        release.set()
        with pytest.raises(Overloaded) as late:
            await second
        assert late.value.reason == "deadline" and ran == []  # refused without running
        with pytest.raises(Overloaded):  # it overran an estimate that fitted: 503 too
            await blocker
        assert admission.refusal(time.perf_counter()) is None  # nothing left queued
        admission.close()

    asyncio.run(scenario())


def test_the_loop_watch_sees_a_blocked_loop():
    async def scenario() -> float:
        watch = LoopWatch(interval_s=0.005)
        watch.start()
        await asyncio.sleep(0.03)
        quiet = watch.lag()
        time.sleep(0.1)  # blocks the loop: the next timer fires 0.1 s late
        await asyncio.sleep(0.03)
        watch.stop()
        return quiet, watch.lag()

    quiet, blocked = asyncio.run(scenario())
    assert blocked > quiet and blocked >= 0.01


def test_a_queued_call_running_past_the_deadline_answers_503_and_frees_its_thread_later():
    async def scenario() -> None:
        admission = Admission(concurrency=1, max_queue=8, deadline_s=0.3)
        _costs(admission, short=0.01)
        first_done, release = threading.Event(), threading.Event()
        first = asyncio.ensure_future(
            admission.run(time.perf_counter(), lambda: first_done.wait(5), "short")
        )
        await asyncio.sleep(0.01)
        start = time.perf_counter()
        late = asyncio.ensure_future(admission.run(start, lambda: release.wait(5), "short"))
        await asyncio.sleep(0.01)
        first_done.set()  # the queued call gets the thread, then hangs past its deadline
        assert await first is True
        with pytest.raises(Overloaded) as error:
            await late
        assert error.value.reason == "deadline"
        assert time.perf_counter() - start < 0.5  # answered at its deadline, not the call's end
        third = asyncio.ensure_future(admission.run(time.perf_counter(), lambda: 3, "short"))
        await asyncio.sleep(0.05)
        assert not third.done()  # the hung call still holds the thread...
        release.set()
        assert await third == 3  # ...until it ends
        admission.close()

    asyncio.run(scenario())


def test_an_idle_call_answers_503_at_its_deadline_if_it_overruns_an_estimate_that_fitted():
    async def scenario() -> None:
        admission = Admission(concurrency=1, max_queue=8, deadline_s=0.2)
        _costs(admission, short=0.01, long=1.0)
        release = threading.Event()
        start = time.perf_counter()
        with pytest.raises(Overloaded) as error:  # nothing ahead, expected 10 ms, hangs
            await admission.run(start, lambda: release.wait(5), "short")
        assert error.value.reason == "deadline"
        assert time.perf_counter() - start < 0.4  # at its deadline, not the call's end
        # After a slow spell (mean 1 s) a kind whose fastest recent calls took 10 ms could
        # still end in time: cut at its deadline too.
        release.set()
        await asyncio.sleep(0.05)  # the hung call ends and frees the thread
        admission.cost("spell").classes[True, 1] = Estimate(1.0, 0.5, True, floor=0.01)
        hang, start = threading.Event(), time.perf_counter()
        with pytest.raises(Overloaded):
            await admission.run(start, lambda: hang.wait(5), "spell")  # admitted idle
        assert time.perf_counter() - start < 0.4
        hang.set()
        await asyncio.sleep(0.05)
        # A kind whose fastest calls exceed the deadline still runs when idle, and is answered.
        slow = time.perf_counter()
        assert await admission.run(slow, lambda: (time.sleep(0.3), 7)[1], "long") == 7
        assert time.perf_counter() - slow >= 0.3
        admission.close()

    asyncio.run(scenario())


def test_a_result_the_loop_sees_only_after_the_deadline_is_answered_503():
    """A call that ended on its thread, but whose result the event loop reaches only after the
    deadline (a loop kept busy by overload runs the timer late too): the answer would be late,
    so it is a 503, not a late 200. Both tickets that are held to their deadline."""

    async def scenario() -> None:
        admission = Admission(concurrency=1, max_queue=8, deadline_s=0.2)
        for ticket in (Ticket("short", 0.01, waited=True), Ticket("short", 0.01, waited=False)):
            job: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            job.set_result(5)  # ended in time, seen late
            with pytest.raises(Overloaded) as error:
                await admission.in_time(job, time.perf_counter() - 0.3, ticket)
            assert error.value.reason == "deadline"
            fresh: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            fresh.set_result(6)
            assert await admission.in_time(fresh, time.perf_counter(), ticket) == 6
        admission.close()

    asyncio.run(scenario())
