"""Atomic file and folder writes, and the cleaning of temporaries that a killed writer left.

A file is written to ``.<name>.<pid>.<random>.tmp`` in its own folder, flushed to disk, then
renamed over the target, so a reader sees the old file or the new one, never half of one. A
process killed mid-write (``kill -9``, power loss) cannot remove its temporary, and a full-size
checkpoint left behind at every crash fills a disk; so every write first removes the
temporaries of earlier writes *to the same path* whose writer is gone.

A temporary is ours when its name, in the target's folder, is ``.<name>.[<pid>.]<8 random>.tmp``
(a file) or ``.<name>.[<pid>.][old.]<8 random>`` (a folder of :func:`segue.export.write_bundle`):
the names ``tempfile`` makes with the prefix :func:`temporary_prefix`.
It is stale when the pid in its name is not a live process on this machine, or, whatever the
pid says (pids are reused; a shared folder may be written from another machine), when it has
not been modified for :data:`STALE_SECONDS`. Temporaries of older segue versions have no pid in
their name and are removed once they are that old.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o644
"""Mode of every file segue writes: shared artefacts, readable by the group and others."""
FOLDER_MODE = 0o755
"""Mode of every folder segue writes (``mkdtemp`` alone would make it 0700)."""

STALE_SECONDS = 3600.0
"""A temporary untouched this long is stale whatever its pid: a live writer writes every second."""


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(file)`` on a temporary beside ``path``, fsync it, rename it to ``path``.

    Stale temporaries of earlier writes to ``path`` are removed first (see the module docstring).
    The file gets mode :data:`FILE_MODE` before the rename, whatever the umask (``mkstemp``
    alone makes it 0600, which other users of a shared model folder cannot read).

    Args:
        path: The file to (re)place.
        write: Writes the content to the binary file object it is given.

    Returns:
        ``path`` as a :class:`Path`.

    Raises:
        IsADirectoryError: If ``path`` is a folder, before anything is written.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder: give the path of the file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` as :func:`atomic_write` does; returns ``path``."""
    data = text.encode("utf-8")

    def write(f: BinaryIO) -> None:
        f.write(data)

    return atomic_write(path, write)


def temporary_folder(path: Path, old: bool = False) -> Path:
    """A new, empty temporary folder beside ``path`` (mode :data:`FOLDER_MODE`) for its write.

    Args:
        path: The folder that will be (re)placed.
        old: Name it as the place a replaced folder is moved to before it is removed.
    """
    prefix = temporary_prefix(path) + ("old." if old else "")
    folder = Path(tempfile.mkdtemp(dir=path.parent, prefix=prefix))
    os.chmod(folder, FOLDER_MODE)
    return folder


def set_tree_modes(folder: Path) -> None:
    """Give ``folder`` and every folder under it :data:`FOLDER_MODE`, every file :data:`FILE_MODE`.

    Called on a temporary folder before it is renamed into place, so the modes never depend on
    the umask of the process that wrote it.
    """
    os.chmod(folder, FOLDER_MODE)
    for entry in folder.rglob("*"):
        if not entry.is_symlink():
            os.chmod(entry, FOLDER_MODE if entry.is_dir() else FILE_MODE)


def temporary_prefix(path: Path) -> str:
    """``.<name>.<pid>.``: the start of this process's temporaries for ``path``.

    >>> temporary_prefix(Path("out/best.pt")).startswith(".best.pt.")
    True
    """
    return f".{path.name}.{os.getpid()}."


def clean_stale_temporaries(path: str | Path, now: float | None = None) -> list[Path]:
    """Remove the stale temporaries of writes to ``path``; returns what was removed.

    Args:
        path: The target file or folder whose temporaries are looked for.
        now: The current time (seconds since the epoch); for tests.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    now = time.time() if now is None else now
    head = re.escape(f".{path.name}.") + r"(?:(?P<pid>\d+)\.)?"
    file_name = re.compile(head + _RANDOM + r"\.tmp")
    folder_name = re.compile(head + r"(?:old\.)?" + _RANDOM)
    removed = []
    for entry in path.parent.iterdir():
        is_folder = entry.is_dir() and not entry.is_symlink()
        match = (folder_name if is_folder else file_name).fullmatch(entry.name)
        if match is None or not _is_stale(entry, match["pid"], now):
            continue
        try:
            shutil.rmtree(entry) if is_folder else entry.unlink()
        except FileNotFoundError:  # another writer cleaned it first
            continue
        removed.append(entry)
    return removed


_RANDOM = r"[a-z0-9_]{8}"
"""The random part of a ``tempfile`` name."""


def _is_stale(entry: Path, pid: str | None, now: float) -> bool:
    try:
        age = now - entry.lstat().st_mtime
    except FileNotFoundError:
        return False
    if age > STALE_SECONDS:
        return True
    if pid is None or int(pid) == os.getpid():
        return False  # an older version's name (wait for the age rule), or ours: in progress
    return not _alive(int(pid))


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # exists, owned by another user; or not a pid we can judge: keep
    return True
