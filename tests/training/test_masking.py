from __future__ import annotations

import torch

from segue.columns import EventTypes
from segue.data.batch import SequenceBatch
from segue.training.masking import mask_for_bert4rec

MASK = 99
SKIP = EventTypes.index(EventTypes.SKIP)
PLAY = EventTypes.index(EventTypes.PLAY)


def histories() -> SequenceBatch:
    tracks = torch.tensor([[0, 0, 0, 0], [0, 0, 5, 6], [1, 2, 3, 4], [0, 7, 8, 9]])
    event_types = torch.where(tracks != 0, PLAY, 0)
    event_types[3, 3] = SKIP  # the last event of row 3 is a skip
    artists = (tracks % 3 + 1) * (tracks != 0)
    return SequenceBatch(tracks, artists=artists, event_types=event_types)


def test_targets_are_the_masked_tracks_and_the_rest_is_untouched() -> None:
    batch = histories()
    out = mask_for_bert4rec(batch, 0.5, MASK, torch.Generator().manual_seed(0))
    masked = out.tracks == MASK
    assert out.targets is not None
    assert torch.equal(out.targets[masked], batch.tracks[masked])
    assert (out.targets[~masked] == 0).all()
    assert torch.equal(out.tracks[~masked], batch.tracks[~masked])
    assert out.artists is not None and (out.artists[masked] == 0).all()


def test_every_row_with_an_eligible_position_has_a_mask_and_skips_are_never_masked() -> None:
    for seed in range(20):
        out = mask_for_bert4rec(histories(), 0.01, MASK, torch.Generator().manual_seed(seed))
        assert (out.tracks == MASK).sum(1).tolist()[0] == 0  # the empty row
        assert ((out.tracks == MASK).sum(1)[1:] >= 1).all()
        assert out.tracks[3, 3] == 9  # the skip
        assert (out.tracks[histories().tracks == 0] == 0).all()  # padding stays padding


def test_last_only_masks_the_last_eligible_position() -> None:
    out = mask_for_bert4rec(histories(), 0.9, MASK, last_only_prob=1.0)
    assert out.targets is not None
    assert out.targets.tolist() == [[0, 0, 0, 0], [0, 0, 0, 6], [0, 0, 0, 4], [0, 0, 8, 0]]


def test_mask_rate_is_about_mask_prob() -> None:
    tracks = torch.randint(1, 50, (200, 50))
    out = mask_for_bert4rec(
        SequenceBatch(tracks), 0.2, MASK, torch.Generator().manual_seed(0), last_only_prob=0.0
    )
    assert abs((out.tracks == MASK).float().mean().item() - 0.2) < 0.02
