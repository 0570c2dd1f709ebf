"""The [MASK] column a masked (BERT4Rec) model predicts at, appended at inference.

A model concern rather than a training one: :meth:`TrackTransformer.next_hidden` appends it, so
evaluation, serving and export ask the model for its next-track state without knowing which
objective it was trained with.
"""

from __future__ import annotations

import torch

from segue.data.batch import SequenceBatch
from segue.side_inputs import SIDE_INPUTS


def append_mask_token(
    batch: SequenceBatch, mask_token: int, max_len: int | None = None
) -> SequenceBatch:
    """Append one [MASK] column, the position a masked model predicts at inference.

    Side inputs of the new column are 0 (unknown), as at masked training positions.

    Args:
        batch: Left-padded histories, (B, T).
        mask_token: Index of [MASK], ``ModelConfig.mask_token``.
        max_len: If given, keep only the last ``max_len`` columns, dropping the oldest event
            when the history was already full.

    Returns:
        A batch of (B, T + 1) tensors (or (B, max_len)); ``targets`` is None.

    >>> append_mask_token(SequenceBatch(torch.tensor([[0, 3, 4]])), 9, max_len=3).tracks.tolist()
    [[3, 4, 9]]
    """

    def extend(ids: torch.Tensor, value: int) -> torch.Tensor:
        column = torch.full_like(ids[:, :1], value)  # (B, 1)
        out = torch.cat((ids, column), dim=1)  # (B, T + 1)
        return out if max_len is None else out[:, -max_len:]

    side = {
        s.name: extend(ids, 0) for s in SIDE_INPUTS if (ids := getattr(batch, s.name)) is not None
    }
    return SequenceBatch(tracks=extend(batch.tracks, mask_token), **side)
