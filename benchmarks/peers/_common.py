"""Plumbing shared by the peer adapters: the protocol export, the CLI, timing and the outputs.

The adapters run in the peer virtual environment, so nothing here imports segue; torch is
imported lazily so that thread settings are in place before it loads.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

TRAIN_COLUMNS = ("sequence_id", "item_id", "position", "timestamp")
POINT_COLUMNS = ("point_id", "history", "target")
SPEC_TYPES: dict[str, tuple[type, ...]] = {
    "protocol": (str,),
    "d_model": (int,),
    "n_blocks": (int,),
    "n_heads": (int,),
    "max_len": (int,),
    "dropout": (int, float),
    "batch_size": (int,),
    "lr": (int, float),
    "epochs": (int,),
    "k": (int,),
    "exclude_seen": (bool,),
    "seed": (int,),
}
# Optional fields: absent means None.
OPTIONAL_SPEC_TYPES: dict[str, tuple[type, ...]] = {"n_negatives": (int,)}


class ExportError(ValueError):
    """The protocol export or the command line is unusable; the message says why."""


@dataclass(frozen=True)
class Spec:
    """Model and evaluation settings read from ``spec.json``.

    Attributes:
        protocol: Name of the protocol the export was made for.
        d_model: Embedding and hidden size.
        n_blocks: Number of transformer blocks.
        n_heads: Number of attention heads.
        max_len: Longest history the model reads (the most recent events are kept).
        dropout: Dropout rate.
        batch_size: Training batch size (sequences per step).
        lr: Adam learning rate.
        epochs: Exact number of training epochs.
        k: Length of every ranked list.
        exclude_seen: Whether items of a point's history must not be recommended.
        seed: Seed for every random generator.
        threads: Torch intra-op threads.
        n_negatives: ``None`` for full-softmax cross-entropy over every item; an int N for a
            sampled softmax with N uniformly sampled negatives (per batch or per position,
            as each library implements it).
    """

    protocol: str
    d_model: int
    n_blocks: int
    n_heads: int
    max_len: int
    dropout: float
    batch_size: int
    lr: float
    epochs: int
    k: int
    exclude_seen: bool
    seed: int
    threads: int = 1
    n_negatives: int | None = None


@dataclass(frozen=True)
class Export:
    """A loaded protocol export.

    Attributes:
        spec: The settings, with ``epochs`` already overridden from the command line.
        train: Training events sorted by sequence and position.
        points: Test points (``point_id``, ``history`` as a list of str, ``target``).
    """

    spec: Spec
    train: pd.DataFrame
    points: pd.DataFrame


@dataclass
class FitReport:
    """Everything ``fit.json`` records; filled in as the adapter runs."""

    library: str
    version: str
    torch: str
    loss: str
    config: dict[str, Any]
    epochs: int = 0
    fit_seconds: float = 0.0
    seconds_per_epoch: float = 0.0
    epoch_seconds: list[float] | None = None
    predict_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    n_train_sequences: int = 0
    n_items: int = 0
    n_points: int = 0
    history_items_dropped: int = 0
    empty_histories: int = 0
    short_lists: int = 0
    notes: str = ""


def parse_args(argv: Sequence[str] | None, library: str) -> argparse.Namespace:
    """Parses the adapter command line shared by both peers.

    Args:
        argv: Arguments without the program name; ``None`` reads ``sys.argv``.
        library: Library name for the help text.

    Returns:
        Namespace with ``data``, ``out``, ``epochs`` and ``max_points``.
    """
    parser = argparse.ArgumentParser(
        description=f"Train {library}'s SASRec on a segue protocol export and write top-k lists."
    )
    parser.add_argument("--data", type=Path, required=True, help="protocol export directory")
    parser.add_argument(
        "--out", type=Path, required=True, help="directory for recs.parquet, fit.json"
    )
    parser.add_argument("--epochs", type=int, default=None, help="override spec.json's epochs")
    parser.add_argument("--max-points", type=int, default=None, help="only the first N test points")
    return parser.parse_args(argv)


def run_cli(
    main: Callable[[argparse.Namespace], None], argv: Sequence[str] | None, library: str
) -> int:
    """Runs an adapter's ``main`` and turns bad input into a one-line error and exit code 2.

    Args:
        main: The adapter body, given the parsed arguments.
        argv: Command line without the program name.
        library: Library name for the help text.

    Returns:
        The process exit code.
    """
    args = parse_args(argv, library)
    try:
        main(args)
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def load_export(data_dir: Path, epochs: int | None, max_points: int | None) -> Export:
    """Reads and validates a protocol export.

    Args:
        data_dir: The export directory.
        epochs: Epoch count that replaces the spec's, if given.
        max_points: Keep only this many test points (in file order), if given.

    Returns:
        The validated export.

    Raises:
        ExportError: A file is missing or malformed.
    """
    if not data_dir.is_dir():
        raise ExportError(f"--data {data_dir} is not a directory")
    spec = load_spec(data_dir / "spec.json", epochs)
    train = load_train(data_dir / "train.parquet")
    points = load_points(data_dir / "test.parquet")
    if max_points is not None:
        if max_points < 1:
            raise ExportError("--max-points must be at least 1")
        points = points.iloc[:max_points].reset_index(drop=True)
    return Export(spec=spec, train=train, points=points)


def load_spec(path: Path, epochs: int | None = None) -> Spec:
    """Reads ``spec.json``, checking that every field is present and of the right type.

    Args:
        path: Path of ``spec.json``.
        epochs: Epoch count that replaces the file's, if given.

    Returns:
        The spec.

    Raises:
        ExportError: The file is missing, not JSON, or has a missing or mistyped field.
    """
    if not path.is_file():
        raise ExportError(f"missing {path}")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ExportError(f"{path} is not valid JSON: {err}") from err
    for key, types in SPEC_TYPES.items():
        if key not in raw:
            raise ExportError(f"{path} lacks the field {key!r}")
        # bool is an int subclass; only exclude_seen may be one.
        value = raw[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ExportError(f"{path}: {key!r} should be {types[0].__name__}, got {value!r}")
    fields = {key: raw[key] for key in SPEC_TYPES}
    for key, types in OPTIONAL_SPEC_TYPES.items():
        value = raw.get(key)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            kind = types[0].__name__
            raise ExportError(f"{path}: {key!r} should be {kind} or null, got {value!r}")
        fields[key] = value
    fields["threads"] = int(raw.get("threads", 1))
    if epochs is not None:
        fields["epochs"] = epochs
    spec = Spec(**fields)
    positive = ("d_model", "n_blocks", "n_heads", "max_len", "batch_size", "epochs", "k", "threads")
    for key in positive:
        if getattr(spec, key) < 1:
            raise ExportError(f"{key} must be at least 1, got {getattr(spec, key)}")
    if spec.n_negatives is not None and spec.n_negatives < 1:
        raise ExportError(f"n_negatives must be at least 1 or null, got {spec.n_negatives}")
    if spec.d_model % spec.n_heads:
        raise ExportError(f"d_model {spec.d_model} is not divisible by n_heads {spec.n_heads}")
    return spec


def _read_parquet(path: Path, columns: Iterable[str]) -> pd.DataFrame:
    """Reads the named columns of a parquet file, failing clearly when any is absent."""
    if not path.is_file():
        raise ExportError(f"missing {path}")
    names = set(pq.read_schema(path).names)
    missing = [c for c in columns if c not in names]
    if missing:
        raise ExportError(f"{path} lacks the column(s) {missing}")
    return pq.read_table(path, columns=list(columns)).to_pandas()


def load_train(path: Path) -> pd.DataFrame:
    """Reads ``train.parquet`` sorted by (sequence_id, position).

    Args:
        path: Path of ``train.parquet``.

    Returns:
        Frame with the four training columns; ``item_id`` as str.

    Raises:
        ExportError: The file is missing, lacks columns, is empty or has null items.
    """
    train = _read_parquet(path, TRAIN_COLUMNS)
    if train.empty:
        raise ExportError(f"{path} has no rows")
    if train["item_id"].isna().any():
        raise ExportError(f"{path} has null item_id values")
    train["item_id"] = train["item_id"].astype(str)
    return train.sort_values(["sequence_id", "position"], kind="stable").reset_index(drop=True)


def load_points(path: Path) -> pd.DataFrame:
    """Reads ``test.parquet``; histories become lists of str, targets str or None.

    Args:
        path: Path of ``test.parquet`` (or ``validation.parquet``).

    Returns:
        Frame with ``point_id``, ``history`` and ``target``.

    Raises:
        ExportError: The file is missing, lacks columns, is empty or repeats a point_id.
    """
    points = _read_parquet(path, POINT_COLUMNS)
    if points.empty:
        raise ExportError(f"{path} has no rows")
    if points["point_id"].duplicated().any():
        raise ExportError(f"{path} repeats point_id values")
    points["history"] = [[] if h is None else [str(i) for i in h] for h in points["history"]]
    return points.reset_index(drop=True)


def configure_torch(threads: int, seed: int) -> None:
    """Fixes torch's thread count and seeds Python, NumPy and torch.

    Args:
        threads: Intra-op thread count.
        seed: Seed for every generator.
    """
    # Set before torch creates its thread pools; OpenMP reads the variable once.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    import random

    import numpy as np
    import torch

    torch.set_num_threads(threads)
    # Fails once an earlier parallel call fixed the pool; intra-op threads are what count.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def popular_items(train: pd.DataFrame) -> list[str]:
    """Training items from most to least frequent, ties broken by item id for determinism."""
    counts = train["item_id"].value_counts()
    frame = pd.DataFrame({"item": counts.index.astype(str), "n": counts.to_numpy()})
    return frame.sort_values(["n", "item"], ascending=[False, True])["item"].tolist()


def complete_list(
    ranked: Sequence[str],
    history: Sequence[str],
    popular: Sequence[str],
    k: int,
    exclude_seen: bool,
) -> list[str]:
    """Trims a ranked list to k items, topping it up from the popularity order if short.

    Args:
        ranked: The model's list, best first.
        history: The point's history (for the seen-item filter).
        popular: Training items by popularity.
        k: Target length.
        exclude_seen: Whether history items are banned.

    Returns:
        Up to k distinct items; fewer only when the catalogue runs out.
    """
    banned = set(history) if exclude_seen else set()
    out: list[str] = []
    chosen: set[str] = set()
    for item in (*ranked, *popular):
        if len(out) == k:
            break
        if item in banned or item in chosen:
            continue
        out.append(item)
        chosen.add(item)
    return out


def split_known(
    points: pd.DataFrame, known: set[str]
) -> tuple[dict[int, list[str]], int, list[int]]:
    """Drops history items the model does not know.

    Args:
        points: Test points.
        known: The model's item vocabulary.

    Returns:
        (known history per point_id for points with at least one known item, number of
        dropped history events, point_ids whose history is empty after dropping).
    """
    kept: dict[int, list[str]] = {}
    dropped = 0
    empty: list[int] = []
    for point_id, history in zip(points["point_id"], points["history"]):
        known_history = [item for item in history if item in known]
        dropped += len(history) - len(known_history)
        if known_history:
            kept[int(point_id)] = known_history
        else:
            empty.append(int(point_id))
    return kept, dropped, empty


def write_outputs(
    out_dir: Path,
    points: pd.DataFrame,
    ranked: dict[int, list[str]],
    popular: Sequence[str],
    spec: Spec,
    report: FitReport,
) -> None:
    """Writes ``recs.parquet`` (k items per point, in the points' order) and ``fit.json``.

    Args:
        out_dir: Output directory (created if needed).
        points: Test points.
        ranked: The model's ranked list per point_id (points without one get popularity).
        popular: Training items by popularity.
        spec: The settings (k and exclude_seen).
        report: Fit statistics; ``short_lists``, ``n_points`` and ``peak_rss_mb`` are set here.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    lists = [
        complete_list(ranked.get(int(pid), []), hist, popular, spec.k, spec.exclude_seen)
        for pid, hist in zip(points["point_id"], points["history"])
    ]
    report.short_lists = sum(len(items) < spec.k for items in lists)
    report.n_points = len(lists)
    table = pa.table(
        {
            "point_id": pa.array(points["point_id"].to_numpy(), type=pa.int64()),
            "items": pa.array(lists, type=pa.list_(pa.string())),
        }
    )
    pq.write_table(table, out_dir / "recs.parquet")
    report.peak_rss_mb = peak_rss_mb()
    (out_dir / "fit.json").write_text(json.dumps(asdict(report), indent=2) + "\n")


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB: ``VmHWM``, not ``ru_maxrss``.

    Linux carries ``ru_maxrss`` across ``execve``, so an adapter started by a large parent
    would report the parent's peak; ``VmHWM`` belongs to this address space alone. (The same
    function as ``benchmarks/memory.py``, which this venv does not import.)
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def quiet_libraries() -> None:
    """Keeps stderr to real problems: Lightning's banners and known-harmless library warnings.

    Call it after the libraries are imported, since Lightning sets its loggers' levels on import.
    """
    import logging
    import warnings

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for module in ("rectools", "replay", "pydantic", "pytorch_lightning", "lightning", "torch"):
        warnings.filterwarnings("ignore", category=UserWarning, module=module)
        warnings.filterwarnings("ignore", category=FutureWarning, module=module)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=module)
    # Raised at the adapter's call site: only the train split is used on purpose.
    warnings.filterwarnings("ignore", message="The following dataset paths aren't provided")


def make_epoch_logger(callback_base: type, library: str, total_epochs: int) -> Any:
    """Builds a Lightning callback that prints one line and records the wall time per epoch.

    RecTools uses ``pytorch_lightning`` and RePlay ``lightning``; a callback must subclass the
    Callback class of the trainer's own package, so the base class is a parameter.

    Args:
        callback_base: ``pytorch_lightning.Callback`` or ``lightning.pytorch.Callback``.
        library: Prefix for the progress line.
        total_epochs: Epoch count for the progress line.

    Returns:
        A callback instance with an ``epoch_seconds`` list.
    """

    class EpochLogger(callback_base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.epoch_seconds: list[float] = []
            self._start = 0.0

        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            self._start = time.perf_counter()

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            seconds = time.perf_counter() - self._start
            self.epoch_seconds.append(seconds)
            loss = trainer.callback_metrics.get("train_loss_epoch")
            if loss is None:
                loss = trainer.callback_metrics.get("train_loss")
            loss_text = "" if loss is None else f" loss {float(loss):.4f}"
            print(
                f"[{library}] epoch {len(self.epoch_seconds)}/{total_epochs}"
                f" {seconds:.1f}s{loss_text}",
                flush=True,
            )

    return EpochLogger()


def finite(value: float) -> float:
    """Rounds a float for JSON, mapping NaN/inf to 0 so that fit.json stays valid JSON."""
    return round(value, 4) if math.isfinite(value) else 0.0
