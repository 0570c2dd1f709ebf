"""``segue info``: every artefact kind described from its data, nothing in it executed."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from segue.cli.describe import describe
from tests.export.conftest import N_TRACKS


def test_a_checkpoint_is_described_with_model_catalogue_and_metrics(artefacts, tmp_path):
    from segue.io.checkpoint import load_checkpoint, save_checkpoint

    checkpoint = load_checkpoint(artefacts["checkpoint"])
    checkpoint.metrics = {"ndcg@10": 0.25, "epoch": 3}
    checkpoint.training_state = {"epoch": 3}
    path = save_checkpoint(checkpoint, tmp_path / "last.pt")
    info = describe(path)
    assert info.kind == "float checkpoint" and info.format == "segue-checkpoint"
    assert info.model["d_model"] == 16 and info.model["n_artists"] == 5
    assert info.catalogue["n_tracks"] == N_TRACKS
    assert info.catalogue["n_artists"] == 5 and info.catalogue["with_artist"] == N_TRACKS - 1
    assert info.metrics == {"ndcg@10": 0.25, "epoch": 3}
    assert any("resumable" in note and "epoch 3" in note for note in info.notes)
    n_params = sum(t.numel() for t in checkpoint.state_dict.values())
    assert f"{n_params:,} parameters" in info.notes[0]


def test_an_int8_artefact_and_a_bundle_are_described(artefacts):
    int8 = describe(artefacts["int8"])
    assert int8.kind == "int8 artefact" and int8.catalogue["n_tracks"] == N_TRACKS
    assert int8.model["max_len"] == 12 and not int8.metrics
    bundle = describe(artefacts["bundle"])
    assert bundle.kind == "ONNX bundle" and bundle.format == "segue-onnx-bundle"
    assert bundle.catalogue["n_tracks"] == N_TRACKS
    assert any("opset 17" in note for note in bundle.notes)
    assert bundle.size_bytes == sum(p.stat().st_size for p in artefacts["bundle"].iterdir())


def test_the_command_prints_text_and_json(segue, artefacts):
    text = segue("info", artefacts["checkpoint"])
    assert text.code == 0
    assert "kind:       float checkpoint (segue-checkpoint v" in text.out
    assert f"n_tracks {N_TRACKS}" in text.out
    as_json = segue("info", artefacts["int8"], "--json")
    assert json.loads(as_json.out)["catalogue"]["n_tracks"] == N_TRACKS


def test_training_data_settings_come_from_the_run_config_when_not_stored(tmp_path):
    """A checkpoint written without data settings still shows the data part of its config."""
    payload = {
        "format": "segue-checkpoint",
        "version": 1,
        "model_config": {"d_model": 8},
        "state_dict": {},
        "vocab": {"track_ids": ["a", "b"], "counts": [2, 1]},
        "config": "data:\n  name: movielens_100k\n  split: leave_last_out\nmodel:\n  d_model: 8\n",
    }
    torch.save(payload, tmp_path / "v1.pt")
    info = describe(tmp_path / "v1.pt")
    assert info.data == {"name": "movielens_100k", "split": "leave_last_out"}
    assert info.catalogue["n_tracks"] == 2


class _Trap:
    """Unpickling this would create ``marker``: what a hostile checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_file_with_pickled_objects_is_refused_without_running_them(segue, tmp_path):
    marker = tmp_path / "was_executed"
    with open(tmp_path / "evil.pt", "wb") as f:
        torch.save({"format": "segue-checkpoint", "x": _Trap(marker)}, f)
    result = segue("info", tmp_path / "evil.pt")
    assert result.code == 1 and "is not a segue artefact" in result.err
    assert not marker.exists()
    with open(tmp_path / "plain.pkl", "wb") as f:
        pickle.dump({"format": "segue-checkpoint"}, f)
    assert segue("info", tmp_path / "plain.pkl").code == 1


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: torch.save({"format": "other"}, p / "x.pt") or p / "x.pt", "format 'other'"),
        (lambda p: (p / "d").mkdir() or p / "d", "without bundle.json"),
        (lambda p: p / "absent.pt", "no file or folder"),
    ],
)
def test_what_is_not_an_artefact_is_named(segue, tmp_path, make, message):
    result = segue("info", make(tmp_path))
    assert result.code == 1 and message in result.err


def test_the_writing_segue_version_is_stored_and_shown(segue, artefacts, tmp_path):
    """``segue_version`` is a record: loaded, shown by ``segue info``; older files lack it."""
    import segue as package
    from segue.io.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(artefacts["checkpoint"])
    assert checkpoint.segue_version == package.__version__
    result = segue("info", artefacts["checkpoint"])
    assert result.code == 0, result.err
    assert f"written by: segue {package.__version__}" in result.out
    assert describe(artefacts["checkpoint"]).segue_version == package.__version__

    values = torch.load(artefacts["checkpoint"], weights_only=True)
    del values["segue_version"]  # as segue wrote before it was stored
    older = tmp_path / "older.pt"
    torch.save(values, older)
    assert load_checkpoint(older).segue_version is None
    result = segue("info", older)
    assert result.code == 0 and "its version is not stored" in result.out


@pytest.mark.parametrize("value", [3, ["0.1"], {"_target_": "os.system"}])
def test_a_segue_version_that_is_not_a_string_is_refused(artefacts, tmp_path, value):
    from segue.io.checkpoint import CheckpointError, load_checkpoint

    values = torch.load(artefacts["checkpoint"], weights_only=True)
    values["segue_version"] = value
    path = tmp_path / "bad.pt"
    torch.save(values, path)
    with pytest.raises(CheckpointError, match="segue_version must be a str"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("training_state", [1, 2], "its training_state is a list, not a dict"),
        ("vocab", "ids", "its vocab is a str, not a dict"),
        ("vocab", {"track_ids": 5}, "its vocab.track_ids is a int, not a list"),
        ("model_config", 7, "its model_config is a int, not a dict"),
        ("metrics", torch.zeros(2), "its metrics is a Tensor, not a dict"),
        ("version", "two", "its version is 'two'"),
    ],
)
def test_a_damaged_field_is_named_not_a_crash(segue, artefacts, tmp_path, key, value, named):
    """``segue info`` reads what it is given as plain data: a field of the wrong kind is
    reported as damage, naming the field (it once raised AttributeError / TypeError)."""
    values = torch.load(artefacts["checkpoint"], weights_only=True)
    values[key] = value
    path = tmp_path / "damaged.pt"
    torch.save(values, path)
    result = segue("info", path)
    assert result.code == 1 and "damaged segue artefact" in result.err and named in result.err
