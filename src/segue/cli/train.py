"""``segue train [KEY=VALUE ...]``: compose the packaged train config, make a run folder, train.

What runs is :func:`segue.cli.train_run.train`, the function ``python scripts/train.py`` runs
under ``@hydra.main``, so both give the same run folder content (checkpoints, metrics, the
composed config in ``.hydra/``, ``train.log``).
"""

from __future__ import annotations

import argparse
import logging
from datetime import datetime
from pathlib import Path

from segue.cli.help_text import check_overrides, groups_text, options_text

logger = logging.getLogger(__name__)

OPTIONS = [
    ("trainer.epochs", "most epochs (early stopping on validation may end sooner)"),
    ("trainer.patience", "epochs without improvement before stopping"),
    ("trainer.batch_size", "sequences per step"),
    ("trainer.device", "auto, cpu, cuda, cuda:1, mps"),
    ("trainer.resume", "continue from last.pt in the run folder"),
    ("trainer.progress", "progress bars (drawn only on a terminal)"),
    ("optim.lr", "peak learning rate"),
    ("model.d_model", "embedding width"),
    ("model.n_layers", "transformer blocks"),
    ("model.max_len", "longest history read"),
    ("data.path", "the log file or folder (data=csv, data=spotify)"),
    ("paths.data_dir", "root of the public datasets (or $SEGUE_DATA_DIR)"),
    ("paths.output_dir", "the run folder (default: outputs/<date>/<time>)"),
]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model (Hydra overrides: data=movielens_100k trainer.epochs=5)",
        description=(
            "Train a next-track model on the configured data with early stopping, then "
            "evaluate the best checkpoint on the test split and print a sample playlist. "
            "Everything goes to a new run folder (printed first): best.pt, last.pt, "
            "metrics.csv, test_metrics.json, train.log and the composed config."
        ),
        epilog=(
            "examples:\n"
            "  segue train debug=default              (seconds: tiny data and model)\n"
            "  segue train                            (the bundled synthetic log)\n"
            "  segue train data=movielens_100k trainer.epochs=100\n"
            "  segue train experiment=ml100k          (a frozen published setting)\n"
            "  segue train data=csv data.path=plays.csv data.columns.track_id=song"
        ),
        epilog_fn=lambda: groups_text("train") + "\n\n" + options_text("train", OPTIONS),
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, as Hydra takes them"
    )
    parser.add_argument(
        "--run-dir", type=Path, default=None, help="the run folder (default: outputs/<date>/<time>)"
    )
    parser.add_argument(
        "--show-config", action="store_true", help="print the composed config and exit"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    from segue.cli.configs import check_complete, compose_config
    from segue.cli.run_folder import run_dir_for, save_run_config
    from segue.logs import log_to_file, make_run_dir

    overrides = check_overrides(list(args.overrides))
    cfg = compose_config("train", overrides)
    if args.show_config:
        print(OmegaConf.to_yaml(cfg))
        return 0
    from segue.cli.train_run import check_settings, train

    run_dir = run_dir_for(cfg, args.run_dir, datetime.now())
    check_complete(cfg)  # a missing value is named now, not after the data is read
    check_settings(cfg)  # every setting (milliseconds): a bad one leaves no run folder behind
    make_run_dir(run_dir)
    save_run_config(run_dir, cfg, overrides)
    with log_to_file(run_dir / "train.log"):
        train(cfg)
    return 0
