"""Read the chosen files one by one: rows, users, implausible times dropped, errors named.

Every file's exceptions become a :class:`DataError` naming the file (see
:mod:`segue.data.readers.parser_errors`): a parser's own exception never reaches the caller bare.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from segue.columns import Columns
from segue.data.readers.extra_columns import Extra
from segue.data.readers.formats import Format
from segue.data.readers.listening_order import in_listening_order
from segue.data.readers.parsed import NoRows, Parsed
from segue.data.readers.parser_errors import named_errors
from segue.data.readers.plausible import drop_implausible
from segue.data.readers.sources import SourceFile
from segue.data.readers.spotify_library import Folder, shows_for
from segue.data.readers.spotify_userdata import account_user
from segue.data.readers.users import assign_user

FILE = "_file"
TOOL = "_tool"
"""Private column: the tool whose layout each row was read from ("" for one-layout formats)."""


@dataclass
class ReadFiles:
    """Every chosen file read: frames with users set, and the accounting so far.

    Attributes:
        frames: One frame per file that had rows, with ``user_id``, ``source`` and a private
            file number.
        files: The file of each frame.
        origins: Where each frame's user ids came from (see
            :func:`segue.data.readers.users.assign_user`).
        rows_in: Data rows in all files.
        dropped: Rows dropped by reason.
        counts: Per-file figures summed (plays of 0 ms, empty files...).
        layouts: How each file of a many-layout format was read.
        event_keys: Per format, the columns that identify one event (for repeats across files).
    """

    frames: list[pd.DataFrame] = field(default_factory=list)
    files: list[SourceFile] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    rows_in: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    layouts: dict[str, str] = field(default_factory=dict)
    event_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)


def read_files(
    chosen: list[tuple[SourceFile, Format]],
    names: list[str | None],
    options: dict[str, Any],
    shows: dict[Folder, tuple[str, ...]] | None = None,
    owners: dict[Folder, str] | None = None,
) -> ReadFiles:
    """Read each (file, format), keeping only the options each format takes.

    ``shows`` are the podcast shows each export folder's library lists (see
    :mod:`segue.data.readers.spotify_library`), handed to the account-data reader; ``owners``
    the username each folder's ``Userdata.json`` names, the user of the account-data files
    there (see :mod:`segue.data.readers.spotify_userdata`).
    """
    read = ReadFiles()
    for index, (file, fmt) in enumerate(chosen):
        own = {k: v for k, v in options.items() if k in fmt.options}
        if fmt.name == "spotify_account" and shows:
            own["saved_shows"] = shows_for(file, shows)
        parsed = read_one(fmt, file, own)
        read.sources.append(file.name)
        if parsed is None:
            read.counts["empty files"] += 1
            continue
        read.rows_in += parsed.rows_in
        read.dropped.update(parsed.dropped)
        read.counts.update(parsed.stats)
        if parsed.layout:
            read.layouts[file.name] = parsed.layout
        read.event_keys[fmt.name] = parsed.event_key
        frame = parsed.frame
        if fmt.check_times:
            dropped: dict[str, int] = {}
            frame = drop_implausible(frame, fmt.earliest, dropped)
            read.dropped.update(dropped)
        owner = account_user(file, owners or {}) if fmt.name == "spotify_account" else None
        if owner is not None and Columns.USER not in frame:
            frame = frame.assign(**{Columns.USER: pd.Series(owner, frame.index, "string")})
        frame, origin = assign_user(frame, file, names[file.source])
        frame = in_listening_order(frame)
        frame = frame.assign(**{FILE: index})
        frame[Extra.SOURCE] = fmt.name
        frame[TOOL] = parsed.layout.split(":")[0] if parsed.layout else ""
        read.frames.append(frame)
        read.files.append(file)
        read.origins.append(origin)
    return read


def read_one(fmt: Format, file: SourceFile, options: dict[str, Any]) -> Parsed | None:
    """One file's rows; None for an empty file found in a folder (an error when named)."""
    try:
        with named_errors(file.name, f"cannot read as {fmt.name}"):
            return fmt.read(file, **options)
    except NoRows:
        if file.listed:
            raise
        return None
