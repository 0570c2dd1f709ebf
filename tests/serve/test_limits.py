"""The admission queue in process: refusals by queue length and by deadline, never when idle."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from segue.serve.limits import Admission, Overloaded


def test_queue_full_and_deadline_refusals_and_idle_admission():
    async def scenario() -> None:
        admission = Admission(concurrency=1, max_queue=2, deadline_s=0.5)
        release = threading.Event()
        loop_start = time.perf_counter()
        first = asyncio.ensure_future(admission.run(loop_start, release.wait, "slow"))
        await asyncio.sleep(0.05)  # first holds the only slot
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
        # An average above the deadline does not refuse a call when nothing is queued.
        admission.durations["slow"] = 10.0
        assert await admission.run(time.perf_counter(), lambda: 2, "slow") == 2
        assert admission.durations["slow"] < 10.0  # and the average comes down again
        admission.close()

    asyncio.run(scenario())


def test_refusal_without_a_kind_counts_only_the_work_queued_ahead():
    admission = Admission(concurrency=1, max_queue=8, deadline_s=0.5)
    now = time.perf_counter()
    assert admission.refusal(now) is None and admission.refusal(now - 0.6) == "deadline"
    admission.active, admission.queued_seconds = 1, 0.4  # one call queued or running
    assert admission.refusal(now) is None  # 0.4 s ahead fits in 0.5 s
    admission.durations["batch"] = 0.2
    assert admission.refusal(now, "batch") == "deadline"  # but not with a batch of its own
    admission.queued_seconds = 0.6
    assert admission.refusal(now) == "deadline"
    admission.waiting = 8
    assert admission.refusal(now) == "queue_full"
    admission.close()
