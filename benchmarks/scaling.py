"""Training cost as the catalogue and the history grow: seconds per epoch and peak RSS.

Run: python -m benchmarks.scaling                     (10k / 100k / 1M tracks, histories
                                                      50 / 200 / 1000; about 3 min, 1 thread)
     python -m benchmarks.scaling --quick             (tiny sizes, seconds: a wiring check)
     python -m benchmarks.scaling --catalogues 1000000 --histories 200 --json scaling.json

Two sweeps of segue's SASRec (d=64, 2 blocks, 2 heads, dropout 0.2) trained with
``segue.training.fit`` and the full-catalogue softmax, computed in catalogue chunks by
``segue.training.losses.full_softmax_ce`` (chunk size chosen automatically, as
``configs/loss/softmax.yaml`` leaves it):

1. the catalogue grows (10k, 100k, 1M tracks) at ``max_len`` 200;
2. the history grows (``max_len`` 50, 200, 1000) at 100k tracks.

Every point trains on the same number of sequences (2,000 by default): a seeded synthetic log
(``segue.data.synthetic``) of that many listeners with exactly ``max_len + 1`` plays each, so
each listener gives one full window and every position has a target. The model scores the
whole catalogue of the point, including tracks the log never played. Each point runs in fresh
subprocesses: one writes the encoded log to disk, one trains, so the training process's peak RSS
(``VmHWM``, see :mod:`memory`) holds imports, the encoded data, model, optimizer state,
activations and checkpoint writes, and nothing else.

A full epoch at 1M tracks takes hours on one thread, so epochs are extrapolated: the trainer
runs two "epochs" of ``steps`` batches each (``trainer.max_steps_per_epoch``); the first warms
up (allocations, page faults), the second is timed, and seconds per epoch = seconds per step x
ceil(sequences / batch size). The peak RSS is that of the run, which is what a full epoch needs
too: memory does not grow with the number of steps.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.memory import peak_rss_mb

REPO = Path(__file__).resolve().parents[1]
RSS_TARGET_GB = 8.0  # the target: 1M tracks, full-catalogue loss, within 8 GB peak RSS
MODEL = {"d_model": 64, "n_layers": 2, "n_heads": 2, "dropout": 0.2}
TRACKS_PER_ARTIST = (2, 5)  # albums per artist, tracks per album: catalogues in steps of 10
QUICK: dict[str, Any] = {
    "catalogues": (1_000, 5_000),
    "histories": (20, 50),
    "history_for_catalogues": 20,
    "catalogue_for_histories": 1_000,
    "n_sequences": 50,
    "batch_size": 16,
}


# ---------------------------------------------------------------------------------------------
# Data: written by one subprocess, read by the training one


def make_data(path: Path, n_tracks: int, max_len: int, n_sequences: int, seed: int = 0) -> None:
    """Write the encoded training events of a synthetic log to ``path`` (``.npz``).

    ``n_sequences`` listeners with ``max_len + 1`` plays each, from a catalogue of ``n_tracks``
    tracks; the vocabulary indexes the tracks that were played (1..n_played, by popularity).
    """
    from segue.data.encoding import encode_events
    from segue.data.synthetic import generate_listening_log
    from segue.data.vocab import TrackVocab

    albums, per_album = TRACKS_PER_ARTIST
    if n_tracks % (albums * per_album):
        raise ValueError(f"n_tracks must be a multiple of {albums * per_album}, got {n_tracks}")
    log = generate_listening_log(
        n_users=n_sequences,
        n_events=n_sequences * (max_len + 1),
        min_events_per_user=max_len + 1,  # every listener gets exactly this many plays
        n_artists=n_tracks // (albums * per_album),
        albums_per_artist=albums,
        tracks_per_album=per_album,
        n_genres=min(8, n_tracks // (albums * per_album)),
        seed=seed,
    )
    vocab, _ = TrackVocab.build(log.events)
    encoded = encode_events(log.events, vocab, by="user")
    np.savez(path, **asdict(encoded))


def _training_sequences(path: Path, max_len: int) -> Any:
    from segue.data.encoding import EncodedEvents
    from segue.data.sequences import TrainingSequences

    with np.load(path) as arrays:
        encoded = EncodedEvents(**{f.name: arrays[f.name] for f in fields(EncodedEvents)})
    return TrainingSequences(encoded, max_len, causal=True)


# ---------------------------------------------------------------------------------------------
# One point, in the training subprocess


def train_point(
    data_path: Path, n_tracks: int, max_len: int, batch_size: int, steps: int, threads: int
) -> dict[str, Any]:
    """Train ``2 * steps`` steps (warm-up, then timed) on the encoded data; timings and RSS."""
    from segue.data.vocab import TrackVocab
    from segue.models import sasrec
    from segue.training.losses import loss_for
    from segue.training.trainer import TrainerConfig, fit

    torch.set_num_threads(threads)
    data = _training_sequences(data_path, max_len)
    # The checkpoint's vocabulary spans the catalogue, as a real run over these tracks would.
    vocab = TrackVocab(track_ids=[f"t{i}" for i in range(1, n_tracks + 1)], counts=[1] * n_tracks)
    model = sasrec(n_tracks, max_len=max_len, **MODEL)
    loss = loss_for("softmax", n_tracks)  # chunk_size None: automatic, as the config leaves it
    with tempfile.TemporaryDirectory(prefix="segue-scaling-") as out:
        settings = TrainerConfig(
            epochs=2,
            batch_size=batch_size,
            max_steps_per_epoch=steps,
            num_threads=threads,
            device="cpu",
            progress=False,
            patience=2,
            out_dir=out,
        )

        def no_validation(m: Any) -> dict[str, float]:
            return {settings.monitor: 0.0}  # validation is not what is measured here

        result = fit(model, data, loss, no_validation, settings, vocab=vocab)
    first, timed = (float(row["epoch_seconds"]) for row in result.history)
    steps_per_epoch = math.ceil(len(data) / batch_size)
    return {
        "n_tracks": n_tracks,
        "max_len": max_len,
        "n_sequences": len(data),
        "batch_size": batch_size,
        "steps_timed": steps,
        "warmup_seconds_per_step": first / steps,
        "seconds_per_step": timed / steps,
        "steps_per_epoch": steps_per_epoch,
        "seconds_per_epoch": timed / steps * steps_per_epoch,
        "sequences_per_second": batch_size * steps / timed,
        "peak_rss_mb": peak_rss_mb(),
        "threads": threads,
    }


# ---------------------------------------------------------------------------------------------
# The sweeps, from the calling process


def _run(args: list[str], threads: int, timeout_s: float | None) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "benchmarks.scaling", *args]
    subprocess.run(command, check=True, env=env, timeout=timeout_s, cwd=REPO)


def measure_point(
    n_tracks: int,
    max_len: int,
    *,
    n_sequences: int = 2_000,
    batch_size: int = 16,
    steps: int = 1,
    threads: int = 1,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """One point of the sweeps: make its data, then train in a fresh process (see module doc)."""
    with tempfile.TemporaryDirectory(prefix="segue-scaling-") as tmp:
        data, out = Path(tmp) / "data.npz", Path(tmp) / "point.json"
        sizes = ["--tracks", str(n_tracks), "--max-len", str(max_len)]
        _run(["--make-data", str(data), *sizes, "--sequences", str(n_sequences)], 1, timeout_s)
        train = ["--worker", str(data), "--out", str(out), *sizes, "--batch-size", str(batch_size)]
        _run([*train, "--steps", str(steps), "--threads", str(threads)], threads, timeout_s)
        row: dict[str, Any] = json.loads(out.read_text())
    row["within_rss_target"] = row["peak_rss_mb"] <= RSS_TARGET_GB * 1024
    return row


def scaling(
    catalogues: Sequence[int] = (10_000, 100_000, 1_000_000),
    histories: Sequence[int] = (50, 200, 1000),
    *,
    history_for_catalogues: int = 200,
    catalogue_for_histories: int = 100_000,
    n_sequences: int = 2_000,
    batch_size: int = 16,
    steps: int = 1,
    threads: int = 1,
    quick: bool = False,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Seconds per epoch and peak RSS as the catalogue grows, then as the history grows.

    Args:
        catalogues: Catalogue sizes (multiples of 10) of the first sweep.
        histories: ``max_len`` values of the second sweep.
        history_for_catalogues: ``max_len`` of the catalogue sweep.
        catalogue_for_histories: Catalogue size of the history sweep.
        n_sequences: Training sequences of every point (one per synthetic listener).
        batch_size: Sequences per step.
        steps: Steps timed per point, after as many warm-up steps.
        threads: torch threads of the training processes.
        quick: Use the tiny sizes of :data:`QUICK` instead of the sizes given (for tests).
        timeout_s: Kill a subprocess after this many seconds.

    Returns:
        ``rows`` (every point once), ``catalogue_rows`` and ``history_rows`` (one dict per
        point: ``n_tracks``, ``max_len``, ``seconds_per_epoch``, ``seconds_per_step``,
        ``peak_rss_mb``, ``within_rss_target``...; a point in both sweeps is measured once and
        appears in both), the settings, the method, the RSS target
        verdict at the largest catalogue, ``peak_rss_mb_1m`` (None without a 1M-track point)
        and load averages.
    """
    if quick:
        catalogues, histories = QUICK["catalogues"], QUICK["histories"]
        history_for_catalogues = QUICK["history_for_catalogues"]
        catalogue_for_histories = QUICK["catalogue_for_histories"]
        n_sequences, batch_size = QUICK["n_sequences"], QUICK["batch_size"]
    load_before = os.getloadavg()
    options = {"n_sequences": n_sequences, "batch_size": batch_size, "steps": steps}
    points = [(n, history_for_catalogues) for n in catalogues]
    points += [(catalogue_for_histories, t) for t in histories]
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    for n_tracks, max_len in points:
        if (n_tracks, max_len) not in rows:
            rows[n_tracks, max_len] = measure_point(
                n_tracks, max_len, threads=threads, timeout_s=timeout_s, **options
            )
    largest = rows[max(catalogues), history_for_catalogues]
    million = rows.get((1_000_000, history_for_catalogues))
    return {
        "rows": list(rows.values()),  # every point once, catalogue sweep first
        "catalogue_rows": [rows[n, history_for_catalogues] for n in catalogues],
        "history_rows": [rows[catalogue_for_histories, t] for t in histories],
        **options,
        "threads": threads,
        "model": MODEL,
        "loss": "full softmax over the catalogue, chunked (segue.training.losses.full_softmax_ce)",
        "method": (
            f"{steps} warm-up step(s) then {steps} timed step(s) per point; seconds per epoch = "
            f"seconds per step x ceil({n_sequences} sequences / batch {batch_size}) (extrapolated)"
        ),
        "rss_target_gb": RSS_TARGET_GB,
        "largest_catalogue": largest["n_tracks"],
        "largest_catalogue_peak_rss_mb": largest["peak_rss_mb"],
        "largest_catalogue_within_target": largest["within_rss_target"],
        "peak_rss_mb_1m": million["peak_rss_mb"] if million else None,
        "loadavg_before": list(load_before),
        "loadavg_after": list(os.getloadavg()),
    }


# ---------------------------------------------------------------------------------------------
# Report


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one row per point."""
    head = ["tracks", "max_len", "s/step", "s/epoch (extrapolated)", "seq/s", "peak RSS MB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            f"{r['n_tracks']:,}",
            str(r["max_len"]),
            f"{r['seconds_per_step']:.2f}",
            f"{r['seconds_per_epoch']:,.1f}",
            f"{r['sequences_per_second']:.1f}",
            f"{r['peak_rss_mb']:,.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(result: dict[str, Any]) -> str:
    """The two sweeps as markdown, with the settings and the RSS target verdict."""
    verdict = "within" if result["largest_catalogue_within_target"] else "NOT within"
    return "\n".join(
        [
            f"{result['n_sequences']:,} training sequences per point, batch "
            f"{result['batch_size']}, {result['threads']} thread(s); {result['method']}.",
            "",
            "## Catalogue sweep",
            "",
            table(result["catalogue_rows"]),
            "",
            "## History sweep",
            "",
            table(result["history_rows"]),
            "",
            f"Peak RSS at {result['largest_catalogue']:,} tracks: "
            f"{result['largest_catalogue_peak_rss_mb']:,.0f} MB, {verdict} the "
            f"{result['rss_target_gb']:.0f} GB target.",
        ]
    )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalogues", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--histories", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument("--sequences", type=int, default=2_000, help="training sequences")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=1, help="timed steps per point")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--json", type=Path, help="write the results here")
    # Subprocess modes.
    parser.add_argument("--make-data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tracks", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--max-len", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    if args.make_data:
        make_data(args.make_data, args.tracks, args.max_len, args.sequences)
        return
    if args.worker:
        row = train_point(
            args.worker, args.tracks, args.max_len, args.batch_size, args.steps, args.threads
        )
        args.out.write_text(json.dumps(row, indent=2))
        return
    print(f"load average before: {os.getloadavg()}")
    result = scaling(
        args.catalogues,
        args.histories,
        n_sequences=args.sequences,
        batch_size=args.batch_size,
        steps=args.steps,
        threads=args.threads,
        quick=args.quick,
    )
    print(report(result))
    print(f"\nload average after: {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
