"""Real server processes on free loopback ports, tiny models, and a real redis-server.

Every server is a subprocess (``python -m segue.serve``, through
:class:`segue.serve.process.ServerProcess`, which the benchmarks use too) waited for with a
bounded loop and always stopped; its JSON log is kept for assertions. Models: the 40-track
``side`` checkpoint of the export tests, its int8 artefact, its float and int8 ONNX bundles,
and a second checkpoint with other weights for reloads.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from segue.compress import compress_checkpoint
from segue.export.onnx_export import export_onnx
from segue.io.checkpoint import Checkpoint, save_checkpoint
from segue.serve.process import SERVE_MODULE, RedisProcess, ServerProcess
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
    int8_artefact: Path


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
    artefact = compress_checkpoint(checkpoint, folder / "side.int8.pt")
    return Models(checkpoint, other, bundle, int8, artefact)


class Server(ServerProcess):
    """A :class:`ServerProcess` with the tests' key, optionally in a Python without torch.

    Args:
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
        command = (sys.executable, "-c", BLOCK_TORCH) if block_torch else SERVE_MODULE
        env = {"PYTHONPATH": str(REPO / "src")}
        super().__init__(model, args, log_path, api_key=api_key, command=command, env=env)


@pytest.fixture(scope="session")
def server(models: Models, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A checkpoint server with the in-process store and small caps for the limit tests,
    shared by every module (each test uses listener ids of its own). Its deadline is long:
    these tests check answers, not shedding (the ``guarded`` server's tests do), and the
    deadline counts from the request's arrival, so a burst on a busy machine could be shed."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    args = ["--max-history", "20", "--max-k", "25", "--max-body-bytes", "4096"]
    args += ["--deadline-ms", "5000"]
    with Server(models.checkpoint, args, log) as running:
        yield running


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """Our own redis-server, or skip (fail where ``SEGUE_REQUIRE_REDIS=1``, as in CI)."""
    if shutil.which("redis-server") is None:
        reason = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("SEGUE_REQUIRE_REDIS") == "1":
            pytest.fail(f"{reason}, and SEGUE_REQUIRE_REDIS=1")
        pytest.skip(reason)
    redis = RedisProcess(tmp_path_factory.mktemp("redis"))
    redis.start()
    yield redis
    redis.stop()
