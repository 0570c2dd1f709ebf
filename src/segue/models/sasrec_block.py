"""The SASRec / BERT4Rec block: pre-LayerNorm softmax self-attention and a feed-forward layer.

GPT-2's pre-norm layout rather than SASRec's post-norm: the residual stream is never normalised,
which trains without warm-up tricks at any depth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from segue.models.block_inputs import BlockInputs, PastKV
from segue.models.rotary import apply_rotary

if TYPE_CHECKING:  # config.py imports the blocks to check ModelConfig.block
    from segue.models.config import ModelConfig


class SelfAttention(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.attn_dropout = config.attn_dropout
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, inputs: BlockInputs, past: PastKV = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=-1)  # (B, T, D) each
        q, k, v = (t.view(B, T, self.n_heads, -1).transpose(1, 2) for t in (q, k, v))
        if inputs.rope is not None:  # rotate before caching: a cached key keeps its position
            q, k = apply_rotary(q, *inputs.rope), apply_rotary(k, *inputs.rope)  # (B, H, T, hd)
        if past is not None:
            k = torch.cat((past[0], k), dim=2)  # (B, H, S + T, hd)
            v = torch.cat((past[1], v), dim=2)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=inputs.mask, dropout_p=self.attn_dropout if self.training else 0.0
        )  # (B, H, T, hd)
        y = y.transpose(1, 2).reshape(B, T, D)  # (B, T, D)
        return self.resid_dropout(self.proj(y)), (k, v)


class SASRecBlock(nn.Module):
    """``x + attn(ln(x))``, then ``x + mlp(ln(x))``; returns the new stream and this layer's
    keys and values (cached ones included) for a :class:`segue.models.transformer.KVCache`."""

    reads_elapsed_time: ClassVar[bool] = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model)
        self.attn = SelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(config.d_model, config.ff_dim),
            nn.GELU(),
            nn.Linear(config.ff_dim, config.d_model),
            nn.Dropout(config.dropout),
        )

    @staticmethod
    def n_weights(config: ModelConfig) -> int:
        """Weights of the block's matrices, biases and norms left out (a lower bound)."""
        return 4 * config.d_model**2 + 2 * config.d_model * config.ff_dim

    def forward(
        self, x: torch.Tensor, inputs: BlockInputs, past: PastKV = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        a, kv = self.attn(self.ln_1(x), inputs, past)
        x = x + a
        x = x + self.mlp(self.ln_2(x))
        return x, kv
