"""The int8 screen against exhaustive float scoring, back to back on the same model.

Run: python -m benchmarks.int8_screen                      (100k and 1M tracks, ~2 min)
     python -m benchmarks.int8_screen --tracks 100000 --checkpoint outputs/best.pt

Two ``Recommender`` objects share one model's weights, one with ``int8_screen=True`` and one
with ``False``; each kind of call alternates between them (one call each, ``--repeats``
times, after a warmup), on one thread, so both see the same machine state. Calls:

* ``recommend``: ``rec.recommend(history of 20, k=10)``;
* ``session``: ``state.add(track)`` then ``state.recommend(10)``;
* ``playlist``: ``rec.continue_playlist(5 seeds, n=10)``, greedy (ten picks, each one
  incremental step of the model and one scoring pass);
* ``batch``: ``rec.recommend_batch(4 histories, k=10)`` (batches above 16 rows are scored in float:
  ``segue.api.int8_screen.SCREEN_MAX_ROWS``).

Every screened answer is checked against the exhaustive one (same track ids), and the table
prints how many tracks the screen re-scored in float per query (its candidates). Models are
SASRec (d_model 64, 2 layers, max_len 50) with N(0, 0.2) weights, as in the serving load
benchmark (scores spread out as a trained model's are), or a trained checkpoint
(``--checkpoint``).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from benchmarks.serve_harness import build_checkpoint
from segue.api import Recommender
from segue.api import int8_screen as screen_module
from segue.api.cpu_product import set_num_threads

KINDS = ("recommend", "session", "playlist", "batch")


def pair(checkpoint: Path) -> tuple[Recommender, Recommender]:
    """The checkpoint served with the screen and without it (separate copies of the model)."""
    base = Recommender.load(checkpoint, int8_screen=False)
    screened = Recommender(copy.deepcopy(base.model), base.vocab, int8_screen=True)
    return screened, base


def calls(rec: Recommender, ids: np.ndarray, seed: int) -> dict[str, Callable[[], object]]:
    """One callable per kind; each draws its inputs from its own seeded stream."""
    rng = np.random.default_rng(seed)
    state = rec.session([str(i) for i in rng.choice(ids, 20)])

    def session() -> object:
        state.add(str(rng.choice(ids)))
        return state.recommend(10)

    return {
        "recommend": lambda: rec.recommend([str(i) for i in rng.choice(ids, 20)], k=10),
        "session": session,
        "playlist": lambda: rec.continue_playlist([str(i) for i in rng.choice(ids, 5)], n=10),
        "batch": lambda: rec.recommend_batch(
            [[str(i) for i in rng.choice(ids, 20)] for _ in range(4)], k=10
        ),
    }


def interleaved(
    screened: Callable[[], object], exhaustive: Callable[[], object], repeats: int, warmup: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Milliseconds of each call, alternating, and the number of answers that differed."""
    for _ in range(warmup):
        screened(), exhaustive()
    times = np.empty((2, repeats))
    differ = 0
    for i in range(repeats):
        t0 = time.perf_counter_ns()
        a = screened()
        t1 = time.perf_counter_ns()
        b = exhaustive()
        t2 = time.perf_counter_ns()
        times[:, i] = (t1 - t0) / 1e6, (t2 - t1) / 1e6
        differ += a["track_id"].tolist() != b["track_id"].tolist()  # type: ignore[index]
    return times[0], times[1], differ


class CandidateCounter:
    """Counts the tracks the screen re-scores, by wrapping its float re-scoring."""

    def __init__(self) -> None:
        self.queries = 0
        self.tracks = 0
        self._real = screen_module._dots

    def __enter__(self) -> CandidateCounter:
        def counting(embeddings, query, cols):  # type: ignore[no-untyped-def]
            self.queries += 1
            self.tracks += len(cols)
            return self._real(embeddings, query, cols)

        screen_module._dots = counting  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        screen_module._dots = self._real  # type: ignore[assignment]


def measure(checkpoint: Path, args: argparse.Namespace) -> list[dict]:
    screened, exhaustive = pair(checkpoint)
    ids = np.asarray(screened.vocab.track_ids)
    n_tracks = len(ids)
    fast, slow = calls(screened, ids, seed=1), calls(exhaustive, ids, seed=1)
    rows = []
    for kind in KINDS:
        with CandidateCounter() as counter:
            on, off, differ = interleaved(fast[kind], slow[kind], args.repeats, args.warmup)
        p = np.percentile
        rows.append(
            {
                "tracks": n_tracks,
                "call": kind,
                "screen_p50_ms": round(float(p(on, 50)), 3),
                "screen_p99_ms": round(float(p(on, 99)), 3),
                "float_p50_ms": round(float(p(off, 50)), 3),
                "float_p99_ms": round(float(p(off, 99)), 3),
                "speedup_p50": round(float(p(off, 50) / p(on, 50)), 2),
                "candidates_per_query": round(counter.tracks / max(1, counter.queries), 1),
                "answers_differing": differ,
            }
        )
    return rows


def print_table(rows: list[dict]) -> None:
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, 1 thread")
    print(
        "| tracks | call | screen p50 / p99 ms | float p50 / p99 ms | speed-up p50 "
        "| re-scored per query | answers differing |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['tracks']:,} | {r['call']} | {r['screen_p50_ms']} / {r['screen_p99_ms']} "
            f"| {r['float_p50_ms']} / {r['float_p99_ms']} | {r['speedup_p50']}x "
            f"| {r['candidates_per_query']} | {r['answers_differing']} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--checkpoint", type=Path, default=None, help="a trained best.pt")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    set_num_threads(1)
    rows: list[dict] = []
    if args.checkpoint is not None:
        rows += measure(args.checkpoint, args)
    else:
        with tempfile.TemporaryDirectory() as folder:
            for n in args.tracks:
                path = build_checkpoint(Path(folder) / f"{n}.pt", n, 64, 2, 50, seed=0)
                rows += measure(path, args)
                print_table(rows[-len(KINDS) :])
    print_table(rows)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    raise SystemExit(main())
