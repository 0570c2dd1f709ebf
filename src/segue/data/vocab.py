"""The track vocabulary: external track id <-> contiguous index, with metadata and counts.

Index 0 is padding; tracks are 1..n_tracks in order of decreasing play count (ties by id), so
low indices are popular tracks. The vocabulary travels inside every checkpoint, so it is stored as
plain lists (JSON), never pickled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from segue.columns import Columns
from segue.data.errors import DataError
from segue.data.report import Report
from segue.io.atomic_write import atomic_write

PAD = "<pad>"


@dataclass
class TrackVocab:
    """Track ids, their artist / album / name, and play counts in the data it was built from.

    Args:
        track_ids: External ids; ``track_ids[i]`` has index ``i + 1``.
        counts: Plays of each track (same order), for popularity baselines and cold start.
        artists: Artist name of each track, or None per track / overall where unknown.
        albums: Album of each track, or None.
        names: Track title of each track, or None.
    """

    track_ids: list[str]
    counts: list[int]
    artists: list[str | None] | None = None
    albums: list[str | None] | None = None
    names: list[str | None] | None = None
    _index: dict[str, int] = field(init=False, repr=False, compare=False)
    _artist_index: np.ndarray = field(init=False, repr=False, compare=False)
    artist_names: list[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_columns(self)
        self._index = {track: i + 1 for i, track in enumerate(self.track_ids)}
        if len(self._index) != len(self.track_ids):
            raise ValueError("track ids in a vocabulary must be unique")
        # Artist indices for the model's artist input: 0 = padding / unknown.
        artists = pd.Series(self.artists if self.artists is not None else [None] * len(self))
        codes, uniques = pd.factorize(artists, use_na_sentinel=True)
        self._artist_index = np.concatenate([[0], codes + 1]).astype(np.int64)
        self.artist_names = [str(a) for a in uniques]

    def __len__(self) -> int:
        return len(self.track_ids)

    @property
    def positions(self) -> dict[str, int]:
        """Track id -> its index (1-based; 0 is padding). The vocabulary's own dict, shared
        (a copy of 100k ids holds the GIL ~10 ms): read it, never change it."""
        return self._index

    @property
    def n_tracks(self) -> int:
        return len(self.track_ids)

    @property
    def n_artists(self) -> int:
        return len(self.artist_names)

    @classmethod
    def build(cls, events: pd.DataFrame, min_count: int = 1) -> tuple[TrackVocab, Report]:
        """Vocabulary of the tracks in ``events`` played at least ``min_count`` times.

        The report counts tracks (not rows) kept and dropped; :meth:`filter_events` then drops
        and counts the events of the dropped tracks.

        >>> df = pd.DataFrame({"track_id": ["b", "a", "b", "c"], "artist": ["x", "y", "x", "y"]})
        >>> vocab, report = TrackVocab.build(df, min_count=1)
        >>> vocab.track_ids, vocab.counts, vocab.encode(["a", "zzz"]).tolist()
        (['b', 'a', 'c'], [2, 1, 1], [2, 0])
        >>> TrackVocab.build(df, min_count=2)[0].track_ids
        ['b']
        """
        counts = events[Columns.TRACK].value_counts(sort=False)
        table = pd.DataFrame({"track": counts.index.astype(str), "count": counts.to_numpy()})
        table = table.sort_values(["count", "track"], ascending=[False, True], kind="stable")
        kept = table[table["count"] >= min_count]
        report = Report("vocabulary", rows_in=len(table), rows_kept=len(kept))
        report.drop(f"track played fewer than {min_count} times", len(table) - len(kept))
        report.stats["unit"] = "tracks"
        meta = _first_metadata(events, kept["track"])
        vocab = cls(
            track_ids=kept["track"].tolist(),
            counts=[int(c) for c in kept["count"]],
            artists=meta.get(Columns.ARTIST),
            albums=meta.get(Columns.ALBUM),
            names=meta.get(Columns.TRACK_NAME),
        )
        return vocab, report.check()

    def extended(self, events: pd.DataFrame) -> tuple[TrackVocab, Report]:
        """This vocabulary plus the tracks of ``events`` it lacks, each with 0 plays.

        The catalogue a model can rank, beyond what it learned from: a track first heard after
        the training fold (a new release, a discovery) is never a training target, but a
        listener who replays it can still be answered with it, through what the history says.
        Added tracks come after the known ones (in order of first appearance), so every known
        track keeps its index; their metadata is the first non-null value in ``events``.

        >>> vocab, _ = TrackVocab.build(pd.DataFrame({"track_id": ["a", "b", "a"]}))
        >>> bigger, report = vocab.extended(pd.DataFrame({"track_id": ["c", "a", "d", "c"]}))
        >>> bigger.track_ids, bigger.counts, report.stats["added tracks"]
        (['a', 'b', 'c', 'd'], [2, 1, 0, 0], 2)
        """
        tracks = events[Columns.TRACK].astype(str)
        new = pd.Series(tracks[~tracks.isin(self._index)].unique())
        report = Report("catalogue", rows_in=len(self) + len(new), rows_kept=len(self) + len(new))
        report.stats["unit"] = "tracks"
        report.stats["added tracks"] = len(new)
        meta = _first_metadata(events.assign(**{Columns.TRACK: tracks}), new)

        def column(name: str, known: list[str | None] | None) -> list[str | None] | None:
            if known is None and name not in meta:
                return None
            return list(known or [None] * len(self)) + meta.get(name, [None] * len(new))

        vocab = TrackVocab(
            track_ids=list(self.track_ids) + new.tolist(),
            counts=list(self.counts) + [0] * len(new),
            artists=column(Columns.ARTIST, self.artists),
            albums=column(Columns.ALBUM, self.albums),
            names=column(Columns.TRACK_NAME, self.names),
        )
        return vocab, report.check()

    def encode(self, track_ids: Any) -> np.ndarray:
        """Indices of external ids; 0 for ids not in the vocabulary."""
        ids = pd.Series(np.asarray(track_ids, dtype=object)).astype(str)
        return ids.map(self._index).fillna(0).to_numpy(dtype=np.int64)

    def decode(self, indices: Any) -> np.ndarray:
        """External ids of indices (1..n_tracks)."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 1 or idx.max() > len(self)):
            raise IndexError(f"track indices must be in 1..{len(self)}")
        return np.asarray(self.track_ids, dtype=object)[idx - 1]

    def artist_index(self, indices: Any) -> np.ndarray:
        """Artist index (0 = unknown or padding) of track indices (0 allowed)."""
        return self._artist_index[np.asarray(indices, dtype=np.int64)]

    def filter_events(self, events: pd.DataFrame) -> tuple[pd.DataFrame, Report]:
        """Keep the events whose track is in the vocabulary; count the rest."""
        known = events[Columns.TRACK].astype(str).isin(self._index)
        report = Report("vocabulary filter", rows_in=len(events), rows_kept=int(known.sum()))
        report.drop("track not in vocabulary", int((~known).sum()))
        return events[known.to_numpy()].reset_index(drop=True), report.check()

    def popularity(self) -> np.ndarray:
        """Play counts indexed by track index (entry 0, padding, is 0)."""
        return np.concatenate([[0], np.asarray(self.counts, dtype=np.int64)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "track_ids": list(self.track_ids),
            "counts": list(self.counts),
            "artists": self.artists,
            "albums": self.albums,
            "names": self.names,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrackVocab:
        """Inverse of :meth:`to_dict`; ids are read as strings, counts as integers.

        Raises:
            TypeError, ValueError: Naming the key that is missing, unknown or of the wrong
                kind (one string where a list of ids belongs is refused, never split into
                letters).
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"a vocabulary must be a mapping, got {type(data).__name__}")
        unknown = sorted(map(str, set(data) - set(COLUMNS)))
        missing = [k for k in ("track_ids", "counts") if k not in data]
        if unknown or missing:
            raise ValueError(f"vocabulary: missing key(s) {missing}, unknown key(s) {unknown}")
        for key in ("track_ids", "counts"):
            if not isinstance(data[key], list | tuple):
                raise TypeError(f"vocabulary: {key} must be a list, got {type(data[key]).__name__}")
        return cls(
            track_ids=[t if isinstance(t, str) else str(t) for t in data["track_ids"]],
            counts=list(data["counts"]),
            artists=data.get("artists"),
            albums=data.get("albums"),
            names=data.get("names"),
        )

    def save(self, path: str | Path) -> None:
        """Write as JSON, atomically (a reader never sees a half-written file; see
        :func:`segue.io.atomic_write.atomic_write`)."""
        text = json.dumps(self.to_dict(), ensure_ascii=False).encode("utf-8")

        def write(f: BinaryIO) -> None:
            f.write(text)

        atomic_write(path, write)

    @classmethod
    def load(cls, path: str | Path) -> TrackVocab:
        """Read what :meth:`save` wrote.

        Raises:
            FileNotFoundError: If there is no file at ``path``.
            DataError: Naming the file, for anything unreadable or malformed in it.
        """
        try:
            with open(path, encoding="utf-8") as f:
                return cls.from_dict(json.load(f))
        except (UnicodeDecodeError, ValueError, TypeError) as error:  # JSONDecodeError too
            raise DataError(f"not a segue vocabulary ({error})", file=str(path)) from None


COLUMNS = ("track_ids", "counts", "artists", "albums", "names")
"""The keys of :meth:`TrackVocab.to_dict`."""


def _check_columns(vocab: TrackVocab) -> None:
    """Refuse columns of the wrong kind or length, naming the column.

    One type pass per column (``set(map(type, ...))``, C speed: ~50 ms for 1M tracks).
    """
    if not isinstance(vocab.track_ids, list | tuple):
        raise TypeError(
            f"track_ids must be a list of strings, got {type(vocab.track_ids).__name__}"
        )
    n = len(vocab.track_ids)
    if not set(map(type, vocab.track_ids)) <= {str}:
        raise TypeError("track_ids must be a list of strings")
    if not isinstance(vocab.counts, list | tuple) or len(vocab.counts) != n:
        raise ValueError(f"counts must be a list of {n} integers (one per track)")
    if not set(map(type, vocab.counts)) <= {int} or (n and min(vocab.counts) < 0):
        raise ValueError("counts must be integers >= 0")
    for column in ("artists", "albums", "names"):
        values = getattr(vocab, column)
        if values is None:
            continue
        if not isinstance(values, list | tuple) or len(values) != n:
            raise ValueError(f"{column} must be None or a list of {n} entries (one per track)")
        if not set(map(type, values)) <= {str, type(None)}:
            raise TypeError(f"{column} must hold strings or None")


def _first_metadata(events: pd.DataFrame, tracks: pd.Series) -> dict[str, list[str | None]]:
    """Per track, the first non-null artist / album / name seen, aligned with ``tracks``."""
    columns = [c for c in (Columns.ARTIST, Columns.ALBUM, Columns.TRACK_NAME) if c in events]
    if not columns:
        return {}
    firsts = events.groupby(Columns.TRACK, sort=False)[columns].first()
    firsts.index = firsts.index.astype(str)
    firsts = firsts.reindex(tracks.to_numpy())
    return {
        c: [None if pd.isna(v) else str(v) for v in firsts[c].to_numpy(dtype=object)]
        for c in columns
    }
