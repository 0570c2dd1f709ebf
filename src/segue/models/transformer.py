"""SASRec / BERT4Rec as one small transformer over listening histories.

How this departs from the papers:

* Pre-LayerNorm blocks with a final LayerNorm (GPT-2), not SASRec's post-norm variant.
* Positions count from each sequence's first real token (``cumsum(mask) - 1``), not from the
  first column, so the output at a real position does not depend on how much left padding a
  row has, and a KV cache stays valid as events are appended.
* One class for both objectives: ``causal`` (SASRec) and ``masked`` (BERT4Rec) differ only in
  the attention mask; the [MASK] token is the last row of the track table.
* Output scores are dot products with the tied track-embedding table, with no per-item bias.
* Optional side inputs (artist, event type, time-gap bucket) are summed into the token.
* Every query may attend to itself, so rows and positions that are all padding give finite
  (meaningless) outputs instead of NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from segue.data.batch import SequenceBatch
from segue.models.config import ModelConfig
from segue.models.rotary import apply_rotary, rotary_angles

Rope = tuple[torch.Tensor, torch.Tensor] | None


@dataclass
class KVCache:
    """Keys and values of the positions already encoded, for :meth:`forward_incremental`.

    Args:
        keys: One tensor per layer, (B, H, S, head_dim), rotary already applied.
        values: One tensor per layer, (B, H, S, head_dim).
        key_mask: True where the cached position is a real token, (B, S).
        n_real: Number of real tokens seen so far per row, (B,); the next token's position.
    """

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    key_mask: torch.Tensor
    n_real: torch.Tensor


class SelfAttention(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.attn_dropout = config.attn_dropout
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(
        self,
        x: torch.Tensor,
        attn_mask: torch.Tensor,
        rope: Rope,
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=-1)  # (B, T, D) each
        q, k, v = (t.view(B, T, self.n_heads, -1).transpose(1, 2) for t in (q, k, v))
        if rope is not None:  # rotate before caching: a cached key keeps its position
            q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)  # (B, H, T, hd)
        if past is not None:
            k = torch.cat((past[0], k), dim=2)  # (B, H, S + T, hd)
            v = torch.cat((past[1], v), dim=2)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.attn_dropout if self.training else 0.0
        )  # (B, H, T, hd)
        y = y.transpose(1, 2).reshape(B, T, D)  # (B, T, D)
        return self.resid_dropout(self.proj(y)), (k, v)


class Block(nn.Module):
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

    def forward(
        self,
        x: torch.Tensor,
        attn_mask: torch.Tensor,
        rope: Rope,
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        a, kv = self.attn(self.ln_1(x), attn_mask, rope, past)
        x = x + a
        x = x + self.mlp(self.ln_2(x))
        return x, kv


class TrackTransformer(nn.Module):
    """Next-track (causal) or masked-track transformer over a :class:`SequenceBatch`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        D = config.d_model
        # Row 0 is padding, rows 1..n_tracks the catalogue, the last row the [MASK] token.
        self.track_emb = nn.Embedding(config.n_tracks + 2, D, padding_idx=0)
        self.artist_emb = (
            nn.Embedding(config.n_artists + 1, D, padding_idx=0) if config.n_artists else None
        )
        self.event_emb = (
            nn.Embedding(config.n_event_types, D, padding_idx=0) if config.use_event_types else None
        )
        self.gap_emb = (
            nn.Embedding(config.n_gap_buckets, D, padding_idx=0) if config.use_gap_buckets else None
        )
        self.pos_emb = nn.Embedding(config.max_len, D) if config.positions == "learned" else None
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(D)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Deterministic init from ``config.seed``: N(0, 0.02) weights and embeddings (GPT-2 /
        BERT), zero biases, unit norms, zero padding rows. Independent of the global RNG."""
        gen = torch.Generator().manual_seed(self.config.seed)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                # Draw on CPU with our generator, then copy: works whatever the device.
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * 0.02)
                if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                    module.weight[module.padding_idx].zero_()
                if isinstance(module, nn.Linear) and module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()

    # ----------------------------------------------------------------------------------------
    # Encoding

    def _embed(
        self, batch: SequenceBatch, positions: torch.Tensor, incremental: bool
    ) -> torch.Tensor:
        x = self.track_emb(batch.tracks)  # (B, T, D)
        side = (
            (self.artist_emb, batch.artists, "artists"),
            (self.event_emb, batch.event_types, "event_types"),
            (self.gap_emb, batch.gap_buckets, "gap_buckets"),
        )
        for table, ids, name in side:
            if table is None:
                continue
            if ids is None:
                raise ValueError(f"the model config uses {name} but the batch has none")
            x = x + table(ids)  # (B, T, D)
        if self.pos_emb is not None:
            # Check only when the shape allows overflow: the check syncs with the GPU.
            may_overflow = incremental or positions.shape[1] > self.config.max_len
            if may_overflow and int(positions.max()) >= self.config.max_len:
                raise ValueError(
                    f"a sequence has more than max_len={self.config.max_len} real tokens"
                )
            x = x + self.pos_emb(positions)  # (B, T, D)
        return self.drop(x)

    def _attention_mask(self, query_real: torch.Tensor, key_real: torch.Tensor) -> torch.Tensor:
        """Boolean mask, True = may attend, (B, 1, T, S + T); queries are the last T keys."""
        T, K = query_real.shape[1], key_real.shape[1]
        key_idx = torch.arange(K, device=key_real.device)  # (K,)
        query_idx = torch.arange(K - T, K, device=key_real.device)  # (T,)
        allowed = key_real[:, None, :]  # (B, 1, K): never attend to padding
        if self.config.objective == "causal":
            allowed = allowed & (key_idx[None, :] <= query_idx[:, None])  # (B, T, K)
        # Each query sees itself, so an all-padding row has one key and no NaN softmax.
        allowed = allowed | (key_idx[None, :] == query_idx[:, None])  # (B, T, K)
        return allowed[:, None]  # (B, 1, T, K)

    def _encode(self, batch: SequenceBatch, cache: KVCache | None) -> tuple[torch.Tensor, KVCache]:
        real = batch.padding_mask  # (B, T)
        B = real.shape[0]
        n_past = (
            torch.zeros(B, dtype=torch.long, device=real.device) if cache is None else cache.n_real
        )
        positions = (n_past[:, None] + real.cumsum(1) - 1).clamp(min=0)  # (B, T)
        key_real = real if cache is None else torch.cat((cache.key_mask, real), dim=1)
        attn_mask = self._attention_mask(real, key_real)  # (B, 1, T, S + T)
        rope = (
            rotary_angles(positions, self.config.head_dim, self.config.rotary_base)
            if self.config.positions == "rotary"
            else None
        )
        x = self._embed(batch, positions, incremental=cache is not None)  # (B, T, D)
        keys, values = [], []
        for i, block in enumerate(self.blocks):
            past = None if cache is None else (cache.keys[i], cache.values[i])
            x, (k, v) = block(x, attn_mask, rope, past)
            keys.append(k)
            values.append(v)
        new_cache = KVCache(keys, values, key_real, n_past + real.sum(1))
        return self.ln_f(x), new_cache  # (B, T, D)

    def forward(self, batch: SequenceBatch) -> torch.Tensor:
        """Hidden state at every position, (B, T, D)."""
        return self._encode(batch, cache=None)[0]

    def last_hidden(self, batch: SequenceBatch) -> torch.Tensor:
        """Hidden state at the last column, which left padding makes the last real token, (B, D).

        For the masked objective, first append a [MASK] token with
        :func:`segue.training.masking.append_mask_token`.
        """
        return self(batch)[:, -1]

    def forward_incremental(
        self, batch_step: SequenceBatch, cache: KVCache | None = None
    ) -> tuple[torch.Tensor, KVCache]:
        """Encode new events appended to earlier ones, reusing their cached keys and values.

        Equal to re-encoding the whole history (eval mode, causal objective). Rows of
        ``batch_step`` may be left-padded when they got fewer new events than others.

        Args:
            batch_step: The new events, (B, t) tensors.
            cache: What an earlier call returned for the same B rows; None to start.

        Returns:
            Hidden states of the new events, (B, t, D), and the cache extended by them.
        """
        if self.config.objective != "causal":
            raise ValueError("incremental encoding needs the causal objective")
        if cache is not None and cache.key_mask.shape[0] != batch_step.tracks.shape[0]:
            raise ValueError(
                f"cache has {cache.key_mask.shape[0]} rows, batch has {len(batch_step)}"
            )
        return self._encode(batch_step, cache)

    # ----------------------------------------------------------------------------------------
    # Scoring

    def catalogue_embeddings(self) -> torch.Tensor:
        """Output embeddings of the padding row and the catalogue, (n_tracks + 1, D), a view."""
        return self.track_emb.weight[: self.config.n_tracks + 1]

    def score(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits over the catalogue, (..., n_tracks + 1); column 0 (padding) is -inf, so an
        argmax is directly a track index."""
        logits = hidden @ self.catalogue_embeddings().T  # (..., n_tracks + 1)
        logits[..., 0] = float("-inf")  # in place: matmul's backward does not need its output
        return logits
