"""The int8 artefact: a quantized model, its config and vocabulary in one ``weights_only`` file.

Layout (``torch.save`` of plain containers, like :mod:`segue.io.checkpoint`):
``{"format": "segue-int8", "version": 3, "model_config": dict, "vocab": {name: uint8 tensor},
"tensors": state_dict, "sha256": str}`` where the vocabulary is packed by
:func:`segue.compress.packed_vocab.pack_vocab` (version 1 stored it as lists, and still loads;
versions 1 and 2 have no checksum) and the state dict of
:func:`segue.compress.int8.quantize_model`'s output holds int8 ``values`` with float32
``scales`` for the embedding tables and Linear layers, and float32 for the rest.
Loading builds the model's modules for a one-track catalogue and assigns the stored tensors, so
a float track table is never allocated, not even for a moment; ``mmap=True`` maps the file
instead of reading it (pages come in as they are touched).

Loading checks the file as :func:`segue.io.checkpoint.load_checkpoint` does, before the
model is built (:mod:`segue.io.safe_load`): keys and types, the config against the stored
tensors' shapes and dtypes, the checksum, finite float tensors, and the packed vocabulary's
sizes (decompressed with a cap, so a small file cannot inflate into gigabytes). Any problem is a
:class:`~segue.io.safe_load.CheckpointError` naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from segue.compress.int8 import (
    Int8Embedding,
    Int8Rows,
    int8_scores,
    quantize_model,
    set_track_table,
)
from segue.compress.packed_vocab import PackedVocab, check_packed_vocab, pack_vocab
from segue.data.vocab import TrackVocab
from segue.io.atomic_write import atomic_write
from segue.io.checkpoint import load_checkpoint
from segue.io.safe_load import (
    CheckpointError,
    check_digest,
    check_finite,
    check_header,
    check_weights,
    content_digest,
    file_path,
    model_config_of,
    read_payload,
    stored_sha256,
    tensor_dict,
    vocab_of,
)
from segue.models.config import ModelConfig
from segue.models.transformer import TrackTransformer

FORMAT = "segue-int8"
VERSION = 3

_V1_KEYS = {"format", "version", "model_config", "vocab", "tensors"}
KEYS = {1: _V1_KEYS, 2: _V1_KEYS, 3: _V1_KEYS | {"sha256"}}
"""The keys of each readable version's payload: exactly these, no more."""


@dataclass
class Int8Artefact:
    """A loaded int8 artefact.

    Args:
        model: The quantized model (from :func:`quantize_model`), eval mode, on the CPU.
        lookup: Its vocabulary as numpy arrays (encode / decode / artist index), for serving.
    """

    model: TrackTransformer
    lookup: PackedVocab

    @property
    def vocab(self) -> TrackVocab:
        """The full vocabulary as a :class:`TrackVocab` (built on each call: Python lists)."""
        return self.lookup.to_vocab()

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    def score(self, hidden: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        """Scores over the catalogue, (B, n_tracks + 1), column 0 -inf; ``hidden`` is (B, D)
        and ``history`` the (B, T) tracks it came from, needed by a model with a history prior
        (see :func:`segue.compress.int8.int8_scores`)."""
        return int8_scores(self.model, hidden, history)


def save_int8(model: TrackTransformer, vocab: TrackVocab, path: str | Path) -> Path:
    """Write a quantized ``model`` and ``vocab`` to ``path`` atomically; returns the path.

    Args:
        model: A model from :func:`quantize_model` (a float model is quantized first).
        vocab: Its vocabulary.
        path: The file to write (conventionally ``*.int8.pt``).
    """
    table: torch.nn.Module = model.track_emb
    if not isinstance(table, Int8Embedding):
        model = quantize_model(model)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    packed, config = pack_vocab(vocab), model.config.to_dict()
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model_config": config,
        "vocab": packed,
        "tensors": tensors,
        "sha256": content_digest(_covered(tensors, packed), {"model_config": config}),
    }
    return atomic_write(path, lambda f: torch.save(payload, f))


def load_int8(path: str | Path, mmap: bool = True) -> Int8Artefact:
    """Read an artefact written by :func:`save_int8` (``weights_only=True``).

    Args:
        path: The artefact file.
        mmap: Map the file rather than read it into memory.

    Raises:
        FileNotFoundError: If there is no file at ``path``.
        CheckpointError: For anything wrong with the file, naming it and the problem.
    """
    path = file_path(path, "segue int8 artefact")
    return int8_from_payload(path, read_payload(path, "segue int8 artefact", mmap=mmap))


def int8_from_payload(path: Path, payload: dict[str, Any]) -> Int8Artefact:
    """:func:`load_int8` of a payload already read by :func:`read_payload`, for readers that
    look at its ``format`` first (:meth:`segue.Recommender.load`): the file is read once.

    Raises:
        CheckpointError: For anything wrong with the payload, naming the file and the problem.
    """
    version = check_header(path, payload, FORMAT, KEYS, "segue int8 artefact")
    config = model_config_of(path, payload["model_config"])
    tensors = tensor_dict(path, "tensors", payload["tensors"])
    check_weights(path, config, tensors, _template)
    if version == 1:  # lists, as TrackVocab.to_dict() writes them
        listed = vocab_of(path, payload["vocab"], config)
        try:
            vocab = pack_vocab(listed)
        except ValueError as error:  # an id over MAX_ID_BYTES, or with a NUL
            raise CheckpointError(path, str(error)) from None
    else:
        vocab = tensor_dict(path, "vocab", payload["vocab"])
        if version >= 3:
            plain = {"model_config": payload["model_config"]}
            check_digest(
                path, stored_sha256(path, payload["sha256"]), _covered(tensors, vocab), plain
            )
        try:
            check_packed_vocab(vocab, config.n_tracks, config.n_artists)
        except ValueError as error:
            raise CheckpointError(path, str(error)) from None
    check_finite(path, tensors)
    model = _skeleton(config)
    rows = Int8Rows(tensors["track_emb.values"], tensors["track_emb.scales"])
    set_track_table(model, Int8Embedding(rows))
    model.load_state_dict(tensors, assign=True)  # assign: use the loaded tensors, no copies
    return Int8Artefact(model.eval(), PackedVocab(vocab))


def _covered(
    tensors: dict[str, torch.Tensor], vocab: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """What the checksum covers: the weights and the packed vocabulary."""
    return {**tensors, **{f"vocab/{k}": v for k, v in vocab.items()}}


def _template(config: ModelConfig) -> TrackTransformer:
    """The quantized model ``config`` describes (built on ``meta`` by the checks: shapes only)."""
    return quantize_model(TrackTransformer(config))


def _skeleton(config: ModelConfig) -> TrackTransformer:
    """The quantized model's modules, without ever allocating a float track table.

    ``TrackTransformer.__init__`` draws initial weights for the whole track table, and at 1M
    tracks that transient 256 MB stays in the process's heap. So the skeleton is built for a
    one-track catalogue (its other weights are a few hundred kB), then given the real config;
    the caller assigns the int8 table read from the file. (The ``meta`` device does not help:
    the init draws on the CPU anyway, and entering it costs ~70 MB of torch modules.)
    """
    model = quantize_model(TrackTransformer(replace(config, n_tracks=1)))
    model.config = config
    # Every buffer of the prior and the blend is a table with a row per track: shapes only,
    # to be assigned.
    for module in (model.prior, model.blend):
        if module is None:
            continue
        for name, small in list(module.named_buffers(recurse=False)):
            rows = (config.n_tracks + 1, *small.shape[1:])
            setattr(module, name, torch.empty(rows, dtype=small.dtype, device="meta"))
    return model


def compress_checkpoint(checkpoint_path: str | Path, out_path: str | Path) -> Path:
    """Quantize a training checkpoint (``best.pt``) into an int8 artefact; returns its path."""
    checkpoint = load_checkpoint(checkpoint_path)
    return save_int8(quantize_model(checkpoint.build_model()), checkpoint.vocab, out_path)
