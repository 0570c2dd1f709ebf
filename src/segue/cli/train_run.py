"""Train a next-track model from a composed config, then report test metrics and a playlist.

The body of ``segue train`` and ``python scripts/train.py`` (a thin ``@hydra.main`` shell). Like
``scripts/``, this is an edge of the library where a Hydra ``DictConfig`` is read: the config
becomes a :class:`segue.recipes.RunRecipe` (:func:`run_recipe`), and the run is built and
trained by the recipes, which the benchmarks and tests call too. Nothing below ``segue.cli``
sees a ``DictConfig``.

Output goes through ``logging``: the console and the run folder's ``train.log`` get the same
lines (:func:`segue.cli.run_folder.run_output`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from segue import recipes
from segue.cli.run_checks import (
    RunSettings,
    blend_weights,
    check_run_settings,
    cooccurrence_weights,
    plain,
    trainer_settings,
)
from segue.cli.run_folder import run_output
from segue.data.pipeline import PreparedData
from segue.data.sequences import SideInputs
from segue.data.settings import (
    GROUP_KEYS,
    DataSettings,
    prepare_from_settings,
    settings_from_group,
)
from segue.data.vocab import TrackVocab
from segue.evaluation.blend_choice import choose_blend_weight, with_blend
from segue.evaluation.ranking import top_k
from segue.evaluation.scoring import rank_points, score_points
from segue.evaluation.summary import metric_summary
from segue.io.atomic_write import atomic_write_text
from segue.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from segue.models.config import ModelConfig
from segue.models.transformer import TrackTransformer
from segue.recipes import LossFactory, ModelFactory, RunRecipe
from segue.training import distributed
from segue.training.distributed import is_main_process
from segue.training.losses import TrackLoss
from segue.training.refit import refit_settings
from segue.training.trainer import TrainerConfig

logger = logging.getLogger(__name__)


def side_inputs(model_cfg: DictConfig) -> SideInputs:
    """The side inputs the ``model`` group asks for (the batches must carry them).

    Before the catalogue is known, ``artist_input`` stands for the artist count the model will
    get; the other inputs are read as :data:`segue.side_inputs.SIDE_INPUTS` declares them.
    """
    values = {**dataclasses.asdict(ModelConfig(n_tracks=1)), **plain(model_cfg)}
    values["n_artists"] = int(bool(values.pop("artist_input", False)))
    return SideInputs.of_model(values)


def data_group(cfg: DictConfig) -> dict[str, Any]:
    """The ``data`` group's settings (:data:`~segue.data.settings.GROUP_KEYS`) as plain values."""
    values = {key: cfg.data.get(key) for key in GROUP_KEYS}
    return {
        key: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
        for key, v in values.items()
    }


def data_settings(cfg: DictConfig) -> DataSettings:
    """The run's data settings (stored in its checkpoints), checked before anything is read.

    The data group names a reader of segue's fixed table and its plain options
    (``source: {reader: read_log, ...}``), never a ``_target_``.
    """
    return settings_from_group(
        data_group(cfg),
        max_len=cfg.model.max_len,
        causal=cfg.model.objective == "causal",
        side=side_inputs(cfg.model),
    )


def load_data(cfg: DictConfig) -> PreparedData:
    """Read the configured log and prepare sessions, split, vocabulary and datasets."""
    return prepare_from_settings(data_settings(cfg))


def model_factory(cfg: DictConfig) -> tuple[ModelFactory, bool]:
    """The ``model`` group as (a factory awaiting the catalogue sizes, ``artist_input``)."""
    values = plain(cfg.model)
    artist_input = bool(values.pop("artist_input", False))
    return instantiate(values, _partial_=True), artist_input


def loss_factory(cfg: DictConfig) -> LossFactory:
    """The ``loss`` group as a factory awaiting the catalogue size and play counts."""
    return instantiate(plain(cfg.loss), _partial_=True)


def build_model(cfg: DictConfig, vocab: TrackVocab) -> TrackTransformer:
    """The configured model for ``vocab``'s catalogue (:func:`segue.recipes.build_model`)."""
    factory, artist_input = model_factory(cfg)
    return recipes.build_model(factory, vocab, artist_input=artist_input)


def build_loss(cfg: DictConfig, vocab: TrackVocab) -> TrackLoss:
    """The configured loss for ``vocab``'s catalogue (:func:`segue.recipes.build_loss`)."""
    return recipes.build_loss(loss_factory(cfg), vocab)


def trainer_config(cfg: DictConfig) -> TrainerConfig:
    """The trainer group and the optimiser's shared settings as one checked config."""
    return trainer_settings(cfg)


def check_settings(cfg: DictConfig) -> RunSettings:
    """Every setting of the run, checked before any data is read or any epoch runs."""
    return check_run_settings(cfg, data_settings)


def run_recipe(cfg: DictConfig, settings: RunSettings | None = None) -> RunRecipe:
    """The composed train config as a :class:`RunRecipe`: every setting checked first.

    Args:
        cfg: The composed ``train`` config.
        settings: Its :func:`check_settings` result, when the caller has it already.
    """
    settings = settings or check_settings(cfg)
    model, artist_input = model_factory(cfg)
    return RunRecipe(
        data=settings.data,
        model=model,
        loss=loss_factory(cfg),
        trainer=settings.trainer,
        optimizer=settings.optimizer,
        artist_input=artist_input,
        validation_ks=tuple(settings.validation_ks),
        run_config=OmegaConf.to_yaml(cfg, resolve=True),
    )


def evaluate_on_test(
    path: Path, data: PreparedData, cfg: DictConfig
) -> tuple[TrackTransformer, dict[str, float]]:
    """The checkpoint at ``path`` ranked on the test points; its metrics stored in it too."""
    checkpoint = load_checkpoint(path)
    model = checkpoint.build_model()
    ranks = rank_points(
        model, data.test, exclude_seen=bool(cfg.data.exclude_seen), batch_size=cfg.eval.batch_size
    )
    test = metric_summary(ranks, ks=list(cfg.eval.ks))
    checkpoint.metrics = {**checkpoint.metrics, **{f"test_{k}": v for k, v in test.items()}}
    save_checkpoint(checkpoint, path)
    return model, test


def metrics_line(test: dict[str, float]) -> str:
    """The test metrics as one log line."""
    return ", ".join(f"{k} {v:.4f}" for k, v in test.items() if k != "points")


def sample_playlists(model: TrackTransformer, data: PreparedData, n: int, k: int = 10) -> str:
    """The top-k for the first ``n`` test points (``eval.sample_playlists``), as text; "" for
    ``n`` = 0."""
    if n == 0:
        return ""
    if len(data.test) == 0:
        return "(no test points)"
    shown = range(min(n, len(data.test)))
    return "\n".join(sample_playlist(model, data, point, k) for point in shown)


def sample_playlist(model: TrackTransformer, data: PreparedData, point: int, k: int = 10) -> str:
    """The top-k for test point ``point``, as text with artist and title where known."""
    k = min(k, data.vocab.n_tracks)  # a tiny catalogue has fewer than k tracks
    best = top_k(score_points(model, data.test, np.array([point])), k).indices[0]
    vocab, history = data.vocab, data.test.full_history(point)[-5:]

    def label(i: int) -> str:
        artist = vocab.artists[i - 1] if vocab.artists else None
        name = vocab.names[i - 1] if vocab.names else None
        return " - ".join(str(x) for x in (artist, name) if x) or vocab.track_ids[i - 1]

    lines = ["last played:"] + [f"    {label(int(i))}" for i in history]
    lines += ["recommended next:"] + [f"{r:>3}. {label(int(i))}" for r, i in enumerate(best, 1)]
    return "\n".join(lines)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Prepare data, train with early stopping, evaluate the best checkpoint on test.

    Logs to the console and the run folder's ``train.log`` unless ``segue`` or Hydra already do.
    """
    out_dir = Path(str(cfg.paths.output_dir))
    with run_output(out_dir / "train.log"):
        logger.info("run folder: %s", out_dir)
        try:
            return _train(cfg)
        finally:
            distributed.shutdown()  # under torchrun: before the interpreter exits


def _train(cfg: DictConfig) -> dict[str, Any]:
    """Prepare data, train with early stopping, evaluate the best checkpoint on test."""
    recipe = run_recipe(cfg)  # every setting, before any data is read
    world = distributed.launched_world()
    if cfg.get("refit") and world > 1:
        # Process 0 alone reports and would retrain alone, its DDP waiting for ranks gone.
        raise ValueError(
            f"refit=true is not supported under torchrun (WORLD_SIZE={world}): run the refit "
            "protocol in one process"
        )
    if cfg.get("refit"):  # a split whose validation fold cannot join train: say so before training
        refit_settings(recipe.data)
    data = prepare_from_settings(recipe.data)
    logger.info(data.summary())
    if (blend_weights(cfg) or cooccurrence_weights(cfg)) and len(data.validation) == 0:
        raise ValueError(
            "blend.weights: the transition blend's weight is chosen on validation, and this "
            "data has no validation points (set blend.weights=[] and "
            "blend.cooccurrence_weights=[], or keep a validation fold)"
        )
    result = recipes.train(recipe, data)  # no validation points: fixed epochs, final.pt
    assert result.best_path is not None
    if not is_main_process():  # under torchrun, process 0 alone evaluates and reports
        return {"best_epoch": result.best_epoch, "epochs_run": result.epochs_run}
    blend = choose_blend(result.best_path, data, cfg)
    best_model, test = evaluate_on_test(result.best_path, data, cfg)
    summary = {
        "data": cfg.data.name,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "train_seconds": round(result.seconds, 1),
        "validation": result.best_metrics,
        "test": test,
        "checkpoint": str(result.best_path),
    }
    if blend is not None:
        summary["blend"] = blend
    out_dir = Path(recipe.trainer.out_dir)
    atomic_write_text(out_dir / "test_metrics.json", json.dumps(summary, indent=2))
    logger.info(
        f"best epoch {result.best_epoch} of {result.epochs_run}, {result.seconds:.0f} s training"
    )
    shown = metrics_line(test)
    logger.info(f"test (full-catalogue ranking): {shown} over {test['points']:,} points")
    playlists = sample_playlists(best_model, data, int(cfg.eval.get("sample_playlists", 1)))
    if playlists:
        logger.info(playlists)
    logger.info(f"checkpoint: {result.best_path}")
    if cfg.get("refit"):
        weight = blend["weight"] if blend is not None else 0.0
        cooccurrence = blend["cooccurrence"] if blend is not None else 0.0
        summary["refit"] = refit(cfg, result.best_epoch, weight, cooccurrence)
    return summary


def choose_blend(path: Path, data: PreparedData, cfg: DictConfig) -> dict[str, Any] | None:
    """Give the checkpoint at ``path`` the blend whose weights of ``blend.weights`` and
    ``blend.cooccurrence_weights`` (or none) have the best validation NDCG@10, and store it
    there; None without weights."""
    weights, shares = blend_weights(cfg), cooccurrence_weights(cfg)
    if not weights and not shares:
        return None
    checkpoint = load_checkpoint(path)
    trained = checkpoint.build_model()
    choice = choose_blend_weight(
        trained,
        data,
        weights,
        cooccurrence_weights=shares,
        exclude_seen=bool(cfg.data.exclude_seen),
        batch_size=cfg.eval.batch_size,
    )
    shown = ", ".join(f"{w:g}: {v:.4f}" for w, v in choice.validation_ndcg.items())
    logger.info(f"transition blend, validation NDCG@10 by weight: {shown}")
    for share, by_weight in choice.cooccurrence_ndcg.items():
        shown = ", ".join(f"{w:g}: {v:.4f}" for w, v in by_weight.items())
        logger.info(f"with co-occurrence {share:g}, by weight: {shown}")
    logger.info(f"blend: weight {choice.weight:g}, co-occurrence {choice.cooccurrence:g} chosen")
    blended = with_blend(trained, choice.weight, data.train.events, choice.cooccurrence)
    _store_model(checkpoint, blended, path)
    summary: dict[str, Any] = {
        "weight": choice.weight,
        "validation_ndcg@10": choice.validation_ndcg,
        "cooccurrence": choice.cooccurrence,
    }
    if choice.cooccurrence_ndcg:
        summary["validation_ndcg@10_by_cooccurrence"] = choice.cooccurrence_ndcg
    return summary


def _store_model(checkpoint: Checkpoint, model: TrackTransformer, path: Path) -> None:
    """Write ``model``'s config and weights into ``checkpoint`` at ``path``."""
    checkpoint.model_config = model.config
    checkpoint.state_dict = model.state_dict()
    save_checkpoint(checkpoint, path)


def refit(
    cfg: DictConfig, epochs: int, blend_weight: float = 0.0, cooccurrence: float = 0.0
) -> dict[str, Any]:
    """The refit protocol's second step: retrain on train + validation, test once.

    Same settings and seed as the run that chose ``epochs`` on validation, on the data of
    :func:`segue.training.refit.refit_settings`; the learning-rate schedule is that of
    ``trainer.epochs`` epochs, stopped after ``epochs`` (what was chosen). A ``blend_weight``
    (and ``cooccurrence``) chosen on validation gives the refit model the same blend, its
    tables counted from the refit's training rows. Writes the run to ``<output_dir>/refit/``
    (``final.pt``, ``test_metrics.json``).

    Returns:
        The refit run's summary: epochs, seconds, test metrics and checkpoint.
    """
    chosen = run_recipe(cfg)
    out_dir = Path(cfg.paths.output_dir) / "refit"
    recipe = dataclasses.replace(
        chosen,
        data=refit_settings(chosen.data),
        trainer=dataclasses.replace(chosen.trainer, out_dir=str(out_dir)),
    )
    data = prepare_from_settings(recipe.data)
    result = recipes.train(recipe, data, stop_epoch=epochs)  # no validation points left
    assert result.best_path is not None
    if blend_weight > 0 or cooccurrence > 0:
        checkpoint = load_checkpoint(result.best_path)
        trained = checkpoint.build_model()
        model = with_blend(trained, blend_weight, data.train.events, cooccurrence)
        _store_model(checkpoint, model, result.best_path)
    _, test = evaluate_on_test(result.best_path, data, cfg)
    summary = {
        "data": recipe.data.name,
        "epochs": result.epochs_run,
        "train_seconds": round(result.seconds, 1),
        "blend_weight": blend_weight,
        "blend_cooccurrence": cooccurrence,
        "test": test,
        "checkpoint": str(result.best_path),
    }
    atomic_write_text(out_dir / "test_metrics.json", json.dumps(summary, indent=2))
    shown = metrics_line(test)
    logger.info(f"refit on train + validation, {result.epochs_run} epochs, test: {shown}")
    return summary
