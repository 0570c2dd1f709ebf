"""Latency and throughput of segue.api.Recommender on synthetic untrained models.

Run: python -m benchmarks.inference                        (10k/100k/1M tracks, ~3 min)
     python -m benchmarks.inference --tracks 100000 --history 200 --threads 1 --json b.json

For each catalogue size and history length it times, after a warmup, on one request at a time:

* ``recommend``: ``rec.recommend(history, k=10)`` from scratch (encode + score + top-k + table);
* ``add+rec``: ``state.add(track)`` then ``state.recommend(10)`` on a live session (one
  incremental step of the model; the cache is rebuilt from the last max_len // 2 events when it
  fills, which these timings include);
* ``bare``: the floor of any request: one matrix-vector product over the catalogue (through
  numpy's BLAS, as ``Catalogue.score``) + topk(10);
* ``encode`` / ``step``: the model alone, re-encoding the history vs one incremental step;
* ``batch q/s``: ``recommend_batch`` throughput with batch 64.

Synthetic models are ``sasrec(n_tracks, d_model=64, n_layers=2, max_len=200)``; latency does not
depend on the weights. The machine's load average is printed with the table: timings on a busy
machine are slower and noisier, the p99 most of all.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from segue.api import Recommender
from segue.api.cpu_product import catalogue_product, set_num_threads
from segue.api.history import encode_history, history_batch
from segue.data.vocab import TrackVocab
from segue.models import sasrec

D_MODEL, N_LAYERS, MAX_LEN, K = 64, 2, 200, 10


@dataclass
class Row:
    """One line of the table; times in milliseconds."""

    n_tracks: int
    history: int
    recommend_p50: float
    recommend_p99: float
    session_p50: float
    session_p99: float
    bare_p50: float
    bare_p99: float
    encode_p50: float
    step_p50: float
    batch_qps: float

    @property
    def overhead(self) -> float:
        """recommend p50 / bare scoring p50."""
        return self.recommend_p50 / self.bare_p50

    @property
    def session_speedup(self) -> float:
        """recommend p50 / (add + recommend) p50."""
        return self.recommend_p50 / self.session_p50


def timings(fn: Callable[[], object], repeats: int, warmup: int) -> np.ndarray:
    """Wall time of each call in ms, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter_ns()
        fn()
        out[i] = (time.perf_counter_ns() - start) / 1e6
    return out


def synthetic_recommender(n_tracks: int) -> Recommender:
    """An untrained SASRec over ``n_tracks`` ids, with 10 tracks per artist."""
    vocab = TrackVocab(
        track_ids=[f"track{i}" for i in range(n_tracks)],
        counts=list(range(n_tracks, 0, -1)),
        artists=[f"artist{i // 10}" for i in range(n_tracks)],
    )
    model = sasrec(n_tracks, d_model=D_MODEL, n_layers=N_LAYERS, max_len=MAX_LEN, dropout=0.0)
    return Recommender(model, vocab)


def measure(rec: Recommender, length: int, args: argparse.Namespace, seed: int) -> Row:
    rng = np.random.default_rng(seed)
    n = rec.vocab.n_tracks
    history = [f"track{i}" for i in rng.integers(0, n, length)]
    p = np.percentile

    recommend = timings(lambda: rec.recommend(history, k=K), args.repeats, args.warmup)

    state = rec.session(history)
    new_tracks = iter([f"track{i}" for i in rng.integers(0, n, args.repeats + args.warmup)])

    def live() -> None:
        state.add(next(new_tracks))
        state.recommend(K)

    session = timings(live, args.repeats, args.warmup)

    embeddings = rec.catalogue.embeddings
    hidden = torch.randn(D_MODEL)

    def bare() -> None:  # the product recommend() runs (numpy's BLAS on the CPU), then top-k
        with torch.inference_mode():
            torch.topk(catalogue_product(hidden[None], embeddings)[0], K)

    bare_ms = timings(bare, args.repeats, args.warmup)

    encoded = encode_history(history, rec.catalogue)
    config = rec.model.config
    batch = history_batch([encoded], rec.catalogue, config)
    # The cache of all events but the last, and the last event as one incremental step.
    prefix = history_batch([encode_history(history[:-1], rec.catalogue)], rec.catalogue, config)
    with torch.inference_mode():
        _, cache = rec.model.forward_incremental(prefix)
    step_batch = history_batch([encoded.tail(1)], rec.catalogue, config)

    def encode() -> None:
        with torch.inference_mode():
            rec.model.last_hidden(batch)

    def step() -> None:
        with torch.inference_mode():
            rec.model.forward_incremental(step_batch, cache)

    encode_ms = timings(encode, args.repeats, args.warmup)
    step_ms = timings(step, args.repeats, args.warmup)

    histories = [[f"track{i}" for i in rng.integers(0, n, length)] for _ in range(args.batch_size)]
    batch_repeats = max(3, args.repeats // 20)
    batch_ms = timings(lambda: rec.recommend_batch(histories, k=K), batch_repeats, 2)
    return Row(
        n_tracks=n,
        history=length,
        recommend_p50=float(p(recommend, 50)),
        recommend_p99=float(p(recommend, 99)),
        session_p50=float(p(session, 50)),
        session_p99=float(p(session, 99)),
        bare_p50=float(p(bare_ms, 50)),
        bare_p99=float(p(bare_ms, 99)),
        encode_p50=float(p(encode_ms, 50)),
        step_p50=float(p(step_ms, 50)),
        batch_qps=args.batch_size / float(np.median(batch_ms)) * 1e3,
    )


def table(rows: list[Row]) -> str:
    header = (
        "| tracks | hist | recommend p50 / p99 | add+rec p50 / p99 | bare p50 / p99 "
        "| rec/bare | rec/(add+rec) | encode / step p50 | batch64 q/s |"
    )
    lines = [header, "|" + "---|" * 9]
    for r in rows:
        lines.append(
            f"| {r.n_tracks:,} | {r.history} | {r.recommend_p50:.2f} / {r.recommend_p99:.2f} "
            f"| {r.session_p50:.2f} / {r.session_p99:.2f} | {r.bare_p50:.2f} / {r.bare_p99:.2f} "
            f"| {r.overhead:.2f}x | {r.session_speedup:.2f}x "
            f"| {r.encode_p50:.2f} / {r.step_p50:.2f} | {r.batch_qps:,.0f} |"
        )
    return "\n".join(lines)


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracks", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--history", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads is not None:
        set_num_threads(args.threads)  # torch and numpy BLAS
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {load()}")
    rows = []
    for n_tracks in args.tracks:
        rec = synthetic_recommender(n_tracks)
        for length in args.history:
            rows.append(measure(rec, length, args, seed=n_tracks + length))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(table(rows))
    print(f"times in ms; {load()}")
    if args.json:
        payload = {
            "threads": torch.get_num_threads(),
            "load_average": os.getloadavg(),
            "rows": [
                {**asdict(r), "overhead": r.overhead, "session_speedup": r.session_speedup}
                for r in rows
            ],
        }
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=2)


if __name__ == "__main__":
    main()
