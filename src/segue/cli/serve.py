"""``segue serve``: the HTTP service, handed over to :mod:`segue.serve.cli` with its arguments.

The service and its dependencies (FastAPI, uvicorn, Redis client) are imported only here, when
the command runs; without the ``[serve]`` extra the command says how to install it.
"""

from __future__ import annotations

import argparse

from segue.cli.extras import MissingExtraError, missing_extra_from


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a model over HTTP (the [serve] extra)",
        description=(
            "Serve a checkpoint, int8 artefact or ONNX bundle over HTTP. Every argument is "
            "passed to the service: segue serve --help shows its options."
        ),
        add_help=False,  # --help belongs to the service's own parser
    )
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the service's arguments")
    parser.set_defaults(run=run, passthrough=True)


def run(args: argparse.Namespace) -> int:
    try:
        from segue.serve.cli import main as serve_main
    except ModuleNotFoundError as error:
        missing = missing_extra_from(error, "segue serve")
        if missing is not None:
            raise missing from error
        if error.name is not None and error.name.startswith("segue.serve"):
            raise MissingExtraError("segue serve", "serve", error.name) from error
        raise
    return int(serve_main(list(args.args)))
