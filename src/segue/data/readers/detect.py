"""Which format a file is in: by name for files that are never listening logs, else by content."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from segue.data.errors import DataError
from segue.data.readers.formats import FORMATS
from segue.data.readers.head import Head
from segue.data.readers.sources import SourceFile

# Files that look like a log but are not one to read: Spotify video history (same fields as
# audio), and the MovieLens-100K train/test splits (subsets of u.data, read twice otherwise).
_NOT_LISTENING = re.compile(r"^(streaming_history_video_.*\.json|u[a-z]?\d*\.(base|test))$", re.I)


def detect(file: SourceFile) -> str | None:
    """The name of the first format in :data:`FORMATS` whose sniffer accepts the file, or None."""
    if _NOT_LISTENING.match(file.basename):
        return None
    head = Head.of(file)
    return next((name for name, fmt in FORMATS.items() if fmt.sniff(head)), None)


def choose(
    files: Sequence[SourceFile], format: str | None, columns: Mapping[str, str] | None
) -> tuple[list[tuple[SourceFile, str]], list[SourceFile]]:
    """Pair each file with its format; a file found in a folder that fits none is skipped.

    A file named directly is always read: with ``format=`` as that format, else as detected
    (an unknown one is an error). ``columns=`` without ``format=`` means a generic table chosen
    by file ending.

    Returns:
        (file, format name) pairs to read, and the files skipped.
    """
    if format is not None and format not in FORMATS:
        raise DataError(f"unknown format {format!r}; formats: {', '.join(FORMATS)}")
    chosen, skipped = [], []
    for file in files:
        name = _format_of(file, format, columns)
        if name is None and file.listed:
            raise DataError(
                f"cannot tell the format of this file; formats: {', '.join(FORMATS)}. "
                "Pass format=..., and columns={canonical: source} for csv / tsv / parquet",
                file=file.name,
            )
        if name is None:
            skipped.append(file)
        else:
            chosen.append((file, name))
    return chosen, skipped


def _format_of(
    file: SourceFile, format: str | None, columns: Mapping[str, str] | None
) -> str | None:
    if format is not None and file.listed:
        return format
    if format is None and columns is not None:
        return _by_ending(file)
    found = detect(file)
    if format is None or found == format:
        return found
    fmt = FORMATS[format]
    specific = found is not None and not FORMATS[found].generic
    return format if fmt.generic and file.suffix in fmt.extensions and not specific else None


def _by_ending(file: SourceFile) -> str | None:
    return next((f.name for f in FORMATS.values() if file.suffix in f.extensions), None)
