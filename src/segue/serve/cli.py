"""``segue serve MODEL``: start the HTTP service on uvicorn.

``--workers 1`` (default) runs one process; the model can be reloaded in place with
``POST /admin/reload`` or ``kill -HUP <pid>``. ``--workers N`` uses uvicorn's multi-process
supervisor: N worker processes share the socket, a worker that dies is replaced, and SIGHUP to
the supervisor (or ``POST /admin/reload`` on any worker) restarts the workers one at a time on
the current model file, each new worker ready before an old one stops. Listener state must
then live in Redis (``--redis-url``), or each worker knows only the listeners it served.
"""

from __future__ import annotations

import argparse
import logging
import logging.config
import os
import sys
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any

from segue.export.screen import SCREEN_MIN_TRACKS
from segue.serve.logs import log_config
from segue.serve.metrics import MULTIPROC_ENV
from segue.serve.protocol import http_protocol
from segue.serve.settings import SETTINGS_ENV, ServeSettings

log = logging.getLogger("segue.serve")

GRACEFUL_SHUTDOWN_S = 10
KEEP_ALIVE_S = 75
WORKER_TIMEOUT_S = 60
"""uvicorn's default is 5 s, for a worker to start and for each health check. A worker here
imports torch, reads and warms the model before it is ready: 8-15 s on a 2-core machine with
three or four busy processes beside it. After 5 s uvicorn (>= 0.51) kills the new worker and
gives up the rolling restart, leaving the workers on different models (a CI failure)."""


_LIMIT_OPTIONS: tuple[tuple[str, type, str], ...] = (
    ("--deadline-ms", float, "a request not started within this answers 503"),
    (
        "--deadline-headroom",
        float,
        "share of the deadline kept in reserve for what the server cannot time (0 to <1)",
    ),
    ("--switch-interval-ms", float, "the interpreter's thread switch interval (GIL turns)"),
    ("--max-queue", int, "requests waiting for the model before 503"),
    ("--max-batch", int, "concurrent plain recommendations scored in one model call (1: off)"),
    ("--max-concurrency", int, "model calls at once per worker (besides the playlist threads)"),
    (
        "--playlist-threads",
        int,
        "threads of the playlists' own lane (0: playlists share the model's threads)",
    ),
)
"""Options of the admission limits: flag, type, help (the default is the settings' own)."""


def build_parser() -> argparse.ArgumentParser:
    defaults = {f.name: f.default for f in fields(ServeSettings) if f.name != "model"}
    p = argparse.ArgumentParser(
        prog="segue serve",
        description="Serve a segue model over HTTP (FastAPI on uvicorn). Docs at /docs.",
    )
    p.add_argument("model", help="checkpoint (.pt) or ONNX bundle folder (torch-free)")
    p.add_argument("--host", default="127.0.0.1", help="interface (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="processes (uvicorn supervisor)")
    p.add_argument(
        "--worker-timeout-s",
        type=int,
        default=WORKER_TIMEOUT_S,
        help="with --workers > 1: seconds a new worker may take to be ready (else the rolling "
        "restart stops) and a worker to answer the supervisor's health check (else it is "
        "replaced)",
    )
    p.add_argument(
        "--api-key-file",
        help="file with the API key(s), one per line; "
        "default: the SEGUE_API_KEY environment variable",
    )
    p.add_argument(
        "--read-auth",
        choices=["open", "key"],
        default="open",
        help="whether reads need an API key (writes always do)",
    )
    p.add_argument(
        "--redis-url",
        help="listener store, e.g. redis://127.0.0.1:6379/0 (default: in-process LRU)",
    )
    p.add_argument("--listener-ttl-s", type=int, default=defaults["listener_ttl_s"])
    for flag, kind, text in _LIMIT_OPTIONS:
        key = flag.removeprefix("--").replace("-", "_")
        p.add_argument(flag, type=kind, default=defaults[key], help=text)
    p.add_argument("--max-body-bytes", type=int, default=defaults["max_body_bytes"])
    p.add_argument("--max-history", type=int, default=defaults["max_history"])
    p.add_argument("--max-k", type=int, default=defaults["max_k"])
    p.add_argument("--max-listeners", type=int, default=defaults["max_listeners"])
    p.add_argument(
        "--int8-screen",
        choices=["auto", "on", "off"],
        default="auto",
        help="rank a checkpoint through an int8 copy of its track table (same lists, fewer "
        f"bytes read; auto: from {SCREEN_MIN_TRACKS:,} tracks when onnxruntime is installed)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--no-access-log", action="store_true", help="no log line per request")
    return p


def settings_from_args(args: argparse.Namespace) -> ServeSettings:
    """The settings of a parsed command line (checked before anything starts)."""
    model = Path(args.model)
    if not model.exists():
        raise ValueError(f"model: nothing at {model}")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if not args.worker_timeout_s > 0:
        raise ValueError(f"--worker-timeout-s must be > 0, got {args.worker_timeout_s}")
    if args.api_key_file is not None and not Path(args.api_key_file).is_file():
        raise ValueError(f"--api-key-file: no file at {args.api_key_file}")
    return ServeSettings(
        model=str(model.resolve()),
        deadline_ms=args.deadline_ms,
        deadline_headroom=args.deadline_headroom,
        switch_interval_ms=args.switch_interval_ms,
        max_concurrency=args.max_concurrency,
        playlist_threads=args.playlist_threads,
        max_queue=args.max_queue,
        max_batch=args.max_batch,
        max_body_bytes=args.max_body_bytes,
        max_history=args.max_history,
        max_k=args.max_k,
        read_auth=args.read_auth,
        api_key_file=None if args.api_key_file is None else str(Path(args.api_key_file).resolve()),
        redis_url=args.redis_url,
        listener_ttl_s=args.listener_ttl_s,
        max_listeners=args.max_listeners,
        supervised=args.workers > 1,
        access_log=not args.no_access_log,
        int8_screen={"auto": None, "on": True, "off": False}[args.int8_screen],
    )


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGINT / SIGTERM; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
        from segue.serve.auth import load_keys

        keys = load_keys(settings.api_key_file)  # a bad key file fails here, not in a worker
    except (ValueError, OSError) as error:
        print(f"segue serve: {error}", file=sys.stderr)
        return 2
    import uvicorn

    os.environ[SETTINGS_ENV] = settings.to_env()
    # One BLAS thread per worker: scoring one request is a GEMV, and waking a thread pool for
    # it costs more than it saves on a busy machine (see segue.export.runtime).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    config = log_config(args.log_level)
    logging.config.dictConfig(config)
    if not keys:
        log.warning("no API key configured: writes (events, delete, reload) are refused")
    if args.workers > 1 and settings.redis_url is None:
        log.warning("several workers without --redis-url: each worker holds its own listeners")
    with tempfile.TemporaryDirectory(prefix="segue-metrics-") as metrics_dir:
        if args.workers > 1:
            os.environ[MULTIPROC_ENV] = metrics_dir  # all workers' metrics on one page
        uvicorn.run("segue.serve.app:app_from_env", log_config=config, **uvicorn_options(args))
    return 0


def uvicorn_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run`` (and ``uvicorn.Config``) but the app and logs."""
    return {
        "factory": True,
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        "access_log": False,  # segue's middleware writes its own access log
        "http": http_protocol(),  # stamps each request's arrival (its deadline's start)
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
        # Longer than uvicorn's 5 s, so that idle pooled client (or proxy) connections are
        # not closed under them between requests.
        "timeout_keep_alive": KEEP_ALIVE_S,
        "timeout_worker_healthcheck": args.worker_timeout_s,
    }
