"""Compose the packaged Hydra configs (``pkg://segue.conf``) the way ``scripts/`` do.

``python scripts/train.py`` reads ``configs/`` beside it; an installed ``segue`` reads the same
files from the package ``segue.conf`` (``pyproject.toml`` maps ``configs/`` onto it). Hydra's
compose API is used rather than ``@hydra.main``: the command line belongs to argparse (help,
subcommands), and the run folder is made here rather than by Hydra's chdir-free launcher.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omegaconf import DictConfig

CONFIG_MODULE = "segue.conf"
OUTPUT_DIR_KEY = "paths.output_dir"


def checkout_root() -> Path | None:
    """The source checkout segue is imported from, or None for an installed package."""
    root = Path(__file__).resolve().parents[3]
    if (root / "pyproject.toml").is_file() and (root / "configs" / "train.yaml").is_file():
        return root
    return None


def register_resolvers() -> None:
    """``${repo_root:}`` (used by ``paths.data_dir``): the checkout, else the working folder.

    From a checkout, the shared datasets are found where ``scripts/`` find them
    (``../shared/data``); an installed package has no checkout, so ``paths.data_dir`` is then
    relative to where ``segue`` runs unless ``SEGUE_DATA_DIR`` or ``paths.data_dir=`` says.
    """
    from omegaconf import OmegaConf

    root = checkout_root()
    OmegaConf.register_new_resolver(
        "repo_root", lambda: str(root if root is not None else Path.cwd()), replace=True
    )


def compose_config(name: str, overrides: list[str]) -> DictConfig:
    """The config ``name`` (``train``, ``evaluate``) of ``segue.conf`` with ``overrides``.

    Raises:
        ValueError: An override names no key or no option of a group; the message is Hydra's
            (it names the override and, for groups, the available options).
    """
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register_resolvers()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            return compose(config_name=name, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as error:
        message = str(error).split("\nConfig search path")[0].rstrip()  # where Hydra looked
        raise ValueError(f"config {name!r} with overrides {overrides}: {message}") from error


def check_complete(cfg: DictConfig) -> None:
    """Every value set and every interpolation resolvable, checked before any work starts.

    Raises:
        ValueError: Naming the key (``data.path has no value: set data.path=...``).
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    try:
        OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as error:
        key = error.full_key
        raise ValueError(f"{key} has no value: set it on the command line, {key}=...") from error
    except OmegaConfBaseException as error:
        raise ValueError(f"{error.full_key}: {error.msg}") from error


def group_options(name: str) -> dict[str, tuple[list[str], str | None]]:
    """Every config group ``name`` reads: its options and the default choice.

    Returns:
        ``{group: (options, default)}``, groups in the order of the defaults list; Hydra's own
        ``hydra/...`` groups left out.
    """
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    register_resolvers()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        cfg = compose(config_name=name, return_hydra_config=True)
        loader = GlobalHydra.instance().config_loader()
        choices = {
            str(group): choice
            for group, choice in cfg.hydra.runtime.choices.items()
            if not str(group).startswith("hydra/")
        }
        return {
            group: (sorted(loader.get_group_options(group)), choice)
            for group, choice in reversed(list(choices.items()))
        }


def output_dir_is_set(cfg: DictConfig) -> bool:
    """Whether ``paths.output_dir`` was given (an override), not left to Hydra's run folder."""
    from omegaconf import OmegaConf

    value = OmegaConf.select(cfg, OUTPUT_DIR_KEY, throw_on_resolution_failure=False)
    raw = OmegaConf.to_container(cfg.paths, resolve=False).get("output_dir")  # type: ignore[union-attr]
    return value is not None and "${hydra:" not in str(raw)


def set_output_dir(cfg: DictConfig, run_dir: Path) -> None:
    """Point ``paths.output_dir`` at ``run_dir`` (absolute), in place."""
    from omegaconf import open_dict

    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir.resolve())
