"""Real server processes on free loopback ports, tiny models, and a real redis-server.

Every server is a subprocess (``python -m segue.serve``) waited for with a bounded loop and
always stopped; its JSON log is kept for assertions. Models: the 40-track ``side`` checkpoint
of the export tests, its float and int8 ONNX bundles, and a second checkpoint with other
weights for reloads.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import torch

from segue.export.onnx_export import export_onnx
from segue.training.checkpoint import Checkpoint, save_checkpoint
from tests.export.conftest import tiny_model, tiny_vocab

API_KEY = "test-key-0123456789abcdef"
REPO = Path(__file__).resolve().parents[2]

BLOCK_TORCH = """
import importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"import {name} is blocked in this test")
        return None
sys.meta_path.insert(0, NoTorch())
from segue.serve.cli import main
sys.exit(main(sys.argv[1:]))
"""


@dataclass
class Models:
    checkpoint: Path
    other_checkpoint: Path
    bundle: Path
    int8_bundle: Path


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    folder = tmp_path_factory.mktemp("serve_models")
    model = tiny_model("side")
    checkpoint = save_checkpoint(
        Checkpoint(model.config, model.state_dict(), tiny_vocab()), folder / "side.pt"
    )
    with torch.no_grad():
        gen = torch.Generator().manual_seed(11)
        for p in model.parameters():
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        model.track_emb.weight[0].zero_()
    other = save_checkpoint(
        Checkpoint(model.config, model.state_dict(), tiny_vocab()), folder / "other.pt"
    )
    bundle = export_onnx(checkpoint, folder / "bundle")
    int8 = export_onnx(checkpoint, folder / "bundle_int8", int8_embeddings=True)
    return Models(checkpoint, other, bundle, int8)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m segue.serve MODEL --port P ARGS``, started and stopped by the tests.

    Args:
        model: Model path.
        args: More command-line options.
        log_path: Where the server's stderr (JSON log lines) goes.
        block_torch: Run the CLI in a Python whose ``import torch`` fails.
        api_key: Put in ``SEGUE_API_KEY``; None leaves the server without a key.
    """

    def __init__(
        self,
        model: Path,
        args: list[str],
        log_path: Path,
        block_torch: bool = False,
        api_key: str | None = API_KEY,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if k != "SEGUE_API_KEY"}
        if api_key is not None:
            env["SEGUE_API_KEY"] = api_key
        env["PYTHONPATH"] = str(REPO / "src")
        argv = [str(model), "--port", str(self.port), *args]
        command = (
            [sys.executable, "-c", BLOCK_TORCH, *argv]
            if block_torch
            else [sys.executable, "-m", "segue.serve", *argv]
        )
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=env
        )

    def wait_ready(self, timeout_s: float = 120.0) -> Server:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not ready in {timeout_s} s:\n{self.log()}")

    def stop(self, timeout_s: float = 20.0) -> int:
        """SIGTERM (graceful), then SIGKILL if it has not exited in ``timeout_s``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        return self.process.returncode

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def __enter__(self) -> Server:
        return self.wait_ready()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def server(models: Models, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A checkpoint server with the in-process store and small caps for the limit tests,
    shared by every module (each test uses listener ids of its own)."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    args = ["--max-history", "20", "--max-k", "25", "--max-body-bytes", "4096"]
    with Server(models.checkpoint, args, log) as running:
        yield running


class RedisServer:
    """A redis-server of our own on a free port (so a test may stop and restart it)."""

    def __init__(self, folder: Path) -> None:
        self.port, self.folder = free_port(), folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
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


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """Our own redis-server, or skip (fail where ``SEGUE_REQUIRE_REDIS=1``, as in CI)."""
    if shutil.which("redis-server") is None:
        reason = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("SEGUE_REQUIRE_REDIS") == "1":
            pytest.fail(f"{reason}, and SEGUE_REQUIRE_REDIS=1")
        pytest.skip(reason)
    redis = RedisServer(tmp_path_factory.mktemp("redis"))
    redis.start()
    yield redis
    redis.stop()
