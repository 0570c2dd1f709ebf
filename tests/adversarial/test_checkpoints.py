"""Hostile and damaged checkpoints: each is refused with a CheckpointError naming file and cause."""

from __future__ import annotations

import math
import pickle
import resource
from pathlib import Path

import pytest
import torch

from segue.api import Recommender
from segue.data.sequences import SideInputs
from segue.data.settings import DataSettings
from segue.io.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from segue.io.safe_load import content_digest
from tests.adversarial.conftest import (
    Canary,
    flip_bytes,
    largest_tensor_member,
    payload,
    pickle_member,
    resave,
)


def refused(path: Path, match: str) -> CheckpointError:
    with pytest.raises(CheckpointError, match=match) as caught:
        load_checkpoint(path)
    assert str(path) in str(caught.value)
    return caught.value


def test_a_pickled_object_is_refused_without_running(checkpoint_path, canary):
    values = payload(checkpoint_path)
    values["metrics"] = {"note": Canary(canary)}
    refused(resave(values, checkpoint_path), "pickled objects")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
@pytest.mark.parametrize(
    ("protocol", "match"),
    [(2, "pickled objects, which could run code"), (5, "not a readable segue checkpoint")],
)
def test_a_bare_pickle_is_refused_without_running(tmp_path, canary, protocol, match):
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(Canary(canary), protocol=protocol))
    refused(path, match)


@pytest.mark.parametrize("keep", [0, 100, 0.5])
def test_truncated_and_empty_files_are_refused(checkpoint_path, keep):
    raw = checkpoint_path.read_bytes()
    cut = int(len(raw) * keep) if isinstance(keep, float) else keep
    checkpoint_path.write_bytes(raw[:cut])
    refused(checkpoint_path, "not a readable segue checkpoint")


def test_random_bytes_are_refused(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(bytes(range(256)) * 40)
    refused(path, "not a readable segue checkpoint")


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no segue checkpoint"):
        load_checkpoint(tmp_path / "nothing.pt")


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("format", "something-else", "not a segue checkpoint"),
        ("version", "1", "version must be an integer, got '1'"),
        ("version", 2.0, "version must be an integer"),
        ("version", True, "version must be an integer"),
        ("version", 99, "newer segue"),
        ("state_dict", [1, 2], "state_dict must be a dict"),
        ("metrics", "fine", "metrics must be a dict"),
        ("config", {"data": 1}, "config must be a str"),
        ("model_config", "n_tracks=40", "model_config must be a dict"),
        ("vocab", None, "vocab must be a dict"),
    ],
)
def test_wrong_header_values_and_types_name_the_key(checkpoint_path, key, value, match):
    values = payload(checkpoint_path)
    values[key] = value
    refused(resave(values, checkpoint_path), match)


def test_missing_and_extra_keys_are_named(checkpoint_path):
    values = payload(checkpoint_path)
    resave({**values, "surprise": 1}, checkpoint_path)
    refused(checkpoint_path, r"unexpected key\(s\) \['surprise'\]")
    del values["vocab"]
    refused(resave(values, checkpoint_path), r"\['vocab'\] missing")


def test_a_shape_bomb_is_refused_before_allocating(checkpoint_path):
    """A small file whose config claims 3e9 tracks: 768 GB if the model were built first."""
    values = payload(checkpoint_path)
    values["model_config"]["n_tracks"] = 3_000_000_000
    resave(values, checkpoint_path)
    assert checkpoint_path.stat().st_size < 200_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    error = refused(checkpoint_path, "needs at least 48,000,002,224 weights but the file holds")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200
    assert "3000000000" in str(error)


@pytest.mark.parametrize(
    "odd",
    [
        lambda w: w.to_sparse(),
        lambda w: torch.empty(w.shape, device="meta"),
    ],
)
def test_a_sparse_or_meta_weight_is_refused(checkpoint_path, odd):
    values = payload(checkpoint_path)
    values["state_dict"]["ln_f.weight"] = odd(values["state_dict"]["ln_f.weight"])
    refused(resave(values, checkpoint_path), "state_dict\\['ln_f.weight'\\] must be a dense")


@pytest.mark.parametrize(
    "claims",
    [
        {"history_prior": True, "prior_successors": 10**9},
        {"blend_weight": 0.5, "blend_successors": 10**9},
        {"blend_cooccurrence": 0.5, "blend_neighbours": 10**9},
    ],
)
def test_a_count_table_bomb_is_refused_before_allocating(checkpoint_path, claims):
    """A config that claims a prior or a blend table 10^9 columns wide: 24 GB even in the
    one-track template the checks build, were its width not bounded by the file first."""
    values = payload(checkpoint_path)
    values["model_config"].update(claims)
    resave(values, checkpoint_path)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    refused(checkpoint_path, "needs at least .* weights but the file holds")
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 200


def test_a_layer_bomb_is_refused_before_building_anything(checkpoint_path):
    values = payload(checkpoint_path)
    values["model_config"]["n_layers"] = 10**9
    refused(resave(values, checkpoint_path), "n_layers=1000000000")


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        (
            "d_model",
            8,
            r"'track_emb.weight' is torch.float32 \(42, 16\) .* needs torch.float32 \(42, 8\)",
        ),
        ("d_model", 32, "needs at least 8,800 weights but the file holds 3,056"),
        ("n_artists", 0, "unexpected \\['artist_emb.weight'\\]"),
        ("use_gap_buckets", False, "unexpected \\['gap_emb.weight'\\]"),
        ("n_layers", 2, "n_layers=2, max_len=12\\) needs at least"),
        ("use_event_types", False, "unexpected \\['event_emb.weight'\\]"),
        ("n_tracks", 39, "track_emb.weight"),
        ("mystery", 1, "model_config: .*mystery"),
    ],
)
def test_a_config_that_does_not_match_the_weights_is_named(checkpoint_path, key, value, match):
    values = payload(checkpoint_path)
    values["model_config"][key] = value
    refused(resave(values, checkpoint_path), match)


def test_twenty_flipped_bytes_in_the_weights_are_detected(checkpoint_path):
    flip_bytes(checkpoint_path, largest_tensor_member(checkpoint_path))
    refused(checkpoint_path, "CRC-32|SHA-256 mismatch")  # the zip's CRC catches it first


def test_flipped_bytes_in_the_pickled_structure_are_an_error(checkpoint_path):
    flip_bytes(checkpoint_path, pickle_member(checkpoint_path))
    refused(checkpoint_path, "CRC-32|SHA-256 mismatch|not a readable")


def test_an_edited_vocabulary_fails_the_checksum(checkpoint_path):
    values = payload(checkpoint_path)
    values["vocab"]["track_ids"][0] = "someone-else"
    refused(resave(values, checkpoint_path), "SHA-256 mismatch")


def test_nan_weights_are_refused_even_with_a_matching_checksum(checkpoint_path):
    values = payload(checkpoint_path)
    values["state_dict"]["blocks.0.attn.qkv.weight"][0, 0] = math.nan
    plain = {k: values[k] for k in ("model_config", "vocab", "data_settings")}
    values["sha256"] = content_digest(values["state_dict"], plain)  # as a diverged run writes
    refused(resave(values, checkpoint_path), "'blocks.0.attn.qkv.weight' has NaN")


def test_a_short_vocabulary_is_refused_at_load(checkpoint_path):
    values = payload(checkpoint_path)
    for column in ("track_ids", "counts", "artists", "names"):
        values["vocab"][column] = values["vocab"][column][:-3]
    values["version"] = 1  # no checksum to catch it: the size check must
    del values["sha256"], values["data_settings"]
    refused(resave(values, checkpoint_path), "vocabulary has 37 tracks but the model 40")


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("track_ids", list(range(40)), "vocab\\['track_ids'\\] must hold strings"),
        ("counts", ["1"] * 40, "vocab\\['counts'\\] must hold counts"),
        ("artists", "a0", "vocab\\['artists'\\] must be a list of 40"),
    ],
)
def test_vocabulary_types_are_checked(checkpoint_path, column, value, match):
    values = payload(checkpoint_path)
    values["vocab"][column] = value
    values["version"] = 1
    del values["sha256"], values["data_settings"]
    refused(resave(values, checkpoint_path), match)


def settings() -> DataSettings:
    """Settings that fit the ``side`` checkpoint's model (max_len 12, every side input)."""
    side = SideInputs(artists=True, event_types=True, gap_buckets=True)
    return DataSettings("tiny", "synthetic", {"n_users": 5, "n_events": 200}, max_len=12, side=side)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        ({"reader": "os.system"}, "reader must be one of \\['read_log', 'synthetic'\\]"),
        ({"reader_options": {"_target_": "pandas.read_pickle"}}, "reader_options._target_"),
        ({"min_count": "1"}, "min_count must be an integer"),
        ({"surprise": 1}, "unknown key\\(s\\) \\['surprise'\\]"),
        ({"version": 7}, "version 7 is not readable"),
        ({"sessions": {"gap": "30min", "evil": 1}}, "sessions: unknown key\\(s\\) \\['evil'\\]"),
    ],
)
def test_bad_data_settings_are_named(checkpoint_path, edit, match):
    checkpoint = load_checkpoint(checkpoint_path)
    checkpoint.data_settings = settings()
    save_checkpoint(checkpoint, checkpoint_path)
    values = payload(checkpoint_path)
    values["data_settings"].update(edit)
    plain = {k: values[k] for k in ("model_config", "vocab", "data_settings")}
    values["sha256"] = content_digest(values["state_dict"], plain)  # a careful forger
    refused(resave(values, checkpoint_path), match)


def test_settings_round_trip_and_a_version_1_file_still_serves(checkpoint_path, tmp_path):
    checkpoint = load_checkpoint(checkpoint_path)
    checkpoint.data_settings = settings()
    save_checkpoint(checkpoint, checkpoint_path)
    assert load_checkpoint(checkpoint_path).data_settings == settings()

    values = payload(checkpoint_path)  # as segue wrote checkpoints before data settings
    values["version"] = 1
    del values["sha256"], values["data_settings"]
    old = resave(values, tmp_path / "old.pt")
    loaded = load_checkpoint(old)
    assert loaded.data_settings is None
    with pytest.raises(CheckpointError, match=r"no data settings.*data_from_checkpoint=false"):
        loaded.require_data_settings(old)
    assert len(Recommender.load(old, num_threads=None).recommend(["t1", "t2"], k=5)) == 5


def test_infinite_weights_saved_by_a_diverged_run_are_refused_at_load(checkpoint_path):
    checkpoint = load_checkpoint(checkpoint_path)
    weight = checkpoint.state_dict["ln_f.weight"]
    checkpoint.state_dict["ln_f.weight"] = torch.full_like(weight, math.inf)
    refused(save_checkpoint(checkpoint, checkpoint_path), "'ln_f.weight' has NaN or infinite")
