"""Podcast shows a listener saved, from the ``YourLibrary.json`` of their account-data export.

Old account exports (``StreamingHistory0.json``... with four fields) list podcast episodes like
songs: the show as ``artistName``, the episode as ``trackName``. The same export's
``YourLibrary.json`` lists the shows the listener saved (``"shows": [{"name": ...}]``), so rows
of those shows in the old files are podcast episodes, dropped and counted as such. Newer exports
keep podcasts in files of their own, and their music files are left alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from segue.data.readers.parser_errors import PARSER_ERRORS
from segue.data.readers.sources import SourceFile
from segue.data.readers.text import read_text

LIBRARY = "yourlibrary.json"
# Old account-data files hold music and podcasts together; newer ones are split by name.
_MIXED = re.compile(r"^streaminghistory\d+\.(json|csv)$", re.I)

Folder = tuple[int, tuple[str, ...]]


def saved_shows(files: Sequence[SourceFile]) -> dict[Folder, tuple[str, ...]]:
    """Show names saved in each folder's ``YourLibrary.json`` (folders without one are absent).

    A library that cannot be read or parsed, or whose ``shows`` is no list, names no shows: it
    holds no plays, and the music files beside it are read all the same.
    """
    shows: dict[Folder, tuple[str, ...]] = {}
    for file in files:
        if file.basename.lower() != LIBRARY:
            continue
        library = json_or_none(file)
        if library is None:
            continue
        entries = library.get("shows") if isinstance(library, dict) else None
        if not isinstance(entries, list):  # absent, or a damaged field: no shows to go by
            entries = []
        names = [e.get("name") for e in entries if isinstance(e, dict)]
        shows[folder_of(file)] = tuple(n for n in names if isinstance(n, str) and n.strip())
    return shows


def shows_for(file: SourceFile, shows: dict[Folder, tuple[str, ...]]) -> tuple[str, ...]:
    """The saved shows that apply to an account-data file: only old, mixed files get any."""
    if not _MIXED.match(file.basename):
        return ()
    return shows.get(folder_of(file), ())


def folder_of(file: SourceFile) -> Folder:
    """The export folder a file sits in: its source and the path above it."""
    return (file.source, file.parts[:-1])


def json_or_none(file: SourceFile) -> Any:
    """A side file's JSON (``YourLibrary.json``, ``Userdata.json``), or None when it cannot be
    read: undecodable, not JSON, nested too deeply, a damaged .zip member. Such a file holds no
    plays, so the listening files beside it are read all the same."""
    try:
        return json.loads(read_text(file))
    except PARSER_ERRORS:
        return None
