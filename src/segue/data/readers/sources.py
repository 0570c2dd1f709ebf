"""Where rows come from: files, folders and .zip archives, flattened into a list of files."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from segue.data.errors import DataError

# Files no export holds data in: macOS archive litter and hidden files.
_IGNORED_PARTS = ("__MACOSX",)


@dataclass(frozen=True)
class SourceFile:
    """One file to read, on disk or inside a .zip.

    Attributes:
        name: Shown in reports and errors, e.g. ``"export.zip/MyData/StreamingHistory0.json"``.
        path: The file on disk (the archive, for a member of a .zip).
        member: The member's name inside the archive, or None for a plain file.
        parts: The path below the top-level source, a .zip counting as a folder named by its stem.
        source: Index of the top-level source (in the list given to ``read_log``).
        person: The per-person subfolder it sits in (see :func:`with_persons`), or None.
        listed: True when the file was named directly rather than found in a folder or .zip.
    """

    name: str
    path: Path
    member: str | None = None
    parts: tuple[str, ...] = ()
    source: int = 0
    person: str | None = None
    listed: bool = False

    @property
    def basename(self) -> str:
        return PurePosixPath(self.member).name if self.member else self.path.name

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.basename).suffix.lower()

    def readable(self) -> Path | io.BytesIO:
        """The path of a plain file (fast path for pyarrow), or the bytes of a .zip member."""
        if self.member is None:
            return self.path
        with zipfile.ZipFile(self.path) as archive:
            return io.BytesIO(archive.read(self.member))

    def head(self, size: int = 65536) -> bytes:
        """The first ``size`` bytes, to detect the format without reading the whole file."""
        if self.member is None:
            with open(self.path, "rb") as handle:
                return handle.read(size)
        with zipfile.ZipFile(self.path) as archive, archive.open(self.member) as handle:
            return handle.read(size)


def expand(source: str | Path, index: int = 0) -> list[SourceFile]:
    """The files of one source: the file itself, or every file below a folder or in a .zip.

    Folders are walked recursively in name order and .zip archives inside them are opened; hidden
    files and ``__MACOSX`` litter are skipped.
    """
    path = Path(source)
    if not path.exists():
        raise DataError("no such file or folder", file=str(path))
    if path.is_dir():
        found: list[SourceFile] = []
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            rel = child.relative_to(path).parts
            if _ignored(rel):
                continue
            if child.suffix.lower() == ".zip":
                found += _members(child, str(child), (*rel[:-1], child.stem), index)
            else:
                found.append(SourceFile(str(child), child, None, rel, index))
        return found
    if path.suffix.lower() == ".zip":
        return _members(path, str(path), (), index)
    return [SourceFile(str(path), path, None, (path.name,), index, listed=True)]


def _members(archive: Path, shown: str, prefix: tuple[str, ...], index: int) -> list[SourceFile]:
    try:
        with zipfile.ZipFile(archive) as zf:
            names = sorted(i.filename for i in zf.infolist() if not i.is_dir())
    except zipfile.BadZipFile as error:
        raise DataError(f"not a readable .zip archive ({error})", file=shown) from error
    files = []
    for member in names:
        parts = PurePosixPath(member).parts
        if _ignored(parts) or member.lower().endswith(".zip"):
            continue  # a .zip inside a .zip is no export format we know
        files.append(SourceFile(f"{shown}/{member}", archive, member, (*prefix, *parts), index))
    return files


def _ignored(parts: Sequence[str]) -> bool:
    return any(p.startswith(".") or p in _IGNORED_PARTS for p in parts)


def with_persons(files: Sequence[SourceFile]) -> list[SourceFile]:
    """Name each file's person when one source holds several people's exports side by side.

    Below the deepest folder the data files of a source share, each sits in a first-level
    subfolder (or .zip) named after its person, when there are two or more of those and no file
    sits in the shared folder itself. A single export (one person) gets no person.

    >>> def files(*names):
    ...     return [SourceFile(n, Path(n), parts=tuple(n.split("/"))) for n in names]
    >>> [f.person for f in with_persons(files("ana/x/1.json", "bo/2.json"))]
    ['ana', 'bo']
    >>> [f.person for f in with_persons(files("ana/x/1.json", "ana/x/2.json"))]
    [None, None]
    """
    persons: dict[tuple[int, str], str] = {}
    for index in {f.source for f in files}:
        group = [f for f in files if f.source == index]
        folders = [f.parts[:-1] for f in group]
        depth = _common_depth(folders)
        below = [folder[depth : depth + 1] for folder in folders]
        if len({b[0] for b in below if b}) >= 2 and all(below):
            persons.update({(f.source, f.name): b[0] for f, b in zip(group, below, strict=True)})
    return [replace(f, person=persons.get((f.source, f.name))) for f in files]


def _common_depth(folders: Sequence[tuple[str, ...]]) -> int:
    depth = 0
    shortest = min(len(f) for f in folders)
    while depth < shortest and len({f[depth] for f in folders}) == 1:
        depth += 1
    return depth
