"""Keep the long-lived start-up heap out of Python's cyclic garbage collections.

A serving process holds ~315,000 objects the collector tracks once torch, pandas, numpy and the
model are loaded, nearly all of them modules' functions, classes and constants that live as
long as the process. A full (oldest-generation) collection walks all of them while holding the
GIL: 150-165 ms in a `segue serve` process on the 2-core machine (2026-12-06, measured with
``gc.callbacks``), every call in flight stalled that long. Such collections ran during load
phases of the serving benchmark.

``gc.freeze()`` moves every tracked object into a permanent generation that later collections
skip (the CPython documentation suggests it for pre-fork servers; here it is the pause it
removes). Done once, after the model is loaded and warmed: what a reload builds later is
collected as usual. Frozen objects are still freed by reference counting; only a reference
cycle among them would never be collected, and the start-up heap holds none worth the name (a
backend dropped on reload leaves no cyclic garbage, measured).
"""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Collect the young generations (start-up temporaries), then freeze what is left."""
    gc.collect(1)
    gc.freeze()
