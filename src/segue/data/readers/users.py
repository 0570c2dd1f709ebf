"""Who each row belongs to, when a file does not say or the caller names the person."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from segue.columns import Columns
from segue.data.errors import DataError
from segue.data.readers.sources import SourceFile

DEFAULT_USER = "user"
"""The user id of a single export that names no user (e.g. Spotify account data)."""


def users_per_source(user: str | Sequence[str] | None, n_sources: int) -> list[str | None]:
    """One ``user=`` name (or None) per source: a single name applies to every source.

    >>> users_per_source("ana", 2), users_per_source(["ana", "bo"], 2), users_per_source(None, 1)
    (['ana', 'ana'], ['ana', 'bo'], [None])
    """
    if user is None or isinstance(user, str):
        return [user] * n_sources
    names = [str(u) for u in user]
    if len(names) != n_sources:
        raise ValueError(f"user= has {len(names)} names for {n_sources} sources; give one each")
    return list(names)


def assign_user(frame: pd.DataFrame, file: SourceFile, named: str | None) -> pd.DataFrame:
    """Set ``user_id``: ``user=``, else the file's own user column, else its person subfolder,
    else :data:`DEFAULT_USER`.

    ``user=`` relabels a one-person file; naming one user for a file of several people is an
    error, since it would merge their histories.
    """
    frame = frame.copy()  # the reader's frame is not ours to modify
    if named is not None:
        if Columns.USER in frame and frame[Columns.USER].nunique() > 1:
            raise DataError(
                f"user={named!r} names one person, but the file holds "
                f"{frame[Columns.USER].nunique()} users",
                file=file.name,
                column=Columns.USER,
            )
        frame[Columns.USER] = named
    elif Columns.USER not in frame:
        frame[Columns.USER] = file.person or DEFAULT_USER
    else:
        return frame
    frame[Columns.USER] = frame[Columns.USER].astype("string")
    return frame


def needs_name(file: SourceFile, named: str | None, frame: pd.DataFrame) -> bool:
    """True when the file's rows fall back to :data:`DEFAULT_USER`."""
    return named is None and file.person is None and Columns.USER not in frame
