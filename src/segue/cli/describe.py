"""What a segue artefact holds, read as data: ``segue info <file>``.

Three kinds of artefact are recognised: a float checkpoint (``best.pt``, ``last.pt``), an int8
artefact (``*.int8.pt``) and an ONNX bundle folder. Files are opened with
``torch.load(weights_only=True, mmap=True)`` (plain containers and tensors, mapped rather than
read, so a 1 GB checkpoint is described without reading its weights) and bundles with ``json``;
nothing in them is built, instantiated or executed, and no model is constructed, so a damaged
or hostile file can at worst be described as such.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from segue.checks import is_integer
from segue.io.plain_data import plain_nodes

CHECKPOINT, INT8, BUNDLE = "segue-checkpoint", "segue-int8", "segue-onnx-bundle"
KIND_NAMES = {CHECKPOINT: "float checkpoint", INT8: "int8 artefact", BUNDLE: "ONNX bundle"}
MODEL_KEYS = (
    "objective",
    "block",
    "d_model",
    "n_layers",
    "n_heads",
    "d_ff",
    "max_len",
    "dropout",
    "positions",
    "n_artists",
    "use_event_types",
    "use_gap_buckets",
    "history_prior",
    "blend_weight",
    "blend_cooccurrence",
)
"""Model settings shown, in this order (the config may hold more; ``--json`` shows all)."""


@dataclass
class ArtefactInfo:
    """A description of one artefact.

    Args:
        path: The file or folder described.
        kind: ``float checkpoint``, ``int8 artefact`` or ``ONNX bundle``.
        format: The format tag stored in it (``segue-checkpoint``...).
        version: The format version stored in it.
        size_bytes: Bytes on disk (every file of a bundle).
        model: The stored model config.
        catalogue: ``n_tracks``, ``n_artists`` and what is known per track.
        data: How the training data was read and prepared, as stored (empty when not stored).
        metrics: Figures stored at training time (validation / test; empty when not stored).
        notes: Anything else worth saying (resumable state, catalogue precision, ...).
        segue_version: The segue that wrote it, when stored (files of older segues lack it).
    """

    path: str
    kind: str
    format: str
    version: int
    size_bytes: int
    model: dict[str, Any]
    catalogue: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    segue_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe(path: str | Path) -> ArtefactInfo:
    """Describe the artefact at ``path`` (a checkpoint, an int8 artefact or a bundle folder).

    Raises:
        FileNotFoundError: Nothing at ``path``.
        ValueError: ``path`` is not a segue artefact (the message says what was found).
    """
    path = Path(path)
    if path.is_dir():
        return _describe_bundle(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file or folder at {path}")
    payload = _load_payload(path)
    kind = payload.get("format")
    if kind == CHECKPOINT:
        return _describe_checkpoint(path, payload)
    if kind == INT8:
        return _describe_int8(path, payload)
    raise ValueError(
        f"{path} is not a segue artefact (format {kind!r}): expected a checkpoint, an int8 "
        "artefact or an ONNX bundle folder"
    )


def _load_payload(path: Path) -> dict[str, Any]:
    import torch

    from segue.io.safe_load import load_error

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # torch raises many types for a file that is not its format
        # The loader's wording: torch's own message advises weights_only=False (running code).
        reason = load_error(path, "torch file of plain data", error).reason
        raise ValueError(f"{path} is not a segue artefact: {reason}") from None
    if not isinstance(payload, dict):
        raise ValueError(f"{path} is not a segue artefact: holds a {type(payload).__name__}")
    return payload


def _describe_checkpoint(path: Path, payload: dict[str, Any]) -> ArtefactInfo:
    vocab = _part(path, payload, "vocab", dict)
    state = _part(path, payload, "training_state", dict)
    config = _plain(path, "model_config", _part(path, payload, "model_config", dict))
    notes = [f"{_n_params(payload.get('state_dict')):,} parameters (float)"]
    if state:
        notes.append(f"resumable: training state after epoch {state.get('epoch', '?')}")
    else:
        notes.append("inference only (no training state)")
    return ArtefactInfo(
        path=str(path),
        kind=KIND_NAMES[CHECKPOINT],
        format=CHECKPOINT,
        version=_version(path, payload),
        size_bytes=path.stat().st_size,
        model=config,
        catalogue=_catalogue_from_lists(path, vocab, config),
        data=_data_settings(path, payload),
        metrics=_plain(path, "metrics", _part(path, payload, "metrics", dict)),
        notes=notes,
        segue_version=_segue_version(payload),
    )


def _segue_version(payload: dict[str, Any]) -> str | None:
    """The stored ``segue_version`` if it is a string (the loader checks it; info only shows)."""
    version = payload.get("segue_version")
    return version if isinstance(version, str) else None


def _describe_int8(path: Path, payload: dict[str, Any]) -> ArtefactInfo:
    config = _plain(path, "model_config", _part(path, payload, "model_config", dict))
    vocab = _part(path, payload, "vocab", dict)
    catalogue = {"n_tracks": config.get("n_tracks"), "n_artists": config.get("n_artists")}
    if isinstance(vocab.get("track_ids"), list):
        catalogue = _catalogue_from_lists(path, vocab, config)  # version 1 stored plain lists
    return ArtefactInfo(
        path=str(path),
        kind=KIND_NAMES[INT8],
        format=INT8,
        version=_version(path, payload),
        size_bytes=path.stat().st_size,
        model=config,
        catalogue=catalogue,
        notes=[
            f"{_n_params(payload.get('tensors')):,} stored values (int8 tables and Linear layers)",
            "no training data settings or metrics are stored in int8 artefacts: see the "
            "checkpoint it was made from",
        ],
    )


def _describe_bundle(path: Path) -> ArtefactInfo:
    meta_path = path / "bundle.json"
    if not meta_path.is_file():
        raise ValueError(
            f"{path} is a folder without bundle.json: not an ONNX bundle (segue export "
            "--format onnx writes one)"
        )
    meta = _read_json(meta_path)
    if meta.get("format") != BUNDLE:
        raise ValueError(f"{meta_path} is not a segue ONNX bundle (format {meta.get('format')!r})")
    vocab_path = path / "vocab.json"
    vocab = _read_json(vocab_path) if vocab_path.is_file() else {}
    config = _plain(meta_path, "model_config", _part(meta_path, meta, "model_config", dict))
    inputs = _plain(meta_path, "inputs", _part(meta_path, meta, "inputs", list, default=[]))
    notes = [
        f"catalogue stored as {meta.get('catalogue', '?')}, ONNX opset {meta.get('opset', '?')}",
        f"encoder inputs: {', '.join(map(str, inputs))}",
        "runs with numpy + onnxruntime only (pip install 'segue[onnx]'); no training data "
        "settings or metrics are stored in bundles",
    ]
    return ArtefactInfo(
        path=str(path),
        kind=KIND_NAMES[BUNDLE],
        format=BUNDLE,
        version=_version(meta_path, meta),
        size_bytes=sum(p.stat().st_size for p in path.rglob("*") if p.is_file()),
        model=config,
        catalogue=_catalogue_from_lists(vocab_path, vocab, config),
        notes=notes,
    )


def _catalogue_from_lists(
    path: Path, vocab: dict[str, Any], config: dict[str, Any]
) -> dict[str, Any]:
    """Counts from a :meth:`TrackVocab.to_dict` dict (lists of ids, artists, names)."""
    track_ids, artists, names = (
        _part(path, vocab, key, list, default=[], where="vocab")
        for key in ("track_ids", "artists", "names")
    )
    return {
        "n_tracks": len(track_ids) if track_ids else config.get("n_tracks"),
        "n_artists": len({a for a in artists if a is not None}) if artists else 0,
        "with_artist": sum(a is not None for a in artists),
        "with_name": sum(n is not None for n in names),
    }


def _data_settings(path: Path, payload: dict[str, Any]) -> dict[str, Any]:
    """Stored data settings (checkpoint v2), else the ``data`` part of the run config text."""
    settings = payload.get("data_settings")
    if isinstance(settings, dict):
        return _plain(path, "data_settings", settings)
    text = payload.get("config")
    if not isinstance(text, str) or not text.strip():
        return {}
    import yaml  # PyYAML, which Hydra's OmegaConf depends on; safe_load builds plain data

    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    data = config.get("data") if isinstance(config, dict) else None
    return _plain(path, "config.data", data) if isinstance(data, dict) else {}


def _part(
    path: Path,
    values: dict[str, Any],
    name: str,
    kind: type,
    default: Any = None,
    where: str | None = None,
) -> Any:
    """``values[name]`` if it is a ``kind`` (or ``default``, an empty one unless given, when it
    is missing or None); else a ValueError naming the file and the field, which ``segue info``
    reports as a damaged artefact rather than failing on it."""
    value = values.get(name)
    if value is None:
        return kind() if default is None else default
    if not isinstance(value, kind):
        field_name = name if where is None else f"{where}.{name}"
        raise ValueError(
            f"{path} is a damaged segue artefact: its {field_name} is a "
            f"{type(value).__name__}, not a {kind.__name__}"
        )
    return value


def _version(path: Path, values: dict[str, Any]) -> int:
    version = values.get("version", 0)
    if not is_integer(version):
        raise ValueError(
            f"{path} is a damaged segue artefact: its version is {_short(repr(version), 40)}, "
            "not a whole number"
        )
    return version


def _n_params(tensors: object) -> int:
    if not isinstance(tensors, dict):
        return 0
    return sum(int(t.numel()) for t in tensors.values() if hasattr(t, "numel"))


def _plain(path: Path, name: str, value: Any) -> Any:
    """``value`` with tensors and numpy scalars made JSON-friendly (for ``--json``).

    The walk is bounded first (:func:`segue.io.plain_data.plain_nodes`): a pickle stores a
    shared list once, so ``a = [a, a]`` sixty times over is a small file but 2**60 values to
    copy, and 200,000 nested lists overflow the recursion below. Either is a damaged field.
    """
    try:
        for _ in plain_nodes(name, value):
            pass
    except ValueError as error:
        raise ValueError(f"{path} is a damaged segue artefact: {error}") from None
    return _copied(value)


def _copied(value: Any) -> Any:
    """The conversion of :func:`_plain`, once its walk is known to be bounded."""
    if isinstance(value, dict):
        return {str(k): _copied(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copied(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except RecursionError:  # json's parser recurses once per nested bracket
        raise ValueError(f"{path} is a damaged segue artefact: nested too deeply") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return value


def format_info(info: ArtefactInfo) -> str:
    """``info`` as the text ``segue info`` prints."""
    model = [f"{k} {info.model[k]}" for k in MODEL_KEYS if k in info.model]
    lines = [
        f"{info.path}",
        f"  kind:       {info.kind} ({info.format} v{info.version}, {_size(info.size_bytes)})",
        _wrap_items("  model:      ", model),
        _wrap_items("  catalogue:  ", [f"{k} {v}" for k, v in info.catalogue.items()]),
    ]
    if info.segue_version:
        lines.append(f"  written by: segue {info.segue_version}")
    elif info.format == CHECKPOINT:
        lines.append("  written by: an older segue (its version is not stored)")
    if info.data:
        lines.append("  data:")
        lines += [f"    {k}: {_short(v)}" for k, v in info.data.items()]
    if info.metrics:
        lines.append("  metrics:")
        lines += [
            f"    {k}: {v:.4f}" if isinstance(v, float) else f"    {k}: {_short(v)}"
            for k, v in info.metrics.items()
        ]
    lines += [f"  note: {note}" for note in info.notes]
    return "\n".join(lines)


def _wrap_items(label: str, items: list[str], width: int = 100) -> str:
    """``label`` then ``items`` joined by commas, wrapped between items, never inside one.

    >>> print(_wrap_items("  x: ", ["a 1", "b 2", "c 3"], width=14))
      x: a 1, b 2,
         c 3
    """
    lines, line = [], label
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "")
        if len(line) + len(piece) > width and line.strip() != label.strip():
            lines.append(line.rstrip())
            line = " " * len(label)
        line += piece + " "
    lines.append(line.rstrip())
    return "\n".join(lines)


def _size(n: int) -> str:
    """
    >>> _size(2_500_000)
    '2.50 MB'
    """
    return f"{n / 1e6:.2f} MB"


def _short(value: Any, width: int = 90) -> str:
    """
    >>> _short({"a": 1})
    '{"a": 1}'
    """
    text = json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
    return text if len(text) <= width else text[: width - 3] + "..."
