"""Canonical JSON (sorted keys, no spaces, UTF-8 as is) written in pieces, for hashing.

A checkpoint's content digest covers its plain values as one canonical JSON text. At 100k
tracks that text is ~2 MB (the vocabulary's lists), and ``json.dumps`` writes it in one C
call that holds the GIL for ~20 ms: in a server building a reloaded model beside the requests
it serves, every request waits that long. Written in pieces of at most :data:`ROWS` list items,
the same text comes out (a hash of the pieces is the hash of the whole) while the interpreter
can switch threads between pieces.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from typing import Any

ROWS = 4096
"""List items written by one ``json.dumps`` call (well under a millisecond of GIL)."""

dumps = partial(json.dumps, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
"""The canonical form, in one call."""


def canonical_pieces(value: Any, rows: int = ROWS) -> Iterator[str]:
    """Pieces whose concatenation is ``dumps(value)``: dicts with string keys are opened key
    by key, lists and tuples longer than ``rows`` are written ``rows`` items at a time, and
    anything else (a dict with other keys, whose order ``json`` decides) in one call.

    Raises:
        TypeError: If ``value`` holds what JSON cannot encode (as ``json.dumps`` does).
    """
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        yield "{"
        for i, key in enumerate(sorted(value)):
            yield ("," if i else "") + dumps(key) + ":"
            yield from canonical_pieces(value[key], rows)
        yield "}"
    elif isinstance(value, (list, tuple)) and len(value) > rows:
        yield "["
        for start in range(0, len(value), rows):
            text = dumps(list(value[start : start + rows]))
            yield ("," if start else "") + text[1:-1]
        yield "]"
    else:
        yield dumps(value)
