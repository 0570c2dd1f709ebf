"""Every setting of a training run, checked before any data is read or any epoch runs.

Shared by ``python scripts/train.py`` and ``segue train``: like them, this is an edge where a
Hydra ``DictConfig`` is read. Each config group is built as what it configures, with
placeholder sizes where only the data can decide (a 2-track catalogue), so a setting the data
cannot change fails in milliseconds instead of after the log is read (``patience=0`` used to
fail after the whole run, ``trainer.monitor=bogus`` after the first epoch). Errors keep the
type the library raised (``TypeError`` for a wrong kind, ``ValueError`` for a bad value, a
``DataError`` for data) and put the setting in front as the override that set it, in Hydra's
spelling: ``optim.lr=abc: lr must be a number > 0, got 'abc' (str)``. A key the config does
not have is named with the ``+`` that adds one (``+model.n_blocks=2``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from segue.checks import check_cut_offs, check_flag, check_integer, check_number
from segue.data.pipeline import SessionOptions
from segue.data.readers.options import check_values
from segue.data.sessions import SkipRule, check_session_settings
from segue.data.settings import DataSettings
from segue.data.splits import check_split_options
from segue.models.config import ModelConfig
from segue.recipes.optimizer import SHARED_KEYS, OptimizerSettings, split_optim_group
from segue.recipes.training import VALIDATION_KS
from segue.training.losses import TrackLoss
from segue.training.trainer import TrainerConfig, resolve_device

RUN_KEYS = ("paths", "data", "model", "loss", "optim", "trainer", "refit", "eval", "blend")
"""The top-level keys of the train config; any other (``+refti=true``) is refused."""

EVAL_KEYS = ("ks", "batch_size", "sample_playlists")
BLEND_KEYS = ("weights", "cooccurrence_weights")

READ_LOG_VALUE_OPTIONS = ("timestamp_unit", "timestamp_format", "timezone", "podcast_shows")
"""``read_log`` options whose values are checked before the run (they need no file to judge)."""


@dataclass(frozen=True)
class RunSettings:
    """A run's checked settings.

    Args:
        data: The data settings (what is read and how it is prepared).
        trainer: The trainer settings, with the learning rate and schedule of ``optim``.
        validation_ks: Cut-offs validation computes: :data:`VALIDATION_KS` and the monitor's.
        optimizer: The ``optim`` group's optimizer and its own options.
    """

    data: DataSettings
    trainer: TrainerConfig
    validation_ks: list[int]
    optimizer: OptimizerSettings = dataclasses.field(default_factory=OptimizerSettings)


def check_run_settings(
    cfg: DictConfig, data_settings: Callable[[DictConfig], DataSettings]
) -> RunSettings:
    """Check the trainer, optimiser, model, loss, eval and data groups of a composed config.

    Args:
        cfg: The composed train config.
        data_settings: The caller's builder of the run's data settings from ``cfg`` (it reads
            nothing; the settings are checked as they are built).

    Raises:
        TypeError, ValueError: Naming the setting's config path and what it may be.
    """
    check_output_dir(cfg)
    check_known_keys(cfg, "", RUN_KEYS)
    check_known_keys(cfg, "eval", EVAL_KEYS)
    check_known_keys(cfg, "blend", BLEND_KEYS)
    trainer = trainer_settings(cfg)
    optimizer = optimizer_settings(cfg)
    with naming_settings({"trainer": {"device": trainer.device}}):
        resolve_device(trainer.device)  # trainer.device=cuda on a machine without CUDA
    check_model_settings(cfg)
    check_loss_settings(cfg)
    evaluation = plain(cfg.eval)
    with naming_settings({"eval": evaluation}):
        check_cut_offs("ks", evaluation.get("ks"))
        check_integer("batch_size", evaluation.get("batch_size"), minimum=1)
        check_integer("sample_playlists", evaluation.get("sample_playlists", 1), minimum=0)
    refit = cfg.get("refit", False)
    with naming_settings({"": {"refit": refit}}):  # refit=maybe once ran the refit, as if true
        check_flag("refit", refit)
    data = _checked_data_settings(cfg, data_settings)
    blend_weights(cfg)
    cooccurrence_weights(cfg)
    ks = sorted({*VALIDATION_KS, trainer.monitor_k})
    return RunSettings(data, trainer, ks, optimizer)


def check_output_dir(cfg: DictConfig) -> None:
    """``paths.output_dir``, the run folder: a folder to create or reuse, not a file or below
    one (that was ``[Errno 17] File exists`` once the data had been prepared).

    Raises:
        NotADirectoryError: Naming the setting and the file in the way.
    """
    out = Path(str(cfg.paths.output_dir))
    existing = next((p for p in (out, *out.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise NotADirectoryError(
            f"paths.output_dir={out}: {existing} is a file, not a folder (the run folder)"
        )


def check_known_keys(cfg: DictConfig, group: str, allowed: Iterable[str]) -> None:
    """Refuse a key of ``group`` (``""``: the top level) that is none of ``allowed``, named as
    the ``+`` override that added it: ``+blend.weight=[0.5]`` would otherwise train unblended."""
    node = cfg if not group else cfg.get(group)
    if not OmegaConf.is_dict(node):
        return
    unknown = sorted(set(map(str, node.keys())) - {*allowed, "_target_"})
    if unknown:
        name = f"{group}.{unknown[0]}" if group else unknown[0]
        value = node[unknown[0]]
        value = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
        raise ValueError(
            f"+{name}={override_value(value)}: {name} is not a setting; allowed: {sorted(allowed)}"
        )


def blend_weights(cfg: DictConfig) -> list[float]:
    """The transition-blend weights ``blend.weights`` to try on validation after training,
    each checked in (0, 1); [] when the config has none (:mod:`segue.models.transition_blend`)."""
    return _blend_grid(cfg, "weights")


def cooccurrence_weights(cfg: DictConfig) -> list[float]:
    """The co-occurrence memory's shares ``blend.cooccurrence_weights`` to try with them,
    each checked in (0, 1); [] when the config has none
    (:mod:`segue.models.cooccurrence_memory`)."""
    return _blend_grid(cfg, "cooccurrence_weights")


def _blend_grid(cfg: DictConfig, key: str) -> list[float]:
    blend = cfg.get("blend")
    if blend is None or not blend.get(key):
        return []
    values = plain(blend).get(key)
    if not isinstance(values, list):
        raise ValueError(f"blend.{key} must be a list of numbers in (0, 1), got {values!r}")
    for value in values:
        check_number(f"blend.{key}[]", value, low=0.0, high=1.0, low_open=True, high_open=True)
    if plain(cfg.model).get("objective", "causal") != "causal":
        raise ValueError(f"blend.{key} needs the causal objective (the blend reads the last track)")
    return [float(v) for v in values]


def trainer_settings(cfg: DictConfig) -> TrainerConfig:
    """The ``trainer`` group and ``optim``'s shared keys as one checked :class:`TrainerConfig`.

    The ``optim`` group's own options (``momentum``...) are :func:`optimizer_settings`'.
    """
    shared = {k: v for k, v in plain(cfg.optim).items() if k in SHARED_KEYS}
    groups = {"trainer": plain(cfg.trainer), "optim": shared}
    allowed = {f.name for f in dataclasses.fields(TrainerConfig)} - {"out_dir"}
    unknown = sorted(set(groups["trainer"]) - allowed)
    if unknown:
        values = groups["trainer"]
        raise ValueError(
            f"+trainer.{unknown[0]}={override_value(values[unknown[0]])}: "
            f"trainer.{unknown[0]} is not a setting; allowed: {sorted(allowed)}"
        )
    with naming_settings(groups):
        return TrainerConfig(
            **groups["trainer"], **groups["optim"], out_dir=str(cfg.paths.output_dir)
        )


def optimizer_settings(cfg: DictConfig) -> OptimizerSettings:
    """The ``optim`` group's optimizer (``optim.name``) and its own options, checked.

    An option the chosen optimizer does not take is named (``optim.momentun=0.9: momentun is
    not an option of the sgd optimizer; choose from [...]``), as are bad values.
    """
    values = plain(cfg.optim)
    with naming_settings({"optim": values}):
        return split_optim_group(values)[1]


def check_model_settings(cfg: DictConfig) -> None:
    """Build the ``model`` group's :class:`ModelConfig` with a placeholder catalogue size."""
    values = plain(cfg.model)
    values.pop("_target_", None)
    artist_input = values.pop("artist_input", False)
    if not isinstance(artist_input, bool):
        raise TypeError(f"model.artist_input={override_value(artist_input)}: must be true or false")
    allowed = {f.name for f in dataclasses.fields(ModelConfig)} - {"n_tracks", "n_artists"}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ValueError(
            f"+model.{unknown[0]}={override_value(values[unknown[0]])}: model.{unknown[0]} is "
            f"not a setting; allowed: {sorted(allowed)}"
        )
    with naming_settings({"model": values}):
        ModelConfig(n_tracks=2, **values)


def check_loss_settings(cfg: DictConfig) -> None:
    """Build the ``loss`` group's loss for a 2-track catalogue; check it fits the trainer."""
    loss = {k: v for k, v in plain(cfg.loss).items() if k != "_target_"}
    allowed = {f.name for f in dataclasses.fields(TrackLoss)} - {"n_tracks", "counts"}
    check_known_keys(cfg, "loss", allowed)
    with naming_settings({"loss": loss}):
        built = instantiate(cfg.loss, n_tracks=2, counts=torch.tensor([0.0, 2.0, 1.0]))
    if cfg.model.get("history_prior"):
        try:
            built.check_prior()
        except ValueError as error:
            raise ValueError(
                f"model.history_prior=true with loss={cfg.loss.name}: {error}"
            ) from None
    # The tracks data.catalogue=log adds have no training plays, so only the negatives teach
    # their scores to stay low: refused here, before the data is read (recipes.build_loss
    # refuses the same for a library caller, counting them).
    if cfg.data.get("catalogue") == "log" and built.skips_unplayed_tracks:
        raise ValueError(
            f"data.catalogue=log with loss.sampler={built.sampler}: the tracks first heard in "
            f"validation or test have no training plays, and the {built.sampler} sampler never "
            "draws them as negatives, so their scores would stay untrained; use "
            "loss.sampler=uniform, the full softmax (loss=softmax), or data.catalogue=train"
        )


def _checked_data_settings(
    cfg: DictConfig, data_settings: Callable[[DictConfig], DataSettings]
) -> DataSettings:
    groups = {
        "data.sessions": plain(cfg.data.get("sessions")),
        "data.split_options": plain(cfg.data.get("split_options")),
        "data": plain(cfg.data),
    }
    sessions, default = plain(cfg.data.get("sessions")), SessionOptions()
    with naming_settings(groups):
        # Values before types: gap=30 is told to write "30min", not only "a string".
        rule = SkipRule(
            sessions.get("skip_min_ms", default.skip_min_ms),
            sessions.get("skip_min_fraction", default.skip_min_fraction),
        )
        check_session_settings(
            sessions.get("gap", default.gap),
            rule,
            sessions.get("max_length", default.max_length),
            sessions.get("min_length", default.min_length),
        )
        try:
            data = data_settings(cfg)
        except (TypeError, ValueError) as error:
            message = str(error)  # the reader's options are stored as reader_options
            if not message.startswith("reader_options"):
                raise
            renamed = "data.source" + message.removeprefix("reader_options")
            raise _renamed(error, renamed) from error
        check_split_options(data.split, data.split_options)
    if data.reader == "read_log":
        # Values the reader would refuse only once it runs (timestamp_unit=sec, a bad time
        # zone): named now, as data.source.<option>=<value>. Unset (null) options are its
        # defaults.
        options = {k: v for k, v in data.reader_options.items() if v is not None}
        with naming_settings({"data.source": plain(cfg.data.get("source"))}):
            check_values({k: v for k, v in options.items() if k in READ_LOG_VALUE_OPTIONS})
    return data


def plain(node: Any) -> dict[str, Any]:
    """A config node as a plain dict (interpolations resolved); None as an empty one."""
    values = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise TypeError(f"expected a group of settings, got {values!r}")
    return {str(key): value for key, value in values.items()}


def override_value(value: Any) -> str:
    """``value`` as a Hydra override writes it.

    >>> [override_value(v) for v in (True, None, "abc", 0, [10, 20], {"a": 1})]
    ['true', 'null', 'abc', '0', '[10,20]', '{a:1}']
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{override_value(v)}" for k, v in value.items()) + "}"
    return str(value)


@contextlib.contextmanager
def naming_settings(groups: Mapping[str, Iterable[str] | Mapping[str, Any]]) -> Iterator[None]:
    """Re-raise a check's error with the override of the setting it names (``optim.lr=abc``).

    Library checks start their message with the field (``lr must be a number > 0``); the user
    wrote ``optim.lr=abc``, so that goes in front, in Hydra's spelling (the value is left out
    where ``groups`` gives names only). Hydra's wrapper around an error raised while
    instantiating is removed, so the library's own type and message reach the user.

    Args:
        groups: Config path ("" for the top level) -> the settings under it: their values (a
            mapping) or names.
    """
    try:
        yield
    except (TypeError, ValueError, InstantiationException) as raised:
        error = raised.__cause__ if isinstance(raised, InstantiationException) else raised
        if not isinstance(error, TypeError | ValueError):
            raise
        message = str(error)
        field = message.split(" ", 1)[0].split("=", 1)[0].rstrip(":")
        for group, names in groups.items():
            if field in names:
                setting = f"{group}.{field}" if group else field  # "": top-level settings
                if isinstance(names, Mapping):
                    setting += f"={override_value(names[field])}"
                raise _renamed(error, f"{setting}: {message}") from error
        if error is raised:
            raise
        raise error from raised


def _renamed(error: TypeError | ValueError, message: str) -> Exception:
    """The same kind of error with a new message (its own type when it takes one argument)."""
    try:
        return type(error)(message)
    except TypeError:  # an error class with a richer constructor
        return (TypeError if isinstance(error, TypeError) else ValueError)(message)
