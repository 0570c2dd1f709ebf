"""Checks of a model file before anything in it is used: the one error, and what it checks.

Checkpoints and int8 artefacts are read with ``torch.load(weights_only=True)``: plain
containers and tensors, no pickled objects, so reading cannot run code. What is read is then
checked *before* any model is built, in this order:

1. The payload is a dict with exactly the expected keys, a known ``format`` and an integer
   ``version`` this segue can read.
2. The model config is a valid :class:`ModelConfig` (unknown keys, wrong types refused).
3. The config agrees with the tensors, checked before anything of the claimed size exists: the
   config may not claim more weights than the file holds (:func:`claimed_elements`), then the
   model it describes, built for a one-track catalogue, must have exactly the stored names,
   shapes (catalogue rows compared arithmetically) and dtypes (:func:`check_weights`). A
   190 kB file whose config claims ``n_tracks=3e9`` is refused here, before the 768 GB track
   table would be allocated.
4. The SHA-256 written at save (:func:`content_digest`: the weights, and the model config,
   vocabulary and data settings) matches: flipped bytes are caught wherever they fall in what
   is used. Files written before the checksum existed load without this step.
5. Every float tensor is finite: a NaN weight makes every score NaN and every list empty.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from segue.data.vocab import TrackVocab
from segue.io.canonical_json import canonical_pieces
from segue.models.blocks import block_class
from segue.models.config import ModelConfig
from segue.side_inputs import enabled_side_inputs

LOADERS = {
    "segue-checkpoint": "segue.io.checkpoint.load_checkpoint",
    "segue-int8": "segue.compress.load_int8",
}
"""The loader of each known file format, named when the other one is given the file."""


class CheckpointError(ValueError):
    """A checkpoint or int8 artefact that cannot be used: names the file and what is wrong.

    >>> str(CheckpointError("best.pt", "key 'vocab' is missing"))
    "best.pt: key 'vocab' is missing"
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def file_path(path: object, kind: str) -> Path:
    """``path`` as a :class:`Path`, or a ``TypeError`` saying what a path is.

    >>> file_path(None, "segue checkpoint")
    Traceback (most recent call last):
    TypeError: path of the segue checkpoint must be a str or os.PathLike, got NoneType
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"path of the {kind} must be a str or os.PathLike, got {type(path).__name__}"
        )
    return Path(path)


def artefact_format(path: str | Path) -> object:
    """The ``format`` key of a segue file (``segue-checkpoint``, ``segue-int8``...), as stored.

    Reads the file with ``weights_only=True`` and ``mmap=True``: the tensors are mapped, not
    read, so this costs little more than the file's structure. Nothing is checked but that the
    file is a safe torch file holding a dict; the loader of the format checks the rest.

    Raises:
        FileNotFoundError: If there is no file at ``path``.
        CheckpointError: As :func:`read_payload`.
    """
    return read_payload(file_path(path, "segue file"), "segue file", mmap=True).get("format")


def read_payload(path: Path, kind: str, *, mmap: bool = False) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` as a dict, or a :class:`CheckpointError`.

    Args:
        path: The file.
        kind: What the file should be, for messages ("segue checkpoint", ...).
        mmap: Map the file instead of reading it.

    Raises:
        FileNotFoundError: If there is no file at ``path``.
        CheckpointError: If it is truncated, not a torch zip file, holds pickled objects, or is
            not a dict.
    """
    path = file_path(path, kind)
    if not path.is_file():
        raise FileNotFoundError(f"no {kind} at {path}")
    check_zip_crc(path, kind)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as error:
        raise load_error(path, kind, error) from None
    if not isinstance(payload, dict):
        raise CheckpointError(path, f"not a {kind}: holds a {type(payload).__name__}")
    return payload


def load_error(path: Path, kind: str, error: Exception) -> CheckpointError:
    """What a failed ``torch.load(weights_only=True)`` of ``path`` means, in segue's words.

    Torch's own message advises ``weights_only=False``, which would run the file's code: never
    repeated. ``segue info`` words its refusals with this too.
    """
    if isinstance(error, pickle.UnpicklingError):  # weights_only's refusals, damaged streams
        lines = [ln.strip() for ln in str(error).splitlines() if "GLOBAL" in ln]
        if lines:  # a pickled object (a class, a function such as os.system): never built
            return CheckpointError(
                path, f"refused: it holds pickled objects, which could run code ({lines[0]})"
            )
        detail = next((ln.strip() for ln in str(error).splitlines() if "Unsupported" in ln), "")
        return CheckpointError(
            path, f"not a readable {kind}: corrupted or not a torch file ({detail or error})"
        )
    # A damaged file fails in many ways (EOFError, IndexError, KeyError, UnicodeDecodeError,
    # RuntimeError from the zip reader...): each means the file cannot be used.
    detail = str(error).strip().splitlines()[0] if str(error).strip() else "no detail"
    return CheckpointError(
        path,
        f"not a readable {kind}: truncated, corrupted or not a torch file "
        f"({type(error).__name__}: {detail[:200]})",
    )


def check_zip_crc(path: Path, kind: str) -> None:
    """Step 0: every member of the torch zip file matches its CRC-32.

    ``torch.load`` does not check the CRCs it writes, so a flipped byte in a part the SHA-256
    does not cover (metrics, reports, the training state) would load as a different value.
    Torch files are stored uncompressed, so this is one sequential read of the file. Files
    that are not zip archives are left to ``torch.load`` to refuse.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            # Checked before testzip inflates anything (a CheckpointError is a ValueError:
            # it must not reach the handler below, which leaves non-zips to torch.load).
            refusal = _unstored_member(path, members)
            bad = None if refusal else archive.testzip()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError):
        return  # not a readable zip: torch.load says what it is
    except Exception as error:  # a damaged member header fails in many ways
        raise CheckpointError(path, f"not a readable {kind}: corrupted ({error})") from None
    if refusal:
        raise CheckpointError(path, refusal)
    if bad is not None:
        raise CheckpointError(
            path, f"corrupted: part {bad!r} fails its CRC-32 check (a damaged copy?)"
        )


def _unstored_member(path: Path, members: list[zipfile.ZipInfo]) -> str | None:
    """Why a member of a torch file is refused, or None: each must be stored, not compressed,
    and no larger than the whole file.

    ``torch.save`` never compresses, so a compressed member was added by something else, and
    the CRC check would inflate it: a 1 GB deflated run of zeros is 1 MB on disk but seconds
    of work on every load.
    """
    size = path.stat().st_size
    for member in members:
        name = member.filename[:100]
        if member.compress_type != zipfile.ZIP_STORED:
            return f"refused: part {name!r} is compressed, which torch.save never does"
        if member.file_size > size:
            return (
                f"corrupted: part {name!r} claims {member.file_size:,} bytes, more than the "
                f"whole file ({size:,})"
            )
    return None


def check_header(
    path: Path,
    payload: Mapping[str, Any],
    fmt: str,
    versions: Mapping[int, set[str]],
    kind: str,
    optional: Mapping[str, type] | None = None,
) -> int:
    """Check ``format``, ``version`` and the key set of ``payload``; returns the version.

    Args:
        path: The file, for messages.
        payload: What :func:`read_payload` returned.
        fmt: The expected ``format`` value.
        versions: For each readable version, the keys its payload must have (no more).
        kind: What the file should be, for messages ("segue checkpoint", ...).
        optional: Keys any version may also have (files written before them lack them), each
            with the type its value must have.
    """
    found = payload.get("format")
    if found != fmt:
        # any type may come from a file: a list or dict must not reach the dict lookup
        known = LOADERS.get(found) if isinstance(found, str) else None
        hint = f": open it with {known}" if known else ""
        raise CheckpointError(path, f"not a {kind} (format {found!r}){hint}")
    version = payload.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(path, f"version must be an integer, got {version!r}")
    if version > max(versions):
        raise CheckpointError(
            path,
            f"written by a newer segue ({fmt} version {version}; this one reads up to "
            f"{max(versions)}): upgrade segue",
        )
    if version not in versions:
        raise CheckpointError(path, f"unknown {fmt} version {version}")
    expected, optional = versions[version], optional or {}
    missing = sorted(expected - set(payload))
    extra = sorted(set(payload) - expected - set(optional))
    if missing:
        raise CheckpointError(path, f"key(s) {missing} missing")
    if extra:
        raise CheckpointError(path, f"unexpected key(s) {extra}")
    for key, kind_of_value in optional.items():
        if key in payload:
            check_type(path, key, payload[key], kind_of_value)
    return version


def check_type(path: Path, name: str, value: object, kind: type | tuple[type, ...]) -> None:
    """A :class:`CheckpointError` naming ``name`` unless ``value`` is a ``kind``."""
    if not isinstance(value, kind):
        wanted = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise CheckpointError(path, f"{name} must be a {wanted}, got {type(value).__name__}")


def model_config_of(path: Path, values: object) -> ModelConfig:
    """The stored model config, or a :class:`CheckpointError` naming the bad key."""
    check_type(path, "model_config", values, dict)
    try:
        return ModelConfig.from_dict(values)  # type: ignore[arg-type]
    except (TypeError, ValueError) as error:
        raise CheckpointError(path, f"model_config: {error}") from None


def tensor_dict(path: Path, name: str, values: object) -> dict[str, torch.Tensor]:
    """``values`` if it is a dict of str -> dense CPU tensor, else a :class:`CheckpointError`.

    Sparse, quantized or ``meta`` tensors load with ``weights_only`` too, but a model's weights
    are none of these (and they would fail later, in the checksum or the model).
    """
    check_type(path, name, values, dict)
    assert isinstance(values, dict)
    for key, tensor in values.items():
        if not isinstance(key, str) or not isinstance(tensor, torch.Tensor):
            raise CheckpointError(path, f"{name}[{key!r}] must be a tensor under a str name")
        if tensor.layout != torch.strided or tensor.device.type != "cpu" or tensor.is_quantized:
            raise CheckpointError(
                path,
                f"{name}[{key!r}] must be a dense tensor, got {tensor.layout} on "
                f"{tensor.device.type}",
            )
        # A stored view may claim more elements than its storage holds (an expanded, stride-0
        # tensor of 4 bytes "is" 10^10 floats): weights are saved contiguous and backed whole.
        needed = (tensor.storage_offset() + tensor.numel()) * tensor.element_size()
        if not tensor.is_contiguous() or tensor.untyped_storage().nbytes() < needed:
            raise CheckpointError(
                path,
                f"{name}[{key!r}] is a view of shape {tuple(tensor.shape)} over "
                f"{tensor.untyped_storage().nbytes()} bytes, not a contiguous tensor backed "
                "by its own data",
            )
    return values


def check_weights(
    path: Path,
    config: ModelConfig,
    tensors: Mapping[str, torch.Tensor],
    template: Callable[[ModelConfig], nn.Module],
) -> None:
    """Step 3 of the module docstring: names, shapes and dtypes against the config.

    The template is built on the CPU for a one-track catalogue (and at most one artist), so its
    size never depends on the claimed catalogue; the catalogue tables' rows are then compared
    with the claimed sizes arithmetically. Before that, the config must not claim more weights
    than the file holds (:func:`claimed_elements`), which bounds the template by the file.
    (The ``meta`` device would avoid even that allocation, but initialising weights there
    imports ``torch._dynamo``: seconds and ~70 MB on every first load.)

    Args:
        path: The file, for messages.
        config: The stored model config.
        tensors: The stored state dict.
        template: Builds the module whose state dict ``tensors`` must match.
    """
    stored = stored_elements(tensors)
    if claimed_elements(config) > stored:
        raise CheckpointError(
            path,
            f"model_config {_summary(config)} needs at least {claimed_elements(config):,} "
            f"weights but the file holds {stored:,}",
        )
    rows = {
        "track_emb.": config.n_tracks + 2,
        "artist_emb.": config.n_artists + 1,
        "prior.successor": config.n_tracks + 1,  # the history prior's transition table
        "prior.album_mates": config.n_tracks + 1,  # and its album table
        "prior.artist_mate": config.n_tracks + 1,  # its artist table and those tracks' plays
        "prior.album_entry_counts": config.n_tracks + 1,  # its album-entry counts
        "blend.successor": config.n_tracks + 1,  # the transition blend's table
        "blend.neighbour": config.n_tracks + 1,  # and its co-occurrence table
    }
    small = replace(config, n_tracks=1, n_artists=min(config.n_artists, 1))
    try:
        expected = {k: (v.shape, v.dtype) for k, v in template(small).state_dict().items()}
    except (TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(path, f"model_config does not describe a model: {error}") from None
    for name, (shape, dtype) in expected.items():
        table = next((prefix for prefix in rows if name.startswith(prefix)), None)
        if table is not None:  # the catalogue's rows, as claimed
            expected[name] = (torch.Size([rows[table], *shape[1:]]), dtype)
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or extra:
        raise CheckpointError(
            path,
            f"the weights do not match model_config: missing {missing[:5]}, unexpected {extra[:5]}",
        )
    for name, (shape, dtype) in expected.items():
        got = tensors[name]
        if got.shape != shape or got.dtype != dtype:
            raise CheckpointError(
                path,
                f"weight {name!r} is {got.dtype} {tuple(got.shape)} but model_config "
                f"{_summary(config)} needs {dtype} {tuple(shape)}",
            )
    check_prior_table(path, tensors, config.n_tracks)


def check_prior_table(path: Path, tensors: Mapping[str, torch.Tensor], n_tracks: int) -> None:
    """The history prior's transition, album and artist tables and album-entry counts, and the
    transition blend's tables, hold track indices and counts, nothing else.

    Its indices index the score columns at inference, so a successor outside 0..n_tracks would
    fail there (or, in a numpy port, wrap around); a negative or non-finite count has no
    meaning (and a NaN would spread through every score it touches).
    """
    indexed = (
        "prior.successors",
        "prior.album_mates",
        "prior.artist_mates",
        "blend.successors",
        "blend.neighbours",
    )
    for name in indexed:
        indices = tensors.get(name)
        if indices is not None and indices.numel():
            low, high = int(indices.min()), int(indices.max())
            if low < 0 or high > n_tracks:
                raise CheckpointError(
                    path,
                    f"{name} holds track index {low if low < 0 else high}, outside 0..{n_tracks}",
                )
    counted = (
        "prior.successor_counts",
        "prior.artist_mate_plays",
        "prior.album_entry_counts",
        "blend.successor_counts",
        "blend.neighbour_weights",
    )
    for name in counted:
        counts = tensors.get(name)
        if counts is not None and not bool((counts.isfinite() & (counts >= 0)).all()):
            raise CheckpointError(path, f"{name} holds counts that are not finite >= 0")


def stored_elements(tensors: Mapping[str, torch.Tensor]) -> int:
    """The number of elements the file really holds: each storage counted once, whatever
    number of tensors view it (a storage shared by a thousand names is not a thousand copies).

    >>> t = torch.zeros(6)
    >>> stored_elements({"a": t, "b": t[:3], "c": torch.zeros(2)})
    8
    """
    sizes: dict[int, int] = {}
    for tensor in tensors.values():
        storage = tensor.untyped_storage()
        sizes[storage.data_ptr()] = storage.nbytes() // max(tensor.element_size(), 1)
    return sum(sizes.values())


def claimed_elements(config: ModelConfig) -> int:
    """A lower bound on the number of weights a model of ``config`` has.

    Every block has at least the matrices its class counts (``n_weights``: for the softmax
    block its (3D, D) and (D, D) attention matrices and two (D, D_ff) feed-forward matrices),
    the track, position and side tables have D columns, and the count tables of a history
    prior or a transition blend a row per track (:func:`track_table_width`). A file whose
    config claims more than it holds is refused before any template is built.

    >>> claimed_elements(ModelConfig(n_tracks=10, d_model=4, n_layers=1, max_len=5))
    164
    """
    D, tables = config.d_model, config.n_tracks + 2
    tables += sum(side.n_rows(config) for side in enabled_side_inputs(config))
    tables += config.max_len if config.positions == "learned" else 0
    embedded = D * tables + config.n_layers * block_class(config.block).n_weights(config)
    return embedded + (config.n_tracks + 1) * track_table_width(config)


def track_table_width(config: ModelConfig) -> int:
    """Columns of the per-track count tables a model of ``config`` stores, one row per track:
    the history prior's and the transition blend's (indices and counts). A config that claims a
    width no file could hold is refused before the template (built for one track, but at the
    claimed width) is allocated.

    >>> track_table_width(ModelConfig(n_tracks=10, history_prior=True, blend_weight=0.5))
    128
    """
    width = 0
    if config.history_prior:
        width += 2 * config.prior_successors
        width += config.prior_album_tracks if config.prior_album else 0
        width += 2 * config.prior_artist_tracks if config.prior_artist else 0
        width += 2 if config.prior_album_entry else 0
    if config.has_blend:
        width += 2 * config.blend_successors
    if config.blend_cooccurrence > 0:
        width += 2 * config.blend_neighbours
    return width


def check_digest(
    path: Path, stored: object, tensors: Mapping[str, torch.Tensor], plain: Mapping[str, Any]
) -> None:
    """Step 4: the stored :func:`content_digest` matches (None: a file from before checksums)."""
    if stored is None:
        return
    check_type(path, "sha256", stored, str)
    if content_digest(tensors, plain) != stored:
        raise CheckpointError(
            path,
            "SHA-256 mismatch: the weights, model config, vocabulary or data settings "
            "differ from what was saved (the file was corrupted or modified)",
        )


def stored_sha256(path: Path, stored: object) -> str:
    """The stored checksum of a file whose format version has one (a str, never None)."""
    check_type(path, "sha256", stored, str)
    assert isinstance(stored, str)
    return stored


def check_finite(path: Path, tensors: Mapping[str, torch.Tensor]) -> None:
    """Step 5: every float tensor is finite."""
    for name, tensor in tensors.items():
        if not tensor.is_floating_point() or tensor.numel() == 0:
            continue
        # min and max propagate NaN and show infinities: 20x faster than isfinite().all() on a
        # 1M-row table, and no (N, D) bool temporary
        low, high = torch.aminmax(tensor.detach())
        if not (math.isfinite(float(low)) and math.isfinite(float(high))):
            raise CheckpointError(path, f"weight {name!r} has NaN or infinite values")


def content_digest(tensors: Mapping[str, torch.Tensor], plain: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of ``tensors`` (names, dtypes, shapes, bytes in sorted name order) and of
    ``plain`` (JSON-able values, as canonical JSON).

    >>> content_digest({"w": torch.zeros(2)}, {}) == content_digest({"w": torch.zeros(2)}, {})
    True
    >>> content_digest({"w": torch.zeros(2)}, {}) == content_digest({"w": torch.zeros(1, 2)}, {})
    False
    >>> content_digest({}, {"vocab": ["a"]}) == content_digest({}, {"vocab": ["b"]})
    False
    """
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    for piece in canonical_pieces(plain):  # in pieces: one call would hold the GIL ~20 ms
        digest.update(piece.encode())
    return digest.hexdigest()


def _summary(config: ModelConfig) -> str:
    return (
        f"(n_tracks={config.n_tracks}, n_artists={config.n_artists}, "
        f"d_model={config.d_model}, n_layers={config.n_layers}, max_len={config.max_len})"
    )


VOCAB_COLUMNS = ("track_ids", "counts", "artists", "albums", "names")


def vocab_of(path: Path, values: object, config: ModelConfig) -> TrackVocab:
    """The stored vocabulary, checked: lists of the right types, one entry per model track.

    A vocabulary shorter than the model's catalogue would turn a recommended index into an
    ``IndexError`` at request time; one with more artists than the model's artist table, into
    a lookup out of range.
    """
    check_type(path, "vocab", values, dict)
    assert isinstance(values, dict)
    extra = sorted(set(values) - set(VOCAB_COLUMNS))
    if extra or "track_ids" not in values or "counts" not in values:
        raise CheckpointError(path, f"vocab must have track_ids and counts; unexpected {extra}")
    n = len(values["track_ids"]) if isinstance(values["track_ids"], list) else -1
    for column in VOCAB_COLUMNS:
        items = values.get(column)
        if items is None and column not in ("track_ids", "counts"):
            continue
        if not isinstance(items, list) or len(items) != n:
            raise CheckpointError(path, f"vocab[{column!r}] must be a list of {n} entries")
        kinds = set(map(type, items))  # one C-level pass: 1M ids in ~50 ms
        if column == "counts":
            ok = kinds <= {int} and (not items or min(items) >= 0)
        elif column == "track_ids":
            ok = kinds <= {str}
        else:
            ok = kinds <= {str, type(None)}
        if not ok:
            wanted = "counts >= 0" if column == "counts" else "strings"
            raise CheckpointError(path, f"vocab[{column!r}] must hold {wanted}")
    if n != config.n_tracks:
        raise CheckpointError(
            path, f"the vocabulary has {n} tracks but the model {config.n_tracks}"
        )
    try:
        vocab = TrackVocab.from_dict(values)
    except (TypeError, ValueError) as error:
        raise CheckpointError(path, f"vocab: {error}") from None
    if config.n_artists and vocab.n_artists > config.n_artists:
        raise CheckpointError(
            path,
            f"the vocabulary has {vocab.n_artists} artists but the model's artist table "
            f"{config.n_artists}",
        )
    return vocab
