"""What parsers raise on bad bytes, turned into a :class:`DataError` naming the file.

Both places that open a file's bytes go through :func:`named_errors`: format detection (the
first 64 KiB, a .zip member's CRC, the first JSON record) and the read itself. A parser's own
exception (pyarrow, pandas, json, zip, zlib, a decoder) never reaches the caller bare.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

from segue.data.errors import DataError

PARSER_ERRORS = (
    ValueError,  # pandas / numpy conversions (DataError is one too, and passes unchanged)
    ArithmeticError,  # overflow in unit arithmetic
    LookupError,  # a missing key in a malformed JSON shape; a codec lookup
    TypeError,  # a JSON value of the wrong type where a reader indexes it
    RecursionError,  # JSON nested deeper than Python's stack (json recurses per level)
    zlib.error,  # a damaged deflate stream inside a .zip
    pa.ArrowException,
    json.JSONDecodeError,
    zipfile.BadZipFile,
    EOFError,
    OSError,
)


@contextmanager
def named_errors(file: str, doing: str) -> Iterator[None]:
    """Re-raise a parser's exception as a DataError naming ``file`` and what was being done.

    >>> with named_errors("x.json", "cannot read as spotify_account"):
    ...     raise RecursionError("maximum recursion depth exceeded")
    Traceback (most recent call last):
    ...
    segue.data.errors.DataError: x.json: cannot read as spotify_account (JSON nested too deeply)
    """
    try:
        yield
    except DataError:
        raise
    except PARSER_ERRORS as error:
        if isinstance(error, RecursionError):
            detail = "JSON nested too deeply"
        elif isinstance(error, zlib.error):
            detail = f"damaged compressed data: {error}"
        else:
            detail = f"{type(error).__name__}: {error}"
        raise DataError(f"{doing} ({detail})", file=file) from error
