"""This machine's fp32 matmul peak with torch: the denominator of "achieved GFLOP/s".

Run: python -m benchmarks.training_speed --peak-only --threads 1 2

Repeated ``a @ b`` of square float32 matrices at a few sizes, after a warm-up; the best and the
median rate of each size (``2 n^3`` FLOPs per product). The best over sizes is the peak.
"""

import time
from typing import Any

import numpy as np
import torch


def _matmul_rates(n: int, seconds: float, sample_s: float = 0.05) -> np.ndarray:
    """GFLOP/s of back-to-back ``a @ b`` products of (n, n) float32 matrices, one per sample.

    Each sample times enough products to last about ``sample_s``, so timer overhead is
    negligible even for small n. Samples are taken for ``seconds`` (at least three).
    """
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
    out = torch.empty(n, n)  # written in place: no allocation inside the timed loop
    for _ in range(3):  # warm-up: page faults, thread pool start, cache
        torch.matmul(a, b, out=out)
    start = time.perf_counter()
    torch.matmul(a, b, out=out)
    reps = max(1, round(sample_s / max(time.perf_counter() - start, 1e-9)))
    rates: list[float] = []
    began = time.perf_counter()
    while len(rates) < 3 or time.perf_counter() - began < seconds:
        start = time.perf_counter()
        for _ in range(reps):
            torch.matmul(a, b, out=out)
        rates.append(reps * 2 * n**3 / (time.perf_counter() - start) / 1e9)
    return np.array(rates)


def matmul_peak(threads: int = 1, size: int = 2048, seconds: float = 3.0) -> dict[str, Any]:
    """This machine's fp32 matmul peak with torch, at ``threads`` intra-op threads.

    Times (n, n) @ (n, n) float32 products at ``size``, ``size // 2`` and ``size // 4``
    (512, 1024 and 2048 by default), for about ``seconds`` each after a warm-up. The peak is
    the best sample over all sizes. torch's thread count is restored afterwards.

    Args:
        threads: torch intra-op threads for the measurement.
        size: Largest matrix side.
        seconds: Sampling time per size.

    Returns:
        ``gflops`` (best sample, all sizes), ``median_gflops`` (median sample at the size that
        gave the best), ``size`` (that size), ``threads`` and ``by_size`` ({n: {"gflops",
        "median_gflops"}}).
    """
    if threads < 1 or size < 1 or seconds <= 0:
        raise ValueError(f"need threads >= 1, size >= 1, seconds > 0; got {threads, size, seconds}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        sizes = sorted({max(1, size // 4), max(1, size // 2), size})
        by_size = {}
        for n in sizes:
            rates = _matmul_rates(n, seconds)
            by_size[n] = {"gflops": float(rates.max()), "median_gflops": float(np.median(rates))}
    finally:
        torch.set_num_threads(before)
    best = max(by_size, key=lambda n: by_size[n]["gflops"])
    return {
        "gflops": by_size[best]["gflops"],
        "median_gflops": by_size[best]["median_gflops"],
        "size": best,
        "threads": threads,
        "by_size": by_size,
    }
