"""Exact int8 catalogue scores on onnxruntime's integer GEMM: the table never becomes float.

Scoring the int8 table by converting row chunks to float32 and multiplying is compute-bound:
the conversion costs as much as the product, so reading 4x fewer bytes bought only ~1.7x. Here
the product itself runs on int8 data, in onnxruntime's ``MatMulInteger`` (MLAS's u8 x u8 GEMM
with zero points, int32 accumulation, which is exact):

* The table is stored once more, transposed and shifted to uint8 (``v + 128``, zero point 128)
  as a constant of an onnxruntime session, which packs it for its kernel once, at build time.
  (u8 x s8 is faster on paper, but on AVX2 without VNNI MLAS sums pairs of u8 x s8 products in
  int16, which saturates for full-range int8 weights: we measured errors of 1.8e4 in an int32
  result.) Sessions hold at most ``SHARD_BYTES`` of table each: protobuf caps a model at 2 GB.
* The query is not int8, so it is written as two int8 "digits": ``h ~ s1 q1 + s2 q2`` with
  ``q1 = round(h / s1)``, ``s1 = max|h| / 127``, and ``q2`` the residual quantized the same
  way (``s2 <= s1 / 254``). Both digits go through one GEMM (a 2-row left operand costs about
  what a 1-row one does, the table is read once), and the int32 results are combined in float:
  ``score_i = scale_i (s1 y1_i + s2 y2_i)``.

Departure from :meth:`Int8Rows.scores`: the second digit leaves the query off by at most
``s2 / 2`` per component, so a score differs from the chunked reference by at most
``scale_i * ||v_i||_1 * s2 / 2`` (:meth:`Int8Kernel.query_error_bound`), ~``127 * 254`` times
smaller than the query's own size, and about 100x below the int8 table's rounding bound.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

ZERO_POINT = 128
"""uint8 zero point of both operands: int8 values v are stored as v + 128."""

QMAX = 127

SHARD_BYTES = 1 << 30
"""Table bytes per onnxruntime session (protobuf refuses models above 2 GB)."""


class Int8Kernel:
    """Scores of float queries against an int8 table with one float32 scale per row.

    Args:
        values: Quantized rows, (N, D) int8 (numpy or torch, CPU).
        scales: Scale of each row, (N,) float32.
        threads: onnxruntime intra-op threads (default: torch's current thread count).
    """

    def __init__(self, values: Any, scales: Any, threads: int | None = None) -> None:
        import onnxruntime as ort  # optional dependency (extra "onnx")

        values = np.asarray(values)
        if values.dtype != np.int8 or values.ndim != 2:
            raise ValueError(f"values must be (N, D) int8, got {values.dtype} {values.shape}")
        self.n_rows, self.dim = values.shape
        self.scales = np.ascontiguousarray(scales, dtype=np.float32)  # (N,)
        self.row_l1 = np.abs(values.astype(np.int32)).sum(axis=1).astype(np.float32)  # (N,)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        shard = max(1, SHARD_BYTES // max(1, self.dim))
        self.bounds = [(s, min(s + shard, self.n_rows)) for s in range(0, self.n_rows, shard)]
        self.sessions = [
            ort.InferenceSession(
                _graph(values[a:b], self.scales[a:b]), options, providers=["CPUExecutionProvider"]
            )
            for a, b in self.bounds
        ]

    def scores(self, hidden: torch.Tensor) -> torch.Tensor:
        """``hidden @ (values * scales[:, None]).T`` within :meth:`query_error_bound`, (B, N).

        Args:
            hidden: Query vectors, (B, D) float32.
        """
        h = hidden.detach().float().cpu().numpy()
        if h.ndim != 2 or h.shape[1] != self.dim:
            raise ValueError(f"hidden must be (B, {self.dim}), got {tuple(h.shape)}")
        digits, weights = query_digits(h)  # (2B, D) uint8, (B, 2, 1) float32
        feed = {"digits": digits, "weights": weights}
        if len(self.sessions) == 1:  # one shard (up to 1 GB of table): no copy into `out`
            return torch.from_numpy(self.sessions[0].run(["scores"], feed)[0]).to(hidden.device)
        out = np.empty((h.shape[0], self.n_rows), dtype=np.float32)  # (B, N)
        for (a, b), session in zip(self.bounds, self.sessions):
            out[:, a:b] = session.run(["scores"], feed)[0]
        return torch.from_numpy(out).to(hidden.device)

    def query_error_bound(self, hidden: torch.Tensor) -> torch.Tensor:
        """Largest ``|scores() - Int8Rows.scores()|`` of each row from the query's second
        digit, ``scale_i ||v_i||_1 s2 / 2`` (float32 rounding aside), (B, N)."""
        _, weights = query_digits(hidden.detach().float().cpu().numpy())
        s2 = torch.from_numpy(weights[:, 1])  # (B, 1)
        return (s2 / 2) * torch.from_numpy(self.scales * self.row_l1)[None, :]


def query_digits(hidden: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two int8 digits per query and their steps: ``h ~ s1 q1 + s2 q2``.

    Args:
        hidden: Queries, (B, D) float32.

    Returns:
        Digits as uint8 (value + 128), rows ``2b`` and ``2b + 1`` for query ``b``, (2B, D);
        steps ``[[s1], [s2]]`` per query, (B, 2, 1) float32.

    >>> d, w = query_digits(np.array([[1.0, -0.5, 0.3]], np.float32))
    >>> (d.astype(int) - 128).tolist(), round(float(w[0, 0, 0] * 127), 6)
    ([[127, -64, 38], [0, 127, 25]], 1.0)
    """
    h = hidden.astype(np.float64)
    B, D = h.shape
    digits = np.empty((B, 2, D), dtype=np.int16)
    steps = np.zeros((B, 2), dtype=np.float64)
    residual = h
    for d in range(2):
        step = np.abs(residual).max(axis=1) / QMAX  # (B,)
        safe = np.where(step > 0, step, 1.0)[:, None]
        q = np.clip(np.rint(residual / safe), -QMAX, QMAX)  # (B, D)
        digits[:, d], steps[:, d] = q, step
        residual = residual - q * np.where(step > 0, step, 0.0)[:, None]
    packed = (digits.reshape(2 * B, D) + ZERO_POINT).astype(np.uint8)  # (2B, D)
    return packed, steps.astype(np.float32)[:, :, None]


def _graph(values: np.ndarray, scales: np.ndarray) -> bytes:
    """ONNX model: digits (2B, D) u8, weights (B, 2, 1) -> scores (B, n) for one shard."""
    from onnx import TensorProto, helper, numpy_helper

    n, dim = values.shape
    table = np.ascontiguousarray((values.T.astype(np.int16) + ZERO_POINT).astype(np.uint8))
    # The digits' steps combine the two int32 rows of a query with one K = 2 product (the
    # former Mul + ReduceSum over the middle axis cost as much as the integer GEMM itself:
    # 10.2 against 5.7 ms for the whole graph at 1M tracks, one thread).
    nodes = [
        helper.make_node("MatMulInteger", ["digits", "table", "zp", "zp"], ["dots"]),  # (2B, n)
        helper.make_node("Cast", ["dots"], ["dots_f"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["dots_f", "shape"], ["per_digit"]),  # (B, 2, n)
        helper.make_node("Transpose", ["weights"], ["steps"], perm=[0, 2, 1]),  # (B, 1, 2)
        helper.make_node("MatMul", ["steps", "per_digit"], ["summed"]),  # (B, 1, n)
        helper.make_node("Mul", ["summed", "scales"], ["scaled"]),
        helper.make_node("Reshape", ["scaled", "rows"], ["scores"]),  # (B, n)
    ]
    inits = [
        numpy_helper.from_array(table, "table"),  # (D, n) uint8
        numpy_helper.from_array(np.array(ZERO_POINT, np.uint8), "zp"),
        numpy_helper.from_array(np.array([-1, 2, n], np.int64), "shape"),
        numpy_helper.from_array(np.array([-1, n], np.int64), "rows"),
        numpy_helper.from_array(scales.astype(np.float32), "scales"),
    ]
    graph = helper.make_graph(
        nodes,
        "int8_scores",
        [
            helper.make_tensor_value_info("digits", TensorProto.UINT8, ["rows", dim]),
            helper.make_tensor_value_info("weights", TensorProto.FLOAT, ["batch", 2, 1]),
        ],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", n])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()
