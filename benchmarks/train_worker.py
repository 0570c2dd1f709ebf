"""One training run in a process of its own, so that its peak resident memory is its own.

Run: python benchmarks/train_worker.py OUT_DIR experiment=ml100k model=bert4rec ...

Trains with ``scripts/train.py``'s ``train`` (the same code as ``python scripts/train.py``) on
the composed ``train`` config plus the overrides, into ``OUT_DIR``, and writes
``OUT_DIR/worker.json``: the overrides, the run summary (best epoch, test metrics...), per-epoch
timings from the trainer's log and the process's peak RSS. ``benchmarks/run.py`` starts one
worker per model variant and reuses a finished worker's file when its overrides are unchanged.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling modules, run as a script
from memory import peak_rss_mb
from quality import composed, load_script

WORKER_FILE = "worker.json"


def epoch_log(out: Path) -> list[dict[str, Any]]:
    """The trainer's per-epoch records (``metrics.jsonl``), oldest first."""
    path = out / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def timings(epochs: list[dict[str, Any]], best_epoch: int) -> dict[str, float]:
    """Seconds per epoch, sequences per second and training time up to the best epoch.

    ``epoch_seconds`` is the training pass of an epoch; validation is not included, so the
    time to the best epoch is a lower bound of the wall time the run needed to find it.
    """
    seconds = [e["epoch_seconds"] for e in epochs]
    return {
        "seconds_per_epoch": float(sum(seconds) / len(seconds)),
        "median_seconds_per_epoch": float(sorted(seconds)[len(seconds) // 2]),
        "sequences_per_second": float(sum(e["sequences_per_second"] for e in epochs) / len(epochs)),
        "train_seconds_to_best": float(sum(seconds[:best_epoch])),
    }


def run(out: Path, overrides: list[str]) -> dict[str, Any]:
    train = load_script("train")
    began = time.perf_counter()
    summary = train.train(composed("train", overrides, out))
    wall = time.perf_counter() - began
    record = {
        "overrides": overrides,
        "date": str(date.today()),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "wall_seconds": round(wall, 1),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "peak_rss_mb": peak_rss_mb(),
        "summary": summary,
        **timings(epoch_log(out), int(summary["best_epoch"])),
    }
    (out / WORKER_FILE).write_text(json.dumps(record, indent=2, default=str))
    return record


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    run(Path(sys.argv[1]), sys.argv[2:])


if __name__ == "__main__":
    main()
