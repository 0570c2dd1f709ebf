"""Running estimates that admission control predicts a request's finish time with.

* :class:`Estimate`: the running mean and mean deviation of a duration (the smoothing of TCP's
  round-trip time, RFC 6298); ``high()`` is the mean plus two deviations, a cheap stand-in for
  a high percentile that follows a spell of slow calls within a few samples.
* :class:`CallCost`: the seconds of a model call of one kind as a function of its size. A call
  is ``rows`` requests (a batch) worth ``units`` of work (a ranked list is one unit, a playlist
  of ``n`` tracks ``n`` units: ``n`` model steps), averaged per unit in classes of size.
* :class:`LoopWatch`: the event loop's lag (how late a timer fires), sampled every 10 ms. A
  request's bytes wait in the socket that long before the server can stamp their arrival, and a
  finished model call waits that long before its response is written: time the deadline must
  cover that no timestamp sees.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

WEIGHT = 0.1
"""Weight of the newest sample in a running mean (and deviation)."""

FLOOR_RISE = 0.01
"""How far a slower sample lifts :attr:`Estimate.floor` toward itself: the floor tracks the
fastest recent calls, rising over hundreds of slower ones (a slower model after a reload), not
within a spell of contention."""

DEVIATIONS = 2.0
"""Deviations above the mean that :meth:`Estimate.high` adds."""


@dataclass
class Estimate:
    """Running mean and mean absolute deviation of a quantity (seconds).

    >>> e = Estimate()
    >>> e.update(0.010); (e.mean, e.dev, e.known)
    (0.01, 0.005, True)
    >>> e.update(0.020); round(e.mean, 4), round(e.dev, 4), round(e.high(), 4)
    (0.011, 0.0055, 0.022)
    >>> round(e.floor, 4)  # the fastest recent sample, lifted 1% of the way by a slower one
    0.0101
    """

    mean: float = 0.0
    dev: float = 0.0
    known: bool = False
    floor: float = 0.0

    def update(self, value: float) -> None:
        """Fold in one sample (the first one sets the mean and the floor, and half of it the
        deviation)."""
        if not self.known:
            self.mean, self.dev, self.known, self.floor = value, value / 2, True, value
            return
        self.dev += WEIGHT * (abs(value - self.mean) - self.dev)
        self.mean += WEIGHT * (value - self.mean)
        self.floor = value if value < self.floor else self.floor + FLOOR_RISE * (value - self.floor)

    def high(self) -> float:
        """The mean plus :data:`DEVIATIONS` deviations (0 until a sample arrived)."""
        return self.mean + DEVIATIONS * self.dev


@dataclass
class CallCost:
    """Seconds of one kind of model call, by its size.

    Calls are averaged per unit of work in classes of size: alone (one row) or batched, and
    the units rounded up to a power of two. Batching lowers the cost per unit several-fold as
    a batch grows (a fixed cost per call, one catalogue read for all rows), so one average per
    unit for every size would predict a batch of 32 from batches of 2 at several times its
    cost. A size never measured borrows the cost per unit of the nearest smaller class
    measured (never cheaper per unit than a smaller batch: a safe side), else of the nearest
    larger one.

    >>> cost = CallCost()
    >>> cost.expected(rows=4, units=4)  # nothing measured yet
    0.0
    >>> cost.update(0.004, rows=1, units=1); cost.expected(rows=1, units=1)
    0.004
    >>> cost.expected(rows=8, units=8)  # no batch measured yet: each row as if alone
    0.032
    >>> cost.update(0.016, rows=8, units=8); cost.expected(rows=8, units=8)
    0.016
    >>> cost.expected(rows=6, units=6), cost.expected(rows=32, units=32)  # same class; larger
    (0.012, 0.064)
    >>> cost.update(0.006, rows=2, units=2); round(cost.expected(rows=3, units=3), 6)
    0.009
    """

    classes: dict[tuple[bool, int], Estimate] = field(default_factory=dict)  # s per unit

    def update(self, seconds: float, rows: int, units: int) -> None:
        """Fold in a call of ``rows`` requests worth ``units`` that took ``seconds``."""
        key = (rows == 1, _size_class(units))
        self.classes.setdefault(key, Estimate()).update(seconds / max(units, 1))

    def expected(self, rows: int, units: int, high: bool = False, floor: bool = False) -> float:
        """Predicted seconds of a call of ``rows`` requests worth ``units`` (0: unknown);
        ``high``: the mean plus two deviations (:meth:`Estimate.high`) instead of the mean;
        ``floor``: what the fastest recent calls took (:attr:`Estimate.floor`), the call's own
        cost without contention."""
        alone, size = rows == 1, _size_class(units)
        same = sorted(s for a, s in self.classes if a == alone)
        smaller = [s for s in same if s <= size]
        other = sorted(s for a, s in self.classes if a != alone)  # batches before any alone
        if smaller:
            estimate = self.classes[alone, smaller[-1]]
        elif same:
            estimate = self.classes[alone, same[0]]
        elif other:
            estimate = self.classes[not alone, other[0]]
        else:
            return 0.0
        if floor:
            return estimate.floor * units
        return (estimate.high() if high else estimate.mean) * units


def _size_class(units: int) -> int:
    """``units`` rounded up to a power of two.

    >>> [_size_class(u) for u in (1, 2, 3, 4, 5, 32, 33)]
    [1, 2, 4, 4, 8, 32, 64]
    """
    return 1 << max(units - 1, 0).bit_length()


class LoopWatch:
    """Samples the running event loop's lag; :meth:`lag` is its high estimate in seconds."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self.interval_s = interval_s
        self.estimate = Estimate()
        self._task: asyncio.Task | None = None

    def lag(self) -> float:
        return self.estimate.high()

    def start(self) -> None:
        """Start sampling on the running loop (again after :meth:`stop`)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _watch(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(self.interval_s)
            self.estimate.update(max(0.0, time.perf_counter() - start - self.interval_s))
