"""What the training loop reads from its data: windows by index, as left-padded batches.

:class:`segue.data.sequences.TrainingSequences` (a log in memory) and
:class:`segue.scale.ShardedWindows` (memory-mapped shards) both provide it, so
:func:`segue.training.fit` trains on either; neither inherits from this class.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from segue.data.batch import SequenceBatch


@runtime_checkable
class TrainingWindows(Protocol):
    """Training windows addressed by a global index 0..N-1."""

    def __len__(self) -> int:
        """N, the number of windows."""
        ...

    def lengths(self) -> np.ndarray:
        """Input length of every window, (N,) int64: what length bucketing sorts by."""
        ...

    def batch(self, indices: np.ndarray) -> SequenceBatch:
        """The windows at ``indices``, (B,), as one left-padded batch, rows in that order."""
        ...

    def shuffle_ties(self, seed: int) -> None:
        """Reorder events that share a timestamp (only called with ``shuffle_ties`` set).

        Raises:
            NotImplementedError: Where the source cannot (shards hold no tie groups).
        """
        ...
