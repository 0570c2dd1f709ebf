"""One epoch of a 10M-track model on streamed shards: seconds per step and peak memory.

    python -m benchmarks.scale_train --tracks 10000000 --events 24000000 --data /tmp/segue-10m

Prepares (unless ``--data`` already holds a preparation) a synthetic log whose every track is
played (:mod:`segue.scale.synthetic`) with :func:`segue.scale.prepare_out_of_core`, then, each
in a fresh worker process reporting its peak RSS (VmHWM):

* ``streamed``: :func:`segue.scale.train.train_streamed` (sparse table gradient, row-wise
  Adagrad, popularity-sampled softmax with logQ) over the shards' windows, one epoch or
  ``--max-steps``;
* ``dense`` (``--baseline-steps`` > 0): the trainer's step as it is, back to back on the same
  windows: the same sampled softmax through ``loss_for`` on the whole table, so a dense table
  gradient and AdamW moments for every track.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.memory import peak_rss_mb

MAX_LEN = 50


def _counts(folder: Path) -> Any:
    import torch

    from segue.scale import track_counts

    return torch.from_numpy(track_counts(folder / "vocab.parquet")).float()


def _model(n_tracks: int, args: argparse.Namespace) -> Any:
    from segue.models import sasrec

    return sasrec(n_tracks, d_model=args.d_model, n_layers=2, n_heads=2, max_len=MAX_LEN)


def prepare(args: argparse.Namespace) -> dict[str, Any]:
    from segue.scale import prepare_out_of_core
    from segue.scale.synthetic import write_synthetic_log

    source = args.data.parent / f"{args.data.name}_events.parquet"
    start = time.perf_counter()
    write_synthetic_log(source, args.events, args.tracks)
    generated = time.perf_counter() - start
    data = prepare_out_of_core(
        [source],
        args.data,
        max_len=MAX_LEN,
        write_events=False,
        memory_limit=args.memory_limit,
        split_options={"test_days": 0.5, "validation_days": 0.5},
    )
    source.unlink()
    return {
        "generate_seconds": generated,
        "prepare_seconds": time.perf_counter() - start - generated,
        "peak_mb": peak_rss_mb(),
        "n_tracks": data.n_tracks,
        "windows": data.n_windows,
    }


def streamed(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from segue.scale import ShardedWindows
    from segue.scale.train import StreamedTrainingConfig, train_streamed

    torch.set_num_threads(args.threads)
    windows = ShardedWindows(args.data)
    model = _model(windows.n_tracks, args)
    config = StreamedTrainingConfig(
        batch_size=args.batch_size, n_negatives=args.negatives, max_steps=args.max_steps
    )
    result = train_streamed(model, windows, _counts(args.data), config)
    return {
        "steps": result.steps,
        "windows": result.windows,
        "seconds": result.seconds,
        "seconds_per_step": result.seconds_per_step,
        "first_loss": result.losses[0],
        "last_loss": sum(result.losses[-20:]) / len(result.losses[-20:]),
        "peak_mb": peak_rss_mb(),
    }


def dense(args: argparse.Namespace) -> dict[str, Any]:
    """The trainer's step (segue.training.trainer._Loop._step) on the same windows."""
    import torch

    from segue.models.param_groups import param_groups
    from segue.scale import ShardedWindows
    from segue.training.batch_loss import batch_loss
    from segue.training.losses import loss_for

    torch.set_num_threads(args.threads)
    windows = ShardedWindows(args.data)
    model = _model(windows.n_tracks, args)
    generator = torch.Generator().manual_seed(0)
    loss = loss_for(
        "sampled_softmax",
        windows.n_tracks,
        n_negatives=args.negatives,
        sampler="popularity",
        counts=_counts(args.data),
    )
    optimizer = torch.optim.AdamW(param_groups(model, 0.0), lr=1e-3)
    steps, start = 0, time.perf_counter()
    for batch in windows.stream(args.batch_size, generator, args.baseline_steps):
        hidden = model(batch)  # (B, T, D)
        value = batch_loss(model, hidden, batch, loss, generator)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        steps += 1
    seconds = time.perf_counter() - start
    return {"steps": steps, "seconds_per_step": seconds / max(steps, 1), "peak_mb": peak_rss_mb()}


WORKERS = {"prepare": prepare, "streamed": streamed, "dense": dense}


def _run(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.scale_train", "--worker", kind] + [
        a for a in sys.argv[1:] if a != "--worker"
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=10_000_000)
    parser.add_argument("--events", type=int, default=24_000_000)
    parser.add_argument("--data", type=Path, default=Path("/tmp/segue-scale-train"))
    parser.add_argument("--memory-limit", default="6GB")
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--negatives", type=int, default=512)
    parser.add_argument("--max-steps", type=int, default=None, help="default: one epoch")
    parser.add_argument("--baseline-steps", type=int, default=20, help="0 skips the dense run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return
    if not (args.data / "manifest.json").exists():
        p = _run("prepare", args)
        print(
            f"prepared {args.events:,} events: generate {p['generate_seconds']:.0f} s, "
            f"prepare {p['prepare_seconds']:.0f} s, peak {p['peak_mb']:.0f} MB; "
            f"{p['n_tracks']:,} tracks, {p['windows']:,} windows",
            flush=True,
        )
    manifest = json.loads((args.data / "manifest.json").read_text())
    n_tracks = manifest["n_tracks"]
    table_mb = (n_tracks + 2) * args.d_model * 4 / 2**20
    print(
        f"catalogue {n_tracks:,} tracks, d_model {args.d_model}: table {table_mb:,.0f} MB; "
        f"AdamW moments {2 * table_mb:,.0f} MB, row-wise Adagrad state "
        f"{(n_tracks + 2) * 4 / 2**20:,.0f} MB; batch {args.batch_size} x {MAX_LEN}, "
        f"{args.negatives} shared negatives; {args.threads} threads",
        flush=True,
    )
    s = _run("streamed", args)
    print(f"{'run':<10}{'steps':>8}{'windows':>10}{'s/step':>9}{'peak MB':>10}")
    print(
        f"{'streamed':<10}{s['steps']:>8,}{s['windows']:>10,}{s['seconds_per_step']:>9.3f}"
        f"{s['peak_mb']:>10,.0f}   loss {s['first_loss']:.3f} -> {s['last_loss']:.3f} "
        f"(last 20 steps); epoch {s['seconds']:.0f} s",
        flush=True,
    )
    if args.baseline_steps:
        d = _run("dense", args)
        print(
            f"{'dense':<10}{d['steps']:>8,}{'':>10}{d['seconds_per_step']:>9.3f}"
            f"{d['peak_mb']:>10,.0f}"
        )
        print(
            f"dense / streamed: {d['seconds_per_step'] / s['seconds_per_step']:.1f}x s/step, "
            f"{d['peak_mb'] / s['peak_mb']:.2f}x peak"
        )


if __name__ == "__main__":
    main()
