"""``segue export``: a checkpoint as an int8 artefact (torch only) or an ONNX bundle ([onnx]).

``scripts/export.py`` calls :func:`export` too. The ONNX code is imported only for
``--format onnx``: it needs ``onnx`` (torch's exporter) and ``onnxruntime`` (the bundle's
runtime), which the ``[onnx]`` extra installs, while the int8 artefact needs nothing but torch.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from segue.cli.extras import require

FORMATS = ("int8", "onnx")
MIN_OPSET, MAX_OPSET = 17, 20
"""ONNX opsets the bundle can be written with: LayerNormalization needs 17, and torch's
TorchScript exporter (``dynamo=False``, see :mod:`segue.export.onnx_export`) writes up to 20."""
logger = logging.getLogger(__name__)


def check_export_settings(
    checkpoint: object, out: object, fmt: object, opset: object, int8_embeddings: object
) -> tuple[Path, Path]:
    """Check every export setting before anything is read; returns (checkpoint, out) as paths.

    Messages use the names ``scripts/export.py`` takes (``opset=3: ...``).

    Raises:
        TypeError, ValueError: Naming the setting and what it may be.
        FileNotFoundError: No checkpoint file at ``checkpoint``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format={fmt}: must be one of {', '.join(FORMATS)}")
    if isinstance(opset, bool) or not isinstance(opset, int):
        raise TypeError(
            f"opset={opset}: must be an integer from {MIN_OPSET} to {MAX_OPSET}, "
            f"got a {type(opset).__name__}"
        )
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(
            f"opset={opset}: must be from {MIN_OPSET} (LayerNormalization) to {MAX_OPSET} "
            "(the newest torch's exporter writes)"
        )
    if not isinstance(int8_embeddings, bool):
        raise TypeError(f"int8_embeddings={int8_embeddings}: must be true or false")
    if fmt == "int8" and int8_embeddings:
        raise ValueError(
            "int8_embeddings=true is an ONNX option; the int8 format is all int8 already"
        )
    for name, value in (("ckpt", checkpoint), ("out", out)):
        if not isinstance(value, str | Path) or not str(value):
            raise TypeError(f"{name}={value}: must be a path")
    checkpoint, out = Path(checkpoint).expanduser(), Path(out).expanduser()  # type: ignore[arg-type]
    if not checkpoint.is_file():
        raise FileNotFoundError(f"ckpt={checkpoint}: no checkpoint at {checkpoint}")
    if out.resolve() == checkpoint.resolve():
        raise ValueError(f"out={out}: is the checkpoint itself; give another path")
    if fmt == "int8" and out.is_dir():
        raise IsADirectoryError(
            f"out={out}: is a folder, and the int8 format writes one file: give a file path "
            f"such as {out / default_out(checkpoint, 'int8').name}"
        )
    if fmt == "onnx" and out.exists() and not out.is_dir():
        raise FileExistsError(
            f"out={out}: is a file, and an ONNX bundle is a folder: give a folder path (an "
            "existing bundle folder is replaced)"
        )
    parent = next((p for p in out.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise NotADirectoryError(f"out={out}: {parent} is a file, not a folder")
    return checkpoint, out


def default_out(checkpoint: Path, fmt: str) -> Path:
    """Beside the checkpoint: ``best.int8.pt`` for int8, the folder ``best.onnx`` for ONNX.

    >>> default_out(Path("runs/a/best.pt"), "int8").as_posix()
    'runs/a/best.int8.pt'
    >>> default_out(Path("runs/a/best.pt"), "onnx").as_posix()
    'runs/a/best.onnx'
    """
    return checkpoint.with_name(checkpoint.stem + (".int8.pt" if fmt == "int8" else ".onnx"))


def export(
    checkpoint: str | Path,
    out: str | Path,
    fmt: str,
    *,
    opset: int = MIN_OPSET,
    int8_embeddings: bool = False,
) -> Path:
    """Write ``checkpoint`` as ``fmt`` (``int8`` or ``onnx``) to ``out``; returns ``out``.

    Args:
        checkpoint: A training checkpoint (``best.pt``).
        out: The int8 file, or the ONNX bundle folder (replaced if it exists).
        fmt: ``int8`` (one ``weights_only`` file for torch) or ``onnx`` (a folder that runs
            with numpy + onnxruntime).
        opset: ONNX opset, :data:`MIN_OPSET` to :data:`MAX_OPSET` (ONNX only).
        int8_embeddings: Store the ONNX bundle's catalogue in int8 (ONNX only).

    Raises:
        TypeError, ValueError: A bad setting (see :func:`check_export_settings`), before any
            file is read.
        FileNotFoundError: No checkpoint at ``checkpoint``.
        IsADirectoryError, FileExistsError: ``out`` is a folder for int8, a file for ONNX.
        MissingExtraError: ``onnx`` without the ``[onnx]`` extra installed.
    """
    # before importing torch or the exporter, or reading the checkpoint
    checkpoint, out = check_export_settings(checkpoint, out, fmt, opset, int8_embeddings)
    if fmt == "int8":
        from segue.compress import compress_checkpoint

        return compress_checkpoint(checkpoint, out)
    require("onnx", "ONNX export")
    from segue.export.onnx_export import export_onnx

    return export_onnx(checkpoint, out, opset=opset, int8_embeddings=int8_embeddings)


def size_on_disk(path: Path) -> int:
    """Bytes of a file, or of every file under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="a checkpoint as an int8 artefact or an ONNX bundle",
        description=(
            "Export a training checkpoint for deployment. int8: one weights_only file, about "
            "4x smaller, for torch (works on the core install). onnx: a folder that runs with "
            "numpy + onnxruntime and no torch (needs pip install 'segue[onnx]')."
        ),
        epilog=(
            "examples:\n"
            "  segue export outputs/2026-12-05/10-00-00/best.pt\n"
            "  segue export best.pt --format onnx --out bundle --int8-embeddings"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", type=Path, help="a training checkpoint (best.pt)")
    parser.add_argument(
        "--format", choices=FORMATS, default="int8", help="what to write (default: int8)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="file (int8) or folder (onnx) to write; default: beside the checkpoint, "
        "best.int8.pt or best.onnx/",
    )
    parser.add_argument(
        "--opset",
        type=int,
        default=MIN_OPSET,
        help=f"ONNX opset, {MIN_OPSET} to {MAX_OPSET} (default: {MIN_OPSET})",
    )
    parser.add_argument(
        "--int8-embeddings",
        action="store_true",
        help="ONNX only: store the catalogue int8 with per-row scales (about 4x smaller)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = args.out if args.out is not None else default_out(args.checkpoint, args.format)
    written = export(
        args.checkpoint,
        out,
        args.format,
        opset=args.opset,
        int8_embeddings=args.int8_embeddings,
    )
    logger.info("%s: %s (%.2f MB)", args.format, written, size_on_disk(written) / 1e6)
    return 0
