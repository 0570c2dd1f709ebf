"""segue's benchmark suite: accuracy, training, inference and scaling, next to the peers.

Run: python -m benchmarks.run suite=full                 (the published table; hours, resumable)
     python -m benchmarks.run suite=quick                (every part with tiny settings, minutes)
     python -m benchmarks.run suite=full parts=accuracy,peers protocols=ml100k
Options (key=value): ``suite`` (full | quick), ``parts`` (comma list of accuracy, peers, speed,
inference, scaling; default all), ``protocols`` (ml100k, 30music), ``rerun=true`` (train again
even where a finished run with the same settings exists), ``peer_python=PATH`` (default
``.venv-peers/bin/python``), ``readme=true`` (replace the README's benchmark section),
``render_only=true`` (rewrite the markdown and README from the last JSON, measuring nothing),
``results=NAME`` (write ``benchmarks/results/NAME.{json,md}``; default ``bench_<suite>``, which
a partial run such as ``parts=speed`` would otherwise replace with its fragment).

Parts:

* **accuracy**: each segue variant of the suite (:mod:`benchmarks.suites`) trained by
  :mod:`benchmarks.train_worker` (one process per run, for its peak memory), then all variants
  and every baseline evaluated as ``scripts/evaluate.py`` does (:mod:`segue.cli.evaluate_run`)
  on the same test points;
* **peers**: RecTools / RePlay SASRec on the same split (:mod:`benchmarks.protocol_export`,
  :mod:`benchmarks.peers_run`), scored with segue's metrics; skipped with the reason when not
  installed;
* **speed**: segue at the peers' configuration for a few epochs: seconds per epoch and matrix
  FLOP/s as a share of this machine's fp32 matmul peak, measured in the same run;
* **inference**: :mod:`benchmarks.inference`; **scaling**: :mod:`benchmarks.scaling`.

Results go to ``benchmarks/results/bench_<suite>.{json,md}``; each run folder is under
``benchmarks/results/runs/bench/`` (``bench_quick/`` for the quick suite; not committed).
Needs ``../shared/data``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks import bench_report, peers_run, training_speed
from benchmarks import scaling as scaling_module
from benchmarks.protocol_export import export_protocol, ranks_from_lists
from benchmarks.quality import COLUMNS, composed
from benchmarks.suites import COMMON, PEER_MODEL, SUITES, Protocol, Suite, segue_at_peer_config
from segue.cli import evaluate_run, train_run
from segue.evaluation.summary import metric_summary

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
RUNS = RESULTS / "runs"
PARTS = ("accuracy", "peers", "speed", "inference", "scaling")
OPTIONS = {
    "suite",
    "parts",
    "protocols",
    "rerun",
    "peer_python",
    "readme",
    "render_only",
    "results",
}


def parse_options(argv: list[str]) -> dict[str, str]:
    options = {"suite": "full", "parts": ",".join(PARTS), "rerun": "false", "readme": "false"}
    options["render_only"] = "false"
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in OPTIONS:
            raise SystemExit(f"unknown option {arg!r}; expected key=value with key in {OPTIONS}")
        options[key] = value
    if options["suite"] not in SUITES:
        raise SystemExit(f"suite must be one of {sorted(SUITES)}, got {options['suite']!r}")
    # A partial run (parts=speed, say) must not overwrite the full report with its fragment.
    options.setdefault("results", f"bench_{options['suite']}")
    if not options["results"] or Path(options["results"]).name != options["results"]:
        raise SystemExit(f"results must be a file name stem, got {options['results']!r}")
    unknown = set(options["parts"].split(",")) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    return options


def trained(out: Path, overrides: list[str], rerun: bool) -> dict[str, Any]:
    """A finished training run with these overrides: reused from ``out`` or started now."""
    record = out / "worker.json"
    if not rerun and record.exists() and json.loads(record.read_text())["overrides"] == overrides:
        return json.loads(record.read_text())
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "benchmarks.train_worker", str(out), *overrides]
    print(f"training: {' '.join(overrides)}", flush=True)
    with open(out / "worker.log", "w") as log:
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True, cwd=REPO)
    return json.loads(record.read_text())


def accuracy(name: str, protocol: Protocol, folder: Path, rerun: bool) -> dict[str, Any]:
    """Train every variant, then evaluate them and the baselines on the same test points."""
    runs = {}
    for variant, overrides in protocol.variants.items():
        runs[variant] = trained(
            folder / variant, [f"experiment={name}", *COMMON, *overrides], rerun
        )
    checkpoints = ",".join(str(folder / v / "best.pt") for v in runs)
    result = evaluate_run.run(
        composed(
            "evaluate",
            [f"checkpoints=[{checkpoints}]", "compare_to=default/best"],
            folder / "evaluation",
        )
    )
    rows = result.summary.to_dict(orient="records")
    for row in rows:  # evaluate names a checkpoint <its folder>/best, here <variant>/best
        if row["model"].endswith("/best") and row["model"].split("/")[-2] in runs:
            row["model"] = "segue " + row["model"].split("/")[-2]
    return {
        "rows": rows,
        "runs": runs,
        "table": result.to_markdown([c for c in COLUMNS if c in result.summary.columns]),
    }


def protocol_data(name: str, protocol: Protocol, folder: Path) -> tuple[Any, dict[str, Any], str]:
    """The protocol's prepared data, the settings every peer trains with (less epochs), and
    what the training sequences are grouped by (``data.train_by``)."""
    cfg = composed("train", [f"experiment={name}", *COMMON], folder / "export")
    base = {
        "protocol": name,
        **PEER_MODEL,
        "n_negatives": protocol.peer_negatives,
        "exclude_seen": bool(cfg.data.exclude_seen),
    }
    return train_run.load_data(cfg), base, cfg.data.train_by


def peers(
    name: str, protocol: Protocol, suite: Suite, folder: Path, python: Path, rerun: bool
) -> dict:
    """Each available peer trained on the exported split and scored with segue's metrics."""
    data, base, train_by = protocol_data(name, protocol, folder)
    out: dict[str, Any] = {peer: {"skipped": why} for peer, why in protocol.peers_not_run.items()}
    export_dir, exported = folder / "export", False
    for peer, epochs in protocol.peer_epochs.items():
        reason = peers_run.peer_available(peer, python)
        if reason:
            out[peer] = {"skipped": reason}
            print(f"{peer}: skipped ({reason})")
            continue
        if not exported:  # one export serves every peer; each gets its epochs on the command line
            export_protocol(data, {**base, "epochs": epochs}, export_dir, train_by)
            exported = True
        spec, peer_dir = {**base, "epochs": epochs}, folder / peer
        extra = ["--epochs", str(epochs)]
        extra += ["--max-points", str(suite.max_points)] if suite.max_points else []
        done = peer_dir / "fit.json"
        if rerun or not done.exists() or json.loads(done.read_text()).get("spec") != spec:
            print(f"{peer}: training {epochs} epochs", flush=True)
            result = peers_run.run_peer(peer, python, export_dir, peer_dir, extra)
            result["fit"]["spec"] = spec
            done.write_text(json.dumps(result["fit"], indent=2))
        fit = json.loads(done.read_text())
        recs = pd.read_parquet(peer_dir / "recs.parquet")
        points = pd.read_parquet(export_dir / "test.parquet")
        points = points[points["point_id"].isin(recs["point_id"])]
        ranks = ranks_from_lists(recs, points, data.vocab.n_tracks)
        out[peer] = {"fit": fit, "metrics": metric_summary(ranks, ks=[10, 20, 50])}
    return out


def speed(name: str, protocol: Protocol, folder: Path, python: Path, rerun: bool) -> dict[str, Any]:
    """segue and each peer at the peers' configuration, back to back, for a few epochs.

    The seconds-per-epoch ratio is taken from these short runs, one right after the other,
    rather than from the long accuracy runs, which may have shared the machine with others.
    """
    overrides = [
        *segue_at_peer_config(protocol),
        *COMMON,
        f"trainer.epochs={protocol.speed_epochs}",
        f"trainer.patience={protocol.speed_epochs}",
    ]
    run = trained(folder / "peer_config", overrides, rerun)
    peak = training_speed.matmul_peak(threads=1)
    flops = training_speed.flops_of_run(folder / "peer_config", overrides)
    achieved = flops["flops_per_epoch"] / run["median_seconds_per_epoch"] / 1e9
    peers: dict[str, Any] = {}
    for peer in protocol.peer_epochs:
        reason = peers_run.peer_available(peer, python)
        if reason:
            peers[peer] = {"skipped": reason}
            continue
        if not (folder / "export" / "test.parquet").exists():  # speed run without the peers part
            data, base, train_by = protocol_data(name, protocol, folder)
            spec = {**base, "epochs": protocol.speed_epochs}
            export_protocol(data, spec, folder / "export", train_by)
        out = folder / f"speed_{peer}"
        done = out / "fit.json"
        if rerun or not done.exists():
            # the peers part's export; the lists are not scored here, training is timed
            extra = ["--epochs", str(protocol.speed_epochs), "--max-points", "50"]
            peers_run.run_peer(peer, python, folder / "export", out, extra)
        peers[peer] = json.loads(done.read_text())
    return {
        "run": run,
        "flops": flops,
        "matmul_peak": peak,
        "gflops_achieved": achieved,
        "fraction_of_peak": achieved / peak["gflops"],
        "peers": peers,
    }


def inference(suite: Suite, root: Path, rerun: bool) -> dict[str, Any]:
    out = root / "inference.json"
    if rerun or not out.exists():
        command = [sys.executable, "-m", "benchmarks.inference", *suite.inference_args]
        subprocess.run([*command, "--json", str(out)], check=True, cwd=REPO)
    return json.loads(out.read_text())


def scaling(suite: Suite, root: Path, rerun: bool) -> dict[str, Any]:
    out = root / "scaling.json"
    if rerun or not out.exists():
        result = scaling_module.scaling(quick=suite.scaling_quick)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
    return json.loads(out.read_text())


def runs_root(suite: str) -> Path:
    """Run folders of a suite: ``runs/bench`` for the published one, ``runs/bench_<suite>``."""
    return RUNS / ("bench" if suite == "full" else f"bench_{suite}")


def main(argv: list[str]) -> None:
    options = parse_options(argv)
    if options["render_only"] == "true":  # the report and README again, from the last JSON
        return render_again(RESULTS / options["results"], options["readme"] == "true")
    suite, rerun = SUITES[options["suite"]], options["rerun"] == "true"
    parts, root = options["parts"].split(","), runs_root(options["suite"])
    names = options.get("protocols", ",".join(suite.protocols)).split(",")
    python = Path(options.get("peer_python") or peers_run.default_python())
    began = time.perf_counter()
    report: dict[str, Any] = {"suite": options["suite"], "command": command_line(argv)}
    report["environment"] = bench_report.environment(python)
    for name in names:
        protocol, folder, entry = suite.protocols[name], root / name, {}
        if "accuracy" in parts:
            entry["accuracy"] = accuracy(name, protocol, folder, rerun)
        if "peers" in parts:
            entry["peers"] = peers(name, protocol, suite, folder, python, rerun)
        if "speed" in parts:
            entry["speed"] = speed(name, protocol, folder, python, rerun)
        report[name] = entry
    if "inference" in parts:
        report["inference"] = inference(suite, root, rerun)
    if "scaling" in parts:
        report["scaling"] = scaling(suite, root, rerun)
    report["wall_seconds"] = round(time.perf_counter() - began, 1)
    markdown = bench_report.write(report, RESULTS / options["results"])
    print(markdown)
    if options["readme"] == "true":
        bench_report.update_readme(REPO / "README.md", markdown)


def render_again(stem: Path, readme: bool) -> None:
    """Rewrite ``<stem>.md`` (and the README's section) from ``<stem>.json``, measuring nothing."""
    markdown = bench_report.render(json.loads(stem.with_suffix(".json").read_text()))
    stem.with_suffix(".md").write_text(markdown)
    print(markdown)
    if readme:
        bench_report.update_readme(REPO / "README.md", markdown)


def command_line(argv: list[str]) -> str:
    return " ".join(["python -m benchmarks.run", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
