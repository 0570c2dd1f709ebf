"""The load benchmark's own pieces: the traffic mix, the phase figures and its HTTP client
against a real (tiny) server, so that a broken harness cannot print plausible numbers."""

from __future__ import annotations

import asyncio
from collections import Counter

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


def test_the_raw_client_reads_real_responses(server):
    # The tiny model knows t0..t39: the mix's ids beyond it are unknown but valid requests.
    phase = asyncio.run(closed_loop(server.url, API_KEY, Requests(40, 1), 4, 40, 30, "smoke"))
    summary = phase.summary()
    assert summary["requests"] == 40 and summary["errors"] == 0
    assert summary["statuses"].get("200", 0) + summary["shed_503"] == 40
