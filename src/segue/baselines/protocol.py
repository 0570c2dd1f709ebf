"""The interface every baseline follows, so that evaluation treats them and models alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Baseline(Protocol):
    """Fit on training listening sequences, then score the whole catalogue for histories.

    Attributes:
        name: Short identifier used in result tables.
    """

    name: str

    def fit(self, sequences: Sequence[np.ndarray], n_tracks: int) -> Baseline:
        """Learn from training sequences.

        Args:
            sequences: One index array per user (or per session), plays in time order, indices
                in 1..n_tracks.
            n_tracks: Catalogue size; scores have n_tracks + 1 columns.
        """
        ...

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Score every track after each history.

        Args:
            histories: B index arrays of what the listener played before each prediction point,
                in time order; may be empty; indices in 1..n_tracks.

        Returns:
            Scores, (B, n_tracks + 1) float32, column 0 (padding) = -inf.
        """
        ...
