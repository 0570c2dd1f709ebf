"""The benchmark report: markdown and JSON from ``benchmarks.run``'s results, and the README.

Every figure in the markdown comes from the result dict, and the README's benchmark section is
this markdown pasted between two marker comments, so the published table is always the report.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import torch

from benchmarks import peers_run

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
PEERS = ("rectools", "replay")
PEER_NAMES = {"rectools": "RecTools SASRec", "replay": "RePlay SasRec"}
DISTRIBUTIONS = {"rectools": "rectools", "replay": "replay-rec"}
NDCG_TARGET, SPEED_TARGET, PEAK_TARGET, MEMORY_TARGET_MB = 1.15, 1 / 3, 0.40, 8192


def environment(peer_python: Path) -> dict[str, Any]:
    """Date, machine, library versions (segue's commit, torch, the peers')."""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")),
        platform.machine(),
    )
    return {
        "date": str(date.today()),
        "machine": f"{cpu}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "segue_commit": _git_commit(),
        "peers": {name: _peer_version(name, peer_python) for name in PEERS},
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def write(report: dict[str, Any], stem: Path) -> str:
    """Write ``<stem>.json`` and ``<stem>.md``; returns the markdown."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2, default=str))
    markdown = render(report)
    stem.with_suffix(".md").write_text(markdown)
    return markdown


def render(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [
        f"Suite `{report['suite']}`: `{report['command']}`, {env['date']}, {env['machine']}, "
        f"Python {env['python']}, torch {env['torch']}, segue {env['segue_commit']}; peers: "
        + ", ".join(f"{n} {v}" for n, v in env["peers"].items())
        + f". Load average {env['load_average_at_start']} at the start, "
        f"{report.get('load_average_at_end')} at the end; {report['wall_seconds']} s in all.",
        "",
    ]
    loads = [
        run.get("load_average_after", [0])[0]
        for name in ("ml100k", "30music")
        for run in report.get(name, {}).get("accuracy", {}).get("runs", {}).values()
    ]
    if loads:
        lines += [
            "The accuracy runs' timings (s/epoch, training time) are those of the runs as they "
            f"ran, some sharing the 2 cores with other jobs (1-minute load average up to "
            f"{max(loads):.1f} at the end of a run); the speed lines, measured back to back in "
            "this run, are the ones to compare.",
            "",
        ]
    for name in ("ml100k", "30music"):
        if name in report:
            lines += protocol_section(name, report[name])
    if "inference" in report:
        lines += inference_section(report["inference"])
    if "scaling" in report:
        lines += scaling_section(report["scaling"])
    lines += targets_section(report)
    return "\n".join(lines) + "\n"


def protocol_section(name: str, entry: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if "accuracy" not in entry and "peers" not in entry:  # a speed-only run has no table
        return [*lines, *speed_lines(entry), ""]
    header = (
        "| model | NDCG@10 | HR@10 | MRR@20 | s/epoch | best / run epochs "
        "| training s to best | peak RSS MB |"
    )
    lines += [header, "|---|---|---|---|---|---|---|---|"]
    runs = entry.get("accuracy", {}).get("runs", {})
    for row in entry.get("accuracy", {}).get("rows", []):
        run = runs.get(row["model"].removeprefix("segue "), {})
        lines.append(_metric_row(row["model"], row, run))
    for peer, result in entry.get("peers", {}).items():
        if "skipped" in result:
            lines.append(f"| {PEER_NAMES[peer]} | not run: {result['skipped']} | | | | | | |")
            continue
        fit = result["fit"]
        run = {
            "seconds_per_epoch": fit["seconds_per_epoch"],
            "train_seconds_to_best": fit["fit_seconds"],  # no model selection: all epochs
            "peak_rss_mb": fit["peak_rss_mb"],
            "summary": {"best_epoch": fit["epochs"], "epochs_run": fit["epochs"]},
        }
        lines.append(_metric_row(f"{PEER_NAMES[peer]} {fit['version']}", result["metrics"], run))
    lines += ["", *speed_lines(entry), ""]
    return lines


def speed_lines(entry: dict[str, Any]) -> list[str]:
    if "speed" not in entry:
        return []
    speed = entry["speed"]
    run = speed["run"]
    lines = [
        f"segue at the peers' configuration: {run['median_seconds_per_epoch']:.2f} s/epoch "
        f"(median of {run['summary']['epochs_run']}), {run['sequences_per_second']:.0f} "
        f"sequences/s, peak RSS {run['peak_rss_mb']:.0f} MB; matrix work "
        f"{speed['gflops_achieved']:.1f} GFLOP/s = {100 * speed['fraction_of_peak']:.0f}% of "
        f"this machine's fp32 matmul peak ({speed['matmul_peak']['gflops']:.1f} GFLOP/s, 1 thread)."
    ]
    for peer, fit in speed.get("peers", {}).items():
        if "seconds_per_epoch" in fit:
            ratio = run["median_seconds_per_epoch"] / fit["seconds_per_epoch"]
            lines.append(
                f"{PEER_NAMES[peer]} at the same settings, run right after: "
                f"{fit['seconds_per_epoch']:.2f} s/epoch; segue / {PEER_NAMES[peer]} = {ratio:.2f}"
            )
    return lines


def inference_section(result: dict[str, Any]) -> list[str]:
    rows = [
        {
            "tracks": f"{r['n_tracks']:,}",
            "history": r["history"],
            "recommend p50 / p99 ms": f"{r['recommend_p50']:.2f} / {r['recommend_p99']:.2f}",
            "add+recommend p50 ms": f"{r['session_p50']:.2f}",
            "bare GEMV+top-k p50 ms": f"{r['bare_p50']:.2f}",
            "batch q/s": f"{r['batch_qps']:,.0f}",
        }
        for r in result["rows"]
    ]
    return table_section(f"Inference (threads {result['threads']})", rows)


def scaling_section(result: dict[str, Any]) -> list[str]:
    rows = [
        {
            "tracks": f"{r['n_tracks']:,}",
            "max_len": r["max_len"],
            "s/step": f"{r['seconds_per_step']:.2f}",
            "s/epoch (extrapolated)": _cell(float(r["seconds_per_epoch"])),
            "sequences/s": f"{r['sequences_per_second']:.1f}",
            "peak RSS MB": f"{r['peak_rss_mb']:,.0f}",
        }
        for r in result.get("rows", [])
    ]
    model = ", ".join(f"{k} {v}" for k, v in result["model"].items())
    title = (
        f"Scaling (training: SASRec {model}; {result['loss']}; batch {result['batch_size']}, "
        f"{result['n_sequences']:,} sequences per epoch, {result['threads']} thread)"
    )
    return [*table_section(title, rows)[:-1], f"Method: {result['method']}.", ""]


def table_section(title: str, rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    columns = list(rows[0])
    lines = [f"### {title}", "", "| " + " | ".join(columns) + " |"]
    lines.append("|" + "---|" * len(columns))
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return [*lines, ""]


def targets_section(report: dict[str, Any]) -> list[str]:
    lines = ["### Targets", "", "| target | measured | met |", "|---|---|---|"]
    for name in ("ml100k", "30music"):
        entry = report.get(name, {})
        ratio = best_peer_ratio(entry)
        if ratio is not None:
            lines.append(_target(f"{name}: NDCG@10 >= {NDCG_TARGET}x best peer", ratio, ">="))
        speed = entry.get("speed", {})
        for peer, fit in speed.get("peers", {}).items():
            if "seconds_per_epoch" in fit:
                ratio = speed["run"]["median_seconds_per_epoch"] / fit["seconds_per_epoch"]
                lines.append(_target(f"{name}: s/epoch <= 1/3 of {peer}", ratio, "<="))
        if "speed" in entry:
            fraction = entry["speed"]["fraction_of_peak"]
            lines.append(_target(f"{name}: >= 40% of matmul peak", fraction, ">=", PEAK_TARGET))
    peak_1m = (report.get("scaling") or {}).get("peak_rss_mb_1m")
    if peak_1m is not None:
        met = "yes" if peak_1m <= MEMORY_TARGET_MB else "no"
        lines.append(
            f"| 1M tracks train with a full softmax within 8 GB | {peak_1m:,.0f} MB peak RSS "
            f"(target <= {MEMORY_TARGET_MB:,} MB) | {met} |"
        )
    return [*lines, ""]


def best_peer_ratio(entry: dict[str, Any]) -> float | None:
    """segue default's NDCG@10 over the best peer's, or None without both."""
    peers = [r["metrics"]["ndcg@10"] for r in entry.get("peers", {}).values() if "metrics" in r]
    rows = entry.get("accuracy", {}).get("rows", [])
    default = next((r["ndcg@10"] for r in rows if r["model"] == "segue default"), None)
    return default / max(peers) if peers and default is not None and max(peers) > 0 else None


def update_readme(readme: Path, markdown: str) -> None:
    """Replace the text between the README's two benchmark markers with ``markdown``."""
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} section to replace")
    head, rest = text.split(START, 1)
    readme.write_text(head + START + "\n" + markdown + END + rest.split(END, 1)[1])


def _metric_row(model: str, metrics: dict[str, Any], run: dict[str, Any]) -> str:
    summary = run.get("summary", {})
    epochs = f"{summary['best_epoch']} / {summary['epochs_run']}" if summary else ""
    return (
        f"| {model} | {metrics['ndcg@10']:.4f} | {metrics['hr@10']:.4f} | "
        f"{metrics['mrr@20']:.4f} | {_cell(run.get('seconds_per_epoch'))} | {epochs} | "
        f"{_cell(run.get('train_seconds_to_best'))} | {_cell(run.get('peak_rss_mb'))} |"
    )


def _target(label: str, value: float, op: str, target: float | None = None) -> str:
    if target is None:
        target = NDCG_TARGET if op == ">=" else SPEED_TARGET
    met = value >= target if op == ">=" else value <= target
    return f"| {label} | {value:.3g} (target {op} {target:.3g}) | {'yes' if met else 'no'} |"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def _git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def _peer_version(name: str, python: Path) -> str:
    if peers_run.peer_available(name, python) is not None:
        return "not installed"
    code = f"import importlib.metadata as m; print(m.version({DISTRIBUTIONS[name]!r}))"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"
