"""The peers at segue's own epoch budget, scored against segue's test points (issue 12).

Run: python -m benchmarks.peers_budget --protocol ml100k
     python -m benchmarks.peers_budget --protocol ml100k --peers replay --epochs 3 --no-write

The suite (:mod:`benchmarks.run`) trains the peers for a fixed number of epochs (RecTools 60,
RePlay 90 on ML-100K) while ``experiment=ml100k`` trains segue for 150. This benchmark gives
each peer the experiment's own ``trainer.epochs`` (or ``--epochs``), on the split the suite
exports, and compares its per-point NDCG@10 with the checkpoint that ``benchmarks/quality.py``
evaluated on the same test points (``benchmarks/results/runs/<protocol>/evaluation/
points.parquet``, the train-window protocol), by a paired bootstrap that resamples users.
Needs the peers' environment (``make bench-peers``) and a finished quality run.

Writes ``benchmarks/results/peers_budget_<protocol>.{md,json}`` unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks import peers_run
from benchmarks.protocol_export import ranks_from_lists
from benchmarks.quality import RESULTS, composed
from benchmarks.run import RUNS, peers
from benchmarks.suites import COMMON, FULL
from segue.cli import train_run
from segue.evaluation.comparison import compare
from segue.evaluation.summary import metric_summary

PEER_NAMES = {"rectools": "RecTools SASRec", "replay": "RePlay SasRec"}


def experiment_epochs(protocol: str) -> int:
    """``trainer.epochs`` of ``experiment=<protocol>``: segue's own budget."""
    cfg = composed("train", [f"experiment={protocol}", *COMMON], RUNS / "peers_budget" / "cfg")
    return int(cfg.trainer.epochs)


def segue_points(protocol: str) -> pd.DataFrame:
    """The quality run's per-point table of the trained model (train-window protocol)."""
    path = RUNS / protocol / "evaluation" / "points.parquet"
    if not path.exists():
        command = f"python -m benchmarks.quality --protocol {protocol}"
        raise SystemExit(f"{path} not found: run {command} first")
    points = pd.read_parquet(path)
    model = f"{protocol}/best"
    if model not in set(points["model"]):
        raise SystemExit(f"{path} holds no rows of {model!r}")
    return points[points["model"] == model].sort_values("query").reset_index(drop=True)


def peer_rows(base: pd.DataFrame, folder: Path, peer: str, n_tracks: int) -> pd.DataFrame:
    """``base`` (segue's rows) with the peer's name and its ranks, matched by point id."""
    recs = pd.read_parquet(folder / peer / "recs.parquet")
    exported = pd.read_parquet(folder / "export" / "test.parquet").sort_values("point_id")
    if len(exported) != len(base) or not (exported["point_id"].to_numpy() == base["query"]).all():
        raise ValueError("the exported test points are not the quality run's (other data?)")
    known = exported["target"].notna().to_numpy()  # unknown targets are exported as null
    if not (exported["target"].to_numpy()[known] == base["track_id"].to_numpy()[known]).all():
        raise ValueError("an exported target differs from the quality run's")
    ranks = ranks_from_lists(recs, exported, n_tracks)
    return base.assign(model=PEER_NAMES[peer], rank=ranks)


def run(protocol: str, names: list[str], epochs: int | None) -> dict[str, Any]:
    began = time.perf_counter()
    epochs = epochs or experiment_epochs(protocol)
    spec = dataclasses.replace(FULL.protocols[protocol], peer_epochs=dict.fromkeys(names, epochs))
    folder = RUNS / "peers_budget" / protocol
    python = peers_run.default_python()
    fitted = peers(protocol, spec, FULL, folder, python, rerun=False)
    skipped = {peer: out["skipped"] for peer, out in fitted.items() if "skipped" in out}
    if skipped:
        raise SystemExit(f"peers not available: {skipped}")
    base = segue_points(protocol)
    cfg = composed("train", [f"experiment={protocol}", *COMMON], folder / "export")
    n_tracks = train_run.load_data(cfg).vocab.n_tracks
    points = pd.concat(
        [base, *(peer_rows(base, folder, peer, n_tracks) for peer in names)], ignore_index=True
    )
    summary = []
    for model, rows in points.groupby("model", sort=False):
        ranks = rows["rank"].to_numpy()
        summary.append({"model": model, **metric_summary(ranks, ks=[10, 20])})
    return {
        "protocol": protocol,
        "epochs": epochs,
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "summary": summary,
        "comparison": compare(points, f"{protocol}/best", cluster="user_id"),
        "fits": {peer: fitted[peer]["fit"] for peer in names},
        "seconds": round(time.perf_counter() - began, 1),
    }


def report_lines(report: dict[str, Any], command: str) -> list[str]:
    lines = [
        f"# Peers at segue's epoch budget: {report['protocol']}",
        "",
        f"- command: `{command}`",
        f"- date: {report['date']}; machine: {report['machine']}; this command "
        f"{report['seconds']:.0f} s (a peer already trained with the same spec is reused)",
        f"- every peer trained {report['epochs']} epochs (segue's `trainer.epochs`); segue's "
        "row is the checkpoint `benchmarks/quality.py` evaluated (train-window protocol)",
        "",
        "| model | ndcg@10 | hr@10 | ndcg@20 | training s |",
        "|---|---|---|---|---|",
    ]
    for row in report["summary"]:
        fit = next((f for p, f in report["fits"].items() if PEER_NAMES[p] == row["model"]), None)
        seconds = f"{fit['fit_seconds']:.0f}" if fit and "fit_seconds" in fit else ""
        lines.append(
            f"| {row['model']} | {row['ndcg@10']:.4f} | {row['hr@10']:.4f} "
            f"| {row['ndcg@20']:.4f} | {seconds} |"
        )
    lines.append("")
    segue = report["summary"][0]["ndcg@10"]
    for row in report["comparison"]:
        other = next(r for r in report["summary"] if r["model"] == row["other"])["ndcg@10"]
        ratio = segue / other if other else float("inf")
        lines.append(
            f"- {row['reference']} vs {row['other']}: {ratio:.2f}x, NDCG@10 difference "
            f"{row['ndcg@10 diff']:+.4f} (95% CI {row['ci_low']:+.4f} .. {row['ci_high']:+.4f}; "
            f"{row['clusters']} users resampled)"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--protocol", default="ml100k", choices=sorted(FULL.protocols))
    parser.add_argument("--peers", nargs="+", default=list(PEER_NAMES), choices=list(PEER_NAMES))
    parser.add_argument("--epochs", type=int, default=None, help="default: segue's own")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    command = f"python -m benchmarks.peers_budget --protocol {args.protocol}"
    if args.peers != list(PEER_NAMES):
        command += " --peers " + " ".join(args.peers)
    if args.epochs:
        command += f" --epochs {args.epochs}"
    report = run(args.protocol, args.peers, args.epochs)
    markdown = "\n".join(report_lines(report, command)) + "\n"
    print(markdown)
    if not args.no_write:
        stem = RESULTS / f"peers_budget_{args.protocol}"
        stem.with_suffix(".json").write_text(json.dumps(report, indent=2, default=str))
        stem.with_suffix(".md").write_text(markdown)


if __name__ == "__main__":
    main()
