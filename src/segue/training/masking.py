"""BERT4Rec's masking transform (the [MASK] appended at inference is the model's own:
:func:`segue.models.mask_token.append_mask_token`).

Policy (BERT4Rec, Sun et al. 2019, with one change made explicit):

* Each eligible position is replaced by [MASK] with probability ``mask_prob``; its target is the
  original track. Eligible = a real token whose event type is not excluded (skips by default:
  a skipped play may be input but never a target, as in :class:`SequenceBatch`).
* With probability ``last_only_prob`` a sequence instead has only its last eligible position
  masked: exactly the inference task (predict what comes after the history), which BERT4Rec
  adds as extra training samples.
* Every sequence with an eligible position gets at least one mask; if the coin flips pick none,
  one eligible position is masked at random.
* Side inputs (artist, event type, gap bucket) are zeroed at masked positions: the artist would
  leak the answer, and at inference the appended [MASK] has no event yet.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from segue.columns import EventTypes
from segue.data.batch import SequenceBatch
from segue.side_inputs import SIDE_INPUTS

SKIP = EventTypes.index(EventTypes.SKIP)


def _zero_side_inputs(batch: SequenceBatch, where: torch.Tensor) -> dict[str, torch.Tensor]:
    side = {s.name: getattr(batch, s.name) for s in SIDE_INPUTS}
    return {name: ids.masked_fill(where, 0) for name, ids in side.items() if ids is not None}


def mask_for_bert4rec(
    batch: SequenceBatch,
    mask_prob: float,
    mask_token: int,
    generator: torch.Generator | None = None,
    last_only_prob: float = 0.1,
    excluded_event_types: tuple[int, ...] = (SKIP,),
) -> SequenceBatch:
    """Replace random tracks by [MASK] and make them the targets.

    Args:
        batch: Left-padded histories; its ``targets`` are ignored.
        mask_prob: Probability of masking each eligible position (BERT4Rec uses 0.2 on
            MovieLens).
        mask_token: Index of [MASK], ``ModelConfig.mask_token`` (n_tracks + 1).
        generator: Random generator, on the batch's device.
        last_only_prob: Probability that a sequence masks only its last eligible position.
        excluded_event_types: Event types never masked (used only when the batch has them).

    Returns:
        A new batch: masked tracks, zeroed side inputs there, ``targets`` = original track at
        masked positions and 0 elsewhere, (B, T).

    >>> b = SequenceBatch(torch.tensor([[0, 3, 4, 5]]))
    >>> out = mask_for_bert4rec(b, 0.0, mask_token=9, last_only_prob=1.0)
    >>> out.tracks.tolist(), out.targets.tolist()
    ([[0, 3, 4, 9]], [[0, 0, 0, 5]])
    """
    tracks = batch.tracks
    B, T = tracks.shape
    device = tracks.device
    eligible = tracks != 0  # (B, T)
    if batch.event_types is not None:
        for event_type in excluded_event_types:
            eligible &= batch.event_types != event_type
    has_eligible = eligible.any(dim=1)  # (B,)

    masked = eligible & (torch.rand(B, T, generator=generator, device=device) < mask_prob)

    # Last eligible position of each row: the largest column index among eligible ones.
    columns = torch.arange(T, device=device).expand(B, T)  # (B, T)
    last = torch.where(eligible, columns, -1).argmax(dim=1)  # (B,)
    last_only = torch.rand(B, generator=generator, device=device) < last_only_prob  # (B,)
    last_onehot = columns == last[:, None]  # (B, T)
    masked = torch.where(last_only[:, None], last_onehot & eligible, masked)

    # Guarantee one mask per row that can have one: a uniformly random eligible position.
    empty = has_eligible & ~masked.any(dim=1)  # (B,)
    scores = torch.rand(B, T, generator=generator, device=device).masked_fill(~eligible, -1.0)
    pick = columns == scores.argmax(dim=1, keepdim=True)  # (B, T)
    masked |= empty[:, None] & pick

    return replace(
        batch,
        tracks=tracks.masked_fill(masked, mask_token),
        targets=torch.where(masked, tracks, 0),
        **_zero_side_inputs(batch, masked),
    )
