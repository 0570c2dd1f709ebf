"""Training speed against this CPU's fp32 matmul peak: FLOPs of a step, GFLOP/s, peak RSS.

Run: python -m benchmarks.training_speed                 (peak at 1 and 2 threads, then segue at
                                                          the peer config on ML-100K, 3 epochs)
     python -m benchmarks.training_speed --threads 1 --epochs 3 --json training_speed.json
     python -m benchmarks.training_speed --set data=synthetic --set trainer.batch_size=64
     python -m benchmarks.training_speed --peak-only --threads 1 2

Three measurements, each a function that ``benchmarks.run`` calls:

* :func:`matmul_peak`: what this CPU does in fp32 with torch: repeated ``a @ b`` of square
  float32 matrices at a few sizes, best and median GFLOP/s (``2 n^3`` FLOPs per product).
* :func:`model_flops_per_step`: the matrix-multiply FLOPs of one training step (forward and
  backward of the transformer and of its catalogue loss), counted by
  ``torch.utils.flop_counter.FlopCounterMode``.
* :func:`measure_training`: trains with the same recipes as ``scripts/train.py`` in the
  benchmarks' one training worker (:mod:`benchmarks.train_worker`), a fresh subprocess, so
  that the peak RSS it reports belongs to that training run alone, and relates the step FLOPs
  to the measured epoch times.

What is counted: matrix products only (``mm``, ``addmm``, ``addmm_``, ``bmm``, ``baddbmm`` and
scaled-dot-product attention, forward and backward), at ``2 m n k`` FLOPs each. Elementwise
work (softmax, exp, GELU, LayerNorm, dropout, embedding lookups and their backward, AdamW,
gradient clipping) is not counted, so "GFLOP/s achieved" is the rate of useful matmul work, a
lower bound of what the CPU executed. Attention is counted over the full (T, T) score matrix,
causal mask or not. The machine is shared: load averages are printed with every table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.flop_count import mean_flops_per_step, model_flops_per_step
from benchmarks.matmul_peak import matmul_peak
from benchmarks.quality import composed
from benchmarks.suites import SEGUE_AT_PEER_CONFIG
from benchmarks.train_worker import WORKER_FILE
from segue.cli.train_run import run_recipe
from segue.recipes import build_parts, prepare_from_settings

__all__ = ["matmul_peak", "mean_flops_per_step", "model_flops_per_step"]

REPO = Path(__file__).resolve().parents[1]

# The peers' SASRec on ML-100K (leave-last-out), as the benchmark suite defines it.
PEER_ML100K: tuple[str, ...] = ("data=movielens_100k", *SEGUE_AT_PEER_CONFIG)


def flops_of_run(run_dir: Path, overrides: Sequence[str], max_batches: int = 16) -> dict[str, Any]:
    """Matmul FLOPs per step and per epoch of the training that ``overrides`` configures.

    For a run trained elsewhere (e.g. by ``benchmarks/run.py``): prepares its data and an
    untrained model of its config in this process, then counts as :func:`mean_flops_per_step`
    (FLOPs do not depend on the weights). ``run_dir`` is only the config's output folder;
    nothing is written there.
    """
    recipe = run_recipe(composed("train", [*overrides, "trainer.device=cpu"], Path(run_dir)))
    data = prepare_from_settings(recipe.data)
    parts = build_parts(recipe, data.vocab)
    flops = mean_flops_per_step(parts.model, data.train, parts.loss, recipe.trainer, max_batches)
    return {**flops, "flops_per_epoch": flops["flops_per_step"] * flops["steps_per_epoch"]}


def measure_training(
    overrides: Sequence[str] = PEER_ML100K,
    *,
    epochs: int = 3,
    threads: int = 1,
    peak_gflops: float | None = None,
    flop_batches: int = 16,
    validate: bool = True,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Train a segue model in a fresh subprocess and measure speed, FLOP rate and peak RSS.

    The worker (:mod:`benchmarks.train_worker`) composes ``configs/train.yaml`` with
    ``overrides`` (any data: ``data=synthetic`` with its sizes, ``data=movielens_100k``,
    ``data=csv data.path=...``), prepares the data and trains through the recipes, validating
    after each epoch as ``scripts/train.py`` does (validation is not part of the epoch times).
    Per-epoch times are the trainer's ``epoch_seconds``. FLOPs per step are counted afterwards on
    the epoch's batches (:func:`mean_flops_per_step`). Peak RSS is the worker's ``VmHWM``
    (:mod:`benchmarks.memory`) at the end of training: imports, data preparation and training,
    nothing of the calling process.

    Args:
        overrides: Hydra overrides of the ``train`` config; the default is the peer config
            on ML-100K (:data:`PEER_ML100K`).
        epochs: Epochs to train (``trainer.epochs``; patience may stop earlier).
        threads: torch threads of the worker (also its OMP / MKL thread count).
        peak_gflops: The matmul peak to compare with; None measures :func:`matmul_peak` first.
        flop_batches: Batches whose FLOPs are counted (all of an epoch when it has fewer).
        validate: Rank the validation points after each epoch, as training does; False skips it.
        timeout_s: Kill the worker after this many seconds.

    Returns:
        ``seconds_per_epoch``, ``sequences_per_second``, ``steps``, ``flops_per_step``,
        ``gflops_achieved``, ``fraction_of_matmul_peak``, ``peak_rss_mb``, plus the per-epoch
        times, FLOP split (output layer vs blocks), peak used and load averages.
    """
    if peak_gflops is None:
        peak_gflops = matmul_peak(threads)["gflops"]
    load_before = os.getloadavg()
    fixed = [f"trainer.epochs={epochs}", f"trainer.num_threads={threads}"]
    fixed += ["trainer.progress=false", "trainer.device=cpu"]
    with tempfile.TemporaryDirectory(prefix="segue-speed-") as out:
        command = [sys.executable, "-m", "benchmarks.train_worker", out, *overrides, *fixed]
        command += ["--flop-batches", str(flop_batches)]
        command += [] if validate else ["--no-validate"]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        subprocess.run(command, check=True, env=env, timeout=timeout_s, cwd=REPO)
        result = json.loads((Path(out) / WORKER_FILE).read_text())
    result["overrides"], result["threads"] = list(overrides), threads
    result["matmul_peak_gflops"] = peak_gflops
    result["fraction_of_matmul_peak"] = result["gflops_achieved"] / peak_gflops
    result["loadavg_before"] = list(load_before)
    result["loadavg_after"] = list(os.getloadavg())
    return result


# ---------------------------------------------------------------------------------------------
# Report


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def peak_table(peaks: list[dict[str, Any]]) -> str:
    """Markdown: one row per thread count, best and median GFLOP/s per size."""
    sizes = sorted({n for p in peaks for n in p["by_size"]})
    head = ["threads", "peak GFLOP/s", *[f"n={n} best / median" for n in sizes]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in peaks:
        cells = [f"{p['by_size'][n]['gflops']:.1f} / {p['by_size'][n]['median_gflops']:.1f}"
                 for n in sizes]  # fmt: skip
        lines.append(f"| {p['threads']} | {p['gflops']:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def training_table(r: dict[str, Any]) -> str:
    """Markdown: the training measurement as one row."""
    head = ["epochs", "s/epoch", "seq/s", "steps", "GFLOP/step", "output share", "GFLOP/s",
            "of peak", "peak RSS MB"]  # fmt: skip
    cells = [
        str(r["epochs"]),
        f"{r['seconds_per_epoch']:.2f}",
        _fmt(r["sequences_per_second"]),
        str(r["steps"]),
        f"{r['flops_per_step'] / 1e9:.1f}",
        f"{r['output_share']:.0%}",
        f"{r['gflops_achieved']:.1f}",
        f"{r['fraction_of_matmul_peak']:.1%}",
        _fmt(r["peak_rss_mb"]),
    ]
    return "\n".join(
        ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), "| " + " | ".join(cells) + " |"]
    )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="thread counts of the peak; training runs at the first")  # fmt: skip
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="peak sampling per size")
    parser.add_argument("--size", type=int, default=2048, help="largest matmul side")
    parser.add_argument("--set", action="append", default=[], help="a Hydra override (repeat)")
    parser.add_argument("--peak-only", action="store_true", help="skip the training run")
    parser.add_argument("--no-validate", action="store_true", help="no validation per epoch")
    parser.add_argument("--flop-batches", type=int, default=16)
    parser.add_argument("--json", type=Path, help="write the results here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    print(f"load average before: {os.getloadavg()}")
    peaks = [matmul_peak(t, args.size, args.seconds) for t in args.threads]
    print("\n## fp32 matmul peak (torch)\n\n" + peak_table(peaks))
    report: dict[str, Any] = {"matmul_peak": peaks}
    if not args.peak_only:
        training = measure_training(
            [*PEER_ML100K, *args.set],
            epochs=args.epochs,
            threads=args.threads[0],
            peak_gflops=peaks[0]["gflops"],
            flop_batches=args.flop_batches,
            validate=not args.no_validate,
        )
        report["training"] = training
        print(f"\n## Training, {args.threads[0]} thread(s): {' '.join(training['overrides'])}\n")
        print(training_table(training))
    print(f"\nload average after: {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
