"""Accuracy on the public protocols: segue's model against every baseline, same points.

Run: python -m benchmarks.quality       (all: 30Music both ways, ML-100K, Beauty, Last.fm-1K,
                                         synthetic)
     python -m benchmarks.quality --protocol synthetic --set trainer.num_threads=1
     python -m benchmarks.quality --protocol ml100k --set trainer.epochs=50

For each protocol it

1. trains the experiment's model as ``python scripts/train.py experiment=<protocol>`` does
   (:func:`segue.cli.train_run.train`), choosing the epoch on validation;
2. chooses the settings of the tuned baselines (EASE's ``l2``, PureSVD's rank) on validation
   (:func:`segue.evaluation.selection.choose_on_validation`);
3. **train-window protocol**: evaluates the best checkpoint and every baseline, fitted on the
   train fold, on the test points as ``scripts/evaluate.py`` does
   (:func:`segue.cli.evaluate_run.run`);
4. **refit protocol** (splits with a validation window, see :mod:`segue.training.refit`):
   retrains the model on train + validation for the chosen number of epochs, with no
   validation, and evaluates it and every baseline, fitted on train + validation with the
   settings chosen in 2, on the same test points.

Every evaluation carries the breakdowns by repeat vs new target and by target popularity, and a
bootstrap that resamples listeners. It writes ``benchmarks/results/quality_<protocol>.{md,json}``
with the command, date, machine and versions. ML-100K, 30Music, Amazon Beauty and Last.fm-1K need
``../shared/data`` (or ``$SEGUE_DATA_DIR``); the synthetic protocol is the bundled log with the
prior settings chosen on its validation window (``experiment=synthetic``). ``30music_sessions``
is 30Music with each listener's last session held out (``experiment=30music_sessions``), the
public stand-in for pooled personal exports evaluated on held-out sessions.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from segue.baselines import EASE, Baseline, PureSVD
from segue.cli import evaluate_run, train_run
from segue.cli.configs import register_resolvers
from segue.data.settings import DataSettings, prepare_from_settings
from segue.evaluation.comparison import MIN_CLUSTERS, resampling_unit
from segue.evaluation.selection import choose_on_validation
from segue.evaluation.tables import breakdown_sections
from segue.io.checkpoint import load_checkpoint
from segue.training.refit import REFIT_SPLITS

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PROTOCOLS: dict[str, str | None] = {
    "ml100k": "ml100k",
    "30music": "30music",
    "synthetic": "synthetic",
    "beauty": "beauty",
    "lastfm1k": "lastfm1k",
    "30music_sessions": "30music_sessions",
}
"""Protocol -> experiment overlay (None would mean the bundled defaults)."""
DATA_GROUPS = {
    "ml100k": ["data=movielens_100k"],
    "30music": ["data=30music"],
    "synthetic": ["data=synthetic"],
    "beauty": ["data=amazon_beauty"],
    "lastfm1k": ["data=lastfm_1k"],
    "30music_sessions": ["data=30music", "data.split=held_out_sessions", "data.split_options=null"],
}
"""Protocol -> its data overrides (for ``--baselines-only``): what its experiment sets."""
BASELINE_REFERENCE = "transitions"
"""What the other baselines are compared with when no model is evaluated."""
COLUMNS = ["model", "ndcg@10", "hr@10", "mrr@20", "coverage@10", "repeat_share@10"]

TUNED: dict[str, tuple[str, list[Any], Callable[[Any], Baseline]]] = {
    "ease": ("l2", [10.0, 50.0, 200.0, 500.0, 2000.0], lambda v: EASE(l2=v, top_items=10_000)),
    "pure_svd": ("n_components", [16, 32, 64, 128], lambda v: PureSVD(n_components=v)),
}
"""Baselines whose main setting is chosen on validation: name -> (config key, grid, builder)."""


def composed(config: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """``configs/<config>.yaml`` with ``overrides``, writing to ``output_dir``, as scripts do."""
    register_resolvers()  # ${repo_root:}: this checkout
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        cfg = compose(config_name=config, overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
    return cfg


def machine() -> str:
    return (
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"Python {platform.python_version()}, torch {torch.__version__}"
    )


def tune_baselines(settings: DataSettings) -> dict[str, Any]:
    """Settings of the :data:`TUNED` baselines chosen on the validation points of the data."""
    data = prepare_from_settings(settings)
    sequences = data.training_sequences("user")
    chosen = {}
    for name, (key, grid, build) in TUNED.items():
        choice = choose_on_validation(
            build,
            grid,
            sequences,
            data.vocab.n_tracks,
            data.validation,
            exclude_seen=settings.exclude_seen,
        )
        chosen[name] = {"key": key, "value": choice.value, "validation": choice.scores}
        print(f"{name}: {key}={choice.value} on validation ({choice.scores})", flush=True)
    return chosen


def evaluated(
    checkpoint: Path | None,
    tuned: dict[str, Any],
    out: Path,
    data: list[str] | None = None,
) -> dict[str, Any]:
    """One checkpoint and every baseline (tuned ones as chosen), as ``segue evaluate`` runs them.

    Without a checkpoint, the baselines alone on the data group overrides ``data``, compared
    with :data:`BASELINE_REFERENCE`.
    """
    if checkpoint is None:
        reference = BASELINE_REFERENCE
        overrides = [*(data or []), f"compare_to={reference}"]
    else:
        reference = f"{checkpoint.parent.name}/{checkpoint.stem}"
        overrides = [f"checkpoints=[{checkpoint}]", f"compare_to={reference}"]
    overrides += [f"baselines.{n}.{t['key']}={t['value']}" for n, t in tuned.items()]
    result = evaluate_run.run(composed("evaluate", overrides, out))
    saved = json.loads((out / "metrics.json").read_text())
    return {
        "reference": reference,
        "table": result.to_markdown([c for c in COLUMNS if c in result.summary.columns]),
        "summary": result.summary.to_dict(orient="records"),
        "bootstrap": saved.get("bootstrap", []),
        "breakdowns": "\n".join(
            breakdown_sections(
                result.points, reference=reference, cluster=resampling_unit(result.points)
            )
        ),
    }


def run_protocol(name: str, extra: list[str], refit: bool = True) -> dict[str, Any]:
    out = RESULTS / "runs" / name
    experiment = PROTOCOLS[name]
    overrides = ([f"experiment={experiment}"] if experiment else []) + extra
    cfg = composed("train", overrides, out)
    began = time.perf_counter()
    summary = train_run.train(cfg)
    wall = time.perf_counter() - began
    checkpoint = Path(summary["checkpoint"])
    tuned = tune_baselines(load_checkpoint(checkpoint).require_data_settings(checkpoint))
    report: dict[str, Any] = {
        "protocol": name,
        "command": "python -m benchmarks.quality --protocol "
        + name
        + "".join(f" --set {o}" for o in extra)
        + ("" if refit else " --no-refit"),
        "date": str(date.today()),
        "machine": machine(),
        "best_epoch": summary["best_epoch"],
        "epochs_run": summary["epochs_run"],
        "train_seconds": summary["train_seconds"],
        "validation": summary["validation"],
        "wall_seconds": round(wall, 1),
        "tuned_baselines": tuned,
        "train_window": evaluated(checkpoint, tuned, out / "evaluation"),
    }
    blend_weight, cooccurrence = 0.0, 0.0
    if "blend" in summary:  # chosen on validation; the refit model gets the same weights
        report["blend"] = summary["blend"]
        blend_weight = summary["blend"]["weight"]
        cooccurrence = summary["blend"].get("cooccurrence", 0.0)
    if refit and cfg.data.split in REFIT_SPLITS:
        began = time.perf_counter()
        refitted = train_run.refit(cfg, summary["best_epoch"], blend_weight, cooccurrence)
        report["refit"] = {
            "epochs": refitted["epochs"],
            "train_seconds": refitted["train_seconds"],
            "wall_seconds": round(time.perf_counter() - began, 1),
            **evaluated(Path(refitted["checkpoint"]), tuned, out / "evaluation_refit"),
        }
    elif refit:
        report["refit_skipped"] = (
            f"the {cfg.data.split} split has no validation window to refit on "
            f"(supported: {list(REFIT_SPLITS)})"
        )
    return report


def run_baselines(name: str, extra: list[str], refit: bool = True) -> dict[str, Any]:
    """The baselines alone on a protocol's data, both protocols: minutes instead of hours.

    ``extra`` are overrides of the evaluate config (``data.source.n_events=...``).
    """
    out = RESULTS / "runs" / f"{name}_baselines"
    data = [*DATA_GROUPS[name], *extra]
    settings = evaluate_run.group_settings(composed("evaluate", data, out))
    tuned = tune_baselines(settings)
    report: dict[str, Any] = {
        "protocol": f"{name}_baselines",
        "command": "python -m benchmarks.quality --baselines-only --protocol "
        + name
        + "".join(f" --set {o}" for o in extra)
        + ("" if refit else " --no-refit"),
        "date": str(date.today()),
        "machine": machine(),
        "tuned_baselines": tuned,
        "train_window": evaluated(None, tuned, out / "evaluation", data),
    }
    if refit and settings.split in REFIT_SPLITS:
        no_validation = [
            *data,
            *(
                f"++data.split_options.{k}={json.dumps(v)}"  # false, not Python's False
                for k, v in REFIT_SPLITS[settings.split].items()
            ),
        ]
        report["refit"] = evaluated(None, tuned, out / "evaluation_refit", no_validation)
    elif refit:
        report["refit_skipped"] = f"the {settings.split} split has no validation window"
    return report


def _protocol_lines(title: str, part: dict[str, Any]) -> list[str]:
    lines = ["", f"## {title}", "", part["table"], ""]
    for row in part["bootstrap"]:
        few = row["clusters"] < MIN_CLUSTERS
        lines.append(
            f"- {row['reference']} vs {row['other']}: NDCG@10 difference "
            f"{row['ndcg@10 diff']:+.4f} (95% CI {row['ci_low']:+.4f} .. {row['ci_high']:+.4f}; "
            f"{row['clusters']:,} {row['resampled']}s resampled"
            + (f": fewer than {MIN_CLUSTERS}, the interval is not reliable)" if few else ")")
        )
    return [*lines, "", part["breakdowns"].strip()]


def write(report: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = report["protocol"]
    (RESULTS / f"quality_{name}.json").write_text(json.dumps(report, indent=2, default=str))
    tuned = ", ".join(f"{n} {t['key']}={t['value']}" for n, t in report["tuned_baselines"].items())
    lines = [
        f"# Quality: {name}",
        "",
        f"- command: `{report['command']}`",
        f"- date: {report['date']}; machine: {report['machine']}",
    ]
    if "best_epoch" in report:
        lines.append(
            f"- transformer: best validation epoch {report['best_epoch']} of "
            f"{report['epochs_run']}, {report['train_seconds']} s training, "
            f"{report['wall_seconds']} s wall; validation NDCG@10 "
            f"{report['validation'].get('ndcg@10', float('nan')):.4f}"
        )
    if "blend" in report:
        by_weight = ", ".join(
            f"{float(w):g}: {v:.4f}" for w, v in report["blend"]["validation_ndcg@10"].items()
        )
        lines.append(
            f"- transition blend chosen on validation NDCG@10: weight "
            f"{report['blend']['weight']:g}, co-occurrence "
            f"{report['blend'].get('cooccurrence', 0.0):g} (by weight without co-occurrence: "
            f"{by_weight}); the refit model's too"
        )
        for share, by in report["blend"].get("validation_ndcg@10_by_cooccurrence", {}).items():
            shown = ", ".join(f"{float(w):g}: {v:.4f}" for w, v in by.items())
            lines.append(f"  - with co-occurrence {float(share):g}, by weight: {shown}")
    lines.append(f"- baselines chosen on validation NDCG@10: {tuned}")
    if "epochs" in report.get("refit", {}):
        lines.append(
            f"- refit: {report['refit']['epochs']} epochs on train + validation, "
            f"{report['refit']['train_seconds']} s training"
        )
    if "refit_skipped" in report:
        lines.append(f"- refit protocol not run: {report['refit_skipped']}")
    lines += _protocol_lines("Train-window protocol (test)", report["train_window"])
    if "refit" in report:
        lines += _protocol_lines("Refit protocol: train + validation (test)", report["refit"])
    (RESULTS / f"quality_{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), action="append")
    parser.add_argument("--set", action="append", default=[], help="a Hydra override")
    parser.add_argument("--no-refit", action="store_true", help="skip the refit protocol")
    parser.add_argument(
        "--baselines-only", action="store_true", help="no model: tune and evaluate the baselines"
    )
    args = parser.parse_args()
    run = run_baselines if args.baselines_only else run_protocol
    for name in args.protocol or sorted(PROTOCOLS):
        write(run(name, args.set, refit=not args.no_refit))


if __name__ == "__main__":
    main()
