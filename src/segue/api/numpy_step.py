"""A SASRec model's single-row encoding in numpy: the same arithmetic as
:meth:`TrackTransformer.forward_incremental` for one new event (a live session's step) or for
one row of events without padding (a single request's history, a session's first window), at a
fraction of its cost.

A session's step (:mod:`segue.api.session_state`) sends one token through each layer,
attending to the cached keys and values. At serving sizes (d_model 64, 2 layers) that is about
45 tiny operations, and torch spends ~10 us of dispatch on each: 0.65 ms a step, against 0.28
ms for the same operations on numpy arrays (measured 2026-12-06, one thread, a 100k-track
model with 10 cached events). A greedy playlist is one step per track, so the step is most
of a playlist's time once the int8 screen has made the catalogue scan cheap.

This is a second implementation of the block, so it is kept to what it can match exactly and
checked against the reference (``tests/api/test_numpy_step.py``: hidden states, keys and values
after many steps, side inputs on and off, sessions and playlists equal). :func:`numpy_step_for`
returns None, and the session keeps torch's path, for anything else: another block, rotary
positions (learned ones and none are matched), the masked objective, training mode, weights
off the CPU or not float32, a GELU other than the exact one.

The weights are numpy views of the model's parameters (no copies), so an in-place update of
the model reaches the step; one step object per model is kept (weakly) for all its sessions.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from scipy.special import erf
from torch import nn

from segue.data.batch import SequenceBatch
from segue.models.sasrec_block import SASRecBlock
from segue.models.transformer import KVCache, TrackTransformer
from segue.side_inputs import SIDE_INPUTS

_STEPS: weakref.WeakKeyDictionary[TrackTransformer, NumpyStep] = weakref.WeakKeyDictionary()


def numpy_step_for(model: TrackTransformer) -> NumpyStep | None:
    """The model's numpy step, or None when it cannot match the model.

    Built once per model and reused while it still reads the model's own memory; walking the
    model's parameters to check it again would cost as much as the step.
    """
    step = _STEPS.get(model)
    if step is not None and not model.training and step.current():
        return step
    if not _supported(model):
        return None
    step = _STEPS[model] = NumpyStep(model)
    return step


def _supported(model: TrackTransformer) -> bool:
    config = model.config
    if model.training or not model.supports_incremental or config.positions == "rotary":
        return False
    if not all(_plain_sasrec(block) for block in model.blocks):
        return False
    return all(p.device.type == "cpu" and p.dtype == torch.float32 for p in model.parameters())


def _plain_sasrec(block: nn.Module) -> bool:
    """A SASRec block whose feed-forward layer is Linear, exact GELU, Linear, Dropout."""
    if type(block) is not SASRecBlock:
        return False
    layers = [type(layer) for layer in block.mlp]
    gelu = block.mlp[1]
    exact = isinstance(gelu, nn.GELU) and gelu.approximate == "none"
    return exact and layers == [nn.Linear, nn.GELU, nn.Linear, nn.Dropout]


@dataclass(frozen=True)
class _LayerNorm:
    weight: np.ndarray
    bias: np.ndarray
    eps: float

    @classmethod
    def of(cls, norm: nn.LayerNorm) -> _LayerNorm:
        return cls(_array(norm.weight), _array(norm.bias), float(norm.eps))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Normalise one vector (D,)."""
        scale = 1.0 / x.size
        centred = x - x.sum() * scale  # ndarray.mean costs ~10 us of Python at this size
        variance = (centred @ centred) * scale  # biased, as torch's layer_norm
        return centred * (self.weight / np.sqrt(variance + self.eps)) + self.bias

    def rows(self, x: np.ndarray) -> np.ndarray:
        """Normalise each row of (T, D)."""
        centred = x - x.mean(axis=1, keepdims=True)
        variance = np.einsum("td,td->t", centred, centred)[:, None] / x.shape[1]
        return centred / np.sqrt(variance + self.eps) * self.weight + self.bias


@dataclass(frozen=True)
class _Linear:
    weight_t: np.ndarray  # (in, out): a transposed view of torch's (out, in)
    bias: np.ndarray

    @classmethod
    def of(cls, linear: nn.Linear) -> _Linear:
        return cls(_array(linear.weight).T, _array(linear.bias))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x @ self.weight_t + self.bias


@dataclass(frozen=True)
class _Block:
    ln_1: _LayerNorm
    qkv: _Linear
    proj: _Linear
    ln_2: _LayerNorm
    fc_1: _Linear
    fc_2: _Linear

    @classmethod
    def of(cls, block: SASRecBlock) -> _Block:
        return cls(
            _LayerNorm.of(block.ln_1),
            _Linear.of(block.attn.qkv),
            _Linear.of(block.attn.proj),
            _LayerNorm.of(block.ln_2),
            _Linear.of(cast(nn.Linear, block.mlp[0])),
            _Linear.of(cast(nn.Linear, block.mlp[2])),
        )


class NumpyStep:
    """:meth:`TrackTransformer.forward_incremental` for one row and one new event.

    Args:
        model: A model :func:`numpy_step_for` accepts.
    """

    def __init__(self, model: TrackTransformer) -> None:
        config = model.config
        self.max_len = config.max_len
        self.n_heads = config.n_heads
        self.d_model = config.d_model
        self.track_emb = _array(model.track_emb.weight)
        self.pos_emb = None if model.pos_emb is None else _array(model.pos_emb.weight)
        self.sides = [
            (side.name, _array(table.weight))
            for side in SIDE_INPUTS
            if (table := getattr(model, side.embedding)) is not None
        ]
        self.blocks = [_Block.of(block) for block in model.blocks]  # type: ignore[arg-type]
        self.ln_f = _LayerNorm.of(model.ln_f)
        # What would make the views stale: a parameter moved or converted (new storage), or a
        # layer swapped for another.
        self._storage = [(p, p.data_ptr()) for p in model.parameters()]
        self._layers = [(model.blocks, list(model.blocks))]
        self._layers += [(block.mlp, list(block.mlp)) for block in model.blocks]  # type: ignore

    def current(self) -> bool:
        """Whether the step still reads the model's parameters and layers."""
        if any(p.data_ptr() != pointer for p, pointer in self._storage):
            return False
        return all(
            len(holder) == len(layers) and all(a is b for a, b in zip(holder, layers))
            for holder, layers in self._layers
        )

    def step(self, event: SequenceBatch, cache: KVCache) -> tuple[torch.Tensor, KVCache]:
        """Encode one new event after the cached ones.

        Args:
            event: One row, one real event, (1, 1) tensors with the model's side inputs.
            cache: The row's cache, (1, H, S, hd) keys and values.

        Returns:
            The event's hidden state, (1, 1, D), and the cache extended by it, as
            ``forward_incremental`` returns them.
        """
        if event.tracks.shape != (1, 1) or not bool(event.padding_mask[0, 0]):
            raise ValueError(f"one real event of one row expected, got {tuple(event.tracks.shape)}")
        x = self.track_emb[int(event.tracks[0, 0])]  # (D,); summed in the model's order
        for name, table in self.sides:
            ids = getattr(event, name)
            if ids is None:
                raise ValueError(f"the model config uses {name} but the batch has none")
            x = x + table[int(ids[0, 0])]
        if self.pos_emb is not None:
            position = int(cache.n_real[0])
            if position >= self.max_len:
                raise ValueError(f"a sequence has more than max_len={self.max_len} real tokens")
            x = x + self.pos_emb[position]
        key_mask = torch.cat((cache.key_mask, event.padding_mask), dim=1)  # (1, S + 1)
        padding = ~key_mask.numpy()[0]  # the new event itself is always attended to
        keys, values = [], []
        for i, block in enumerate(self.blocks):
            x, k, v = self._block(block, x, cache.keys[i], cache.values[i], padding)
            keys.append(torch.from_numpy(k))
            values.append(torch.from_numpy(v))
        hidden = torch.from_numpy(self.ln_f(x)).reshape(1, 1, -1)
        return hidden, KVCache(keys, values, key_mask, cache.n_real + 1, cache.elapsed)

    def encode(self, events: SequenceBatch) -> tuple[torch.Tensor, KVCache]:
        """``forward_incremental(events, None)`` for one row of real events (no padding): the
        hidden state of every event, (1, T, D), and the cache they leave."""
        length = events.tracks.shape[1]
        if events.tracks.shape[0] != 1 or length == 0 or not bool(events.padding_mask.all()):
            raise ValueError(f"one row of real events expected, got {tuple(events.tracks.shape)}")
        x = self.track_emb[events.tracks[0].numpy()]  # (T, D); summed in the model's order
        for name, table in self.sides:
            ids = getattr(events, name)
            if ids is None:
                raise ValueError(f"the model config uses {name} but the batch has none")
            x = x + table[ids[0].numpy()]
        if self.pos_emb is not None:
            if length > self.max_len:
                raise ValueError(f"a sequence has more than max_len={self.max_len} real tokens")
            x = x + self.pos_emb[:length]  # positions 0..length-1: every event is real
        # (T, T): True above the diagonal, the later events each one may not see
        future = np.triu(np.ones((length, length), dtype=bool), k=1)
        keys, values = [], []
        for block in self.blocks:
            x, k, v = self._block_rows(block, x, future)
            keys.append(torch.from_numpy(k))
            values.append(torch.from_numpy(v))
        hidden = torch.from_numpy(self.ln_f.rows(x))[None]  # (1, T, D)
        key_mask = torch.ones(1, length, dtype=torch.bool)
        return hidden, KVCache(keys, values, key_mask, torch.tensor([length]), None)

    def _block_rows(
        self, block: _Block, x: np.ndarray, future: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`_block` for T events attending causally among themselves, (T, D); keys and
        values (1, H, T, hd)."""
        T, D, H = x.shape[0], self.d_model, self.n_heads
        head = D // H
        qkv = block.qkv(block.ln_1.rows(x))  # (T, 3 D)
        q, k, v = (
            qkv[:, i * D : (i + 1) * D].reshape(T, H, head).transpose(1, 0, 2) for i in range(3)
        )
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(head)  # (H, T, T)
        scores[:, future] = -np.inf
        weights = np.exp(scores - scores.max(axis=2, keepdims=True))
        weights /= weights.sum(axis=2, keepdims=True)
        attended = (weights @ v).transpose(1, 0, 2).reshape(T, D)  # (T, D)
        x = x + block.proj(attended)
        hidden = block.fc_1(block.ln_2.rows(x))
        keys = np.ascontiguousarray(k)[None]
        return x + block.fc_2(_gelu(hidden)), keys, np.ascontiguousarray(v)[None]

    def _block(
        self,
        block: _Block,
        x: np.ndarray,
        past_keys: torch.Tensor,
        past_values: torch.Tensor,
        padding: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``; the keys and values with the new
        event's, (1, H, S + 1, hd) each."""
        H, D = self.n_heads, self.d_model
        head = D // H
        qkv = block.qkv(block.ln_1(x))  # (3 D,)
        q, k, v = qkv[:D], qkv[D : 2 * D], qkv[2 * D :]
        keys = np.concatenate((past_keys.numpy(), k.reshape(1, H, 1, head)), axis=2)
        values = np.concatenate((past_values.numpy(), v.reshape(1, H, 1, head)), axis=2)
        scores = np.einsum("hsd,hd->hs", keys[0], q.reshape(H, head)) / math.sqrt(head)
        if padding.any():
            scores[:, padding] = -np.inf
        weights = np.exp(scores - scores.max(axis=1, keepdims=True))  # (H, S + 1)
        weights /= weights.sum(axis=1, keepdims=True)
        attended = np.einsum("hs,hsd->hd", weights, values[0]).reshape(D)
        x = x + block.proj(attended)
        hidden = block.fc_1(block.ln_2(x))
        return x + block.fc_2(_gelu(hidden)), keys, values


def _gelu(x: np.ndarray) -> np.ndarray:
    """The exact GELU, as ``nn.GELU()`` (the only one :func:`numpy_step_for` accepts)."""
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def _array(parameter: torch.Tensor) -> np.ndarray:
    """A numpy view of a CPU parameter's data: updates to the parameter show through."""
    return parameter.detach().numpy()
