"""Do the published figures survive a change? The same run in two checkouts, side by side.

Run: git worktree add /tmp/segue_base <commit>       (the code the figures were published with)
     python -m benchmarks.reproduce --base /tmp/segue_base --protocol ml100k \
         --set trainer.epochs=3 --set trainer.num_threads=1
     python -m benchmarks.reproduce --base /tmp/segue_base --protocol 30music \
         --set trainer.epochs=1 --set trainer.max_steps_per_epoch=50 --set trainer.num_threads=1 \
         --here-set model.history_prior=false     (a default that moved since: pin the base's)

Runs ``python scripts/train.py experiment=<protocol> <overrides>`` in the base checkout and in
this one, one after the other, each in a process of its own with its own ``src/`` first on the
path and the same seeds (each checkout reads its own frozen experiment file), then prints their
validation and test metrics side by side to 4 decimals and says whether they agree. Exit status
1 when any differs. Short runs (a few epochs) are enough: a change that moves the figures moves
them from the first step. Needs ``../shared/data`` (or ``$SEGUE_DATA_DIR``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SEGUE_DATA_DIR", REPO.parent / "shared" / "data"))
SHOWN = ("ndcg@10", "ndcg@20", "hr@10", "mrr@20")
"""Metrics compared (each at 4 decimals), on validation (best epoch) and test."""


def train_in(checkout: Path, overrides: list[str], out: Path) -> dict[str, Any]:
    """``scripts/train.py`` of ``checkout`` with ``overrides``; its ``test_metrics.json``."""
    command = [sys.executable, "scripts/train.py", *overrides, f"hydra.run.dir={out}"]
    env = {**os.environ, "PYTHONPATH": str(checkout / "src"), "SEGUE_DATA_DIR": str(SHARED_DATA)}
    began = time.perf_counter()
    done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"training in {checkout} failed:\n{done.stderr[-3000:]}")
    summary = json.loads((out / "test_metrics.json").read_text())
    summary["wall_seconds"] = round(time.perf_counter() - began, 1)
    return summary


def rows(base: dict[str, Any], here: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(fold/metric, base value, this checkout's value) for each compared metric."""
    return [
        (f"{fold} {metric}", float(base[fold][metric]), float(here[fold][metric]))
        for fold in ("validation", "test")
        for metric in SHOWN
        if metric in base[fold] and metric in here[fold]
    ]


def table(compared: list[tuple[str, float, float]]) -> str:
    """Markdown: each metric to 4 decimals in both checkouts, whether they agree, and whether
    they are the same float (a refactor that changes no arithmetic keeps every bit).

    >>> print(table([("test ndcg@10", 0.12344, 0.12341), ("test hr@10", 0.5, 0.6)]))
    | metric | base | this checkout | same to 4 decimals | bit for bit |
    |---|---|---|---|---|
    | test ndcg@10 | 0.1234 | 0.1234 | yes | no |
    | test hr@10 | 0.5000 | 0.6000 | NO | no |
    """
    lines = ["| metric | base | this checkout | same to 4 decimals | bit for bit |"]
    lines.append("|---|---|---|---|---|")
    for name, a, b in compared:
        same = "yes" if f"{a:.4f}" == f"{b:.4f}" else "NO"
        lines.append(f"| {name} | {a:.4f} | {b:.4f} | {same} | {'yes' if a == b else 'no'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="checkout of the base commit")
    parser.add_argument("--protocol", default="ml100k", help="an experiment (configs/experiment)")
    parser.add_argument("--set", action="append", default=[], help="a Hydra override (repeat)")
    parser.add_argument(
        "--here-set",
        action="append",
        default=[],
        help="an override for this checkout only: the base's value of a default changed since",
    )
    args = parser.parse_args(argv)
    overrides = [f"experiment={args.protocol}", "trainer.progress=false", *args.set]
    with tempfile.TemporaryDirectory(prefix="segue-reproduce-") as tmp:
        base = train_in(args.base.resolve(), overrides, Path(tmp) / "base")
        here = train_in(REPO, [*overrides, *args.here_set], Path(tmp) / "here")
    compared = rows(base, here)
    print(f"python scripts/train.py {' '.join(overrides)}")
    if args.here_set:
        print(f"this checkout also: {' '.join(args.here_set)}")
    print(f"base: {args.base} ({base['wall_seconds']} s), best epoch {base['best_epoch']}")
    print(f"this checkout: {REPO} ({here['wall_seconds']} s), best epoch {here['best_epoch']}")
    print(table(compared))
    return 0 if all(f"{a:.4f}" == f"{b:.4f}" for _, a, b in compared) else 1


if __name__ == "__main__":
    sys.exit(main())
