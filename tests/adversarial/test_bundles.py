"""Damaged ONNX bundles are refused when opened (BundleError naming the file), not per request."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from segue.export.onnx_export import write_bundle
from segue.export.runtime import BundleError, OnnxRecommender
from tests.adversarial.conftest import without_checksums
from tests.export.conftest import N_TRACKS, tiny_model, tiny_vocab


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bundles")
    model, vocab = tiny_model("side"), tiny_vocab()
    return {  # version 1 (no checksums): each edit meets the structural check for its file
        "float32": without_checksums(write_bundle(model, vocab, folder / "float")),
        "int8": without_checksums(
            write_bundle(model, vocab, folder / "int8", int8_embeddings=True)
        ),
    }


@pytest.fixture
def bundle(pristine: dict[str, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine["float32"], tmp_path / "bundle"))


def edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def refused(bundle: Path, file: str, match: str) -> None:
    with pytest.raises(BundleError, match=match) as caught:
        OnnxRecommender.load(bundle)
    assert caught.value.path == str(bundle / file)


def test_the_pristine_bundles_open_and_recommend(pristine):
    for path in pristine.values():
        assert len(OnnxRecommender.load(path).recommend(["t1", "t2"], k=5)) == 5


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m: m.pop("inputs"), "missing key\\(s\\) \\['inputs'\\]"),
        (lambda m: m.update(version="1"), "version must be an integer >= 1, got '1'"),
        (lambda m: m.update(version=9), "newer segue"),
        (lambda m: m.update(format="zip"), "not a segue ONNX bundle"),
        (lambda m: m.update(inputs="tracks"), "inputs must be 'tracks'"),
        # A list inside the list once failed building a set (TypeError: unhashable).
        (lambda m: m.update(inputs=["tracks", ["event_types"]]), "inputs must be 'tracks'"),
        (lambda m: m.update(catalogue=None), "catalogue must be 'float32' or 'int8'"),
        (lambda m: m.update(play_event=99), "play_event must be an index"),
        (lambda m: m.update(gap_edges_seconds=[60, "x"]), "gap_edges_seconds"),
        (lambda m: m["model_config"].pop("n_tracks"), "model_config.n_tracks"),
        (lambda m: m["model_config"].update(objective="both"), "model_config.objective"),
        (lambda m: m.update(extra=1), "unexpected key\\(s\\) \\['extra'\\]"),
    ],
)
def test_bundle_json_keys_and_types_are_checked(bundle, edit, match):
    edit_json(bundle / "bundle.json", edit)
    refused(bundle, "bundle.json", match)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda v: v.update(track_ids=v["track_ids"][:-1]), "track_ids must be 40 distinct"),
        (lambda v: v.update(track_ids=["t0"] * N_TRACKS), "track_ids must be 40 distinct"),
        (lambda v: v.update(counts=v["counts"][:3]), "counts must be 40 finite numbers"),
        (lambda v: v.update(artists="a0"), "artists must be null or 40"),
        (lambda v: v.pop("track_ids"), "track_ids must be"),
    ],
)
def test_a_short_or_mistyped_vocabulary_is_refused_at_load(bundle, edit, match):
    edit_json(bundle / "vocab.json", edit)
    refused(bundle, "vocab.json", match)


@pytest.mark.parametrize("file", ["bundle.json", "vocab.json", "catalogue.npy"])
def test_a_missing_file_is_named(bundle, file):
    (bundle / file).unlink()
    refused(bundle, file, "missing from the bundle")


def test_json_that_does_not_parse_is_named(bundle):
    (bundle / "vocab.json").write_text('{"track_ids": [')
    refused(bundle, "vocab.json", "not readable JSON")


def test_a_catalogue_of_the_wrong_shape_is_refused(bundle):
    np.save(bundle / "catalogue.npy", np.zeros((N_TRACKS, 16), dtype=np.float32))
    refused(bundle, "catalogue.npy", "expected float32 \\(41, 16\\)")


def test_a_catalogue_header_bomb_is_refused_before_allocating(bundle):
    """A header claiming 3e9 rows over a few bytes: refused from the header alone."""
    path = bundle / "catalogue.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": (3_000_000_000, 16)}
        )
        f.write(b"\0" * 64)
    refused(bundle, "catalogue.npy", "expected float32 \\(41, 16\\)")


def test_a_truncated_catalogue_is_refused(bundle):
    path = bundle / "catalogue.npy"
    path.write_bytes(path.read_bytes()[:-100])
    refused(bundle, "catalogue.npy", "truncated")


def test_a_pickled_catalogue_is_refused(bundle):
    np.save(bundle / "catalogue.npy", np.array([object()] * 3, dtype=object), allow_pickle=True)
    refused(bundle, "catalogue.npy", "holds object")


def test_nan_in_the_catalogue_is_refused(bundle):
    values = np.load(bundle / "catalogue.npy")
    values[5, 3] = np.nan
    np.save(bundle / "catalogue.npy", values)
    refused(bundle, "catalogue.npy", "NaN or infinite")


def test_an_int8_bundle_checks_its_scales(pristine, tmp_path):
    bundle = Path(shutil.copytree(pristine["int8"], tmp_path / "int8"))
    np.save(bundle / "catalogue_scales.npy", np.ones(N_TRACKS, dtype=np.float32))
    refused(bundle, "catalogue_scales.npy", "expected float32 \\(41,\\)")


def test_an_encoder_that_is_not_onnx_is_refused(bundle):
    (bundle / "encoder.onnx").write_bytes(b"not a model")
    refused(bundle, "encoder.onnx", "not a loadable ONNX model")


def test_an_encoder_whose_inputs_differ_from_bundle_json_is_refused(bundle):
    edit_json(bundle / "bundle.json", lambda m: m.update(inputs=["tracks", "event_types"]))
    refused(bundle, "encoder.onnx", "inputs .* do not match")


def test_a_missing_folder_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no ONNX bundle folder"):
        OnnxRecommender.load(tmp_path / "nothing")
