"""Small hostile files that would cost far more than their size to read: each is refused, by
a CheckpointError / BundleError naming the file, before the cost is paid.

A config number that sizes a table (HSTU's position bias), a vocabulary id that sizes a
fixed-width array, nesting that overflows a recursive walk, lists shared by reference (a pickle
stores them once: 2**60 values in a few hundred bytes), and a compressed zip member.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest
import torch

from segue.api import Recommender
from segue.compress import compress_checkpoint, load_int8
from segue.compress.artefact import _covered
from segue.compress.packed_vocab import (
    MAX_ID_BYTES,
    SEPARATOR,
    _compressed,
    pack_vocab,
    unpack_vocab,
)
from segue.data.sequences import SideInputs
from segue.data.settings import DataSettings
from segue.data.vocab import TrackVocab
from segue.export.runtime import BundleError, OnnxRecommender
from segue.io.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from segue.io.safe_load import content_digest
from segue.models import hstu
from tests.adversarial.conftest import nested_lists, payload, resave, shared_lists
from tests.export.conftest import tiny_checkpoint


def test_an_hstu_position_table_bomb_is_refused_before_any_block_is_built(tmp_path, monkeypatch):
    path = tiny_checkpoint("hstu", tmp_path)
    values = payload(path)
    values["model_config"].update(positions="none", max_len=10**9)  # a (2e9 - 1, 1) table
    resave(values, path)
    built: list[int] = []
    real_init = hstu.HSTUBlock.__init__
    monkeypatch.setattr(
        hstu.HSTUBlock,
        "__init__",
        lambda self, config: built.append(config.max_len) or real_init(self, config),
    )
    with pytest.raises(CheckpointError, match=r"max_len=1000000000\) needs at least"):
        load_checkpoint(path)
    assert built == []  # refused arithmetically: no template (8 GB at 1e9) was allocated


def test_a_real_hstu_checkpoint_still_loads(tmp_path):
    rec = Recommender.load(tiny_checkpoint("hstu", tmp_path))
    assert len(rec.recommend(["t1", "t2"], k=3)) == 3


def _with_track_id(artefact: Path, track_id: str, out: Path) -> Path:
    """The int8 artefact with its first id replaced and its checksum recomputed (a forger;
    the ids are packed by hand, as :func:`pack_vocab` refuses an id over the limit)."""
    values = payload(artefact)
    ids = unpack_vocab(values["vocab"]).track_ids
    text = SEPARATOR.join([track_id, *ids[1:]]).encode()
    values["vocab"] = {**values["vocab"], "track_ids.strings": _compressed(text)}
    plain = {"model_config": values["model_config"]}
    values["sha256"] = content_digest(_covered(values["tensors"], values["vocab"]), plain)
    return resave(values, out)


def test_one_very_long_track_id_in_an_int8_artefact_is_refused(tmp_path):
    artefact = compress_checkpoint(tiny_checkpoint("side", tmp_path), tmp_path / "a.int8.pt")
    # Within the vocabulary's total cap (4 kB a track on average: 164 kB here), one id of
    # 150 kB would have made a 40 x 150 kB fixed-width array (1.8 GB for 12,000 tracks).
    long_id = _with_track_id(artefact, "x" * 150_000, tmp_path / "long.int8.pt")
    with pytest.raises(CheckpointError, match="150,000 bytes long; ids may be at most 4,096"):
        load_int8(long_id)
    with pytest.raises(CheckpointError, match=str(long_id.name)):
        Recommender.load(long_id)
    at_limit = _with_track_id(artefact, "y" * MAX_ID_BYTES, tmp_path / "limit.int8.pt")
    assert load_int8(at_limit).vocab.decode([1])[0] == "y" * MAX_ID_BYTES


def test_pack_vocab_refuses_an_id_no_artefact_could_load():
    with pytest.raises(ValueError, match=r"track id 2 .* ids may be at most"):
        pack_vocab(TrackVocab(["a", "b" * (MAX_ID_BYTES + 1)], [2, 1]))


def _with_reader_options(path: Path, options: dict) -> Path:
    checkpoint = load_checkpoint(path)
    side = SideInputs(artists=True, event_types=True, gap_buckets=True)
    checkpoint.data_settings = DataSettings(
        "tiny", "synthetic", {"n_users": 5, "n_events": 200}, max_len=12, side=side
    )
    save_checkpoint(checkpoint, path)
    values = payload(path)
    values["data_settings"]["reader_options"] = options
    return resave(values, path)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (
            {"n_users": nested_lists(3000)},
            r"reader_options.n_users\[0\]\[0\].*nested more than 100",
        ),
        ({"n_users": shared_lists(60)}, "reader_options: more than 100,000 values"),
    ],
)
def test_deep_or_shared_data_settings_are_refused_at_once(checkpoint_path, options, match):
    # 3,000 levels: past the recursion limit of a recursive walk (what torch.load reads is
    # unpickled without recursion; writing it needs a higher limit).
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)
    try:
        path = _with_reader_options(checkpoint_path, options)
    finally:
        sys.setrecursionlimit(limit)
    with pytest.raises(CheckpointError, match=match) as caught:
        Recommender.load(path)
    assert str(path) in str(caught.value) and len(str(caught.value)) < 400  # one short line


def test_a_deeply_nested_bundle_json_is_a_bundle_error(tmp_path):
    from segue.export.onnx_export import export_onnx

    bundle = export_onnx(tiny_checkpoint("side", tmp_path), tmp_path / "bundle")
    meta = bundle / "bundle.json"
    meta.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(BundleError, match=r"bundle.json: not readable JSON \(nested too deeply"):
        OnnxRecommender.load(bundle)


def _add_member(path: Path, name: str, data: bytes, method: int) -> None:
    with zipfile.ZipFile(path, "a", compression=method) as archive:
        archive.writestr(name, data)


def test_a_compressed_member_is_refused_before_it_is_inflated(checkpoint_path, monkeypatch):
    _add_member(checkpoint_path, "archive/bomb", bytes(50_000_000), zipfile.ZIP_DEFLATED)
    assert checkpoint_path.stat().st_size < 1_000_000  # 50 MB of zeros in ~50 kB
    monkeypatch.setattr(
        zipfile.ZipFile, "testzip", lambda self: pytest.fail("CRCs computed before the refusal")
    )
    with pytest.raises(CheckpointError, match="'archive/bomb' is compressed"):
        load_checkpoint(checkpoint_path)


def test_files_torch_and_segue_write_are_stored_and_still_load(checkpoint_path, tmp_path):
    artefact = compress_checkpoint(checkpoint_path, tmp_path / "a.int8.pt")
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(1000)}, plain)  # zeros: deflate would shrink them
    for path in (checkpoint_path, artefact, plain):
        with zipfile.ZipFile(path) as archive:
            assert {m.compress_type for m in archive.infolist()} == {zipfile.ZIP_STORED}
    assert load_checkpoint(checkpoint_path).vocab.track_ids[0] == "t0"
    assert load_int8(artefact).vocab.n_tracks == 40
