"""A checkpoint cannot make the scripts run code: data settings are data, read by segue's readers.

Before data settings existed, ``scripts/evaluate.py`` and ``benchmarks/compress.py``
rebuilt the data by ``instantiate()``-ing the ``data.source`` of the YAML stored in the
checkpoint, so ``_target_: os.system`` (or ``pandas.read_pickle`` of a planted pickle) ran.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from benchmarks import compress
from segue.cli import evaluate_run
from segue.data.sequences import SideInputs
from segue.data.settings import DataSettings
from segue.io.checkpoint import CheckpointError
from segue.io.safe_load import content_digest
from tests.adversarial.conftest import Canary, payload, resave
from tests.scripts.conftest import compose_config


def injected_yaml(canary: Path, tmp_path: Path) -> str:
    """A run config whose data source would run ``touch <canary>`` if instantiated."""
    planted = tmp_path / "payload.pkl"
    planted.write_bytes(pickle.dumps(Canary(canary)))
    return (
        "data:\n"
        "  name: evil\n"
        "  source:\n"
        "    _target_: pandas.read_pickle\n"
        f"    filepath_or_buffer: {planted}\n"
        "  sessions:\n"
        "    _target_: os.system\n"
        f"    command: touch {canary}\n"
    )


@pytest.fixture
def old_style_checkpoint(checkpoint_path: Path, canary: Path, tmp_path: Path) -> Path:
    """A version-1 checkpoint (no data settings) whose stored YAML config is hostile."""
    values = payload(checkpoint_path)
    values["version"], values["config"] = 1, injected_yaml(canary, tmp_path)
    del values["sha256"], values["data_settings"]
    return resave(values, checkpoint_path)


@pytest.fixture
def forged_settings_checkpoint(checkpoint_path: Path) -> Path:
    """A current checkpoint whose data settings name a reader outside segue's table."""
    values = payload(checkpoint_path)
    settings = DataSettings("evil", "synthetic", max_len=12, side=SideInputs(True, True, True))
    values["data_settings"] = {
        **settings.to_dict(),
        "reader": "pandas.read_pickle",
        "reader_options": {"filepath_or_buffer": "x.pkl"},
    }
    plain = {k: values[k] for k in ("model_config", "vocab", "data_settings")}
    values["sha256"] = content_digest(values["state_dict"], plain)
    return resave(values, checkpoint_path)


def evaluate_config(checkpoint: Path, out: Path):
    return compose_config([f"checkpoints=[{checkpoint}]"], out, name="evaluate")


def test_evaluate_never_instantiates_a_checkpoints_config(old_style_checkpoint, canary, tmp_path):
    cfg = evaluate_config(old_style_checkpoint, tmp_path / "eval")
    with pytest.raises(CheckpointError, match=r"no data settings.*data_from_checkpoint=false") as e:
        evaluate_run.run(cfg)
    assert str(old_style_checkpoint) in str(e.value)


def test_evaluate_refuses_a_reader_outside_the_table(forged_settings_checkpoint, tmp_path):
    cfg = evaluate_config(forged_settings_checkpoint, tmp_path / "eval")
    with pytest.raises(CheckpointError, match="reader must be one of") as caught:
        evaluate_run.run(cfg)
    assert str(forged_settings_checkpoint) in str(caught.value)


def test_benchmark_compress_refuses_a_reader_outside_the_table(forged_settings_checkpoint):
    with pytest.raises(CheckpointError, match="reader must be one of"):
        compress.accuracy(forged_settings_checkpoint)


def test_benchmark_compress_says_how_for_an_old_checkpoint(old_style_checkpoint, canary):
    with pytest.raises(CheckpointError, match="no data settings") as caught:
        compress.accuracy(old_style_checkpoint)
    assert str(old_style_checkpoint) in str(caught.value)


def test_a_pickled_object_inside_a_checkpoint_never_reaches_the_scripts(
    checkpoint_path, canary, tmp_path
):
    values = payload(checkpoint_path)
    values["training_state"] = {"rng": Canary(canary)}
    torch.save(values, checkpoint_path)
    with pytest.raises(CheckpointError, match="pickled objects") as caught:
        evaluate_run.run(evaluate_config(checkpoint_path, tmp_path / "eval"))
    assert str(checkpoint_path) in str(caught.value)
