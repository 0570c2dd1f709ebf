"""The optimizer of a run, chosen by name from a fixed table: the ``optim/`` config group.

``configs/optim/<name>.yaml`` holds the optimizer's ``name`` (a key of :data:`OPTIMIZERS`), the
settings every optimizer shares (``lr``, ``weight_decay``, ``decay_all``: fields of
:class:`~segue.training.trainer.TrainerConfig`, which also schedules the learning rate) and the
optimizer's own options (``betas``, ``momentum``...). The parameters are known only once the
model exists, so they are injected when the optimizer is built (:func:`build_optimizer`), as
torchtune's ``instantiate(cfg.optimizer, params=model.parameters())`` does.

A name, not a ``_target_``: nothing a config or a checkpoint says is imported, and each
optimizer's options are listed, so ``optim.momentun=0.9`` is named before any data is read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from segue.checks import check_choice, check_number
from segue.models.param_groups import optimizer_groups
from segue.training.trainer import TrainerConfig

SHARED_KEYS = (
    "lr",
    "weight_decay",
    "decay_all",
    "warmup_steps",
    "min_lr_ratio",
    "grad_clip",
    "prior_lr_scale",
)
"""Keys of the ``optim`` group that are :class:`TrainerConfig` fields (the schedule, clipping and
the learning rate and decay every optimizer takes); every other key but ``name`` is an option."""


def _betas(name: str, value: object) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise TypeError(f"{name} must be two numbers [beta1, beta2], got {value!r}")
    low, high = (check_number(name, v, low=0.0, high=1.0, high_open=True) for v in value)
    return low, high


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false, got {value!r}")
    return value


def _positive(name: str, value: object) -> float:
    return check_number(name, value, low=0.0, low_open=True)


def _fraction(name: str, value: object) -> float:
    return check_number(name, value, low=0.0, high=1.0)


Check = Callable[[str, object], Any]


@dataclass(frozen=True)
class OptimizerChoice:
    """One entry of :data:`OPTIMIZERS`: the optimizer class and the options it may be given.

    Args:
        build: Called as ``build(param_groups, lr=..., weight_decay=..., **options)``.
        options: Option name -> its check, which returns the value to pass (a YAML list of
            betas becomes a tuple).
    """

    build: Callable[..., torch.optim.Optimizer]
    options: Mapping[str, Check]


OPTIMIZERS: dict[str, OptimizerChoice] = {
    "adamw": OptimizerChoice(
        torch.optim.AdamW, {"betas": _betas, "eps": _positive, "amsgrad": _flag}
    ),
    "sgd": OptimizerChoice(
        torch.optim.SGD, {"momentum": _fraction, "dampening": _fraction, "nesterov": _flag}
    ),
}
"""The optimizers a run may name (``optim.name``): nothing outside this table is built."""


@dataclass(frozen=True)
class OptimizerSettings:
    """Which optimizer, and its own options (lr and weight decay are :class:`TrainerConfig`'s).

    Args:
        name: A key of :data:`OPTIMIZERS`.
        options: That optimizer's options (e.g. ``{"momentum": 0.9, "nesterov": True}``);
            unset ones keep torch's defaults.

    >>> OptimizerSettings("sgd", {"momentun": 0.9})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: momentun is not an option of the sgd optimizer; choose from ['momentum', ...]
    """

    name: str = "adamw"
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("name", self.name, OPTIMIZERS)
        choice = OPTIMIZERS[self.name]
        for key, value in self.options.items():
            if key not in choice.options:
                raise ValueError(
                    f"{key} is not an option of the {self.name} optimizer; "
                    f"choose from {list(choice.options)}"
                )
            choice.options[key](key, value)
        if self.name == "sgd" and self.options.get("nesterov"):
            momentum, dampening = self.options.get("momentum", 0), self.options.get("dampening", 0)
            if momentum <= 0 or dampening != 0:
                raise ValueError(
                    f"nesterov=true needs momentum > 0 and dampening 0, got momentum={momentum}, "
                    f"dampening={dampening}"
                )

    def checked_options(self) -> dict[str, Any]:
        """The options as the optimizer takes them (betas as a tuple)."""
        checks = OPTIMIZERS[self.name].options
        return {key: checks[key](key, value) for key, value in self.options.items()}


def split_optim_group(values: Mapping[str, Any]) -> tuple[dict[str, Any], OptimizerSettings]:
    """The ``optim`` group as (its :class:`TrainerConfig` fields, its :class:`OptimizerSettings`).

    >>> shared, chosen = split_optim_group({"name": "sgd", "lr": 0.1, "momentum": 0.9})
    >>> shared, chosen
    ({'lr': 0.1}, OptimizerSettings(name='sgd', options={'momentum': 0.9}))
    >>> split_optim_group({"lr": 0.1})[1].name  # a group without a name: AdamW, as before
    'adamw'
    """
    shared = {k: v for k, v in values.items() if k in SHARED_KEYS}
    options = {k: v for k, v in values.items() if k not in SHARED_KEYS and k != "name"}
    return shared, OptimizerSettings(str(values.get("name", "adamw")), options)


def build_optimizer(
    model: nn.Module,
    trainer: TrainerConfig,
    settings: OptimizerSettings | None = None,
) -> torch.optim.Optimizer:
    """The optimizer ``settings`` name, over ``model``'s parameters (injected here).

    Weight decay goes to the block matrices only unless ``trainer.decay_all``, and a history
    prior's parameters get ``trainer.prior_lr_scale`` times the rate
    (:func:`segue.models.param_groups.optimizer_groups`), whichever optimizer is chosen.

    Args:
        model: The model to train (its parameters are read, not copied).
        trainer: Learning rate, weight decay, ``decay_all`` and ``prior_lr_scale``.
        settings: The optimizer and its options; None: AdamW with torch's defaults, the
            optimizer :func:`segue.training.trainer.fit` uses when given none.
    """
    settings = settings or OptimizerSettings()
    groups = optimizer_groups(
        model, trainer.weight_decay, trainer.decay_all, trainer.lr, trainer.prior_lr_scale
    )
    return OPTIMIZERS[settings.name].build(
        groups, lr=trainer.lr, weight_decay=trainer.weight_decay, **settings.checked_options()
    )
