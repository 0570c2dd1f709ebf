"""Exact int8 catalogue scores on an integer product: the table never becomes float.

Two backends compute the same integers and the same float32 scores, bit for bit: a loop that
Numba compiles (:mod:`segue.export.int8_numba`, the default where Numba imports: one pass over
the table per query, 3.5-3.8 ms at 1M x 64 where MLAS takes 7.1-7.6 ms) and onnxruntime's
``MatMulInteger``, described here. Everything below about digits, scales and error bounds
holds for both; what is said of sessions, shards, packing and pages is the onnxruntime one's.

Scoring the int8 table by converting row chunks to float32 and multiplying is compute-bound:
the conversion costs as much as the product, so reading 4x fewer bytes bought only ~1.7x. Here
the product itself runs on int8 data, in onnxruntime's ``MatMulInteger`` (MLAS's u8 x u8 GEMM
with zero points, int32 accumulation, which is exact):

* The table is stored once more, transposed, as a constant of an onnxruntime session, which
  packs it for its kernel once, at build time. Sessions hold at most ``SHARD_BYTES`` of table
  each: protobuf caps a model at 2 GB. The table stays int8 (a u8 x s8 GEMM) where that
  product is exact on this CPU, else it is shifted to uint8 (``v + 128``, zero point 128; a
  u8 x u8 GEMM). MLAS's u8 x s8 kernel for AVX2 without VNNI sums pairs of products in int16,
  which saturates for full-range weights (errors of 1.8e4 in an int32 result, measured); with
  VNNI (AVX512-VNNI, AVX-VNNI) it accumulates in int32 and is exact: on an AMD EPYC with
  AVX512-VNNI the two-digit kernel scored a 1M x 64 table 1.26x faster with it. Which kernel MLAS
  picks is its own business, so :func:`signed_gemm_is_exact` asks it: one small product built
  to saturate int16, compared with int64 arithmetic, once per process.
* The query is not int8. By default (``digits=2``) it is written as two int8
  "digits": ``h ~ s1 q1 + s2 q2`` with
  ``q1 = round(h / s1)``, ``s1 = max|h| / 127``, and ``q2`` the residual in steps of exactly
  ``s2 = s1 / 254`` (the residual is at most ``s1 / 2``, so ``|q2| <= 127``). Both digits go
  through one GEMM (a 2-row left operand costs about what a 1-row one does: the table is read
  once). Because the steps have a fixed integer ratio, the two int32 results combine in
  integers, ``254 y1 + y2``, and one float pass applies ``s2 * scale_i``. (The combination
  was a Cast + MatMul + Mul in the graph, 2.0 ms at 1M tracks, one thread; in numpy it is
  ~1 ms, against ~5 ms for the GEMM.)
* ``digits=1`` is the plain int8 GEMV: the query rounded to one int8 digit, as every
  int8 inference engine quantizes its activations. One output row instead of two and no
  combination: 1M x 64 scored in ~5.2 ms where the float GEMV takes 12.6-13.2 ms (6.2-6.4 ms
  with two digits). Its scores move by the query's own rounding, ``scale_i ||v_i||_1 s1 / 2``,
  about as much as the table's.
* onnxruntime packs the table in memory of its own, in 4 kB pages: a table streamed once per
  query then costs a TLB miss every 4 kB. The pages it allocated while building are moved to
  2 MB pages (:mod:`segue.export.huge_pages`), as numpy does for the float table: ~10% faster
  at 1M tracks.

Departure from :meth:`Int8Rows.scores`: the last digit leaves the query off by at most half
its step per component, so a score differs from the chunked reference by at most
``scale_i * ||v_i||_1 * step / 2`` (:meth:`Int8Kernel.query_error_bound`). With two digits
that is ~``127 * 254`` times smaller than the query's own size, and about 100x below the int8
table's rounding bound; with one, about the table's bound.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import itertools
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from segue.export import int8_numba
from segue.export.huge_pages import huge_page_array, new_memory_in_huge_pages

if TYPE_CHECKING:  # torch only for the tensor API: the torch-free server uses score_array
    import torch

ZERO_POINT = 128
"""uint8 zero point of both operands: int8 values v are stored as v + 128."""

QMAX = 127

DIGIT_RATIO = 2 * QMAX
"""``s1 / s2``: the first digit's step in units of the second's."""

MAX_COMBINED = DIGIT_RATIO * QMAX + QMAX
"""Largest ``|254 q1 + q2|`` of a query's two digits combined (32,385: an int16)."""

DIGIT_COUNTS = (1, 2)
"""Query digits the kernel can take: 1 (the int8 GEMV) or 2 (float-query precision)."""

CPU_ONLY = ["CPUExecutionProvider"]

SCRATCH_MAX_ENTRIES = 1 << 24
"""Largest output (int32 entries, 64 MB) kept per thread between calls: 16 queries' two digit
rows at 500k tracks, 2 at 4M."""

COMBINE_COLUMNS = 1 << 15
"""Columns combined at once: 128 kB of int32 per digit row and of float32 output."""

SHARD_BYTES = 1 << 30
"""Table bytes per onnxruntime session (protobuf refuses models above 2 GB)."""


class Int8Kernel:
    """Scores of float queries against an int8 table with one float32 scale per row.

    Args:
        values: Quantized rows, (N, D) int8 (numpy or torch, CPU).
        scales: Scale of each row, (N,) float32.
        threads: Threads of one call: onnxruntime's intra-op threads, or the Numba
            backend's row ranges scored at once (default: torch's current thread count when
            torch is loaded, else the machine's cores).
        digits: int8 digits per query: 2 (scores within ~1e-4 of the table's own
            float scores) or 1 (the plain int8 GEMV, faster, off by the query's rounding).
        signed: onnxruntime backend: keep the table int8 (u8 x s8 GEMM) or shift it to
            uint8 (u8 x u8); None: int8 where :func:`signed_gemm_is_exact`. Both give the same
            integers where exact. The Numba backend always reads the int8 table as it is.
        backend: "numba" (:mod:`segue.export.int8_numba`, one pass per query, ~2x faster
            than MLAS for single queries at 1M x 64), "onnxruntime" (MLAS's integer GEMM),
            or "auto": Numba where it imports. Both return bit-identical scores.
    """

    def __init__(
        self,
        values: Any,
        scales: Any,
        threads: int | None = None,
        digits: int = 2,
        signed: bool | None = None,
        backend: str = "auto",
    ) -> None:
        values = np.asarray(values)
        if values.dtype != np.int8 or values.ndim != 2:
            raise ValueError(f"values must be (N, D) int8, got {values.dtype} {values.shape}")
        if digits not in DIGIT_COUNTS:
            raise ValueError(f"digits must be one of {DIGIT_COUNTS}, got {digits!r}")
        self.digits = digits
        self.n_rows, self.dim = values.shape
        scales = np.asarray(scales, dtype=np.float32)
        if scales.shape != (self.n_rows,):
            raise ValueError(f"scales must be ({self.n_rows},), got {scales.shape}")
        self.scales = huge_page_array(self.n_rows, np.float32)  # (N,): read on every call
        self.scales[:] = scales
        self.row_l1 = np.abs(values.astype(np.int32)).sum(axis=1).astype(np.float32)  # (N,)
        self.threads = threads or _torch_threads() or os.cpu_count() or 1
        self.backend = _backend(backend)
        self._scratch = threading.local()  # per thread: calls from several threads overlap
        self.sessions: list[Any] = []
        self.bounds: list[tuple[int, int]] = []
        if self.backend == "numba":
            self.signed = True  # the table as it is: int8 x int16 products
            self.table = huge_page_array(values.shape, np.int8)  # (N, D), read once per query
            self.table[:] = values
            self._score: Any = int8_numba.compiled(needs_wide_sums(self.dim))
            self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None
        else:
            self._build_sessions(values, signed)

    def _build_sessions(self, values: np.ndarray, signed: bool | None) -> None:
        """onnxruntime sessions over shards of the table (the MLAS backend)."""
        import onnxruntime as ort  # optional dependency (extra "onnx")

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        self.signed = signed_gemm_is_exact() if signed is None else bool(signed)
        shard = max(1, SHARD_BYTES // max(1, self.dim))
        self.bounds = [(s, min(s + shard, self.n_rows)) for s in range(0, self.n_rows, shard)]
        with new_memory_in_huge_pages():  # the packed table: see the module docstring
            self.sessions = [
                ort.InferenceSession(_graph(values[a:b], self.signed), options, providers=CPU_ONLY)
                for a, b in self.bounds
            ]
        release_freed_heap()

    def scores(self, hidden: torch.Tensor) -> torch.Tensor:
        """``hidden @ (values * scales[:, None]).T`` within :meth:`query_error_bound`, (B, N).

        Args:
            hidden: Query vectors, (B, D) float32.
        """
        import torch

        h = hidden.detach().float().cpu().numpy()
        return torch.from_numpy(self.score_array(h)).to(hidden.device)

    def score_array(self, hidden: np.ndarray) -> np.ndarray:
        """:meth:`scores` of numpy queries, (B, D) float32 -> a new (B, N) float32 array."""
        if hidden.ndim != 2 or hidden.shape[1] != self.dim:
            raise ValueError(f"hidden must be (B, {self.dim}), got {tuple(hidden.shape)}")
        digits, steps = query_digits(hidden, self.digits)  # (cB, D) uint8, (B, c) f32
        out = np.empty((hidden.shape[0], self.n_rows), dtype=np.float32)  # (B, N)
        if self.backend == "numba":
            self._numba_scores(digits, steps, out)
            return out
        for (a, b), session in zip(self.bounds, self.sessions):
            dots = self._dots(session, digits, b - a)  # (cB, n) int32, this thread's scratch
            self._combine(dots, steps, self.scales[a:b], out[:, a:b])
        return out

    def _numba_scores(self, digits: np.ndarray, steps: np.ndarray, out: np.ndarray) -> None:
        """The Numba backend's pass over the table, split in row ranges across threads."""
        queries = combined_query(digits, self.digits)  # (B, D) int16
        last_step = np.ascontiguousarray(steps[:, -1])  # (B,)
        args = (self.table, queries, self.scales, last_step, out)
        if self._pool is None:
            self._score(*args, 0, self.n_rows)
            return
        edges = np.linspace(0, self.n_rows, self.threads + 1).astype(np.int64)
        ranges = [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a]
        parts = [functools.partial(self._score, *args, a, b) for a, b in ranges]
        for done in [self._pool.submit(part) for part in parts]:
            done.result()  # the compiled loop releases the GIL: the ranges run at once

    def _dots(self, session: Any, digits: np.ndarray, n: int) -> np.ndarray:
        """Integer dot products of the digit rows with one shard's ``n`` rows, (cB, n) int32.

        Written into a buffer this thread keeps across calls, in 2 MB pages (it is written
        and read back once per call, like the table); outputs above
        :data:`SCRATCH_MAX_ENTRIES` get a buffer of their own, so a thread that once scored
        a large batch does not keep its memory.
        """
        size = len(digits) * n
        kept: np.ndarray | None = getattr(self._scratch, "dots", None)
        if size > SCRATCH_MAX_ENTRIES:
            scratch = np.empty(size, dtype=np.int32)
        elif kept is None or kept.size < size:
            scratch = self._scratch.dots = huge_page_array(size, np.int32)
        else:
            scratch = kept
        dots = scratch[:size].reshape(len(digits), n)
        binding = session.io_binding()
        binding.bind_cpu_input("digits", digits)
        binding.bind_output("dots", "cpu", 0, np.int32, dots.shape, dots.ctypes.data)
        session.run_with_iobinding(binding)
        return dots

    def _combine(
        self, dots: np.ndarray, steps: np.ndarray, scales: np.ndarray, out: np.ndarray
    ) -> None:
        """``out = s2 scale_i (254 y1_i + y2_i)`` from each query's two int32 rows
        (``s1 scale_i y1_i`` with one digit), (B, n) float32.

        Column blocks of ``COMBINE_COLUMNS``: each block's few passes run on data in cache,
        where whole rows (4 MB at 1M tracks) would stream through memory once per pass.
        """
        last_step = steps[:, -1:]  # (B, 1)
        wide = needs_wide_sums(self.dim)
        for start in range(0, dots.shape[1], COMBINE_COLUMNS):
            cols = slice(start, start + COMBINE_COLUMNS)
            if self.digits == 1:
                value = dots[:, cols]  # (B, c)
            else:
                # 254 y1 + y2 is the combined query's sum: int64 where it can leave int32.
                value = dots[0::2, cols].astype(np.int64) if wide else dots[0::2, cols]
                value *= DIGIT_RATIO  # in place: the scratch's first digit is not needed again
                value += dots[1::2, cols]
            block = out[:, cols]
            np.multiply(value, scales[cols], out=block, dtype=np.float32)
            block *= last_step

    def query_error_bound(self, hidden: torch.Tensor) -> torch.Tensor:
        """Largest ``|scores() - Int8Rows.scores()|`` of each row from the query's last
        digit, ``scale_i ||v_i||_1 step / 2`` (float32 rounding aside), (B, N)."""
        import torch

        _, steps = query_digits(hidden.detach().float().cpu().numpy(), self.digits)
        last = torch.from_numpy(steps[:, -1:])  # (B, 1)
        return (last / 2) * torch.from_numpy(self.scales * self.row_l1)[None, :]


def _torch_threads() -> int:
    """torch's intra-op threads if torch is loaded, else 0 (the machine's cores)."""
    torch = sys.modules.get("torch")
    return 0 if torch is None else int(torch.get_num_threads())


BACKENDS = ("auto", "numba", "onnxruntime")


def backend_installed(backend: str = "auto") -> bool:
    """Whether the kernel's ``backend`` ("auto": either of them) can be imported."""
    numba = importlib.util.find_spec("numba") is not None
    onnx = all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime"))
    return {"numba": numba, "onnxruntime": onnx}.get(backend, numba or onnx)


def _backend(name: str) -> str:
    """The backend a kernel uses: ``auto`` is Numba where it imports, else onnxruntime."""
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    if name == "auto":
        return "numba" if int8_numba.available() else "onnxruntime"
    if name == "numba" and not int8_numba.available():
        raise ImportError("backend='numba' needs numba (pip install 'segue[onnx]')")
    return name


def release_freed_heap() -> None:
    """Return freed heap memory to the OS (glibc's ``malloc_trim``; a no-op elsewhere).

    Building a session copies the table several times (transposed, into the ONNX protobuf,
    serialised, parsed by onnxruntime); the copies are freed, but glibc keeps the heap they
    grew: a 100k x 64 screen (:mod:`segue.api.int8_screen`) left RSS 94 MB higher without the
    trim, 55 MB with it.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return
    libc.malloc_trim(0)


def query_digits(hidden: np.ndarray, count: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """``count`` int8 digits per query and their steps: ``h ~ s1 q1 (+ s2 q2)``, ``s1 = 254 s2``.

    Args:
        hidden: Queries, (B, D) float32.
        count: 1 or 2 digits.

    Returns:
        Digits as uint8 (value + 128), rows ``cb`` to ``cb + c - 1`` for query ``b``, (cB, D);
        steps ``[s1, s2][:c]`` per query, (B, c) float32.

    >>> d, s = query_digits(np.array([[1.0, -0.5, 0.3]], np.float32))
    >>> (d.astype(int) - 128).tolist(), round(float(s[0, 0] * 127), 6)
    ([[127, -64, 38], [0, 127, 25]], 1.0)
    """
    h = hidden.astype(np.float64)
    s1 = np.abs(h).max(axis=1, keepdims=True) / QMAX  # (B, 1)
    s2 = s1 / DIGIT_RATIO
    safe1, safe2 = np.where(s1 > 0, s1, 1.0), np.where(s2 > 0, s2, 1.0)
    q1 = np.clip(np.rint(h / safe1), -QMAX, QMAX)  # (B, D)
    if count == 1:
        return (q1 + ZERO_POINT).astype(np.uint8), s1.astype(np.float32)
    # |h - s1 q1| <= s1 / 2 = 127 s2, so the clip only absorbs float rounding.
    q2 = np.clip(np.rint((h - q1 * s1) / safe2), -QMAX, QMAX)
    digits = np.stack([q1, q2], axis=1).reshape(-1, h.shape[1])  # (2B, D)
    packed = (digits + ZERO_POINT).astype(np.uint8)
    return packed, np.concatenate([s1, s2], axis=1).astype(np.float32)


def combined_query(digits: np.ndarray, count: int) -> np.ndarray:
    """``count`` uint8 digit rows per query (value + 128) -> one int16 row per query, (B, D).

    Two digits ``q1, q2`` become ``254 q1 + q2`` (at most :data:`MAX_COMBINED`); one digit is
    the query itself. Its dot product with a row is the integer both backends scale.
    """
    values = digits.astype(np.int32) - ZERO_POINT  # (cB, D)
    if count == 2:
        values = values[0::2] * DIGIT_RATIO + values[1::2]  # (B, D)
    return np.ascontiguousarray(values, dtype=np.int16)


def needs_wide_sums(dim: int) -> bool:
    """Whether ``dim`` products of an int8 weight (``|v| <= 128``) and a combined query can
    leave int32, so that sums need int64: from ``dim = 519`` on (both backends)."""
    return dim * (QMAX + 1) * MAX_COMBINED >= 2**31


@functools.cache
def signed_gemm_is_exact() -> bool:
    """Whether onnxruntime's u8 x s8 integer GEMM is exact on this CPU (see the module).

    One product built to saturate a kernel that sums pairs of products in int16: query digits
    of 255 and 0 (values 127 and -128) against weights of -128 and 127, whose pair sums reach
    -65,280, compared with int64 arithmetic for one and for four query rows.
    """
    import onnxruntime as ort  # optional dependency (extra "onnx")

    rng = np.random.default_rng(0)
    n, dim = 4096, 64  # several of the kernel's column panels and row blocks
    values = rng.integers(-128, 128, size=(n, dim)).astype(np.int8)  # (n, D)
    values[: n // 4], values[n // 4 : n // 2] = -128, 127
    digits = rng.integers(0, 256, size=(4, dim)).astype(np.uint8)  # (4, D), value + 128
    digits[0], digits[1] = 255, 0
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(_graph(values, signed=True), options, providers=CPU_ONLY)
    exact = (digits.astype(np.int64) - ZERO_POINT) @ values.T.astype(np.int64)  # (4, n)
    return all(
        np.array_equal(session.run(None, {"digits": digits[:rows]})[0], exact[:rows])
        for rows in (1, 4)
    )


def _graph(values: np.ndarray, signed: bool) -> bytes:
    """ONNX model: digits (2B, D) u8 -> integer dot products (2B, n) int32, for one shard.

    ``signed``: the table as int8 with zero point 0, else as uint8 ``v + 128`` with zero
    point 128; the products are the same integers.
    """
    from onnx import TensorProto, helper, numpy_helper

    n, dim = values.shape
    if signed:
        table, table_zero = np.ascontiguousarray(values.T), np.array(0, np.int8)  # (D, n)
    else:
        shifted = (values.T.astype(np.int16) + ZERO_POINT).astype(np.uint8)
        table, table_zero = np.ascontiguousarray(shifted), np.array(ZERO_POINT, np.uint8)
    node = helper.make_node("MatMulInteger", ["digits", "table", "zp", "table_zp"], ["dots"])
    inits = [
        numpy_helper.from_array(table, "table"),  # (D, n) int8 or uint8
        numpy_helper.from_array(np.array(ZERO_POINT, np.uint8), "zp"),
        numpy_helper.from_array(table_zero, "table_zp"),
    ]
    graph = helper.make_graph(
        [node],
        "int8_dots",
        [helper.make_tensor_value_info("digits", TensorProto.UINT8, ["rows", dim])],
        [helper.make_tensor_value_info("dots", TensorProto.INT32, ["rows", n])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()
