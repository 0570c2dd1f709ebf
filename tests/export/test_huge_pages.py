"""Moving memory into 2 MB pages: contents untouched, and the pages really move (Linux)."""

from __future__ import annotations

import mmap
import sys
from pathlib import Path

import numpy as np
import pytest

from segue.export import huge_pages

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def _huge_kb_in(start: int, end: int) -> int:
    """AnonHugePages of the mapping that holds [start, end), from /proc/self/smaps."""
    current = None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and ":" not in head:
            lo, hi = (int(part, 16) for part in head.split("-"))
            current = (lo, hi)
        elif line.startswith("AnonHugePages:") and current and current[0] <= start < current[1]:
            return int(line.split()[1])
    return 0


def _private(size: int) -> mmap.mmap:
    """Private anonymous memory, as malloc maps it (Python's default mmap is shared)."""
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


def _thp_usable() -> bool:
    return sys.platform.startswith("linux") and THP.exists() and "[never]" not in THP.read_text()


def test_large_mappings_made_in_the_block_are_advised(monkeypatch):
    advised = []
    monkeypatch.setattr(huge_pages, "advise_huge_pages", lambda a, b: advised.append((a, b)))
    before = huge_pages.anonymous_mappings()
    with huge_pages.new_memory_in_huge_pages(min_bytes=8 << 20):
        big = _private(16 << 20)
    if not sys.platform.startswith("linux"):
        assert advised == []
        return
    start = np.frombuffer(big, dtype=np.uint8).ctypes.data
    assert any(a <= start < b for a, b in advised)
    # Only mappings that are new (or grew: the kernel merges neighbours) are touched.
    assert all((a, b) not in before for a, b in advised)
    assert all(b - a >= 8 << 20 for a, b in advised)


@pytest.mark.skipif(not _thp_usable(), reason="transparent huge pages unavailable here")
def test_collapse_moves_written_memory_into_huge_pages_without_changing_it():
    area = _private(8 << 20)
    data = np.frombuffer(area, dtype=np.uint8)
    data[:] = np.arange(data.size, dtype=np.int64) % 251  # faulted in as 4 kB pages
    start = data.ctypes.data
    assert _huge_kb_in(start, start + data.size) == 0
    if not huge_pages.advise_huge_pages(start, start + data.size):
        pytest.skip("MADV_COLLAPSE refused (kernel < 6.1 or no free huge pages)")
    assert _huge_kb_in(start, start + data.size) >= 2048
    np.testing.assert_array_equal(data, np.arange(data.size, dtype=np.int64) % 251)


def test_huge_page_array_is_aligned_and_usable():
    array = huge_pages.huge_page_array((1000, 3), np.float32)
    assert array.shape == (1000, 3) and array.dtype == np.float32
    assert array.ctypes.data % huge_pages.HUGE_PAGE == 0
    array[:] = 1.5
    assert float(array.sum()) == 4500.0


def test_spans_too_small_for_a_huge_page_are_left_alone():
    assert huge_pages.advise_huge_pages(4096, 4096 + (1 << 20)) is False
