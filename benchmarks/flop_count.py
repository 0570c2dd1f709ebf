"""Matrix-multiply FLOPs of one training step of a segue model, counted by torch.

``torch.utils.flop_counter.FlopCounterMode`` with formulas added for what it misses on the CPU
(the attention kernel, in-place ``addmm_`` of the chunked softmax's backward). What is counted:
``mm``, ``addmm``, ``addmm_``, ``bmm``, ``baddbmm`` and scaled-dot-product attention, forward and
backward, at ``2 m n k`` each; attention over the full (T, T) score matrix. Elementwise work is
not counted, so a FLOP rate from these counts is a lower bound of what the CPU executed.
"""

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from segue.data.batch import SequenceBatch
from segue.data.sequences import TrainingSequences
from segue.models.transformer import TrackTransformer
from segue.training.batch_loss import batch_loss, training_batch
from segue.training.batching import epoch_batches
from segue.training.losses import TrackLoss

aten = torch.ops.aten


def _mm_flops(a_shape: Sequence[int], b_shape: Sequence[int]) -> int:
    return 2 * a_shape[0] * a_shape[1] * b_shape[1]


def _addmm_inplace_flops(self_shape: Any, a_shape: Any, b_shape: Any, *args: Any, **kw: Any) -> int:
    # torch counts addmm but not its in-place form, which the chunked softmax's backward uses.
    return _mm_flops(a_shape, b_shape)


def _cpu_sdpa_flops(q: Any, k: Any, v: Any, *args: Any, **kw: Any) -> int:
    # Q K^T and P V over the full (T, S) matrix; q, k, v are (B, H, T or S, head_dim).
    b, h, t, d = q
    return 2 * b * h * t * k[2] * (d + v[3])


def _cpu_sdpa_backward_flops(grad: Any, q: Any, k: Any, v: Any, *args: Any, **kw: Any) -> int:
    # Recompute Q K^T, then dP = dO V^T, dV = P^T dO, dQ = dS K, dK = dS^T Q (torch's convention).
    b, h, t, d = q
    return 2 * b * h * t * k[2] * (3 * d + 2 * v[3])


# torch's counter has no formula for the CPU flash-attention kernels that
# scaled_dot_product_attention runs on CPU, so without these attention would count as zero.
CPU_FLOP_FORMULAS: dict[Any, Callable[..., int]] = {
    aten.addmm_: _addmm_inplace_flops,
    aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops,
    aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward_flops,
}


def _counted(step: Callable[[], None]) -> dict[str, int]:
    """Matmul FLOPs per op name of running ``step`` once."""
    with FlopCounterMode(display=False, custom_mapping=CPU_FLOP_FORMULAS) as counter:
        step()
    return {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}


def model_flops_per_step(
    model: TrackTransformer,
    batch: SequenceBatch,
    loss_fn: TrackLoss,
) -> dict[str, Any]:
    """Matmul FLOPs of one training step of ``model`` with its loss on ``batch``.

    Runs forward, loss and backward once under ``FlopCounterMode`` (gradients are accumulated
    into the parameters and not used: zero them before training on). The output layer's share
    is counted separately by a second forward and backward of the loss alone on detached copies
    of the hidden states and catalogue embeddings; the rest of the step is the transformer
    blocks (embedding lookups do no matmul). Matmuls only; see the module docstring.

    Args:
        model: A segue transformer, in the mode to count (``train()`` for a training step).
        batch: A training batch with targets, (B, T) tensors, already masked for BERT4Rec.
        loss_fn: The configured loss, applied as the trainer applies it
            (:func:`segue.training.batch_loss.batch_loss`).

    Returns:
        ``total``, ``output_layer`` and ``blocks`` FLOPs, ``output_share`` (output / total),
        ``targets`` (N, the scored positions), ``batch_shape`` (B, T) and ``by_op``.
    """

    def full_step() -> None:
        hidden = model(batch)  # (B, T, D)
        batch_loss(model, hidden, batch, loss_fn).backward()

    with torch.no_grad():
        hidden = model(batch)  # (B, T, D), detached input of the loss-only count
        emb = model.catalogue_embeddings().detach().clone()  # (V, D)

    class _Frozen:  # the model as the loss sees it: its catalogue embeddings and prior
        prior = model.prior

        def catalogue_embeddings(self) -> torch.Tensor:
            return emb

    def loss_only() -> None:
        leaf = hidden.clone().requires_grad_(True)  # (B, T, D)
        emb.requires_grad_(True)
        frozen: Any = _Frozen()
        batch_loss(frozen, leaf, batch, loss_fn).backward()

    by_op = _counted(full_step)
    total = sum(by_op.values())
    output = sum(_counted(loss_only).values())
    assert batch.targets is not None
    return {
        "total": total,
        "output_layer": output,
        "blocks": total - output,
        "output_share": output / total if total else 0.0,
        "targets": int((batch.targets > 0).sum()),
        "batch_shape": list(batch.tracks.shape),
        "by_op": by_op,
    }


def mean_flops_per_step(
    model: TrackTransformer,
    data: TrainingSequences,
    loss_fn: TrackLoss,
    settings: Any,
    max_batches: int = 16,
) -> dict[str, Any]:
    """Mean matmul FLOPs per step over an epoch's batches (all of them, or a random sample).

    Args:
        model: The model; its gradients are cleared afterwards.
        data: Training windows.
        loss_fn: The configured loss.
        settings: A :class:`segue.training.trainer.TrainerConfig`.
        max_batches: Count at most this many batches; exact when the epoch has no more.
    """
    gen = torch.Generator().manual_seed(settings.seed)
    batches = epoch_batches(data, settings.batch_size, gen, settings.bucket_by_length)
    batches = batches[: settings.max_steps_per_epoch or None]  # the trainer's cap, if any
    counted = batches[:max_batches]
    gen = torch.Generator().manual_seed(settings.seed)
    model.train()
    rows = []
    for indices in counted:
        batch = training_batch(model, data.batch(indices.numpy()), settings.mask_prob, gen)
        assert batch.targets is not None
        if bool((batch.targets > 0).any()):
            rows.append(model_flops_per_step(model, batch, loss_fn))
        model.zero_grad(set_to_none=True)
    total = float(np.mean([r["total"] for r in rows]))
    output = float(np.mean([r["output_layer"] for r in rows]))
    return {
        "flops_per_step": total,
        "output_layer_flops_per_step": output,
        "blocks_flops_per_step": total - output,
        "output_share": output / total if total else 0.0,
        "flop_batches_counted": len(counted),
        "steps_per_epoch": len(batches),
    }
