"""Records of a JSON export: a JSON array of objects, or one object per line (JSON lines)."""

from __future__ import annotations

import json
from typing import Any

from segue.data.errors import DataError
from segue.data.readers.sources import SourceFile
from segue.data.readers.text import read_text


def read_records(file: SourceFile) -> list[dict[str, Any]]:
    """All objects of a JSON array file or a JSON-lines file, in file order.

    Exports that use these (Spotify, ListenBrainz) are small enough to parse in Python.
    """
    text = read_text(file)
    if not text.strip():
        raise DataError("empty file", file=file.name)
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(f"not valid JSON ({error})", file=file.name) from error
    else:
        records = _lines(text, file.name)
    bad = next((i for i, r in enumerate(records) if not isinstance(r, dict)), None)
    if bad is not None:
        raise DataError("expected a JSON object", file=file.name, row=bad)
    return records


def nested_object(
    parent: dict[str, Any], key: str, *, owner: str, file: str, row: int | None
) -> dict[str, Any]:
    """The object ``parent[key]`` of one record, {} when absent.

    Anything but an object there is a damaged export: said so (``owner`` names the record,
    as "listen's"), not read as an empty object, whose missing fields would pass silently.
    """
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        kind = type(value).__name__
        raise DataError(f"{owner} {key!r} must be a JSON object, got a {kind}", file=file, row=row)
    return value


def _lines(text: str, name: str) -> list[Any]:
    records = []
    for row, line in enumerate(line for line in text.splitlines() if line.strip()):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise DataError(f"not valid JSON ({error})", file=name, row=row) from error
        except RecursionError:  # json recurses per level: a damaged or hostile line
            raise DataError("JSON nested too deeply", file=name, row=row) from None
    return records


def read_json(file: SourceFile) -> Any:
    """A whole JSON document (an object or an array), e.g. pages of a web API's answers."""
    text = read_text(file)
    if not text.strip():
        raise DataError("empty file", file=file.name)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"not valid JSON ({error})", file=file.name) from error
