"""Which format a file is in: by name for files that are never listening logs, else by content.

Every file found in a folder is either read or skipped with a reason the report shows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from segue.data.errors import DataError
from segue.data.readers.formats import FORMATS
from segue.data.readers.head import Head
from segue.data.readers.lastfm import explain_unknown
from segue.data.readers.parser_errors import named_errors
from segue.data.readers.scrobble_columns import recognised
from segue.data.readers.sources import SourceFile

# Files that look like a log but are not one to read: Spotify video history (same fields as
# audio, in extended and account exports), the MovieLens-100K train/test splits (subsets
# of u.data, read twice otherwise), and the account-data files whose facts other readers use.
_NOT_LISTENING = {
    re.compile(r"^streaming_?history_video_.*$", re.I): "Spotify video history, not listening",
    re.compile(r"^u[a-z]?\d*\.(base|test)$", re.I): "MovieLens split of u.data (u.data is read)",
    re.compile(r"^userdata\.json$", re.I): "Spotify account details (its username is the user id)",
    re.compile(r"^yourlibrary\.json$", re.I): "Spotify library (its saved shows mark podcasts)",
    re.compile(r"^playlist\d*\.json$", re.I): "Spotify playlists, not listening",
    re.compile(r"^searchqueries\.json$", re.I): "Spotify search history, not listening",
}
_TABLE_ENDINGS = (".csv", ".tsv", ".txt", ".tab")


def detect(file: SourceFile) -> str | None:
    """The name of the first format in :data:`FORMATS` whose sniffer accepts the file, or None."""
    if _name_reason(file) is not None:
        return None
    head = Head.of(file)
    return next((name for name, fmt in FORMATS.items() if fmt.sniff(head)), None)


def choose(
    files: Sequence[SourceFile], format: str | None, columns: Mapping[str, str] | None
) -> tuple[list[tuple[SourceFile, str]], dict[str, str]]:
    """Pair each file with its format; a file found in a folder that fits none is skipped.

    A file named directly is always read: with ``format=`` as that format, else as detected
    (an unknown one is an error saying why). ``columns=`` without ``format=`` means a generic
    table chosen by file ending. Inside a folder, ``format=`` reads every file detected as that
    format, and every file with one of its endings that is no other specific format and gives
    detection nothing to go on (a damaged file: reading it names the fault); a well-formed file
    of another shape (Spotify's ``Follow.json`` beside the listening files) is skipped.

    Returns:
        (file, format name) pairs to read, and the skipped files' names with the reason.
    """
    if format is not None and format not in FORMATS:
        raise DataError(f"unknown format {format!r}; formats: {', '.join(FORMATS)}")
    chosen, skipped = [], {}
    for file in files:
        # Detection reads the file's first bytes (a .zip member's CRC, the first JSON record):
        # damage found there is named like damage found by the read.
        with named_errors(file.name, "cannot read the start of the file"):
            name, reason = _format_of(file, format, columns)
        if name is None and file.listed:
            raise DataError(
                f"cannot tell the format of this file ({reason}); formats: "
                f"{', '.join(FORMATS)}. Pass format=..., and columns={{canonical: source}} "
                "for csv / tsv / parquet",
                file=file.name,
            )
        if name is None:
            skipped[file.name] = reason
        else:
            chosen.append((file, name))
    return chosen, skipped


def why_unknown(file: SourceFile, *, hint: bool = False) -> str:
    """Why no format reads a file: what its header names and what is missing, where it helps;
    ``hint`` adds the header names that are recognised (for errors)."""
    named = _name_reason(file)
    if named is not None:
        return named
    head = Head.of(file)
    if not head.data.strip():
        return "empty file"
    if _empty_json(head):
        return "no records (an empty JSON list)"
    if head.first_record is not None:
        keys = ", ".join(repr(k) for k in list(head.first_record)[:8])
        return f"JSON records of no listening format (keys: {keys})"
    if b"\x00" in head.data and not head.data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return f"binary file ({file.suffix or 'no ending'}), not a listening log"
    if file.suffix in _TABLE_ENDINGS or not file.suffix:
        return explain_unknown(head, hint=hint)
    return f"not a listening log ({file.suffix} file of no known layout)"


def _format_of(
    file: SourceFile, format: str | None, columns: Mapping[str, str] | None
) -> tuple[str | None, str]:
    if format is not None and file.listed:
        return format, ""
    if format is None and columns is not None:
        found = _by_ending(file)
        return found, "" if found else f"no csv / tsv / parquet ending ({file.suffix or 'none'})"
    found = detect(file)
    if format is None:
        return found, "" if found else why_unknown(file, hint=file.listed)
    if found == format:
        return format, ""
    if found is not None and not FORMATS[found].generic:
        return None, f"reads as {found}, not the requested format {format!r}"
    named = _name_reason(file)
    if named is not None:
        return None, named
    if file.suffix not in FORMATS[format].endings:
        return None, f"not a {format} file (ending {file.suffix or 'none'})"
    if FORMATS[format].generic or _shapeless(file):
        return format, ""
    return None, f"not a {format} file ({why_unknown(file)})"


def _shapeless(file: SourceFile) -> bool:
    """True when the start of a file parses as no JSON record and no header naming an artist,
    track or time: a damaged file, not one of another kind."""
    head = Head.of(file)
    return head.first_record is None and recognised(head) is None and not _empty_json(head)


def _empty_json(head: Head) -> bool:
    return head.text.strip().lstrip("\ufeff") in ("[]", "{}")


def _name_reason(file: SourceFile) -> str | None:
    return next((why for rule, why in _NOT_LISTENING.items() if rule.match(file.basename)), None)


def _by_ending(file: SourceFile) -> str | None:
    return next((f.name for f in FORMATS.values() if file.suffix in f.extensions), None)
