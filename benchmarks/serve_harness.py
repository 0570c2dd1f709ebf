"""The pieces the ``segue serve`` benchmarks share: a synthetic 100k-track checkpoint, and the
machine's load average. The server and redis-server subprocesses and the memory of a process
tree come from :mod:`segue.serve.process` (the serve tests use the same helper).

The model has random weights (seeded) of a trained model's shapes: latency and memory depend on
the shapes, not on what the weights learned, so no training run is needed.
"""

from __future__ import annotations

import os
from pathlib import Path

from segue.serve.process import RedisProcess, ServerProcess, children, rss_mb

__all__ = [
    "API_KEY",
    "RedisProcess",
    "ServerProcess",
    "build_checkpoint",
    "children",
    "cpu_seconds",
    "load_average",
    "rss_mb",
    "shed_counts",
    "shed_since",
    "start_server",
]

API_KEY = "bench-key-0123456789abcdef"


def build_checkpoint(
    path: Path, n_tracks: int, d_model: int, layers: int, max_len: int, seed: int
) -> Path:
    """A SASRec checkpoint with random weights: ``n_tracks`` tracks, 1 artist per 20 tracks."""
    import torch

    from segue.data.vocab import TrackVocab
    from segue.io.checkpoint import Checkpoint, save_checkpoint
    from segue.models import sasrec

    n_artists = max(1, n_tracks // 20)
    model = sasrec(
        n_tracks, d_model=d_model, n_layers=layers, max_len=max_len, seed=seed, n_artists=n_artists
    )
    with torch.no_grad():  # spread the scores out as a trained model's are
        gen = torch.Generator().manual_seed(seed)
        for p in model.parameters():
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
        model.track_emb.weight[0].zero_()
    vocab = TrackVocab(
        track_ids=[f"t{i}" for i in range(n_tracks)],
        counts=[max(1, n_tracks // (i + 1)) for i in range(n_tracks)],
        artists=[f"a{i // 20}" for i in range(n_tracks)],
        names=None,
    )
    return save_checkpoint(Checkpoint(model.config, model.state_dict(), vocab), path)


def start_server(model: Path, args: list[str], log_path: Path) -> ServerProcess:
    """A server with the benchmark's key and no access log (one line per request costs CPU)."""
    return ServerProcess(model, ["--no-access-log", *args], log_path, api_key=API_KEY)


def shed_counts(url: str) -> dict[str, int]:
    """The server's 503s so far by reason ("queue_full", "deadline"), from its ``/metrics``
    (one worker's, or every worker's summed in multi-process mode)."""
    import httpx

    counts: dict[str, int] = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("segue_shed_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            counts[reason] = counts.get(reason, 0) + int(float(line.rsplit(" ", 1)[1]))
    return counts


def shed_since(url: str, before: dict[str, int]) -> dict[str, int]:
    """The 503s by reason since ``before`` (a :func:`shed_counts`), those not zero."""
    after = shed_counts(url)
    return {k: n - before.get(k, 0) for k, n in after.items() if n - before.get(k, 0)}


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as printed next to every figure."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by ``pid`` and its children, in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / ticks
