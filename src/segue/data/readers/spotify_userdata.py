"""Whose account-data export it is, from the ``Userdata.json`` beside the listening files.

Account-data listening files (``StreamingHistory*.json``) name no user, but the same export's
``Userdata.json`` holds the account's ``username`` -- the one Extended Streaming History writes
on every play. Taking it as the files' user keeps two people's account exports apart even when
both sit in folders Spotify named alike (``my_spotify_data.zip``, ``my_spotify_data (1).zip``),
and gives one person's account data and extended history one user id.
"""

from __future__ import annotations

from collections.abc import Sequence

from segue.data.readers.sources import SourceFile
from segue.data.readers.spotify_library import Folder, folder_of, json_or_none

USERDATA = "userdata.json"


def account_users(files: Sequence[SourceFile]) -> dict[Folder, str]:
    """The ``username`` of each folder's ``Userdata.json`` (folders without one are absent).

    A ``Userdata.json`` that cannot be read or parsed, or names no user, names nobody: the files
    beside it are read all the same, under the user id they would have had without it.
    """
    users: dict[Folder, str] = {}
    for file in files:
        if file.basename.lower() != USERDATA:
            continue
        data = json_or_none(file)
        name = data.get("username") if isinstance(data, dict) else None
        if isinstance(name, str) and name.strip():
            users[folder_of(file)] = name.strip()
    return users


def account_user(file: SourceFile, users: dict[Folder, str]) -> str | None:
    """The username the ``Userdata.json`` in ``file``'s folder names, or None."""
    return users.get(folder_of(file))
