"""Export a checkpoint as a self-contained ONNX bundle for ``OnnxRecommender``.

The bundle is a folder (format :data:`segue.export.runtime.BUNDLE_FORMAT`):

* ``encoder.onnx``: left-padded histories -> listener vector, the last hidden state (B, D).
  Inputs ``tracks`` (B, T) int64 and, when the model reads them, ``event_types`` and
  ``gap_buckets`` (B, T) int64; B and T are dynamic, T <= max_len. The artist input is looked up
  from the track inside the graph (a constant table), so callers never handle artist indices.
* ``catalogue.npy`` (V, D) float32, or ``catalogue_int8.npy`` (V, D) int8 with
  ``catalogue_scales.npy`` (V,) float32: the output embeddings, scored in numpy by the runtime
  (one GEMV; top-k with exclusions is simpler and faster in numpy than in an ONNX graph).
* ``prior_*.npy``, for a model with a history prior only: its gate (F, D) weight and (F,) bias,
  float32, and its transition table, successors (V, S) int32 and counts (V, S) float32
  (:data:`segue.export.prior_numpy.PRIOR_FILES`), a mixture prior's (F,) float32 count
  exponents, with the ``album`` feature its album table (V, A) int32, with the ``artist``
  feature its artist table (V, R) int32 and those tracks' plays (V, R) float32, with the
  ``album_entry`` feature its album-entry counts (V, 2) float32; the runtime adds the prior's
  terms in numpy.
* ``blend_*.npy``, for a model with a transition blend only (``blend_weight`` or
  ``blend_cooccurrence`` > 0): its table, successors (V, S) int32 and counts (V, S) float32
  (:data:`segue.export.prior_numpy.BLEND_FILES`) and, with a co-occurrence memory, its
  neighbours (V, S') int32 and similarities (V, S') float32
  (:data:`segue.export.cooccurrence_numpy.COOCCURRENCE_FILES`); the weights are in the model
  config, and the runtime adds the blend's terms in numpy after the prior's.
* ``vocab.json``: :meth:`TrackVocab.to_dict`; ``bundle.json``: model config, input names,
  history-encoding constants, the format version and the SHA-256 of every other file, which
  the runtime checks before it reads them.

Files are written mode 0644 and the folder 0755, whatever the umask.

Uses the TorchScript-based exporter (``dynamo=False``): the dynamo exporter needs onnxscript,
which segue does not depend on. One patch is needed for it: ``TrackTransformer`` counts positions
with ``cumsum`` over a bool mask, which ONNX's CumSum rejects, so an ``aten::cumsum`` symbolic
that casts bool to int64 is registered for the duration of the export only.

With ``int8_embeddings=True`` the model is first quantized by :func:`segue.compress.quantize_model`:
the encoder gathers rows from an int8 table and the catalogue is stored in int8, about 4x smaller.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from segue.columns import EventTypes
from segue.compress.int8 import catalogue_rows, quantize_model
from segue.data.batch import SequenceBatch
from segue.data.features import GAP_EDGES_SECONDS
from segue.data.vocab import TrackVocab
from segue.export.cooccurrence_numpy import COOCCURRENCE_FILES
from segue.export.prior_numpy import BLEND_FILES, TABLE_FILES, prior_files
from segue.export.runtime import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    CHECKSUM_KEY,
    bundle_files,
    file_sha256,
    prior_tables,
)
from segue.io.atomic_write import (
    clean_stale_temporaries,
    set_tree_modes,
    temporary_folder,
)
from segue.io.checkpoint import load_checkpoint
from segue.models.transformer import TrackTransformer
from segue.side_inputs import enabled_side_inputs

ASSUMED_GAP_SECONDS = 180.0
"""Gap between events given without timestamps; the value of ``segue.api.history``."""


class ListenerEncoder(nn.Module):
    """The exported graph: (tracks[, event_types][, gap_buckets]) -> last hidden state (B, D).

    Args:
        model: The transformer (float, or from :func:`quantize_model`), eval mode.
        artist_of_track: Artist index of every track index, padding and [MASK] included,
            (n_tracks + 2,) int64; None when the model has no artist input.
    """

    artist_of_track: torch.Tensor | None

    def __init__(self, model: TrackTransformer, artist_of_track: torch.Tensor | None) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("artist_of_track", artist_of_track)

    def forward(self, tracks: torch.Tensor, *side: torch.Tensor) -> torch.Tensor:
        """Listener vectors, (B, D), of left-padded (B, T) inputs in :func:`input_names` order."""
        inputs = dict(zip(input_names(self.model)[1:], side))
        artists = None if self.artist_of_track is None else self.artist_of_track[tracks]
        batch = SequenceBatch(tracks=tracks, artists=artists, **inputs)
        return self.model.last_hidden(batch)  # (B, D)


def input_names(model: TrackTransformer) -> list[str]:
    """Names of the encoder's inputs, ``tracks`` first, then the side inputs the model reads."""
    # Per-track inputs (the artist) are looked up inside the graph, not passed.
    side = enabled_side_inputs(model.config)
    return ["tracks", *(s.name for s in side if not s.per_track)]


@contextmanager
def _bool_cumsum_symbolic(opset: int) -> Iterator[None]:
    """Export ``cumsum`` of a bool tensor as Cast(int64) + CumSum, during the block only."""
    from torch.onnx import (
        register_custom_op_symbolic,
        symbolic_helper,
        symbolic_opset11,
        unregister_custom_op_symbolic,
    )

    def cumsum(g: Any, x: Any, dim: Any, dtype: Any) -> Any:
        if x.type().scalarType() != "Bool":
            return symbolic_opset11.cumsum(g, x, dim, dtype)
        axis = g.op("Constant", value_t=torch.tensor(symbolic_helper._get_const(dim, "i", "dim")))
        return g.op("CumSum", g.op("Cast", x, to_i=7), axis)  # 7 = TensorProto.INT64

    register_custom_op_symbolic("aten::cumsum", cumsum, opset)
    try:
        yield
    finally:
        unregister_custom_op_symbolic("aten::cumsum", opset)


def _example_inputs(model: TrackTransformer, names: list[str]) -> tuple[torch.Tensor, ...]:
    """A (2, T) batch with left padding, T < max_len so the graph never sees a fixed width."""
    T = max(2, min(5, model.config.max_len - 1))
    tracks = torch.ones(2, T, dtype=torch.long)
    tracks[0, :2] = 0
    return tuple(tracks if n == "tracks" else (tracks > 0).long() for n in names)


def export_encoder(
    model: TrackTransformer, artist_of_track: np.ndarray | None, path: Path, opset: int = 17
) -> None:
    """Write ``model``'s listener encoder to ``path`` (see :class:`ListenerEncoder`)."""
    names = input_names(model)
    artists = None
    if model.config.n_artists:
        if artist_of_track is None:
            raise ValueError("the model reads artists: pass artist_of_track")
        artists = torch.as_tensor(np.append(artist_of_track, 0), dtype=torch.long)  # + [MASK]
    encoder = ListenerEncoder(model.eval(), artists).eval()
    axes = {n: {0: "batch", 1: "time"} for n in names} | {"listener": {0: "batch"}}
    with _bool_cumsum_symbolic(opset), warnings.catch_warnings(), torch.no_grad():
        # Shape checks in SequenceBatch and TrackTransformer trace as constants (TracerWarning);
        # the runtime guarantees what they check (aligned inputs, T <= max_len).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            encoder,
            _example_inputs(model, names),
            str(path),
            input_names=names,
            output_names=["listener"],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )


def bundle_metadata(model: TrackTransformer, opset: int, int8: bool) -> dict[str, Any]:
    """``bundle.json``: what the runtime needs besides the arrays, as plain JSON."""
    return {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "model_config": model.config.to_dict(),
        "inputs": input_names(model),
        "catalogue": "int8" if int8 else "float32",
        "opset": opset,
        "play_event": EventTypes.index(EventTypes.PLAY),
        "event_types": list(EventTypes.VOCAB),
        "gap_edges_seconds": GAP_EDGES_SECONDS.tolist(),
        "assumed_gap_seconds": ASSUMED_GAP_SECONDS,
    }


def write_bundle(
    model: TrackTransformer,
    vocab: TrackVocab,
    out_dir: str | Path,
    *,
    opset: int = 17,
    int8_embeddings: bool = False,
) -> Path:
    """Write the bundle of ``model`` and ``vocab`` to ``out_dir``, replacing it; returns it.

    The bundle is written to a temporary folder beside ``out_dir`` and renamed into place, so a
    reader never sees a half-written bundle.
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = quantize_model(model) if int8_embeddings else model.eval()
    clean_stale_temporaries(out)  # folders that killed exports left
    tmp = temporary_folder(out)
    try:
        artists = vocab.artist_index(np.arange(vocab.n_tracks + 1))  # (V,)
        export_encoder(model, artists, tmp / "encoder.onnx", opset)
        with torch.no_grad():
            if int8_embeddings:
                rows = catalogue_rows(model)
                np.save(tmp / "catalogue_int8.npy", rows.values.numpy())
                np.save(tmp / "catalogue_scales.npy", rows.scales.numpy())
            else:
                np.save(tmp / "catalogue.npy", model.catalogue_embeddings().float().numpy())
            save_prior(model, tmp)
            save_blend(model, tmp)
        _write_json(tmp / "vocab.json", vocab.to_dict())
        meta = bundle_metadata(model, opset, int8_embeddings)
        prior = model.prior.combine if model.prior is not None else None
        tables = prior_tables(meta)
        blend, cooccurrence = model.blend is not None, model.config.blend_cooccurrence > 0
        files = bundle_files(meta["catalogue"], prior, tables, blend, cooccurrence)
        meta[CHECKSUM_KEY] = {name: file_sha256(tmp / name) for name in files}
        _write_json(tmp / "bundle.json", meta)
        set_tree_modes(tmp)
        if out.exists():
            old = temporary_folder(out, old=True)
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def save_prior(model: TrackTransformer, folder: Path) -> None:
    """Write the history prior's gate and table as ``.npy`` data (nothing for a model
    without one); the graph never computes the prior, the runtime does in numpy."""
    prior = model.prior
    if prior is None:
        return
    gate = prior.gate
    if not isinstance(gate, nn.Linear):  # quantize_model keeps it float: nothing to round
        raise TypeError(f"the history prior's gate must be a float nn.Linear, got {gate}")
    table = dict(prior.named_buffers())  # the transition table, typed as tensors
    arrays = {
        "gate_weight": gate.weight.detach().float(),  # (F, D): 3 features, up to 9
        "gate_bias": gate.bias.detach().float(),  # (F,)
        "successors": table["successors"].to(torch.int32),  # (V, S): indices < 2**31
        "successor_counts": table["successor_counts"].float(),  # (V, S)
    }
    if prior.combine == "mixture":
        arrays["count_power"] = prior.count_power.detach().float()  # (F,)
    if prior.album:
        arrays["album_mates"] = table["album_mates"].to(torch.int32)  # (V, A)
    if prior.artist:
        arrays["artist_mates"] = table["artist_mates"].to(torch.int32)  # (V, R)
        arrays["artist_mate_plays"] = table["artist_mate_plays"].float()  # (V, R)
    if prior.album_entry:
        arrays["album_entry_counts"] = table["album_entry_counts"].float()  # (V, 2)
    tables = [name for name in TABLE_FILES if getattr(prior, name)]
    for field, name in prior_files(prior.combine, tables).items():
        np.save(folder / name, arrays[field].cpu().contiguous().numpy())


def save_blend(model: TrackTransformer, folder: Path) -> None:
    """Write the blend's tables as ``.npy`` data (nothing for a model without one); its
    weights are ``blend_weight`` / ``blend_cooccurrence`` in ``bundle.json``'s model config."""
    if model.blend is None:
        return
    arrays = {
        "successors": model.blend.successors.to(torch.int32),  # (V, S): indices < 2**31
        "successor_counts": model.blend.successor_counts.float(),  # (V, S)
    }
    files = dict(BLEND_FILES)
    if model.blend.cooccurrence > 0:  # the co-occurrence memory's table, the same way
        arrays["neighbours"] = model.blend.neighbours.to(torch.int32)
        arrays["neighbour_weights"] = model.blend.neighbour_weights.float()
        files.update(COOCCURRENCE_FILES)
    for field, name in files.items():
        np.save(folder / name, arrays[field].cpu().contiguous().numpy())


def export_onnx(
    checkpoint_path: str | Path,
    out_dir: str | Path,
    *,
    opset: int = 17,
    int8_embeddings: bool = False,
) -> Path:
    """Export a training checkpoint (``best.pt``) as an ONNX bundle; returns the bundle folder.

    Args:
        checkpoint_path: A checkpoint written by training.
        out_dir: The bundle folder to create (replaced if it exists).
        opset: ONNX opset (17 or later: LayerNormalization).
        int8_embeddings: Store the track table int8 with per-row scales (about 4x smaller);
            scores then differ from the float model by at most ``||h||_1 * scale / 2``.
    """
    checkpoint = load_checkpoint(checkpoint_path)
    return write_bundle(
        checkpoint.build_model(),
        checkpoint.vocab,
        out_dir,
        opset=opset,
        int8_embeddings=int8_embeddings,
    )


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)
