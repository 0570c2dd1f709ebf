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


def assign_user(
    frame: pd.DataFrame, file: SourceFile, named: str | None
) -> tuple[pd.DataFrame, str]:
    """Set ``user_id``: ``user=``, else the file's own user column, else its person subfolder,
    else :data:`DEFAULT_USER` (see :func:`one_person_per_folder` for one person's files).

    ``user=`` relabels a one-person file; naming one user for a file of several people is an
    error, since it would merge their histories.

    Returns:
        The frame with ``user_id``, and where the id came from: ``"named"``, ``"file"``,
        ``"person"`` or ``"default"``.
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
        how = "named"
    elif Columns.USER not in frame:
        frame[Columns.USER] = file.person or DEFAULT_USER
        how = "person" if file.person else "default"
    else:
        return frame, "file"
    frame[Columns.USER] = frame[Columns.USER].astype("string")
    return frame, how


def one_person_per_folder(
    frames: list[pd.DataFrame], files: list[SourceFile], how: list[str]
) -> list[str]:
    """Give one person's files one user id.

    - In a per-person subfolder, the subfolder names the person: a file whose own user column
      names one user (a Spotify ``username``, a Last.fm handle) takes the subfolder's name too,
      so one person's Spotify and Last.fm accounts are one user. A file of several users keeps
      them.
    - In a one-person source, files that name no user take the id their companions name, when
      those name exactly one (account data beside an extended history's ``username``).

    Returns:
        ``how`` updated for the frames whose ids changed (``frames`` are modified in place).
    """
    out = list(how)
    groups: dict[tuple[int, str | None], set[str]] = {}
    for i, (frame, file, origin) in enumerate(zip(frames, files, how, strict=True)):
        if origin != "file":
            continue
        ids = set(frame[Columns.USER].dropna().unique())
        if file.person is not None and len(ids) == 1:
            _relabel(frame, file.person)
            out[i] = "person"
        else:
            groups.setdefault((file.source, file.person), set()).update(ids)
    for i, (frame, file, origin) in enumerate(zip(frames, files, out, strict=True)):
        named = groups.get((file.source, file.person), set())
        if origin == "default" and len(named) == 1:
            _relabel(frame, next(iter(named)))
            out[i] = "file"
    return out


def _relabel(frame: pd.DataFrame, user: str) -> None:
    frame[Columns.USER] = pd.Series(user, index=frame.index, dtype="string")


def check_one_person(named: str | None, files: Sequence[SourceFile], source: str) -> None:
    """``user=`` names one person: an error for a source holding several people's folders."""
    persons = sorted({f.person for f in files if f.person is not None})
    if named is not None and len(persons) > 1:
        raise DataError(
            f"user={named!r} names one person, but the source holds {len(persons)} people's "
            f"exports ({', '.join(persons[:5])}); leave user= unset to keep them apart, or "
            "read each and merge on purpose with segue.concat_logs(..., user=...)",
            file=source,
        )
