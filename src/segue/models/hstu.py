"""An HSTU block (Zhai et al. 2024, "Actions Speak Louder than Words"), ``model.block=hstu``.

One layer replaces both attention and feed-forward::

    U, V, Q, K = split(SiLU(W_1 LayerNorm(x)))
    A          = SiLU(Q K^T + rab_pos + rab_time) * mask / n_attended      (pointwise, no softmax)
    x          = x + dropout(W_2 (LayerNorm(A V) * U))

Pointwise aggregated attention keeps the strength of a signal: with a softmax, one relevant
play among fifty weighs as much as fifty, with SiLU it weighs one fiftieth of them. The
relative biases are learned scalars per layer, shared by the heads as in the paper: one per
distance in positions, one per log-bucket of the time between the two events.

How this departs from the paper and its reference code:

* Time comes from the batch's gap buckets, not timestamps (segue's batches have none): the
  elapsed time is the sum of each bucket's representative duration
  (:mod:`segue.models.elapsed_time`), so the time bias is only as fine as the gap buckets. A
  model without the gap input (``use_gap_buckets: false``) has the position bias only.
* Attention is divided by the number of keys each query may attend to (itself, the real
  tokens before it, or all real tokens for the masked objective), not by the padded length, so
  outputs do not depend on left padding.
* The configured positions still apply: learned absolute positions are added to the tokens,
  and rotary positions rotate Q and K before the product, as in the softmax block.
* No separate feed-forward layer: ``d_ff`` is unused, as in the paper.
* Keys and values are cached like the softmax block's, so :meth:`forward_incremental` (the KV
  cache of live sessions) works; the cache also keeps each key's elapsed time.
* Plain PyTorch, no fused kernel: the (B, H, T, K) scores are materialised, and the pair
  indices of the biases are computed once per forward pass and shared by the layers. On CPU a
  forward pass costs about 3x the softmax block's (fused ``scaled_dot_product_attention``):
  2.0 s against 0.63 s for a (256, 200) batch, d_model 64, 2 layers, one thread.
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

N_TIME_BUCKETS = 64
"""Log-buckets of the time between two events; the last holds everything beyond ~5 years."""

TIME_BUCKET_WIDTH = 0.301
"""Width of a time bucket in log-seconds (the reference code's, a factor of 1.35)."""


def time_buckets(seconds: torch.Tensor) -> torch.Tensor:
    """Log-bucket of a time difference in seconds, of either sign; 0 for under 2 seconds.

    >>> time_buckets(torch.tensor([0, 1, 2, 60, -60, 10**10])).tolist()
    [0, 0, 2, 13, 13, 63]
    """
    log_seconds = seconds.abs().clamp_(min=1).float().log_()  # 0 for |dt| <= 1
    return log_seconds.div_(TIME_BUCKET_WIDTH).long().clamp_(max=N_TIME_BUCKETS - 1)


def pair_index(inputs: BlockInputs, T: int, max_distance: int) -> torch.Tensor:
    """Row of each query-key pair in the flattened (distance, time bucket) bias table, or in
    the distance table alone when there is no time, (B, T, K) int64.

    The same for every layer, so computed once per forward pass: on a (256, 200) batch these
    index sums cost as much as a layer's attention.
    """
    query_pos = inputs.positions[:, -T:, None]  # (B, T, 1)
    distance = (query_pos - inputs.positions[:, None, :]).clamp_(-max_distance, max_distance)
    distance += max_distance  # (B, T, K), in 0..2 * max_distance
    if inputs.elapsed is None:
        return distance
    dt = inputs.elapsed[:, -T:, None] - inputs.elapsed[:, None, :]  # (B, T, K) seconds
    return distance.mul_(N_TIME_BUCKETS).add_(time_buckets(dt))


class HSTUBlock(nn.Module):
    """One HSTU layer; same call and cache contract as :class:`SASRecBlock`."""

    reads_elapsed_time: ClassVar[bool] = True

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        D = config.d_model
        self.n_heads = config.n_heads
        self.max_distance = config.max_len - 1
        self.attn_dropout = config.attn_dropout
        self.ln_in = nn.LayerNorm(D)
        self.uvqk = nn.Linear(D, 4 * D)
        self.ln_attn = nn.LayerNorm(D)
        self.proj = nn.Linear(D, D)
        self.dropout = nn.Dropout(config.dropout)
        # One scalar per signed distance -max..max, and per time bucket.
        self.position_bias = nn.Embedding(2 * self.max_distance + 1, 1)
        self.time_bias = nn.Embedding(N_TIME_BUCKETS, 1)

    @staticmethod
    def n_weights(config: ModelConfig) -> int:
        """Weights of the block's matrices and its position-bias table (a lower bound: biases,
        norms and the time-bias table left out). The table grows with ``max_len`` alone, so
        without it a small file claiming ``max_len=1e9`` would allocate GBs before its refusal.
        """
        return 5 * config.d_model**2 + 2 * config.max_len - 1

    def relative_bias(self, inputs: BlockInputs, T: int) -> torch.Tensor:
        """Position (and time) bias of each query-key pair, (B, 1, T, K)."""
        if "hstu_pair_index" not in inputs.shared:
            inputs.shared["hstu_pair_index"] = pair_index(inputs, T, self.max_distance)
        table = self.position_bias.weight  # (2 * max_distance + 1, 1)
        if inputs.elapsed is not None:
            table = table + self.time_bias.weight.T  # (2 * max_distance + 1, N_TIME_BUCKETS)
        # One gather per layer instead of two, from a table of every sum of the two biases.
        bias = table.reshape(-1)[inputs.shared["hstu_pair_index"]]  # (B, T, K)
        return bias[:, None]  # (B, 1, T, K): shared by the heads

    @staticmethod
    def aggregation_weights(inputs: BlockInputs) -> torch.Tensor:
        """1 / (number of keys a query may attend to) where it may, else 0, (B, 1, T, K)."""
        if "hstu_scale" not in inputs.shared:
            allowed = inputs.mask.float()  # (B, 1, T, K)
            # Each query sees itself, so the count is at least 1.
            inputs.shared["hstu_scale"] = allowed / allowed.sum(dim=-1, keepdim=True)
        return inputs.shared["hstu_scale"]

    def forward(
        self, x: torch.Tensor, inputs: BlockInputs, past: PastKV = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        B, T, D = x.shape
        u, v, q, k = F.silu(self.uvqk(self.ln_in(x))).split(D, dim=-1)  # (B, T, D) each
        q, k, v = (t.view(B, T, self.n_heads, -1).transpose(1, 2) for t in (q, k, v))
        if inputs.rope is not None:  # rotate before caching: a cached key keeps its position
            q, k = apply_rotary(q, *inputs.rope), apply_rotary(k, *inputs.rope)  # (B, H, T, hd)
        if past is not None:
            k = torch.cat((past[0], k), dim=2)  # (B, H, K, hd)
            v = torch.cat((past[1], v), dim=2)
        scores = q @ k.transpose(-2, -1) + self.relative_bias(inputs, T)  # (B, H, T, K)
        weights = F.silu(scores) * self.aggregation_weights(inputs)  # (B, H, T, K)
        weights = F.dropout(weights, self.attn_dropout, self.training)
        y = (weights @ v).transpose(1, 2).reshape(B, T, D)  # (B, H, T, hd) -> (B, T, D)
        out = self.proj(self.ln_attn(y) * u)  # (B, T, D): gated by U
        return x + self.dropout(out), (k, v)
