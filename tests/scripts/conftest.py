"""Compose the real configs (shrunk for tests) as the scripts and ``segue`` do.

The scripts are thin ``@hydra.main`` shells and are never imported: tests call what they call
(:mod:`segue.cli.train_run`, :mod:`segue.cli.evaluate_run`, :mod:`segue.cli.export_run`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from segue.cli.configs import register_resolvers

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"


def compose_config(overrides: list[str], output_dir: Path, name: str = "train") -> DictConfig:
    """The config ``name`` of ``configs/`` with ``overrides``, writing to ``output_dir``."""
    register_resolvers()  # ${repo_root:}, as the scripts register it
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
    return cfg


@pytest.fixture
def tiny_overrides() -> list[str]:
    """The debug overlay plus a silent trainer: seconds per run."""
    return ["debug=default", "trainer.progress=false"]
