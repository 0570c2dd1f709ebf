"""Evaluate checkpoints and baselines on one protocol; write metrics, per-point table, markdown.

Run: python scripts/evaluate.py checkpoints=[outputs/<run>/best.pt]
     python scripts/evaluate.py data=movielens_100k        (baselines only)

Writes to the run folder: ``metrics.json`` (summary rows), ``points.parquet`` (one row per model
and prediction point) and ``metrics.md`` (the table printed at the end). A thin ``@hydra.main``
shell: the run is :func:`segue.cli.evaluate_run.run`, which ``segue evaluate`` calls too.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from segue.cli.evaluate_run import run
from segue.cli.user_errors import exit_on_user_error

REPO = Path(__file__).resolve().parents[1]
OmegaConf.register_new_resolver("repo_root", lambda: str(REPO), replace=True)


@hydra.main(config_path="../configs", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error(Path(__file__).name):  # one line, not a traceback
        run(cfg)  # checks the settings first: checkpoints=a/best.pt is one path, not its letters


if __name__ == "__main__":
    main()
