"""Where rows come from: files, folders and .zip archives, flattened into a list of files."""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from segue.data.errors import DataError

# Files no export holds data in: macOS archive litter and hidden files, except the one hidden
# file that is a listening log (a portable player's .scrobbler.log).
_IGNORED_PARTS = ("__MACOSX",)
_HIDDEN_LOGS = (".scrobbler.log",)
_LITTER = "hidden file or macOS archive litter"
# People zip their exports together, and Spotify's own download is a .zip: one .zip inside
# another is opened; deeper ones are named in the report instead (a .zip bomb stays shut).
_NESTED_ZIPS = 1
# .zip bombs: a member is read whole into memory, so what it may unpack to is capped. Real
# exports stay far below: a Spotify extended-history file holds at most ~15 MB, a Last.fm table
# of twenty years ~100 MB. Text packs 5-20:1 (indented JSON up to ~30:1); 200:1 and more comes
# from padding made to blow up, and only matters above a few MB, where it costs real memory.
# Module constants, read at each call, so tests can lower them.
MAX_MEMBER_BYTES = 1 << 30
MAX_RATIO = 200
RATIO_FROM_BYTES = 8 << 20
# Words that name an export, not a person: Spotify's own folders and archives ("Spotify Account
# Data", "Spotify Extended Streaming History", "MyData", "my_spotify_data (1).zip") and the names
# people give a Last.fm export's folder. A folder named only by them holds one person's export.
_EXPORT_WORDS = frozenset(
    {"my", "spotify", "data", "account", "extended", "streaming", "history", "audio", "music"}
    | {"lastfm", "last", "fm", "scrobbles", "scrobble", "export", "exports", "backup"}
)


@dataclass(frozen=True)
class SourceFile:
    """One file to read, on disk or inside a .zip.

    Attributes:
        name: Shown in reports and errors, e.g. ``"export.zip/MyData/StreamingHistory0.json"``.
        path: The file on disk (the archive, for a member of a .zip).
        member: The member's name inside the archive, or None for a plain file.
        outer: For a member of a .zip that is itself a member of ``path``: that .zip's name.
        parts: The path below the top-level source, a .zip counting as a folder named by its stem.
        source: Index of the top-level source (in the list given to ``read_log``).
        person: The per-person subfolder it sits in (see :func:`with_persons`), or None.
        listed: True when the file was named directly rather than found in a folder or .zip.
        skip: Why the file is passed over without a look (hidden files, archive litter, a
            .zip nested too deep), or None; the read's report lists it with this reason.
    """

    name: str
    path: Path
    member: str | None = None
    parts: tuple[str, ...] = ()
    source: int = 0
    person: str | None = None
    listed: bool = False
    skip: str | None = None
    outer: tuple[str, ...] = ()

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
        with _open_zip(self.path, self.outer) as archive:
            return io.BytesIO(_read_member(archive, self.member, _archive_name(self)))

    def head(self, size: int = 65536) -> bytes:
        """The first ``size`` bytes, to detect the format without reading the whole file."""
        if self.member is None:
            with open(self.path, "rb") as handle:
                return handle.read(size)
        with _open_zip(self.path, self.outer) as archive, archive.open(self.member) as handle:
            return handle.read(size)


def _open_zip(path: Path, outer: tuple[str, ...]) -> zipfile.ZipFile:
    """The archive at ``path``, or the .zip that ``outer`` names inside it (one in the next)."""
    archive = zipfile.ZipFile(path)
    shown = str(path)
    for name in outer:
        with archive:
            data = _read_member(archive, name, shown)
        archive = zipfile.ZipFile(io.BytesIO(data))
        shown = f"{shown}/{name}"
    return archive


def member_limit(info: zipfile.ZipInfo) -> int:
    """The most bytes a .zip member may unpack to: :data:`MAX_MEMBER_BYTES`, and above
    :data:`RATIO_FROM_BYTES` no more than :data:`MAX_RATIO` times its packed size.

    >>> info = zipfile.ZipInfo("a.json")
    >>> info.compress_size = 1 << 20
    >>> member_limit(info) == 200 << 20
    True
    """
    return min(MAX_MEMBER_BYTES, max(RATIO_FROM_BYTES, MAX_RATIO * info.compress_size))


def _check_size(info: zipfile.ZipInfo, size: int, archive: str) -> None:
    limit = member_limit(info)
    if size > limit:
        raise DataError(
            f"member {info.filename!r} unpacks to more than {limit:,} bytes (at most "
            f"{MAX_MEMBER_BYTES:,}, and {MAX_RATIO}:1 packed above {RATIO_FROM_BYTES:,}): "
            "refused as a possible .zip bomb; unpack it yourself to read it",
            file=archive,
        )


def _read_member(archive: zipfile.ZipFile, member: str, shown: str) -> bytes:
    """A member's bytes, read with a cap: its header's size can be forged, the stream cannot."""
    info = archive.getinfo(member)
    _check_size(info, info.file_size, shown)
    with archive.open(info) as handle:
        data = handle.read(member_limit(info) + 1)
    _check_size(info, len(data), shown)
    return data


def _archive_name(file: SourceFile) -> str:
    return "/".join((str(file.path), *file.outer))


def expand(source: str | Path, index: int = 0) -> list[SourceFile]:
    """The files of one source: the file itself, or every file below a folder or in a .zip.

    Folders are walked recursively in name order and .zip archives inside them are opened; hidden
    files and ``__MACOSX`` litter come back marked ``skip`` (so the report can name them).
    """
    path = Path(source)
    if not path.exists():
        raise DataError("no such file or folder", file=str(path))
    if path.is_dir():
        found: list[SourceFile] = []
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            rel = child.relative_to(path).parts
            if _ignored(rel):
                found.append(SourceFile(str(child), child, None, rel, index, skip=_LITTER))
            elif child.suffix.lower() == ".zip":
                found += _members(child, str(child), (*rel[:-1], child.stem), index)
            else:
                found.append(SourceFile(str(child), child, None, rel, index))
        return found
    if path.suffix.lower() == ".zip":
        return _members(path, str(path), (), index)
    return [SourceFile(str(path), path, None, (path.name,), index, listed=True)]


def _members(
    archive: Path, shown: str, prefix: tuple[str, ...], index: int, outer: tuple[str, ...] = ()
) -> list[SourceFile]:
    """The files of a .zip (``outer``: the .zip members it is nested in), nested ones opened."""
    try:
        with _open_zip(archive, outer) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise DataError(f"not a readable .zip archive ({error})", file=shown) from error
    for info in infos:  # a declared bomb is refused before anything is unpacked
        if not _ignored(PurePosixPath(info.filename).parts):
            _check_size(info, info.file_size, shown)
    names = sorted(i.filename for i in infos)
    files = []
    for member in names:
        parts = PurePosixPath(member).parts
        skip = _LITTER if _ignored(parts) else None
        if skip is None and member.lower().endswith(".zip"):
            if len(outer) < _NESTED_ZIPS:
                inner = (*prefix, *parts[:-1], PurePosixPath(member).stem)
                files += _members(archive, f"{shown}/{member}", inner, index, (*outer, member))
                continue
            skip = "a .zip inside a .zip inside a .zip: unpack it to read it"
        name = f"{shown}/{member}"
        files.append(
            SourceFile(name, archive, member, (*prefix, *parts), index, skip=skip, outer=outer)
        )
    return files


def _ignored(parts: Sequence[str]) -> bool:
    return any(
        (p.startswith(".") and p.lower() not in _HIDDEN_LOGS) or p in _IGNORED_PARTS for p in parts
    )


def with_persons(
    files: Sequence[SourceFile], others: Sequence[SourceFile] = ()
) -> list[SourceFile]:
    """Name each file's person when one source holds several people's exports side by side.

    Below the deepest folder the files of a source share, each data file sits in a first-level
    subfolder (or .zip) named after its person, when there are two or more of those and no data
    file sits in the shared folder itself. ``others`` are the files that are not read (a note,
    a PDF, a person's unreadable export): they show the folders but never block the split. A
    single export (one person) gets no person, and neither do subfolders named like an export
    rather than a person (see :func:`is_export_folder`): one person's account data beside
    their extended history is one person.

    >>> def files(*names):
    ...     return [SourceFile(n, Path(n), parts=tuple(n.split("/"))) for n in names]
    >>> [f.person for f in with_persons(files("ana/x/1.json", "bo/2.json"))]
    ['ana', 'bo']
    >>> [f.person for f in with_persons(files("ana/x/1.json", "ana/x/2.json"))]
    [None, None]
    >>> [f.person for f in with_persons(files("my_spotify_data/1.json", "lastfm/2.csv"))]
    [None, None]
    >>> [f.person for f in with_persons(files("ana/1.json"), files("bo/notes.txt", "a.pdf"))]
    ['ana']
    """
    persons: dict[tuple[int, str], str] = {}
    for index in {f.source for f in files}:
        group = [f for f in files if f.source == index]
        seen = [f.parts[:-1] for f in (*group, *others) if f.source == index]
        depth = _common_depth(seen)
        below = [f.parts[depth : depth + 1] if len(f.parts) > depth + 1 else () for f in group]
        names = {folder[depth] for folder in seen if len(folder) > depth}
        people = all(below) and not any(is_export_folder(b[0]) for b in below)
        if people and len(names) >= 2:
            persons.update({(f.source, f.name): b[0] for f, b in zip(group, below, strict=True)})
    return [replace(f, person=persons.get((f.source, f.name))) for f in files]


def is_export_folder(name: str) -> bool:
    """True for a folder (or .zip stem) named like an export, not like a person: only export
    words, or no letters at all (a year, a date).

    >>> [is_export_folder(n) for n in ("Spotify Account Data", "my_spotify_data (1)", "2021")]
    [True, True, True]
    >>> [is_export_folder(n) for n in ("ana", "user_000639", "ana_spotify")]
    [False, False, False]
    """
    return all(w in _EXPORT_WORDS for w in re.findall(r"[a-z]+", name.lower()))


def _common_depth(folders: Sequence[tuple[str, ...]]) -> int:
    depth = 0
    shortest = min(len(f) for f in folders)
    while depth < shortest and len({f[depth] for f in folders}) == 1:
        depth += 1
    return depth
