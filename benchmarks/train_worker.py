"""One training run in a process of its own, so that its peak resident memory is its own.

Run: python -m benchmarks.train_worker OUT_DIR experiment=ml100k model=bert4rec ...
     python -m benchmarks.train_worker OUT_DIR --flop-batches 16 --no-validate data=synthetic

The one training worker of the benchmarks: ``benchmarks.run`` starts one per model variant (and
reuses a finished worker's file when its overrides are unchanged), ``benchmarks.training_speed``
one per speed measurement. It composes the ``train`` config with the overrides into ``OUT_DIR``
and trains through the recipes, as ``python scripts/train.py`` does
(:func:`segue.cli.train_run.run_recipe`, :func:`segue.recipes.train`), then writes
``OUT_DIR/worker.json``: the overrides, the run summary (best epoch, validation metrics),
per-epoch timings from the trainer's log, the resident memory before training and the process's
peak, and with ``--flop-batches`` the matmul FLOPs of a step (:mod:`benchmarks.flop_count`).
Test metrics are not computed here: the benchmarks evaluate every checkpoint together.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import date
from pathlib import Path
from typing import Any

import torch

from benchmarks.flop_count import mean_flops_per_step
from benchmarks.memory import peak_rss_mb
from benchmarks.quality import composed
from segue.cli.train_run import run_recipe
from segue.recipes import build_parts, prepare_from_settings, train
from segue.training.trainer import Validate

WORKER_FILE = "worker.json"


def epoch_log(out: Path) -> list[dict[str, Any]]:
    """The trainer's per-epoch records (``metrics.jsonl``), oldest first."""
    path = out / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def timings(epochs: list[dict[str, Any]], best_epoch: int) -> dict[str, Any]:
    """Seconds per epoch, sequences per second and training time up to the best epoch.

    ``epoch_seconds`` is the training pass of an epoch; validation is not included, so the
    time to the best epoch is a lower bound of the wall time the run needed to find it.
    """
    seconds = [float(e["epoch_seconds"]) for e in epochs]
    seen = sum(e["sequences_per_second"] * e["epoch_seconds"] for e in epochs)
    return {
        "epochs": len(seconds),
        "epoch_seconds": seconds,
        "train_seconds": sum(seconds),
        "seconds_per_epoch": float(sum(seconds) / len(seconds)),
        "median_seconds_per_epoch": float(sorted(seconds)[len(seconds) // 2]),
        "sequences_per_second": float(seen / sum(seconds)),
        "train_seconds_to_best": float(sum(seconds[:best_epoch])),
    }


def current_rss_mb() -> float:
    """This process's resident set size now, in MiB (NaN where ``/proc`` is missing)."""
    try:
        status = Path("/proc/self/status").read_text()
        return next(int(s.split()[1]) for s in status.splitlines() if s.startswith("VmRSS")) / 1024
    except (OSError, StopIteration):
        return float("nan")


def run(
    out: Path, overrides: list[str], *, validate: bool = True, flop_batches: int = 0
) -> dict[str, Any]:
    """Train the ``train`` config with ``overrides`` into ``out``; write and return the record.

    Args:
        out: The run folder (checkpoints, metric logs, ``worker.json``).
        overrides: Hydra overrides of the ``train`` config.
        validate: Rank the validation points after each epoch, as training does; False
            reports a constant instead (no ranking work between epochs; patience still counts).
        flop_batches: Count the matmul FLOPs of this many batches after training (0: none).
    """
    cfg = composed("train", overrides, out)
    recipe = run_recipe(cfg)
    data = prepare_from_settings(recipe.data)
    parts = build_parts(recipe, data.vocab)
    constant: Validate = lambda model: {recipe.trainer.monitor: 0.0}  # noqa: E731
    rss_before = current_rss_mb()
    began = time.perf_counter()
    result = train(recipe, data, parts, validate=None if validate else constant)
    wall = time.perf_counter() - began
    peak = peak_rss_mb()  # before counting FLOPs, which runs steps of its own
    record: dict[str, Any] = {
        "overrides": overrides,
        "date": str(date.today()),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "wall_seconds": round(wall, 1),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "rss_before_training_mb": rss_before,
        "peak_rss_mb": peak,
        "sequences": len(data.train),
        "n_tracks": data.vocab.n_tracks,
        "batch_size": recipe.trainer.batch_size,
        "summary": {
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "validation": result.best_metrics,
            "checkpoint": str(result.best_path),
        },
        **timings(epoch_log(out), result.best_epoch),
    }
    if flop_batches:
        flops = mean_flops_per_step(
            parts.model, data.train, parts.loss, recipe.trainer, flop_batches
        )
        steps = flops["steps_per_epoch"] * record["epochs"]
        record.update(flops, steps=steps)
        record["gflops_achieved"] = flops["flops_per_step"] * steps / record["train_seconds"] / 1e9
    (out / WORKER_FILE).write_text(json.dumps(record, indent=2, default=str))
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="the run folder")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the train config")
    parser.add_argument("--no-validate", action="store_true", help="no validation per epoch")
    parser.add_argument("--flop-batches", type=int, default=0, help="batches to count FLOPs of")
    args = parser.parse_intermixed_args(argv)  # options before or after the overrides
    args.out.mkdir(parents=True, exist_ok=True)
    run(args.out, args.overrides, validate=not args.no_validate, flop_batches=args.flop_batches)


if __name__ == "__main__":
    main()
