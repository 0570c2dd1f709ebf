"""Exact best tracks through an int8 screen: score every track in int8, re-score only the few
that could still win.

On the CPU a request's catalogue product streams the whole float table (100k x 64 float32 is
25.6 MB: ~1.1 ms a GEMV on the 2-core machine of 2026-12-05). The same table in int8 is 6.4 MB,
and the int8 kernel scores it in ~0.45 ms (:mod:`segue.export.int8_kernel`; at 1M x 64, 3.7 ms
against 11.8 ms in float, 2026-12-06). Those
scores are off, but by a bounded amount, so they can decide which tracks are *certainly* out:

* For a query ``h`` and a track ``i`` with float row ``e_i`` and int8 row ``e'_i``, the screen's
  score differs from the float score by at most ``margin(h)``: ``||h||_2 * max_i ||e_i - e'_i||_2``
  (Cauchy-Schwarz, the table's rounding), plus the query digits' error
  (:meth:`Int8Kernel.query_error_bound`, at its largest row), plus float rounding.
* Take the list the screen's scores give (same masks, exclusions and per-artist cap as the
  request). Its k-th screen score ``a_k`` means k eligible tracks have a float score of at least
  ``a_k - margin``, so the true list's k-th score is at least that too (with a per-artist cap the
  greedy list is a matroid basis: its k-th score is at least the smallest of any eligible set).
  A track whose screen score is below ``a_k - 2 margin`` has a float score below
  ``a_k - margin``: it cannot enter the list.
* Every other track (typically a few dozen) is re-scored with the float table, and the list is
  taken from those exact scores by the exhaustive path's own :func:`top_k` (ties to the lower
  index, exclusions, cap). So the list is the exhaustive one; the only difference is float
  rounding in the candidates' dot products (a few ulps), which can swap tracks whose scores tie
  to within that rounding.

The screen stores the table once more in int8 (a quarter of the float table's bytes). On the
onnxruntime backend, onnxruntime keeps a packed copy too, plus its buffers: RSS grew by 55 MB for
a 100k x 64 table (24 MB in float) and by 150 MB at 1M (244 MB), after the build and 10 calls,
in a process where onnxruntime was already set up (its first session costs ~50 MB more, once).
The Numba backend keeps no copy but the table; Numba and LLVM cost ~140 MB once per process.

It ranks only rows with history (cold rows rank by popularity) and is skipped when a retrieval
index ranks instead (:mod:`segue.retrieval`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from segue.api.constraints import NEG_INF, ResolvedConstraints
from segue.api.queries import Queries
from segue.evaluation.ranking import Ranked, top_k, within_cap
from segue.export.int8_kernel import Int8Kernel, backend_installed
from segue.export.largest import largest_candidates
from segue.export.screen import SCREEN_DIGITS, ScreenBounds, floor_below, quantize_table

SCREEN_MAX_ROWS = 16
"""Calls ranking more rows than this score in float: the int8 GEMM grows compute-bound with
the rows, while a float GEMM reads the table once for all of them, and the screen's per-row
work (the prior's terms, the re-scoring) is not batched. With one query digit (100k x 64, one
thread, ``recommend_batch``, 2026-12-06): 3.4 vs 5.2 ms for one row, 5.2 vs 8.3 for 4, 12.4-12.8
vs 14.0-14.3 for 16, 22.6 vs 22.2 for 32 (at 1M the screen still wins at 32: 192 vs 258 ms).
Two digits broke even near 16 rows at 100k."""


@dataclass(frozen=True)
class Int8Screen:
    """An int8 copy of the catalogue table and how far its scores can be off.

    Args:
        kernel: The int8 GEMM over rows 0..V-1 (:class:`segue.export.int8_kernel.Int8Kernel`).
        bounds: How far its scores can be from the float table's (:mod:`segue.export.screen`).
    """

    kernel: Int8Kernel
    bounds: ScreenBounds

    @classmethod
    def build(
        cls, table: torch.Tensor, threads: int | None = None, digits: int = SCREEN_DIGITS
    ) -> Int8Screen:
        """Quantize ``table`` (V, D) float32 per row and build its kernel (needs onnxruntime)
        with ``digits`` int8 digits per query."""
        values, scales, bounds = quantize_table(table.detach().float().cpu().numpy())
        return cls(Int8Kernel(values, scales, threads, digits), bounds)

    def scores(self, hidden: np.ndarray) -> np.ndarray:
        """Screen scores of every index, a new (B, V) float32 array (padding not masked).

        Args:
            hidden: Queries, (B, D) float32.
        """
        return self.kernel.score_array(hidden)


def can_screen(table: torch.Tensor) -> bool:
    """Whether a screen can serve ``table``: float32 on the CPU, an int8 kernel installed."""
    on_cpu = table.device.type == "cpu" and table.dtype == torch.float32
    return on_cpu and backend_installed()


def screened_rank(
    screen: Int8Screen,
    embeddings: torch.Tensor,
    queries: Queries,
    excluded: Sequence[np.ndarray] | None,
    constraints: ResolvedConstraints,
    k: int,
    artist_of_track: np.ndarray,
) -> Ranked | None:
    """:func:`segue.api.ranking.exhaustive_rank`'s lists for rows with history, through the
    screen; None when a row has fewer than ``k`` eligible tracks (the caller ranks it
    exhaustively: the screen's bound needs k of them).

    Args:
        screen: The catalogue's screen.
        embeddings: The float table, (V, D).
        queries: Rows to rank, all with history.
        excluded: Per row, track indices never recommended, or None.
        constraints: The request's bans and per-artist cap.
        k: List length.
        artist_of_track: Artist index of each track, (V,).
    """
    cap = constraints.max_per_artist
    k = min(k, len(embeddings) - 1)  # as wide as the exhaustive path's lists
    hidden = _numpy_queries(queries)
    approx = _masked_screen_scores(screen, hidden, queries, constraints.mask).numpy()  # (B, V)
    if excluded is not None:  # the screen's own array: exact scores are computed apart
        for row, played in enumerate(excluded):
            approx[row, played] = NEG_INF
    if cap is None:  # the k-th best screen score of each row, from its few candidates
        kth, best = np.empty(len(approx), np.float32), np.empty(len(approx), np.float32)
        for row, scores in enumerate(approx):
            pool = scores[largest_candidates(scores, k)]  # (n,), n >= k
            kth[row], best[row] = -np.partition(-pool, k - 1)[k - 1], pool.max()
    else:  # the k-th of the capped list on screen scores
        first = top_k(approx, k, None, artist_of_track=artist_of_track, max_per_artist=cap)
        kth, best = first.scores[:, -1], first.scores[:, 0]
    if not np.isfinite(kth).all():
        return None
    floor = floor_below(kth, best, hidden, screen.bounds, screen.kernel.digits)  # (B,)
    shape = (len(hidden), k)
    out = Ranked(np.zeros(shape, np.int64), np.full(shape, NEG_INF, np.float32))
    for row in range(len(hidden)):
        cols = np.flatnonzero(approx[row] >= floor[row])  # ascending
        exact = _dots(embeddings, hidden[row], cols)
        if queries.prior is not None:
            picks = torch.from_numpy(cols)[None]
            exact += queries.select(np.array([row])).prior_at(picks)[0].numpy()
        order = np.lexsort((cols, -exact))  # best first, ties to the lower index (as top_k)
        if cap is not None:
            order = order[within_cap(artist_of_track[cols[order]][None], cap)[0]]
        order = order[:k]
        out.indices[row, : len(order)] = cols[order]
        out.scores[row, : len(order)] = exact[order]
    return out


def screened_best(
    screen: Int8Screen,
    embeddings: torch.Tensor,
    queries: Queries,
    mask: Callable[[torch.Tensor], None],
) -> tuple[int, float] | None:
    """The best track of one query (B = 1) after ``mask`` and its float score, through the
    screen; None when ``mask`` leaves no track. Ties go to the lower index, as ``argmax``'s.

    Args:
        screen: The catalogue's screen.
        embeddings: The float table, (V, D).
        queries: One row with history.
        mask: Sets the scores of tracks that may not be picked to -inf, in place, (V,).
    """
    hidden = _numpy_queries(queries)
    approx = _masked_screen_scores(screen, hidden, queries, lambda s: mask(s[0])).numpy()[0]
    best = int(approx.argmax())  # the first of equal maxima, as torch.argmax
    top = approx[best]
    if not np.isfinite(top):
        return None
    top_row = np.array([top])
    floor = floor_below(top_row, top_row, hidden, screen.bounds, screen.kernel.digits)[0]
    cols = np.flatnonzero(approx >= floor)  # ascending: argmax keeps the lower index
    exact = _dots(embeddings, hidden[0], cols)  # (n,)
    if queries.prior is not None:
        exact += queries.prior_at(torch.from_numpy(cols)[None])[0].numpy()
    pick = int(exact.argmax())
    return int(cols[pick]), float(exact[pick])


def _numpy_queries(queries: Queries) -> np.ndarray:
    return np.ascontiguousarray(queries.hidden.detach().float().cpu().numpy())  # (B, D)


def _masked_screen_scores(
    screen: Int8Screen,
    hidden: np.ndarray,
    queries: Queries,
    mask: Callable[[torch.Tensor], None],
) -> torch.Tensor:
    """Screen scores with the prior's terms, padding and ``mask`` applied, (B, V)."""
    approx = queries.add_prior(torch.from_numpy(screen.scores(hidden)))
    approx[:, 0] = NEG_INF
    mask(approx)
    return approx


def _dots(embeddings: torch.Tensor, query: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Float scores ``embeddings[cols] . query``, (n,) float32: one GEMV through numpy's BLAS,
    as the exhaustive path's product."""
    return embeddings.numpy()[cols] @ query
