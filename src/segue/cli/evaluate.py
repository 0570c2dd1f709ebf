"""``segue evaluate [CHECKPOINT ...] [KEY=VALUE ...]``: checkpoints and baselines, one protocol.

Arguments with ``=`` are config overrides; the others are checkpoint files (so no
``checkpoints=[...]`` quoting is needed). The work is :func:`segue.cli.evaluate_run.run`, the
function ``python scripts/evaluate.py`` runs.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from segue.cli.help_text import check_overrides, groups_text, options_text

OPTIONS = [
    ("fold", "test or validation"),
    ("ks", "cut-offs of the metrics"),
    ("compare_to", "a model name: paired bootstrap of NDCG@10 against it"),
    ("exclude_seen", "null: as the data settings say"),
    ("batch_size", "prediction points scored at once"),
    ("data_from_checkpoint", "read the data as the first checkpoint's run did"),
    ("paths.output_dir", "the run folder (default: outputs/<date>/<time>)"),
]


def split_arguments(arguments: list[str]) -> tuple[list[Path], list[str]]:
    """Checkpoint paths and config overrides, each in the order given.

    >>> split_arguments(["a/best.pt", "fold=validation", "b.pt"])
    ([PosixPath('a/best.pt'), PosixPath('b.pt')], ['fold=validation'])
    """
    checkpoints = [Path(a).expanduser() for a in arguments if "=" not in a]
    return checkpoints, [a for a in arguments if "=" in a]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate checkpoints and baselines on the same prediction points",
        description=(
            "Evaluate checkpoints and the configured baselines on the same prediction points "
            "(full-catalogue ranking). With checkpoints, the data is prepared as the first "
            "checkpoint's training run did. Writes metrics.json, points.parquet and metrics.md "
            "to a new run folder."
        ),
        epilog=(
            "examples:\n"
            "  segue evaluate outputs/2026-12-05/10-00-00/best.pt\n"
            "  segue evaluate run1/best.pt run2/best.pt compare_to=run1/best baselines=none\n"
            "  segue evaluate data=movielens_100k               (baselines only)"
        ),
        epilog_fn=lambda: groups_text("evaluate") + "\n\n" + options_text("evaluate", OPTIONS),
    )
    parser.add_argument(
        "arguments",
        nargs="*",
        metavar="CHECKPOINT | KEY=VALUE",
        help="checkpoint files, and config overrides as Hydra takes them",
    )
    parser.add_argument(
        "--run-dir", type=Path, default=None, help="the run folder (default: outputs/<date>/<time>)"
    )
    parser.add_argument(
        "--show-config", action="store_true", help="print the composed config and exit"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf, open_dict

    from segue.cli.configs import check_complete, compose_config
    from segue.cli.run_folder import run_dir_for, save_run_config
    from segue.logs import log_to_file, make_run_dir

    checkpoints, overrides = split_arguments(list(args.arguments))
    check_overrides(overrides)
    missing = [str(p) for p in checkpoints if not p.is_file()]
    if missing:  # before composing, preparing data or fitting any baseline
        raise FileNotFoundError(f"no checkpoint at {', '.join(missing)}")
    cfg = compose_config("evaluate", overrides)
    if checkpoints:
        if cfg.checkpoints:
            raise ValueError("give checkpoints as arguments or as checkpoints=[...], not both")
        with open_dict(cfg):
            cfg.checkpoints = [str(p.resolve()) for p in checkpoints]
    if args.show_config:
        print(OmegaConf.to_yaml(cfg))
        return 0
    from segue.cli.evaluate_run import check_evaluate_settings
    from segue.cli.evaluate_run import run as evaluate

    run_dir = run_dir_for(cfg, args.run_dir, datetime.now())
    check_complete(cfg)  # a missing value is named now, not after the data is read
    check_evaluate_settings(cfg)  # checkpoints=a/best.pt, compare_to=: before the run folder
    make_run_dir(run_dir)
    save_run_config(run_dir, cfg, overrides)
    with log_to_file(run_dir / "evaluate.log"):
        evaluate(cfg)
    return 0
