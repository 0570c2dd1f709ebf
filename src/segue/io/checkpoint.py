"""Checkpoints: weights, model config, track vocabulary, data settings, reports and metrics.

A checkpoint is data, never code. It loads with ``torch.load(weights_only=True)`` (plain
containers and tensors, no pickled objects), and everything in it is checked before use
(:mod:`segue.io.safe_load`): keys and types, the model config against the weights' shapes
before anything is allocated, a SHA-256 of the weights, config, vocabulary and data settings,
finite values. The data settings are a
:class:`DataSettings` (a reader *name* and plain options), so rebuilding a run's data never
imports or instantiates anything named in the file. Any problem is a :class:`CheckpointError`
naming the file.

Writes go to a temporary file in the same folder that is then renamed, so a crash mid-write
never leaves a truncated checkpoint behind; the temporaries of killed writers are removed on the
next write (:mod:`segue.io.atomic_write`).

Versions: 1 (no data settings, no checksum; still loads for serving, but its data cannot be
rebuilt from it), 2 (current).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from segue.data.settings import DataSettings
from segue.data.vocab import TrackVocab
from segue.io.atomic_write import atomic_write
from segue.io.safe_load import (
    CheckpointError,
    check_digest,
    check_finite,
    check_header,
    check_type,
    check_weights,
    content_digest,
    file_path,
    model_config_of,
    read_payload,
    stored_sha256,
    tensor_dict,
    vocab_of,
)
from segue.models.config import ModelConfig
from segue.models.transformer import TrackTransformer

FORMAT = "segue-checkpoint"
VERSION = 2

_V1_KEYS = {
    "format",
    "version",
    "model_config",
    "state_dict",
    "vocab",
    "metrics",
    "reports",
    "config",
    "training_state",
}
KEYS = {1: _V1_KEYS, 2: _V1_KEYS | {"data_settings", "sha256"}}
"""The keys of each readable version's payload: exactly these, no more."""
OPTIONAL_KEYS = {"segue_version": str}
"""Keys a payload of any version may have: files written before them lack them."""
CHECKSUMMED = ("model_config", "vocab", "data_settings")
"""The plain parts covered by the checksum, with the weights (metrics are rewritten freely)."""

__all__ = [
    "FORMAT",
    "VERSION",
    "Checkpoint",
    "CheckpointError",
    "load_checkpoint",
    "save_checkpoint",
]


@dataclass
class Checkpoint:
    """The contents of a checkpoint file.

    Args:
        model_config: The model's hyperparameters.
        state_dict: The model's weights.
        vocab: Track vocabulary (index <-> external id, artists, counts).
        metrics: Figures measured when it was written (validation / test metrics, epoch...).
        reports: Data reports (``Report.to_dict()``) of the run that trained it.
        config: The resolved run configuration as YAML text ("" when trained without one), a
            record for people: never parsed to rebuild anything.
        training_state: Optimizer, scheduler, RNG and loop state for exact resume; empty in
            checkpoints written for inference only.
        data_settings: How the run read and prepared its data (None when unknown, as in
            version-1 files): what :meth:`require_data_settings` returns.
        segue_version: The segue that wrote the file (None for files written before it was
            stored); a record, which :func:`save_checkpoint` sets to the running segue's.
    """

    model_config: ModelConfig
    state_dict: dict[str, torch.Tensor]
    vocab: TrackVocab
    metrics: dict[str, Any] = field(default_factory=dict)
    reports: list[dict[str, Any]] = field(default_factory=list)
    config: str = ""
    training_state: dict[str, Any] = field(default_factory=dict)
    data_settings: DataSettings | None = None
    segue_version: str | None = None

    def require_data_settings(self, path: str | Path = "checkpoint") -> DataSettings:
        """The stored data settings, or a :class:`CheckpointError` that says what to do.

        Args:
            path: The file it was read from, for the message.
        """
        if self.data_settings is None:
            raise CheckpointError(
                path,
                "stores no data settings (written by an older segue, or without a data "
                "recipe), so its data cannot be rebuilt from it: pass the data explicitly "
                "(scripts: data=<group> with data_from_checkpoint=false; library: "
                "segue.prepare_data(log, ...) or prepare_from_settings(DataSettings(...)))",
            )
        return self.data_settings

    def build_model(self, device: str | torch.device = "cpu") -> TrackTransformer:
        """The model with these weights, in eval mode."""
        model = TrackTransformer(self.model_config)
        model.load_state_dict(self.state_dict)
        return model.to(device).eval()


def save_checkpoint(checkpoint: Checkpoint, path: str | Path) -> Path:
    """Write ``checkpoint`` to ``path`` atomically, with its SHA-256; returns the path."""
    state_dict = {k: v.detach().cpu() for k, v in checkpoint.state_dict.items()}
    settings = checkpoint.data_settings
    reason = None if settings is None else _misfit(settings, checkpoint.model_config)
    if reason:  # what load_checkpoint would refuse is never written
        raise ValueError(f"{reason}: store settings.for_model(model_config)")
    plain = {
        "model_config": checkpoint.model_config.to_dict(),
        "vocab": checkpoint.vocab.to_dict(),
        "data_settings": None if settings is None else settings.to_dict(),
    }
    from segue import __version__  # here: segue's __init__ imports this module

    payload = {
        "format": FORMAT,
        "version": VERSION,
        "segue_version": __version__,
        **plain,
        "state_dict": state_dict,
        "sha256": content_digest(state_dict, plain),
        "metrics": checkpoint.metrics,
        "reports": checkpoint.reports,
        "config": checkpoint.config,
        "training_state": checkpoint.training_state,
    }
    return atomic_write(path, lambda f: torch.save(payload, f))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint safely and check it (see the module docstring).

    Args:
        path: The file.
        map_location: Where the tensors go once checked.

    Raises:
        FileNotFoundError: If there is no file at ``path``.
        CheckpointError: For anything wrong with the file, naming it and the problem.
    """
    path = file_path(path, "segue checkpoint")
    return checkpoint_from_payload(path, read_payload(path, "segue checkpoint"), map_location)


def checkpoint_from_payload(
    path: Path, payload: dict[str, Any], map_location: str | torch.device = "cpu"
) -> Checkpoint:
    """:func:`load_checkpoint` of a payload already read by :func:`read_payload`, for readers
    that look at its ``format`` first (:meth:`segue.Recommender.load`): the file is read once.

    Raises:
        CheckpointError: For anything wrong with the payload, naming the file and the problem.
    """
    version = check_header(path, payload, FORMAT, KEYS, "segue checkpoint", OPTIONAL_KEYS)
    config = model_config_of(path, payload["model_config"])
    state_dict = tensor_dict(path, "state_dict", payload["state_dict"])
    check_weights(path, config, state_dict, TrackTransformer)
    vocab = vocab_of(path, payload["vocab"], config)
    for name, kind in (("metrics", dict), ("reports", list), ("config", str)):
        check_type(path, name, payload[name], kind)
    check_type(path, "training_state", payload["training_state"], dict)
    settings = payload.get("data_settings")
    if settings is not None:
        settings = _settings_of(path, settings, config)
    if version >= 2:
        plain = {key: payload[key] for key in CHECKSUMMED}
        check_digest(path, stored_sha256(path, payload["sha256"]), state_dict, plain)
    check_finite(path, state_dict)
    if _device(map_location).type != "cpu":
        state_dict = {k: v.to(map_location) for k, v in state_dict.items()}
        payload["training_state"] = _moved(payload["training_state"], map_location)
    return Checkpoint(
        model_config=config,
        state_dict=state_dict,
        vocab=vocab,
        metrics=payload["metrics"],
        reports=payload["reports"],
        config=payload["config"],
        training_state=payload["training_state"],
        data_settings=settings,
        segue_version=payload.get("segue_version"),
    )


def _settings_of(path: Path, values: object, config: ModelConfig) -> DataSettings:
    """The stored data settings, which must prepare sequences for this model.

    Training stores ``settings.for_model(config)``; settings whose ``max_len``, objective or
    side inputs differ from the model's would rebuild windows the model was not trained on
    (an artist input left at zero, every score silently off).
    """
    try:
        settings = DataSettings.from_dict(values)  # type: ignore[arg-type]
    except (TypeError, ValueError) as error:
        raise CheckpointError(path, str(error)) from None
    except RecursionError:  # check_plain walks iteratively; this guards any other recursion
        raise CheckpointError(path, "data_settings are nested too deeply") from None
    reason = _misfit(settings, config)
    if reason:
        raise CheckpointError(path, reason)
    return settings


def _misfit(settings: DataSettings, config: ModelConfig) -> str | None:
    """What differs between ``settings`` and ``settings.for_model(config)``, or None."""
    wanted = settings.for_model(config)
    differ = [
        k for k in ("max_len", "causal", "side") if getattr(settings, k) != getattr(wanted, k)
    ]
    if not differ:
        return None
    found = {k: getattr(settings, k) for k in differ}
    needed = {k: getattr(wanted, k) for k in differ}
    return f"data settings {found} do not fit model_config, which needs {needed}"


def _device(map_location: object) -> torch.device:
    """``torch.device(map_location)``, or a ``ValueError`` / ``TypeError`` naming the argument."""
    if not isinstance(map_location, str | torch.device):
        raise TypeError(f"map_location must be a device name or torch.device, got {map_location!r}")
    try:
        return torch.device(map_location)
    except RuntimeError as error:
        raise ValueError(f"map_location={map_location!r} is not a device ({error})") from None


def _moved(value: Any, device: str | torch.device) -> Any:
    """``value`` with every tensor in it (nested dicts / lists / tuples) moved to ``device``."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: _moved(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_moved(v, device) for v in value)
    return value
