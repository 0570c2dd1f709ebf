"""Load canonical event files into an engine and check them before any long work starts.

The out-of-core path reads files that already hold segue's canonical columns (what
:func:`segue.read_log` produces, written to Parquet, CSV or TSV), not the raw export formats: the
readers' format detection and per-format cleaning stay in pandas, one file at a time. The checks
are :func:`segue.data.readers.canonical.finish`'s, written in SQL from the same column groups,
flag words, limits and messages: required columns present and never empty, timestamps that
parse, durations that are non-negative numbers below ``MAX_COUNT``, flags that read as true or
false; every failure names the file, the column and the first bad row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from segue.columns import Columns
from segue.data.errors import DataError
from segue.data.readers.canonical import (
    COUNT_COLUMNS,
    FALSE_WORDS,
    FLAG_COLUMNS,
    MAX_COUNT,
    STRING_COLUMNS,
    TRUE_WORDS,
    require_columns,
)
from segue.scale.engine import SqlEngine

FORMATS = ("parquet", "csv", "tsv")
_TIME_TYPES = ("TIMESTAMP", "DATE")  # prefixes: TIMESTAMP WITH TIME ZONE, TIMESTAMP_NS...


def file_format(files: Sequence[Path]) -> str:
    """The one format of ``files``, from their suffixes.

    >>> file_format([Path("a.parquet"), Path("b.parquet")])
    'parquet'
    """
    suffixes = {Path(f).suffix.lower().lstrip(".") for f in files}
    if not files:
        raise DataError("no input files given")
    if len(suffixes) > 1 or not suffixes <= set(FORMATS):
        raise DataError(
            f"input files must all be one of {FORMATS}; got suffixes {sorted(suffixes)}"
        )
    return suffixes.pop()


def _timestamp_expr(engine: SqlEngine, source_type: str) -> str:
    """Microseconds since the epoch, UTC; naive timestamps are read as UTC (as the readers do).
    Text that does not parse becomes NULL here and an error in :func:`_check`."""
    column = Columns.TIMESTAMP
    if source_type.upper().startswith(_TIME_TYPES):
        return engine.epoch_micros(f"CAST({column} AS TIMESTAMP)")
    return engine.epoch_micros(f"TRY_CAST(CAST({column} AS STRING) AS TIMESTAMP)")


def _count_expr(column: str) -> str:
    """Rounded milliseconds; NULL for text that is no number and for values past MAX_COUNT
    (which :func:`_check` then names), never an engine error."""
    number = f"TRY_CAST({column} AS DOUBLE)"
    return f"CASE WHEN abs({number}) < {MAX_COUNT} THEN CAST(ROUND({number}) AS BIGINT) END"


def _flag_expr(column: str, source_type: str) -> str:
    if source_type.upper() == "BOOLEAN":
        return column
    text = f"lower(trim(CAST({column} AS STRING)))"
    return (
        f"CASE WHEN {text} IN ({_sql_list(TRUE_WORDS)}) THEN TRUE "
        f"WHEN {text} IN ({_sql_list(FALSE_WORDS)}) THEN FALSE END"
    )


def _sql_list(words: Sequence[str]) -> str:
    """Words as a SQL list of string literals.

    >>> _sql_list(("true", "1"))
    "'true', '1'"
    """
    return ", ".join(f"'{w}'" for w in words)


def load_events(
    engine: SqlEngine, files: Sequence[str | Path], extra_columns: Sequence[str] = ()
) -> tuple[list[str], int]:
    """Load ``files`` as table ``events`` in canonical columns plus ``ts_us`` and ``src_row``.

    Args:
        engine: Where to load them.
        files: Parquet, CSV or TSV files (one format) with canonical column names.
        extra_columns: Other columns to carry (e.g. a source session id).

    Returns:
        The canonical and extra columns present, except ``timestamp`` (kept as ``ts_us``,
        microseconds since the epoch), and the number of rows.

    Raises:
        DataError: A required column is missing, or a value is missing or malformed.
    """
    paths = [Path(f) for f in files]
    kind = file_format(paths)
    names = ", ".join(str(p) for p in paths)
    present = dict(engine.load("raw", paths, kind))
    require_columns(present, (*Columns.REQUIRED, *extra_columns), file=names)
    columns = [c for c in Columns.CANONICAL if c in present and c != Columns.TIMESTAMP]
    columns += list(extra_columns)
    select = [f"{_timestamp_expr(engine, present[Columns.TIMESTAMP])} AS ts_us"]
    for c in columns:
        if c in COUNT_COLUMNS:
            select.append(f"{_count_expr(c)} AS {c}")
        elif c in FLAG_COLUMNS:
            select.append(f"{_flag_expr(c, present[c])} AS {c}")
        elif c in STRING_COLUMNS:
            select.append(f"CAST({c} AS STRING) AS {c}")
        else:
            select.append(c)
    # a view: the casts run again in the next stage, cheaper than another copy of the log
    engine.create("events", f"SELECT {', '.join(select)}, src_row FROM raw", view=True)
    raws = [
        f"CAST({c} AS STRING) AS raw_{c}" for c in (*COUNT_COLUMNS, *FLAG_COLUMNS) if c in present
    ]
    checked = f"SELECT {', '.join([*select, *raws])}, src_row FROM raw"
    n_rows = _check(engine, checked, present, names)
    return columns, n_rows


def _check(engine: SqlEngine, checked: str, present: dict[str, str], files: str) -> int:
    """One scan for every rule: the first bad file row (0-based) of each, and the row count.

    ``checked`` selects the cast columns next to the raw text of the casts that may fail.
    """
    rules: list[tuple[str, str, str]] = []
    for c in Columns.REQUIRED:
        if c == Columns.TIMESTAMP:
            rules.append((c, "ts_us IS NULL", "missing or unparseable timestamp (required)"))
        else:
            rules.append((c, f"{c} IS NULL OR trim({c}) = ''", "missing value (required)"))
    for c in COUNT_COLUMNS:
        if c in present:
            number = f"TRY_CAST(raw_{c} AS DOUBLE)"
            rules.append((c, f"{c} < 0", "negative value; durations are never negative"))
            rules.append((c, f"raw_{c} IS NOT NULL AND {number} IS NULL", "not a number"))
            rules.append((c, f"abs({number}) >= {MAX_COUNT}", "too large"))
    for c in FLAG_COLUMNS:
        if c in present:
            rules.append((c, f"{c} IS NULL AND raw_{c} IS NOT NULL", "not true or false"))
    firsts = ", ".join(f"MIN(CASE WHEN {cond} THEN src_row END)" for _, cond, _ in rules)
    result = engine.rows(f"SELECT COUNT(*), {firsts} FROM ({checked}) AS t")[0]
    if result[0] == 0:
        raise DataError("no rows", file=files)
    for (column, _, message), row in zip(rules, result[1:]):
        if row is not None:
            raise DataError(message, file=files, column=column, row=int(row))
    return int(result[0])
