"""Out-of-core data preparation at 10M-100M events: time, peak memory, events per second.

    python -m benchmarks.scale_data --events 10000000 100000000 --memory-limit 6GB

For each size, a synthetic log (:mod:`segue.scale.synthetic`) is written as Parquet by DuckDB,
then :func:`segue.scale.prepare_out_of_core` runs in a fresh worker process (sessions, global
temporal split, vocabulary, ``events.parquet`` and window shards), which reports its wall time
and peak RSS (VmHWM). First, at ``--pandas-events``, the pandas path (:func:`segue.prepare_data`)
and the out-of-core path run back to back on the same file, and their report counts are
compared. The big files are removed after each size unless ``--keep`` (``--reuse-input`` then
prepares a kept file again without generating it; its generation time shows as nan).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.memory import peak_rss_mb

MAX_LEN = 50


def _counts(reports: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (r["stage"], r["rows_in"], r["rows_kept"], sorted(r["dropped"].items())) for r in reports
    ]


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Run one preparation in this process and return its figures."""
    import torch

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    if args.worker == "pandas":
        import pandas as pd

        from segue import prepare_data

        prepared = prepare_data(
            pd.read_parquet(args.file), split="global_temporal", max_len=MAX_LEN
        )
        reports = [r.to_dict() for r in prepared.reports]
        windows = len(prepared.train)
    else:
        from segue.scale import prepare_out_of_core

        data = prepare_out_of_core(
            [args.file],
            args.out,
            max_len=MAX_LEN,
            memory_limit=args.memory_limit,
            write_events=not args.no_events,
        )
        reports = [r.to_dict() for r in data.reports[1:]]  # the pandas path has no read stage
        windows = data.n_windows
    return {
        "seconds": time.perf_counter() - start,
        "peak_mb": peak_rss_mb(),
        "windows": windows,
        "reports": reports,
    }


def _run_worker(kind: str, file: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.scale_data",
        "--worker",
        kind,
        "--file",
        str(file),
        "--out",
        str(out),
        "--memory-limit",
        args.memory_limit,
        "--threads",
        str(args.threads),
    ] + (["--no-events"] if args.no_events else [])
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _generate(path: Path, n_events: int, n_tracks: int) -> float:
    from segue.scale.synthetic import write_synthetic_log

    start = time.perf_counter()
    write_synthetic_log(path, n_events, n_tracks)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[10_000_000])
    parser.add_argument("--tracks", type=int, default=None, help="default: events / 10")
    parser.add_argument("--pandas-events", type=int, default=1_000_000, help="0 skips")
    parser.add_argument("--memory-limit", default="6GB")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/segue-scale-data"))
    parser.add_argument("--no-events", action="store_true", help="skip events.parquet")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--reuse-input", action="store_true", help="use an events file left by --keep"
    )
    parser.add_argument("--worker", choices=["pandas", "duckdb"], help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    args.work_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"DuckDB memory_limit {args.memory_limit}; windows max_len {MAX_LEN}; split global "
        f"temporal; work dir {args.work_dir}"
    )
    if args.pandas_events:
        n = args.pandas_events
        file = args.work_dir / f"events_{n}.parquet"
        _generate(file, n, args.tracks or max(n // 10, 1))
        pandas = _run_worker("pandas", file, args.work_dir / "pandas_out", args)
        duck = _run_worker("duckdb", file, args.work_dir / f"out_{n}", args)
        equal = _counts(pandas["reports"]) == _counts(duck["reports"])
        print(f"\n{n:,} events, back to back on one file:")
        print(f"{'path':<14}{'seconds':>10}{'peak MB':>10}{'windows':>12}")
        for name, r in (("pandas", pandas), ("duckdb", duck)):
            print(f"{name:<14}{r['seconds']:>10.1f}{r['peak_mb']:>10.0f}{r['windows']:>12,}")
        print(
            f"same report counts and windows: {equal and pandas['windows'] == duck['windows']}; "
            f"peak ratio pandas/duckdb {pandas['peak_mb'] / duck['peak_mb']:.2f}"
        )
        if not args.keep:
            file.unlink()
            shutil.rmtree(args.work_dir / f"out_{n}", ignore_errors=True)
    print(
        f"\n{'events':>14}{'generate s':>12}{'prepare s':>11}{'events/s':>12}{'peak MB':>10}"
        f"{'tracks':>12}{'windows':>12}"
    )
    for n in args.events:
        file, out = args.work_dir / f"events_{n}.parquet", args.work_dir / f"out_{n}"
        if args.reuse_input and file.exists():
            generated = float("nan")  # written by an earlier run
        else:
            generated = _generate(file, n, args.tracks or max(n // 10, 1))
        r = _run_worker("duckdb", file, out, args)
        tracks = next(x["rows_kept"] for x in r["reports"] if x["stage"] == "vocabulary")
        print(
            f"{n:>14,}{generated:>12.1f}{r['seconds']:>11.1f}{n / r['seconds']:>12,.0f}"
            f"{r['peak_mb']:>10.0f}{tracks:>12,}{r['windows']:>12,}",
            flush=True,
        )
        if not args.keep:
            file.unlink()
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
