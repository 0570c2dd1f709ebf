"""Checkpoints: weights, model config, track vocabulary, reports, metrics and resolved config.

A checkpoint loads with ``torch.load(weights_only=True)`` (plain containers and tensors only, no
pickled objects), so opening one from an untrusted source cannot run code, and it needs neither
the training data nor Hydra. Writes go to a temporary file in the same folder that is then
renamed, so a crash mid-write never leaves a truncated checkpoint behind.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from segue.data.vocab import TrackVocab
from segue.models.config import ModelConfig
from segue.models.transformer import TrackTransformer

FORMAT = "segue-checkpoint"
VERSION = 1


@dataclass
class Checkpoint:
    """The contents of a checkpoint file.

    Args:
        model_config: The model's hyperparameters.
        state_dict: The model's weights.
        vocab: Track vocabulary (index <-> external id, artists, counts).
        metrics: Figures measured when it was written (validation / test metrics, epoch...).
        reports: Data reports (``Report.to_dict()``) of the run that trained it.
        config: The resolved run configuration as YAML text ("" when trained without one).
        training_state: Optimizer, scheduler, RNG and loop state for exact resume; empty in
            checkpoints written for inference only.
    """

    model_config: ModelConfig
    state_dict: dict[str, torch.Tensor]
    vocab: TrackVocab
    metrics: dict[str, Any] = field(default_factory=dict)
    reports: list[dict[str, Any]] = field(default_factory=list)
    config: str = ""
    training_state: dict[str, Any] = field(default_factory=dict)

    def build_model(self, device: str | torch.device = "cpu") -> TrackTransformer:
        """The model with these weights, in eval mode."""
        model = TrackTransformer(self.model_config)
        model.load_state_dict(self.state_dict)
        return model.to(device).eval()


def save_checkpoint(checkpoint: Checkpoint, path: str | Path) -> Path:
    """Write ``checkpoint`` to ``path`` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model_config": checkpoint.model_config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in checkpoint.state_dict.items()},
        "vocab": checkpoint.vocab.to_dict(),
        "metrics": checkpoint.metrics,
        "reports": checkpoint.reports,
        "config": checkpoint.config,
        "training_state": checkpoint.training_state,
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint safely (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a segue checkpoint")
    if payload["version"] > VERSION:
        raise ValueError(
            f"{path} was written by a newer segue (checkpoint version {payload['version']})"
        )
    return Checkpoint(
        model_config=ModelConfig.from_dict(payload["model_config"]),
        state_dict=payload["state_dict"],
        vocab=TrackVocab.from_dict(payload["vocab"]),
        metrics=payload.get("metrics", {}),
        reports=payload.get("reports", []),
        config=payload.get("config", ""),
        training_state=payload.get("training_state", {}),
    )
