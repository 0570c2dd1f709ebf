"""Run a peer library's SASRec on an exported protocol, in the peer's own Python environment.

Each adapter in ``benchmarks/peers/`` reads the export of :mod:`protocol_export`, trains, and
writes ``recs.parquet`` (ranked lists per point) and ``fit.json`` (timings, peak memory,
versions). This module starts it as a subprocess with the peer's interpreter and reads the
files back; a peer that is not installed is reported as skipped, with the reason, not as a
failure. Install the peers with ``benchmarks/peers/README.md`` (``make bench-peers``).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

PEERS_DIR = Path(__file__).resolve().parent / "peers"
ADAPTERS = {"rectools": "rectools_sasrec.py", "replay": "replay_sasrec.py"}
IMPORT_NAMES = {"rectools": "rectools", "replay": "replay"}


@functools.cache  # one probe per peer and interpreter: importing a peer takes seconds
def peer_available(name: str, python: Path) -> str | None:
    """None when ``python`` can import the peer library, else the reason it cannot."""
    if not python.exists():
        return f"no interpreter at {python} (see benchmarks/peers/README.md)"
    probe = subprocess.run(
        [str(python), "-c", f"import {IMPORT_NAMES[name]}"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["import failed"])[-1]
        return f"{python} cannot import {IMPORT_NAMES[name]}: {last}"
    return None


def run_peer(
    name: str, python: Path, export_dir: Path, out: Path, extra: list[str] | None = None
) -> dict[str, Any]:
    """Train and predict with peer ``name``; returns its ``fit.json`` plus the ranked lists.

    Raises:
        RuntimeError: If the adapter exits non-zero (its last output lines are included).
    """
    out.mkdir(parents=True, exist_ok=True)
    command = [str(python), str(PEERS_DIR / ADAPTERS[name]), "--data", str(export_dir)]
    command += ["--out", str(out), *(extra or [])]
    with open(out / "adapter.log", "w") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = (out / "adapter.log").read_text().strip().splitlines()[-15:]
        raise RuntimeError(f"{name} adapter failed ({done.returncode}):\n" + "\n".join(tail))
    fit = json.loads((out / "fit.json").read_text())
    fit["command"] = " ".join(command)
    return {"fit": fit, "recs": pd.read_parquet(out / "recs.parquet")}


def default_python() -> Path:
    """``.venv-peers/bin/python`` in the repository, where the peers README installs them."""
    root = Path(__file__).resolve().parents[1]
    candidate = root / ".venv-peers" / "bin" / "python"
    return candidate if candidate.exists() else Path(sys.executable)
