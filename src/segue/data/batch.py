"""The batch handed to the model: a small dataclass of aligned (B, T) tensors."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch


@dataclass
class SequenceBatch:
    """Left-padded track sequences with per-position side inputs.

    Index 0 means padding in every tensor. All tensors are int64 of shape (B, T) and aligned:
    position ``t`` of every tensor describes the same event.

    Args:
        tracks: Track indices from the vocabulary, (B, T).
        artists: Artist indices (0 = padding or unknown), (B, T), or None when not used.
        event_types: :class:`segue.columns.EventTypes` indices, (B, T), or None.
        gap_buckets: :func:`segue.data.features.gap_buckets` values, (B, T), or None.
        targets: For training, the index of the track to predict at each position (the next
            track for a causal model, the hidden track for a masked one); 0 where a position has
            no target (padding, or a skipped play, which may be input but never a target).
    """

    tracks: torch.Tensor
    artists: torch.Tensor | None = None
    event_types: torch.Tensor | None = None
    gap_buckets: torch.Tensor | None = None
    targets: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.tracks.dim() != 2:
            raise ValueError(f"tracks must be (B, T), got shape {tuple(self.tracks.shape)}")
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and value.shape != self.tracks.shape:
                raise ValueError(
                    f"{f.name} has shape {tuple(value.shape)} but tracks has "
                    f"{tuple(self.tracks.shape)}"
                )

    @property
    def padding_mask(self) -> torch.Tensor:
        """True at real (non-padding) positions, (B, T)."""
        return self.tracks != 0

    def to(self, device: torch.device | str) -> SequenceBatch:
        moved = {
            f.name: getattr(self, f.name).to(device)
            for f in fields(self)
            if getattr(self, f.name) is not None
        }
        return replace(self, **moved)

    def __len__(self) -> int:
        return self.tracks.shape[0]
