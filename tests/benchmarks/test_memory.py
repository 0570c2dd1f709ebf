"""Peak memory of a worker is its own, not its parent's (ru_maxrss survives execve; VmHWM not)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from memory import peak_rss_mb  # noqa: E402


def test_a_child_of_a_large_parent_reports_its_own_peak():
    held = bytearray(300 * 1024 * 1024)
    held[::4096] = b"\x01" * len(held[::4096])  # touch every page: they become resident
    assert peak_rss_mb() > 300
    code = f"import sys; sys.path.insert(0, {str(BENCHMARKS)!r}); import memory as m\n"
    code += "print(m.peak_rss_mb())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    child = float(done.stdout)
    assert 0 < child < 100
    del held
