"""Write a seeded synthetic listening log to Parquet or CSV.

    python scripts/make_synthetic.py --events 1000000 --out /tmp/synth.parquet --seed 0

Sizes left out come from ``segue.data.synthetic.DEFAULT_SYNTHETIC``; ``--users`` and
``--artists`` default to that config scaled with ``--events``, so a bigger log gets more
listeners and a bigger catalogue rather than ever longer histories.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from segue.data.synthetic import DEFAULT_SYNTHETIC, generate_listening_log


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = DEFAULT_SYNTHETIC
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=d.n_events, help="rows of the log")
    parser.add_argument("--out", type=Path, required=True, help="a .parquet or .csv path")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--users", type=int, help="listeners (default: scaled with --events)")
    parser.add_argument("--artists", type=int, help="artists (default: scaled with --events)")
    parser.add_argument("--albums-per-artist", type=int, default=d.albums_per_artist)
    parser.add_argument("--tracks-per-album", type=int, default=d.tracks_per_album)
    parser.add_argument("--genres", type=int, default=d.n_genres)
    parser.add_argument("--start", default=d.start, help="UTC date of the first sessions")
    return parser.parse_args(argv)


def _scaled(value: int | None, default: int, events: int) -> int:
    # Keep the default's events per user and per artist when only --events is given.
    return (
        value if value is not None else max(default, default * events // DEFAULT_SYNTHETIC.n_events)
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.out.suffix not in (".parquet", ".csv"):
        raise SystemExit(f"--out must end in .parquet or .csv, got {args.out}")
    d = DEFAULT_SYNTHETIC
    began = time.perf_counter()
    log = generate_listening_log(
        n_events=args.events,
        n_users=_scaled(args.users, d.n_users, args.events),
        n_artists=_scaled(args.artists, d.n_artists, args.events),
        albums_per_artist=args.albums_per_artist,
        tracks_per_album=args.tracks_per_album,
        n_genres=args.genres,
        seed=args.seed,
        start=args.start,
    )
    generated = time.perf_counter() - began
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix == ".parquet":
        log.events.to_parquet(args.out, index=False)
    else:
        log.events.to_csv(args.out, index=False)
    written = time.perf_counter() - began - generated
    print(log.summary())
    print(
        f"generated {len(log):,} events in {generated:.1f} s; wrote {args.out} in {written:.1f} s"
    )


if __name__ == "__main__":
    main()
