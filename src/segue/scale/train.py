"""Training on streamed shards with a catalogue too large for dense optimizer state.

The trainer (:func:`segue.training.fit`) keeps AdamW moments for every weight and validates on
the full catalogue after each epoch; at 10M tracks that is 7.7 GB of table, gradient and
moments touched on every step. This loop keeps the model and its forward pass unchanged and
changes three things for the track table:

* input lookups and output rows go through sparse lookups (the table's ``sparse`` flag and
  :func:`sampled_softmax_rows`), so its gradient holds only the rows the batch touched;
* the table is updated by :class:`~segue.training.optimizers.RowWiseAdagrad` (4 bytes of state
  a track) while every other weight keeps AdamW;
* negatives come from a :class:`PopularitySampler` built once, with the logQ correction.

Windows are read with :meth:`ShardedWindows.stream`, one shard in memory at a time. It trains;
evaluation on a 10M catalogue is approximate retrieval's job (``segue.retrieval``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from segue.models.transformer import TrackTransformer
from segue.scale.dataset import ShardedWindows
from segue.scale.sampler import PopularitySampler
from segue.scale.sparse_loss import sampled_softmax_rows
from segue.training.optimizers import RowWiseAdagrad


@dataclass
class StreamedTrainingConfig:
    """How to train on shards.

    Args:
        epochs: Passes over the shards.
        batch_size: Windows per step.
        lr: AdamW learning rate of every weight but the track table.
        embedding_lr: Row-wise Adagrad learning rate of the track table.
        n_negatives: Negatives per step, shared by the batch.
        alpha: Popularity exponent of the negative sampler (0.75: word2vec's).
        grad_clip: Max gradient norm of the dense weights; None disables clipping.
        max_steps: Stop after this many steps in all (a capped run); None: whole epochs.
        seed: Seed of shard order, shuffling, dropout and sampling.
        num_threads: torch intra-op threads; None keeps torch's default.
    """

    epochs: int = 1
    batch_size: int = 256
    lr: float = 1e-3
    embedding_lr: float = 0.05
    n_negatives: int = 1024
    alpha: float = 0.75
    grad_clip: float | None = 1.0
    max_steps: int | None = None
    seed: int = 0
    num_threads: int | None = None


@dataclass
class StreamedTrainingResult:
    """What a run did: steps, windows, time and the loss of every step."""

    steps: int
    windows: int
    seconds: float
    losses: list[float] = field(default_factory=list)

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(self.steps, 1)


def _optimizers(
    model: TrackTransformer, config: StreamedTrainingConfig
) -> tuple[RowWiseAdagrad, torch.optim.AdamW]:
    table = model.track_emb.weight
    dense = [p for p in model.parameters() if p is not table and p.requires_grad]
    return (
        RowWiseAdagrad([table], lr=config.embedding_lr),
        torch.optim.AdamW(dense, lr=config.lr, weight_decay=0.0),
    )


def train_streamed(
    model: TrackTransformer,
    windows: ShardedWindows,
    counts: torch.Tensor,
    config: StreamedTrainingConfig | None = None,
) -> StreamedTrainingResult:
    """Train ``model`` (causal objective) on the windows of a prepared folder.

    Args:
        model: A causal model whose ``n_tracks`` is the folder's vocabulary size.
        windows: The folder's windows.
        counts: Train play count of every track, (n_tracks + 1,), for the sampler.
        config: Loop settings (default: :class:`StreamedTrainingConfig`).
    """
    config = config or StreamedTrainingConfig()
    if model.config.objective != "causal" or not windows.causal:
        raise ValueError("train_streamed trains the causal objective on causal windows")
    if model.config.n_tracks != windows.n_tracks:
        raise ValueError(
            f"the model has {model.config.n_tracks} tracks but the shards' vocabulary "
            f"{windows.n_tracks}"
        )
    if counts.shape != (windows.n_tracks + 1,):
        raise ValueError(
            f"counts must have shape ({windows.n_tracks + 1},), got {tuple(counts.shape)}"
        )
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)  # dropout
    sampler = PopularitySampler(counts, config.alpha)
    was_sparse = model.track_emb.sparse
    model.track_emb.sparse = True  # input lookups give the table a sparse gradient too
    try:
        return _loop(model, windows, sampler, generator, config)
    finally:
        model.track_emb.sparse = was_sparse


def _loop(
    model: TrackTransformer,
    windows: ShardedWindows,
    sampler: PopularitySampler,
    generator: torch.Generator,
    config: StreamedTrainingConfig,
) -> StreamedTrainingResult:
    table = model.track_emb.weight
    rows_opt, dense_opt = _optimizers(model, config)
    dense = [p for group in dense_opt.param_groups for p in group["params"]]
    model.train()
    result = StreamedTrainingResult(steps=0, windows=0, seconds=0.0)
    start = time.perf_counter()
    for _ in range(config.epochs):
        remaining = None if config.max_steps is None else config.max_steps - result.steps
        if remaining is not None and remaining <= 0:
            break
        for batch in windows.stream(config.batch_size, generator, remaining):
            assert batch.targets is not None
            has_target = batch.targets > 0
            if not bool(has_target.any()):
                continue
            hidden = model(batch)  # (B, T, D)
            negatives = sampler.sample(config.n_negatives, generator)  # (K,)
            loss = sampled_softmax_rows(
                hidden[has_target], table, batch.targets[has_target], negatives, sampler.log_q
            )
            rows_opt.zero_grad(set_to_none=True)
            dense_opt.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(dense, config.grad_clip)
            rows_opt.step()
            dense_opt.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(f"loss is {value} at step {result.steps}")
            result.losses.append(value)
            result.steps += 1
            result.windows += len(batch)
    result.seconds = time.perf_counter() - start
    return result
