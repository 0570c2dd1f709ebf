"""The int8 catalogue product as a loop that Numba compiles: one pass over the table per query.

onnxruntime's ``MatMulInteger`` (MLAS) streams a 1M x 64 int8 table at ~8 GB/s for one query
row on an AMD EPYC with AVX512-VNNI, about as slow as a float GEMV reads 4x the bytes. The
same product written as a plain loop over rows, each row an int8 x int16 dot product with an
integer accumulator, is vectorized by LLVM (Numba's backend) for the CPU it runs on: 3.5-3.8 ms
at 1M x 64 on that machine, against 7.1-7.6 ms for MLAS and 11.1-11.3 ms for the float GEMV
that ``Recommender`` serves (``benchmarks/retrieval.py --int8`` prints them back to back).

* The query is one int16 vector, not two int8 digit rows: the two digits ``q1, q2`` of
  :func:`segue.export.int8_kernel.query_digits` combine exactly into ``254 q1 + q2``
  (``|.| <= 32385``, :func:`segue.export.int8_kernel.combined_query`), so one pass gives the
  integers MLAS's two rows give after combining.
* The sums are int32 up to D = 518, where they cannot overflow (int64 beyond, at half the
  speed); the block's sums go to a small buffer that stays in cache.
* Each block of rows is then scaled in a second loop, ``float32(float32(y) * scale_i) * step``,
  the same float32 operations, in the same order, as the MLAS path: the two backends return
  bit-identical scores (tested). Fusing the scaling into the dot-product loop stopped LLVM
  from vectorizing it (7.3 ms), hence the two loops.
* Written over slices (``rows = table[a:b]``), not ``table[i, k]`` with offsets: over slices
  the scaling loop vectorizes (0.16 ms at 1M, against 0.95 ms).

The functions are compiled once per process, for the exact argument types, when a kernel is
built (~0.9 s with Numba's import), never cached to disk: nothing compiled is ever loaded from
a file. ``nogil`` lets several threads score at once, each with its own block buffer.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

BLOCK_ROWS = 256
"""Rows whose integer sums are kept at once: 1 kB of int32, in L1 with the block's 16 kB of rows
at D = 64 (at 1M x 64: 3.3 ms, against 3.7 ms with blocks of 1,024 or 4,096 rows)."""


def available() -> bool:
    """Whether Numba can be imported (extra "onnx")."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def compiled(wide: bool = False) -> Any:
    """The scoring function, compiled for its argument types on first use (once per process).

    ``score(table, queries, scales, steps, out, start, stop)`` writes
    ``out[b, i] = float32(float32(queries[b] . table[i]) * scales[i]) * steps[b]`` for rows
    ``start <= i < stop``: table (N, D) int8, queries (B, D) int16, scales (N,) float32,
    steps (B,) float32, out (B, N) float32, all C-contiguous. ``wide``: sum in int64 (see
    :func:`segue.export.int8_kernel.needs_wide_sums`); int32 sums vectorize twice as wide
    (3.3 ms against 6.9 ms at 1M x 64), so they are used wherever they cannot overflow.
    """
    from numba import njit

    jit = njit(nogil=True, boundscheck=False, cache=False)
    sum_type = np.int64 if wide else np.int32  # a compile-time constant of the loops below

    @jit
    def dots(rows, query, acc):
        dim = query.shape[0]
        for i in range(rows.shape[0]):
            total = sum_type(0)
            for k in range(dim):
                total += sum_type(rows[i, k]) * sum_type(query[k])
            acc[i] = total  # int32: LLVM then keeps the whole sum in 32-bit lanes

    @jit
    def scale(acc, scales, step, out):
        for j in range(out.shape[0]):
            out[j] = np.float32(np.float32(acc[j]) * scales[j]) * step

    @jit
    def score(table, queries, scales, steps, out, start, stop):
        acc = np.empty(BLOCK_ROWS, sum_type)
        for a in range(start, stop, BLOCK_ROWS):
            b = min(a + BLOCK_ROWS, stop)
            rows, block = table[a:b], acc[: b - a]
            for q in range(queries.shape[0]):
                dots(rows, queries[q], block)
                scale(block, scales[a:b], steps[q], out[q, a:b])

    arrays = "int8[:, ::1], int16[:, ::1], float32[::1], float32[::1], float32[:, ::1]"
    score.compile(f"({arrays}, int64, int64)")
    return score
