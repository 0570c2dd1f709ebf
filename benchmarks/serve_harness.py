"""The pieces the ``segue serve`` benchmarks share: a synthetic 100k-track checkpoint, a server
subprocess, a redis-server subprocess, and the memory of a process tree.

The model has random weights (seeded) of a trained model's shapes: latency and memory depend on
the shapes, not on what the weights learned, so no training run is needed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

API_KEY = "bench-key-0123456789abcdef"


def build_checkpoint(
    path: Path, n_tracks: int, d_model: int, layers: int, max_len: int, seed: int
) -> Path:
    """A SASRec checkpoint with random weights: ``n_tracks`` tracks, 1 artist per 20 tracks."""
    import torch

    from segue.data.vocab import TrackVocab
    from segue.models import sasrec
    from segue.training.checkpoint import Checkpoint, save_checkpoint

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m segue.serve`` on a free loopback port; its log goes to ``log_path``."""

    def __init__(self, model: Path, args: list[str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {**os.environ, "SEGUE_API_KEY": API_KEY}
        command = [sys.executable, "-m", "segue.serve", str(model), "--port", str(self.port)]
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [*command, "--no-access-log", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def wait_ready(self, timeout_s: float = 180.0) -> ServerProcess:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("server not ready in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()

    def workers(self) -> list[int]:
        """Worker pids (children of the supervisor that run the app)."""
        return [p for p in children(self.process.pid) if "resource_tracker" not in _cmdline(p)]


class RedisProcess:
    """A redis-server of our own on a free loopback port, without persistence."""

    def __init__(self, folder: Path) -> None:
        self.port, self.folder = free_port(), folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.process = subprocess.Popen(
            [binary, *args, "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children, MiB (``VmRSS``; 0 if gone)."""
    total = 0
    for p in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
