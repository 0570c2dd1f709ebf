"""ONNX bundles carry a SHA-256 per file: one flipped byte anywhere is refused, naming the file."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from segue.export.onnx_export import write_bundle
from segue.export.runtime import BUNDLE_VERSION, BundleError, OnnxRecommender, file_sha256
from tests.adversarial.conftest import without_checksums
from tests.export.conftest import tiny_model, tiny_vocab


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("checksummed")
    model, vocab = tiny_model("side"), tiny_vocab()
    return {
        "float32": write_bundle(model, vocab, folder / "float"),
        "int8": write_bundle(model, vocab, folder / "int8", int8_embeddings=True),
    }


def copy(pristine: dict[str, Path], kind: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine[kind], tmp_path / kind))


def flip_byte(path: Path, offset_from_end: int = 1) -> None:
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["float32", "int8"])
def test_export_writes_a_checksum_of_every_other_file(pristine, kind):
    bundle = pristine[kind]
    meta = json.loads((bundle / "bundle.json").read_text())
    assert meta["version"] == BUNDLE_VERSION == 2
    others = sorted(p.name for p in bundle.iterdir() if p.name != "bundle.json")
    assert sorted(meta["sha256"]) == others
    for name, digest in meta["sha256"].items():
        assert digest == file_sha256(bundle / name)
    OnnxRecommender.load(bundle)  # the pristine bundle loads


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("float32", "encoder.onnx"),
        ("float32", "catalogue.npy"),
        ("float32", "vocab.json"),
        ("int8", "catalogue_int8.npy"),
        ("int8", "catalogue_scales.npy"),
    ],
)
def test_a_flipped_byte_is_refused_naming_the_file(pristine, tmp_path, kind, name):
    """The last byte of a catalogue is one bit of one float: no structural check could see it."""
    bundle = copy(pristine, kind, tmp_path)
    flip_byte(bundle / name)
    with pytest.raises(BundleError, match="SHA-256 does not match") as caught:
        OnnxRecommender.load(bundle)
    assert caught.value.path == str(bundle / name)


def test_a_flipped_byte_mid_encoder_is_refused(pristine, tmp_path):
    bundle = copy(pristine, "float32", tmp_path)
    size = (bundle / "encoder.onnx").stat().st_size
    flip_byte(bundle / "encoder.onnx", size // 2)
    with pytest.raises(BundleError, match=r"encoder\.onnx.*SHA-256"):
        OnnxRecommender.load(bundle)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.pop("sha256"), r"missing key\(s\) \['sha256'\]"),
        (lambda m: m["sha256"].pop("vocab.json"), "sha256 must map exactly"),
        (lambda m: m["sha256"].__setitem__("../evil", "0" * 64), "sha256 must map exactly"),
        (lambda m: m.__setitem__("sha256", "abc"), "sha256 must map exactly"),
        (lambda m: m["sha256"].__setitem__("vocab.json", "XYZ"), "64 lowercase hex"),
    ],
)
def test_a_damaged_checksum_table_is_refused(pristine, tmp_path, edit, message):
    bundle = copy(pristine, "float32", tmp_path)
    meta = json.loads((bundle / "bundle.json").read_text())
    edit(meta)
    (bundle / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=message) as caught:
        OnnxRecommender.load(bundle)
    assert caught.value.path == str(bundle / "bundle.json")


def test_a_missing_file_is_named(pristine, tmp_path):
    bundle = copy(pristine, "float32", tmp_path)
    (bundle / "catalogue.npy").unlink()
    with pytest.raises(BundleError, match="missing from the bundle") as caught:
        OnnxRecommender.load(bundle)
    assert caught.value.path == str(bundle / "catalogue.npy")


def test_an_older_bundle_without_checksums_still_loads(pristine, tmp_path):
    bundle = without_checksums(copy(pristine, "float32", tmp_path))
    expected = OnnxRecommender.load(pristine["float32"]).recommend(["t1", "t2"], k=5)
    assert OnnxRecommender.load(bundle).recommend(["t1", "t2"], k=5) == expected


def test_bundle_folder_and_files_are_world_readable(tmp_path):
    """``mkdtemp`` makes 0700 folders; a bundle is shared, so 0755 / 0644 whatever the umask."""
    import os

    old = os.umask(0o077)
    try:
        bundle = write_bundle(tiny_model("side"), tiny_vocab(), tmp_path / "b")
    finally:
        os.umask(old)
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o755
    for path in bundle.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name
