"""Training windows read from shards on disk: the trainer's dataset interface, streamed.

:class:`ShardedWindows` offers what :func:`segue.training.fit` reads from a
:class:`~segue.data.TrainingSequences` (``len``, ``lengths()``, ``batch(indices)``), over
memory-mapped shards: a batch of random windows reads only their rows, and the operating system
keeps or evicts the pages. :meth:`ShardedWindows.stream` is the sequential alternative for
catalogues whose data should never be mapped at once: shards in a random order, each loaded,
shuffled and batched, then released, so memory holds one shard.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segue.data.batch import SequenceBatch
from segue.data.encoding import EncodedEvents
from segue.data.errors import DataError
from segue.data.sequences import SideInputs, gather_windows
from segue.scale.windows import ARRAYS

MANIFEST = "manifest.json"
FORMAT, VERSION = "segue-shards", 1


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of a prepared folder, checked for format and version."""
    path = Path(directory) / MANIFEST
    if not path.exists():
        raise DataError(
            "no manifest: not a folder written by segue.scale.prepare_out_of_core", file=str(path)
        )
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise DataError(
            f"unsupported shard format {manifest.get('format')!r} version "
            f"{manifest.get('version')!r} (expected {FORMAT!r} {VERSION})",
            file=str(path),
        )
    return manifest


def _shard_events(folder: Path, mmap: bool) -> EncodedEvents:
    """A shard's row arrays as the :class:`EncodedEvents` fields that batching reads; the
    group and row maps, which only building windows and prediction points use, are empty."""
    arrays = {
        name: np.load(folder / f"{name}.npy", mmap_mode="r" if mmap else None) for name in ARRAYS
    }
    empty = np.empty(0, dtype=np.int64)
    return EncodedEvents(
        tracks=arrays["tracks"],
        artists=arrays["artists"],
        event_types=arrays["event_types"],
        gap_buckets=arrays["gap_buckets"],
        is_skip=arrays["is_skip"],
        group_start=empty,
        rank_of_row=empty,
        group_start_of_row=empty,
        tie_group=empty,
    )


def _left_pad(batch: SequenceBatch, length: int) -> SequenceBatch:
    """Pad every tensor of ``batch`` on the left with zeros to ``length`` columns."""
    pad = length - batch.tracks.shape[1]
    if pad == 0:
        return batch

    def padded(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else torch.nn.functional.pad(t, (pad, 0))

    return SequenceBatch(
        tracks=torch.nn.functional.pad(batch.tracks, (pad, 0)),
        artists=padded(batch.artists),
        event_types=padded(batch.event_types),
        gap_buckets=padded(batch.gap_buckets),
        targets=padded(batch.targets),
    )


def _concat(batches: list[SequenceBatch]) -> SequenceBatch:
    length = max(b.tracks.shape[1] for b in batches)
    batches = [_left_pad(b, length) for b in batches]

    def cat(name: str) -> torch.Tensor | None:
        parts = [getattr(b, name) for b in batches]
        return None if parts[0] is None else torch.cat(parts)

    return SequenceBatch(
        tracks=torch.cat([b.tracks for b in batches]),
        artists=cat("artists"),
        event_types=cat("event_types"),
        gap_buckets=cat("gap_buckets"),
        targets=cat("targets"),
    )


class ShardedWindows:
    """The training windows of a folder written by :func:`segue.scale.prepare_out_of_core`.

    Args:
        directory: The prepared folder (holds ``manifest.json`` and ``shards/``).
        side: Side inputs the batches carry (default: none).
    """

    def __init__(self, directory: str | Path, side: SideInputs | None = None) -> None:
        self.directory = Path(directory)
        self.manifest = read_manifest(self.directory)
        self.max_len = int(self.manifest["max_len"])
        self.causal = bool(self.manifest["causal"])
        self.side = side or SideInputs()
        self.shards = [self.directory / s["path"] for s in self.manifest["shards"]]
        counts = np.array([s["windows"] for s in self.manifest["shards"]], dtype=np.int64)
        self.offsets = np.r_[0, np.cumsum(counts)]  # first global window of each shard
        self._events = [_shard_events(f, mmap=True) for f in self.shards]
        self._starts = [np.load(f / "starts.npy", mmap_mode="r") for f in self.shards]
        self._ends = [np.load(f / "ends.npy", mmap_mode="r") for f in self.shards]

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_tracks(self) -> int:
        return int(self.manifest["n_tracks"])

    def lengths(self) -> np.ndarray:
        """Input length of every window, (N,)."""
        if not self.shards:
            return np.empty(0, dtype=np.int64)
        return np.concatenate(
            [np.asarray(e) - np.asarray(s) for s, e in zip(self._starts, self._ends)]
        )

    def shuffle_ties(self, seed: int) -> None:
        """Not offered: shards hold no tie groups (shuffle ties in the pandas path instead)."""
        raise NotImplementedError(
            "shuffle_ties needs the whole log in memory; train on shards with shuffle_ties=False"
        )

    def _targets_from(self) -> str:
        return "next" if self.causal else "self"

    def batch(self, indices: np.ndarray) -> SequenceBatch:
        """The windows at global ``indices`` as one left-padded batch, rows in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) == 0 or indices.min() < 0 or indices.max() >= len(self):
            raise IndexError(f"window indices must be in 0..{len(self) - 1}")
        shard_of = np.searchsorted(self.offsets, indices, side="right") - 1
        parts, order = [], []
        for shard in np.unique(shard_of):
            rows = np.flatnonzero(shard_of == shard)
            local = indices[rows] - self.offsets[shard]
            parts.append(
                gather_windows(
                    self._events[shard],
                    np.asarray(self._starts[shard][local]),
                    np.asarray(self._ends[shard][local]),
                    self.max_len,
                    self.side,
                    targets_from=self._targets_from(),
                )
            )
            order.append(rows)
        merged = _concat(parts)
        inverse = torch.from_numpy(np.argsort(np.concatenate(order), kind="stable"))
        return SequenceBatch(
            tracks=merged.tracks[inverse],
            artists=None if merged.artists is None else merged.artists[inverse],
            event_types=None if merged.event_types is None else merged.event_types[inverse],
            gap_buckets=None if merged.gap_buckets is None else merged.gap_buckets[inverse],
            targets=None if merged.targets is None else merged.targets[inverse],
        )

    def stream(
        self, batch_size: int, generator: torch.Generator, max_batches: int | None = None
    ) -> Iterator[SequenceBatch]:
        """One epoch, a shard at a time: shards in random order, windows shuffled within each.

        Each shard is read into memory whole (sequential reads) and released after its
        batches, so memory holds one shard whatever the number of shards.
        """
        produced = 0
        for shard in torch.randperm(len(self.shards), generator=generator).tolist():
            events = _shard_events(self.shards[shard], mmap=False)
            starts = np.load(self.shards[shard] / "starts.npy")
            ends = np.load(self.shards[shard] / "ends.npy")
            order = torch.randperm(len(starts), generator=generator).numpy()
            for first in range(0, len(order), batch_size):
                if max_batches is not None and produced >= max_batches:
                    return
                chunk = order[first : first + batch_size]
                yield gather_windows(
                    events,
                    starts[chunk],
                    ends[chunk],
                    self.max_len,
                    self.side,
                    targets_from=self._targets_from(),
                )
                produced += 1
