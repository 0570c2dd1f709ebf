"""Train a next-track model from a composed config, then report test metrics and a playlist.

The body of ``segue train`` and ``python scripts/train.py`` (a thin ``@hydra.main`` shell): the
config is turned into plain library calls here, so tests call :func:`train` with a composed
config and no command line. Like ``scripts/``, this is an edge of the library where a Hydra
``DictConfig`` is read; nothing below ``segue.cli`` sees one.

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
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from segue.cli.run_checks import RunSettings, check_run_settings, trainer_settings
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
from segue.evaluation.ranking import top_k
from segue.evaluation.scoring import rank_points, score_points
from segue.evaluation.summary import metric_summary
from segue.models.transformer import TrackTransformer
from segue.training.atomic_write import atomic_write_text
from segue.training.checkpoint import load_checkpoint, save_checkpoint
from segue.training.distributed import is_main_process
from segue.training.losses import TrackLoss
from segue.training.refit import refit_settings
from segue.training.trainer import TrainerConfig, fit

logger = logging.getLogger(__name__)


def side_inputs(model_cfg: DictConfig) -> SideInputs:
    return SideInputs(
        artists=bool(model_cfg.get("artist_input", False)),
        event_types=bool(model_cfg.get("use_event_types", False)),
        gap_buckets=bool(model_cfg.get("use_gap_buckets", False)),
    )


def data_settings(cfg: DictConfig) -> DataSettings:
    """The run's data settings (stored in its checkpoints), checked before anything is read.

    The data group names a reader of segue's fixed table and its plain options
    (``source: {reader: read_log, ...}``), never a ``_target_``.
    """
    values = {key: cfg.data.get(key) for key in GROUP_KEYS}
    group = {
        key: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
        for key, v in values.items()
    }
    return settings_from_group(
        group,
        max_len=cfg.model.max_len,
        causal=cfg.model.objective == "causal",
        side=side_inputs(cfg.model),
    )


def load_data(cfg: DictConfig) -> PreparedData:
    """Read the configured log and prepare sessions, split, vocabulary and datasets."""
    return prepare_from_settings(data_settings(cfg))


def build_model(cfg: DictConfig, vocab: TrackVocab) -> TrackTransformer:
    model_cfg = OmegaConf.to_container(cfg.model)
    assert isinstance(model_cfg, dict)
    artist_input = model_cfg.pop("artist_input", False)
    n_artists = vocab.n_artists if artist_input else 0
    return instantiate(model_cfg, n_tracks=vocab.n_tracks, n_artists=n_artists)


def build_loss(cfg: DictConfig, vocab: TrackVocab) -> TrackLoss:
    if cfg.trainer.get("mask_window_items") and cfg.loss.name != "softmax":
        raise ValueError(
            f"trainer.mask_window_items=true trains with a window-masked full softmax, so "
            f"loss={cfg.loss.name} would be ignored: set trainer.mask_window_items=false to "
            "train with it, or loss=softmax"
        )
    counts = torch.as_tensor(vocab.popularity(), dtype=torch.float32)
    return instantiate(cfg.loss, n_tracks=vocab.n_tracks, counts=counts)


def trainer_config(cfg: DictConfig) -> TrainerConfig:
    """The trainer and optimiser groups as one checked :class:`TrainerConfig`."""
    return trainer_settings(cfg)


def check_settings(cfg: DictConfig) -> RunSettings:
    """Every setting of the run, checked before any data is read or any epoch runs."""
    return check_run_settings(cfg, data_settings)


def sample_playlist(model: TrackTransformer, data: PreparedData, k: int = 10) -> str:
    """The top-k for the first test point, as text with artist and title where known."""
    if len(data.test) == 0:
        return "(no test points)"
    k = min(k, data.vocab.n_tracks)  # a tiny catalogue has fewer than k tracks
    best = top_k(score_points(model, data.test, np.array([0])), k).indices[0]
    vocab, history = data.vocab, data.test.full_history(0)[-5:]

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
        return _train(cfg)


def _train(cfg: DictConfig) -> dict[str, Any]:
    """Prepare data, train with early stopping, evaluate the best checkpoint on test."""
    run = check_settings(cfg)  # every setting, before any data is read
    recipe, settings = run.data, run.trainer
    data = prepare_from_settings(recipe)
    logger.info(data.summary())
    model = build_model(cfg, data.vocab)
    exclude_seen = bool(cfg.data.exclude_seen)

    def validate(m: TrackTransformer) -> dict[str, float]:
        ranks = rank_points(m, data.validation, exclude_seen=exclude_seen)
        return metric_summary(ranks, ks=run.validation_ks)  # the monitored cut-off included

    result = fit(
        model,
        data.train,
        build_loss(cfg, data.vocab),
        validate if len(data.validation) else None,  # no validation fold: fixed epochs
        settings,
        vocab=data.vocab,
        reports=[r.to_dict() for r in data.reports],
        run_config=OmegaConf.to_yaml(cfg, resolve=True),
        # The model decides the side inputs it reads (no artist input when the log has none).
        data_settings=recipe.for_model(model.config),
    )
    assert result.best_path is not None
    if not is_main_process():  # under torchrun, process 0 alone evaluates and reports
        return {"best_epoch": result.best_epoch, "epochs_run": result.epochs_run}
    best = load_checkpoint(result.best_path)
    best_model = best.build_model()
    ranks = rank_points(
        best_model, data.test, exclude_seen=exclude_seen, batch_size=cfg.eval.batch_size
    )
    test = metric_summary(ranks, ks=cfg.eval.ks)
    best.metrics = {**best.metrics, **{f"test_{k}": v for k, v in test.items()}}
    save_checkpoint(best, result.best_path)
    summary = {
        "data": cfg.data.name,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "train_seconds": round(result.seconds, 1),
        "validation": result.best_metrics,
        "test": test,
        "checkpoint": str(result.best_path),
    }
    atomic_write_text(Path(settings.out_dir) / "test_metrics.json", json.dumps(summary, indent=2))
    logger.info(
        f"best epoch {result.best_epoch} of {result.epochs_run}, {result.seconds:.0f} s training"
    )
    logger.info(
        "test (full-catalogue ranking): "
        + ", ".join(f"{k} {v:.4f}" for k, v in test.items() if k != "points")
        + f" over {test['points']:,} points"
    )
    logger.info(sample_playlist(best_model, data))
    logger.info(f"checkpoint: {result.best_path}")
    if cfg.get("refit"):
        summary["refit"] = refit(cfg, result.best_epoch)
    return summary


def refit(cfg: DictConfig, epochs: int) -> dict[str, Any]:
    """The refit protocol's second step: retrain on train + validation, test once.

    Same settings and seed as the run that chose ``epochs`` on validation, on the data of
    :func:`segue.training.refit.refit_settings`; the learning-rate schedule is that of
    ``trainer.epochs`` epochs, stopped after ``epochs`` (what was chosen). Writes the run to
    ``<output_dir>/refit/`` (``final.pt``, ``test_metrics.json``).

    Returns:
        The refit run's summary: epochs, seconds, test metrics and checkpoint.
    """
    recipe = refit_settings(data_settings(cfg))
    data = prepare_from_settings(recipe)
    settings = dataclasses.replace(
        trainer_config(cfg), out_dir=str(Path(cfg.paths.output_dir) / "refit")
    )
    model = build_model(cfg, data.vocab)
    result = fit(
        model,
        data.train,
        build_loss(cfg, data.vocab),
        None,
        settings,
        vocab=data.vocab,
        reports=[r.to_dict() for r in data.reports],
        run_config=OmegaConf.to_yaml(cfg, resolve=True),
        data_settings=recipe.for_model(model.config),
        stop_epoch=epochs,
    )
    assert result.best_path is not None
    final = load_checkpoint(result.best_path)
    ranks = rank_points(
        final.build_model(),
        data.test,
        exclude_seen=bool(cfg.data.exclude_seen),
        batch_size=cfg.eval.batch_size,
    )
    test = metric_summary(ranks, ks=cfg.eval.ks)
    summary = {
        "data": recipe.name,
        "epochs": result.epochs_run,
        "train_seconds": round(result.seconds, 1),
        "test": test,
        "checkpoint": str(result.best_path),
    }
    atomic_write_text(Path(settings.out_dir) / "test_metrics.json", json.dumps(summary, indent=2))
    logger.info(
        f"refit on train + validation, {result.epochs_run} epochs, test: "
        + ", ".join(f"{k} {v:.4f}" for k, v in test.items() if k != "points")
    )
    return summary
