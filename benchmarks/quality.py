"""Accuracy on the two public protocols: segue's model against every baseline, same points.

Run: python benchmarks/quality.py                          (ML-100K and 30Music)
     python benchmarks/quality.py --protocol ml100k --set trainer.epochs=50

For each protocol it trains the experiment's model with ``scripts/train.py`` (the same code as
``python scripts/train.py experiment=<protocol>``), evaluates the best checkpoint and every
baseline on the test points with ``scripts/evaluate.py``, and writes
``benchmarks/results/quality_<protocol>.{md,json}`` with the command, date, machine and versions.
Needs ``../shared/data`` (or ``$SEGUE_DATA_DIR``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PROTOCOLS = {"ml100k": "ml100k", "30music": "30music"}
COLUMNS = ["model", "ndcg@10", "hr@10", "mrr@20", "coverage@10", "repeat_share@10"]


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def composed(config: str, overrides: list[str], output_dir: Path) -> DictConfig:
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


def run_protocol(name: str, extra: list[str]) -> dict[str, Any]:
    train, evaluate = load_script("train"), load_script("evaluate")
    out = RESULTS / "runs" / name
    began = time.perf_counter()
    summary = train.train(composed("train", [f"experiment={PROTOCOLS[name]}", *extra], out))
    wall = time.perf_counter() - began
    checkpoint = out / "best.pt"
    eval_cfg = composed(
        "evaluate",
        [f"checkpoints=[{checkpoint}]", f"compare_to={name}/best"],
        out / "evaluation",
    )
    result = evaluate.run(eval_cfg)
    table = result.to_markdown([c for c in COLUMNS if c in result.summary.columns])
    return {
        "protocol": name,
        "command": "python benchmarks/quality.py --protocol "
        + name
        + "".join(f" --set {o}" for o in extra),
        "date": str(date.today()),
        "machine": machine(),
        "best_epoch": summary["best_epoch"],
        "epochs_run": summary["epochs_run"],
        "train_seconds": summary["train_seconds"],
        "wall_seconds": round(wall, 1),
        "table": table,
        "summary": result.summary.to_dict(orient="records"),
        "bootstrap": json.loads((out / "evaluation" / "metrics.json").read_text()).get(
            "bootstrap", []
        ),
    }


def write(report: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = report["protocol"]
    (RESULTS / f"quality_{name}.json").write_text(json.dumps(report, indent=2, default=str))
    lines = [
        f"# Quality: {name}",
        "",
        f"- command: `{report['command']}`",
        f"- date: {report['date']}; machine: {report['machine']}",
        f"- transformer: best epoch {report['best_epoch']} of {report['epochs_run']}, "
        f"{report['train_seconds']} s training, {report['wall_seconds']} s wall in all",
        "",
        report["table"],
        "",
    ]
    for row in report["bootstrap"]:
        lines.append(
            f"- {row['reference']} vs {row['other']}: NDCG@10 difference "
            f"{row['ndcg@10 diff']:+.4f} (95% CI {row['ci_low']:+.4f} .. {row['ci_high']:+.4f})"
        )
    (RESULTS / f"quality_{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), action="append")
    parser.add_argument("--set", action="append", default=[], help="a Hydra override")
    args = parser.parse_args()
    for name in args.protocol or sorted(PROTOCOLS, reverse=True):
        write(run_protocol(name, args.set))


if __name__ == "__main__":
    main()
