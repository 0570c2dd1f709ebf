"""The int8 screen's arithmetic in numpy: row quantization, the error bound, the floor.

Shared by :mod:`segue.api.int8_screen` (``Recommender``) and the torch-free ONNX serving backend
(:mod:`segue.serve.onnx_backend`); the module docstring of :mod:`segue.api.int8_screen` says
why a list taken from the exact scores of the tracks above the floor is the exhaustive list.
numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segue.export.int8_kernel import DIGIT_RATIO, QMAX

SCREEN_MIN_TRACKS = 50_000
"""Catalogues from this many tracks get a screen by default. Below it the float table is small
enough to stay largely in cache and the screen's fixed costs match what it saves: on a trained
30Music model (48,862 tracks, history prior) a single list was 1.07-1.1x faster, a greedy
playlist no faster; at 100k tracks 1.3-1.4x (``python -m benchmarks.int8_screen``)."""

SCREEN_DIGITS = 1
"""int8 digits per query of a screen's kernel (:class:`segue.export.int8_kernel.Int8Kernel`).
One digit is the plain int8 GEMV: its scores are further off, so the margin doubles and about
twice as many tracks are re-scored in float (45 vs 22 per list at 100k, 61 vs 28 at 1M), but
the GEMM has one row and no digit combination. The lists are the exhaustive ones either way.
Measured 2026-12-06 against two digits, one thread, back to back: a list 2.44 vs 2.55 ms at
100k and 11.8 vs 12.0 ms at 1M; a greedy 10-track playlist 17.1 vs 19.4 ms and 76 vs 89 ms."""

BUILD_BLOCK_ROWS = 1 << 16
"""Rows quantized at once when a screen is built (16 MB of float32 at D = 64)."""

FLOAT_SLACK = 1e-5
"""Relative allowance for float32 rounding in both products and in the prior's sums, far above
the ``~64 * 2**-24`` a 64-wide dot product can accumulate."""


@dataclass(frozen=True)
class ScreenBounds:
    """How far the int8 kernel's scores can be from the float scores of a table.

    Args:
        residual_norm: ``max_i ||e_i - e'_i||_2``, rounded up.
        digit_error: ``max_i scale_i ||v_i||_1 / 2``: times the step of a query's last int8
            digit (``s2`` with two digits, ``s1`` with one), the largest error of its digits.
        max_row_norm: ``max_i ||e_i||_2``, for the float rounding allowance.
    """

    residual_norm: float
    digit_error: float
    max_row_norm: float

    def margin(self, hidden: np.ndarray, best: np.ndarray, digits: int) -> np.ndarray:
        """Largest ``|screen score - float score|`` of each query, (B,) float64.

        Args:
            hidden: Queries, (B, D) float32.
            best: Largest finite screen score of each row (prior terms included), (B,): the
                scale of the prior sums' rounding.
            digits: The kernel's int8 digits per query (1 or 2).
        """
        h = np.asarray(hidden, dtype=np.float64)
        norm = np.sqrt(np.einsum("bd,bd->b", h, h))  # (B,)
        last_step = np.abs(h).max(axis=1) / (QMAX * DIGIT_RATIO ** (digits - 1))  # (B,)
        rounding = FLOAT_SLACK * (norm * self.max_row_norm + np.abs(best) + 1)
        return norm * self.residual_norm + last_step * self.digit_error + rounding


def quantize_table(table: np.ndarray) -> tuple[np.ndarray, np.ndarray, ScreenBounds]:
    """Per-row int8 quantization of a float table and its bounds, in one pass over blocks of
    rows.

    The formula of :meth:`segue.compress.int8.Int8Rows.quantize`: ``scale = max|row| / 127``,
    ``v = round(row / scale)``; all-zero rows stay zero.

    Args:
        table: (V, D) float32.

    Returns:
        Values (V, D) int8, scales (V,) float32, and the bounds of their scores.
    """
    values = np.empty(table.shape, dtype=np.int8)
    scales = np.empty(len(table), dtype=np.float32)
    residual, digit, norm = 0.0, 0.0, 0.0
    for start in range(0, len(table), BUILD_BLOCK_ROWS):
        block = np.asarray(table[start : start + BUILD_BLOCK_ROWS], dtype=np.float32)
        scale = np.abs(block).max(axis=1) / np.float32(QMAX)  # (n,) float32
        safe = np.where(scale > 0, scale, np.float32(1.0))
        quantized = np.clip(np.rint(block / safe[:, None]), -QMAX, QMAX)  # (n, D)
        stop = start + len(block)
        values[start:stop], scales[start:stop] = quantized, scale
        step = scale.astype(np.float64)
        exact = block.astype(np.float64)
        rounding = exact - quantized * step[:, None]  # (n, D): what the int8 rows miss
        residual = max(residual, _row_max(np.linalg.norm(rounding, axis=1)))
        digit = max(digit, _row_max(step * np.abs(quantized).sum(axis=1)) / 2)
        norm = max(norm, _row_max(np.linalg.norm(exact, axis=1)))
    bounds = ScreenBounds(
        residual_norm=residual * (1 + FLOAT_SLACK),
        digit_error=digit * (1 + FLOAT_SLACK),
        max_row_norm=norm,
    )
    return values, scales, bounds


def _row_max(per_row: np.ndarray) -> float:
    return float(per_row.max(initial=0.0))


def floor_below(
    kth: np.ndarray, best: np.ndarray, hidden: np.ndarray, bounds: ScreenBounds, digits: int
) -> np.ndarray:
    """Screen scores below this, per row, cannot reach a list whose k-th screen score is
    ``kth`` (its best ``best``): ``kth - 2 margin``, (B,). ``digits``: the kernel's."""
    return kth - 2 * bounds.margin(hidden, best, digits)
