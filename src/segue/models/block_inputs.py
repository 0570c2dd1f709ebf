"""What every transformer block reads besides the residual stream, computed once per forward.

The model builds one :class:`BlockInputs` per call and hands it to each block, so a block that
needs more (HSTU's relative position and time) reads it here instead of widening the model's
loop, and a block that needs less ignores it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

Rope = tuple[torch.Tensor, torch.Tensor] | None
"""Rotary ``(cos, sin)`` of the new tokens, each (B, 1, T, head_dim // 2), or None."""

PastKV = tuple[torch.Tensor, torch.Tensor] | None
"""One layer's cached keys and values, each (B, H, S, head_dim), or None."""


@dataclass
class BlockInputs:
    """The attention context of the T new tokens among K = S + T keys (S cached).

    Args:
        mask: True where a query may attend to a key, (B, 1, T, K); the queries are the last
            T keys.
        rope: Rotary angles of the queries' positions, or None.
        positions: Position of every key counted from its row's first real token, (B, K) int64.
        elapsed: Seconds from the row's first cached event to every key, (B, K) int64, or None
            when the block does not read time or the model has no gap input
            (:mod:`segue.models.elapsed_time`).
        shared: What one block computes from these inputs and every layer reuses in this
            forward pass (HSTU's pair indices), by a name of the block's choosing.
    """

    mask: torch.Tensor
    rope: Rope
    positions: torch.Tensor
    elapsed: torch.Tensor | None = None
    shared: dict[str, torch.Tensor] = field(default_factory=dict)
