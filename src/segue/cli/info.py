"""``segue info <file>``: what a checkpoint, int8 artefact or ONNX bundle holds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from segue.cli.describe import describe, format_info


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="describe a checkpoint, int8 artefact or ONNX bundle",
        description=(
            "Describe an artefact segue wrote: kind and format version, model config, "
            "catalogue size, training data settings and metrics (where the kind stores them). "
            "The file is read as data: nothing in it is built or executed."
        ),
        epilog=(
            "examples:\n"
            "  segue info outputs/2026-12-05/10-00-00/best.pt\n"
            "  segue info best.onnx --json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", type=Path, help="a .pt file or an ONNX bundle folder")
    parser.add_argument("--json", action="store_true", help="print the description as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    info = describe(args.path)
    print(json.dumps(info.to_dict(), indent=2, default=str) if args.json else format_info(info))
    return 0
