"""Train a next-track model, then print test metrics and a sample ranked playlist.

Run: python scripts/train.py                      (bundled synthetic log, a few minutes on CPU)
     python scripts/train.py data=movielens_100k  (any config group; see configs/)
     python scripts/train.py loss=sampled_softmax model=bert4rec trainer.epochs=5

A thin ``@hydra.main`` shell: the run is :func:`segue.cli.train_run.train`, which ``segue train``
calls too, so tests and benchmarks call it with a composed config and no command line. Hydra's
job logging writes the run's lines to the console and to ``train.log`` in the run folder.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from segue.cli.train_run import train
from segue.cli.user_errors import exit_on_user_error

REPO = Path(__file__).resolve().parents[1]
OmegaConf.register_new_resolver("repo_root", lambda: str(REPO), replace=True)


@hydra.main(config_path="../configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error(Path(__file__).name):  # one line, not a traceback
        train(cfg)


if __name__ == "__main__":
    main()
