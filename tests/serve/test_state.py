"""Stored events, the in-process store, keys and settings (no server)."""

from __future__ import annotations

import asyncio

import pytest

from segue.serve.auth import load_keys
from segue.serve.events import Event
from segue.serve.settings import SETTINGS_ENV, ServeSettings
from segue.serve.store import MemoryStore


def test_memory_store_caps_events_evicts_and_expires():
    now = [0.0]
    store = MemoryStore(max_events=3, max_listeners=2, ttl_s=10, clock=lambda: now[0])

    async def scenario() -> None:
        held = await store.append("a", [Event(f"t{i}") for i in range(5)])
        assert [e.track_id for e in held.events] == ["t2", "t3", "t4"] and held.total == 5
        await store.append("b", [Event("t1")])
        await store.read("a")  # a is now the most recent
        await store.append("c", [Event("t1")])  # evicts b
        assert (await store.read("b")).total == 0 and (await store.read("a")).total == 5
        now[0] = 11.0
        assert (await store.read("a")).total == 0  # expired
        assert await store.delete("c") is False

    asyncio.run(scenario())
    assert store.evicted == 1


def test_keys_from_file_or_env(tmp_path, monkeypatch):
    key_file = tmp_path / "keys"
    key_file.write_text("first-key-0123456789\n\n  second-key-0123456789  \n")
    assert load_keys(str(key_file)) == [b"first-key-0123456789", b"second-key-0123456789"]
    monkeypatch.setenv("SEGUE_API_KEY", "short")
    with pytest.raises(ValueError, match="at least 16"):
        load_keys(None)
    monkeypatch.delenv("SEGUE_API_KEY")
    assert load_keys(None) == []


def test_settings_round_trip_and_checks(monkeypatch):
    settings = ServeSettings(model="m.pt", deadline_ms=50, redis_url="redis://x")
    monkeypatch.setenv(SETTINGS_ENV, settings.to_env())
    assert ServeSettings.from_env() == settings
    with pytest.raises(ValueError, match="max_queue must be > 0"):
        ServeSettings(model="m.pt", max_queue=0)
    with pytest.raises(ValueError, match="read_auth"):
        ServeSettings(model="m.pt", read_auth="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="switch_interval_ms must be > 0"):
        ServeSettings(model="m.pt", switch_interval_ms=0)
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="deadline_headroom"):
            ServeSettings(model="m.pt", deadline_headroom=bad)
    assert settings.planned_deadline_s == pytest.approx(0.045)  # 50 ms less the 10% reserve
    assert ServeSettings(model="m.pt", deadline_headroom=0).planned_deadline_s == 0.2
