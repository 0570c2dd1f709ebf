"""The training state of a ``last.pt``, checked field by field before a resume loads any of it.

:func:`segue.io.checkpoint.load_checkpoint` checks the model (weights, vocabulary, settings) and
that ``training_state`` is a dict; a resume then hands a dozen of its fields to torch (optimizer,
scheduler, random generators) or keeps them as the loop's own (epoch, best score, history). A
damaged or hostile file must fail here, naming the field, not with an ``AttributeError`` from
deep in torch, or worse load: a learning-rate schedule takes any key it is given
(``LambdaLR.load_state_dict`` updates its ``__dict__``), and a NaN best score would make every
epoch look no better, so the run would stop by patience with nothing learnt saved.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from segue.checks import check_integer, check_number
from segue.io.safe_load import CheckpointError, check_type

_COUNTS = ("epoch", "best_epoch", "stale")
"""Whole numbers >= 0 the loop keeps."""
_REQUIRED = (
    "optimizer", "scheduler", "generator", "torch_rng", "best", "best_metrics", *_COUNTS,
    "history", "train_seconds",
)  # fmt: skip
"""What every ``last.pt`` since resumes existed holds (``optimizer_class`` and
``weight_average`` came later and have defaults)."""


def check_resume_state(
    path: Path, state: dict[str, Any], optimizer: torch.optim.Optimizer, scheduler: dict[str, Any]
) -> None:
    """Refuse a training state a resume could not use as it is.

    Args:
        path: The checkpoint, for the messages.
        state: Its ``training_state`` (already known to be a non-empty dict).
        optimizer: This run's optimizer: the saved state must be of the same class, with as
            many parameter groups.
        scheduler: This run's own ``scheduler.state_dict()``: the saved one must have no other
            keys, and lists of the same length (one entry per parameter group).

    Raises:
        CheckpointError: Naming the first field that is missing or of the wrong kind.
    """
    for name in _REQUIRED:
        if name not in state:
            raise CheckpointError(path, f"training_state has no {name!r}")
    # Checkpoints from before the class name was kept were all AdamW.
    _check_optimizer(path, state["optimizer"], state.get("optimizer_class", "AdamW"), optimizer)
    _check_scheduler(path, state["scheduler"], scheduler)
    for name in ("generator", "torch_rng"):
        _check_rng(path, name, state[name])
    for name in _COUNTS:
        _check_count(path, f"training_state.{name}", state[name])
    best = state["best"]
    if not (isinstance(best, float) and best == -math.inf):  # -inf: nothing validated yet
        _check_number(path, "training_state.best", best)
    _check_number(path, "training_state.train_seconds", state["train_seconds"])
    _check_metrics(path, "best_metrics", state["best_metrics"])
    history = state["history"]
    check_type(path, "training_state.history", history, list)
    for i, row in enumerate(history):
        _check_row(path, f"history[{i}]", row)
    if state.get("weight_average") is not None:
        check_type(path, "training_state.weight_average", state["weight_average"], dict)


def _check_optimizer(path: Path, saved: object, name: object, mine: torch.optim.Optimizer) -> None:
    check_type(path, "training_state.optimizer_class", name, str)
    # Another optimizer's state would load without complaint and train with its settings.
    if name != type(mine).__name__:
        raise ValueError(
            f"{path} was trained with {name}, this run's optimizer is "
            f"{type(mine).__name__}: resume with the same optim group"
        )
    check_type(path, "training_state.optimizer", saved, dict)
    assert isinstance(saved, dict)
    check_type(path, "training_state.optimizer['state']", saved.get("state"), dict)
    groups = saved.get("param_groups")
    check_type(path, "training_state.optimizer['param_groups']", groups, list)
    assert isinstance(groups, list)
    for i, group in enumerate(groups):
        check_type(path, f"training_state.optimizer['param_groups'][{i}]", group, dict)
    # torch refuses a group count that differs, in words that name no setting.
    if len(groups) != len(mine.param_groups):
        raise ValueError(
            f"{path} was trained with {len(groups)} parameter groups, this run has "
            f"{len(mine.param_groups)}: resume with the same optim.decay_all "
            "and optim.prior_lr_scale"
        )


def _check_scheduler(path: Path, saved: object, mine: dict[str, Any]) -> None:
    check_type(path, "training_state.scheduler", saved, dict)
    assert isinstance(saved, dict)
    for key, value in saved.items():
        where = f"training_state.scheduler[{key!r}]"
        if key not in mine:
            known = ", ".join(sorted(map(str, mine)))
            raise CheckpointError(path, f"{where} is not a key of this run's schedule ({known})")
        expected = mine[key]
        if isinstance(expected, list):
            check_type(path, where, value, list)
            if len(value) != len(expected):
                raise CheckpointError(
                    path, f"{where} has {len(value)} entries, this run has {len(expected)}"
                )
            if key != "lr_lambdas":  # None per group for a function, which is not saved
                for item in value:
                    _check_number(path, where, item)
        elif isinstance(expected, bool) or expected is None:
            if value is not None and not isinstance(value, bool):
                raise CheckpointError(path, f"{where} must be a bool, got {type(value).__name__}")
        elif isinstance(expected, int):
            _check_count(path, where, value, minimum=-1)
        elif isinstance(expected, float):
            _check_number(path, where, value)


def _check_rng(path: Path, name: str, value: object) -> None:
    where = f"training_state.{name}"
    check_type(path, where, value, torch.Tensor)
    assert isinstance(value, torch.Tensor)
    if value.dtype != torch.uint8 or value.dim() != 1:
        raise CheckpointError(
            path,
            f"{where} must be a 1-d uint8 tensor (a generator state), got "
            f"{value.dtype} of shape {tuple(value.shape)}",
        )


def _check_count(path: Path, where: str, value: object, minimum: int = 0) -> None:
    try:
        check_integer(where, value, minimum=minimum)
    except (TypeError, ValueError) as error:
        raise CheckpointError(path, str(error)) from None


def _check_number(path: Path, where: str, value: object) -> None:
    """A finite number (:func:`segue.checks.check_number`'s rule), else a CheckpointError."""
    try:
        check_number(where, value)
    except (TypeError, ValueError) as error:
        raise CheckpointError(path, str(error)) from None


def _check_metrics(path: Path, name: str, values: object) -> None:
    """Named numbers (any float: a metric of an empty validation set may be NaN)."""
    check_type(path, f"training_state.{name}", values, dict)
    assert isinstance(values, dict)
    for key, value in values.items():
        if not isinstance(key, str) or not isinstance(value, int | float):
            raise CheckpointError(
                path, f"training_state.{name}[{key!r}] must be a number under a name"
            )


def _check_row(path: Path, name: str, row: object) -> None:
    """One epoch of the history: named values, written to metrics.jsonl and metrics.csv."""
    check_type(path, f"training_state.{name}", row, dict)
    assert isinstance(row, dict)
    for key, value in row.items():
        if not isinstance(key, str) or not isinstance(value, str | int | float | None):
            raise CheckpointError(
                path, f"training_state.{name}[{key!r}] must be a number or text under a name"
            )
