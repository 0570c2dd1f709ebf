"""The serving process settles its start-up heap: frozen out of later full collections."""

from __future__ import annotations

import gc
import weakref

from segue.serve import service as service_module
from segue.serve.heap import settle_heap
from segue.serve.metrics import Metrics
from segue.serve.settings import ServeSettings


def test_settle_heap_freezes_what_is_tracked_and_collects_young_cycles():
    class Node:
        pass

    gc.unfreeze()
    try:
        node = Node()
        node.self = node  # young cyclic garbage: collected, not frozen
        gone = weakref.ref(node)
        del node
        before = len(gc.get_objects())
        settle_heap()
        assert gone() is None
        assert gc.get_freeze_count() > 0.9 * before
        assert len(gc.get_objects()) < 100  # only what was made since is still tracked
    finally:
        gc.unfreeze()


def test_the_service_warms_then_settles_its_heap_at_start(models, monkeypatch):
    calls: list[str] = []
    real_load = service_module.Service._load

    def load(self):
        backend = real_load(self)
        real_warm = backend.warm
        backend.warm = lambda: (calls.append("warm"), real_warm())[1]
        return backend

    monkeypatch.setattr(service_module.Service, "_load", load)
    monkeypatch.setattr(service_module, "settle_heap", lambda: calls.append("settle"))
    service_module.Service(ServeSettings(model=str(models.checkpoint)), Metrics())
    assert calls == ["warm", "settle"]
