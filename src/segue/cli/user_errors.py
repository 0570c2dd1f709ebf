"""The errors a user can fix, shown as one line instead of a traceback.

``segue`` and the ``scripts/`` shells share this rule: a missing file, a bad setting or a
missing extra says what to fix in its message, so its traceback only hides that line. Bugs
(any other exception) keep their traceback, and ``SEGUE_TRACEBACK=1`` shows it for all.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from segue.cli.extras import MissingExtraError

USER_ERRORS = (
    MissingExtraError,
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    ValueError,
    TypeError,
)
"""Errors whose message says what to fix (a setting of the wrong type included)."""


@contextmanager
def exit_on_user_error(program: str) -> Iterator[None]:
    """Turn a user error raised inside into ``<program>: error: <message>`` and exit status 1."""
    try:
        yield
    except USER_ERRORS as error:
        if os.environ.get("SEGUE_TRACEBACK"):
            raise
        print(f"{program}: error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
