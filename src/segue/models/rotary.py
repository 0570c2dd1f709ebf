"""Rotary position embeddings (RoPE, Su et al. 2021) for per-sequence positions.

Unlike the usual RoPE cache indexed by column, the angles here come from a (B, T) tensor of
positions, because segue counts positions from each sequence's first real token: two rows of a
left-padded batch put position 0 in different columns.
"""

from __future__ import annotations

import torch


def rotary_angles(
    positions: torch.Tensor, head_dim: int, base: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosines and sines for :func:`apply_rotary`, computed once and shared by every layer.

    Args:
        positions: Position of each token, (B, T) int64.
        head_dim: Size of one attention head; must be even.
        base: Base of the geometric frequency ladder.

    Returns:
        ``(cos, sin)``, each (B, 1, T, head_dim // 2) float32, broadcasting over heads.
    """
    inv_freq = base ** (
        -torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim
    )  # (head_dim / 2,)
    angles = positions[:, None, :, None].float() * inv_freq  # (B, 1, T, head_dim / 2)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs of channels of queries or keys by their position's angles.

    Uses the "half split" pairing (channel i with channel i + head_dim / 2), which needs no
    strided gathers.

    Args:
        x: Queries or keys, (B, H, T, head_dim).
        cos: From :func:`rotary_angles`, (B, 1, T, head_dim / 2).
        sin: Same shape as ``cos``.

    Returns:
        The rotated tensor, (B, H, T, head_dim).
    """
    x1, x2 = x.chunk(2, dim=-1)  # (B, H, T, head_dim / 2) each
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).type_as(x)
