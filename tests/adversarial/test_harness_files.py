"""The owners' harness, as a table: hostile checkpoints, int8 artefacts and ONNX bundles.

Every case loads a file an attacker or a damaged disk produced. Each must either be refused
with the documented error (``CheckpointError`` / ``BundleError``) naming the file, or, for the
few bytes that carry nothing (zip padding), load exactly what was saved. No case may leave the
canary file (a pickle that ran code) or return other weights, ids or settings than were saved.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from segue.compress import load_int8, save_int8
from segue.data.settings import DataSettings
from segue.export.onnx_export import write_bundle
from segue.export.runtime import BundleError, OnnxRecommender
from segue.io.checkpoint import CheckpointError, load_checkpoint
from segue.io.safe_load import content_digest
from segue.models.config import ModelConfig
from tests.adversarial.conftest import Canary, resave, without_checksums
from tests.export.conftest import N_TRACKS, tiny_checkpoint, tiny_model, tiny_vocab

Edit = Callable[[dict[str, Any], Path], None]


@pytest.fixture(scope="module")
def pristine_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A valid v2 checkpoint's payload (with data settings), to edit and re-save per case."""
    path = tiny_checkpoint("side", tmp_path_factory.mktemp("ckpt"))
    values = torch.load(path, weights_only=True)
    settings = DataSettings("tiny", "synthetic", {"n_users": 5, "n_events": 60})
    config = ModelConfig.from_dict(values["model_config"])
    values["data_settings"] = settings.for_model(config).to_dict()
    sign(values)
    load_checkpoint(write(copy.deepcopy(values), path))  # valid as it stands
    return values


def sign(values: dict[str, Any]) -> None:
    """Recompute the checksum, as an attacker who knows the format would."""
    plain = {k: values[k] for k in ("model_config", "vocab", "data_settings")}
    values["sha256"] = content_digest(values["state_dict"], plain)


def write(values: dict[str, Any], path: Path) -> Path:
    return resave(values, path)


def checkpoint_refused(path: Path) -> CheckpointError:
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    assert str(path) in str(caught.value)
    return caught.value


# ---------------------------------------------------------------------------------------------
# Pickles in every slot of a checkpoint

SLOTS: list[tuple[str, ...]] = [
    ("format",),
    ("version",),
    ("model_config",),
    ("model_config", "n_tracks"),
    ("model_config", "dropout"),
    ("state_dict",),
    ("state_dict", "track_emb.weight"),
    ("vocab",),
    ("vocab", "track_ids"),
    ("vocab", "counts"),
    ("vocab", "artists"),
    ("metrics",),
    ("metrics", "ndcg@10"),
    ("reports",),
    ("config",),
    ("training_state",),
    ("training_state", "optimizer"),
    ("data_settings",),
    ("data_settings", "reader_options"),
    ("data_settings", "sessions"),
    ("data_settings", "split_options"),
    ("sha256",),
]


def put(values: dict[str, Any], slot: tuple[str, ...], value: object) -> None:
    target = values
    for key in slot[:-1]:
        target = target[key]
    target[slot[-1]] = value


@pytest.mark.parametrize("slot", SLOTS, ids=".".join)
def test_checkpoint_pickle_in_every_slot(pristine_checkpoint, tmp_path, canary, slot):
    values = copy.deepcopy(pristine_checkpoint)
    put(values, slot, Canary(canary))
    error = checkpoint_refused(write(values, tmp_path / "evil.pt"))
    assert "pickled objects" in str(error)


@pytest.mark.parametrize("slot", SLOTS, ids=".".join)
def test_checkpoint_pickle_in_a_list_of_every_slot(pristine_checkpoint, tmp_path, canary, slot):
    values = copy.deepcopy(pristine_checkpoint)
    put(values, slot, [1, {"x": Canary(canary)}])
    checkpoint_refused(write(values, tmp_path / "evil.pt"))


# ---------------------------------------------------------------------------------------------
# `_target_` in every dict the loader reads

INJECT = {"_target_": "pandas.read_pickle", "filepath_or_buffer": "payload.b64"}
TARGET_SLOTS: list[tuple[tuple[str, ...], str]] = [
    (("model_config",), "_target_"),
    (("vocab",), "_target_"),
    (("data_settings",), "_target_"),
    (("data_settings", "reader_options"), "reader_options._target_"),
    (("data_settings", "reader_options", "nested"), "_target_"),
    (("data_settings", "reader_options", "columns", "user_id"), "_target_"),
    (("data_settings", "split_options"), "split_options._target_"),
    (("data_settings", "sessions"), "_target_"),
    (("data_settings", "side"), "_target_"),
]


@pytest.mark.parametrize(
    ("slot", "named"), TARGET_SLOTS, ids=[".".join(s) for s, _ in TARGET_SLOTS]
)
def test_checkpoint_target_injection_is_refused(pristine_checkpoint, tmp_path, canary, slot, named):
    values = copy.deepcopy(pristine_checkpoint)
    if slot[-1] in ("nested", "user_id"):  # a new nested option holding a Hydra node
        values["data_settings"]["reader"] = "read_log"
        values["data_settings"]["reader_options"] = {"source": "x.csv", "columns": {}}
        put(values, slot, dict(INJECT))
    else:
        target = values
        for key in slot:
            target = target[key]
        target.update(INJECT)
    sign(values)
    error = checkpoint_refused(write(values, tmp_path / "evil.pt"))
    assert named in str(error) or "_target_" in str(error)


@pytest.mark.parametrize(
    "reader", ["pandas.read_pickle", "os.system", "segue.data.readers.read_log", "", "READ_LOG"]
)
def test_checkpoint_reader_is_a_name_from_a_fixed_table(pristine_checkpoint, tmp_path, reader):
    values = copy.deepcopy(pristine_checkpoint)
    values["data_settings"]["reader"] = reader
    sign(values)
    assert "reader" in str(checkpoint_refused(write(values, tmp_path / "evil.pt")))


def test_the_old_yaml_config_string_is_never_parsed(pristine_checkpoint, tmp_path, canary):
    values = copy.deepcopy(pristine_checkpoint)
    values["version"], values["data_settings"] = 1, None
    del values["sha256"], values["data_settings"]
    values["config"] = (
        "data:\n  source:\n    _target_: os.system\n    command: touch " + str(canary) + "\n"
    )
    checkpoint = load_checkpoint(write(values, tmp_path / "old.pt"))  # still serves
    with pytest.raises(CheckpointError, match="no data settings"):
        checkpoint.require_data_settings(tmp_path / "old.pt")


# ---------------------------------------------------------------------------------------------
# Shape bombs, huge claims, negative sizes, wrong types, NaN


CONFIG_EDITS: list[tuple[str, object]] = [
    ("n_tracks", 3_000_000_000),
    ("n_tracks", 10**30),
    ("n_tracks", -1),
    ("n_tracks", 0),
    ("n_tracks", 39.0),
    ("n_tracks", "40"),
    ("n_tracks", None),
    ("n_tracks", True),
    ("n_artists", 10**9),
    ("n_artists", -5),
    ("d_model", 10**6),
    ("d_model", 0),
    ("d_model", -16),
    ("n_layers", 10**6),
    ("n_layers", 0),
    ("n_heads", 3),
    ("n_heads", 0),
    ("d_ff", 10**9),
    ("d_ff", -1),
    ("max_len", 10**9),
    ("max_len", 0),
    ("dropout", float("nan")),
    ("dropout", float("inf")),
    ("dropout", 1.5),
    ("dropout", "0.1"),
    ("rotary_base", float("nan")),
    ("positions", "alibi"),
    ("objective", "exec"),
    ("use_event_types", "yes"),
    ("n_event_types", 10**9),
    ("n_gap_buckets", 0),
    ("seed", 1.5),
    ("unknown_key", 1),
]


@pytest.mark.parametrize(
    ("key", "value"), CONFIG_EDITS, ids=[f"{k}={v!r}" for k, v in CONFIG_EDITS]
)
def test_checkpoint_model_config_edits_are_refused(pristine_checkpoint, tmp_path, key, value):
    values = copy.deepcopy(pristine_checkpoint)
    values["model_config"][key] = value
    sign(values)
    error = checkpoint_refused(write(values, tmp_path / "bad.pt"))
    named = {"n_heads": "n_heads", "unknown_key": "unknown_key"}.get(key, key)
    assert named in str(error) or "model_config" in str(error), str(error)


WRONG_TYPES = [None, 1, 1.5, "x", [], {}, True, torch.zeros(2)]
TOP_KEYS = [
    "format",
    "version",
    "model_config",
    "state_dict",
    "vocab",
    "metrics",
    "reports",
    "config",
    "training_state",
    "data_settings",
    "sha256",
]


@pytest.mark.parametrize("key", TOP_KEYS)
@pytest.mark.parametrize("value", WRONG_TYPES, ids=lambda v: type(v).__name__)
def test_checkpoint_wrong_type_for_every_key(pristine_checkpoint, tmp_path, key, value):
    values = copy.deepcopy(pristine_checkpoint)
    if key == "data_settings" and value is None:
        pytest.skip("None is the documented 'no data settings'")
    if key == "metrics" and value == {}:
        pytest.skip("{} is a valid value")
    if key == "training_state" and value == {}:
        pytest.skip("{} is a valid value")
    if key == "config" and isinstance(value, str):
        pytest.skip("any string is a valid record")
    if key == "reports" and value == []:
        pytest.skip("[] is a valid value")
    values[key] = value
    checkpoint_refused(write(values, tmp_path / "bad.pt"))


@pytest.mark.parametrize("key", TOP_KEYS)
def test_checkpoint_missing_key(pristine_checkpoint, tmp_path, key):
    values = copy.deepcopy(pristine_checkpoint)
    del values[key]
    error = checkpoint_refused(write(values, tmp_path / "bad.pt"))
    assert key in str(error)


VOCAB_EDITS: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("duplicated id", lambda v: v["track_ids"].__setitem__(1, v["track_ids"][0])),
    ("int ids", lambda v: v.__setitem__("track_ids", list(range(N_TRACKS)))),
    ("short ids", lambda v: v["track_ids"].pop()),
    ("huge ids", lambda v: v.__setitem__("track_ids", [f"x{i}" for i in range(200_000)])),
    ("negative count", lambda v: v["counts"].__setitem__(0, -1)),
    ("float count", lambda v: v["counts"].__setitem__(0, 1.5)),
    ("nan count", lambda v: v["counts"].__setitem__(0, float("nan"))),
    ("bool count", lambda v: v["counts"].__setitem__(0, True)),
    ("short counts", lambda v: v["counts"].pop()),
    ("artist int", lambda v: v["artists"].__setitem__(0, 7)),
    ("short artists", lambda v: v["artists"].pop()),
    ("names a string", lambda v: v.__setitem__("names", "abc")),
    ("ids a string", lambda v: v.__setitem__("track_ids", "t" * N_TRACKS)),
    ("ids a tensor", lambda v: v.__setitem__("track_ids", torch.arange(N_TRACKS))),
    ("extra column", lambda v: v.__setitem__("_target_", "os.system")),
    ("no counts", lambda v: v.pop("counts")),
    ("too many artists", lambda v: v.__setitem__("artists", [f"z{i}" for i in range(N_TRACKS)])),
]


@pytest.mark.parametrize(("name", "edit"), VOCAB_EDITS, ids=[n for n, _ in VOCAB_EDITS])
def test_checkpoint_vocab_edits_are_refused(pristine_checkpoint, tmp_path, name, edit):
    values = copy.deepcopy(pristine_checkpoint)
    edit(values["vocab"])
    with contextlib.suppress(TypeError):  # not JSON (a tensor): the unsigned file must fail
        sign(values)
    assert "vocab" in str(checkpoint_refused(write(values, tmp_path / "bad.pt")))


WEIGHT_EDITS: list[tuple[str, Callable[[dict[str, torch.Tensor]], None]]] = [
    ("nan", lambda s: s["track_emb.weight"].__setitem__((3, 0), float("nan"))),
    ("inf", lambda s: s["track_emb.weight"].__setitem__((3, 0), float("inf"))),
    ("-inf in a norm", lambda s: s["ln_f.weight"].fill_(-float("inf"))),
    ("float64", lambda s: s.__setitem__("track_emb.weight", s["track_emb.weight"].double())),
    ("int8", lambda s: s.__setitem__("track_emb.weight", s["track_emb.weight"].to(torch.int8))),
    ("extra row", lambda s: s.__setitem__("track_emb.weight", torch.zeros(N_TRACKS + 3, 16))),
    ("transposed", lambda s: s.__setitem__("track_emb.weight", s["track_emb.weight"].t())),
    ("missing", lambda s: s.pop("track_emb.weight")),
    ("extra", lambda s: s.__setitem__("evil", torch.zeros(1))),
    ("int key", lambda s: s.__setitem__(3, torch.zeros(1))),
    ("sparse", lambda s: s.__setitem__("track_emb.weight", s["track_emb.weight"].to_sparse())),
    (
        "meta",
        lambda s: s.__setitem__("track_emb.weight", torch.empty(N_TRACKS + 2, 16, device="meta")),
    ),
    ("list", lambda s: s.__setitem__("track_emb.weight", [[0.0] * 16] * (N_TRACKS + 2))),
]


@pytest.mark.parametrize(("name", "edit"), WEIGHT_EDITS, ids=[n for n, _ in WEIGHT_EDITS])
def test_checkpoint_weight_edits_are_refused(pristine_checkpoint, tmp_path, name, edit):
    values = copy.deepcopy(pristine_checkpoint)
    edit(values["state_dict"])
    with contextlib.suppress(Exception):  # no checksum possible: the unsigned file must fail
        sign(values)
    checkpoint_refused(write(values, tmp_path / "bad.pt"))


SETTINGS_EDITS: list[tuple[str, object]] = [
    ("version", 99),
    ("version", "1"),
    ("reader_options", {"n_users": float("nan")}),
    ("reader_options", {"n_events": 10**12}),
    ("reader_options", "n_users=5"),
    ("split", "random"),
    ("split_options", {"test_days": -2}),
    ("min_count", 0),
    ("min_count", "1"),
    ("max_len", -1),
    ("train_by", "item"),
    ("exclude_seen", "no"),
    ("max_events", 0),
    ("sessions", {"gap": "-5min"}),
    ("side", {"artists": "yes", "event_types": True, "gap_buckets": True}),
]


@pytest.mark.parametrize(
    ("key", "value"), SETTINGS_EDITS, ids=[f"{k}={v!r}"[:40] for k, v in SETTINGS_EDITS]
)
def test_checkpoint_data_settings_edits_are_refused(pristine_checkpoint, tmp_path, key, value):
    values = copy.deepcopy(pristine_checkpoint)
    values["data_settings"][key] = value
    sign(values)
    error = checkpoint_refused(write(values, tmp_path / "bad.pt"))
    named = {"split_options": "test_days", "reader_options": "n_"}.get(key, key)
    assert "data settings" in str(error) or named in str(error), str(error)


# ---------------------------------------------------------------------------------------------
# Tampered bytes at many offsets, truncation at many lengths


def same_as_saved(path: Path, reference: Path) -> None:
    got, want = load_checkpoint(path), load_checkpoint(reference)
    assert got.model_config == want.model_config
    assert got.vocab.to_dict() == want.vocab.to_dict()
    assert got.data_settings == want.data_settings
    assert got.metrics == want.metrics and got.config == want.config
    for name, tensor in want.state_dict.items():
        assert torch.equal(got.state_dict[name], tensor), name


@pytest.fixture(scope="module")
def signed_file(pristine_checkpoint, tmp_path_factory) -> Path:
    values = copy.deepcopy(pristine_checkpoint)
    values["metrics"] = {"ndcg@10": 0.25, "epoch": 3}
    return write(values, tmp_path_factory.mktemp("signed") / "best.pt")


@pytest.mark.parametrize("fraction", [i / 40 for i in range(40)])
def test_checkpoint_flipped_byte_is_refused_or_harmless(signed_file, tmp_path, fraction):
    raw = bytearray(signed_file.read_bytes())
    raw[int(len(raw) * fraction)] ^= 0x5A
    path = tmp_path / "flipped.pt"
    path.write_bytes(bytes(raw))
    try:
        load_checkpoint(path)
    except CheckpointError as error:
        assert str(path) in str(error)
        return
    same_as_saved(path, signed_file)


@pytest.mark.parametrize("fraction", [i / 25 for i in range(25)] + [0.999])
def test_checkpoint_truncated_at_many_lengths(signed_file, tmp_path, fraction):
    raw = signed_file.read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(raw[: int(len(raw) * fraction)])
    checkpoint_refused(path)


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00" * 1000, b"PK\x03\x04" + b"\x00" * 100, b"{}", b"version: 1", os.urandom(4096)],
    ids=["empty", "zeros", "zip-header", "json", "yaml", "noise"],
)
def test_checkpoint_not_a_torch_file(tmp_path, content):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    checkpoint_refused(path)


def test_checkpoint_a_folder_or_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no segue checkpoint"):
        load_checkpoint(tmp_path / "absent.pt")
    with pytest.raises(FileNotFoundError, match="no segue checkpoint"):
        load_checkpoint(tmp_path)


# ---------------------------------------------------------------------------------------------
# int8 artefacts


@pytest.fixture(scope="module")
def pristine_int8(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("int8")
    return save_int8(tiny_model("side"), tiny_vocab(), folder / "m.int8.pt")


def int8_refused(path: Path) -> CheckpointError:
    with pytest.raises(CheckpointError) as caught:
        load_int8(path)
    assert str(path) in str(caught.value)
    return caught.value


INT8_SLOTS = [
    ("format",),
    ("version",),
    ("model_config",),
    ("model_config", "d_model"),
    ("vocab",),
    ("vocab", "counts"),
    ("tensors",),
    ("tensors", "track_emb.values"),
    ("sha256",),
]


@pytest.mark.parametrize("slot", INT8_SLOTS, ids=".".join)
def test_int8_pickle_in_every_slot(pristine_int8, tmp_path, canary, slot):
    values = torch.load(pristine_int8, weights_only=True)
    put(values, slot, Canary(canary))
    int8_refused(write(values, tmp_path / "evil.int8.pt"))


@pytest.mark.parametrize("key", ["format", "version", "model_config", "vocab", "tensors", "sha256"])
@pytest.mark.parametrize("value", [None, 7, "x", [], {}], ids=lambda v: type(v).__name__)
def test_int8_wrong_type_for_every_key(pristine_int8, tmp_path, key, value):
    values = torch.load(pristine_int8, weights_only=True)
    values[key] = value
    int8_refused(write(values, tmp_path / "bad.int8.pt"))


@pytest.mark.parametrize(
    ("key", "value"), CONFIG_EDITS[:12], ids=[f"{k}={v!r}" for k, v in CONFIG_EDITS[:12]]
)
def test_int8_model_config_edits_are_refused(pristine_int8, tmp_path, key, value):
    values = torch.load(pristine_int8, weights_only=True)
    values["model_config"][key] = value
    int8_refused(write(values, tmp_path / "bad.int8.pt"))


def _zlib_bomb() -> torch.Tensor:
    import zlib

    return torch.frombuffer(bytearray(zlib.compress(b"\x00" * 200_000_000, 9)), dtype=torch.uint8)


INT8_VOCAB_EDITS: list[tuple[str, Callable[[dict[str, torch.Tensor]], None]]] = [
    ("zlib bomb ids", lambda v: v.__setitem__("track_ids.strings", _zlib_bomb())),
    ("zlib bomb counts", lambda v: v.__setitem__("counts", _zlib_bomb())),
    ("not zlib", lambda v: v.__setitem__("counts", torch.zeros(10, dtype=torch.uint8))),
    ("int64 part", lambda v: v.__setitem__("counts", torch.zeros(10, dtype=torch.int64))),
    ("2-D part", lambda v: v.__setitem__("counts", torch.zeros(2, 5, dtype=torch.uint8))),
    ("extra part", lambda v: v.__setitem__("_target_", torch.zeros(1, dtype=torch.uint8))),
    ("no ids", lambda v: v.pop("track_ids.strings")),
]


@pytest.mark.parametrize(("name", "edit"), INT8_VOCAB_EDITS, ids=[n for n, _ in INT8_VOCAB_EDITS])
def test_int8_packed_vocab_edits_are_refused(pristine_int8, tmp_path, name, edit):
    values = torch.load(pristine_int8, weights_only=True)
    edit(values["vocab"])
    values.pop("sha256")
    values["version"] = 2  # no checksum: the vocabulary checks alone must hold
    int8_refused(write(values, tmp_path / "bad.int8.pt"))


def test_int8_duplicated_ids_in_the_packed_vocab(tmp_path):
    from segue.compress.packed_vocab import pack_vocab

    vocab = tiny_vocab()
    values = torch.load(save_int8(tiny_model("side"), vocab, tmp_path / "a.pt"), weights_only=True)
    ids = [f"t{i}" for i in range(N_TRACKS)]
    ids[1] = "t0"
    packed = pack_vocab(vocab)
    import zlib

    packed["track_ids.strings"] = torch.frombuffer(
        bytearray(zlib.compress("\x00".join(ids).encode())), dtype=torch.uint8
    )
    values["vocab"], values["version"] = packed, 2
    values.pop("sha256")
    int8_refused(write(values, tmp_path / "dup.int8.pt"))


@pytest.mark.parametrize("fraction", [i / 20 for i in range(20)])
def test_int8_truncated_at_many_lengths(pristine_int8, tmp_path, fraction):
    path = tmp_path / "cut.int8.pt"
    raw = pristine_int8.read_bytes()
    path.write_bytes(raw[: int(len(raw) * fraction)])
    int8_refused(path)


@pytest.mark.parametrize("fraction", [i / 20 for i in range(20)])
def test_int8_flipped_byte_is_refused_or_harmless(pristine_int8, tmp_path, fraction):
    raw = bytearray(pristine_int8.read_bytes())
    raw[int(len(raw) * fraction)] ^= 0x5A
    path = tmp_path / "flipped.int8.pt"
    path.write_bytes(bytes(raw))
    try:
        got = load_int8(path, mmap=False)
    except CheckpointError as error:
        assert str(path) in str(error)
        return
    want = load_int8(pristine_int8, mmap=False)
    assert got.vocab.to_dict() == want.vocab.to_dict()
    for name, tensor in want.model.state_dict().items():
        assert torch.equal(got.model.state_dict()[name], tensor), name


def test_a_checkpoint_given_to_the_int8_loader_says_which_loader(pristine_checkpoint, tmp_path):
    path = write(copy.deepcopy(pristine_checkpoint), tmp_path / "best.pt")
    assert "load_checkpoint" in str(int8_refused(path))


# ---------------------------------------------------------------------------------------------
# ONNX bundles


@pytest.fixture(scope="module")
def pristine_bundles(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bundles")
    model, vocab = tiny_model("side"), tiny_vocab()
    return {  # version 1 (no checksums): each edit meets the structural check for its file
        "float32": without_checksums(write_bundle(model, vocab, folder / "float")),
        "int8": without_checksums(
            write_bundle(model, vocab, folder / "int8", int8_embeddings=True)
        ),
    }


@pytest.fixture
def bundle(pristine_bundles, tmp_path) -> Path:
    return Path(shutil.copytree(pristine_bundles["float32"], tmp_path / "bundle"))


def bundle_refused(bundle: Path, file: str | None = None) -> BundleError:
    with pytest.raises(BundleError) as caught:
        OnnxRecommender.load(bundle)
    if file is not None:
        assert caught.value.path == str(bundle / file), str(caught.value)
    return caught.value


def edit_json(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


META_KEYS = [
    "format",
    "version",
    "model_config",
    "inputs",
    "catalogue",
    "opset",
    "play_event",
    "event_types",
    "gap_edges_seconds",
    "assumed_gap_seconds",
]


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda meta: meta.pop(key)


def _node(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda meta: meta.__setitem__(key, {"_target_": "os.system"})


META_EDITS: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    *[(f"missing {k}", _drop(k)) for k in META_KEYS],
    *[(f"{k} wrong type", _node(k)) for k in META_KEYS],
    ("target key", lambda m: m.__setitem__("_target_", "os.system")),
    ("version string", lambda m: m.__setitem__("version", "1")),
    ("version newer", lambda m: m.__setitem__("version", 99)),
    ("version bool", lambda m: m.__setitem__("version", True)),
    ("n_tracks bomb", lambda m: m["model_config"].__setitem__("n_tracks", 3_000_000_000)),
    ("n_tracks negative", lambda m: m["model_config"].__setitem__("n_tracks", -1)),
    ("n_tracks float", lambda m: m["model_config"].__setitem__("n_tracks", 40.0)),
    ("d_model bomb", lambda m: m["model_config"].__setitem__("d_model", 10**7)),
    ("max_len 0", lambda m: m["model_config"].__setitem__("max_len", 0)),
    ("max_len string", lambda m: m["model_config"].__setitem__("max_len", "12")),
    ("objective", lambda m: m["model_config"].__setitem__("objective", "exec")),
    ("inputs order", lambda m: m.__setitem__("inputs", ["gap_buckets", "tracks"])),
    ("inputs unknown", lambda m: m.__setitem__("inputs", ["tracks", "evil"])),
    ("catalogue kind", lambda m: m.__setitem__("catalogue", "float16")),
    ("play_event out of range", lambda m: m.__setitem__("play_event", 99)),
    ("play_event negative", lambda m: m.__setitem__("play_event", -1)),
    ("event_types no other", lambda m: m.__setitem__("event_types", ["play"])),
    ("gap edges nan", lambda m: m.__setitem__("gap_edges_seconds", [1.0, float("nan")])),
    ("gap edges unsorted", lambda m: m.__setitem__("gap_edges_seconds", [5.0, 1.0])),
    ("gap edges strings", lambda m: m.__setitem__("gap_edges_seconds", ["1", "2"])),
    ("assumed gap inf", lambda m: m.__setitem__("assumed_gap_seconds", float("inf"))),
    ("assumed gap negative", lambda m: m.__setitem__("assumed_gap_seconds", -5.0)),
    ("opset string", lambda m: m.__setitem__("opset", "17")),
    ("model_config target", lambda m: m["model_config"].__setitem__("_target_", "os.system")),
    (
        "model_config node",
        lambda m: m["model_config"].__setitem__("d_ff", {"_target_": "os.system"}),
    ),
    ("model_config list", lambda m: m["model_config"].__setitem__("seed", [1])),
]


@pytest.mark.parametrize(("name", "edit"), META_EDITS, ids=[n for n, _ in META_EDITS])
def test_bundle_json_edits_are_refused(bundle, name, edit):
    edit_json(bundle / "bundle.json", edit)
    if "bomb" in name:  # refused where the claim first disagrees with a file, naming the key
        assert "model_config" in str(bundle_refused(bundle))
    else:
        bundle_refused(bundle, "bundle.json")


BUNDLE_VOCAB_EDITS: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("duplicated id", lambda v: v["track_ids"].__setitem__(1, v["track_ids"][0])),
    ("short ids", lambda v: v["track_ids"].pop()),
    ("long ids", lambda v: v["track_ids"].append("extra")),
    ("int ids", lambda v: v.__setitem__("track_ids", list(range(N_TRACKS)))),
    ("ids string", lambda v: v.__setitem__("track_ids", "t" * N_TRACKS)),
    ("counts nan", lambda v: v.__setitem__("counts", [float("nan")] * N_TRACKS)),
    ("counts negative", lambda v: v["counts"].__setitem__(0, -5)),
    ("counts bool", lambda v: v["counts"].__setitem__(0, True)),
    ("counts missing", lambda v: v.pop("counts")),
    ("artists short", lambda v: v.__setitem__("artists", ["a"])),
    ("artists ints", lambda v: v.__setitem__("artists", [1] * N_TRACKS)),
    ("target key", lambda v: v.__setitem__("_target_", "os.system")),
]


@pytest.mark.parametrize(
    ("name", "edit"), BUNDLE_VOCAB_EDITS, ids=[n for n, _ in BUNDLE_VOCAB_EDITS]
)
def test_bundle_vocab_edits_are_refused(bundle, name, edit):
    edit_json(bundle / "vocab.json", edit)
    bundle_refused(bundle, "vocab.json")


@pytest.mark.parametrize(
    "content",
    [b"", b"\xff\xfe{", b"[1, 2]", b"null", b'{"format": "segue-onnx-bundle"', b"NaN"],
    ids=["empty", "utf16", "list", "null", "truncated", "nan"],
)
@pytest.mark.parametrize("file", ["bundle.json", "vocab.json"])
def test_bundle_json_files_unreadable(bundle, content, file):
    (bundle / file).write_bytes(content)
    bundle_refused(bundle, file)


def _npy_with_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    text = repr(header).encode()
    text += b" " * (63 - (len(text) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text


NPY_EDITS: list[tuple[str, Callable[[Path], None]]] = [
    ("missing", lambda p: p.unlink()),
    ("empty", lambda p: p.write_bytes(b"")),
    ("pickled object array", lambda p: np.save(p, np.array([{"a": 1}], dtype=object))),
    ("float64", lambda p: np.save(p, np.load(p).astype(np.float64))),
    ("wrong shape", lambda p: np.save(p, np.load(p)[:-1])),
    ("transposed", lambda p: np.save(p, np.asfortranarray(np.load(p)))),
    (
        "nan",
        lambda p: np.save(
            p,
            np.where(
                np.arange(np.load(p).size).reshape(np.load(p).shape) == 5, np.nan, np.load(p)
            ).astype(np.float32),
        ),
    ),
    ("inf", lambda p: np.save(p, np.full(np.load(p).shape, np.inf, dtype=np.float32))),
    ("header bomb", lambda p: p.write_bytes(_npy_with_header((10**12, 16)))),
    ("truncated", lambda p: p.write_bytes(p.read_bytes()[:200])),
    ("bad magic", lambda p: p.write_bytes(b"NOTNPY" + p.read_bytes()[6:])),
    ("object descr", lambda p: p.write_bytes(_npy_with_header((N_TRACKS + 1, 16), "|O"))),
    ("a folder", lambda p: (p.unlink(), p.mkdir())),
]


@pytest.mark.parametrize(("name", "edit"), NPY_EDITS, ids=[n for n, _ in NPY_EDITS])
def test_bundle_catalogue_edits_are_refused(bundle, canary, name, edit):
    edit(bundle / "catalogue.npy")
    bundle_refused(bundle, "catalogue.npy")


@pytest.mark.parametrize("name", ["catalogue_int8.npy", "catalogue_scales.npy"])
@pytest.mark.parametrize("edit", ["missing", "truncated", "float64", "wrong shape"])
def test_int8_bundle_catalogue_edits_are_refused(pristine_bundles, tmp_path, name, edit):
    bundle = Path(shutil.copytree(pristine_bundles["int8"], tmp_path / "b"))
    path = bundle / name
    {
        "missing": lambda p: p.unlink(),
        "truncated": lambda p: p.write_bytes(p.read_bytes()[:150]),
        "float64": lambda p: np.save(p, np.load(p).astype(np.float64)),
        "wrong shape": lambda p: np.save(p, np.load(p)[:-1]),
    }[edit](path)
    bundle_refused(bundle, name)


@pytest.mark.parametrize(
    "edit", ["missing", "empty", "garbage", "truncated", "a folder", "a pickle"]
)
def test_bundle_encoder_edits_are_refused(bundle, canary, edit):
    path = bundle / "encoder.onnx"
    if edit == "missing":
        path.unlink()
    elif edit == "empty":
        path.write_bytes(b"")
    elif edit == "garbage":
        path.write_bytes(os.urandom(2048))
    elif edit == "truncated":
        path.write_bytes(path.read_bytes()[:300])
    elif edit == "a folder":
        path.unlink()
        path.mkdir()
    else:
        import pickle

        path.write_bytes(pickle.dumps(Canary(canary)))
    bundle_refused(bundle, "encoder.onnx")


def test_bundle_not_a_folder(bundle, tmp_path):
    with pytest.raises(FileNotFoundError, match="bundle"):
        OnnxRecommender.load(bundle / "bundle.json")
    with pytest.raises(FileNotFoundError, match="bundle"):
        OnnxRecommender.load(tmp_path / "absent")


def test_the_errors_are_exported_at_the_top_level():
    import segue

    assert segue.CheckpointError is CheckpointError and "CheckpointError" in segue.__all__
    assert segue.BundleError is BundleError
    assert issubclass(CheckpointError, ValueError) and issubclass(BundleError, ValueError)


def test_an_encoder_from_another_export_is_refused_on_open(pristine_bundles, tmp_path):
    from segue.models import sasrec

    narrow = sasrec(
        N_TRACKS,
        d_model=8,
        n_layers=1,
        max_len=12,
        n_artists=5,
        use_event_types=True,
        use_gap_buckets=True,
    )
    other = write_bundle(narrow, tiny_vocab(), tmp_path / "other")
    bundle = Path(shutil.copytree(pristine_bundles["float32"], tmp_path / "b"))
    shutil.copy(other / "encoder.onnx", bundle / "encoder.onnx")
    error = bundle_refused(bundle, "encoder.onnx")
    assert "(1, 16)" in str(error)


def test_a_model_with_nan_weights_is_refused_by_the_recommender():
    from segue import Recommender

    model = tiny_model("side")
    with torch.no_grad():
        model.track_emb.weight[5, 0] = float("nan")
    with pytest.raises(ValueError, match=r"track_emb\.weight"):
        Recommender(model, tiny_vocab())


def test_writing_over_a_folder_says_so_and_leaves_nothing(tmp_path):
    from segue.io.checkpoint import save_checkpoint

    checkpoint = load_checkpoint(tiny_checkpoint("sasrec", tmp_path))
    (tmp_path / "out").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(IsADirectoryError, match="is a folder"):
        save_checkpoint(checkpoint, tmp_path / "out")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        save_int8(tiny_model("side"), tiny_vocab(), tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def _expanded(shape: tuple[int, ...]) -> torch.Tensor:
    """A tensor of ``shape`` whose storage is one float: what a stride-0 view saves as."""
    return torch.zeros((1,) * len(shape)).expand(*shape)


def test_a_stride_zero_view_cannot_back_a_big_config(pristine_checkpoint, tmp_path):
    values = copy.deepcopy(pristine_checkpoint)
    config = values["model_config"]
    width = 2048  # the template alone would be ~100 M floats if the claim were believed
    config.update(d_model=width, n_heads=2)
    state = {
        k: _expanded((*v.shape[:-1], width) if v.dim() else v.shape)
        for k, v in values["state_dict"].items()
    }
    values["state_dict"] = state
    error = checkpoint_refused(write(values, tmp_path / "views.pt"))
    assert "view of shape" in str(error)


def test_shared_storages_are_counted_once(pristine_checkpoint, tmp_path):
    values = copy.deepcopy(pristine_checkpoint)
    big = torch.zeros(1000)
    for i in range(500):  # 500 names over one storage: not 500 x 1000 stored weights
        values["state_dict"][f"alias{i}"] = big
    values["model_config"].update(n_layers=40)
    sign(values)
    error = checkpoint_refused(write(values, tmp_path / "alias.pt"))
    assert "needs at least" in str(error)  # the aliases do not count as stored weights


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_len", 50),
        ("causal", False),
        ("side", {"artists": False, "event_types": True, "gap_buckets": True}),
    ],
    ids=["max_len", "causal", "side"],
)
def test_data_settings_must_fit_the_model(pristine_checkpoint, tmp_path, key, value):
    values = copy.deepcopy(pristine_checkpoint)
    values["data_settings"][key] = value
    sign(values)
    error = checkpoint_refused(write(values, tmp_path / "misfit.pt"))
    assert key in str(error) and "do not fit model_config" in str(error)


def test_the_pristine_checkpoint_loads_with_its_settings(pristine_checkpoint, tmp_path):
    checkpoint = load_checkpoint(write(copy.deepcopy(pristine_checkpoint), tmp_path / "ok.pt"))
    assert checkpoint.data_settings is not None and checkpoint.data_settings.max_len == 12


def test_settings_that_do_not_fit_are_never_written(tmp_path):
    from segue.io.checkpoint import save_checkpoint

    path = tiny_checkpoint("side", tmp_path)
    checkpoint = load_checkpoint(path)
    checkpoint.data_settings = DataSettings("tiny", "synthetic", {"n_users": 5}, max_len=50)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="max_len"):
        save_checkpoint(checkpoint, path)
    assert path.read_bytes() == before


def test_edited_weights_with_valid_crcs_still_fail_the_checksum(pristine_checkpoint, tmp_path):
    values = copy.deepcopy(pristine_checkpoint)
    values["state_dict"]["track_emb.weight"][3, 0] += 1.0  # torch.save writes fresh CRCs
    assert "SHA-256 mismatch" in str(checkpoint_refused(write(values, tmp_path / "e.pt")))
