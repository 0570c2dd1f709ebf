"""What the load-time checks cost: reading a checkpoint / int8 artefact with and without them.

Run: python -m benchmarks.load_checks                  (1M tracks, d_model 64, 2 layers)
     python -m benchmarks.load_checks --tracks 100000 --repeats 5

Prints the median seconds of ``torch.load(weights_only=True)`` alone (what loading cost before
the checks) and of ``load_checkpoint`` / ``load_int8`` (the same read plus the checks of
:mod:`segue.io.safe_load`: shapes against the config, SHA-256, finite weights, vocabulary),
measured back to back in one process on untrained ``sasrec`` models with a synthetic catalogue.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from segue.compress import load_int8, save_int8
from segue.data.vocab import TrackVocab
from segue.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from segue.models import sasrec


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = sasrec(args.tracks, d_model=64, n_layers=2, max_len=200)
    vocab = TrackVocab([f"t{i}" for i in range(args.tracks)], [1] * args.tracks)
    with tempfile.TemporaryDirectory() as tmp:
        float_path = save_checkpoint(
            Checkpoint(model.config, model.state_dict(), vocab), Path(tmp) / "model.pt"
        )
        int8_path = save_int8(model, vocab, Path(tmp) / "model.int8.pt")
        runs = {
            "checkpoint: torch.load only": lambda: torch.load(float_path, weights_only=True),
            "checkpoint: load_checkpoint": lambda: load_checkpoint(float_path),
            "int8: torch.load only (mmap)": lambda: torch.load(
                int8_path, weights_only=True, mmap=True
            ),
            "int8: load_int8": lambda: load_int8(int8_path),
        }
        print(f"{args.tracks:,} tracks, load average {os.getloadavg()[0]:.1f}")
        for name, fn in runs.items():
            print(f"{name:32s} {median_seconds(fn, args.repeats):8.3f} s")


if __name__ == "__main__":
    main()
