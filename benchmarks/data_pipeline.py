"""Benchmark the data module: read + sessionise synthetic logs of 1M and 10M events.

Run: python -m benchmarks.data_pipeline                 (1M and 10M events, Parquet)
     python -m benchmarks.data_pipeline --events 1000000 --format csv

For each size the log is generated once and written to a temporary file; a fresh Python process
then reads it with ``segue.read_log`` and sessionises it with ``segue.build_sessions``, so the
peak resident memory printed is that of reading + sessionising alone. Target: 10M events in under
60 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Runs in the child process: times each stage and reports its own peak RSS.
CHILD = """
import json, resource, sys, time
import segue
path, fmt = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
log = segue.read_log(path, format=fmt)
t1 = time.perf_counter()
sessions = segue.build_sessions(log, gap="30min")
t2 = time.perf_counter()
print(json.dumps({
    "read_s": t1 - t0, "sessions_s": t2 - t1, "events": len(sessions.events),
    "sessions": sessions.report.stats["sessions"],
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def write_log(n_events: int, fmt: str, folder: Path) -> tuple[Path, float]:
    path = folder / f"synthetic_{n_events}.{fmt}"
    began = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "make_synthetic.py"),
            "--events",
            str(n_events),
            "--out",
            str(path),
        ],
        check=True,
        capture_output=True,
    )
    return path, time.perf_counter() - began


def measure(path: Path, fmt: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), fmt], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.events:
            path, generate_s = write_log(n, args.format, Path(tmp))
            result = measure(path, args.format)
            total = result["read_s"] + result["sessions_s"]
            rows.append(
                {
                    "events": n,
                    "generate_s": generate_s,
                    **result,
                    "total_s": total,
                    "events_per_s": n / total,
                }
            )
            path.unlink()
    print(
        f"{'events':>12} {'read s':>8} {'sessions s':>11} {'total s':>8} {'events/s':>12} "
        f"{'peak RSS MB':>12} {'sessions':>10}"
    )
    for r in rows:
        print(
            f"{r['events']:>12,} {r['read_s']:>8.2f} {r['sessions_s']:>11.2f} {r['total_s']:>8.2f} "
            f"{r['events_per_s']:>12,.0f} {r['peak_rss_mb']:>12,.0f} {r['sessions']:>10,}"
        )
    for r in rows:
        if r["events"] >= 10_000_000:
            verdict = "meets" if r["total_s"] < 60 else "MISSES"
            print(
                f"target 10M events < 60 s: {r['total_s']:.1f} s ({verdict}; "
                f"{60 / r['total_s']:.1f}x headroom)"
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
