"""The load benchmark's own pieces: the traffic mix, the phase figures and its HTTP client
against a real (tiny) server, so that a broken harness cannot print plausible numbers."""

from __future__ import annotations

import asyncio
from collections import Counter

from benchmarks.serve_load import fault_rate
from benchmarks.serve_traffic import Phase, Requests, closed_loop
from tests.serve.conftest import API_KEY


def test_the_mix_follows_the_issue():
    requests = Requests(n_tracks=1000, seed=0)
    kinds = Counter(requests.next()[0] for _ in range(5000))
    assert abs(kinds["recommend"] / 5000 - 0.7) < 0.03
    assert abs(kinds["event"] / 5000 - 0.2) < 0.03
    assert abs(kinds["continue"] / 5000 - 0.1) < 0.03
    ids = {int(requests.track()[1:]) for _ in range(2000)}
    assert min(ids) >= 0 and max(ids) < 1000


def test_phase_summary_counts_and_percentiles():
    phase = Phase("x", seconds=2.0)
    for ms in range(1, 101):
        phase.record(ms / 1000, 200, "recommend" if ms <= 50 else "continue")
    phase.record(0.5, 503, "event")
    phase.record(0.1, 0, "event")
    summary = phase.summary()
    assert summary["ok_per_s"] == 50.0 and summary["shed_503"] == 1 and summary["errors"] == 1
    assert summary["p50_ms"] == 50.5 and summary["p99_ms"] == 99.01
    # Per kind, of the accepted only: no event was accepted.
    assert summary["p99_ms_recommend"] == 49.51 and summary["p99_ms_continue"] == 99.51
    assert summary["p99_ms_event"] is None


def test_shed_in_a_window_counts_by_send_time():
    phase = Phase("fault", origin=100.0)
    for sent, status in [(100.5, 503), (101.0, 200), (102.5, 503), (104.0, 503), (104.2, 200)]:
        phase.record(0.01, status, "recommend", sent=sent)
    assert phase.shed_between(1.0, 4.0) == 2  # the 503s sent at 2.5 s and 4.0 s
    assert phase.shed_between(0.0, 10.0) == 3 and phase.shed_between(5.0, 9.0) == 0


def test_faults_run_at_the_sustained_rate_else_the_fastest_shed_free_one():
    rows = [
        {"phase": "capacity", "shed_503": 0, "errors": 0, "offered_per_s": None},
        {"phase": "rate@100", "shed_503": 4, "errors": 0, "offered_per_s": 100.0},
        {"phase": "rate@50", "shed_503": 0, "errors": 0, "offered_per_s": 50.0},
        {"phase": "rate@75", "shed_503": 0, "errors": 1, "offered_per_s": 75.0},
        {"phase": "rate@25", "shed_503": 0, "errors": 0, "offered_per_s": 25.0},
    ]
    assert fault_rate(rows, capacity=200.0) == 50.0
    assert fault_rate(rows[:2], capacity=200.0) == 50.0  # none shed-free: a quarter of capacity
    # With a sustained rate (the p99 target met), the faults run at it, even where a faster
    # step happened to shed nothing.
    sustained = {"phase": "sustained", "rate_per_s": 25.0}
    assert fault_rate([*rows, sustained], capacity=200.0) == 25.0
    none_met = {"phase": "sustained", "rate_per_s": None}
    assert fault_rate([*rows, none_met], capacity=200.0) == 50.0


def test_the_raw_client_reads_real_responses(server):
    # The tiny model knows t0..t39: the mix's ids beyond it are unknown but valid requests.
    phase = asyncio.run(closed_loop(server.url, API_KEY, Requests(40, 1), 4, 40, 30, "smoke"))
    summary = phase.summary()
    assert summary["requests"] == 40 and summary["errors"] == 0
    assert summary["statuses"].get("200", 0) + summary["shed_503"] == 40
