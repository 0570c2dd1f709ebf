"""Hostile and damaged int8 artefacts: refused with a CheckpointError naming file and cause."""

from __future__ import annotations

import math
import resource
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import torch

from segue.compress import load_int8, save_int8
from segue.io.checkpoint import CheckpointError
from segue.io.safe_load import content_digest
from tests.adversarial.conftest import Canary, flip_bytes, largest_tensor_member, payload, resave
from tests.export.conftest import tiny_model, tiny_vocab


@pytest.fixture
def artefact(tmp_path: Path) -> Path:
    return save_int8(tiny_model("side"), tiny_vocab(), tmp_path / "model.int8.pt")


def refused(path: Path, match: str) -> CheckpointError:
    with pytest.raises(CheckpointError, match=match) as caught:
        load_int8(path)
    assert str(path) in str(caught.value)
    return caught.value


def redigest(values: dict) -> dict:
    """Recompute the checksum, as a forger who knows the format would."""
    covered = {**values["tensors"], **{f"vocab/{k}": v for k, v in values["vocab"].items()}}
    values["sha256"] = content_digest(covered, {"model_config": values["model_config"]})
    return values


def test_a_checkpoint_given_to_the_int8_loader_is_named(checkpoint_path):
    refused(checkpoint_path, "format 'segue-checkpoint'.*open it with .*load_checkpoint")


def test_a_pickled_object_is_refused_without_running(artefact, canary):
    values = payload(artefact)
    values["model_config"] = Canary(canary)
    refused(resave(values, artefact), "pickled objects")


@pytest.mark.parametrize("mmap", [True, False])
def test_a_truncated_artefact_is_refused(artefact, mmap):
    artefact.write_bytes(artefact.read_bytes()[:-500])
    with pytest.raises(CheckpointError, match="not a readable segue int8 artefact"):
        load_int8(artefact, mmap=mmap)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("version", "3", "version must be an integer, got '3'"),
        ("version", 4, "newer segue"),
        ("tensors", [], "tensors must be a dict"),
        ("sha256", 12, "sha256 must be a str"),
    ],
)
def test_header_values_are_checked(artefact, key, value, match):
    values = payload(artefact)
    values[key] = value
    refused(resave(values, artefact), match)


def test_a_shape_bomb_is_refused_before_allocating(artefact):
    values = payload(artefact)
    values["model_config"]["n_tracks"] = 3_000_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    refused(resave(values, artefact), "needs at least 48,000,002,224 weights")
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 200


def test_a_float_table_where_int8_belongs_is_named(artefact):
    values = payload(artefact)
    values["tensors"]["track_emb.values"] = values["tensors"]["track_emb.values"].float()
    refused(resave(redigest(values), artefact), "'track_emb.values' is torch.float32")


def test_flipped_bytes_are_detected(artefact):
    flip_bytes(artefact, largest_tensor_member(artefact))
    refused(artefact, "CRC-32|SHA-256 mismatch")  # the zip's CRC catches it first


def test_non_finite_scales_are_refused(artefact):
    values = payload(artefact)
    values["tensors"]["track_emb.scales"][3] = math.inf
    refused(resave(redigest(values), artefact), "'track_emb.scales' has NaN or infinite")


def test_a_short_packed_vocabulary_is_refused(artefact):
    values = payload(artefact)
    ids = "\x00".join(f"t{i}" for i in range(30)).encode()
    values["vocab"]["track_ids.strings"] = torch.frombuffer(
        bytearray(zlib.compress(ids)), dtype=torch.uint8
    )
    refused(resave(redigest(values), artefact), "30 track ids for a model of 40 tracks")


def test_a_decompression_bomb_in_the_vocabulary_stops_at_its_cap(artefact):
    """A few kB that would inflate to 100 MB of ids: decompression stops at the cap."""
    values = payload(artefact)
    bomb = zlib.compress(b"a" * 100_000_000, 9)
    assert len(bomb) < 200_000
    values["vocab"]["track_ids.strings"] = torch.frombuffer(bytearray(bomb), dtype=torch.uint8)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    refused(resave(redigest(values), artefact), "track_ids is truncated or inflates beyond")
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 50


def test_artist_codes_out_of_range_are_refused(artefact):
    values = payload(artefact)
    codes = torch.full((40,), 99, dtype=torch.int32).numpy().tobytes()
    values["vocab"]["artists.codes"] = torch.frombuffer(
        bytearray(zlib.compress(codes)), dtype=torch.uint8
    )
    refused(resave(redigest(values), artefact), "artists codes must be 40 indices")


def test_the_checks_do_not_pull_in_torch_dynamo(artefact, checkpoint_path):
    """Checking shapes on the ``meta`` device would import torch._dynamo (seconds, ~70 MB)."""
    code = (
        "import sys; from segue.compress import load_int8; "
        "from segue.io.checkpoint import load_checkpoint; "
        f"load_int8({str(artefact)!r}); load_checkpoint({str(checkpoint_path)!r}); "
        "print('torch._dynamo' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
