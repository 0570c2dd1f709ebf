"""The SQL engines the out-of-core preparation runs on: DuckDB on one machine, Spark beyond.

Every stage of :mod:`segue.scale` is a plain ``SELECT`` in the dialect both engines share
(window functions with explicit ``ROWS`` frames, ``min_by``, ``CASE``, integer timestamps), so
the same text runs on either. What differs is kept here: how a source is loaded (with its file
order as ``src_row``), how a stage's result is kept (a DuckDB table on disk, which spills past
``memory_limit``; a checkpointed Spark view), and how rows come back to Python.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from segue.data.errors import DataError


class SqlEngine(Protocol):
    """What the preparation needs from an engine."""

    name: str

    def load(self, name: str, files: Sequence[Path], file_format: str) -> list[tuple[str, str]]:
        """Load files as table ``name`` with a ``src_row`` column in file order; return the
        source columns as (name, type) pairs."""
        ...

    def create(self, name: str, select: str, view: bool = False) -> None:
        """Keep the result of ``select`` as table ``name`` (replacing one of that name); with
        ``view``, only name the query (for a stage read once, by the next one)."""
        ...

    def rows(self, select: str) -> list[tuple[Any, ...]]:
        """All rows of a (small) result."""
        ...

    def batches(self, select: str, batch_rows: int) -> Iterator[pa.Table]:
        """The result in order, as Arrow tables of at most ``batch_rows`` rows."""
        ...

    def write_parquet(self, select: str, path: Path) -> None:
        """Write the result of ``select`` to Parquet at ``path``, in order."""
        ...

    def drop(self, name: str) -> None:
        """Forget table ``name``."""
        ...

    def columns(self, table: str) -> list[str]:
        """Column names of table ``table``."""
        ...

    def close(self) -> None:
        """Release what the engine holds."""
        ...

    def epoch_micros(self, timestamp: str) -> str:
        """SQL for the microseconds since the epoch of a TIMESTAMP expression."""
        ...

    def from_micros(self, micros: str) -> str:
        """SQL for the UTC timestamp of an integer number of microseconds since the epoch."""
        ...


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _file_list(files: Sequence[Path]) -> str:
    for f in files:
        if not Path(f).exists():
            raise DataError("no such file", file=str(f))
    return "[" + ", ".join(f"'{_quoted(f)}'" for f in files) + "]"


@dataclass
class DuckDBEngine:
    """DuckDB with a memory limit and a spill folder next to ``database``.

    Tables live in memory up to ``memory_limit`` and are evicted to the spill folder beyond it
    (measured 4x faster than a database file, which compresses every table it writes).

    Args:
        database: Names the spill folder (``<database>.spill``); with ``persistent``, the
            database file itself (removed by :meth:`close` unless ``keep``).
        memory_limit: DuckDB's ``memory_limit`` (e.g. "6GB"); beyond it operators spill.
        threads: Worker threads; None lets DuckDB choose (all cores).
        keep: Keep the database file on :meth:`close` (to inspect intermediate tables).
        persistent: Keep tables in the database file instead of in memory.
    """

    database: Path
    memory_limit: str = "4GB"
    threads: int | None = None
    keep: bool = False
    persistent: bool = False
    name: str = "duckdb"

    def __post_init__(self) -> None:
        import duckdb

        self.database = Path(self.database)
        self.database.parent.mkdir(parents=True, exist_ok=True)
        spill = self.database.parent / (self.database.name + ".spill")
        self.con = duckdb.connect(str(self.database) if self.persistent else ":memory:")
        self.con.execute(f"SET memory_limit = '{self.memory_limit}'")
        self.con.execute(f"SET temp_directory = '{spill}'")
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET enable_progress_bar = false")
        if self.threads:
            self.con.execute(f"SET threads = {int(self.threads)}")

    def load(self, name: str, files: Sequence[Path], file_format: str) -> list[tuple[str, str]]:
        listing = _file_list(files)
        if file_format == "parquet":
            scan = f"read_parquet({listing}, union_by_name = true)"
        else:
            delim = "\\t" if file_format == "tsv" else ","
            scan = f"read_csv({listing}, header = true, delim = '{delim}', union_by_name = true)"
        columns = [
            (str(r[0]), str(r[1]))
            for r in self.con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()
        ]
        if file_format == "parquet":
            # Parquet files say where each row is: no copy of the log is needed
            which = " ".join(f"WHEN '{_quoted(f)}' THEN {i}" for i, f in enumerate(files))
            scan = scan[:-1] + ", filename = true, file_row_number = true)"
            self.con.execute(
                f"CREATE OR REPLACE VIEW {name} AS SELECT * EXCLUDE (filename, file_row_number), "
                f"(CASE filename {which} END) * {2**40} + file_row_number AS src_row FROM {scan}"
            )
            return columns
        # insertion order is preserved, so rowid is the row's place in the files
        self.con.execute(f"CREATE OR REPLACE TABLE {name}_scan AS SELECT * FROM {scan}")
        self.con.execute(
            f"CREATE OR REPLACE VIEW {name} AS SELECT *, rowid AS src_row FROM {name}_scan"
        )
        return columns

    def create(self, name: str, select: str, view: bool = False) -> None:
        kind = "VIEW" if view else "TABLE"
        self.con.execute(f"CREATE OR REPLACE {kind} {name} AS {select}")

    def rows(self, select: str) -> list[tuple[Any, ...]]:
        return self.con.execute(select).fetchall()

    def batches(self, select: str, batch_rows: int) -> Iterator[pa.Table]:
        reader = self.con.sql(select).to_arrow_reader(batch_rows)
        for batch in reader:
            yield pa.Table.from_batches([batch])

    def write_parquet(self, select: str, path: Path) -> None:
        target = str(path).replace("'", "''")
        self.con.execute(f"COPY ({select}) TO '{target}' (FORMAT parquet)")

    def drop(self, name: str) -> None:
        kind = self.con.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchall()
        if kind:
            self.con.execute(f"DROP {'VIEW' if kind[0][0] == 'VIEW' else 'TABLE'} {name}")

    def columns(self, table: str) -> list[str]:
        return [str(d[0]) for d in self.con.execute(f"SELECT * FROM {table} LIMIT 0").description]

    def epoch_micros(self, timestamp: str) -> str:
        return f"epoch_us({timestamp})"

    def from_micros(self, micros: str) -> str:
        return f"CAST(make_timestamp({micros}) AS TIMESTAMPTZ)"

    def close(self) -> None:
        self.con.close()
        if self.persistent and not self.keep:
            for path in (self.database, Path(str(self.database) + ".wal")):
                path.unlink(missing_ok=True)


@dataclass
class SparkEngine:
    """A Spark session (``local[*]`` unless one is given) running the same SQL.

    Stages are kept as locally checkpointed views, so a stage is computed once and a later
    stage reads its result instead of re-running its plan. Results come back to the driver in
    order through ``toLocalIterator`` (one partition at a time).

    Args:
        session: An existing ``SparkSession``; None starts a local one.
        master: Master URL for a new session.
    """

    session: Any = None
    master: str = "local[2]"
    name: str = "spark"

    def __post_init__(self) -> None:
        if self.session is None:
            from pyspark.sql import SparkSession

            os.environ.setdefault("PYSPARK_PYTHON", "python")
            self.session = (
                SparkSession.builder.master(self.master)
                .appName("segue-scale")
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.sql.shuffle.partitions", "4")
                .config("spark.ui.enabled", "false")
                .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
                .getOrCreate()
            )
        self.session.conf.set("spark.sql.session.timeZone", "UTC")
        self.session.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")

    def load(self, name: str, files: Sequence[Path], file_format: str) -> list[tuple[str, str]]:
        from pyspark.sql import functions as F

        _file_list(files)
        paths = [str(f) for f in files]
        reader = self.session.read
        if file_format == "parquet":
            frame = reader.parquet(*paths)
        else:
            sep = "\t" if file_format == "tsv" else ","
            frame = reader.csv(paths, header=True, sep=sep, inferSchema=True)
        # increasing in file order (partitions follow the files); checkpointed so it is fixed
        frame = frame.withColumn("src_row", F.monotonically_increasing_id()).localCheckpoint()
        frame.createOrReplaceTempView(name)
        return [
            (f.name, f.dataType.simpleString().upper())
            for f in frame.schema.fields
            if f.name != "src_row"
        ]

    def create(self, name: str, select: str, view: bool = False) -> None:
        frame = self.session.sql(select)
        (frame if view else frame.localCheckpoint()).createOrReplaceTempView(name)

    def rows(self, select: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.session.sql(select).collect()]

    def batches(self, select: str, batch_rows: int) -> Iterator[pa.Table]:
        frame = self.session.sql(select)
        names = frame.columns
        chunk: list[tuple[Any, ...]] = []
        for row in frame.toLocalIterator():
            chunk.append(tuple(row))
            if len(chunk) == batch_rows:
                yield pa.Table.from_pylist([dict(zip(names, r)) for r in chunk])
                chunk = []
        if chunk:
            yield pa.Table.from_pylist([dict(zip(names, r)) for r in chunk])

    def write_parquet(self, select: str, path: Path) -> None:
        """Written by the executors: ``path`` is a folder of part files, in order (Spark range
        partitions a sorted result), which pandas and pyarrow read as one table."""
        self.session.sql(select).write.mode("overwrite").parquet(str(path))

    def drop(self, name: str) -> None:
        self.session.catalog.dropTempView(name)

    def columns(self, table: str) -> list[str]:
        return list(self.session.table(table).columns)

    def epoch_micros(self, timestamp: str) -> str:
        return f"unix_micros({timestamp})"

    def from_micros(self, micros: str) -> str:
        return f"timestamp_micros({micros})"

    def close(self) -> None:
        """The session is left running: starting Spark costs seconds, callers may reuse it."""
