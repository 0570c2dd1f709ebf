"""A plain PyTorch training loop with early stopping on full-catalogue validation NDCG@10.

No training framework: one loop over shuffled windows, AdamW (or the optimizer given to
:func:`fit`), warmup + cosine schedule, gradient clipping, bf16 autocast on CUDA, DDP when
launched by ``torchrun``. After each epoch the model is ranked against the whole catalogue on
the validation points; the best checkpoint and the last one (with everything needed for an
exact resume) are written atomically.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from segue.checks import check_field_types, check_integer, check_number
from segue.data.encoding import EncodedEvents
from segue.data.settings import DataSettings
from segue.data.vocab import TrackVocab
from segue.evaluation.summary import METRICS
from segue.io.atomic_write import atomic_write_text
from segue.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from segue.io.safe_load import CheckpointError
from segue.logs import show_progress
from segue.models.album_table import album_entry_counts, album_mates_table, artist_mates_table
from segue.models.param_groups import optimizer_groups
from segue.models.transformer import TrackTransformer
from segue.training import distributed
from segue.training.batch_loss import batch_loss, training_batch
from segue.training.batching import epoch_batches
from segue.training.embedding_init import EMBEDDING_INITS, init_track_embeddings
from segue.training.losses import TrackLoss
from segue.training.reproducibility import seed_everything
from segue.training.resume_state import check_resume_state
from segue.training.schedule import warmup_cosine
from segue.training.weight_average import WeightAverage
from segue.training.windows import TrainingWindows

Validate = Callable[[TrackTransformer], dict[str, float]]
logger = logging.getLogger(__name__)

BEST, FINAL = "best.pt", "final.pt"
"""Checkpoint of the best validation epoch; of the last epoch of a run without validation."""


@dataclass
class TrainerConfig:
    """How to train. Every field has a default that works on a laptop CPU.

    Args:
        epochs: Maximum number of passes over the training windows.
        batch_size: Windows per optimisation step (per process under DDP).
        lr: Peak learning rate of the optimizer (scheduled by warmup + cosine).
        weight_decay: Decoupled weight decay of the optimizer.
        decay_all: Apply weight decay to norms, biases and embeddings too (False: only to the
            matrices of the blocks, the usual choice for transformers).
        warmup_steps: Linear warmup length in steps; None sizes it from the data, as
            ``warmup_fraction`` of the run's total steps.
        warmup_fraction: Warmup length as a share of the total steps (epochs x steps per
            epoch), used when ``warmup_steps`` is None: a fixed step count is too long for a
            small log (100 steps were 9 of the synthetic log's 40 epochs) and too short for a
            large one.
        min_lr_ratio: Floor of the cosine decay, as a fraction of ``lr``.
        grad_clip: Max global gradient norm; None disables clipping.
        prior_lr_scale: Learning rate of the history prior's gate and count exponents, as a
            multiple of ``lr``. They are a handful of parameters that set how much each memory
            weighs; at the shared rate Adam moves each by at most ``lr`` per step, so in a run
            of a few hundred steps they barely leave their initial values.
        patience: Stop after this many validations without improvement of ``monitor`` (>= 1).
        monitor: Validation metric that selects the best checkpoint: ``ndcg@K``, ``hr@K`` or
            ``mrr@K``; the validation function must compute it (:attr:`monitor_k` is its K).
        mask_prob: Masking probability of the masked (BERT4Rec) objective.
        seed: Seed of initialisation order, shuffling, dropout and negative sampling.
        deterministic: Ask torch for deterministic kernels.
        device: "auto" (CUDA when present), "cpu", "cuda", "cuda:1"...
        bf16: Autocast to bfloat16 on CUDA.
        num_threads: torch intra-op threads on CPU; None keeps torch's default.
        out_dir: Where checkpoints and metric logs go.
        resume: Continue from ``out_dir/last.pt`` when it exists.
        progress: Show tqdm progress bars (drawn only when stderr is a terminal).
        max_steps_per_epoch: Cap on steps per epoch (quick smoke runs); None means all.
        bucket_by_length: Batch windows of similar length together (less padding to compute).
        shuffle_ties: Each epoch, shuffle training events that share a user and a timestamp
            (see :meth:`TrainingSequences.shuffle_ties`).
        ema_decay: Validate and save a moving average of the weights instead of the last
            step's (:class:`segue.training.weight_average.WeightAverage`), keeping at most this
            share of the old average per step; 0 turns it off. ``last.pt`` keeps the raw
            weights and the average, for an exact resume.
        embedding_init: How the track table starts: "random" (N(0, 0.02)) or "cooccurrence",
            the training log's co-occurrence graph
            (:mod:`segue.training.embedding_init`; needs in-memory training rows).
    """

    epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    decay_all: bool = False
    warmup_steps: int | None = None
    warmup_fraction: float = 0.05
    min_lr_ratio: float = 0.0
    grad_clip: float | None = 1.0
    prior_lr_scale: float = 1.0
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
    ema_decay: float = 0.0
    embedding_init: str = "random"

    def __post_init__(self) -> None:
        """Refuse settings that would fail or train nonsense, before any data is touched."""
        if isinstance(self.out_dir, os.PathLike):
            self.out_dir = os.fspath(self.out_dir)  # a Path is as good as its string
        check_field_types(self)
        for name in ("epochs", "batch_size", "patience"):
            check_integer(name, getattr(self, name), minimum=1)
        if self.warmup_steps is not None:
            check_integer("warmup_steps", self.warmup_steps, minimum=0)
        check_number("warmup_fraction", self.warmup_fraction, low=0.0, high=0.5)
        for name in ("num_threads", "max_steps_per_epoch"):
            if getattr(self, name) is not None:
                check_integer(name, getattr(self, name), minimum=1)
        check_number("lr", self.lr, low=0.0, low_open=True)
        check_number("weight_decay", self.weight_decay, low=0.0)
        check_number("min_lr_ratio", self.min_lr_ratio, low=0.0, high=1.0)
        if self.grad_clip is not None:
            check_number("grad_clip", self.grad_clip, low=0.0, low_open=True)
        check_number("prior_lr_scale", self.prior_lr_scale, low=0.0, low_open=True)
        check_number("mask_prob", self.mask_prob, low=0.0, high=1.0, low_open=True)
        check_number("ema_decay", self.ema_decay, low=0.0, high=1.0, high_open=True)
        if self.embedding_init not in EMBEDDING_INITS:
            raise ValueError(
                f"embedding_init must be one of {list(EMBEDDING_INITS)}, "
                f"got {self.embedding_init!r}"
            )
        monitor_k(self.monitor)
        check_device_name(self.device)

    @property
    def monitor_k(self) -> int:
        """The cut-off of :attr:`monitor`, which validation must compute (``ndcg@50`` -> 50)."""
        return monitor_k(self.monitor)


MONITOR = re.compile(rf"(?P<metric>{'|'.join(METRICS)})@(?P<k>\d+)")
"""What ``TrainerConfig.monitor`` may be: a metric of :func:`segue.evaluation.metric_summary`."""


def monitor_k(monitor: str) -> int:
    """The cut-off K of a monitored metric name, or a ``ValueError`` saying what is allowed.

    >>> monitor_k("hr@50")
    50
    """
    match = MONITOR.fullmatch(monitor)
    if match is None or int(match["k"]) < 1:
        raise ValueError(
            f"monitor must be a validation metric: {', '.join(f'{m}@K' for m in METRICS)} "
            f"with K >= 1 (e.g. ndcg@10), got {monitor!r}"
        )
    return int(match["k"])


def check_device_name(name: str) -> None:
    """Refuse a device string torch does not understand; availability is checked when used.

    >>> check_device_name("gpu")
    Traceback (most recent call last):
    ValueError: device must be auto, cpu, cuda, cuda:N or mps, got 'gpu'
    """
    if name == "auto":
        return
    try:
        kind = torch.device(name).type
    except (RuntimeError, ValueError, TypeError):
        kind = ""
    if kind not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got {name!r}")


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
    """The torch device of a ``TrainerConfig.device`` setting, checked to exist on this machine.

    Raises:
        ValueError: For a device name torch does not know, or a device this machine lacks.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    check_device_name(name)
    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"device={name!r} but CUDA is not available here; use cpu or auto")
        if device.index is not None and device.index >= count:
            raise ValueError(f"device={name!r} but this machine has {count} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={name!r} but MPS is not available here; use cpu or auto")
    return device


class _Loop:
    """State of one run; ``fit`` is its only public entry."""

    def __init__(
        self,
        model: TrackTransformer,
        data: TrainingWindows,
        loss: TrackLoss,
        validate: Validate | None,
        config: TrainerConfig,
        vocab: TrackVocab,
        reports: list[dict[str, Any]],
        run_config: str,
        data_settings: DataSettings | None = None,
        stop_epoch: int | None = None,
        optimizer: torch.optim.Optimizer | None = None,
    ) -> None:
        self.config, self.data, self.loss, self.validate = config, data, loss, validate
        self.stop_epoch = config.epochs if stop_epoch is None else stop_epoch
        self.vocab, self.reports, self.run_config = vocab, reports, run_config
        self.data_settings = data_settings
        self.out = Path(config.out_dir)
        self.rank, self.world = distributed.rank_and_world()
        self.device = distributed.device_for_rank(resolve_device(config.device))
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        self.generator = seed_everything(config.seed, config.deterministic)
        self.model = model.to(self.device)
        self.trained = distributed.wrap(self.model, self.device)
        if optimizer is None:  # the default: AdamW, decay on the block matrices only
            groups = optimizer_groups(
                self.model, config.weight_decay, config.decay_all, config.lr, config.prior_lr_scale
            )
            optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
        self.optimizer = optimizer  # built on the model's parameters, which .to() kept
        self.steps_per_epoch = math.ceil(math.ceil(len(data) / config.batch_size) / self.world)
        if config.max_steps_per_epoch:
            self.steps_per_epoch = min(self.steps_per_epoch, config.max_steps_per_epoch)
        total = self.steps_per_epoch * config.epochs
        self.scheduler = warmup_cosine(
            self.optimizer, warmup_length(config, total), total, config.min_lr_ratio
        )
        self.average = WeightAverage(self.model, config.ema_decay) if config.ema_decay else None
        self.epoch, self.best, self.best_epoch, self.stale = 0, -math.inf, 0, 0
        self.best_metrics: dict[str, float] = {}
        self.history: list[dict[str, Any]] = []
        self.train_seconds = 0.0

    # -- one epoch ---------------------------------------------------------------------------

    def _batches(self) -> list[torch.Tensor]:
        batches = epoch_batches(
            self.data, self.config.batch_size, self.generator, self.config.bucket_by_length
        )
        mine = batches[self.rank :: self.world] or batches[:1]  # each DDP process's share
        # Every process must take the same number of steps, or their collectives (gradient
        # all-reduce, buffer broadcast) pair up wrongly and the run hangs or aborts: a share
        # one batch short repeats its first batch, as DistributedSampler pads its indices.
        return list(itertools.islice(itertools.cycle(mine), self.steps_per_epoch))

    def _step(self, indices: torch.Tensor) -> tuple[float, int]:
        batch = training_batch(
            self.model, self.data.batch(indices.numpy()), self.config.mask_prob, self.generator
        )
        batch = batch.to(self.device)
        assert batch.targets is not None
        if not bool((batch.targets > 0).any()):
            return 0.0, 0  # nothing to predict (possible after shuffling ties); no update
        autocast = self.device.type == "cuda" and self.config.bf16
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=autocast):
            hidden = self.trained(batch)  # (B, T, D)
            value = batch_loss(self.model, hidden, batch, self.loss, self.generator)
        self.optimizer.zero_grad(set_to_none=True)
        value.backward()
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        if self.average is not None:
            self.average.update(self.model)
        return float(value.detach()), len(indices)

    def _train_epoch(self) -> dict[str, float]:
        self.trained.train()
        if self.config.shuffle_ties:
            self.data.shuffle_ties(int(torch.randint(2**31 - 1, (1,), generator=self.generator)))
        batches = self._batches()
        bar = tqdm(
            batches,
            desc=f"epoch {self.epoch + 1}/{self.config.epochs}",
            disable=not show_progress(self.config.progress) or self.rank != 0,
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
                "optimizer_class": type(self.optimizer).__name__,
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
            if self.average is not None:
                state["weight_average"] = self.average.state_dict()
        return Checkpoint(
            model_config=self.model.config,
            state_dict=self._weights(raw=with_state),
            vocab=self.vocab,
            metrics=metrics,
            reports=self.reports,
            config=self.run_config,
            training_state=state,
            data_settings=self.data_settings,
        )

    def _weights(self, raw: bool) -> dict[str, torch.Tensor]:
        """The weights to save: the averaged ones for a model to use (best / final), the raw
        ones for a resume (``last.pt``, whose training state carries the average too)."""
        if raw or self.average is None:
            return self.model.state_dict()
        return self.average.averaged_state_dict(self.model)

    def _validated(self) -> dict[str, float]:
        """Validation metrics of the model that would be saved (the average, when on)."""
        assert self.validate is not None
        if self.average is None:
            return self.validate(self.model)
        with self.average.applied(self.model):
            return self.validate(self.model)

    def resume(self, path: Path) -> None:
        checkpoint = load_checkpoint(path, map_location=self.device)
        state = checkpoint.training_state
        if not state:
            raise ValueError(f"{path} holds no training state to resume from")
        check_resume_state(path, state, self.optimizer, self.scheduler.state_dict())
        self._resume_average(path, state.get("weight_average"))
        self.model.load_state_dict(checkpoint.state_dict)
        try:  # torch's own checks, in its words, with the file named
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.generator.set_state(state["generator"])
            torch.set_rng_state(state["torch_rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise CheckpointError(path, f"training_state does not fit this run: {error}") from None
        self.epoch, self.best, self.best_epoch = state["epoch"], state["best"], state["best_epoch"]
        self.best_metrics, self.stale = state["best_metrics"], state["stale"]
        self.history, self.train_seconds = state["history"], state["train_seconds"]

    def _resume_average(self, path: Path, saved: dict[str, Any] | None) -> None:
        # Resuming with averaging switched on, off or to another decay would silently change
        # what is validated and saved.
        saved_decay = 0.0 if saved is None else saved.get("decay")
        if saved_decay != self.config.ema_decay:
            raise ValueError(
                f"{path} was trained with trainer.ema_decay={saved_decay}, this run has "
                f"trainer.ema_decay={self.config.ema_decay}: resume with the same trainer.ema_decay"
            )
        if saved is not None and self.average is not None:
            self.average.load_state_dict(saved, source=str(path))

    def _log(self, row: dict[str, Any]) -> None:
        self.history.append(row)
        self._write_logs()

    def _restart_logs(self) -> None:
        """Start the per-epoch logs from the history this run continues (none when fresh).

        A fresh run in a folder used before must not append to the old run's rows, and a
        resumed run's logs must hold exactly the epochs its checkpoint knows.
        """
        self._write_logs()

    def _write_logs(self) -> None:
        """Write ``metrics.jsonl`` and ``metrics.csv`` whole from the history, through the
        shared atomic-write rule: a reader (or a crash) never sees half a row, and the files
        get the shared file mode whatever the umask. An epoch rewrites a few kB."""
        if not self.history:
            for name in ("metrics.jsonl", "metrics.csv"):
                (self.out / name).unlink(missing_ok=True)
            return
        lines = "".join(json.dumps(row) + "\n" for row in self.history)
        atomic_write_text(self.out / "metrics.jsonl", lines)
        table = io.StringIO()
        writer = csv.DictWriter(table, fieldnames=list(self.history[0]))
        writer.writeheader()
        writer.writerows(self.history)
        atomic_write_text(self.out / "metrics.csv", table.getvalue())

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> TrainResult:
        self.out.mkdir(parents=True, exist_ok=True)
        if self.config.resume and (self.out / "last.pt").exists():
            self.resume(self.out / "last.pt")
        if self.rank == 0:
            self._restart_logs()
        while self.epoch < self.stop_epoch and self.stale < self.config.patience:
            row: dict[str, Any] = {"epoch": self.epoch + 1, **self._train_epoch()}
            self.epoch += 1
            if self.rank == 0 and self.validate is None:
                self._after_epoch_without_validation(row)
            elif self.rank == 0 and self.validate is not None:
                row.update(self._validated())
                self._after_validation(row)
            self.stale = distributed.broadcast_int(self.stale, self.device)
        chosen = FINAL if self.validate is None else BEST
        result = TrainResult(
            best_epoch=self.best_epoch,
            best_metrics=self.best_metrics,
            epochs_run=self.epoch,
            seconds=self.train_seconds,
            history=self.history,
            best_path=self.out / chosen,
            last_path=self.out / "last.pt",
        )
        distributed.barrier()
        return result

    def _after_epoch_without_validation(self, row: dict[str, Any]) -> None:
        """No validation (a refit): the model of the last epoch is the one to use.

        Every epoch still writes ``last.pt`` (a resumable state); the stop epoch also writes
        ``final.pt``, the counterpart of ``best.pt`` for a run that cannot choose an epoch.
        """
        self.best_epoch = self.epoch
        self.best_metrics = {k: v for k, v in row.items() if isinstance(v, (int, float))}
        self._log(row)
        if self.epoch == self.stop_epoch:
            save_checkpoint(self._checkpoint(self.best_metrics, with_state=False), self.out / FINAL)
        save_checkpoint(self._checkpoint(row, with_state=True), self.out / "last.pt")
        logger.info("epoch %d: train_loss %.4f (no validation)", self.epoch, row["train_loss"])

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
        # Logged, not printed: the run's log file keeps the epoch lines (bars stay on screen).
        shown = ", ".join(
            f"{k} {v:.4f}" for k, v in row.items() if isinstance(v, float) and k != "lr"
        )
        logger.info("epoch %d: %s%s", self.epoch, shown, "  *" if improved else "")


def fit(
    model: TrackTransformer,
    data: TrainingWindows,
    loss: TrackLoss,
    validate: Validate | None,
    config: TrainerConfig,
    *,
    vocab: TrackVocab,
    reports: list[dict[str, Any]] | None = None,
    run_config: str = "",
    data_settings: DataSettings | None = None,
    stop_epoch: int | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> TrainResult:
    """Train ``model`` on ``data`` with ``loss``, validating after every epoch.

    Without ``validate`` (a refit on train + validation, where nothing is left to validate
    on) the run trains a fixed number of epochs, never stops early, and writes the model of
    its last epoch to ``final.pt`` (``TrainResult.best_path``); ``best_epoch`` is that epoch.
    With ``stop_epoch`` it follows the learning-rate schedule of ``config.epochs`` epochs but
    stops after ``stop_epoch``: a refit then retraces, on more data, the schedule under which
    that epoch was chosen on validation.

    Args:
        model: The transformer (its config is stored in every checkpoint).
        data: Training windows: in memory (``TrainingSequences``) or sharded
            (``segue.scale.ShardedWindows``), anything with :class:`TrainingWindows`' calls.
        loss: A configured loss (:func:`segue.training.losses.loss_for`).
        validate: Returns validation metrics of the model (must include ``config.monitor``);
            None: no validation (see above).
        config: Loop settings.
        vocab: Track vocabulary, stored in checkpoints.
        reports: Data reports, stored in checkpoints.
        run_config: The resolved run configuration (YAML), stored in checkpoints.
        data_settings: How ``data`` was prepared, stored in checkpoints so that evaluation
            and export rebuild the same data (:func:`segue.data.settings.prepare_from_settings`).
        stop_epoch: Last epoch to train, in 1..``config.epochs``; None: ``config.epochs``.
        optimizer: An optimizer over ``model``'s parameters
            (:func:`segue.recipes.build_optimizer` builds the one a config names); its
            learning rate is scheduled by ``config``. None: AdamW with ``config.lr`` and
            ``config.weight_decay`` (not on norms, biases and embeddings unless
            ``config.decay_all``).

    Raises:
        ValueError: On a ``stop_epoch`` outside 1..``config.epochs``, before any training.
    """
    if stop_epoch is not None and not 1 <= stop_epoch <= config.epochs:
        raise ValueError(f"stop_epoch must be in 1..epochs={config.epochs}, got {stop_epoch}")
    if model.prior is not None:
        loss.check_prior()
        fit_prior_tables(model, data, vocab)
    if model.blend is not None:  # a blend set before training (model.blend_weight > 0)
        events = training_rows(data, "a transition blend", "model.blend_weight=0")
        model.blend.fit_table(events.tracks, events.group_start, events.is_skip)
    if config.embedding_init == "cooccurrence":  # before the loop: its average copies the start
        events = training_rows(data, "a co-occurrence start", "trainer.embedding_init=random")
        init_track_embeddings(model, events, config.seed)
    atomic_write_text(Path(config.out_dir) / "trainer.json", json.dumps(asdict(config), indent=2))
    return _Loop(
        model,
        data,
        loss,
        validate,
        config,
        vocab,
        reports or [],
        run_config,
        data_settings,
        stop_epoch,
        optimizer,
    ).run()


def fit_prior_tables(model: TrackTransformer, data: TrainingWindows, vocab: TrackVocab) -> None:
    """Fill the history prior's tables: the transition table and album-entry counts from the
    training rows, in their own order, the album and artist tables from the vocabulary.

    A resumed run recounts the same tables from the same data, so resume stays exact.
    """
    prior, config = model.prior, model.config
    assert prior is not None
    events = training_rows(data, "a history prior", "model.history_prior=false")
    prior.fit_table(events.tracks, events.group_start, events.is_skip)
    if prior.album:
        mates = album_mates_table(vocab, config.prior_album_tracks)
        prior.fit_albums(mates)
        if prior.album_entry:  # needs the album feature: its table says who is a mate
            counts = album_entry_counts(events.tracks, events.group_start, mates, events.is_skip)
            prior.fit_album_entries(counts)
    if prior.artist:
        prior.fit_artists(*artist_mates_table(vocab, config.prior_artist_tracks))


def training_rows(data: TrainingWindows, model_kind: str, off: str) -> EncodedEvents:
    """The in-memory training rows a table is counted from, or an error saying that streamed
    shards have none (``model_kind``: what needs them; ``off``: the setting that turns it off)."""
    events: EncodedEvents | None = getattr(data, "events", None)
    if events is None:
        raise ValueError(
            f"{model_kind} counts its table from in-memory training sequences; "
            f"streamed shards do not provide them (set {off})"
        )
    return events


def warmup_length(config: TrainerConfig, total_steps: int) -> int:
    """Warmup steps of a run of ``total_steps``: ``warmup_steps``, else the configured share.

    Never more than half the run, so that a short run still decays.

    >>> warmup_length(TrainerConfig(warmup_fraction=0.05), 480)  # synthetic: 12 steps x 40
    24
    >>> warmup_length(TrainerConfig(warmup_steps=100), 120)
    60
    """
    steps = config.warmup_steps
    if steps is None:
        steps = round(config.warmup_fraction * total_steps)
    return min(steps, total_steps // 2)
