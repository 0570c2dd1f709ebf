"""Post-training int8 weights: one float32 scale per row, symmetric, round to nearest.

What is quantized, and why this way:

* **The track table** (n_tracks + 2, D): it is almost all of the model's bytes at catalogue scale
  (1M tracks x 64 dims = 256 MB in float32, 64 MB in int8). One scale per row, because rows of
  popular and rare tracks have very different norms; a per-tensor scale would round rare tracks
  to zero. The same int8 table serves the input lookups (only the B x T rows gathered are
  dequantized) and the output scores, which are computed in row chunks, so no float copy of
  the table is ever held in memory.
* **Linear layers** of the blocks: one scale per output channel. These are our own int8 tensors
  rather than ``torch.ao.quantization.quantize_dynamic``: plain int8 tensors save and load with
  ``torch.load(weights_only=True)`` (packed quantized params do not), export to ONNX, and the
  ``torch.ao`` quantization API is deprecated in favour of torchao. The weights are dequantized
  at each call; at d_model = 64 that is a few kB, nothing next to the catalogue.
* **The artist table** (n_artists + 1, D), when the model has one, the same way as the track
  table: a catalogue has about one artist for five tracks, so at 30Music's size it is 2.3 MB of
  float32, as much as everything else but the track table together.
* The position, event-type and time-gap tables, the same way. They do not grow with the
  catalogue, but for a small catalogue they are a large part of the file (the 200 x 64 position
  table is a fifth of the ML-100K int8 artefact), and per-row int8 leaves NDCG@10 unchanged on
  both public protocols (``python -m benchmarks.compress``).
* LayerNorms and biases stay float32: a few kB, and they scale every activation.
* The history prior (:mod:`segue.models.history_prior`) keeps its float32 gate (3 to 5 x D weights
  whose outputs are exponents on counts: rounding them would buy nothing) and its transition
  table's counts; the table's successor indices are stored int32, half the bytes of int64 (at
  1M tracks x 32 successors, 128 MB instead of 256 MB; the counts take another 128 MB).
  :func:`int8_scores` adds the prior's terms as ``TrackTransformer.score`` does.

Error of an int8 score: each weight moves by at most half a step (``scale / 2``), so for a hidden
state ``h`` the score of row ``i`` moves by at most ``||h||_1 * scale_i / 2``
(:meth:`Int8Rows.score_error_bound`).
"""

from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from segue.export.int8_kernel import backend_installed
from segue.models.history_prior import HistoryPrior, add_to_scores
from segue.models.transformer import TrackTransformer

if TYPE_CHECKING:  # the kernel module imports its backend when a kernel is built
    from segue.export.int8_kernel import Int8Kernel

QMAX = 127
"""Largest int8 magnitude used; -128 is left out so that the range is symmetric."""

INT8_TABLES = ("track_emb", "artist_emb", "event_emb", "gap_emb", "pos_emb")
"""The embedding tables stored as per-row int8: all of the model's tables."""

SCORE_CHUNK_ROWS = 16384
"""Rows of the int8 table dequantized at once when scoring: 16384 x 64 float32 = 4 MB, which
stays in cache, and the float32 temporary never grows with the catalogue."""


@dataclass
class Int8Rows:
    """A float matrix as int8 values and a float32 scale per row: ``W ~ values * scales[:, None]``.

    Args:
        values: Quantized rows, (N, D) int8.
        scales: Step of each row, ``max|row| / 127``, (N,) float32; 0 rows get scale 0.
        kernel: An int8 GEMM over these rows for :meth:`scores`, or None (chunked float).
    """

    values: torch.Tensor
    scales: torch.Tensor
    kernel: Int8Kernel | None = field(default=None, repr=False, compare=False)

    @classmethod
    def quantize(cls, weight: torch.Tensor) -> Int8Rows:
        """Symmetric per-row quantization of ``weight``, (N, D).

        >>> q = Int8Rows.quantize(torch.tensor([[1.0, -0.5], [0.0, 0.0]]))
        >>> q.values.tolist(), q.scales.tolist()
        ([[127, -64], [0, 0]], [0.007874015718698502, 0.0])
        """
        weight = weight.detach().float()
        scales = weight.abs().amax(dim=1) / QMAX  # (N,)
        safe = torch.where(scales > 0, scales, torch.ones_like(scales))  # all-zero rows stay 0
        values = torch.round(weight / safe[:, None]).clamp(-QMAX, QMAX).to(torch.int8)  # (N, D)
        return cls(values.contiguous(), scales.contiguous())

    def dequantize(self, rows: torch.Tensor | slice | None = None) -> torch.Tensor:
        """Float32 rows (all rows when ``rows`` is None), (n, D)."""
        if rows is None:
            rows = slice(None)
        return self.values[rows].float() * self.scales[rows, None]

    def scores(self, hidden: torch.Tensor, chunk_rows: int = SCORE_CHUNK_ROWS) -> torch.Tensor:
        """``hidden @ dequantize().T`` without a float copy of the table, (B, N).

        With a :attr:`kernel` (see :meth:`with_kernel`) the product runs on int8 data
        (:mod:`segue.export.int8_kernel`), within its stated query error bound
        of the chunked product below; without one, each chunk computes
        ``(hidden @ values.T) * scales``: the scale factors out of the dot product, so it
        multiplies B x n scores instead of n x D weights.

        Args:
            hidden: Query vectors, (B, D) float32.
            chunk_rows: Rows converted to float at once (chunked path only).
        """
        if self.kernel is not None and hidden.device.type == "cpu":
            return self.kernel.scores(hidden)
        return self.chunked_scores(hidden, chunk_rows)

    def chunked_scores(
        self, hidden: torch.Tensor, chunk_rows: int = SCORE_CHUNK_ROWS
    ) -> torch.Tensor:
        """The reference product: row chunks converted to float32, (B, N)."""
        N = self.values.shape[0]
        out = hidden.new_empty(hidden.shape[0], N)  # (B, N)
        for start in range(0, N, chunk_rows):
            stop = min(start + chunk_rows, N)
            block = self.values[start:stop].float()  # (n, D): the only float copy, one chunk
            out[:, start:stop] = (hidden @ block.T) * self.scales[start:stop]  # (B, n)
        return out

    def with_kernel(
        self,
        threads: int | None = None,
        digits: int = 2,
        signed: bool | None = None,
        backend: str = "auto",
    ) -> Int8Rows:
        """These rows with an int8 kernel for :meth:`scores`; unchanged when the rows are not
        on the CPU or no backend is installed (Numba, or onnx and onnxruntime: extra "onnx").

        ``digits``: int8 digits per query; ``signed``: the onnxruntime backend's table
        encoding; ``backend``: "auto" (Numba where it imports), "numba" or "onnxruntime"
        (:class:`segue.export.int8_kernel.Int8Kernel`).
        """
        if self.values.device.type != "cpu" or not backend_installed(backend):
            return self
        from segue.export.int8_kernel import Int8Kernel

        values, scales = self.values.numpy(), self.scales.numpy()
        kernel = Int8Kernel(values, scales, threads, digits, signed, backend)
        return Int8Rows(self.values, self.scales, kernel)

    def score_error_bound(self, hidden: torch.Tensor) -> torch.Tensor:
        """Largest possible ``|float score - int8 score|`` of each row, (B, N).

        Rounding moves each weight by at most ``scale / 2``, hence ``||h||_1 * scale / 2``;
        the kernel's query digits add :meth:`Int8Kernel.query_error_bound`.
        """
        bound = hidden.abs().sum(dim=1, keepdim=True) * self.scales[None, :] / 2
        if self.kernel is not None:
            bound = bound + self.kernel.query_error_bound(hidden).to(bound.device)
        return bound

    @property
    def nbytes(self) -> int:
        return self.values.numel() + 4 * self.scales.numel()


class Int8Embedding(nn.Module):
    """Drop-in for ``nn.Embedding`` at inference: looks rows up in an int8 table.

    Args:
        rows: The quantized table, (N, D).
    """

    values: torch.Tensor
    scales: torch.Tensor

    def __init__(self, rows: Int8Rows) -> None:
        super().__init__()
        self.register_buffer("values", rows.values)
        self.register_buffer("scales", rows.scales)

    @property
    def rows(self) -> Int8Rows:
        return Int8Rows(self.values, self.scales)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Dequantized rows of ``ids``, (..., D); only the rows looked up become float."""
        return self.values[ids].float() * self.scales[ids].unsqueeze(-1)


class Int8Linear(nn.Module):
    """``nn.Linear`` with int8 weights and one scale per output channel.

    Args:
        weight: Quantized weight, (out, in).
        bias: Float32 bias, (out,), or None.
    """

    values: torch.Tensor
    scales: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, weight: Int8Rows, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.register_buffer("values", weight.values)
        self.register_buffer("scales", weight.scales)
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.values.float() * self.scales[:, None]  # (out, in): kB, not the catalogue
        return F.linear(x, weight, self.bias)


def quantize_model(model: TrackTransformer) -> TrackTransformer:
    """A copy of ``model`` in eval mode with int8 embedding tables and Linear layers.

    The copy's ``track_emb`` is an :class:`Int8Embedding`, so score it with
    :func:`int8_scores`, not ``model.score`` (which reads a float ``track_emb.weight``).
    """
    quantized = copy.deepcopy(model).eval()
    _quantize_linears(quantized)
    if quantized.prior is not None:  # indices < 2**31: int32 halves the table's bytes
        quantized.prior.successors = quantized.prior.successors.to(torch.int32)
        if quantized.prior.album:
            quantized.prior.album_mates = quantized.prior.album_mates.to(torch.int32)
        if quantized.prior.artist:
            quantized.prior.artist_mates = quantized.prior.artist_mates.to(torch.int32)
    if quantized.blend is not None:
        quantized.blend.successors = quantized.blend.successors.to(torch.int32)
        if quantized.blend.cooccurrence > 0:
            quantized.blend.neighbours = quantized.blend.neighbours.to(torch.int32)
    for name in INT8_TABLES:
        table = getattr(model, name)
        if table is not None:  # side-input tables exist only when the model reads them
            setattr(quantized, name, Int8Embedding(Int8Rows.quantize(table.weight)))
    return quantized


def set_track_table(model: TrackTransformer, table: Int8Embedding) -> None:
    """Replace ``model.track_emb`` (typed ``nn.Embedding``, which this drop-in is not)."""
    setattr(model, "track_emb", table)  # noqa: B010


def _quantize_linears(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, HistoryPrior):  # its gate stays float32 (module docstring)
            continue
        if isinstance(child, nn.Linear):
            setattr(module, name, Int8Linear(Int8Rows.quantize(child.weight), child.bias))
        else:
            _quantize_linears(child)


_KERNEL_ROWS: weakref.WeakKeyDictionary[Int8Embedding, tuple[tuple[int, int], Int8Rows]] = (
    weakref.WeakKeyDictionary()
)
"""Catalogue rows with their int8 GEMM kernel, per track table: built on first use (the kernel
packs the table once, ~0.3 s at 1M tracks). Outside the module, so copying or saving a model
never meets an onnxruntime session."""


def catalogue_rows(model: TrackTransformer) -> Int8Rows:
    """The int8 output embeddings of padding and the catalogue, (n_tracks + 1, D), views, with
    the int8 GEMM kernel when onnxruntime is installed (:meth:`Int8Rows.with_kernel`).

    Raises:
        TypeError: If ``model`` was not made by :func:`quantize_model`.
    """
    table: nn.Module = model.track_emb
    if not isinstance(table, Int8Embedding):
        raise TypeError("the model's track table is not int8: call quantize_model first")
    n = model.config.n_tracks + 1  # drop the [MASK] row, as catalogue_embeddings() does
    key = (table.values.data_ptr(), n)  # a reloaded or resized table gets a new kernel
    cached = _KERNEL_ROWS.get(table)
    if cached is None or cached[0] != key:
        cached = (key, Int8Rows(table.values[:n], table.scales[:n]).with_kernel())
        _KERNEL_ROWS[table] = cached
    return cached[1]


def int8_scores(
    model: TrackTransformer, hidden: torch.Tensor, history: torch.Tensor | None = None
) -> torch.Tensor:
    """Like ``TrackTransformer.score`` for a quantized model, (B, n_tracks + 1); column 0 is -inf.

    Args:
        model: A model from :func:`quantize_model`.
        hidden: Last hidden states, (B, D).
        history: The left-padded tracks the states were computed from, (B, T); needed by (and
            only by) a model with a history prior, whose terms are added.
    """
    scores = catalogue_rows(model).scores(hidden.float())  # (B, n_tracks + 1)
    scores[:, 0] = float("-inf")
    if model.prior is not None:
        add_to_scores(scores, model.prior_entries(hidden, history))
    if model.blend is not None:  # on the int8 scores: the normaliser this model ranks by
        add_to_scores(scores, model.blend.entries(scores, model.checked_history(hidden, history)))
    return scores
