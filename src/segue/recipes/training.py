"""A training run from typed settings: the one place the model, loss and optimizer meet the data.

Before this module, each caller (``segue train``, the benchmarks, the tests) turned a config into
a model, a loss, an optimizer and a validation function by hand. A :class:`RunRecipe` holds the
checked settings of a run as plain values; :func:`build_parts` builds what it names for a
prepared catalogue, injecting the values known only then (``n_tracks``, ``n_artists``, the
popularity ``counts``, the model's parameters), and :func:`train` runs
:func:`segue.training.trainer.fit` on them. The config-reading edge
(:func:`segue.cli.train_run.run_recipe`) is the only code that sees a Hydra config.

The model and the loss come as *factories*: callables taking the run-time values as keywords
(``functools.partial(sasrec, d_model=64)``; Hydra's ``instantiate(cfg.model, _partial_=True)``
makes one from a config group's ``_target_``), so a new model or loss needs no change here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from segue.data.pipeline import PreparedData
from segue.data.sequences import PredictionSequences
from segue.data.settings import DataSettings
from segue.data.vocab import TrackVocab
from segue.evaluation.scoring import rank_points
from segue.evaluation.summary import metric_summary
from segue.models.transformer import TrackTransformer
from segue.recipes.optimizer import OptimizerSettings, build_optimizer
from segue.training.losses import TrackLoss
from segue.training.trainer import TrainerConfig, TrainResult, Validate, fit

ModelFactory = Callable[..., TrackTransformer]
"""Builds the model from keywords ``n_tracks`` and ``n_artists`` (0: no artist input)."""

LossFactory = Callable[..., TrackLoss]
"""Builds the loss from keywords ``n_tracks`` and ``counts`` (training plays per track, (V+1,))."""

VALIDATION_KS = (10, 20)
"""Cut-offs every validation reports; a recipe adds its monitored one."""


@dataclass(frozen=True)
class RunRecipe:
    """Everything a training run is built from, as checked plain values.

    Args:
        data: How the data is read and prepared (stored in every checkpoint).
        model: The model factory (see :data:`ModelFactory`).
        loss: The loss factory (see :data:`LossFactory`).
        trainer: Loop, schedule and learning-rate settings (``out_dir`` is the run folder).
        optimizer: Which optimizer and its own options.
        artist_input: Give the model the catalogue's artist count (it then reads artists).
        validation_ks: Cut-offs validation computes; must include ``trainer.monitor_k``.
        run_config: The resolved run configuration (YAML), stored in checkpoints as text.
    """

    data: DataSettings
    model: ModelFactory
    loss: LossFactory
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    artist_input: bool = False
    validation_ks: tuple[int, ...] = VALIDATION_KS
    run_config: str = ""

    def __post_init__(self) -> None:
        if self.trainer.monitor_k not in self.validation_ks:
            raise ValueError(
                f"validation_ks {list(self.validation_ks)} lack the cut-off of the monitored "
                f"metric {self.trainer.monitor}"
            )


@dataclass(frozen=True)
class RunParts:
    """What a recipe builds for one catalogue: a fresh model, its loss and its optimizer."""

    model: TrackTransformer
    loss: TrackLoss
    optimizer: torch.optim.Optimizer


def build_model(
    factory: ModelFactory, vocab: TrackVocab, *, artist_input: bool
) -> TrackTransformer:
    """A freshly initialised model for ``vocab``'s catalogue (and its artists, when read)."""
    return factory(n_tracks=vocab.n_tracks, n_artists=vocab.n_artists if artist_input else 0)


def build_loss(factory: LossFactory, vocab: TrackVocab) -> TrackLoss:
    """The loss for ``vocab``'s catalogue; popularity samplers get the training play counts."""
    counts = torch.as_tensor(vocab.popularity(), dtype=torch.float32)
    loss = factory(n_tracks=vocab.n_tracks, counts=counts)
    loss.check_unplayed_tracks(int((counts[1:] == 0).sum()))
    return loss


def build_parts(recipe: RunRecipe, vocab: TrackVocab) -> RunParts:
    """The model, loss and optimizer of ``recipe`` for ``vocab``.

    Built in that order, the order every run has used: the model's initial weights are drawn
    from torch's global generator, so the published figures depend on it.
    """
    model = build_model(recipe.model, vocab, artist_input=recipe.artist_input)
    loss = build_loss(recipe.loss, vocab)
    return RunParts(model, loss, build_optimizer(model, recipe.trainer, recipe.optimizer))


def validator(
    points: PredictionSequences, *, exclude_seen: bool, ks: Sequence[int], batch_size: int = 256
) -> Validate:
    """Full-catalogue ranking metrics of a model on ``points``, as the loop's validation."""

    def validate(model: TrackTransformer) -> dict[str, float]:
        ranks = rank_points(model, points, exclude_seen=exclude_seen, batch_size=batch_size)
        return metric_summary(ranks, ks=list(ks))

    return validate


def train(
    recipe: RunRecipe,
    data: PreparedData,
    parts: RunParts | None = None,
    *,
    validate: Validate | None = None,
    stop_epoch: int | None = None,
) -> TrainResult:
    """Train ``recipe``'s model on ``data`` into ``recipe.trainer.out_dir``.

    Args:
        recipe: The run's settings.
        data: The data ``recipe.data`` describes (:func:`segue.recipes.prepare_from_settings`).
        parts: Parts already built for ``data.vocab`` (to keep a handle on the model or the
            loss); None builds them.
        validate: The validation function; None ranks ``data.validation`` on
            ``recipe.validation_ks`` when it has points, and trains without validation (fixed
            epochs, ``final.pt``) when it has none.
        stop_epoch: Last epoch to train (a refit); see :func:`segue.training.trainer.fit`.
    """
    parts = parts or build_parts(recipe, data.vocab)
    if validate is None and len(data.validation):
        validate = validator(
            data.validation, exclude_seen=recipe.data.exclude_seen, ks=recipe.validation_ks
        )
    return fit(
        parts.model,
        data.train,
        parts.loss,
        validate,
        recipe.trainer,
        vocab=data.vocab,
        reports=[r.to_dict() for r in data.reports],
        run_config=recipe.run_config,
        # The model decides the side inputs it reads (no artist input when the log has none).
        data_settings=recipe.data.for_model(parts.model.config),
        stop_epoch=stop_epoch,
        optimizer=parts.optimizer,
    )
