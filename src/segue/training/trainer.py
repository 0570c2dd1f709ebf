"""A plain PyTorch training loop with early stopping on full-catalogue validation NDCG@10.

No training framework: one loop over shuffled windows, AdamW, warmup + cosine schedule, gradient
clipping, bf16 autocast on CUDA, DDP when launched by ``torchrun``. After each epoch the model is
ranked against the whole catalogue on the validation points; the best checkpoint and the last
one (with everything needed for an exact resume) are written atomically.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from segue.data.sequences import TrainingSequences
from segue.data.vocab import TrackVocab
from segue.models.param_groups import param_groups
from segue.models.transformer import TrackTransformer
from segue.training import distributed
from segue.training.batching import epoch_batches
from segue.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from segue.training.losses import TrackLoss
from segue.training.losses.window_masked import window_masked_softmax_ce
from segue.training.masking import mask_for_bert4rec
from segue.training.reproducibility import seed_everything
from segue.training.schedule import warmup_cosine

Validate = Callable[[TrackTransformer], dict[str, float]]


@dataclass
class TrainerConfig:
    """How to train. Every field has a default that works on a laptop CPU.

    Args:
        epochs: Maximum number of passes over the training windows.
        batch_size: Windows per optimisation step (per process under DDP).
        lr: Peak learning rate of AdamW.
        weight_decay: AdamW weight decay.
        decay_all: Apply weight decay to norms, biases and embeddings too (False: only to the
            matrices of the blocks, the usual choice for transformers).
        warmup_steps: Linear warmup length in steps.
        min_lr_ratio: Floor of the cosine decay, as a fraction of ``lr``.
        grad_clip: Max global gradient norm; None disables clipping.
        patience: Stop after this many validations without improvement of ``monitor``.
        monitor: Validation metric that selects the best checkpoint.
        mask_prob: Masking probability of the masked (BERT4Rec) objective.
        seed: Seed of initialisation order, shuffling, dropout and negative sampling.
        deterministic: Ask torch for deterministic kernels.
        device: "auto" (CUDA when present), "cpu", "cuda", "cuda:1"...
        bf16: Autocast to bfloat16 on CUDA.
        num_threads: torch intra-op threads on CPU; None keeps torch's default.
        out_dir: Where checkpoints and metric logs go.
        resume: Continue from ``out_dir/last.pt`` when it exists.
        progress: Show tqdm progress bars.
        max_steps_per_epoch: Cap on steps per epoch (quick smoke runs); None means all.
        bucket_by_length: Batch windows of similar length together (less padding to compute).
        shuffle_ties: Each epoch, shuffle training events that share a user and a timestamp
            (see :meth:`TrainingSequences.shuffle_ties`).
        mask_window_items: Train with a full softmax in which the row's other window items are
            not negatives (for logs without repeats, evaluated with seen items excluded; see
            :mod:`segue.training.losses.window_masked`). Replaces the configured loss.
    """

    epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    decay_all: bool = False
    warmup_steps: int = 100
    min_lr_ratio: float = 0.0
    grad_clip: float | None = 1.0
    patience: int = 5
    monitor: str = "ndcg@10"
    mask_prob: float = 0.2
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    bf16: bool = True
    num_threads: int | None = None
    out_dir: str = "runs/default"
    resume: bool = False
    progress: bool = True
    max_steps_per_epoch: int | None = None
    bucket_by_length: bool = True
    shuffle_ties: bool = False
    mask_window_items: bool = False


@dataclass
class TrainResult:
    """What a training run produced."""

    best_epoch: int
    best_metrics: dict[str, float]
    epochs_run: int
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)
    best_path: Path | None = None
    last_path: Path | None = None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class _Loop:
    """State of one run; ``fit`` is its only public entry."""

    def __init__(
        self,
        model: TrackTransformer,
        data: TrainingSequences,
        loss: TrackLoss,
        validate: Validate,
        config: TrainerConfig,
        vocab: TrackVocab,
        reports: list[dict[str, Any]],
        run_config: str,
    ) -> None:
        self.config, self.data, self.loss, self.validate = config, data, loss, validate
        self.vocab, self.reports, self.run_config = vocab, reports, run_config
        self.out = Path(config.out_dir)
        self.rank, self.world = distributed.rank_and_world()
        self.device = distributed.device_for_rank(resolve_device(config.device))
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        self.generator = seed_everything(config.seed, config.deterministic)
        loss.generator = self.generator
        self.model = model.to(self.device)
        self.trained = distributed.wrap(self.model, self.device)
        groups = (
            self.model.parameters()
            if config.decay_all
            else param_groups(self.model, config.weight_decay)
        )
        self.optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
        self.steps_per_epoch = math.ceil(math.ceil(len(data) / config.batch_size) / self.world)
        if config.max_steps_per_epoch:
            self.steps_per_epoch = min(self.steps_per_epoch, config.max_steps_per_epoch)
        total = self.steps_per_epoch * config.epochs
        self.scheduler = warmup_cosine(
            self.optimizer, min(config.warmup_steps, total // 2), total, config.min_lr_ratio
        )
        self.epoch, self.best, self.best_epoch, self.stale = 0, -math.inf, 0, 0
        self.best_metrics: dict[str, float] = {}
        self.history: list[dict[str, Any]] = []
        self.train_seconds = 0.0

    # -- one epoch ---------------------------------------------------------------------------

    def _batches(self) -> list[torch.Tensor]:
        batches = epoch_batches(
            self.data, self.config.batch_size, self.generator, self.config.bucket_by_length
        )
        batches = batches[self.rank :: self.world]  # each DDP process takes its own share
        return batches[: self.steps_per_epoch]

    def _step(self, indices: torch.Tensor) -> tuple[float, int]:
        batch = self.data.batch(indices.numpy())
        if self.model.config.objective == "masked":
            batch = mask_for_bert4rec(
                batch, self.config.mask_prob, self.model.config.mask_token, self.generator
            )
        batch = batch.to(self.device)
        assert batch.targets is not None
        if not bool((batch.targets > 0).any()):
            return 0.0, 0  # nothing to predict (possible after shuffling ties); no update
        autocast = self.device.type == "cuda" and self.config.bf16
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=autocast):
            hidden = self.trained(batch)  # (B, T, D)
            has_target = batch.targets > 0
            if self.config.mask_window_items:
                value = window_masked_softmax_ce(
                    hidden[has_target].float(),
                    self.model.catalogue_embeddings().float(),
                    batch.targets[has_target],
                    torch.cat([batch.tracks, batch.targets], dim=1),
                    has_target.nonzero()[:, 0],
                )
            else:
                value = self.loss(
                    hidden[has_target].float(),
                    self.model.catalogue_embeddings().float(),
                    batch.targets[has_target],
                )
        self.optimizer.zero_grad(set_to_none=True)
        value.backward()
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return float(value.detach()), len(indices)

    def _train_epoch(self) -> dict[str, float]:
        self.trained.train()
        if self.config.shuffle_ties:
            self.data.shuffle_ties(int(torch.randint(2**31 - 1, (1,), generator=self.generator)))
        batches = self._batches()
        bar = tqdm(
            batches,
            desc=f"epoch {self.epoch + 1}/{self.config.epochs}",
            disable=not self.config.progress or self.rank != 0,
            leave=False,
        )
        total_loss, seen, start = 0.0, 0, time.perf_counter()
        for indices in bar:
            loss, n = self._step(indices)
            total_loss += loss * n
            seen += n
            rate = seen / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(loss=f"{loss:.4f}", seq_s=f"{rate:,.0f}")
        seconds = time.perf_counter() - start
        self.train_seconds += seconds
        return {
            "train_loss": total_loss / max(seen, 1),
            "epoch_seconds": seconds,
            "sequences_per_second": seen * self.world / max(seconds, 1e-9),
            "lr": float(self.scheduler.get_last_lr()[0]),
        }

    # -- checkpoints -------------------------------------------------------------------------

    def _checkpoint(self, metrics: dict[str, Any], with_state: bool) -> Checkpoint:
        state: dict[str, Any] = {}
        if with_state:
            state = {
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "generator": self.generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "epoch": self.epoch,
                "best": self.best,
                "best_epoch": self.best_epoch,
                "best_metrics": self.best_metrics,
                "stale": self.stale,
                "history": self.history,
                "train_seconds": self.train_seconds,
            }
        return Checkpoint(
            model_config=self.model.config,
            state_dict=self.model.state_dict(),
            vocab=self.vocab,
            metrics=metrics,
            reports=self.reports,
            config=self.run_config,
            training_state=state,
        )

    def resume(self, path: Path) -> None:
        checkpoint = load_checkpoint(path, map_location=self.device)
        state = checkpoint.training_state
        if not state:
            raise ValueError(f"{path} holds no training state to resume from")
        self.model.load_state_dict(checkpoint.state_dict)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.epoch, self.best, self.best_epoch = state["epoch"], state["best"], state["best_epoch"]
        self.best_metrics, self.stale = state["best_metrics"], state["stale"]
        self.history, self.train_seconds = state["history"], state["train_seconds"]

    def _log(self, row: dict[str, Any]) -> None:
        self.history.append(row)
        self._write_logs([row])

    def _restart_logs(self) -> None:
        """Start the per-epoch logs from the history this run continues (none when fresh).

        A fresh run in a folder used before must not append to the old run's rows, and a
        resumed run's logs must hold exactly the epochs its checkpoint knows.
        """
        for name in ("metrics.jsonl", "metrics.csv"):
            (self.out / name).unlink(missing_ok=True)
        self._write_logs(self.history)

    def _write_logs(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.writelines(json.dumps(row) + "\n" for row in rows)
        new_file = not (self.out / "metrics.csv").exists()
        with open(self.out / "metrics.csv", "a", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            if new_file:
                writer.writeheader()
            writer.writerows(rows)

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> TrainResult:
        self.out.mkdir(parents=True, exist_ok=True)
        if self.config.resume and (self.out / "last.pt").exists():
            self.resume(self.out / "last.pt")
        if self.rank == 0:
            self._restart_logs()
        while self.epoch < self.config.epochs and self.stale < self.config.patience:
            row: dict[str, Any] = {"epoch": self.epoch + 1, **self._train_epoch()}
            self.epoch += 1
            if self.rank == 0:
                row.update(self.validate(self.model))
                self._after_validation(row)
            self.stale = distributed.broadcast_int(self.stale, self.device)
        result = TrainResult(
            best_epoch=self.best_epoch,
            best_metrics=self.best_metrics,
            epochs_run=self.epoch,
            seconds=self.train_seconds,
            history=self.history,
            best_path=self.out / "best.pt",
            last_path=self.out / "last.pt",
        )
        distributed.barrier()
        return result

    def _after_validation(self, row: dict[str, Any]) -> None:
        monitored = row[self.config.monitor]
        improved = monitored > self.best
        if improved:
            self.best, self.best_epoch, self.stale = monitored, self.epoch, 0
            self.best_metrics = {k: v for k, v in row.items() if isinstance(v, (int, float))}
        else:
            self.stale += 1
        row["best"] = improved
        self._log(row)
        if improved:
            save_checkpoint(
                self._checkpoint(self.best_metrics, with_state=False), self.out / "best.pt"
            )
        save_checkpoint(self._checkpoint(row, with_state=True), self.out / "last.pt")
        if self.config.progress:
            shown = ", ".join(
                f"{k} {v:.4f}" for k, v in row.items() if isinstance(v, float) and k != "lr"
            )
            tqdm.write(f"epoch {self.epoch}: {shown}{'  *' if improved else ''}")


def fit(
    model: TrackTransformer,
    data: TrainingSequences,
    loss: TrackLoss,
    validate: Validate,
    config: TrainerConfig,
    *,
    vocab: TrackVocab,
    reports: list[dict[str, Any]] | None = None,
    run_config: str = "",
) -> TrainResult:
    """Train ``model`` on ``data`` with ``loss``, validating after every epoch.

    Args:
        model: The transformer (its config is stored in every checkpoint).
        data: Training windows.
        loss: A configured loss (:func:`segue.training.losses.loss_for`).
        validate: Returns validation metrics of the model (must include ``config.monitor``).
        config: Loop settings.
        vocab: Track vocabulary, stored in checkpoints.
        reports: Data reports, stored in checkpoints.
        run_config: The resolved run configuration (YAML), stored in checkpoints.
    """
    os.makedirs(config.out_dir, exist_ok=True)
    with open(Path(config.out_dir) / "trainer.json", "w", encoding="utf-8") as f:
        json.dump(asdict(config), f, indent=2)
    return _Loop(model, data, loss, validate, config, vocab, reports or [], run_config).run()
