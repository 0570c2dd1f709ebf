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
