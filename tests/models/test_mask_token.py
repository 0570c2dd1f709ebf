"""The [MASK] column a masked model predicts at."""

from __future__ import annotations

import torch

from segue.columns import EventTypes
from segue.data.batch import SequenceBatch
from segue.models.mask_token import append_mask_token

MASK = 99
PLAY = EventTypes.index(EventTypes.PLAY)


def histories() -> SequenceBatch:
    tracks = torch.tensor([[0, 0, 0, 0], [0, 0, 5, 6], [1, 2, 3, 4], [0, 7, 8, 9]])
    return SequenceBatch(tracks, event_types=torch.where(tracks != 0, PLAY, 0))


def test_append_mask_token_adds_a_column_with_empty_side_inputs() -> None:
    out = append_mask_token(histories(), MASK)
    assert out.tracks.shape == (4, 5)
    assert (out.tracks[:, -1] == MASK).all()
    assert out.event_types is not None and (out.event_types[:, -1] == 0).all()
    assert out.gap_buckets is None and out.artists is None and out.targets is None


def test_a_full_history_drops_its_oldest_event() -> None:
    trimmed = append_mask_token(histories(), MASK, max_len=4)
    assert trimmed.tracks.tolist() == [
        [0, 0, 0, MASK],
        [0, 5, 6, MASK],
        [2, 3, 4, MASK],
        [7, 8, 9, MASK],
    ]
    assert trimmed.event_types is not None and trimmed.event_types[2].tolist() == [PLAY] * 3 + [0]
