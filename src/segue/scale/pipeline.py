"""Out-of-core data preparation: files -> sessions -> split -> vocabulary -> window shards.

The twin of :func:`segue.prepare_data` for logs larger than memory. Each stage is SQL on an
engine that spills to disk (DuckDB by default, Spark for a cluster), with the same options, the
same results (tested equal on small logs: every column, every report count) and the same
``Report`` accounting. What it writes, in ``out_dir``:

* ``manifest.json``: options, shard list, catalogue size and every stage's report;
* ``vocab.parquet``: the vocabulary (:func:`segue.scale.load_vocab` makes a ``TrackVocab``);
* ``events.parquet``: every kept event with session, fold and prediction-point flag, in user
  and time order (what evaluation reads);
* ``shards/``: the training windows (:mod:`segue.scale.windows`), read by
  :class:`segue.scale.ShardedWindows`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from segue.checks import check_choice, check_integer
from segue.columns import Columns
from segue.data.errors import DataError
from segue.data.pipeline import SessionOptions
from segue.data.report import Report
from segue.data.sequences import SideInputs
from segue.data.sessions import SkipRule, check_session_settings
from segue.data.splits import check_split_options
from segue.data.vocab import TrackVocab
from segue.io.atomic_write import atomic_write_text, set_tree_modes
from segue.scale.dataset import FORMAT, MANIFEST, VERSION, ShardedWindows
from segue.scale.engine import DuckDBEngine, SqlEngine
from segue.scale.sessions import sessionise
from segue.scale.source import file_format, load_events
from segue.scale.splits import IS_POINT, SQL_SPLITS, run_split
from segue.scale.vocab import build_vocab_sql, load_vocab
from segue.scale.windows import write_shards


@dataclass
class ShardedData:
    """What :func:`prepare_out_of_core` wrote.

    Args:
        directory: The output folder.
        n_tracks: Vocabulary size.
        n_windows: Training windows over all shards.
        n_rows: Train-fold rows in the shards.
        reports: Every stage's report, oldest first.
    """

    directory: Path
    n_tracks: int
    n_windows: int
    n_rows: int
    reports: list[Report] = field(default_factory=list)

    def windows(self, side: SideInputs | None = None) -> ShardedWindows:
        """The training windows, streamed from the shards."""
        return ShardedWindows(self.directory, side)

    def vocab(self) -> TrackVocab:
        """The vocabulary as a :class:`TrackVocab` (holds every id in memory)."""
        return load_vocab(self.directory / "vocab.parquet")

    def summary(self) -> str:
        return "\n".join(str(r) for r in self.reports)


def _check_options(
    split: str,
    split_options: dict[str, Any] | None,
    sessions: SessionOptions,
    *,
    train_by: str,
    max_len: int,
    causal: bool,
    shard_rows: int,
    min_count: int,
) -> None:
    """Every setting checked as :func:`segue.prepare_data` checks it, before any file is read."""
    check_choice("split", split, sorted(SQL_SPLITS))
    check_split_options(split, split_options)
    check_integer("min_count", min_count, minimum=1)
    check_integer("max_len", max_len, minimum=1 if causal else 2)
    check_choice("train_by", train_by, ["user", "session"])
    check_integer("shard_rows", shard_rows, minimum=1)
    if not isinstance(sessions, SessionOptions):
        raise TypeError(f"sessions must be SessionOptions, got {type(sessions).__name__}")
    rule = SkipRule(sessions.skip_min_ms, sessions.skip_min_fraction)
    check_session_settings(sessions.gap, rule, sessions.max_length, sessions.min_length)


def _events_select(engine: SqlEngine, columns: list[str]) -> str:
    """The split events in the pandas path's columns and order."""
    event_columns = [c for c in columns if c != Columns.USER and c != Columns.TRACK]
    out = [Columns.USER, Columns.TRACK, f"{engine.from_micros('ts_us')} AS {Columns.TIMESTAMP}"]
    out += event_columns
    out += ["is_skip", Columns.SESSION, Columns.POSITION, "fold", IS_POINT]
    return f"SELECT {', '.join(out)} FROM split ORDER BY ord"


def prepare_out_of_core(
    files: Sequence[str | Path],
    out_dir: str | Path,
    *,
    sessions: SessionOptions | None = None,
    split: str = "global_temporal",
    split_options: dict[str, Any] | None = None,
    min_count: int = 1,
    max_len: int = 200,
    train_by: str = "user",
    causal: bool = True,
    shard_rows: int = 2_000_000,
    engine: SqlEngine | None = None,
    memory_limit: str = "4GB",
    write_events: bool = True,
) -> ShardedData:
    """Prepare canonical event files of any size for training, as :func:`segue.prepare_data`.

    Args:
        files: Parquet, CSV or TSV files (one format) with segue's canonical column names.
        out_dir: Output folder (replaced if it holds an earlier preparation).
        sessions: Sessionisation options (defaults: 30 min gap, skips below 30 s kept).
        split: "global_temporal" (default: the protocol for a service's log), "held_out_sessions"
            or "leave_last_out".
        split_options: Keyword arguments of the split, as for the pandas split.
        min_count: Tracks played fewer times in train are left out of the vocabulary (counted).
        max_len: Length of model inputs.
        train_by: "user" or "session" windows.
        causal: Windows for the causal objective (else for the masked one).
        shard_rows: Train rows per shard (a shard ends at the first group start after this).
        engine: Where the SQL runs; None: DuckDB with ``memory_limit``, its database and spill
            files in a temporary folder next to ``out_dir``.
        memory_limit: DuckDB's memory limit when ``engine`` is None.
        write_events: Write ``events.parquet`` (needed to evaluate; off saves time and disk).

    Returns:
        The folder's description, with every stage's report.
    """
    paths = [Path(f) for f in files]
    file_format(paths)  # a bad suffix fails before anything is read
    options = sessions if sessions is not None else SessionOptions()
    _check_options(
        split,
        split_options,
        options,
        train_by=train_by,
        max_len=max_len,
        causal=causal,
        shard_rows=shard_rows,
        min_count=min_count,
    )
    out = Path(out_dir)
    if (out / MANIFEST).exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    own_engine = engine is None
    scratch = Path(tempfile.mkdtemp(prefix=".segue-scale-", dir=out.parent))
    engine = engine or DuckDBEngine(scratch / "prep.duckdb", memory_limit=memory_limit)
    try:
        extra = [options.source_session_column] if options.source_session_column else []
        columns, rows_in = load_events(engine, paths, extra)
        read = Report("read canonical files", rows_in=rows_in, rows_kept=rows_in)
        read.sources = [str(p) for p in paths]
        reports = [read.check()]
        reports.append(sessionise(engine, columns, options, rows_in))
        engine.drop("events")
        reports.append(run_split(engine, split, reports[-1].rows_kept, split_options or {}))
        vocab_report, filter_report, n_tracks = build_vocab_sql(engine, min_count)
        reports += [vocab_report, filter_report]
        n_artists = int(engine.rows("SELECT COALESCE(MAX(artist_index), 0) FROM vocab")[0][0])
        if n_tracks == 0:
            most = engine.rows(
                f"SELECT COUNT(*) AS n FROM split WHERE fold = 'train' GROUP BY {Columns.TRACK} "
                "ORDER BY n DESC LIMIT 1"
            )
            raise DataError(
                f"min_count={min_count} leaves no track in the vocabulary: the most played track "
                f"of the training fold has {int(most[0][0]) if most else 0} plays"
            )
        engine.write_parquet("SELECT * FROM vocab ORDER BY idx", out / "vocab.parquet")
        if write_events:
            engine.write_parquet(_events_select(engine, columns), out / "events.parquet")
        shards = write_shards(
            engine, out, by=train_by, max_len=max_len, causal=causal, shard_rows=shard_rows
        )
    finally:
        if own_engine:
            engine.close()
        shutil.rmtree(scratch, ignore_errors=True)
    data = ShardedData(
        out,
        n_tracks=n_tracks,
        n_windows=sum(s.windows for s in shards),
        n_rows=sum(s.rows for s in shards),
        reports=reports,
    )
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "max_len": max_len,
        "causal": causal,
        "train_by": train_by,
        "n_tracks": n_tracks,
        "n_artists": n_artists,
        "split": split,
        "split_options": split_options or {},
        "sessions": asdict(options),
        "min_count": min_count,
        "shards": [asdict(s) for s in shards],
        "reports": [r.to_dict() for r in reports],
    }
    set_tree_modes(out)  # shards and parquet files were written under the process umask
    # The manifest last, atomically: a folder without one is an unfinished preparation.
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1, default=str))
    return data
