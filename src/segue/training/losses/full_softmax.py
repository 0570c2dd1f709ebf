"""Cross-entropy over the whole catalogue, in bounded memory.

The logsumexp over the catalogue is computed chunk by chunk with a running maximum and sum,
and a custom autograd function recomputes each chunk's logits in the backward pass instead of
storing them. Peak extra memory is therefore one (N, chunk) block of logits, not (N, V): at
N = 4096 and a million tracks, 16 MiB instead of 16 GiB.
"""

from __future__ import annotations

from typing import Any

import torch

from segue.training.losses._checks import check_scoring_inputs, reduce

# Default chunk: about 2**22 logits (16 MiB of float32) whatever the number of rows; on CPU
# smaller chunks also run faster than one big block (they stay in cache).
_CHUNK_ELEMENTS = 2**22


class _ChunkedSoftmaxCE(torch.autograd.Function):
    """Per-row ``logsumexp_v(h_n . e_v) - h_n . e_target`` over rows 1..V-1 of item_emb.

    The target term lives inside the function too, so that backward writes one dense (V, D)
    gradient instead of a second one for the ``item_emb[targets]`` lookup.
    """

    # Under CUDA autocast, run in float32: a bf16 logsumexp over a million tracks loses the
    # target's probability, and backward must recompute exactly what forward computed.
    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        item_emb: torch.Tensor,
        targets: torch.Tensor,
        chunk_size: int,
    ) -> torch.Tensor:
        N, V = hidden.shape[0], item_emb.shape[0]
        running_max = hidden.new_full((N,), float("-inf"))
        running_sum = hidden.new_zeros(N)
        for start in range(1, V, chunk_size):
            logits = hidden @ item_emb[start : start + chunk_size].T  # (N, C)
            new_max = torch.maximum(running_max, logits.amax(dim=1))  # (N,)
            # Rescale the old sum to the new maximum; in-place ops keep one (N, C) buffer.
            chunk_sum = logits.sub_(new_max[:, None]).exp_().sum(dim=1)  # (N,)
            running_sum = running_sum * (running_max - new_max).exp() + chunk_sum
            running_max = new_max
        lse = running_max + running_sum.log()  # (N,)
        ctx.save_for_backward(hidden, item_emb, targets, lse)
        ctx.chunk_size = chunk_size
        return lse - (hidden * item_emb[targets]).sum(dim=1)  # (N,)

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(
        ctx: Any, grad_loss: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, None, None]:
        hidden, item_emb, targets, lse = ctx.saved_tensors
        need_hidden, need_emb = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_hidden = torch.zeros_like(hidden) if need_hidden else None
        grad_emb = torch.zeros_like(item_emb) if need_emb else None
        neg_lse = -lse[:, None]  # (N, 1)
        scaled_hidden = hidden * grad_loss[:, None]  # (N, D): the row scale, applied on D not C
        for start in range(1, item_emb.shape[0], ctx.chunk_size):
            emb = item_emb[start : start + ctx.chunk_size]  # (C, D)
            # d lse_n / d logit_nv = softmax_nv = exp(logit_nv - lse_n), recomputed here.
            probs = torch.addmm(neg_lse, hidden, emb.T).exp_()  # (N, C)
            if grad_hidden is not None:
                grad_hidden.addmm_(probs, emb)  # (N, C) @ (C, D)
            if grad_emb is not None:
                grad_emb[start : start + ctx.chunk_size] = probs.T @ scaled_hidden  # (C, D)
        # The target term: d(-h . e_t)/dh = -e_t and d/de_t = -h (summed over repeated targets).
        if grad_hidden is not None:
            grad_hidden.sub_(item_emb[targets]).mul_(grad_loss[:, None])
        if grad_emb is not None:
            grad_emb.index_add_(0, targets, scaled_hidden, alpha=-1)
        return grad_hidden, grad_emb, None, None


def full_softmax_ce(
    hidden: torch.Tensor,
    item_emb: torch.Tensor,
    targets: torch.Tensor,
    chunk_size: int | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Cross-entropy of the target track against every track of the catalogue.

    Equal to ``F.cross_entropy(hidden @ item_emb[1:].T, targets - 1, label_smoothing=eps)``,
    values and gradients, without ever holding the (N, V) logits.

    Args:
        hidden: Hidden states at the positions that have a target, (N, D).
        item_emb: Track embeddings with the padding row 0, which is never scored, (V, D).
        targets: Track indices in 1..V-1, (N,).
        chunk_size: Tracks per chunk; None picks about 2**22 / N (16 MiB of float32 logits).
        reduction: "mean", "sum" or "none" over the N rows.
        label_smoothing: ``eps``, the share of the target distribution spread uniformly over
            the catalogue. Its cross-entropy is ``lse - mean_v(h . e_v)``, and
            ``mean_v(h . e_v) = h . mean_v(e_v)``: one more dot product per row, no (N, V)
            block. Autograd differentiates that term outside the chunked function, which
            costs up to two more dense (V, D) gradient buffers in the backward pass (256 MiB
            each at a million tracks and D = 64), only when ``label_smoothing`` is set.

    Returns:
        The loss, a scalar (or (N,) for ``reduction="none"``).
    """
    check_scoring_inputs(hidden, item_emb, targets)
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_ELEMENTS // max(1, hidden.shape[0]))
    loss = _ChunkedSoftmaxCE.apply(hidden, item_emb, targets, chunk_size)  # (N,)
    assert isinstance(loss, torch.Tensor)
    if label_smoothing:
        # (1 - eps) (lse - s_t) + eps (lse - mean s) = (lse - s_t) + eps (s_t - mean s)
        own = (hidden * item_emb[targets]).sum(dim=1)  # (N,)
        mean_score = hidden @ item_emb[1:].mean(dim=0)  # (N,)
        loss = loss + label_smoothing * (own - mean_score)
    return reduce(loss, reduction)
