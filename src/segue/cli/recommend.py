"""``segue recommend <model> <track ids...>``: the next tracks after a listening history.

A float checkpoint is served by :class:`segue.api.Recommender`; an ONNX bundle folder by the
torch-free :class:`segue.export.runtime.OnnxRecommender` (the ``[onnx]`` extra). Ids the model
does not know are reported, and a history with no known id says that the list is the
popularity fallback, not a personal one.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from segue.cli.extras import import_optional

logger = logging.getLogger(__name__)
COLUMNS = ("rank", "track_id", "score", "artist", "track_name")


def recommend(
    model: Path, history: list[str], k: int, max_per_artist: int | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Top-``k`` rows for ``history`` and the ids of it the model does not know.

    Args:
        model: A float checkpoint file or an ONNX bundle folder.
        history: Track ids, oldest first.
        k: List length.
        max_per_artist: At most this many tracks of one artist (checkpoints only).
    """
    if model.is_dir():
        if max_per_artist is not None:
            raise ValueError("--max-per-artist needs a checkpoint; ONNX bundles rank plainly")
        import_optional("onnxruntime", "onnx", "Serving an ONNX bundle")
        from segue.export.runtime import OnnxRecommender

        bundle = OnnxRecommender.load(model)
        unknown = [t for t in history if t not in bundle.index]
        return bundle.recommend(history, k=k), unknown
    if not model.is_file():
        raise FileNotFoundError(f"no checkpoint or bundle at {model}")
    from segue.api import Recommender
    from segue.api.results import UNKNOWN_IDS

    frame = Recommender.load(model).recommend(history, k=k, max_per_artist=max_per_artist)
    rows = [{str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")]
    return rows, [str(t) for t in frame.attrs.get(UNKNOWN_IDS, [])]


def format_rows(rows: list[dict[str, Any]]) -> str:
    """A fixed-width table of recommendation rows (the columns that are present)."""
    columns = [c for c in COLUMNS if any(c in row for row in rows)]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: Any) -> str:
    """
    >>> _cell(0.123456), _cell(None), _cell(3)
    ('0.1235', '', '3')
    """
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "recommend",
        help="the next tracks after a history of track ids",
        description="Rank the next tracks after a listening history (oldest id first).",
        epilog=(
            "examples:\n"
            "  segue recommend outputs/2026-12-05/10-00-00/best.pt t12 t7 t99 --k 5\n"
            "  segue recommend best.onnx t12 t7 --json      (an ONNX bundle: [onnx] extra)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", type=Path, help="a checkpoint (best.pt) or an ONNX bundle")
    parser.add_argument("history", nargs="*", help="track ids, oldest first (none: cold start)")
    parser.add_argument("--k", type=int, default=10, help="list length (default: 10)")
    parser.add_argument(
        "--max-per-artist", type=int, default=None, help="at most this many tracks per artist"
    )
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.k < 1:  # both checked before the model is read, in the spelling typed
        raise ValueError(f"--k must be >= 1, got {args.k}")
    if args.max_per_artist is not None and args.max_per_artist < 1:
        raise ValueError(f"--max-per-artist must be >= 1, got {args.max_per_artist}")
    rows, unknown = recommend(args.model, list(args.history), args.k, args.max_per_artist)
    cold_start = len(unknown) == len(args.history)
    if unknown and not cold_start:
        logger.warning(
            "%d of %d history ids are not in the model's catalogue, ignored: %s",
            len(unknown),
            len(args.history),
            ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else ""),
        )
    if cold_start and args.model.is_dir():  # Recommender warns by itself (ColdStartWarning)
        logger.warning(
            "the history holds no track the model knows: ranked by popularity (cold start)"
        )
    print(json.dumps(rows, default=str) if args.json else format_rows(rows))
    return 0
