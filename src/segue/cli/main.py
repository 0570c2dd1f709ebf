"""``segue``: the command line (``segue --help``; ``segue <command> --help``).

Each command is a module of :mod:`segue.cli` with ``add_parser`` and ``run``; this module
builds the parser, sets up logging and turns the errors a user can fix (a missing file, a bad
setting, a missing extra) into one line on stderr and exit status 1, keeping tracebacks for
bugs (and for ``--traceback``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from segue import __version__
from segue.cli import evaluate, export, info, recommend, serve, train
from segue.cli.help_text import Parser, groups_text
from segue.cli.user_errors import USER_ERRORS
from segue.logs import run_logging

COMMANDS = (train, evaluate, export, serve, recommend, info)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="segue",
        description="segue: next-track music recommendation, from listening logs to playlists.",
        epilog=(
            "train and evaluate take Hydra overrides (KEY=VALUE, GROUP=OPTION) of the configs\n"
            "shipped in the package; `segue train --help` lists the most used ones.\n\n"
            "quick start:\n"
            "  segue train debug=default        (seconds: tiny data and model)\n"
            "  segue export outputs/<date>/<time>/best.pt\n"
            "  segue recommend outputs/<date>/<time>/best.pt t12 t7 --k 5"
        ),
        epilog_fn=lambda: groups_text("train"),
    )
    parser.add_argument("--version", action="version", version=f"segue {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages too")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    parser.add_argument(
        "--traceback", action="store_true", help="show the full traceback of any error"
    )
    subparsers = parser.add_subparsers(
        title="commands", metavar="COMMAND", required=True, parser_class=Parser
    )
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``segue`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    if getattr(args, "passthrough", False):  # segue serve: every argument is the service's
        args.args = [*args.args, *unknown]
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    with run_logging(None, level):
        try:
            return int(args.run(args))
        except USER_ERRORS as error:
            if args.traceback:
                raise
            print(f"segue: error: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("segue: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    raise SystemExit(main())
