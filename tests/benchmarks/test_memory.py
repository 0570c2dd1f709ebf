"""Peak memory of a worker is its own, not its parent's (ru_maxrss survives execve; VmHWM not)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.memory import peak_rss_mb

REPO = Path(__file__).resolve().parents[2]


def test_a_child_of_a_large_parent_reports_its_own_peak():
    held = bytearray(300 * 1024 * 1024)
    held[::4096] = b"\x01" * len(held[::4096])  # touch every page: they become resident
    assert peak_rss_mb() > 300
    code = "from benchmarks.memory import peak_rss_mb; print(peak_rss_mb())"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    child = float(done.stdout)
    assert 0 < child < 100
    del held
