"""The int8 artefact: a quantized model, its config and vocabulary in one ``weights_only`` file.

Layout (``torch.save`` of plain containers, like :mod:`segue.training.checkpoint`):
``{"format": "segue-int8", "version": 2, "model_config": dict, "vocab": {name: uint8 tensor},
"tensors": state_dict}`` where the vocabulary is packed by
:func:`segue.compress.packed_vocab.pack_vocab` (version 1 stored it as lists, and still loads)
and the state dict of :func:`segue.compress.int8.quantize_model`'s output holds int8 ``values``
with float32 ``scales`` for the embedding tables and Linear layers, and float32 for the rest.
Loading builds the model's modules for a one-track catalogue and assigns the stored tensors, so
a float track table is never allocated, not even for a moment; ``mmap=True`` maps the file
instead of reading it (pages come in as they are touched).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from segue.compress.int8 import (
    Int8Embedding,
    Int8Rows,
    int8_scores,
    quantize_model,
    set_track_table,
)
from segue.compress.packed_vocab import PackedVocab, pack_vocab
from segue.data.vocab import TrackVocab
from segue.models.config import ModelConfig
from segue.models.transformer import TrackTransformer
from segue.training.checkpoint import load_checkpoint

FORMAT = "segue-int8"
VERSION = 2


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

    def score(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores over the catalogue, (B, n_tracks + 1), column 0 -inf; ``hidden`` is (B, D)."""
        return int8_scores(self.model, hidden)


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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model_config": model.config.to_dict(),
        "vocab": pack_vocab(vocab),
        "tensors": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_int8(path: str | Path, mmap: bool = True) -> Int8Artefact:
    """Read an artefact written by :func:`save_int8` (``weights_only=True``).

    Args:
        path: The artefact file.
        mmap: Map the file rather than read it into memory.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no int8 artefact at {path}")
    payload = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a segue int8 artefact")
    if payload["version"] > VERSION:
        raise ValueError(f"{path} was written by a newer segue (version {payload['version']})")
    config, tensors = ModelConfig.from_dict(payload["model_config"]), payload["tensors"]
    model = _skeleton(config)
    rows = Int8Rows(tensors["track_emb.values"], tensors["track_emb.scales"])
    set_track_table(model, Int8Embedding(rows))
    model.load_state_dict(tensors, assign=True)  # assign: use the loaded tensors, no copies
    vocab = payload["vocab"]
    if payload["version"] == 1:  # lists, as TrackVocab.to_dict() writes them
        vocab = pack_vocab(TrackVocab.from_dict(vocab))
    return Int8Artefact(model.eval(), PackedVocab(vocab))


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
    return model


def compress_checkpoint(checkpoint_path: str | Path, out_path: str | Path) -> Path:
    """Quantize a training checkpoint (``best.pt``) into an int8 artefact; returns its path."""
    checkpoint = load_checkpoint(checkpoint_path)
    return save_int8(quantize_model(checkpoint.build_model()), checkpoint.vocab, out_path)
