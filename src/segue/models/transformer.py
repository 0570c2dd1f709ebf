"""SASRec / BERT4Rec / HSTU as one small transformer over listening histories.

The model owns its objective: :meth:`TrackTransformer.next_hidden` gives the state that predicts
the next track for causal and masked models alike, so no caller tests ``config.objective``.
The block is chosen by ``config.block`` through one factory (:mod:`segue.models.blocks`).

How this departs from the papers:

* Pre-LayerNorm blocks with a final LayerNorm (GPT-2), not SASRec's post-norm variant
  (:mod:`segue.models.sasrec_block`; HSTU's own departures are in :mod:`segue.models.hstu`).
* Positions count from each sequence's first real token (``cumsum(mask) - 1``), not from the
  first column, so the output at a real position does not depend on how much left padding a
  row has, and a KV cache stays valid as events are appended.
* One class for both objectives: ``causal`` (SASRec) and ``masked`` (BERT4Rec) differ only in
  the attention mask; the [MASK] token is the last row of the track table.
* Output scores are dot products with the tied track-embedding table, with no per-item bias.
* Optional side inputs (:data:`segue.side_inputs.SIDE_INPUTS`: artist, event type, time-gap
  bucket) are summed into the token.
* Every query may attend to itself, so rows and positions that are all padding give finite
  (meaningless) outputs instead of NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from segue.data.batch import SequenceBatch
from segue.models.block_inputs import BlockInputs
from segue.models.blocks import block_class, build_blocks
from segue.models.config import ModelConfig
from segue.models.elapsed_time import elapsed_seconds
from segue.models.history_prior import (
    HistoryPrior,
    PriorEntries,
    add_to_scores,
    merge_entries,
)
from segue.models.mask_token import append_mask_token
from segue.models.rotary import rotary_angles
from segue.models.transition_blend import TransitionBlend
from segue.side_inputs import SIDE_INPUTS


@dataclass
class KVCache:
    """Keys and values of the positions already encoded, for :meth:`forward_incremental`.

    Args:
        keys: One tensor per layer, (B, H, S, head_dim), rotary already applied.
        values: One tensor per layer, (B, H, S, head_dim).
        key_mask: True where the cached position is a real token, (B, S).
        n_real: Number of real tokens seen so far per row, (B,); the next token's position.
        elapsed: Seconds from the first cached event to each cached one, (B, S) int64, for
            blocks that read time; None otherwise.
    """

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    key_mask: torch.Tensor
    n_real: torch.Tensor
    elapsed: torch.Tensor | None = None


class TrackTransformer(nn.Module):
    """Next-track (causal) or masked-track transformer over a :class:`SequenceBatch`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        D = config.d_model
        # Row 0 is padding, rows 1..n_tracks the catalogue, the last row the [MASK] token.
        self.track_emb = nn.Embedding(config.n_tracks + 2, D, padding_idx=0)
        for side in SIDE_INPUTS:  # artist_emb, event_emb, gap_emb: None when off
            enabled = side.enabled(config)
            table = nn.Embedding(side.n_rows(config), D, padding_idx=0) if enabled else None
            setattr(self, side.embedding, table)
        self.pos_emb = nn.Embedding(config.max_len, D) if config.positions == "learned" else None
        self.drop = nn.Dropout(config.dropout)
        self.blocks = build_blocks(config)
        # Only time-aware blocks pay for the elapsed-time sums (and export them to ONNX).
        self._reads_time = block_class(config.block).reads_elapsed_time
        self.ln_f = nn.LayerNorm(D)
        self.prior = (
            HistoryPrior(
                D,
                config.n_tracks,
                config.prior_window,
                config.prior_successors,
                config.prior_decay,
                plays=config.prior_plays,
                chain=config.prior_chain,
                chain_rule=config.prior_chain_rule,
                plays_outside_chain=config.prior_plays_outside_chain,
                combine=config.prior_combine,
                album=config.prior_album,
                album_tracks=config.prior_album_tracks,
                album_fresh=config.prior_album_fresh,
                artist=config.prior_artist,
                artist_tracks=config.prior_artist_tracks,
                album_entry=config.prior_album_entry,
                album_run=config.prior_album_run,
            )
            if config.history_prior
            else None
        )
        self.blend = (  # set after training, not learned: buffers only
            TransitionBlend(
                config.n_tracks,
                config.blend_successors,
                config.blend_weight,
                config.blend_cooccurrence,
                config.blend_neighbours,
                config.blend_history,
                config.blend_decay,
            )
            if config.has_blend
            else None
        )
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
        if self.prior is not None:
            self.prior.reset_bias(self.config.n_tracks)

    # ----------------------------------------------------------------------------------------
    # Encoding

    def _embed(
        self, batch: SequenceBatch, positions: torch.Tensor, incremental: bool
    ) -> torch.Tensor:
        x = self.track_emb(batch.tracks)  # (B, T, D)
        for side in SIDE_INPUTS:
            table, ids = getattr(self, side.embedding), getattr(batch, side.name)
            if table is None:
                continue
            if ids is None:
                raise ValueError(f"the model config uses {side.name} but the batch has none")
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
        key_positions = (key_real.cumsum(1) - 1).clamp(min=0)  # (B, S + T); new ones last
        inputs = BlockInputs(
            mask=self._attention_mask(real, key_real),  # (B, 1, T, S + T)
            rope=(
                rotary_angles(positions, self.config.head_dim, self.config.rotary_base)
                if self.config.positions == "rotary"
                else None
            ),
            positions=key_positions,
            elapsed=self._elapsed(batch, cache),  # (B, S + T) or None
        )
        x = self._embed(batch, positions, incremental=cache is not None)  # (B, T, D)
        keys, values = [], []
        for i, block in enumerate(self.blocks):
            past = None if cache is None else (cache.keys[i], cache.values[i])
            x, (k, v) = block(x, inputs, past)
            keys.append(k)
            values.append(v)
        new_cache = KVCache(keys, values, key_real, n_past + real.sum(1), inputs.elapsed)
        return self.ln_f(x), new_cache  # (B, T, D)

    def _elapsed(self, batch: SequenceBatch, cache: KVCache | None) -> torch.Tensor | None:
        """Seconds from the first cached event to every key, (B, S + T), for time-aware blocks
        of a model with the gap input; None otherwise."""
        if not self._reads_time or batch.gap_buckets is None:
            return None
        if cache is None or cache.elapsed is None:
            return elapsed_seconds(batch.gap_buckets)  # (B, T)
        # Left padding in the step adds no time, so the last cached column is the row's clock.
        new = elapsed_seconds(batch.gap_buckets, start=cache.elapsed[:, -1:])  # (B, T)
        return torch.cat((cache.elapsed, new), dim=1)  # (B, S + T)

    def forward(self, batch: SequenceBatch) -> torch.Tensor:
        """Hidden state at every position, (B, T, D)."""
        return self._encode(batch, cache=None)[0]

    def last_hidden(self, batch: SequenceBatch) -> torch.Tensor:
        """Hidden state at the last column, which left padding makes the last real token, (B, D).

        The state that predicts the next track only for the causal objective; use
        :meth:`next_hidden` unless the batch is already prepared for the model's objective.
        """
        return self(batch)[:, -1]

    def next_hidden(self, batch: SequenceBatch) -> torch.Tensor:
        """The state that predicts the track after each row's history, (B, D), any objective.

        A causal model reads its output at the last event. A masked model predicts at a [MASK]
        token, which this appends (side inputs 0), dropping the oldest event of a history
        already ``max_len`` long, so a masked model reads ``max_len - 1`` events.

        Args:
            batch: Left-padded histories, (B, T), T <= max_len.
        """
        if self.config.objective == "masked":
            batch = append_mask_token(batch, self.config.mask_token, self.config.max_len)
        return self.last_hidden(batch)

    @property
    def history_length(self) -> int:
        """The most recent events :meth:`next_hidden` reads: ``max_len``, less the [MASK]
        column of a masked model."""
        return self.config.max_len - (self.config.objective == "masked")

    @property
    def supports_incremental(self) -> bool:
        """Whether :meth:`forward_incremental` works: earlier outputs never depend on later
        events (causal), so cached keys and values stay valid as events are appended."""
        return self.config.objective == "causal"

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
        if not self.supports_incremental:
            raise ValueError(
                "incremental encoding needs the causal objective (a masked model attends to "
                "later events, so cached keys go stale): re-encode with next_hidden instead"
            )
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

    def output_rows(self, items: torch.Tensor) -> torch.Tensor:
        """Output embeddings of track indices, ``items.shape + (D,)`` float: what
        :meth:`score` multiplies (dequantized rows in an int8 copy of the model)."""
        return self.track_emb(items).float()

    def score(self, hidden: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        """Logits over the catalogue, (..., n_tracks + 1); column 0 (padding) is -inf, so an
        argmax is directly a track index.

        Args:
            hidden: Hidden states, (..., D); (B, D) when the model has a history prior or a
                transition blend.
            history: The left-padded tracks the states were computed from, (B, T); needed by
                (and only by) a model with a history prior or a transition blend, which add
                their terms at the last column (:mod:`segue.models.history_prior`,
                :mod:`segue.models.transition_blend`).
        """
        logits = self._dot_scores(hidden)
        if self.prior is not None:
            add_to_scores(logits, self.prior_entries(hidden, history))
        if self.blend is not None:
            add_to_scores(logits, self.blend.entries(logits, self.checked_history(hidden, history)))
        return logits

    def score_terms(self, hidden: torch.Tensor, history: torch.Tensor) -> PriorEntries | None:
        """The sparse terms :meth:`score` adds to the dot products, for last hidden states
        (B, D) after histories (B, T): the history prior's and the transition blend's,
        coalesced; None for a model with neither.

        A blend reads the dense scores (its normaliser), so a model with one computes them here
        once: the serving paths that score candidates only (:mod:`segue.api.queries`) still add
        exactly what :meth:`score` adds.
        """
        prior = self.prior_entries(hidden, history) if self.prior is not None else None
        if self.blend is None:
            return prior
        dense = self._dot_scores(hidden)
        if prior is not None:
            add_to_scores(dense, prior)
        blend = self.blend.entries(dense, self.checked_history(hidden, history))
        return blend if prior is None else merge_entries(prior, blend)

    def _dot_scores(self, hidden: torch.Tensor) -> torch.Tensor:
        """``h . e_j`` over the catalogue, (..., n_tracks + 1), column 0 (padding) -inf."""
        logits = hidden @ self.catalogue_embeddings().T
        logits[..., 0] = float("-inf")  # in place: matmul's backward does not need its output
        return logits

    def checked_history(self, hidden: torch.Tensor, history: torch.Tensor | None) -> torch.Tensor:
        """``history`` checked against the (B, D) states it must accompany."""
        if history is None or history.dim() != 2 or history.shape[0] != hidden.shape[0]:
            raise ValueError(
                "a model with a history prior or a transition blend scores from its histories: "
                "pass score(hidden, history) with the (B, T) left-padded tracks the hidden "
                "states came from"
            )
        return history

    def prior_entries(self, hidden: torch.Tensor, history: torch.Tensor | None) -> PriorEntries:
        """The history prior's terms after each history (B, T), for last hidden states (B, D)."""
        if self.prior is None:
            raise ValueError("this model has no history prior (history_prior=false)")
        history = self.checked_history(hidden, history)
        queries = torch.zeros_like(history, dtype=torch.bool)
        queries[:, -1] = history[:, -1] > 0  # (B, T): the last column, for non-empty rows
        entries = self.prior.entries(
            history, queries, hidden[queries[:, -1]], output_rows=self.output_rows
        )
        # Entries are numbered over non-empty rows; map them back to batch rows.
        entries.rows = queries[:, -1].nonzero()[:, 0][entries.rows]
        return entries
