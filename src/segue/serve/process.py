"""Local processes for trying, testing and benchmarking the service: a ``segue serve`` server
and a ``redis-server``, each on a free loopback port, started, waited for and always stopped.

One helper for the tests and the benchmarks (they used to carry twin copies). Everything is
bounded: readiness is polled with a timeout, stopping is SIGTERM (graceful) and then SIGKILL.

>>> 0 < free_port() < 65536
True
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from segue.serve.settings import API_KEY_ENV

SERVE_MODULE = (sys.executable, "-m", "segue.serve")
"""The default command a :class:`ServerProcess` runs, before ``MODEL --port P ARGS``."""


def free_port() -> int:
    """A TCP port free on loopback now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m segue.serve MODEL --port P ARGS`` on a free loopback port.

    Args:
        model: Model path.
        args: More command-line options.
        log_path: Where the server's output (JSON log lines) goes.
        api_key: Put in ``SEGUE_API_KEY``; None starts the server without a key.
        command: What runs before ``MODEL --port P ARGS`` (e.g. a Python that blocks torch).
        env: More environment variables for the server.
    """

    def __init__(
        self,
        model: Path,
        args: Sequence[str],
        log_path: Path,
        api_key: str | None = None,
        command: Sequence[str] = SERVE_MODULE,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path)
        environ = {k: v for k, v in os.environ.items() if k != API_KEY_ENV}
        environ.update(env or {})
        if api_key is not None:
            environ[API_KEY_ENV] = api_key
        argv = [*command, str(model), "--port", str(self.port), *args]
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, env=environ
        )

    def wait_ready(self, timeout_s: float = 120.0) -> ServerProcess:
        """Poll ``/readyz`` until it answers 200; raise (with the log) if the server exits or
        is not ready in ``timeout_s``."""
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

    def stop(self, timeout_s: float = 20.0) -> int | None:
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
        """The server's output so far."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def workers(self) -> list[int]:
        """Pids of the worker processes (``--workers N``): the supervisor's children that run
        the app, not multiprocessing's resource tracker."""
        return [p for p in children(self.process.pid) if "resource_tracker" not in _cmdline(p)]

    def __enter__(self) -> ServerProcess:
        return self.wait_ready()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedisProcess:
    """A ``redis-server`` of our own on a free loopback port, without persistence (so a test
    or benchmark may stop and restart it).

    Args:
        folder: Its working directory.
    """

    def __init__(self, folder: Path) -> None:
        self.port, self.folder = free_port(), Path(folder)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        """Whether ``redis-server`` is on the PATH."""
        return shutil.which("redis-server") is not None

    def start(self, timeout_s: float = 20.0) -> None:
        """Start it and wait until it accepts connections."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        self.process = subprocess.Popen(
            [binary, *args, "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def children(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (from ``/proc``), sorted."""
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


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
