"""Move memory a library allocated for a large table into 2 MB pages (Linux), best effort.

A table streamed once per query (the int8 catalogue in onnxruntime's packed layout) costs a
TLB miss every 4 kB page it crosses; in 2 MB pages the same read is ~10% faster at 1M x 64.
numpy asks for such pages itself (``madvise(MADV_HUGEPAGE)`` on large arrays), but a library
that packs a copy in memory of its own does not, and offers no hook for its allocator. So we
note the process's anonymous mappings before the library builds, and after it advise the new
large ones: ``MADV_HUGEPAGE`` (future faults and khugepaged use 2 MB pages) and
``MADV_COLLAPSE`` (Linux >= 6.1: move the pages already there, now). Both only change how the
memory is backed, never its contents, so a mapping of something else caught in the window
costs nothing but the copy. Failures (another OS, transparent huge pages disabled, an older
kernel) are ignored: the table is then read from 4 kB pages, as before.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from numpy.typing import DTypeLike

MADV_HUGEPAGE = 14
MADV_COLLAPSE = 25

HUGE_PAGE = 2 << 20
MIN_BYTES = 4 << 20
"""Smaller new mappings are left alone: at most one whole 2 MB page fits in them."""


@contextmanager
def new_memory_in_huge_pages(min_bytes: int = MIN_BYTES) -> Iterator[None]:
    """Advise anonymous mappings of at least ``min_bytes`` created inside the block."""
    before = anonymous_mappings()
    yield
    fresh = anonymous_mappings() - before
    for start, end in sorted(fresh):
        if end - start >= min_bytes:
            advise_huge_pages(start, end)


def anonymous_mappings() -> set[tuple[int, int]]:
    """``(start, end)`` of this process's private anonymous writable mappings (empty off Linux)."""
    if not sys.platform.startswith("linux"):
        return set()
    spans = set()
    try:
        with open("/proc/self/maps", encoding="ascii") as maps:
            for line in maps:
                fields = line.split()
                # address perms offset dev inode [path]: anonymous memory has no path.
                if len(fields) == 5 and fields[1].startswith("rw"):
                    start, end = (int(part, 16) for part in fields[0].split("-"))
                    spans.add((start, end))
    except OSError:
        return set()
    return spans


def advise_huge_pages(start: int, end: int) -> bool:
    """Ask for 2 MB pages over the whole huge pages inside ``[start, end)``; True if the
    kernel moved them (``MADV_COLLAPSE``)."""
    first = -(-start // HUGE_PAGE) * HUGE_PAGE  # round up to a 2 MB boundary
    last = end // HUGE_PAGE * HUGE_PAGE
    if last <= first:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return False
    madvise = libc.madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    if madvise(first, last - first, MADV_HUGEPAGE) != 0:
        return False
    return madvise(first, last - first, MADV_COLLAPSE) == 0


def huge_page_array(shape: int | tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
    """An uninitialised array on 2 MB boundaries, advised into 2 MB pages before first use.

    numpy advises only arrays of 4 MiB and more, and from wherever malloc placed them: a
    1M-track float32 vector (4.0 MB) stays in 4 kB pages. For long-lived buffers read once
    per query (a kernel's row scales, its output scratch). Costs up to 2 MB of slack.
    """
    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    raw = np.empty(count * dtype.itemsize + HUGE_PAGE, dtype=np.uint8)
    offset = -raw.ctypes.data % HUGE_PAGE
    span = raw[offset : offset + count * dtype.itemsize]
    if span.nbytes >= HUGE_PAGE:
        first = span.ctypes.data
        advise_huge_pages(first, first + span.nbytes)
    return span.view(dtype).reshape(shape)
