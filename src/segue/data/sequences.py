"""Torch datasets of left-padded track sequences, and the collate function that batches them.

Both datasets describe each example as a window ``[start, end)`` over :class:`EncodedEvents`.
Batches are built by one vectorised gather (:func:`gather_windows`), so building a batch costs
a few numpy index operations whatever its size; ``collate_sequences`` gives the same result for
use with a ``torch.utils.data.DataLoader``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from segue.data.batch import SequenceBatch
from segue.data.encoding import EncodedEvents
from segue.side_inputs import SIDE_INPUTS


@dataclass(frozen=True)
class SideInputs:
    """Which per-position side inputs batches carry (the model config decides); one field per
    :data:`segue.side_inputs.SIDE_INPUTS` row, of the same name."""

    artists: bool = False
    event_types: bool = False
    gap_buckets: bool = False

    @classmethod
    def of_model(cls, config: Any) -> SideInputs:
        """The side inputs a model config (a ``ModelConfig`` or its dict) reads.

        >>> SideInputs.of_model({"n_artists": 2, "use_event_types": False, "use_gap_buckets": True})
        SideInputs(artists=True, event_types=False, gap_buckets=True)
        """
        return cls(**{side.name: side.enabled(config) for side in SIDE_INPUTS})


def _left_padded(values: np.ndarray, idx: np.ndarray, valid: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.where(valid, values[idx], 0).astype(np.int64))


def gather_windows(
    encoded: EncodedEvents,
    starts: np.ndarray,
    ends: np.ndarray,
    length: int,
    side: SideInputs,
    targets_from: str | None = None,
) -> SequenceBatch:
    """Left-padded windows ``encoded[start:end]`` as a batch of shape (B, length).

    The batch is as long as its longest window (at most ``length``): padding columns that every
    row would have cost attention and feed-forward work for nothing, and positions count from
    each row's first real event, so trimming them changes no output.

    Args:
        encoded: Encoded events.
        starts: First row of each window, (B,).
        ends: One past the last row of each window, (B,); ``end - start <= length``.
        length: The longest T a batch may have.
        side: Side inputs to include.
        targets_from: ``"next"`` puts at each position the following row's track (causal
            training; the window's rows ``[start+1, end+1)`` must exist), ``"self"`` the row's
            own track (masked training). Skipped plays are never targets (0).
    """
    longest = int((ends - starts).max()) if len(ends) else 1
    length = max(1, min(length, longest))
    offsets = np.arange(length, dtype=np.int64)[None, :]
    idx = ends[:, None].astype(np.int64) - length + offsets  # (B, T)
    valid = idx >= starts[:, None]
    idx = np.where(valid, idx, 0)
    targets = None
    if targets_from is not None:
        target_idx = idx + 1 if targets_from == "next" else idx
        target_tracks = np.where(encoded.is_skip, 0, encoded.tracks)
        targets = _left_padded(target_tracks, np.minimum(target_idx, len(encoded) - 1), valid)
    inputs = {
        s.name: _left_padded(getattr(encoded, s.name), idx, valid)
        for s in SIDE_INPUTS
        if getattr(side, s.name)
    }
    return SequenceBatch(_left_padded(encoded.tracks, idx, valid), **inputs, targets=targets)


def training_windows(
    group_start: np.ndarray, window: int, step: int
) -> tuple[np.ndarray, np.ndarray]:
    """Windows of at most ``window`` rows tiling each group from its end backwards.

    Successive windows end ``step`` rows apart; groups and leftover heads shorter than two rows
    give no window (nothing to predict).

    >>> starts, ends = training_windows(np.array([0, 0, 0, 0, 0, 5, 5]), window=3, step=2)
    >>> list(zip(starts.tolist(), ends.tolist()))
    [(2, 5), (0, 3), (5, 7)]
    """
    n = len(group_start)
    group_first = np.unique(group_start)
    group_end = np.r_[group_first[1:], n]
    sizes = group_end - group_first
    n_windows = np.maximum(0, -(-(sizes - 1) // step))  # ceil((size - 1) / step)
    group_of_window = np.repeat(np.arange(len(group_first)), n_windows)
    within = np.arange(n_windows.sum()) - np.repeat(np.cumsum(n_windows) - n_windows, n_windows)
    ends = group_end[group_of_window] - within * step
    starts = np.maximum(group_first[group_of_window], ends - window)
    keep = ends - starts >= 2
    return starts[keep], ends[keep]


class TrainingSequences(Dataset):
    """Training examples: windows over each user's (or session's) training events.

    For the causal objective a window holds ``max_len + 1`` rows: ``max_len`` inputs and, at each
    input, the next track as target; windows tile long histories from the end so every event is
    a target once. For the masked objective a window holds ``max_len`` rows whose own tracks are
    the candidate targets (the masking transform picks which).
    """

    def __init__(
        self,
        encoded: EncodedEvents,
        max_len: int,
        causal: bool = True,
        side: SideInputs = SideInputs(),
    ) -> None:
        self.encoded, self.max_len, self.causal, self.side = encoded, max_len, causal, side
        self._original = encoded
        window = max_len + 1 if causal else max_len
        self.starts, self.ends = training_windows(encoded.group_start, window, max_len)
        if causal:
            # Inputs are the window minus its last row; targets read one row ahead.
            self.ends = self.ends - 1
        targets = self._targets_per_window()
        self.starts, self.ends = self.starts[targets > 0], self.ends[targets > 0]

    def _targets_per_window(self) -> np.ndarray:
        playable = np.r_[0, np.cumsum(~self.encoded.is_skip)]
        shift = 1 if self.causal else 0
        return playable[self.ends + shift] - playable[self.starts + shift]

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> tuple[int, int]:
        return int(self.starts[i]), int(self.ends[i])

    def shuffle_ties(self, seed: int) -> None:
        """Reorder events that share a user and a timestamp, at random (training only).

        Logs such as MovieLens stamp a whole sitting with one second, so the file order inside
        it is arbitrary; a fresh order each epoch teaches the model that any of those events
        may come next instead of memorising one order. Logs without ties are unchanged.
        Time gaps stay with their positions, events' own features move with them.
        """
        base = self._original
        keys = np.random.default_rng(seed).random(len(base))
        order = np.lexsort((keys, base.tie_group))
        self.encoded = replace(
            base,
            tracks=base.tracks[order],
            artists=base.artists[order],
            event_types=base.event_types[order],
            is_skip=base.is_skip[order],
        )

    @property
    def events(self) -> EncodedEvents:
        """The encoded training rows in their recorded order (before any tie shuffling)."""
        return self._original

    def lengths(self) -> np.ndarray:
        """Input length of every example, (N,)."""
        return self.ends - self.starts

    def batch(self, indices: np.ndarray) -> SequenceBatch:
        """The examples at ``indices`` as one left-padded batch, (B, <= max_len)."""
        return gather_windows(
            self.encoded,
            self.starts[indices],
            self.ends[indices],
            self.max_len,
            self.side,
            targets_from="next" if self.causal else "self",
        )

    def collate(self, items: list[tuple[int, int]]) -> SequenceBatch:
        """Collate function for a DataLoader over this dataset."""
        starts, ends = (np.array(column, dtype=np.int64) for column in zip(*items))
        return gather_windows(
            self.encoded,
            starts,
            ends,
            self.max_len,
            self.side,
            targets_from="next" if self.causal else "self",
        )


class PredictionSequences(Dataset):
    """One example per prediction point: the listener's last ``max_len`` known events before it.

    Args:
        encoded: Events encoded per user (the history of a point is its user's earlier events).
        point_rows: Row numbers of the points in the event table that was encoded.
        targets: Vocabulary index of each point's track, 0 when unknown (always a miss).
        max_len: History length fed to the model.
    """

    def __init__(
        self,
        encoded: EncodedEvents,
        point_rows: np.ndarray,
        targets: np.ndarray,
        max_len: int,
        side: SideInputs = SideInputs(),
    ) -> None:
        self.encoded, self.max_len, self.side = encoded, max_len, side
        self.targets = np.asarray(targets, dtype=np.int64)
        self.rows = np.asarray(point_rows, dtype=np.int64)
        self.ends = encoded.rank_of_row[point_rows]
        self.history_starts = encoded.group_start_of_row[point_rows]
        self.starts = np.maximum(self.history_starts, self.ends - max_len)

    def __len__(self) -> int:
        return len(self.ends)

    def batch(self, indices: np.ndarray) -> SequenceBatch:
        """Histories of the points at ``indices``, left-padded to (B, max_len)."""
        return gather_windows(
            self.encoded, self.starts[indices], self.ends[indices], self.max_len, self.side
        )

    def full_history(self, i: int) -> np.ndarray:
        """Every known track the listener played before point ``i`` (for excluding seen)."""
        return self.encoded.tracks[self.history_starts[i] : self.ends[i]]
