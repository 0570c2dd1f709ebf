"""API keys: read once from a file or the environment, compared in constant time.

Writes (listener events, deletes, reloads) always need a key; reads need one when the server
runs with ``read_auth="key"``. A server started without any key refuses every write (403)
rather than accepting them from anyone. Keys travel in ``Authorization: Bearer <key>`` or
``X-API-Key``; they are never logged.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from segue.serve.settings import API_KEY_ENV

MIN_KEY_CHARS = 16


def load_keys(key_file: str | None) -> list[bytes]:
    """The accepted keys: non-empty lines of ``key_file``, else :data:`API_KEY_ENV`, else none.

    Raises:
        ValueError: If a key is shorter than :data:`MIN_KEY_CHARS` (guessable).
        FileNotFoundError: If ``key_file`` does not exist.
    """
    if key_file is not None:
        text = Path(key_file).read_text(encoding="utf-8")
        source = f"key file {key_file}"
    else:
        text = os.environ.get(API_KEY_ENV, "")
        source = f"${API_KEY_ENV}"
    keys = [line.strip() for line in text.splitlines() if line.strip()]
    for number, key in enumerate(keys, start=1):
        if len(key) < MIN_KEY_CHARS:
            raise ValueError(
                f"API key {number} of {source} has {len(key)} characters; use at least "
                f"{MIN_KEY_CHARS} (e.g. `python -c 'import secrets; print(secrets.token_hex())'`)"
            )
    return [key.encode() for key in keys]


def presented_key(authorization: str | None, x_api_key: str | None) -> bytes | None:
    """The key a request carries, if any.

    >>> presented_key("Bearer abc", None), presented_key(None, "xyz")
    (b'abc', b'xyz')
    >>> presented_key("Basic abc", None) is None
    True
    """
    if x_api_key:
        return x_api_key.encode()
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip().encode()
    return None


def key_matches(presented: bytes, keys: list[bytes]) -> bool:
    """Whether ``presented`` is one of ``keys``; every key is compared (constant time each).

    >>> key_matches(b"k" * 16, [b"a" * 16, b"k" * 16]), key_matches(b"k", [b"a" * 16])
    (True, False)
    """
    found = False
    for key in keys:
        found |= hmac.compare_digest(presented, key)
    return found
