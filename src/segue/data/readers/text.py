"""Text files in whatever encoding an export tool wrote, handed on as UTF-8.

Exports are mostly UTF-8, but Windows tools write UTF-16 (with a byte-order mark) and older
scripts Latin-1 / cp1252. The encoding is told from the byte-order mark, else UTF-8 when the
file's first 64 KiB decode as UTF-8, else cp1252 (Latin-1 for the five bytes cp1252 leaves
undefined). A file that is not UTF-8 is decoded once and handed on as UTF-8 bytes, so every
parser (pyarrow's CSV reader only reads UTF-8) sees one encoding.
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path

from segue.data.errors import DataError
from segue.data.readers.sources import SourceFile

UTF8 = "utf-8"
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def encoding_of(head: bytes) -> str:
    """The encoding of a file from its first bytes: a BOM's, else UTF-8 if they decode, else cp1252.

    >>> encoding_of(b"\\xff\\xfea\\x00"), encoding_of("Sigur Rós".encode()), encoding_of(b"R\\xf3s")
    ('utf-16', 'utf-8', 'cp1252')
    """
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    try:
        head.decode(UTF8)
    except UnicodeDecodeError as error:
        # A multi-byte character cut at the end of the head is still UTF-8.
        if error.reason != "unexpected end of data":
            return "cp1252"
    return UTF8


def decode(data: bytes, *, file: str, encoding: str | None = None) -> str:
    """The text of a file's bytes, in ``encoding`` (or the one :func:`encoding_of` finds).

    Raises:
        DataError: The bytes are not valid in that encoding; names the file, the encoding and
            the byte offset.
    """
    encoding = encoding or encoding_of(data[:65536])
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        if encoding == "cp1252":
            return data.decode("latin-1")  # cp1252 leaves 5 bytes undefined; Latin-1 takes all
        raise DataError(
            f"cannot decode as {encoding} (byte {error.start}: {error.reason}); "
            "save the file as UTF-8",
            file=file,
        ) from error


def utf8_source(file: SourceFile) -> tuple[Path | io.BytesIO, str]:
    """The file as UTF-8 for parsers (the path itself when it already is) and its encoding."""
    encoding = encoding_of(file.head())
    source = file.readable()
    if encoding in (UTF8, "utf-8-sig"):
        return source, encoding
    data = source.getvalue() if isinstance(source, io.BytesIO) else source.read_bytes()
    return io.BytesIO(decode(data, file=file.name, encoding=encoding).encode(UTF8)), encoding


def read_bytes(file: SourceFile) -> bytes:
    """A whole file's bytes, whether it lies on disk or inside a ``.zip``."""
    source = file.readable()
    return source.getvalue() if isinstance(source, io.BytesIO) else source.read_bytes()


def read_text(file: SourceFile) -> str:
    """A whole file's text, decoded as :func:`encoding_of` tells."""
    return decode(read_bytes(file), file=file.name)


def first_line(source: Path | io.BytesIO) -> str:
    """The first line of a UTF-8 source (a BOM removed); the source is left at its start."""
    if isinstance(source, io.BytesIO):
        line = source.readline().decode("utf-8-sig", errors="replace")
        source.seek(0)
        return line
    with open(source, encoding="utf-8-sig", errors="replace") as handle:
        return handle.readline()
